package suppression

import (
	"database/sql"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/store"
)

// TestPruneExpired: what has lapsed goes — an expired account entry, a
// global entry past its listing and its memory, soft-bounce counts older
// than the longest window — and nothing that still decides: an entry
// without expiry, a global entry whose history still lengthens a listing,
// a recent soft-bounce count.
func TestPruneExpired(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			l, clk := openList(t, backend)
			start := clk.now()
			forever, lapsing := mustAddr(t, "forever@example.com"), mustAddr(t, "lapsing@example.com")
			if err := l.PutMany(ctx, "acct", []Entry{{Address: forever, Reason: Bounce},
				{Address: lapsing, Reason: Bounce, Expires: start.Add(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			old, recent := mustAddr(t, "old@example.com"), mustAddr(t, "recent@example.com")
			if err := l.GlobalAdd(ctx, old, time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
			if err := l.SetAttributes(ctx, "acct", Policy{Reasons: []Reason{Bounce},
				SoftBounce: &SoftBounce{Count: 5, Window: 24 * time.Hour, SuppressFor: 24 * time.Hour}}); err != nil {
				t.Fatal(err)
			}
			observe(t, l, Observation{Account: "acct", MessageID: "m1", Recipient: "full@example.com", Detail: soft(bounce.ReasonMailboxFull), Now: start})

			// Past the entry's expiry and the global listing, within the memory.
			clk.advance(2 * time.Hour)
			if err := l.GlobalAdd(ctx, recent, time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
			if n, done, err := l.PruneExpired(ctx, clk.now(), 100); err != nil || n != 1 || !done {
				t.Fatalf("PruneExpired after 2h = %d, %v, %v; want the lapsed account entry only", n, done, err)
			}
			// Past the global memory and the longest soft-bounce window.
			clk.advance(max(l.GlobalConfig().Memory, MaxSoftWindow) + time.Hour)
			observe(t, l, Observation{Account: "acct", MessageID: "m2", Recipient: "other@example.com", Detail: soft(bounce.ReasonMailboxFull), Now: clk.now()})
			if n, _, err := l.PruneExpired(ctx, clk.now(), 100); err != nil || n != 3 {
				t.Fatalf("PruneExpired after the memory = %d, %v; want 2 global entries and 1 soft-bounce count", n, err)
			}
			if _, err := l.Get(ctx, "acct", forever); err != nil {
				t.Errorf("an entry without expiry was pruned: %v", err)
			}
			var left int
			if err := l.db.Tx(ctx, func(tx *sql.Tx) error {
				return tx.QueryRow("SELECT COUNT(*) FROM soft_bounces").Scan(&left)
			}); err != nil || left != 1 {
				t.Errorf("soft-bounce counts left = %d, %v; want the recent one", left, err)
			}
		})
	}
}
