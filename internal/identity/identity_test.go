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
