package ttlcache

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

// TestGet: an answer is returned while less than TTL old, not from TTL on,
// and not when the clock has gone back before it was put.
func TestGet(t *testing.T) {
	cases := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"at once", t0, true},
		{"just inside TTL", t0.Add(5*time.Second - time.Nanosecond), true},
		{"at TTL", t0.Add(5 * time.Second), false},
		{"clock gone back", t0.Add(-time.Second), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cache[string, int]{TTL: 5 * time.Second, Max: 10}
			c.Put("k", 7, t0, c.Generation())
			if v, ok := c.Get("k", tc.at); ok != tc.ok || ok && v != 7 {
				t.Errorf("Get = %v, %v; want ok %v", v, ok, tc.ok)
			}
		})
	}
}

// TestForget: Forget drops the answer, and an answer loaded before it
// (its generation read before) is not kept; one loaded after is.
func TestForget(t *testing.T) {
	c := &Cache[string, int]{TTL: time.Minute, Max: 10}
	c.Put("k", 1, t0, c.Generation())
	gen := c.Generation() // a load begins
	c.Forget("k")         // a change is made meanwhile
	c.Put("k", 1, t0, gen)
	if _, ok := c.Get("k", t0); ok {
		t.Fatal("an answer loaded across a change was kept")
	}
	c.Put("k", 2, t0, c.Generation())
	if v, ok := c.Get("k", t0); !ok || v != 2 {
		t.Fatalf("Get = %v, %v; want 2", v, ok)
	}
	var zero Cache[string, int]
	zero.Put("k", 1, t0, zero.Generation())
	if zero.Len() != 0 {
		t.Error("a Cache with Max 0 kept an answer")
	}
}

// TestBounded: at most Max answers however many are put; when full, stale
// answers go first, then arbitrary ones down to nine tenths.
func TestBounded(t *testing.T) {
	c := &Cache[int, int]{TTL: 5 * time.Second, Max: 20}
	for i := range 100 {
		c.Put(i, i, t0, c.Generation())
		if c.Len() > c.Max {
			t.Fatalf("after %d puts %d answers, more than %d", i+1, c.Len(), c.Max)
		}
	}
	now := t0.Add(5 * time.Second)
	for i := range 5 {
		c.Put(1000+i, i, now, c.Generation())
	}
	if c.Len() != 5 {
		t.Errorf("%d answers after 5 fresh puts into a cache full of stale ones, want 5", c.Len())
	}
	for i := range 16 {
		c.Put(2000+i, i, now, c.Generation())
	}
	// The 21st fresh answer found 20 fresh ones: 18 kept, then it.
	if c.Len() != 19 {
		t.Errorf("%d answers, want 19", c.Len())
	}
}
