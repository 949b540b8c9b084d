package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ProbeInterval is how often an idle Batcher writes one row to prove the
// store still takes writes (after a fault: twice as often, to see it
// recover). A probe is one UPDATE of one row in its own fsynced
// transaction: on an idle server, one small commit every 2 s; under
// traffic, none (every committed batch is proof enough). A fault is seen
// without traffic within 1.5 × ProbeInterval.
const ProbeInterval = 2 * time.Second

// writeHealth remembers whether the store's last write failed for a
// storage reason (disk full, I/O error, database unreachable), and whether
// a write has succeeded since.
type writeHealth struct {
	mu     sync.Mutex
	fault  error     // the last storage failure; nil once a write succeeded after it
	at     time.Time // when fault happened
	lastOK time.Time // last successful write
}

// WriteFault returns the storage error of the last failed write, and when
// it happened, when no write has succeeded since; err is nil when the store
// takes writes. Readiness fails while it is not nil.
func (db *DB) WriteFault() (at time.Time, err error) {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	return db.health.at, db.health.fault
}

// noteFault records err when it is a storage failure.
func (db *DB) noteFault(err error) {
	if err == nil || !isFault(err) {
		return
	}
	db.health.mu.Lock()
	db.health.fault, db.health.at = err, time.Now()
	db.health.mu.Unlock()
}

// noteWritten records a committed write: the store takes writes again.
func (db *DB) noteWritten() {
	db.health.mu.Lock()
	db.health.fault, db.health.lastOK = nil, time.Now()
	db.health.mu.Unlock()
}

func (db *DB) sinceWritten() time.Duration {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	return time.Since(db.health.lastOK)
}

// isFault tells a storage failure (the store cannot write: disk full, I/O
// error, read-only or corrupt file, lock held too long, database
// unreachable or out of resources) from an error of the request itself (a
// constraint, a row not found, a caller's refusal).
func isFault(err error) bool {
	var fe *faultError
	var se *sqlite.Error
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteCorrupt, sqliteFull, sqliteCantOpen, sqliteProtocol, sqliteNotADB:
			return true
		}
		return false
	case errors.As(err, &pe):
		// SQLSTATE classes 08 connection, 53 insufficient resources (53100
		// disk_full), 57 operator intervention (but 57014 is a cancelled
		// query), 58 system error (58030 io_error), XX internal.
		switch pe.Code[:2] {
		case "08", "53", "58", "XX":
			return true
		case "57":
			return pe.Code != "57014"
		}
		return false
	case errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return true
	}
	return false
}

// faultError marks a failure to begin or commit a transaction: the store's,
// never the request's.
type faultError struct{ err error }

func (e *faultError) Error() string { return e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

// SQLite primary result codes (https://sqlite.org/rescode.html).
const (
	sqliteBusy     = 5
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
	sqliteNotADB   = 26
)

// probe writes the probe row through the batcher, as any write would go.
func (b *Batcher) probe(ctx context.Context) {
	b.Do(ctx, func(tx *sql.Tx) error {
		return b.db.ExecTx(tx, "UPDATE store_probe SET probed_ms = ? WHERE id = 1", time.Now().UnixMilli())
	})
}

// probeLoop probes when no write has proved the store healthy for every
// (so an idle store is probed about once per every), and every every/2
// while the last write failed (so recovery is seen soon).
func (b *Batcher) probeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, fault := b.db.WriteFault(); fault != nil || b.db.sinceWritten() >= every {
				b.probe(ctx)
			}
		}
	}
}
