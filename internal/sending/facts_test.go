package sending_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestSendFactsExclusions: the Send event hands its observers the configuration set,
// the authorising identity, and every recipient with why it does not count
// towards quota and reputation: simulator, verified identity, the
// account's suppression list — but not the global list (§8.1).
func TestSendFactsExclusions(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := store.OpenTest(t, backend)
			accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := accts.CreateWith(ctx, testAccount, account.CreateOptions{Unlimited: true}); err != nil {
				t.Fatal(err)
			}
			ids := identity.New(db, accts)
			for _, n := range []string{"example.com", "me@friends.test"} {
				if _, err := ids.Create(ctx, testAccount, n, true); err != nil {
					t.Fatal(err)
				}
			}
			log := event.NewLog(db)
			rec := &sendFacts{}
			log.Observe(rec)
			sets := configset.New(db)
			if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: "Marketing", SendingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			s := sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "test",
				MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
				accts, ids, sets, queue.New(db), spool.New(db), log, store.RunTestBatcher(t, store.NewBatcher(db, 0, 0)))
			s.Suppression = suppression.New(db, nil)
			gone, global := mustAddr(t, "gone@other.test"), mustAddr(t, "global@other.test")
			if err := s.Suppression.Put(ctx, testAccount, suppression.Entry{Address: gone, Reason: suppression.Bounce}); err != nil {
				t.Fatal(err)
			}
			if err := s.Suppression.GlobalAdd(ctx, global, time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
			rcpts := []address.Address{mustAddr(t, "x@other.test"), mustAddr(t, "success@simulator.amazonses.com"),
				mustAddr(t, "me@friends.test"), mustAddr(t, "b@sub.example.com"), gone, global}
			raw := "From: s@example.com\r\nTo: x@other.test\r\nSubject: hi\r\n\r\nhello\r\n"
			if _, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail", Recipients: rcpts,
				Raw: []byte(raw), ConfigSet: "Marketing"}); err != nil {
				t.Fatal(err)
			}
			if len(rec.sends) != 1 {
				t.Fatalf("%d Send events observed, want 1", len(rec.sends))
			}
			d := rec.sends[0]
			if d.ConfigurationSet != "Marketing" || d.Identity != "example.com" {
				t.Errorf("set %q identity %q, want Marketing and example.com", d.ConfigurationSet, d.Identity)
			}
			want := []event.SendRecipient{
				{Address: "x@other.test"},
				{Address: "success@simulator.amazonses.com", Excluded: event.ExcludedSimulator},
				{Address: "me@friends.test", Excluded: event.ExcludedVerified},
				{Address: "b@sub.example.com", Excluded: event.ExcludedVerified},
				{Address: "gone@other.test", Excluded: event.ExcludedSuppressed},
				{Address: "global@other.test"},
			}
			if len(d.Recipients) != len(want) {
				t.Fatalf("recipients %+v, want %+v", d.Recipients, want)
			}
			for i := range want {
				if d.Recipients[i] != want[i] {
					t.Errorf("recipient %d = %+v, want %+v", i, d.Recipients[i], want[i])
				}
			}
		})
	}
}

func mustAddr(t *testing.T, s string) address.Address {
	t.Helper()
	a, err := address.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
