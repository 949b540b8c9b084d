package stats_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkObserver measures what counting costs a message
// (docs/statistics.md, "Cost per event"): per op, one message's Send event
// (one recipient) and its Delivery event, each written in a transaction as
// the accept path and delivery write them, through event.Log with the
// stats observer ("with") and without it ("without"), on each store.
// "alone": each event in its own transaction (a quiet server); "group64":
// the events of 64 messages in one transaction (a group commit under
// load), where the counters of a transaction are written once at its end
// (store.DB.Deferred). The difference of with and without is the
// counters' cost per message.
//
//	go test ./internal/stats -run '^$' -bench Observer -benchtime 2000x
func BenchmarkObserver(b *testing.B) {
	for _, backend := range store.Backends() {
		for _, group := range []int{1, 64} {
			for _, counted := range []bool{false, true} {
				name := backend + "/alone/without"
				if group > 1 {
					name = backend + "/group" + strconv.Itoa(group) + "/without"
				}
				if counted {
					name = name[:len(name)-len("without")] + "with"
				}
				b.Run(name, func(b *testing.B) { benchObserver(b, backend, group, counted) })
			}
		}
	}
}

func benchObserver(b *testing.B, backend string, group int, counted bool) {
	db := store.OpenTest(b, backend)
	log := event.NewLog(db)
	if counted {
		log.Observe(stats.New(db, spool.New(db), stats.Config{Node: "n1"}))
	}
	ctx := context.Background()
	send := event.SendDetail{Identity: "acme.example", Recipients: []event.SendRecipient{{Address: "r@yahoo.com"}}}
	write := func(from, to int, f func(tx *sql.Tx, id string) error) {
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			for i := from; i < to; i++ {
				if err := f(tx, "bench-"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for from := 0; from < b.N; from += group {
		to := min(from+group, b.N)
		now := time.Now()
		write(from, to, func(tx *sql.Tx, id string) error { return log.AddTx(tx, id, "acme", "", now, send) })
		write(from, to, func(tx *sql.Tx, id string) error {
			return log.AddTx(tx, id, "acme", "r@yahoo.com", now, event.DeliveryDetail{})
		})
	}
}
