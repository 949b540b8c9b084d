// Package store is Petrel's storage: one *DB over database/sql whose backend is
// chosen at Open — embedded SQLite (modernc.org/sqlite, WAL, synchronous=FULL)
// or PostgreSQL (pgx) — with the same schema and embedded migrations.
//
// Every package that owns tables writes plain SQL with '?' placeholders and
// runs it through DB.Rebind, so one query text serves both backends. The few
// dialect differences (blob type, identity columns, row leasing) are decided
// here and exposed as methods.
//
// Durability: writes that precede an acknowledgement go through a Batcher,
// which commits many callers' work in one transaction (group commit) and
// returns only after the commit is on disk.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"               // also registers the "sqlite" driver
)

// Dialect names a backend.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is the database handle shared by all domain packages.
type DB struct {
	*sql.DB
	Dialect Dialect

	// MinFree is the low-water mark of free space on a SQLite database's
	// filesystem, in bytes (MinFreeSpace; 0 disables the check): under it
	// WriteFault reports "low disk space". Unused on PostgreSQL.
	MinFree uint64

	stmts     sync.Map // query as written (with '?') → *sql.Stmt, see Prepared
	preparing sync.Map // query → true while ExecTx prepares it in the background
	deferred  sync.Map // *sql.Tx begun by Tx → *deferredWork, see Deferred
	health    writeHealth
	dir       string // SQLite: the directory of the database file, whose free space WriteFault checks
}

// Prepared returns the prepared statement for a query written with '?'
// placeholders, preparing it on first use. database/sql then prepares it once
// per connection and reuses it, inside transactions too (tx.Stmt), so hot
// statements are parsed once rather than on every call.
func (db *DB) Prepared(query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.Prepare(db.Rebind(query))
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", firstWords(query), err)
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryRowPrepared is QueryRowContext through Prepared.
func (db *DB) QueryRowPrepared(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.Prepared(query)
	if err != nil {
		// Let the error surface at Scan, as QueryRowContext does.
		return db.QueryRowContext(ctx, db.Rebind(query), args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found")

// Open opens (creating if needed) the database named by dsn and applies
// migrations. An empty dsn or a path means SQLite (a bare directory gets
// "petrel.db" inside it); a postgres:// or postgresql:// URL means PostgreSQL.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening postgres: %w", err)
		}
		sdb.SetMaxOpenConns(32)
		sdb.SetMaxIdleConns(32)
		db = &DB{DB: sdb, Dialect: Postgres}
		db.health.hold = FaultHold
	default:
		path := dsn
		if path == "" {
			path = filepath.Join(dataDir, "petrel.db")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
		// WAL + synchronous=FULL: a commit returns only after the WAL is fsynced.
		// _txlock=immediate takes the write lock at BEGIN so concurrent writers
		// wait on busy_timeout instead of failing on lock upgrade.
		q := "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(30000)" +
			"&_pragma=foreign_keys(ON)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", "file:"+path+q)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		sdb.SetMaxOpenConns(8)
		sdb.SetMaxIdleConns(8)
		db = &DB{DB: sdb, Dialect: SQLite, MinFree: MinFreeSpace, dir: filepath.Dir(path)}
		defer restrictMode(path)
	}
	db.health.statfs = statfsAvail
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s database: %w", db.Dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Rebind turns '?' placeholders into the backend's form ($1, $2, … on PostgreSQL).
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Tx runs fn in a transaction, committing if fn returns nil. A storage
// failure (see WriteFault) is recorded for readiness.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	err := db.tx(ctx, fn)
	db.noteFault(err)
	return err
}

func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return &faultError{fmt.Errorf("beginning transaction: %w", err)}
	}
	w := &deferredWork{}
	db.deferred.Store(tx, w)
	defer db.deferred.Delete(tx)
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := db.flushDeferred(tx, w); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return &faultError{fmt.Errorf("committing: %w", err)}
	}
	return nil
}

// SkipLocked is the row-locking suffix for a SELECT that claims rows: on
// PostgreSQL "FOR UPDATE SKIP LOCKED" so several nodes can lease from one
// queue; empty on SQLite, where the write lock taken at BEGIN serialises
// claimers.
func (db *DB) SkipLocked() string {
	if db.Dialect == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// restrictMode makes the SQLite files readable by their owner only: they hold
// message bodies and sealed credentials.
func restrictMode(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(p, 0o600)
	}
}

// Placeholders returns n comma-separated "?" for an IN list (Rebind turns
// them into $1… on PostgreSQL).
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// StringSet reads rows of one string column into a set and closes rows: the
// answer of a "which of these ids has rows" query.
func StringSet(rows *sql.Rows) (map[string]bool, error) {
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out[s] = true
	}
	return out, rows.Err()
}

// OldestBeforeTx returns, in id order, the ids of up to limit of the
// oldest rows of table whose timeCol (Unix milliseconds) is before before.
// It is for tables whose rows are recorded in id order (an auto-increment
// id): it stops at the first younger row, so the time needs no index. The
// caller owns table and deletes or updates the rows in the same tx.
func (db *DB) OldestBeforeTx(ctx context.Context, tx *sql.Tx, table, timeCol string, before time.Time, limit int) ([]any, error) {
	rows, err := tx.QueryContext(ctx, db.Rebind("SELECT id, "+timeCol+" FROM "+table+" ORDER BY id LIMIT ?"), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id, ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, err
		}
		if ms >= before.UnixMilli() {
			break // recorded in order: the rest are younger
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// IsUniqueViolation reports whether err is a unique-index (or primary key)
// violation: SQLite's SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, PostgreSQL's
// 23505. Owners use it to tell "a concurrent writer got there first" from
// other failures.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &se):
		return se.Code() == sqliteConstraintUnique || se.Code() == sqliteConstraintPrimaryKey
	case errors.As(err, &pe):
		return pe.Code == "23505"
	}
	return false
}

// SQLite extended result codes (sqlite3.h).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)
