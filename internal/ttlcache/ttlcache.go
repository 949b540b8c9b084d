// Package ttlcache is the small read cache the send path keeps in front of
// stored settings (configuration sets, their event destinations, email
// templates): answers at most TTL old, at most Max of them, and never an
// answer loaded while a change was being made.
//
// A reader calls Get; on a miss it notes Generation, loads from the store
// and calls Put with that generation. A writer calls Forget after its
// change: the key's answer goes and the generation moves on, so a load
// that began before the change and ends after it is not kept (Put does
// nothing), and the next Get loads again.
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
	// Max bounds the entries: when Put finds the cache full it drops the
	// entries older than TTL, then, if that leaves it more than nine
	// tenths full, arbitrary ones down to nine tenths, so that a cache full
	// of fresh answers is swept once per tenth of its size put.
	Max int

	mu  sync.Mutex
	m   map[K]entry[V]
	gen uint64
}

type entry[V any] struct {
	v  V
	at time.Time
}

// Get returns k's answer when one at most TTL old at now is kept (one
// from after now, the clock having gone back, is not used).
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
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

// Generation is the count of Forget calls so far, for Put.
func (c *Cache[K, V]) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Put keeps v as k's answer loaded at now, unless Forget was called since
// gen was read (Generation) or Max is 0.
func (c *Cache[K, V]) Put(k K, v V, now time.Time, gen uint64) {
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
