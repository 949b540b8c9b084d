package account

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

// The reference value was computed independently in Python with the algorithm AWS publishes
// (docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html, Python sample)
// for the documentation example secret key.
func TestSMTPPassword(t *testing.T) {
	got := SMTPPassword("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
	const want = "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"
	if got != want {
		t.Fatalf("SMTPPassword = %q, want %q", got, want)
	}
}

func TestAccountsAndKeys(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			keyFile := filepath.Join(t.TempDir(), "master.key")
			s, err := New(db, keyFile, "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, "acme"); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate create: %v", err)
			}
			if _, err := s.Create(ctx, "bad name!"); err == nil {
				t.Fatal("bad name accepted")
			}
			k, err := s.CreateKey(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			// A fresh service (empty cache) over the same key file opens the secret.
			s2, _ := New(db, keyFile, "us-east-1")
			sec, acct, err := s2.Secret(ctx, k.AccessKeyID)
			if err != nil || sec != k.SecretAccessKey || acct != "acme" {
				t.Fatalf("Secret = %q %q %v", sec, acct, err)
			}
			// A different key file cannot open it.
			s3, _ := New(db, filepath.Join(t.TempDir(), "other.key"), "us-east-1")
			if _, _, err := s3.Secret(ctx, k.AccessKeyID); err == nil {
				t.Fatal("secret opened with the wrong key file")
			}
			if a, err := s.AuthSMTP(ctx, k.AccessKeyID, SMTPPassword(k.SecretAccessKey, "us-east-1")); err != nil || a != "acme" {
				t.Fatalf("AuthSMTP good: %q %v", a, err)
			}
			if _, err := s.AuthSMTP(ctx, k.AccessKeyID, SMTPPassword(k.SecretAccessKey, "eu-west-1")); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("AuthSMTP wrong region: %v", err)
			}
			if _, err := s.AuthSMTP(ctx, "AKIANOPE", "x"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("AuthSMTP unknown user: %v", err)
			}
		})
	}
}
