package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
)

// TestIdentityCheckCmd: `petrel identity check` names each record, what it
// must hold and what DNS returned — missing (NXDOMAIN), wrong (another
// key), then right — and the identity's verdict; another account's
// identity is not found; the DMARC report says what aligns against the
// published policy. printDKIM prints both publication styles.
func TestIdentityCheckCmd(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	for _, a := range []string{"acme", "other"} {
		if _, err := svc.Accounts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.example", false); err != nil {
		t.Fatal(err)
	}
	d, err := svc.Identities.GenerateDKIM(ctx, "acme", "acme.example", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	token, err := svc.Identities.VerificationToken(ctx, "acme", "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	dns := dnstest.New(t)
	name := identity.DKIMRecordName(d.Selector, "acme.example")
	check := func(acct string) (string, error) {
		var out bytes.Buffer
		err := identityCheckCmd(ctx, []string{"acme.example", "--data-dir", dir, "--account", acct, "--dns", dns.Addr}, &out)
		return out.String(), err
	}

	out, err := check("acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acme.example (DOMAIN): not verified", "DKIM " + name + " TXT", "expected: " + d.Record,
		"found:    NXDOMAIN", "status:   PENDING (HOST_NOT_FOUND)", "DOMAIN_TOKEN _amazonses.acme.example TXT", "expected: " + token,
		"DKIM:          d=acme.example not counted: its key's DNS record is not verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing records: no %q in\n%s", want, out)
		}
	}

	other, _ := dkim.Generate(dkim.Ed25519)
	wrong, _ := dkim.Record(other)
	dns.TXT(name, wrong+"\x1b[31m")
	out, _ = check("acme")
	if !strings.Contains(out, "INVALID_VALUE") || strings.Contains(out, "\x1b") {
		t.Errorf("wrong key (no raw escape):\n%s", out)
	}

	dns.Remove(name)
	dns.TXT(name, d.Record)
	out, _ = check("acme")
	if !strings.Contains(out, "acme.example (DOMAIN): verified by its DNS records") || !strings.Contains(out, "status:   SUCCESS\n") {
		t.Errorf("published:\n%s", out)
	}

	// The DMARC report follows the records: the key's d= aligns, the
	// default return path does not; then against a published policy.
	for _, want := range []string{"DMARC readiness of acme.example", "DKIM:          d=acme.example aligned",
		"SPF:           MAIL FROM ", "NOT aligned", "no DMARC record published at _dmarc.acme.example"} {
		if !strings.Contains(out, want) {
			t.Errorf("DMARC report without a record: no %q in\n%s", want, out)
		}
	}
	dns.TXT("_dmarc.acme.example", "v=DMARC1; p=reject; adkim=s")
	out, _ = check("acme")
	for _, want := range []string{"record:        v=DMARC1; p=reject; adkim=s", "verdict:       PASS through DKIM (d=acme.example)", "failing mail:  rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("DMARC report with p=reject: no %q in\n%s", want, out)
		}
	}

	if _, err := check("other"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("another account's identity: %v", err)
	}

	var buf bytes.Buffer
	printDKIM(&buf, "acme.example", d, "dkim.petrel.example", token)
	for _, want := range []string{name + " CNAME " + d.Selector + ".dkim.petrel.example", d.Selector + ".dkim.petrel.example TXT \"" + d.Record + "\"",
		"_amazonses.acme.example TXT \"" + token + "\""} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("CNAME style: no %q in\n%s", want, buf.String())
		}
	}
	buf.Reset()
	printDKIM(&buf, "acme.example", d, "", "")
	if !strings.Contains(buf.String(), name+" TXT \""+d.Record+"\"") || strings.Contains(buf.String(), "CNAME") {
		t.Errorf("TXT style:\n%s", buf.String())
	}
}
