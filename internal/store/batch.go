package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by Batcher.Do after the batcher has stopped.
var ErrClosed = errors.New("store: batcher stopped")

// A Batcher commits the work of many concurrent callers in one transaction
// (group commit). Do blocks until the transaction holding fn has committed —
// on SQLite with synchronous=FULL that means the WAL is fsynced — so a caller
// may acknowledge as soon as Do returns nil.
//
// If a batch fails, each of its functions is retried alone, so one bad
// request cannot fail its neighbours; a function that fails alone gets its
// own error and none of its writes are kept.
type Batcher struct {
	db       *DB
	reqs     chan *batchReq
	maxBatch int
	workers  int

	// ProbeEvery is how often an idle batcher proves the store takes writes
	// (ProbeInterval; set before Run).
	ProbeEvery time.Duration

	mu      sync.RWMutex
	stopped bool
}

type batchReq struct {
	fn   func(*sql.Tx) error
	done chan error  // Do waits here
	then func(error) // or Submit's callback
}

func (r *batchReq) answer(err error) {
	if r.then != nil {
		r.then(err)
		return
	}
	r.done <- err
}

// NewBatcher returns a Batcher over db. maxBatch bounds the functions per
// transaction (0 = 512); workers is the number of concurrent committers
// (0 = 1 on SQLite, which has one writer, and 4 on PostgreSQL).
func NewBatcher(db *DB, maxBatch, workers int) *Batcher {
	if maxBatch <= 0 {
		maxBatch = 512
	}
	if workers <= 0 {
		workers = 1
		if db.Dialect == Postgres {
			workers = 4
		}
	}
	return &Batcher{db: db, reqs: make(chan *batchReq, maxBatch*workers), maxBatch: maxBatch, workers: workers, ProbeEvery: ProbeInterval}
}

// Do runs fn inside a group-committed transaction and returns when that
// transaction is durable (nil) or has failed (the error).
func (b *Batcher) Do(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &batchReq{fn: fn, done: make(chan error, 1)}
	b.mu.RLock()
	if b.stopped {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	b.mu.RUnlock()
	// Once queued, the request is always answered: Run drains the channel
	// before it returns. Waiting past ctx keeps the caller from reporting a
	// failure for work that then commits.
	return <-r.done
}

// Submit queues fn for the next group commit without waiting for it; then
// is called with the outcome (from the committer: it must not block). It
// blocks only while the queue is full, and returns ErrClosed (then is not
// called) after the batcher has stopped. For writes nobody waits on, such as
// delivery outcomes.
func (b *Batcher) Submit(fn func(*sql.Tx) error, then func(error)) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.stopped {
		return ErrClosed
	}
	b.reqs <- &batchReq{fn: fn, then: then}
	return nil
}

// Run commits batches until ctx is done, then refuses new work, commits what
// was already queued and returns.
func (b *Batcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range b.workers {
		wg.Go(func() { b.loop(ctx) })
	}
	wg.Go(func() { b.probeLoop(ctx, b.ProbeEvery) })
	<-ctx.Done()
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	close(b.reqs)
	wg.Wait()
	return nil
}

func (b *Batcher) loop(ctx context.Context) {
	batch := make([]*batchReq, 0, b.maxBatch)
	for {
		var first *batchReq
		var ok bool
		select {
		case first, ok = <-b.reqs:
		case <-ctx.Done():
			// Drain whatever is queued; the channel is closed by Run.
			first, ok = <-b.reqs
		}
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.commit(batch)
	}
}

func (b *Batcher) commit(batch []*batchReq) {
	// Commits must finish even during shutdown: callers are waiting on them.
	ctx := context.Background()
	err := b.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.answer(err)
		}
		return
	}
	for _, r := range batch {
		r.answer(b.tx(ctx, r.fn))
	}
}

// tx commits one transaction and records the store's health: a commit is
// proof that it takes writes, a storage failure that it does not.
func (b *Batcher) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	err := b.db.Tx(ctx, fn)
	if err == nil {
		b.db.noteWritten()
	}
	return err
}

// ExecTx runs one statement in tx with '?' placeholders rebound for the
// backend, on tx's own connection, through the query's prepared statement
// once it has one (Prepared; tx.Stmt prepares it on tx's connection the
// first time, so the hot statements of the send path are parsed once per
// connection, not on every message: a parse per statement lengthened each
// group commit by ~10 µs a message). A query not yet prepared runs as
// plain text and is prepared in the background, outside tx: preparing on
// the pool needs a second connection, and while tx holds SQLite's write
// lock every other connection may be waiting for that lock, so preparing
// inside tx would wait out the busy timeout (or for ever with one
// connection).
func (db *DB) ExecTx(tx *sql.Tx, query string, args ...any) error {
	var err error
	if st, ok := db.stmts.Load(query); ok {
		_, err = tx.Stmt(st.(*sql.Stmt)).Exec(args...)
	} else {
		_, err = tx.Exec(db.Rebind(query), args...)
		if _, busy := db.preparing.LoadOrStore(query, true); !busy {
			go func() {
				defer db.preparing.Delete(query)
				db.Prepared(query) // an error (a closed database) leaves it unprepared: the next call retries
			}()
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", firstWords(query), err)
	}
	return nil
}

func firstWords(q string) string {
	if len(q) > 40 {
		return q[:40]
	}
	return q
}
