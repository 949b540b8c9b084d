package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestBatcherGroupsAndIsolatesFailures(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			db := OpenTest(t, backend)
			b := NewBatcher(db, 64, 0)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { b.Run(ctx); close(done) }()
			const n = 300
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					errs[i] = b.Do(context.Background(), func(tx *sql.Tx) error {
						if err := db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)",
							fmt.Sprintf("a%d", i), fmt.Sprintf("%012d", i)); err != nil {
							return err
						}
						if i%50 == 7 {
							return errors.New("refused")
						}
						return nil
					})
				})
			}
			wg.Wait()
			var rows int
			db.QueryRow("SELECT COUNT(*) FROM accounts").Scan(&rows)
			failed := 0
			for i, err := range errs {
				if (i%50 == 7) != (err != nil) {
					t.Fatalf("request %d: err = %v", i, err)
				}
				if err != nil {
					failed++
				}
			}
			if rows != n-failed {
				t.Fatalf("%d rows committed, want %d: a failing request must not take its batch with it, nor leave writes", rows, n-failed)
			}
			cancel()
			<-done
			if err := b.Do(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
				t.Fatalf("Do after stop = %v, want ErrClosed", err)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	pg := &DB{Dialect: Postgres}
	if got := pg.Rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Fatal(got)
	}
	if got := (&DB{Dialect: SQLite}).Rebind("a = ?"); got != "a = ?" {
		t.Fatal(got)
	}
}

// ExecTx must run on the transaction's own connection: with a pool of one
// connection, held by the transaction, a statement prepared on the pool
// would wait for ever.
func TestExecTxNeedsNoSecondConnection(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			db := OpenTest(t, backend)
			db.SetMaxOpenConns(1)
			done := make(chan error, 1)
			go func() {
				done <- db.Tx(context.Background(), func(tx *sql.Tx) error {
					return db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", "one", "000000000001")
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ExecTx waited for a second connection while its transaction held the only one")
			}
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM accounts WHERE name = 'one'").Scan(&n); err != nil || n != 1 {
				t.Fatalf("n = %d, err = %v", n, err)
			}
			// Once the transaction let go of the connection, the statement is
			// prepared in the background, and later calls run it prepared
			// (on the one connection, inside their transaction).
			const q = "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)"
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, ok := db.stmts.Load(q); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("ExecTx's statement was never prepared")
				}
			}
			if err := db.Tx(context.Background(), func(tx *sql.Tx) error { return db.ExecTx(tx, q, "two", "000000000002") }); err != nil {
				t.Fatal(err)
			}
		})
	}
}
