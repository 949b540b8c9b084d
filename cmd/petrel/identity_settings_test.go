package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
)

// recordServe opens dir's store and records cfg as the settings of a
// petrel serve started on it (what daemon.New does), its links on
// publicURL.
func recordServe(t *testing.T, dir string, cfg config.Config, publicURL string) {
	t.Helper()
	svc := openServices(t, dir)
	defer svc.Close()
	if err := daemon.RecordIdentitySettings(t.Context(), svc.Identities, cfg, publicURL, "node-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestIdentityCheckUsesDaemonSettings (issue 16, the tester's repro): the
// daemon runs with --return-path-domain bounce.acme.test and
// --verify-recheck 1m; acme.test's custom MAIL FROM mf.acme.test
// (REJECT_MESSAGE) has MX → bounce.acme.test and SPF
// include:bounce.acme.test, SUCCESS in the daemon. `petrel identity check
// acme.test --account acme`, without any other flag, asks the daemon's DNS
// server, expects the daemon's MX and SPF, leaves every record SUCCESS
// (the MAIL FROM usable, so sends are not refused), schedules by the
// daemon's recheck, and its DMARC report names mf.acme.test as the MAIL
// FROM. A flag that changes a setting makes the check report-only: it
// shows the other verdict and saves nothing.
func TestIdentityCheckUsesDaemonSettings(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	dns := dnstest.New(t)
	serve := config.Default()
	serve.DataDir, serve.Hostname, serve.ReturnPathDomain, serve.DNS = dir, "petrel.acme.test", "bounce.acme.test", dns.Addr
	serve.VerifyRecheck = config.Duration(time.Minute)

	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.test", false); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Identities.GenerateDKIM(ctx, "acme", "acme.test", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Identities.PutMailFrom(ctx, "acme", "acme.test", "mf.acme.test", "REJECT_MESSAGE"); err != nil {
		t.Fatal(err)
	}
	token, err := svc.Identities.VerificationToken(ctx, "acme", "acme.test")
	if err != nil {
		t.Fatal(err)
	}
	dns.TXT(identity.DKIMRecordName(d.Selector, "acme.test"), d.Record)
	dns.TXT(identity.TokenRecordName("acme.test"), token)
	dns.MX("mf.acme.test", 10, "bounce.acme.test")
	dns.TXT("mf.acme.test", "v=spf1 include:bounce.acme.test -all")
	// The daemon's own checker: everything SUCCESS.
	c, err := svc.Checker(serve, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := c.Check(ctx, "acme", "acme.test"); err != nil || !rep.Verified {
		t.Fatalf("the daemon's check: %+v, %v", rep, err)
	}
	svc.Close()
	recordServe(t, dir, serve, "http://petrel.acme.test:8080")

	states := func() map[string]identity.Record {
		t.Helper()
		svc := openServices(t, dir)
		defer svc.Close()
		recs, err := svc.Identities.Records(ctx, "acme", "acme.test")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]identity.Record{}
		for _, r := range recs {
			out[r.Purpose] = r
		}
		if mf, err := svc.Identities.GetMailFrom(ctx, "acme", "acme.test"); err != nil || mf.Status != identity.StatusSuccess {
			t.Errorf("MAIL FROM %+v, %v", mf, err)
		}
		return out
	}
	check := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := identityCheckCmd(ctx, append([]string{"acme.test", "--data-dir", dir, "--account", "acme"}, args...), &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}

	start := time.Now()
	out := check()
	for _, want := range []string{"settings: those of petrel serve (node node-1", "MAIL_FROM_MX mf.acme.test MX", "bounce.acme.test",
		"SPF:           MAIL FROM mf.acme.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "status:   SUCCESS\n"); n != 4 || strings.Contains(out, "INVALID_VALUE") || strings.Contains(out, "petrel.localhost") ||
		strings.Contains(out, "report only") {
		t.Errorf("%d SUCCESS records:\n%s", n, out)
	}
	for p, r := range states() {
		if r.Status != identity.StatusSuccess || r.NextCheck.After(start.Add(2*time.Minute)) {
			t.Errorf("%s after the CLI's check: %s, next check %s (the daemon rechecks every minute)", p, r.Status, r.NextCheck)
		}
	}

	before := states()
	out = check("--mail-from-mx", "mx.elsewhere.test")
	if !strings.Contains(out, "report only, nothing saved: --mail-from-mx differs") || !strings.Contains(out, "except --mail-from-mx given here") ||
		!strings.Contains(out, "INVALID_VALUE") {
		t.Errorf("an overriding flag:\n%s", out)
	}
	for p, r := range states() {
		if r.Status != identity.StatusSuccess || !r.LastChecked.Equal(before[p].LastChecked) || !r.NextCheck.Equal(before[p].NextCheck) {
			t.Errorf("%s written by a report-only check: %+v, was %+v", p, r, before[p])
		}
	}
	// The daemon's own value given again is no override.
	if out := check("--return-path-domain", "bounce.acme.test", "--verify-recheck", "60s"); strings.Contains(out, "report only") {
		t.Errorf("flags equal to the daemon's:\n%s", out)
	}
}

// TestIdentityDKIMUsesDaemonZone (issue 16): `petrel identity dkim` and
// `identity dkim rotate` print Easy DKIM records as CNAMEs into the zone
// the daemon runs with, without --dkim-cname-zone being repeated; with no
// daemon recorded, TXT records as before.
func TestIdentityDKIMUsesDaemonZone(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.test", true); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Identities.GenerateDKIM(ctx, "acme", "acme.test", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	name := identity.DKIMRecordName(d.Selector, "acme.test")
	var out bytes.Buffer
	if err := identityCmd(ctx, []string{"dkim", "acme.test", "--data-dir", dir, "--account", "acme"}, &out); err != nil || !strings.Contains(out.String(), name+" TXT") {
		t.Fatalf("no daemon recorded: %v\n%s", err, out.String())
	}
	serve := config.Default()
	serve.DKIMCNAMEZone = "dkim.petrel.test"
	recordServe(t, dir, serve, "http://127.0.0.1:8080")
	out.Reset()
	if err := identityCmd(ctx, []string{"dkim", "acme.test", "--data-dir", dir, "--account", "acme"}, &out); err != nil || !strings.Contains(out.String(), name+" CNAME "+d.Selector+".dkim.petrel.test") {
		t.Fatalf("identity dkim: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := identityDKIMRotateCmd(ctx, []string{"acme.test", "--data-dir", dir, "--account", "acme"}, &out); err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`_domainkey\.acme\.test CNAME [a-z0-9]+\.dkim\.petrel\.test`).FindAllString(out.String(), -1)); n != 2 {
		t.Errorf("identity dkim rotate: %d CNAME records\n%s", n, out.String())
	}
}

// TestIdentityVerifyEmailUsesDaemonSettings (issue 16): `petrel identity
// verify-email --resend` links to the running daemon's public URL and
// sends from its verification sender, without those flags being repeated.
func TestIdentityVerifyEmailUsesDaemonSettings(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "who@acme.test", false); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	serve := config.Default()
	serve.Hostname, serve.VerificationFrom = "mail.petrel.test", "verify@petrel.test"
	recordServe(t, dir, serve, "https://petrel.test/base")
	var out bytes.Buffer
	if err := identityVerifyEmailCmd(ctx, []string{"who@acme.test", "--resend", "--data-dir", dir, "--account", "acme"}, &out); err != nil {
		t.Fatal(err)
	}
	svc = openServices(t, dir)
	defer svc.Close()
	entries, err := svc.Queue.Lease(ctx, "test", time.Now(), 10, time.Minute)
	if err != nil || len(entries) != 1 {
		t.Fatalf("queued: %+v, %v", entries, err)
	}
	body, err := svc.Spool.Body(ctx, entries[0].MessageID)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(body), "=\r\n", "")
	if !regexp.MustCompile(`https://petrel\.test/base/verify-email/[A-Za-z0-9_-]{43}`).MatchString(text) || !strings.Contains(text, "From: verify@petrel.test") ||
		strings.Contains(text, "127.0.0.1") || !strings.Contains(text, "@mail.petrel.test>") {
		t.Fatalf("the queued email:\n%s", body)
	}
}
