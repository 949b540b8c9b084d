package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/dkim"
)

// `petrel identity dkim rotate` makes a NEXT key under a new selector, of
// the current key's type unless --key-length says otherwise, and prints
// both records: the current one to keep, the new one to publish now. A
// bad --key-length, an unknown domain and a missing name are refused.
func TestIdentityDKIMRotateCmd(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.example", true); err != nil {
		t.Fatal(err)
	}
	cur, err := svc.Identities.GenerateDKIM(ctx, "acme", "acme.example", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	rotate := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := identityDKIMRotateCmd(ctx, append(args, "--data-dir", dir, "--account", "acme"), &out)
		return out.String(), err
	}
	out, err := rotate("acme.example", "--key-length", "rsa1024")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "DKIM key ACTIVE since") || !strings.Contains(out, "(AWS_SES, ED25519 key") || !strings.Contains(out, cur.Selector+"._domainkey.acme.example TXT") ||
		!strings.Contains(out, "DKIM key NEXT since") || !strings.Contains(out, "(AWS_SES, RSA_1024_BIT key") || !strings.Contains(out, "publish its records now") ||
		!strings.Contains(out, "_amazonses.acme.example TXT") {
		t.Fatalf("output:\n%s", out)
	}
	for _, bad := range [][]string{{"acme.example", "--key-length", "dsa"}, {"nobody.example"}, {}} {
		if _, err := rotate(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
