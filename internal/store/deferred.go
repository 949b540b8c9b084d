package store

import (
	"database/sql"
	"sync"
)

// A Flusher is work gathered during a transaction and written at its end:
// Flush runs in the transaction just before it commits (see Deferred).
type Flusher interface {
	Flush(tx *sql.Tx) error
}

// deferredWork is what Deferred keeps for one transaction begun by Tx.
type deferredWork struct {
	mu    sync.Mutex
	keys  []any
	works map[any]Flusher
}

// Deferred returns the Flusher kept for key in tx, making it with mk on the
// first call for that key, so that many writes of a transaction (one per
// event, say) can be gathered and written once, at its end: the Flushers
// of a transaction run in the order their keys were first used, after its
// work and just before its commit (Tx, and so Batcher's group commits); an
// error from one fails the transaction. A transaction that rolls back
// drops them unrun. ok is false for a transaction Tx did not begin (its
// end is not known here): the caller then writes at once.
//
// Writes gathered this way take their row locks at the end of the
// transaction and once per transaction rather than once per request, which
// on PostgreSQL saves a round trip per write.
func (db *DB) Deferred(tx *sql.Tx, key any, mk func() Flusher) (f Flusher, ok bool) {
	v, ok := db.deferred.Load(tx)
	if !ok {
		return nil, false
	}
	w := v.(*deferredWork)
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.works[key]; ok {
		return f, true
	}
	if w.works == nil {
		w.works = map[any]Flusher{}
	}
	f = mk()
	w.works[key] = f
	w.keys = append(w.keys, key)
	return f, true
}

// flushDeferred runs tx's Flushers, in order.
func (db *DB) flushDeferred(tx *sql.Tx, w *deferredWork) error {
	w.mu.Lock()
	keys := w.keys
	w.mu.Unlock()
	for _, k := range keys {
		w.mu.Lock()
		f := w.works[k]
		w.mu.Unlock()
		if err := f.Flush(tx); err != nil {
			return err
		}
	}
	return nil
}
