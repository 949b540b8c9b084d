package suppression

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// The prefilter spares the send path its database read when no recipient
// can be on either list, which is almost every message: a Bloom filter of
// the keys of every account entry (account, address) and every global
// entry (address) this process knows of. It can only say "certainly not
// listed" or "maybe": a maybe goes to the database as before, so deleted,
// expired or mistaken entries cost a read and never a wrong answer.
//
// It learns entries written through this List at once, and the others —
// another node's, the petrel CLI's, written directly in the database — by
// reading every PrefilterPoll the rows updated since the last read, less
// PrefilterSlack for commits that land late and clocks that differ
// between nodes. An entry written elsewhere may so go unseen for up to
// about PrefilterPoll. Until its first full load, and whenever it is
// stale (its loop not running or failing), Check reads the database.
const (
	PrefilterPoll  = time.Second
	PrefilterSlack = 10 * time.Second
	prefilterK     = 7  // hash functions: 1 % false positives at 10 bits an entry
	prefilterBits  = 10 // bits per entry of capacity
	prefilterMin   = 1 << 16
	prefilterStale = 10 * PrefilterPoll // past this without a successful poll, Check reads the database
)

type prefilter struct {
	mu     sync.RWMutex
	bits   []uint64
	n, cap int       // keys that set a new bit, keys it was sized for
	loaded time.Time // last successful full load or poll; zero: not ready
	since  int64     // updated_ms from which the next poll reads
	// During a full load, keys added through this List are also kept here
	// and added to the new bits, which the load's read may predate.
	rebuilding bool
	pending    []pfKey
}

// pfKey is what the filter holds: an account entry's account and address
// key, or a global entry's address key with account "".
type pfKey struct{ account, key string }

// hashes gives the two halves of the 64-bit FNV-1a hash of account, a NUL
// and key (double hashing: position i is h1 + i·h2), computed in place:
// the send path hashes two keys a recipient without allocating.
func hashes(k pfKey) (uint32, uint32) {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(k.account); i++ {
		h = (h ^ uint64(k.account[i])) * prime
	}
	h *= prime // the NUL between them
	for i := 0; i < len(k.key); i++ {
		h = (h ^ uint64(k.key[i])) * prime
	}
	return uint32(h), uint32(h>>32) | 1
}

// addLocked sets key's bits; a key that sets no new bit (read again by a
// poll, most often) does not count toward the filter's fill.
func (f *prefilter) addLocked(key pfKey) {
	m := uint32(len(f.bits) * 64)
	h1, h2 := hashes(key)
	fresh := false
	for i := uint32(0); i < prefilterK; i++ {
		p := (h1 + i*h2) % m
		if f.bits[p/64]&(1<<(p%64)) == 0 {
			f.bits[p/64] |= 1 << (p % 64)
			fresh = true
		}
	}
	if fresh {
		f.n++
	}
}

// add records keys written through this List; a filter not yet loaded
// needs nothing (its load reads them).
func (f *prefilter) add(keys ...pfKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rebuilding {
		f.pending = append(f.pending, keys...)
	}
	if f.bits == nil {
		return
	}
	for _, k := range keys {
		f.addLocked(k)
	}
}

// maybe reports whether key may be listed; ok is false when the filter
// cannot answer (not loaded, stale, or over capacity) and the database
// must be asked.
func (f *prefilter) maybe(now time.Time, keys ...pfKey) (maybe, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.bits == nil || now.Sub(f.loaded) > prefilterStale || f.n > f.cap {
		return false, false
	}
	m := uint32(len(f.bits) * 64)
	for _, key := range keys {
		h1, h2 := hashes(key)
		all := true
		for i := uint32(0); i < prefilterK && all; i++ {
			p := (h1 + i*h2) % m
			all = f.bits[p/64]&(1<<(p%64)) != 0
		}
		if all {
			return true, true
		}
	}
	return false, true
}

// RunPrefilter loads the prefilter and keeps it current until ctx ends
// (see PrefilterPoll), logging failures to log; the daemon runs it. A List
// whose prefilter does not run reads the database for every Check.
func (l *List) RunPrefilter(ctx context.Context, log *slog.Logger) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.refreshPrefilter(ctx); err != nil && ctx.Err() == nil {
			log.Warn("suppression prefilter refresh failed; the send path reads the database until it succeeds", "err", err)
		}
		t.Reset(PrefilterPoll)
	}
}

// refreshPrefilter reads the rows updated since the last read into the
// filter, or rebuilds it from every row when it is not loaded or has
// outgrown its size.
func (l *List) refreshPrefilter(ctx context.Context) error {
	f := &l.pf
	start := time.Now()
	f.mu.Lock()
	full := f.bits == nil || f.n > f.cap
	since := f.since
	if full {
		since, f.rebuilding, f.pending = 0, true, nil
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.rebuilding, f.pending = false, nil
		f.mu.Unlock()
	}()
	var keys []pfKey
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		keys = keys[:0]
		for _, q := range []string{
			"SELECT account, address FROM suppressed_destinations WHERE updated_ms >= ?",
			"SELECT '', address FROM global_suppressions WHERE updated_ms >= ?",
		} {
			rows, err := tx.QueryContext(ctx, l.db.Rebind(q), since)
			if err != nil {
				return err
			}
			for rows.Next() {
				var account, key string
				if err := rows.Scan(&account, &key); err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, pfKey{account, key})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	next := start.Add(-PrefilterSlack).UnixMilli()
	f.mu.Lock()
	defer f.mu.Unlock()
	if full {
		f.cap = max(prefilterMin, 2*len(keys))
		f.bits = make([]uint64, (f.cap*prefilterBits+63)/64)
		f.n = 0
		keys = append(keys, f.pending...)
	}
	for _, k := range keys {
		f.addLocked(k)
	}
	f.loaded, f.since = start, next
	return nil
}
