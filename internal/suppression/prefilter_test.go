package suppression

import (
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

// TestPrefilter: once loaded, the prefilter answers Check without the
// database only for recipients it knows cannot be listed. Entries written
// through the List are seen at once; entries written by another process
// (another List over the same store: another node, the CLI) at its next
// refresh; and whenever it cannot answer — not loaded, stale, over its
// size — Check reads the database, so it never lets a listed address
// through for longer than one poll.
func TestPrefilter(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			db := store.OpenTest(t, backend)
			l, other := New(db, nil), New(db, nil) // this node, and another writer
			rcpt := func(s string) []address.Address { return []address.Address{mustAddr(t, s)} }
			suppressed := func(s string) bool {
				t.Helper()
				out, err := l.Check(ctx, "acct", nil, rcpt(s))
				if err != nil {
					t.Fatal(err)
				}
				return len(out) == 1
			}
			// Not loaded: the database answers.
			if err := other.Put(ctx, "acct", Entry{Address: mustAddr(t, "early@example.com"), Reason: Bounce}); err != nil {
				t.Fatal(err)
			}
			if !suppressed("early@example.com") {
				t.Fatal("before the first load: an entry written elsewhere was not seen")
			}
			if err := l.refreshPrefilter(ctx); err != nil {
				t.Fatal(err)
			}
			if !suppressed("early@example.com") || suppressed("never@example.com") {
				t.Fatal("after the load: wrong answers")
			}
			// Loaded, it answers for an unlisted address itself (no query)
			// and defers to the database for a listed one.
			never, early := mustAddr(t, "never@example.com").Key(), mustAddr(t, "early@example.com").Key()
			if maybe, ok := l.pf.maybe(time.Now(), pfKey{"acct", never}, pfKey{"", never}); !ok || maybe {
				t.Fatalf("prefilter on an unlisted address: maybe=%v ok=%v, want a certain no", maybe, ok)
			}
			if maybe, ok := l.pf.maybe(time.Now(), pfKey{"acct", early}); !ok || !maybe {
				t.Fatalf("prefilter on a listed address: maybe=%v ok=%v", maybe, ok)
			}
			// Written through this List: seen at once.
			if err := l.Put(ctx, "acct", Entry{Address: mustAddr(t, "local@example.com"), Reason: Bounce}); err != nil {
				t.Fatal(err)
			}
			if !suppressed("local@example.com") {
				t.Fatal("an entry put through the List was not seen at once")
			}
			// Written elsewhere, on the account list and the global list:
			// seen at the next refresh.
			if err := other.Put(ctx, "acct", Entry{Address: mustAddr(t, "remote@example.com"), Reason: Complaint}); err != nil {
				t.Fatal(err)
			}
			if err := l.SetAttributes(ctx, "acct2", Policy{}); err != nil {
				t.Fatal(err)
			}
			if err := other.GlobalAdd(ctx, mustAddr(t, "global@example.com"), time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
			if err := l.refreshPrefilter(ctx); err != nil {
				t.Fatal(err)
			}
			if !suppressed("remote@example.com") {
				t.Fatal("an entry written elsewhere was not seen after a refresh")
			}
			if out, err := l.Check(ctx, "acct2", nil, rcpt("global@example.com")); err != nil || len(out) != 1 {
				t.Fatalf("a global entry written elsewhere, after a refresh: %v, %v", out, err)
			}
			// Stale: the database answers again.
			if err := other.Put(ctx, "acct", Entry{Address: mustAddr(t, "unseen@example.com"), Reason: Bounce}); err != nil {
				t.Fatal(err)
			}
			l.pf.mu.Lock()
			l.pf.loaded = time.Now().Add(-prefilterStale - time.Second)
			l.pf.mu.Unlock()
			if !suppressed("unseen@example.com") {
				t.Fatal("a stale prefilter answered")
			}
			// Over its size: the database answers until a rebuild.
			if err := l.refreshPrefilter(ctx); err != nil {
				t.Fatal(err)
			}
			l.pf.mu.Lock()
			l.pf.n = l.pf.cap + 1
			l.pf.mu.Unlock()
			if err := other.Put(ctx, "acct", Entry{Address: mustAddr(t, "full@example.com"), Reason: Bounce}); err != nil {
				t.Fatal(err)
			}
			if !suppressed("full@example.com") {
				t.Fatal("an overfull prefilter answered")
			}
			if err := l.refreshPrefilter(ctx); err != nil {
				t.Fatal(err)
			}
			if l.pf.n > l.pf.cap || !suppressed("full@example.com") || suppressed("never@example.com") {
				t.Fatal("after the rebuild: wrong answers")
			}
		})
	}
}
