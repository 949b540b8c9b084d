package queue

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

func fill(t *testing.T, db *store.DB, q *Queue, n int, now time.Time) {
	t.Helper()
	sp := spool.New(db)
	err := db.Tx(t.Context(), func(tx *sql.Tx) error {
		if err := sp.PutTx(tx, &spool.Message{ID: "m1", Account: "a", Created: now, Mail: []byte("{}"), Body: []byte("x")}); err != nil {
			return err
		}
		for i := range n {
			e := &Entry{ID: fmt.Sprintf("m1/%d", i), MessageID: "m1", Account: "a", Rcpt: fmt.Sprintf("r%d@example.com", i),
				Domain: "example.com", Created: now, NextAttempt: now, Deadline: now.Add(time.Hour)}
			if err := q.InsertTx(tx, e, "", time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLeaseIsExclusive(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			now := time.Now()
			const n = 400
			fill(t, db, q, n, now)
			var mu sync.Mutex
			seen := map[string]string{}
			var wg sync.WaitGroup
			for w := range 4 {
				owner := fmt.Sprintf("node%d", w)
				wg.Go(func() {
					for {
						got, err := q.Lease(t.Context(), owner, now, 25, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, e := range got {
							if prev, dup := seen[e.ID]; dup {
								t.Errorf("%s leased by %s and %s", e.ID, prev, owner)
							}
							seen[e.ID] = owner
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seen) != n {
				t.Fatalf("leased %d entries, want %d", len(seen), n)
			}
			// Leased entries are not due for anyone else until the lease expires…
			if got, _ := q.Lease(t.Context(), "late", now, 10, time.Minute); len(got) != 0 {
				t.Fatalf("re-leased %d held entries", len(got))
			}
			// …after which they are.
			if got, _ := q.Lease(t.Context(), "late", now.Add(2*time.Minute), 10, time.Minute); len(got) != 10 {
				t.Fatalf("after expiry leased %d, want 10", len(got))
			}
			// A restarting node reclaims its own leases at once.
			if c, err := q.ReleaseOwner(t.Context(), "late"); err != nil || c != 10 {
				t.Fatalf("ReleaseOwner = %d, %v; want 10", c, err)
			}
			if got, _ := q.Lease(t.Context(), "again", now, 100, time.Minute); len(got) != 10 {
				t.Fatalf("after ReleaseOwner leased %d, want the 10 released", len(got))
			}
		})
	}
}

func TestRescheduleAndNextDue(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			now := time.Now().Truncate(time.Millisecond)
			fill(t, db, q, 1, now)
			got, _ := q.Lease(t.Context(), "n", now, 10, time.Minute)
			if len(got) != 1 {
				t.Fatalf("leased %d", len(got))
			}
			if _, ok, _ := q.NextDue(t.Context(), now); ok {
				t.Fatal("leased entry reported as due")
			}
			next := now.Add(30 * time.Second)
			if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.RescheduleTx(tx, got[0].ID, 1, next, "451 busy") }); err != nil {
				t.Fatal(err)
			}
			if due, ok, err := q.NextDue(t.Context(), now); err != nil || !ok || !due.Equal(next) {
				t.Fatalf("NextDue = %v %v %v, want %v", due, ok, err, next)
			}
			if got, _ := q.Lease(t.Context(), "n", now, 10, time.Minute); len(got) != 0 {
				t.Fatal("rescheduled entry leased before it is due")
			}
			got, _ = q.Lease(t.Context(), "n", next, 10, time.Minute)
			if len(got) != 1 || got[0].Attempts != 1 {
				t.Fatalf("after due: %+v", got)
			}
			if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.DeleteTx(tx, got[0].ID) }); err != nil {
				t.Fatal(err)
			}
			if n, _ := q.Len(t.Context()); n != 0 {
				t.Fatalf("Len = %d", n)
			}
		})
	}
}

// PendingTx answers, for spool, which messages still have entries: all of
// a message's entries must be retired before it is no longer pending, and
// a message never queued is not pending.
func TestPendingTx(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			fill(t, db, q, 2, time.Now())
			pending := func(ids ...string) map[string]bool {
				t.Helper()
				var got map[string]bool
				if err := db.Tx(t.Context(), func(tx *sql.Tx) (err error) { got, err = q.PendingTx(tx, ids); return err }); err != nil {
					t.Fatal(err)
				}
				return got
			}
			if got := pending("m1"); !got["m1"] || len(got) != 1 {
				t.Fatalf("with two entries: %v", got)
			}
			if got := pending(); len(got) != 0 {
				t.Fatalf("of no messages: %v", got)
			}
			if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.DeleteTx(tx, "m1/0") }); err != nil {
				t.Fatal(err)
			}
			if got := pending("m1", "other"); !got["m1"] || len(got) != 1 {
				t.Fatalf("with one entry left: %v", got)
			}
			if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.DeleteTx(tx, "m1/1") }); err != nil {
				t.Fatal(err)
			}
			if got := pending("m1"); len(got) != 0 {
				t.Fatalf("with every entry retired: %v", got)
			}
		})
	}
}

// TestConfigurationSetRoundTrip: an entry's configuration set and TLS
// requirement are stored by InsertTx and read back by Lease, on both
// backends; entries without them read back as "" and false.
func TestConfigurationSetRoundTrip(t *testing.T) {
	cases := []struct {
		id, set string
		tls     bool
	}{
		{"m1/0", "", false},
		{"m1/1", "marketing", false},
		{"m1/2", "secure-set", true},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			now := time.Now()
			err := db.Tx(t.Context(), func(tx *sql.Tx) error {
				if err := spool.New(db).PutTx(tx, &spool.Message{ID: "m1", Account: "a", Created: now, Mail: []byte("{}"), Body: []byte("x")}); err != nil {
					return err
				}
				for _, c := range cases {
					e := &Entry{ID: c.id, MessageID: "m1", Account: "a", Rcpt: "r@example.com", Domain: "example.com",
						Created: now, NextAttempt: now, Deadline: now.Add(time.Hour), ConfigurationSet: c.set, TLSRequired: c.tls}
					if err := q.InsertTx(tx, e, "", time.Time{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.Lease(t.Context(), "node", now, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]*Entry{}
			for _, e := range got {
				byID[e.ID] = e
			}
			for _, c := range cases {
				e := byID[c.id]
				if e == nil {
					t.Fatalf("entry %s not leased", c.id)
				}
				if e.ConfigurationSet != c.set || e.TLSRequired != c.tls {
					t.Errorf("entry %s: configuration set %q, TLS required %v; want %q, %v", c.id, e.ConfigurationSet, e.TLSRequired, c.set, c.tls)
				}
			}
		})
	}
}

// TestSystemEntryRoundTrip: a system entry's envelope sender survives the
// queue, the null reverse-path ("") as such, and a normal entry reads back
// as not system; a custom MAIL FROM domain (ReturnPathDomain) survives too.
func TestSystemEntryRoundTrip(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := New(db)
			now := time.Now()
			sp := spool.New(db)
			entries := []*Entry{
				{ID: "m1/0", System: true, MailFrom: ""},
				{ID: "m1/1", System: true, MailFrom: "notify@petrel.test"},
				{ID: "m1/2"},
				{ID: "m1/3", ReturnPathDomain: "bounce.example.com"},
			}
			err := db.Tx(t.Context(), func(tx *sql.Tx) error {
				if err := sp.PutTx(tx, &spool.Message{ID: "m1", Account: "a", Created: now, Mail: []byte("{}"), Body: []byte("x")}); err != nil {
					return err
				}
				for i, e := range entries {
					e.MessageID, e.Account, e.Rcpt, e.Domain = "m1", "a", fmt.Sprintf("r%d@example.com", i), "example.com"
					e.Created, e.NextAttempt, e.Deadline = now, now, now.Add(time.Hour)
					if err := q.InsertTx(tx, e, "", time.Time{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.Lease(t.Context(), "n", now, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]*Entry{}
			for _, e := range got {
				byID[e.ID] = e
			}
			for _, want := range entries {
				e := byID[want.ID]
				if e == nil {
					t.Fatalf("entry %s not leased", want.ID)
				}
				if e.System != want.System || e.MailFrom != want.MailFrom || e.ReturnPathDomain != want.ReturnPathDomain {
					t.Errorf("%s: System, MailFrom, ReturnPathDomain = %v, %q, %q; want %v, %q, %q", want.ID, e.System, e.MailFrom, e.ReturnPathDomain,
						want.System, want.MailFrom, want.ReturnPathDomain)
				}
			}
		})
	}
}
