package suppression

import (
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

// clock is a controllable clock for List.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustAddr(t testing.TB, s string) address.Address {
	t.Helper()
	a, err := address.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func openList(t testing.TB, backend string) (*List, *clock) {
	t.Helper()
	c := newClock()
	return New(store.OpenTest(t, backend), c.now), c
}

func globalBounce(t *testing.T, l *List, a address.Address, now time.Time) GlobalEntry {
	t.Helper()
	var e GlobalEntry
	err := l.db.Tx(t.Context(), func(tx *sql.Tx) error {
		var err error
		e, err = l.GlobalPutTx(tx, a, "acct", "msg", "hard bounce", now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestGlobalListGrows: the first hard bounce lists an address for Initial;
// each repeat while listed or within Memory doubles the listing, never
// past Max; a hard bounce after Memory starts again at Initial; the
// listing lifts by itself.
func TestGlobalListGrows(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			a := mustAddr(t, "Gone@Example.com")
			steps := []struct {
				after time.Duration // clock advance before the bounce
				want  time.Duration // listing length
				n     int
			}{
				{0, 24 * time.Hour, 1},
				{2 * time.Hour, 48 * time.Hour, 2},                     // still listed
				{5 * 24 * time.Hour, 96 * time.Hour, 3},                // lifted, within memory
				{time.Hour, 192 * time.Hour, 4},                        // listed
				{time.Hour, 336 * time.Hour, 5},                        // capped at 14 days
				{30 * 24 * time.Hour, 336 * time.Hour, 6},              // still capped
				{14*24*time.Hour + 91*24*time.Hour, 24 * time.Hour, 1}, // forgotten: a new streak
			}
			for i, s := range steps {
				clk.advance(s.after)
				now := clk.now()
				e := globalBounce(t, l, a, now)
				if got := e.Expires.Sub(now); got != s.want || e.Bounces != s.n {
					t.Fatalf("step %d: listed for %s after %d bounces, want %s after %d", i, got, e.Bounces, s.want, s.n)
				}
				got, err := l.GlobalGet(t.Context(), mustAddr(t, "gone@example.com"))
				if err != nil || !got.Expires.Equal(e.Expires) || got.Bounces != s.n || got.MessageID != "msg" {
					t.Fatalf("step %d: GlobalGet = %+v, %v", i, got, err)
				}
			}
			clk.advance(24*time.Hour - time.Millisecond)
			if _, err := l.GlobalGet(t.Context(), a); err != nil {
				t.Fatalf("a millisecond before expiry: %v", err)
			}
			clk.advance(time.Millisecond)
			if _, err := l.GlobalGet(t.Context(), a); !errors.Is(err, ErrNotFound) {
				t.Fatalf("at expiry: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestGlobalConfig: Initial and Max are configurable and validated.
func TestGlobalConfig(t *testing.T) {
	l, clk := openList(t, "sqlite")
	for _, c := range []struct {
		cfg GlobalConfig
		ok  bool
	}{
		{DefaultGlobalConfig(), true},
		{GlobalConfig{Initial: time.Hour, Max: 3 * time.Hour, Memory: 24 * time.Hour}, true},
		{GlobalConfig{Initial: time.Second, Max: time.Hour, Memory: time.Hour}, false},
		{GlobalConfig{Initial: 2 * time.Hour, Max: time.Hour, Memory: time.Hour}, false},
		{GlobalConfig{Initial: time.Hour, Max: 400 * 24 * time.Hour, Memory: 400 * 24 * time.Hour}, false},
		{GlobalConfig{Initial: time.Hour, Max: 48 * time.Hour, Memory: time.Hour}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
	if err := l.SetGlobalConfig(GlobalConfig{Initial: time.Hour, Max: 3 * time.Hour, Memory: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	a := mustAddr(t, "x@example.com")
	for _, want := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 3 * time.Hour} {
		now := clk.now()
		if e := globalBounce(t, l, a, now); e.Expires.Sub(now) != want {
			t.Fatalf("listed for %s, want %s", e.Expires.Sub(now), want)
		}
		clk.advance(time.Minute)
	}
}

// TestGlobalOperator: the operator lists, adds and removes addresses.
func TestGlobalOperator(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			for _, s := range []string{"c@example.com", "a@example.com", "b@example.com"} {
				globalBounce(t, l, mustAddr(t, s), clk.now())
			}
			if err := l.GlobalAdd(t.Context(), mustAddr(t, "d@example.com"), 48*time.Hour, "operator"); err != nil {
				t.Fatal(err)
			}
			for _, d := range []time.Duration{0, -time.Hour, MaxGlobalMax + time.Millisecond, 400 * 24 * time.Hour} {
				if err := l.GlobalAdd(t.Context(), mustAddr(t, "e@example.com"), d, "operator"); err == nil {
					t.Errorf("GlobalAdd for %s: no error", d)
				}
			}
			page, next, err := l.GlobalList(t.Context(), "", 2)
			if err != nil || len(page) != 2 || page[0].Address.Email() != "a@example.com" || next != "b@example.com" {
				t.Fatalf("first page %+v next %q err %v", page, next, err)
			}
			page, next, err = l.GlobalList(t.Context(), next, 2)
			if err != nil || len(page) != 2 || page[1].Address.Email() != "d@example.com" || next != "" {
				t.Fatalf("second page %+v next %q err %v", page, next, err)
			}
			if err := l.GlobalDelete(t.Context(), mustAddr(t, "A@example.com")); err != nil {
				t.Fatal(err)
			}
			if err := l.GlobalDelete(t.Context(), mustAddr(t, "a@example.com")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			clk.advance(25 * time.Hour) // the bounces' listings lift, the operator's stays
			page, _, err = l.GlobalList(t.Context(), "", 10)
			if err != nil || len(page) != 1 || page[0].Address.Email() != "d@example.com" || page[0].Cause != "operator" {
				t.Fatalf("after expiry: %+v %v", page, err)
			}
		})
	}
}
