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

// BenchmarkObserver measures what counting costs a message (docs/statistics.md,
// "Cost per event"): per op, a Send event with one recipient and then its
// Delivery event, each in its own transaction as the accept path and
// delivery write them, through event.Log with the stats observer ("with")
// and without it ("without"), on each store. The difference of the two is
// the counters' cost per message: three upserts (send, counted_send,
// delivery) in a transaction that commits anyway.
//
//	go test ./internal/stats -run '^$' -bench Observer -benchtime 2000x
func BenchmarkObserver(b *testing.B) {
	for _, backend := range store.Backends() {
		for _, counted := range []bool{false, true} {
			name := backend + "/without"
			if counted {
				name = backend + "/with"
			}
			b.Run(name, func(b *testing.B) {
				db := store.OpenTest(b, backend)
				log := event.NewLog(db)
				if counted {
					log.Observe(stats.New(db, spool.New(db), stats.Config{Node: "n1"}))
				}
				ctx := context.Background()
				send := event.SendDetail{Identity: "acme.example", Recipients: []event.SendRecipient{{Address: "r@yahoo.com"}}}
				b.ResetTimer()
				for i := range b.N {
					id := "bench-" + strconv.Itoa(i)
					now := time.Now()
					if err := db.Tx(ctx, func(tx *sql.Tx) error {
						if err := log.AddTx(tx, id, "acme", "", now, send); err != nil {
							return err
						}
						return log.AddTx(tx, id, "acme", "r@yahoo.com", now, event.DeliveryDetail{})
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
