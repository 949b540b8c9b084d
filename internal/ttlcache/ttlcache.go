// Package ttlcache is the small read cache the send path keeps in front of
// stored settings (configuration sets, their event destinations, email
// templates): answers at most TTL old, at most Max of them, and never an
// answer loaded while a change was being made.
//
// A reader calls Load, which answers from the cache or else loads from
// the store and keeps the answer. A writer calls Forget after its change:
// the key's answer goes and the generation (the count of Forget calls)
// moves on, so a load that began before the change and ends after it is
// not kept, and the next Load loads again.
package ttlcache

import (
	"sync"
	"time"
)

// Cache maps K to answers V. Set TTL and Max before use (the zero Cache
// keeps nothing: Max 0). It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	// TTL is how old an answer Get returns may be.
	TTL time.Duration
	// Max bounds the entries: when Load keeps an answer and finds the cache full it drops the
	// entries older than TTL, then, if that leaves it more than nine
	// tenths full, arbitrary ones down to nine tenths, so that a cache full
	// of fresh answers is swept once per tenth of its size kept.
	Max int

	mu  sync.Mutex
	m   map[K]entry[V]
	gen uint64
}

type entry[V any] struct {
	v  V
	at time.Time
}

// Load returns k's answer at now: the one kept when it is at most TTL old
// (one from after now, the clock having gone back, is not used), else
// load's, which is kept unless load fails or Forget was called while it
// ran. load's error is returned with its value.
func (c *Cache[K, V]) Load(k K, now time.Time, load func() (V, error)) (V, error) {
	if v, ok := c.get(k, now); ok {
		return v, nil
	}
	gen := c.generation()
	v, err := load()
	if err != nil {
		return v, err
	}
	c.put(k, v, now, gen)
	return v, nil
}

func (c *Cache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !c.fresh(e, now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *Cache[K, V]) fresh(e entry[V], now time.Time) bool {
	return now.Sub(e.at) < c.TTL && !now.Before(e.at)
}

func (c *Cache[K, V]) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps v as k's answer loaded at now, unless Forget was called since
// gen was read or Max is 0.
func (c *Cache[K, V]) put(k K, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.Max <= 0 {
		return
	}
	if c.m == nil {
		c.m = map[K]entry[V]{}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.Max {
		c.evict(now)
	}
	c.m[k] = entry[V]{v: v, at: now}
}

func (c *Cache[K, V]) evict(now time.Time) {
	for k, e := range c.m {
		if !c.fresh(e, now) {
			delete(c.m, k)
		}
	}
	keep := c.Max - max(c.Max/10, 1)
	for k := range c.m {
		if len(c.m) <= keep {
			break
		}
		delete(c.m, k)
	}
}

// Forget drops k's answer and moves the generation on (after a change to
// what k names).
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.gen++
	c.mu.Unlock()
}

// Len is how many answers are kept, fresh or not.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
