package ttlcache

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

// TestLoad: Load answers from the cache or else loads, keeping what it
// loaded but not a failure.
func TestLoad(t *testing.T) {
	c := &Cache[string, int]{TTL: 5 * time.Second, Max: 10}
	loads := 0
	load := func(v int, err error) func() (int, error) {
		return func() (int, error) { loads++; return v, err }
	}
	if v, err := c.Load("k", t0, load(0, errors.New("down"))); err == nil || v != 0 {
		t.Fatalf("failed load = %v, %v", v, err)
	}
	for i := range 2 {
		if v, err := c.Load("k", t0.Add(time.Second), load(3, nil)); err != nil || v != 3 || loads != 2 {
			t.Fatalf("Load #%d = %v, %v after %d loads; want 3 after 2", i+1, v, err, loads)
		}
	}
	if v, _ := c.Load("k", t0.Add(6*time.Second), load(4, nil)); v != 4 || loads != 3 {
		t.Fatalf("stale Load = %v after %d loads; want 4 after 3", v, loads)
	}
}

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
			c.put("k", 7, t0, c.generation())
			if v, ok := c.get("k", tc.at); ok != tc.ok || ok && v != 7 {
				t.Errorf("Get = %v, %v; want ok %v", v, ok, tc.ok)
			}
		})
	}
}

// TestForget: Forget drops the answer, and an answer loaded before it
// (its generation read before) is not kept; one loaded after is.
func TestForget(t *testing.T) {
	c := &Cache[string, int]{TTL: time.Minute, Max: 10}
	c.put("k", 1, t0, c.generation())
	gen := c.generation() // a load begins
	c.Forget("k")         // a change is made meanwhile
	c.put("k", 1, t0, gen)
	if _, ok := c.get("k", t0); ok {
		t.Fatal("an answer loaded across a change was kept")
	}
	c.put("k", 2, t0, c.generation())
	if v, ok := c.get("k", t0); !ok || v != 2 {
		t.Fatalf("Get = %v, %v; want 2", v, ok)
	}
	var zero Cache[string, int]
	zero.put("k", 1, t0, zero.generation())
	if zero.Len() != 0 {
		t.Error("a Cache with Max 0 kept an answer")
	}
}

// TestBounded: at most Max answers however many are put; when full, stale
// answers go first, then arbitrary ones down to nine tenths.
func TestBounded(t *testing.T) {
	c := &Cache[int, int]{TTL: 5 * time.Second, Max: 20}
	for i := range 100 {
		c.put(i, i, t0, c.generation())
		if c.Len() > c.Max {
			t.Fatalf("after %d puts %d answers, more than %d", i+1, c.Len(), c.Max)
		}
	}
	now := t0.Add(5 * time.Second)
	for i := range 5 {
		c.put(1000+i, i, now, c.generation())
	}
	if c.Len() != 5 {
		t.Errorf("%d answers after 5 fresh puts into a cache full of stale ones, want 5", c.Len())
	}
	for i := range 16 {
		c.put(2000+i, i, now, c.generation())
	}
	// The 21st fresh answer found 20 fresh ones: 18 kept, then it.
	if c.Len() != 19 {
		t.Errorf("%d answers, want 19", c.Len())
	}
}
