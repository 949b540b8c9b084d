package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
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

// MinFreeSpace is the low-water mark of free space on the filesystem of a
// SQLite database (DB.MinFree's default): 128 MiB, room for the largest
// message Petrel takes (a 60 MiB API request carrying a 40 MiB message,
// written once to the WAL and once more when the WAL is checkpointed into
// the database) with some to spare. Under it the store reports a fault
// before any write fails: a tiny probe still fits on a nearly full disk
// where large messages no longer do.
const MinFreeSpace = 128 << 20

// FaultHold is how long writes must keep succeeding, with no storage
// failure in between, before a PostgreSQL write fault is cleared. The
// database server's free space cannot be seen from here, and a one-row
// probe can succeed where a large message fails, so one successful write
// is not proof enough.
const FaultHold = 30 * time.Second

// Fault is why the store cannot take writes.
type Fault struct {
	// Cause is short and free of SQL, paths and other internals, for
	// unauthenticated callers (/readyz): "disk full", "low disk space",
	// "I/O error", "read-only storage", "database file corrupt",
	// "database locked", "out of memory", "database unreachable",
	// "database out of resources", "database unavailable".
	Cause string
	Since time.Time // when the fault began
	Err   error     // the underlying error, for the log only
}

func (f *Fault) Error() string { return f.Cause + ": " + f.Err.Error() }
func (f *Fault) Unwrap() error { return f.Err }

// writeHealth remembers whether the store's last write failed for a
// storage reason (disk full, I/O error, database unreachable), and whether
// writes have succeeded since.
type writeHealth struct {
	mu       sync.Mutex
	fault    error     // the last storage failure; nil once writes succeeded after it (see DB.WriteFault)
	at       time.Time // when fault happened
	okSince  time.Time // first successful write after fault (zero: none yet)
	lastOK   time.Time // last successful write
	lowSince time.Time // when free space fell under DB.MinFree (zero: it is not)

	// hold is how long writes must succeed before fault is cleared
	// (FaultHold on PostgreSQL, 0 on SQLite: the first success clears it,
	// the free-space rule covering large writes).
	hold time.Duration
	// statfs returns the bytes available to this process on the
	// filesystem holding dir (syscall.Statfs; replaced by tests).
	statfs func(dir string) (uint64, error)
}

// WriteFault returns why the store cannot take writes, or nil when it can.
// Readiness fails while it is not nil. The store cannot take writes:
//   - after a write failed for a storage reason (see faultCause), until a
//     write succeeds again — on PostgreSQL, until writes have kept
//     succeeding for FaultHold with no storage failure in between;
//   - on SQLite, whenever the filesystem of the database has less than
//     MinFree bytes available (statfs(2)), even before a write fails.
func (db *DB) WriteFault() *Fault {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	if db.health.fault != nil {
		return &Fault{Cause: faultCause(db.health.fault), Since: db.health.at, Err: db.health.fault}
	}
	if db.dir == "" || db.MinFree == 0 {
		return nil
	}
	free, err := db.health.statfs(db.dir)
	if err != nil {
		return &Fault{Cause: "data directory unavailable", Since: time.Now(), Err: err}
	}
	if free >= db.MinFree {
		db.health.lowSince = time.Time{}
		return nil
	}
	if db.health.lowSince.IsZero() {
		db.health.lowSince = time.Now()
	}
	return &Fault{Cause: "low disk space", Since: db.health.lowSince,
		Err: fmt.Errorf("%d MiB free on the filesystem of %s, under the %d MiB kept for the largest message", free>>20, db.dir, db.MinFree>>20)}
}

// statfsAvail is the bytes of dir's filesystem available to an
// unprivileged process (f_bavail × f_bsize, statfs(2)).
func statfsAvail(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// writeFailing tells whether the last write failed for a storage reason
// and none has cleared it (the probe's cadence; free space aside).
func (db *DB) writeFailing() bool {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	return db.health.fault != nil
}

// noteFault records err when it is a storage failure.
func (db *DB) noteFault(err error) {
	if err == nil || faultCause(err) == "" {
		return
	}
	db.health.mu.Lock()
	db.health.fault, db.health.at, db.health.okSince = err, time.Now(), time.Time{}
	db.health.mu.Unlock()
}

// noteWritten records a committed write: the store takes writes again,
// once they have kept succeeding for the hold period.
func (db *DB) noteWritten() {
	now := time.Now()
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	db.health.lastOK = now
	if db.health.fault == nil {
		return
	}
	if db.health.okSince.IsZero() {
		db.health.okSince = now
	}
	if now.Sub(db.health.okSince) >= db.health.hold {
		db.health.fault, db.health.okSince = nil, time.Time{}
	}
}

func (db *DB) sinceWritten() time.Duration {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	return time.Since(db.health.lastOK)
}

// faultCause names the storage failure err is — the store cannot write:
// disk full, I/O error, read-only or corrupt file, lock held too long,
// database unreachable or out of resources — without internals, or returns
// "" when err is an error of the request itself (a constraint, a row not
// found, a caller's refusal, a cancelled context). A failure to begin or
// commit a transaction (faultError) is always the store's.
func faultCause(err error) string {
	var fe *faultError
	var se *sqlite.Error
	var pe *pgconn.PgError
	var ne net.Error
	isTx := errors.As(err, &fe)
	if isTx && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ""
	}
	switch {
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqliteFull:
			return "disk full"
		case sqliteIOErr:
			return "I/O error"
		case sqliteReadOnly:
			return "read-only storage"
		case sqliteCorrupt, sqliteNotADB:
			return "database file corrupt"
		case sqliteBusy, sqliteProtocol:
			return "database locked"
		case sqliteNoMem:
			return "out of memory"
		case sqliteCantOpen:
			return "cannot open database file"
		}
	case errors.As(err, &pe):
		switch class := pe.Code[:2]; {
		case pe.Code == "53100":
			return "disk full"
		case pe.Code == "53200":
			return "out of memory"
		case pe.Code == "58030":
			return "I/O error"
		case pe.Code == "XX001" || pe.Code == "XX002":
			return "database file corrupt"
		case class == "08":
			return "database unreachable"
		case class == "53":
			return "database out of resources"
		case class == "58" || class == "XX" || class == "57" && pe.Code != "57014": // 57014: query cancelled
			return "database unavailable"
		}
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return "disk full"
	case errors.Is(err, syscall.EIO):
		return "I/O error"
	case errors.Is(err, syscall.EROFS):
		return "read-only storage"
	case errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return "database unreachable"
	}
	if isTx {
		return "database unavailable"
	}
	return ""
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
			if b.db.writeFailing() || b.db.sinceWritten() >= every {
				b.probe(ctx)
			}
		}
	}
}
