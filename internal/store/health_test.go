package store

import (
	"context"
	"database/sql"
	"syscall"
	"testing"
	"time"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	insert := func(name string) error {
		return b.Do(context.Background(), func(tx *sql.Tx) error {
			return db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", name, name)
		})
	}
	if err := insert("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteFault(); err != nil {
		t.Fatalf("healthy store reports %v", err)
	}
	if err := insert("a"); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	if _, err := db.WriteFault(); err != nil {
		t.Fatalf("a constraint violation is not a storage fault, got %v", err)
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
	_, fault := db.WriteFault()
	// Idle: no request writes, the probe keeps finding the store broken.
	time.Sleep(10 * b.ProbeEvery)
	_, still := db.WriteFault()
	restore()
	if fault == nil || still == nil {
		t.Fatalf("fault after a failed write: %v; after %v idle: %v", fault, 10*b.ProbeEvery, still)
	}
	t.Logf("storage fault: %v", still)
	// Writes work again: the probe sees it without any request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := db.WriteFault(); err == nil {
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
