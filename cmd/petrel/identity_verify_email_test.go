package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/identity"
)

// TestIdentityVerifyEmailCmd (issue 16): `petrel identity verify-email`
// shows an address identity's state; --resend queues a new verification
// email (for the running petrel's poller) whose link, built on
// --public-url, verifies the address; a verified address is not sent
// another, and a domain is refused.
func TestIdentityVerifyEmailCmd(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"who@acme.example", "acme.example"} {
		if _, err := svc.Identities.Create(ctx, "acme", n, false); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := identityVerifyEmailCmd(ctx, append(args, "--data-dir", dir, "--account", "acme"), &out)
		return out.String(), err
	}
	out, err := run("who@acme.example")
	if err != nil || !strings.Contains(out, "verified=false") || !strings.Contains(out, "no verification email sent") {
		t.Fatalf("status: %q, %v", out, err)
	}
	out, err = run("who@acme.example", "--resend", "--public-url", "https://petrel.example/", "--hostname", "petrel.example")
	if err != nil || !strings.Contains(out, "sent a new verification email") || !strings.Contains(out, "1 link(s) pending") {
		t.Fatalf("resend: %q, %v", out, err)
	}
	svc = openServices(t, dir)
	defer svc.Close()
	entries, err := svc.Queue.Lease(ctx, "test", time.Now(), 10, time.Minute)
	if err != nil || len(entries) != 1 || entries[0].Rcpt != "who@acme.example" || !entries[0].System {
		t.Fatalf("queued: %+v, %v", entries, err)
	}
	body, err := svc.Spool.Body(ctx, entries[0].MessageID)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`https://petrel\.example/verify-email/([A-Za-z0-9_-]{43})`).FindStringSubmatch(strings.ReplaceAll(string(body), "=\r\n", ""))
	if m == nil || !bytes.Contains(body, []byte("From: no-reply@petrel.example")) {
		t.Fatalf("the queued email:\n%s", body)
	}
	if _, err := svc.Identities.FollowLink(ctx, m[1], time.Now()); err != nil {
		t.Fatal(err)
	}
	out, err = run("who@acme.example")
	if err != nil || !strings.Contains(out, "verified=true") || !strings.Contains(out, "no link pending") {
		t.Fatalf("status after the link: %q, %v", out, err)
	}
	if _, err := run("who@acme.example", "--resend"); !errors.Is(err, identity.ErrAlreadyVerified) {
		t.Errorf("resend to a verified address: %v", err)
	}
	if _, err := run("acme.example"); err == nil || !strings.Contains(err.Error(), "domain") {
		t.Errorf("a domain: %v", err)
	}
}
