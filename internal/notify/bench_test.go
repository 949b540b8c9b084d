package notify

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkAddTx is the cost the outbox adds to recording an event
// (event.Log.AddTx), per event, on SQLite: "none" records events without
// an outbox, "wanted" with one writing a row (one prepared INSERT),
// "not-wanted" with one whose Wants says no (no write). Events are
// committed 100 per transaction, as the group committer batches them, so
// the figure is the statements' cost rather than fsync's.
func BenchmarkAddTx(b *testing.B) {
	for _, mode := range []string{"none", "wanted", "not-wanted"} {
		b.Run(mode, func(b *testing.B) {
			db := store.OpenTest(b, "sqlite")
			log := event.NewLog(db)
			switch mode {
			case "wanted":
				log.SetOutbox(New(db, Config{}, nil, nil))
			case "not-wanted":
				log.SetOutbox(New(db, Config{Wants: func(string, event.Kind) bool { return false }}, nil, nil))
			}
			d := event.DeliveryDetail{Timestamp: event.Timestamp(time.Now()), ProcessingTimeMillis: 1234,
				Recipients: []string{"r@example.com"}, SMTPResponse: "250 2.0.0 OK", ReportingMTA: "a.example.com"}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; {
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					for k := 0; k < 100 && i < b.N; k, i = k+1, i+1 {
						if err := log.AddTx(tx, fmt.Sprintf("m%d", i), "a", "r@example.com", time.Now(), d); err != nil {
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
	}
}
