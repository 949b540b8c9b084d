package reputation_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/stats"
)

// BenchmarkEvaluate is one evaluation of an account that sent every 15
// minutes for the whole 14-day window to five ISPs, with bounces and
// complaints in every bucket (1,344 buckets, about 20,000 counter rows):
// what Run spends each second on a busy account.
func BenchmarkEvaluate(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			f := newBenchFixture(b, backend)
			ctx := context.Background()
			domains := []string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.net"}
			start := f.now.Add(-stats.StatisticsPeriod)
			for i := range int(stats.StatisticsPeriod / stats.Bucket) {
				at := start.Add(time.Duration(i) * stats.Bucket)
				id := fmt.Sprintf("m-%d", i)
				d := event.SendDetail{}
				for j, dom := range domains {
					for k := range 4 {
						d.Recipients = append(d.Recipients, event.SendRecipient{Address: fmt.Sprintf("r%d-%d@%s", j, k, dom)})
					}
				}
				err := f.db.Tx(ctx, func(tx *sql.Tx) error {
					if err := f.log.AddTx(tx, id, "acme", "", at, d); err != nil {
						return err
					}
					for j := range domains {
						r := d.Recipients[j*4].Address
						if err := f.log.AddTx(tx, id, "acme", r, at, event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: "General"}); err != nil {
							return err
						}
						r = d.Recipients[j*4+1].Address
						if err := f.log.AddTx(tx, id, "acme", r, at, event.ComplaintDetail{}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			var rows int
			if err := f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM send_counters").Scan(&rows); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := f.rep.Evaluate(ctx, "acme"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows), "counter-rows")
		})
	}
}

// BenchmarkPaused is the accept path's check of a cached answer (the
// account's and a set's: two per message with a set).
func BenchmarkPaused(b *testing.B) {
	f := newBenchFixture(b, "sqlite")
	ctx := context.Background()
	if _, err := f.rep.Paused(ctx, "acme", ""); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.rep.Paused(ctx, "acme", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
