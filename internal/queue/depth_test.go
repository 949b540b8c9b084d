package queue

import (
	"database/sql"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestDepth: Depth counts every live entry, leased or not, and reports
// the oldest acceptance time; an empty queue has depth 0 and no oldest.
func TestDepth(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			n, oldest, err := q.Depth(t.Context())
			if err != nil || n != 0 || !oldest.IsZero() {
				t.Fatalf("empty queue: Depth = %d, %v, %v; want 0, zero time", n, oldest, err)
			}
			base := time.UnixMilli(1_700_000_000_000)
			fill(t, db, q, 3, base.Add(time.Minute))
			// An older entry, leased: still counted, and it is the oldest.
			if err := db.Tx(t.Context(), func(tx *sql.Tx) error {
				return q.InsertTx(tx, &Entry{ID: "m1/old", MessageID: "m1", Account: "a", Rcpt: "old@example.com", Domain: "example.com",
					Created: base, NextAttempt: base, Deadline: base.Add(time.Hour)}, "node", base.Add(time.Hour))
			}); err != nil {
				t.Fatal(err)
			}
			n, oldest, err = q.Depth(t.Context())
			if err != nil || n != 4 || !oldest.Equal(base) {
				t.Fatalf("Depth = %d, %v, %v; want 4, %v", n, oldest, err, base)
			}
		})
	}
}
