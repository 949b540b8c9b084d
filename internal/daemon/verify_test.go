package daemon

import (
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
)

// TestVerificationWiring (issue 16): the daemon's checker asks the DNS
// server of --dns with the --verify-* timings, and --dkim-cname-zone is
// the identities' publication style.
func TestVerificationWiring(t *testing.T) {
	dns := dnstest.New(t)
	td := startDaemon(t, func(c *config.Config) {
		c.DNS, c.DKIMCNAMEZone = dns.Addr, "dkim.petrel.test"
		c.VerifyRecheck, c.VerifyGrace = config.Duration(2*time.Hour), config.Duration(10*time.Hour)
	})
	c := td.d.checker
	if c == nil || c.DNS.Server != dns.Addr || c.Recheck != 2*time.Hour || c.Grace != 10*time.Hour || c.Window != 72*time.Hour ||
		c.PendingFast != 5*time.Minute || c.PendingSlow != 30*time.Minute {
		t.Fatalf("checker %+v", c)
	}
	svc := td.d.Services()
	if svc.Identities.DKIMCNAMEZone != "dkim.petrel.test" {
		t.Fatalf("zone %q", svc.Identities.DKIMCNAMEZone)
	}
	ctx := t.Context()
	if _, err := svc.Identities.Create(ctx, DefaultAccount, "wired.example", false); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Identities.GenerateDKIM(ctx, DefaultAccount, "wired.example", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	target := d.Selector + ".dkim.petrel.test"
	dns.CNAME(identity.DKIMRecordName(d.Selector, "wired.example"), target)
	dns.TXT(target, d.Record)
	rep, err := c.Check(ctx, DefaultAccount, "wired.example")
	if err != nil || !rep.Verified {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
}
