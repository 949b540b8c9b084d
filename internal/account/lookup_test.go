package account

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

// TestBySendingAccountID: an account is found by its sending account id,
// and an id no account has is ErrNotFound.
func TestBySendingAccountID(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Create(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(t.Context(), "b"); err != nil {
				t.Fatal(err)
			}
			got, err := s.BySendingAccountID(t.Context(), a.SendingAccountID)
			if err != nil || got.Name != "a" {
				t.Fatalf("BySendingAccountID = %q, %v", got.Name, err)
			}
			if _, err := s.BySendingAccountID(t.Context(), "000000000000"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown id: %v", err)
			}
		})
	}
}

// TestCachedBySendingAccountID: the cached lookup finds the account by its
// sending account id, answers from its cache (a change made behind the
// Service's back is not seen), shows a change made through the Service at
// once, and an unknown id is ErrNotFound.
func TestCachedBySendingAccountID(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Create(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.CachedBySendingAccountID(ctx, a.SendingAccountID)
			if err != nil || got.Name != "a" || got.ProductionAccessEnabled {
				t.Fatalf("CachedBySendingAccountID = %+v, %v", got, err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE accounts SET sending_account_id = ? WHERE name = ?"), "111111111111", "a"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.CachedBySendingAccountID(ctx, a.SendingAccountID); err != nil || got.Name != "a" {
				t.Fatalf("cached: %+v, %v", got, err)
			}
			if _, err := s.DecideProduction(ctx, "a", true); err != nil {
				t.Fatal(err)
			}
			if got, err := s.CachedBySendingAccountID(ctx, a.SendingAccountID); err != nil || !got.ProductionAccessEnabled {
				t.Fatalf("after a change through the Service: %+v, %v", got, err)
			}
			if _, err := s.CachedBySendingAccountID(ctx, "000000000000"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown id: %v", err)
			}
		})
	}
}
