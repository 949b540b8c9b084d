package sending_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestUnpublishedKeyDoesNotSign: mail authorised by a verified identity
// but whose domain's DKIM record has not verified (PENDING: the checker
// has not found it) goes out unsigned — for the account's own send and for
// a delegate sending under the owner's identity — and signed once the
// operator vouches for the domain.
func TestUnpublishedKeyDoesNotSign(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := context.Background()
			accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			ids := identity.New(db, accts)
			owner, err := accts.CreateWith(ctx, "owner", account.CreateOptions{Unlimited: true})
			if err != nil {
				t.Fatal(err)
			}
			me, err := accts.CreateWith(ctx, "delegate", account.CreateOptions{Unlimited: true})
			if err != nil {
				t.Fatal(err)
			}
			// The address is verified; its domain has a key whose record
			// is not published.
			if _, err := ids.Create(ctx, "owner", "news@owner.example", true); err != nil {
				t.Fatal(err)
			}
			if _, err := ids.Create(ctx, "owner", "owner.example", false); err != nil {
				t.Fatal(err)
			}
			if _, err := ids.GenerateDKIM(ctx, "owner", "owner.example", dkim.Ed25519); err != nil {
				t.Fatal(err)
			}
			if err := ids.StartVerification(ctx, "owner", "owner.example"); err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:ses:us-east-1:" + owner.SendingAccountID + ":identity/news@owner.example"
			p, err := identity.ParsePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":"`+me.SendingAccountID+`"},"Action":"ses:*","Resource":"`+arn+`"}}`, arn)
			if err != nil {
				t.Fatal(err)
			}
			if err := ids.CreatePolicy(ctx, "owner", "news@owner.example", "delegate", p); err != nil {
				t.Fatal(err)
			}
			batch := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
			sp := spool.New(db)
			s := sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "test",
				MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
				accts, ids, configset.New(db), queue.New(db), sp, event.NewLog(db), batch)
			rcpt, _ := address.Parse("rcpt@example.net")
			signed := func(acct, fromArn string) bool {
				t.Helper()
				id, err := s.Send(ctx, sending.Request{Account: acct, Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
					Raw: []byte("From: news@owner.example\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n"), FromArn: fromArn})
				if err != nil {
					t.Fatalf("Send as %s: %v", acct, err)
				}
				body, err := sp.Body(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Contains(body, []byte("DKIM-Signature:"))
			}
			if signed("owner", "") || signed("delegate", arn) {
				t.Fatal("signed with a key whose DNS record has not verified")
			}
			if err := ids.SetVerified(ctx, "owner", "owner.example", true); err != nil {
				t.Fatal(err)
			}
			if !signed("owner", "") || !signed("delegate", arn) {
				t.Fatal("not signed once the operator vouched for the domain")
			}
		})
	}
}
