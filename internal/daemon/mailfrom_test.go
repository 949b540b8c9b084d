package daemon

import (
	"testing"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/identity"
)

// TestCheckerMailFromExpect: the MAIL FROM records are checked against
// --mail-from-mx and --spf-include, each defaulting to the return-path
// domain (--return-path-domain, else --hostname).
func TestCheckerMailFromExpect(t *testing.T) {
	cases := []struct {
		rp, mx, inc string
		want        identity.MailFromExpect
	}{
		{"", "", "", identity.MailFromExpect{MXHost: "petrel.example", SPFInclude: "petrel.example"}},
		{"bounces.petrel.example", "", "", identity.MailFromExpect{MXHost: "bounces.petrel.example", SPFInclude: "bounces.petrel.example"}},
		{"bounces.petrel.example", "mx.petrel.example", "spf.petrel.example", identity.MailFromExpect{MXHost: "mx.petrel.example", SPFInclude: "spf.petrel.example"}},
	}
	for _, c := range cases {
		cfg := config.Default()
		cfg.Hostname, cfg.ReturnPathDomain, cfg.MailFromMX, cfg.SPFInclude, cfg.DNS = "petrel.example", c.rp, c.mx, c.inc, "127.0.0.1:53"
		ch, err := (&Services{}).Checker(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ch.MailFrom != c.want {
			t.Errorf("%+v: %+v, want %+v", c, ch.MailFrom, c.want)
		}
	}
}
