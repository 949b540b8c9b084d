package quota_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkAdmit is the quota's cost per message on the send path, on
// each backend: "check" is Check and Admit of one recipient for a limited
// account (memory only, but for one SELECT of the other nodes' usage per
// second); "check+record" adds RecordTx, the send_usage upsert, in
// transactions of 256 messages as the group-committing batcher makes them
// (the commit's own cost shared between them).
func BenchmarkAdmit(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			db := store.OpenTest(b, backend)
			q := quota.New(db, quota.Config{Node: "bench"})
			l := quota.Limits{Account: "a", Max24HourSend: 1 << 60, MaxSendRate: 1e12}
			ctx := context.Background()
			b.Run("check", func(b *testing.B) {
				for b.Loop() {
					if err := q.Check(ctx, l, true); err != nil {
						b.Fatal(err)
					}
					if _, err := q.Admit(ctx, l, 1, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("check+record", func(b *testing.B) {
				const batch = 256
				for i := 0; i < b.N; i += batch {
					err := db.Tx(ctx, func(tx *sql.Tx) error {
						for j := i; j < min(i+batch, b.N); j++ {
							if err := q.Check(ctx, l, true); err != nil {
								return err
							}
							a, err := q.Admit(ctx, l, 1, 1)
							if err != nil {
								return err
							}
							if err := q.RecordTx(tx, a); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
