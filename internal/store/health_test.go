package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestWriteHealth fills the "disk" under a running Batcher: the process's
// file-size limit is cut to one byte (RLIMIT_FSIZE), so every write to the
// SQLite files fails in the kernel with EFBIG, as it does with ENOSPC on a
// full disk. WriteFault must report the failure, keep reporting it while
// the store is idle (the probe keeps failing), and clear once writes work
// again; a request's own error (a constraint) is not a storage fault.
func TestWriteHealth(t *testing.T) {
	db := OpenTest(t, "sqlite")
	b := NewBatcher(db, 0, 0)
	b.ProbeEvery = 20 * time.Millisecond
	RunTestBatcher(t, b)

	insert := func(name string) error {
		return b.Do(context.Background(), func(tx *sql.Tx) error {
			return db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", name, name)
		})
	}
	if err := insert("a"); err != nil {
		t.Fatal(err)
	}
	if f := db.WriteFault(); f != nil {
		t.Fatalf("healthy store reports %v", f)
	}
	if err := insert("a"); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	if f := db.WriteFault(); f != nil {
		t.Fatalf("a constraint violation is not a storage fault, got %v", f)
	}

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	restore := func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }
	defer restore()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	if err := insert("b"); err == nil {
		restore()
		t.Fatal("a write succeeded with a one-byte file size limit")
	}
	fault := db.WriteFault()
	// Idle: no request writes, the probe keeps finding the store broken.
	time.Sleep(10 * b.ProbeEvery)
	still := db.WriteFault()
	restore()
	if fault == nil || still == nil {
		t.Fatalf("fault after a failed write: %v; after %v idle: %v", fault, 10*b.ProbeEvery, still)
	}
	t.Logf("storage fault: %v", still)
	// Writes work again: the probe sees it without any request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if db.WriteFault() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fault did not clear after writes worked again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := insert("b"); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}

// failWrites cuts the process's file-size limit to one byte, so every write
// to the SQLite files fails in the kernel (EFBIG, as ENOSPC on a full
// disk); the returned function restores it.
func failWrites(t *testing.T) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	restore = func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }
	t.Cleanup(restore)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	return restore
}

// TestWriteFaultLowSpace (issue 10, E): on a nearly full disk a one-row
// probe still fits while large messages fail, so /readyz turned ready
// again while 3 MB sends were refused. WriteFault must report low free
// space (statfs, here injected) whether or not a write has failed, keep
// reporting it after the probe succeeds, and name causes without SQL.
func TestWriteFaultLowSpace(t *testing.T) {
	db := OpenTest(t, "sqlite")
	var free atomic.Uint64
	free.Store(1 << 30)
	db.health.statfs = func(dir string) (uint64, error) {
		if dir != db.dir {
			t.Errorf("statfs of %q, want the database's directory %q", dir, db.dir)
		}
		return free.Load(), nil
	}
	b := NewBatcher(db, 0, 0)
	b.ProbeEvery = 20 * time.Millisecond
	RunTestBatcher(t, b)

	for _, c := range []struct {
		free  uint64
		fault bool
	}{
		{1 << 30, false},
		{MinFreeSpace, false},
		{MinFreeSpace - 1, true},
		{0, true},
		{MinFreeSpace + 1, false},
	} {
		free.Store(c.free)
		f := db.WriteFault()
		if (f != nil) != c.fault || f != nil && f.Cause != "low disk space" {
			t.Errorf("%d bytes free (low-water %d): fault %v, want fault %v", c.free, MinFreeSpace, f, c.fault)
		}
	}

	// A write fails for lack of space; the probe then succeeds (a one-row
	// UPDATE fits), but free space is still under the mark.
	free.Store(10 << 20)
	restore := failWrites(t)
	err := b.Do(context.Background(), func(tx *sql.Tx) error {
		return db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", "big", "big")
	})
	f := db.WriteFault()
	restore()
	if err == nil || f == nil {
		t.Fatalf("write with a one-byte file size limit: %v; fault %v", err, f)
	}
	if f.Cause != "disk full" && f.Cause != "I/O error" {
		t.Errorf("cause of a failed write on a full disk: %q (%v)", f.Cause, f.Err)
	}
	if strings.Contains(f.Cause, "INSERT") || strings.Contains(f.Cause, "accounts") || strings.Contains(f.Cause, "(") {
		t.Errorf("cause shows internals: %q", f.Cause)
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.writeFailing() {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not succeed after writes worked again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if f := db.WriteFault(); f == nil || f.Cause != "low disk space" {
		t.Fatalf("after a successful probe with 10 MiB free: %v, want low disk space", f)
	}
	free.Store(1 << 30)
	if f := db.WriteFault(); f != nil {
		t.Fatalf("with space again: %v", f)
	}

	db.health.statfs = func(string) (uint64, error) { return 0, syscall.ENOENT }
	if f := db.WriteFault(); f == nil || f.Cause != "data directory unavailable" {
		t.Errorf("statfs failing: %v", f)
	}
	// The real statfs(2) of the test's directory.
	db.health.statfs = statfsAvail
	db.MinFree = 1 << 62
	if f := db.WriteFault(); f == nil || f.Cause != "low disk space" {
		t.Errorf("real statfs, 4 EiB needed: %v", f)
	}
	db.MinFree = 1
	if f := db.WriteFault(); f != nil {
		t.Errorf("real statfs, 1 byte needed: %v", f)
	}
}

// TestWriteFaultHold (issue 10, E): with a hold period (PostgreSQL's
// FaultHold, whose server's free space is not visible), one successful
// probe does not clear a write fault; writes must keep succeeding for the
// hold, and a new failure restarts it.
func TestWriteFaultHold(t *testing.T) {
	db := OpenTest(t, "sqlite")
	db.MinFree = 0
	const hold = 400 * time.Millisecond
	db.health.hold = hold
	b := NewBatcher(db, 0, 0)
	b.ProbeEvery = 20 * time.Millisecond
	RunTestBatcher(t, b)

	restore := failWrites(t)
	b.probe(context.Background())
	if db.WriteFault() == nil {
		restore()
		t.Fatal("no fault after a failed probe")
	}
	restore()
	began := time.Now()
	time.Sleep(hold / 2) // about ten successful probes
	if f := db.WriteFault(); f == nil {
		t.Fatalf("fault cleared after %v of successful probes, before the %v hold", time.Since(began), hold)
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.WriteFault() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("fault not cleared %v after writes worked again (hold %v)", time.Since(began), hold)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(began); took < hold {
		t.Fatalf("cleared after %v, under the hold %v", took, hold)
	}
}

// TestFaultCause: a storage failure is named without SQL or internals;
// anything else is no storage fault ("").
func TestFaultCause(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, "disk full"},
		{&pgconn.PgError{Code: "53300"}, "database out of resources"},
		{&pgconn.PgError{Code: "58030"}, "I/O error"},
		{&pgconn.PgError{Code: "08006"}, "database unreachable"},
		{&pgconn.PgError{Code: "57P01"}, "database unavailable"},
		{&faultError{fmt.Errorf("committing: %w", &os.PathError{Op: "write", Path: "/x/petrel.db-wal", Err: syscall.ENOSPC})}, "disk full"},
		{&faultError{fmt.Errorf("beginning transaction: %w", syscall.EROFS)}, "read-only storage"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "database unreachable"},
		{fmt.Errorf("UPDATE store_probe SET: %w", driver.ErrBadConn), "database unreachable"},
		{&faultError{fmt.Errorf("committing: %w", &pgconn.PgError{Code: "40001"})}, "database unavailable"},
		// Errors of the request itself are no storage fault.
		{&pgconn.PgError{Code: "23505"}, ""},
		{&pgconn.PgError{Code: "57014"}, ""},
		{&faultError{fmt.Errorf("beginning transaction: %w", context.Canceled)}, ""},
		{errors.New("message not found"), ""},
	} {
		if got := faultCause(c.err); got != c.want {
			t.Errorf("%v: cause %q, want %q", c.err, got, c.want)
		}
	}
}
