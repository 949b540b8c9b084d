package identity

import (
	"errors"
	"fmt"
	"testing"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/store"
)

// TestPoliciesAndTags: policies and tags are stored per identity of one
// account, with SES's limits, and go with the identity.
func TestPoliciesAndTags(t *testing.T) {
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
			if _, err := s.Create(ctx, "a", "example.com", true); err != nil {
				t.Fatal(err)
			}
			p, err := ParsePolicy(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"ses:SendEmail","Resource":"*"}}`, testARN)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreatePolicy(ctx, "b", "example.com", "p", p); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another account's identity: %v", err)
			}
			if err := s.CreatePolicy(ctx, "a", "example.com", "bad name!", p); err == nil {
				t.Fatal("bad name accepted")
			}
			for i := range MaxPoliciesPerIdent {
				if err := s.CreatePolicy(ctx, "a", "EXAMPLE.com", fmt.Sprintf("p%02d", i), p); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreatePolicy(ctx, "a", "example.com", "p00", p); !errors.Is(err, ErrPolicyExists) {
				t.Fatalf("duplicate: %v", err)
			}
			if err := s.CreatePolicy(ctx, "a", "example.com", "p20", p); !errors.Is(err, ErrPolicyLimit) {
				t.Fatalf("21st: %v", err)
			}
			p2 := *p
			p2.Document = `{"Statement":[]}`
			if err := s.UpdatePolicy(ctx, "a", "example.com", "p01", &p2); err != nil {
				t.Fatal(err)
			}
			if err := s.UpdatePolicy(ctx, "a", "example.com", "nope", &p2); !errors.Is(err, ErrPolicyNotFound) {
				t.Fatalf("update missing: %v", err)
			}
			if err := s.DeletePolicy(ctx, "a", "example.com", "p02"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeletePolicy(ctx, "a", "example.com", "p02"); err != nil {
				t.Fatalf("delete twice (SES: succeeds): %v", err)
			}
			if err := s.DeletePolicy(ctx, "b", "example.com", "p01"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another account deletes: %v", err)
			}
			got, err := s.Policies(ctx, "a", "example.com")
			if err != nil || len(got) != MaxPoliciesPerIdent-1 || got["p01"] != `{"Statement":[]}` || got["p00"] != p.Document {
				t.Fatalf("policies: %v %v", got, err)
			}
			if _, err := s.Policies(ctx, "b", "example.com"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another account reads: %v", err)
			}
			// p01 no longer parses (no statement): the identity's
			// policies are broken, a Deny for the accept path.
			const prefix = "arn:aws:ses:us-east-1:444455556666:identity/"
			id, _, err := s.SendingPolicies(ctx, "a", "Example.com", prefix)
			var broken *BrokenPolicyError
			if !errors.As(err, &broken) || broken.Identity != "example.com" || broken.Policy != "p01" || id.Name != "example.com" {
				t.Fatalf("sending policies with a broken one: %v", err)
			}
			if err := s.DeletePolicy(ctx, "a", "example.com", "p01"); err != nil {
				t.Fatal(err)
			}
			_, sp, err := s.SendingPolicies(ctx, "a", "Example.com", prefix)
			if err != nil || len(sp) != MaxPoliciesPerIdent-2 {
				t.Fatalf("sending policies: %d %v", len(sp), err)
			}

			if err := s.Tag(ctx, "a", "example.com", []Tag{{"team", "mail"}, {"env", "prod"}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Tag(ctx, "a", "example.com", []Tag{{"env", "test"}}); err != nil {
				t.Fatal(err)
			}
			var many []Tag
			for i := range MaxTags - 1 {
				many = append(many, Tag{fmt.Sprintf("k%d", i), ""})
			}
			if err := s.Tag(ctx, "a", "example.com", many); !errors.Is(err, ErrTagLimit) {
				t.Fatalf("51 tags: %v", err)
			}
			if err := s.Untag(ctx, "a", "example.com", []string{"team", "absent"}); err != nil {
				t.Fatal(err)
			}
			tags, err := s.Tags(ctx, "a", "example.com")
			if err != nil || len(tags) != 1 || tags[0] != (Tag{"env", "test"}) {
				t.Fatalf("tags: %v %v", tags, err)
			}
			if err := s.Tag(ctx, "b", "example.com", []Tag{{"x", "y"}}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another account tags: %v", err)
			}

			if err := s.Delete(ctx, "a", "example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, "a", "example.com", true); err != nil {
				t.Fatal(err)
			}
			got, _ = s.Policies(ctx, "a", "example.com")
			tags, _ = s.Tags(ctx, "a", "example.com")
			if len(got) != 0 || len(tags) != 0 {
				t.Fatalf("recreated identity inherits %v %v", got, tags)
			}
		})
	}
}
