package identity

import (
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

func TestAuthorizing(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			for _, a := range []string{"a", "b"} {
				if _, err := accts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			s := New(db, accts)
			mustCreate := func(acct, name string, verified bool) {
				t.Helper()
				if _, err := s.Create(ctx, acct, name, verified); err != nil {
					t.Fatal(err)
				}
			}
			mustCreate("a", "Example.COM", true)
			mustCreate("a", "solo@other.test", true)
			mustCreate("a", "pending.test", false)
			if _, err := s.Create(ctx, "a", "example.com", true); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate: %v", err)
			}
			cases := []struct {
				acct, addr, want string
			}{
				{"a", "x@example.com", "example.com"},
				{"a", "x@mail.EXAMPLE.com", "example.com"},
				{"a", "solo@other.test", "solo@other.test"},
				{"a", "else@other.test", ""},
				{"a", "x@pending.test", ""},
				{"b", "x@example.com", ""}, // another tenant's identity does not count
			}
			for _, c := range cases {
				a, _ := address.Parse(c.addr)
				got, err := s.Authorizing(ctx, c.acct, a)
				if err != nil || got != c.want {
					t.Errorf("Authorizing(%s, %s) = %q, %v; want %q", c.acct, c.addr, got, err, c.want)
				}
			}
			if err := s.SetVerified(ctx, "a", "pending.test", true); err != nil {
				t.Fatal(err)
			}
			a, _ := address.Parse("x@pending.test")
			if got, _ := s.Authorizing(ctx, "a", a); got != "pending.test" {
				t.Errorf("after SetVerified: %q", got)
			}
			list, err := s.List(ctx, "a", "", 2)
			if err != nil || len(list) != 2 || list[0].Name != "example.com" {
				t.Fatalf("List page 1 = %+v %v", list, err)
			}
			if err := s.Delete(ctx, "a", "example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "a", "example.com"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

// TestInternationalized: a domain identity is one identity whether created
// with U-labels or A-labels, and covers addresses written either way; an
// address identity with a UTF-8 local part (RFC 6531) matches that local
// part exactly.
func TestInternationalized(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			if _, err := accts.Create(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			s := New(db, accts)
			id, err := s.Create(ctx, "a", "Bücher.example", true)
			if err != nil || id.Name != "xn--bcher-kva.example" || id.Kind != Domain {
				t.Fatalf("Create(Bücher.example) = %+v, %v", id, err)
			}
			if _, err := s.Create(ctx, "a", "xn--bcher-kva.example", true); !errors.Is(err, ErrExists) {
				t.Fatalf("Create of the A-label after the U-label: %v, want ErrExists", err)
			}
			if id, err := s.Create(ctx, "a", "用户@例え.jp", true); err != nil || id.Name != "用户@xn--r8jz45g.jp" || id.Kind != EmailAddress {
				t.Fatalf("Create(用户@例え.jp) = %+v, %v", id, err)
			}
			if _, err := s.Create(ctx, "a", "\u00e1@例え.jp", true); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "a", "用户@xn--r8jz45g.jp"); err != nil {
				t.Fatalf("Get by A-label: %v", err)
			}
			if _, err := s.Create(ctx, "a", "a@xn--zz.example", true); !errors.Is(err, address.ErrInvalid) {
				t.Fatalf("Create with an invalid IDN: %v, want address.ErrInvalid", err)
			}
			for _, c := range []struct{ addr, want string }{
				{"x@bücher.example", "xn--bcher-kva.example"},
				{"ü@mail.xn--bcher-kva.example", "xn--bcher-kva.example"},
				{"用户@例え.jp", "用户@xn--r8jz45g.jp"},
				{"\"用户\"@xn--r8jz45g.jp", "用户@xn--r8jz45g.jp"},
				{"用戶@例え.jp", ""},      // another local part
				{"a\u0301@例え.jp", ""}, // NFD: not normalised into the NFC identity á@
			} {
				a, err := address.Parse(c.addr)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := s.Authorizing(ctx, "a", a); err != nil || got != c.want {
					t.Errorf("Authorizing(%s) = %q, %v; want %q", c.addr, got, err, c.want)
				}
			}
		})
	}
}
