package retention

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

// TestStatisticsPruned: the statistics counters are kept for Statistics
// (every 15-minute bucket older goes, however many there are) and forever
// when it is 0; younger buckets are untouched.
func TestStatisticsPruned(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			counters := stats.New(w.db, w.spool, stats.Config{Node: "n1"})
			w.events.Observe(counters)
			send := func(id string, at time.Time) {
				t.Helper()
				err := w.db.Tx(context.Background(), func(tx *sql.Tx) error {
					return w.events.AddTx(tx, id, "acme", "", at, event.SendDetail{Identity: "acme.example",
						Recipients: []event.SendRecipient{{Address: "r@far.test"}}})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			t0 := w.now
			for i, age := range []time.Duration{100 * day, 95 * day, 91*day + time.Hour, 89 * day, time.Hour} {
				send(string(rune('a'+i)), t0.Add(-age))
			}
			sends := func() int64 {
				t.Helper()
				tot, err := counters.Sum(t.Context(), stats.TotalsQuery{Account: "acme", Start: t0.Add(-400 * day), End: t0.Add(day)})
				if err != nil {
					t.Fatal(err)
				}
				if len(tot) == 0 {
					return 0
				}
				return tot[0].Counts[stats.MetricSend]
			}
			pass := func(keep time.Duration) Result {
				t.Helper()
				p := &Pruner{Policy: Policy{Statistics: keep}, Spool: w.spool, Queue: w.queue, Events: w.events, Stats: counters,
					Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return w.now }, Pause: -1}
				r, err := p.Once(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := pass(0); r.Statistics != 0 || sends() != 5 {
				t.Errorf("kept forever: %d rows pruned, %d sends left; want 0 and 5", r.Statistics, sends())
			}
			// Three buckets older than 90 days, each a send and a counted_send row.
			if r := pass(90 * day); r.Statistics != 6 || sends() != 2 {
				t.Errorf("90 days: %d rows pruned, %d sends left; want 6 and 2", r.Statistics, sends())
			}
			if r := pass(90 * day); r != (Result{}) {
				t.Errorf("again at the same time: %+v", r)
			}
			w.now = t0.Add(2 * day)
			if r := pass(90 * day); r.Statistics != 2 || sends() != 1 {
				t.Errorf("two days on: %d rows pruned, %d sends left; want 2 and 1", r.Statistics, sends())
			}
		})
	}
}
