package identity

import (
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendingPoliciesCache: SendingPolicies answers from its cache — a
// policy written to the table behind the Service's back (as another
// process would) is not seen until the cache is dropped — and every
// change through the Service (CreatePolicy, UpdatePolicy, DeletePolicy,
// creating and deleting the identity) applies to the next call; a missing
// identity is cached too, and a document that no longer parses is
// reported as *BrokenPolicyError, not skipped.
func TestSendingPoliciesCache(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			if _, err := accts.Create(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			s := New(db, accts)
			const prefix = "arn:aws:ses:us-east-1:444455556666:identity/"
			count := func(want int, wantErr error) {
				t.Helper()
				_, sp, err := s.SendingPolicies(ctx, "a", "user@example.com", prefix)
				if len(sp) != want || !errors.Is(err, wantErr) {
					t.Fatalf("SendingPolicies: %d policies, %v; want %d, %v", len(sp), err, want, wantErr)
				}
			}
			count(0, ErrNotFound)
			if _, err := s.Create(ctx, "a", "user@example.com", true); err != nil {
				t.Fatal(err)
			}
			count(0, nil)
			p, err := ParsePolicy(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ses:SendEmail","Resource":"*"}}`, prefix+"user@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreatePolicy(ctx, "a", "user@example.com", "p", p); err != nil {
				t.Fatal(err)
			}
			count(1, nil)
			// Behind the Service's back: cached, not seen.
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO identity_policies (account, identity, name, document, created_ms, updated_ms) VALUES (?, ?, ?, ?, 0, 0)"),
				"a", "user@example.com", "q", `{"Statement":`); err != nil {
				t.Fatal(err)
			}
			count(1, nil)
			s.forget("a")
			_, _, err = s.SendingPolicies(ctx, "a", "user@example.com", prefix)
			var broken *BrokenPolicyError
			if !errors.As(err, &broken) || broken.Policy != "q" {
				t.Fatalf("unparsable stored document: %v", err)
			}
			if err := s.UpdatePolicy(ctx, "a", "user@example.com", "q", p); err != nil {
				t.Fatal(err)
			}
			count(2, nil)
			if err := s.DeletePolicy(ctx, "a", "user@example.com", "q"); err != nil {
				t.Fatal(err)
			}
			count(1, nil)
			if err := s.Delete(ctx, "a", "user@example.com"); err != nil {
				t.Fatal(err)
			}
			count(0, ErrNotFound)
		})
	}
}
