package quota_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/store"
)

// clock is a controllable clock for quota.Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// t0 starts a minute.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// admit admits n and stores the admission, as a send does.
func admit(t *testing.T, db *store.DB, q *quota.Quota, l quota.Limits, n int) error {
	t.Helper()
	a, err := q.Admit(t.Context(), l, n, n)
	if err != nil {
		return err
	}
	if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.RecordTx(tx, a) }); err != nil {
		t.Fatal(err)
	}
	return nil
}

// TestRollingWindow: the daily quota is full at t0, still full just
// before t0+24h and up to the end of t0's minute + 24 h, free after; a new
// Quota (a restarted node) sees the stored usage; SentLast24Hours counts
// recipients over the same window.
func TestRollingWindow(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			clk := &clock{t: t0}
			q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
			l := quota.Limits{Account: "a", Max24HourSend: 200, MaxSendRate: -1}
			for range 4 {
				if err := admit(t, db, q, l, 50); err != nil {
					t.Fatalf("within the quota: %v", err)
				}
			}
			steps := []struct {
				name string
				at   time.Time
				want error
			}{
				{"full at t0", t0, quota.ErrDaily},
				{"t0+1h", t0.Add(time.Hour), quota.ErrDaily},
				{"just before t0+24h", t0.Add(24*time.Hour - time.Nanosecond), quota.ErrDaily},
				{"end of t0's minute + 24h, less 1 ns", t0.Add(24*time.Hour + time.Minute - time.Nanosecond), quota.ErrDaily},
				{"t0's minute + 24h over", t0.Add(24*time.Hour + time.Minute), nil},
			}
			for _, st := range steps {
				clk.Set(st.at)
				if err := q.Check(t.Context(), l, true); !errors.Is(err, st.want) {
					t.Errorf("%s: Check = %v, want %v", st.name, err, st.want)
				}
				// A restarted node reads the same from send_usage.
				fresh := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
				if _, err := fresh.Admit(t.Context(), l, 1, 1); !errors.Is(err, st.want) {
					t.Errorf("%s: a restarted node's Admit = %v, want %v", st.name, err, st.want)
				}
			}
			clk.Set(t0.Add(time.Hour))
			if n, err := q.SentLast24Hours(t.Context(), "a"); err != nil || n != 200 {
				t.Errorf("SentLast24Hours at t0+1h = %d, %v; want 200", n, err)
			}
			clk.Set(t0.Add(24*time.Hour + time.Minute))
			if err := admit(t, db, q, l, 200); err != nil {
				t.Errorf("a whole quota after the window: %v", err)
			}
			if err := admit(t, db, q, l, 1); !errors.Is(err, quota.ErrDaily) {
				t.Errorf("over it again: %v", err)
			}
			if n, err := q.SentLast24Hours(t.Context(), "a"); err != nil || n != 200 {
				t.Errorf("SentLast24Hours = %d, %v; want 200 (t0's gone)", n, err)
			}
			// The heartbeat prunes minutes before the window.
			if err := q.Beat(t.Context()); err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := db.QueryRow("SELECT COUNT(*) FROM send_usage").Scan(&rows); err != nil || rows != 1 {
				t.Errorf("send_usage rows after pruning = %d, %v; want 1", rows, err)
			}
		})
	}
}

// TestRateBurst: MaxSendRate 10 on one node: of 100 instant single-recipient
// admissions exactly the bucket (10) pass and 90 are throttled; one second
// later 10 more pass, a tenth of a second after that one more. A message
// with more recipients than the bucket holds passes only when it is full,
// and empties it.
func TestRateBurst(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: -1, MaxSendRate: 10}
	burst := func(n int) (ok, throttled int) {
		for range n {
			switch err := admit(t, db, q, l, 1); {
			case err == nil:
				ok++
			case errors.Is(err, quota.ErrRate):
				throttled++
			default:
				t.Fatal(err)
			}
		}
		return ok, throttled
	}
	if ok, th := burst(100); ok != 10 || th != 90 {
		t.Errorf("100 instant sends: %d accepted, %d throttled; want 10, 90", ok, th)
	}
	clk.Add(time.Second)
	if ok, th := burst(100); ok != 10 || th != 90 {
		t.Errorf("1 s later, 100 sends: %d accepted, %d throttled; want 10, 90", ok, th)
	}
	clk.Add(100 * time.Millisecond)
	if ok, _ := burst(5); ok != 1 {
		t.Errorf("0.1 s later: %d accepted, want 1", ok)
	}
	if err := q.Check(t.Context(), l, true); !errors.Is(err, quota.ErrRate) {
		t.Errorf("Check with an empty bucket = %v, want ErrRate", err)
	}
	clk.Add(500 * time.Millisecond)
	if err := admit(t, db, q, l, 25); !errors.Is(err, quota.ErrRate) {
		t.Errorf("25 recipients with a half-full bucket: %v, want ErrRate", err)
	}
	clk.Add(500 * time.Millisecond)
	if err := admit(t, db, q, l, 25); err != nil {
		t.Errorf("25 recipients with a full bucket: %v", err)
	}
	if ok, _ := burst(1); ok != 0 {
		t.Error("the 25-recipient message left tokens in the bucket")
	}
}

// TestRelease: a released admission gives its daily room and its tokens
// back; a refused one takes nothing.
func TestRelease(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: 10, MaxSendRate: 10}
	a, err := q.Admit(t.Context(), l, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Admit(t.Context(), l, 1, 1); !errors.Is(err, quota.ErrDaily) {
		t.Fatalf("over the quota: %v", err)
	}
	a.Release()
	a.Release() // twice is once
	if err := admit(t, db, q, l, 10); err != nil {
		t.Errorf("after the release: %v", err)
	}
	if n, _ := q.SentLast24Hours(t.Context(), "a"); n != 10 {
		t.Errorf("SentLast24Hours = %d, want 10", n)
	}
}

// TestSimulatorRecipients: recipients not counted against the 24-hour
// quota (simulator ones) still take rate tokens.
func TestSimulatorRecipients(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: 2, MaxSendRate: 3}
	for range 3 {
		a, err := q.Admit(t.Context(), l, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(t.Context(), func(tx *sql.Tx) error { return q.RecordTx(tx, a) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Admit(t.Context(), l, 1, 0); !errors.Is(err, quota.ErrRate) {
		t.Errorf("a 4th simulator recipient in the second: %v, want ErrRate", err)
	}
	clk.Add(time.Second)
	if err := admit(t, db, q, l, 2); err != nil {
		t.Errorf("the daily quota is untouched by simulator recipients: %v", err)
	}
	if n, _ := q.SentLast24Hours(t.Context(), "a"); n != 2 {
		t.Errorf("SentLast24Hours = %d, want 2", n)
	}
}

// TestLimitAdded: usage recorded while the 24 hours were unlimited counts
// once when they become limited.
func TestLimitAdded(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: -1, MaxSendRate: 100}
	if err := admit(t, db, q, l, 5); err != nil {
		t.Fatal(err)
	}
	l.Max24HourSend = 6
	if err := admit(t, db, q, l, 1); err != nil {
		t.Fatalf("the 6th recipient: %v", err)
	}
	if err := admit(t, db, q, l, 1); !errors.Is(err, quota.ErrDaily) {
		t.Errorf("the 7th recipient: %v, want ErrDaily", err)
	}
}

// TestUnlimited: -1/-1 is never refused and costs nothing: no admission,
// no usage row.
func TestUnlimited(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	q := quota.New(db, quota.Config{Node: "n1"})
	l := quota.Limits{Account: "boot", Max24HourSend: -1, MaxSendRate: -1}
	for range 1000 {
		if err := admit(t, db, q, l, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Check(t.Context(), l, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.SentLast24Hours(t.Context(), "boot"); n != 0 {
		t.Errorf("SentLast24Hours = %d, want 0: unlimited accounts write no usage", n)
	}
	if a, err := q.Admit(t.Context(), l, 0, 0); a != nil || err != nil {
		t.Errorf("Admit(0) = %v, %v; want nothing", a, err)
	}
}

// TestTwoNodes: two nodes sharing one PostgreSQL database share the daily
// quota (each sees the other's usage at most OthersTTL late) and split the
// rate between the live nodes.
func TestTwoNodes(t *testing.T) {
	dsn := store.TestPostgresDSN(t)
	open := func() *store.DB {
		db, err := store.Open(context.Background(), dsn, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	clk := &clock{t: t0}
	qa := quota.New(dbA, quota.Config{Node: "a", Now: clk.Now})
	qb := quota.New(dbB, quota.Config{Node: "b", Now: clk.Now})
	for _, q := range []*quota.Quota{qa, qb, qa} {
		if err := q.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if qa.LiveNodes() != 2 || qb.LiveNodes() != 2 {
		t.Fatalf("live nodes: a sees %d, b %d; want 2", qa.LiveNodes(), qb.LiveNodes())
	}

	// Rate 10/s: 5/s (bucket of 5) on each node.
	rl := quota.Limits{Account: "r", Max24HourSend: -1, MaxSendRate: 10}
	count := func(db *store.DB, q *quota.Quota) (ok int) {
		for range 50 {
			if admit(t, db, q, rl, 1) == nil {
				ok++
			}
		}
		return ok
	}
	if a, b := count(dbA, qa), count(dbB, qb); a != 5 || b != 5 {
		t.Errorf("50 instant sends on each node: a accepted %d, b %d; want 5 and 5", a, b)
	}
	// b stops beating: 31 s later a is alone and takes the whole rate.
	clk.Add(quota.LiveFor + time.Second)
	if err := qa.Beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if qa.LiveNodes() != 1 {
		t.Fatalf("a sees %d live nodes, want 1", qa.LiveNodes())
	}
	if a := count(dbA, qa); a != 10 {
		t.Errorf("alone, a accepted %d of 50 instant sends, want 10", a)
	}

	// Daily 200, shared.
	dl := quota.Limits{Account: "d", Max24HourSend: 200, MaxSendRate: -1}
	if err := admit(t, dbA, qa, dl, 150); err != nil {
		t.Fatal(err)
	}
	if err := admit(t, dbB, qb, dl, 50); err != nil {
		t.Fatalf("b, within the shared quota: %v", err)
	}
	if err := admit(t, dbB, qb, dl, 1); !errors.Is(err, quota.ErrDaily) {
		t.Errorf("b over the shared quota: %v, want ErrDaily", err)
	}
	// a read b's usage (0) with its first admission: for OthersTTL it may
	// over-admit by what b accepted meanwhile — the documented bound.
	if err := admit(t, dbA, qa, dl, 1); err != nil {
		t.Errorf("a within OthersTTL of its last reading: %v (the bound allows it)", err)
	}
	clk.Add(quota.OthersTTL)
	if err := admit(t, dbA, qa, dl, 1); !errors.Is(err, quota.ErrDaily) {
		t.Errorf("a, OthersTTL later: %v, want ErrDaily", err)
	}
	for _, q := range []*quota.Quota{qa, qb} {
		if n, err := q.SentLast24Hours(t.Context(), "d"); err != nil || n != 201 {
			t.Errorf("SentLast24Hours = %d, %v; want 201 (both nodes)", n, err)
		}
	}
}

// TestRateLargeMessages: MaxSendRate counts recipients, so messages with
// more recipients than the bucket holds cannot exceed it either: a
// 50-recipient message at MaxSendRate 1 is admitted with a full bucket and
// the next message waits until the 49 recipients beyond the bucket are
// paid for (a hostile tenant sent 50 recipients a second at rate 1 before:
// 30,000 in 600 s);
// releasing the message gives all its tokens back.
func TestRateLargeMessages(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: -1, MaxSendRate: 1}
	sent := 0
	for range 600 {
		if err := admit(t, db, q, l, 50); err == nil {
			sent += 50
		} else if !errors.Is(err, quota.ErrRate) {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	// 600 s at 1/s, plus the one message admitted ahead of its tokens.
	if sent > 600+50 {
		t.Errorf("%d recipients admitted in 600 s at MaxSendRate 1, want at most 650", sent)
	}

	q2 := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	a, err := q2.Admit(t.Context(), l, 50, 50)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	if err := q2.Check(t.Context(), l, true); !errors.Is(err, quota.ErrRate) {
		t.Errorf("Check 10 s after a 50-recipient message at 1/s = %v, want ErrRate", err)
	}
	a.Release()
	if _, err := q2.Admit(t.Context(), l, 1, 1); err != nil {
		t.Errorf("after releasing a 50-recipient admission: %v, want its tokens back", err)
	}
}

// TestRingReuse: a minute's slot reused a day later by a message that does
// not count towards the 24 hours (simulator recipients only) drops the old
// minute's count: the old usage must not stay in the total for good.
func TestRingReuse(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: 200, MaxSendRate: 1000}
	for range 150 {
		if err := admit(t, db, q, l, 1); err != nil {
			t.Fatal(err)
		}
	}
	// A day and a few minutes later: one simulator-only message a minute,
	// reusing the slots of the first day's minutes.
	clk.Add(24*time.Hour + 2*time.Minute)
	for range 5 {
		a, err := q.Admit(t.Context(), l, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		a.Release()
		clk.Add(time.Minute)
	}
	clk.Add(24 * time.Hour)
	for i := range 200 {
		if err := admit(t, db, q, l, 1); err != nil {
			t.Fatalf("two days later, recipient %d of 200: %v", i+1, err)
		}
	}
}

// TestForgetIdle: an account idle for a day is forgotten at the next
// heartbeat and, when it sends again, starts from what the store says.
func TestForgetIdle(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	clk := &clock{t: t0}
	q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
	l := quota.Limits{Account: "a", Max24HourSend: 3, MaxSendRate: 1000}
	for range 3 {
		if err := admit(t, db, q, l, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.Accounts(); n != 1 {
		t.Fatalf("%d accounts kept, want 1", n)
	}
	clk.Add(23 * time.Hour)
	if err := q.Beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := admit(t, db, q, l, 1); !errors.Is(err, quota.ErrDaily) {
		t.Errorf("within the day: %v, want ErrDaily", err)
	}
	clk.Add(25 * time.Hour)
	if err := q.Beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := q.Accounts(); n != 0 {
		t.Errorf("%d accounts kept after a day idle, want 0", n)
	}
	if err := admit(t, db, q, l, 3); err != nil {
		t.Errorf("after the day: %v", err)
	}
}

// TestRecordGathered: the recipients a transaction records are written
// once at its end, one row per account and minute; a transaction rolled
// back records nothing.
func TestRecordGathered(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			clk := &clock{t: t0}
			q := quota.New(db, quota.Config{Node: "n1", Now: clk.Now})
			limits := func(a string) quota.Limits { return quota.Limits{Account: a, Max24HourSend: 1000, MaxSendRate: 1000} }
			record := func(fail bool, accounts ...string) error {
				return db.Tx(t.Context(), func(tx *sql.Tx) error {
					for _, a := range accounts {
						adm, err := q.Admit(t.Context(), limits(a), 2, 2)
						if err != nil {
							return err
						}
						if err := q.RecordTx(tx, adm); err != nil {
							return err
						}
					}
					if fail {
						return errors.New("rolled back")
					}
					return nil
				})
			}
			if err := record(false, "a", "a", "b", "a"); err != nil {
				t.Fatal(err)
			}
			if err := record(true, "a", "b"); err == nil {
				t.Fatal("the failing transaction committed")
			}
			var rows, total int64
			if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*), SUM(recipients) FROM send_usage").Scan(&rows, &total); err != nil {
				t.Fatal(err)
			}
			if rows != 2 || total != 8 {
				t.Errorf("%d rows, %d recipients; want 2 rows (a and b) of 8", rows, total)
			}
			other := quota.New(db, quota.Config{Node: "n2", Now: clk.Now})
			if n, err := other.SentLast24Hours(t.Context(), "a"); err != nil || n != 6 {
				t.Errorf("SentLast24Hours(a) = %d, %v; want 6", n, err)
			}
		})
	}
}
