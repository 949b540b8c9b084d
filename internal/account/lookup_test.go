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
