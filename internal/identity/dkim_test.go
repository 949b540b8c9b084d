package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/store"
)

func TestDKIMKeys(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			accts.Create(ctx, "a")
			s := New(db, accts)
			for _, n := range []string{"example.com", "solo@other.test", "byo.test"} {
				if _, err := s.Create(ctx, "a", n, true); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.GenerateDKIM(ctx, "a", "solo@other.test", dkim.Ed25519); !errors.Is(err, ErrNotDomain) {
				t.Fatalf("DKIM on an address: %v", err)
			}
			easy, err := s.GenerateDKIM(ctx, "a", "example.com", dkim.Ed25519)
			if err != nil || easy.Origin != OriginEasy || easy.Algorithm != dkim.Ed25519 || !selectorOK(easy.Selector) {
				t.Fatalf("GenerateDKIM = %+v, %v", easy, err)
			}
			// A subdomain's mail is signed with the parent domain's key.
			sg, err := s.Signer(ctx, "a", address.Address{Local: "x", Domain: "mail.example.com"})
			if err != nil || sg == nil || sg.Domain != "example.com" || sg.Selector != easy.Selector {
				t.Fatalf("Signer = %+v, %v", sg, err)
			}
			msg := []byte("From: x@mail.example.com\r\nSubject: s\r\n\r\nbody\r\n")
			signed, err := sg.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{easy.Record}, nil }})
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Fatalf("verify: %v %+v", err, vs)
			}
			if sg, _ := s.Signer(ctx, "a", address.Address{Local: "x", Domain: "other.test"}); sg != nil {
				t.Fatalf("other.test has no key, got %+v", sg)
			}
			// BYODKIM with an operator key in SES's base64 form.
			key, _ := dkim.Generate(dkim.RSA1024)
			der, _ := dkim.MarshalPrivateKey(key)
			if _, err := s.PutDKIMKey(ctx, "a", "byo.test", "-bad", []byte(base64.StdEncoding.EncodeToString(der))); err == nil {
				t.Fatal("bad selector accepted")
			}
			byo, err := s.PutDKIMKey(ctx, "a", "byo.test", "mail2026", []byte(base64.StdEncoding.EncodeToString(der)))
			if err != nil || byo.Origin != OriginExternal || byo.Algorithm != dkim.RSA1024 {
				t.Fatalf("PutDKIMKey = %+v, %v", byo, err)
			}
			got, ok, err := s.GetDKIM(ctx, "a", "BYO.test")
			if err != nil || !ok || got.Selector != "mail2026" || got.Record != byo.Record || !got.SigningEnabled {
				t.Fatalf("GetDKIM = %+v %v %v", got, ok, err)
			}
			// Signing can be turned off; the key stays.
			if err := s.SetDKIMSigning(ctx, "a", "byo.test", false); err != nil {
				t.Fatal(err)
			}
			if sg, _ := s.Signer(ctx, "a", address.Address{Local: "x", Domain: "byo.test"}); sg != nil {
				t.Fatal("signing disabled but a signer returned")
			}
			// Keys are sealed: another data-dir key cannot open them.
			other, _ := account.New(db, t.TempDir()+"/other", "us-east-1")
			if _, _, err := New(db, other).GetDKIM(ctx, "a", "example.com"); err == nil {
				t.Fatal("DKIM key opened with the wrong data-dir key")
			}
			// Deleting the identity deletes its key.
			if err := s.Delete(ctx, "a", "example.com"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.GetDKIM(ctx, "a", "example.com"); ok {
				t.Fatal("key survived its identity")
			}
		})
	}
}
