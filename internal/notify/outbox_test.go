package notify

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestOutboxRoutingDead: an event whose routing keeps failing is listed
// (OutboxFailing) with its attempts and last error while it waits; once its
// retries have spanned RetryPeriod (simulated clock) it is a dead letter —
// no node leases it again, DeadLetters lists it, OutboxLen no longer
// counts it — and Replay routes it again.
func TestOutboxRoutingDead(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			c := newClock()
			start := c.Now()
			rcv := newReceiver(t, c.Now, nil)
			var broken atomic.Bool
			broken.Store(true)
			var tries atomic.Int64
			ok := webhookRouter(func(string) string { return rcv.URL }, testSecret)
			router := routerFunc(func(ctx context.Context, ev event.Event) ([]Job, error) {
				tries.Add(1)
				if broken.Load() {
					return nil, errors.New("configuration set lookup: database is locked")
				}
				return ok(ctx, ev)
			})
			e := New(db, Config{Now: c.Now, RetryPeriod: time.Hour}, router, nil)
			log := event.NewLog(db)
			log.SetOutbox(e)
			addEvent(t, db, log, "a", "m1", start)
			ctx := context.Background()

			var rows []OutboxRow
			for range 50 {
				if _, err := e.fanOut(ctx); err != nil {
					t.Fatal(err)
				}
				var err error
				if rows, err = e.OutboxFailing(ctx, "a", 10); err != nil || len(rows) != 1 {
					t.Fatalf("failing outbox rows %+v, %v", rows, err)
				}
				if !strings.Contains(rows[0].LastError, "database is locked") || rows[0].MessageID != "m1" {
					t.Fatalf("failing row %+v", rows[0])
				}
				if rows[0].Dead {
					break
				}
				c.Set(rows[0].Next)
			}
			r := rows[0]
			if !r.Dead || r.Died.Sub(start) < time.Hour || r.Died.Sub(start) > 2*time.Hour {
				t.Fatalf("row %+v (started %v): want dead about RetryPeriod after the first try", r, start)
			}
			n := tries.Load()
			c.Set(c.Now().Add(1000 * time.Hour)) // no lease expires: never routed again
			if _, err := e.fanOut(ctx); err != nil {
				t.Fatal(err)
			}
			if tries.Load() != n {
				t.Errorf("a dead outbox row was routed again")
			}
			if l, err := e.OutboxLen(ctx); err != nil || l != 0 {
				t.Errorf("OutboxLen = %d, %v; want 0", l, err)
			}
			dead, err := e.DeadLetters(ctx, "a", 10)
			if err != nil || len(dead) != 1 || !strings.HasPrefix(dead[0].ID, OutboxIDPrefix) ||
				dead[0].Kind != "Bounce" || !strings.Contains(dead[0].LastError, "database is locked") {
				t.Fatalf("dead letters %+v, %v", dead, err)
			}
			if other, err := e.DeadLetters(ctx, "b", 10); err != nil || len(other) != 0 {
				t.Errorf("dead letters of b: %+v, %v", other, err)
			}

			broken.Store(false)
			if n, err := e.Replay(ctx, "a", []string{dead[0].ID}); err != nil || n != 1 {
				t.Fatalf("replay: %d, %v", n, err)
			}
			step(t, e)
			if hits := rcv.Hits(); len(hits) != 1 || hits[0].id != "job-m1" {
				t.Fatalf("after replay the receiver got %+v", hits)
			}
			if got := rowCount(t, db, "notify_outbox") + rowCount(t, db, "notify_deliveries"); got != 0 {
				t.Errorf("%d rows left", got)
			}

			// Retention prunes a dead outbox row with the events of its age.
			broken.Store(true)
			addEvent(t, db, log, "a", "m2", c.Now())
			for range 50 {
				if _, err := e.fanOut(ctx); err != nil {
					t.Fatal(err)
				}
				if rows, err = e.OutboxFailing(ctx, "a", 10); err != nil || len(rows) != 1 {
					t.Fatalf("failing outbox rows %+v, %v", rows, err)
				}
				if rows[0].Dead {
					break
				}
				c.Set(rows[0].Next)
			}
			if n, err := e.PruneDead(ctx, rows[0].Died, 10); err != nil || n != 0 {
				t.Errorf("PruneDead before it died: %d, %v; want 0", n, err)
			}
			if n, err := e.PruneDead(ctx, rows[0].Died.Add(time.Millisecond), 10); err != nil || n != 1 {
				t.Errorf("PruneDead after it died: %d, %v; want 1", n, err)
			}
			if got := rowCount(t, db, "notify_outbox"); got != 0 {
				t.Errorf("%d outbox rows left after pruning", got)
			}
		})
	}
}
