package daemon

import (
	"strings"
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

// TestIdentitySettingsRecorded (issue 16): the daemon records at start the
// settings identity work depends on — public-url as the bound address its
// links use — and applying them to a default configuration gives its
// values back, except those the command keeps (its own flags).
func TestIdentitySettingsRecorded(t *testing.T) {
	td := startDaemon(t, func(c *config.Config) {
		c.DNS, c.DKIMCNAMEZone, c.ReturnPathDomain, c.SPFInclude = "127.0.0.1:5353", "dkim.petrel.test", "bounce.petrel.test", "spf.petrel.test"
		c.VerifyRecheck, c.VerificationFrom, c.Region = config.Duration(time.Minute), "verify@petrel.test", "eu-west-1"
	})
	set, err := td.d.Services().Identities.LoadSettings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if set.Recorded.IsZero() || set.Node == "" || set.Values["public-url"] != td.d.addrVerifier.PublicURL || !strings.HasPrefix(set.Values["public-url"], "http://127.0.0.1:") {
		t.Fatalf("recorded %+v (links on %s)", set, td.d.addrVerifier.PublicURL)
	}
	cfg := config.Default()
	if err := ApplyIdentitySettings(&cfg, set, func(n string) bool { return n == "region" }); err != nil {
		t.Fatal(err)
	}
	if cfg.DNS != "127.0.0.1:5353" || cfg.DKIMCNAMEZone != "dkim.petrel.test" || cfg.ReturnPathHost() != "bounce.petrel.test" || cfg.SPFInclude != "spf.petrel.test" ||
		cfg.MailFromMX != "" || cfg.VerifyRecheck != config.Duration(time.Minute) || cfg.VerifyGrace != config.Duration(72*time.Hour) ||
		cfg.VerificationSender() != "verify@petrel.test" || cfg.Hostname != "petrel.test" || cfg.PublicBaseURL() != td.d.addrVerifier.PublicURL ||
		cfg.Region != config.Default().Region {
		t.Fatalf("applied: %+v", cfg)
	}
}
