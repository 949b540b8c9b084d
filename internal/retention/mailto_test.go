package retention

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/store"
)

// TestPruneMailto: the List-Unsubscribe mailto: unsubscribes go with the
// message records (same cutoff: max(Messages, Events)), and are kept
// forever when the message records are.
func TestPruneMailto(t *testing.T) {
	key := contacts.TokenKey([]byte("s"))
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, c := range []struct {
				name   string
				policy Policy
				left   int // of an old and a young message's
			}{
				{"pruned with the messages", Policy{Messages: 30 * day, Events: 10 * day}, 1},
				{"events kept longer", Policy{Messages: 10 * day, Events: 60 * day}, 2},
				{"messages kept forever", Policy{Events: 10 * day}, 2},
			} {
				t.Run(c.name, func(t *testing.T) {
					w := newWorld(t, backend)
					cs := contacts.New(w.db, nil)
					u := &contacts.Unsubscriber{Contacts: cs, DB: w.db, Key: key}
					var codes []string
					for _, at := range []time.Time{w.now.Add(-40 * day), w.now.Add(-20 * day)} {
						id := event.NewID(at)
						tok := contacts.Token{Account: "acme", List: "news", Email: "r@far.test", MessageID: id}
						if err := w.db.Tx(context.Background(), func(tx *sql.Tx) error { return cs.PutMailtoTx(tx, tok, key, at) }); err != nil {
							t.Fatal(err)
						}
						local, _ := contacts.MailtoLocal(id, key)
						codes = append(codes, local[len(contacts.MailtoPrefix):])
					}
					p := &Pruner{Policy: c.policy, Spool: w.spool, Queue: w.queue, Events: w.events, Inbound: inbound.NewStore(w.db),
						Contacts: cs, Now: func() time.Time { return w.now }, Pause: -1, Batch: 1}
					r, err := p.Once(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					left := 0
					for _, code := range codes {
						if ok, err := u.MailtoValid(t.Context(), code); err != nil {
							t.Fatal(err)
						} else if ok {
							left++
						}
					}
					if left != c.left || r.Mailto != 2-c.left {
						t.Errorf("%d left, %d pruned; want %d left", left, r.Mailto, c.left)
					}
				})
			}
		})
	}
}
