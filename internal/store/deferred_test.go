package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// tally is a Flusher that writes the names gathered in one transaction as
// one accounts row ("n1+n2+…"), recording its flushes.
type tally struct {
	db      *DB
	names   []string
	flushed *[]string
	fail    bool
}

func (f *tally) Flush(tx *sql.Tx) error {
	joined := strings.Join(f.names, "+")
	*f.flushed = append(*f.flushed, joined)
	if f.fail {
		return errors.New("flush refused")
	}
	return f.db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", joined, fmt.Sprint(len(*f.flushed)))
}

func accountNames(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM accounts ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// TestDeferred: work gathered with Deferred is flushed once per
// transaction, after its work and before its commit, in the order its keys
// were first used; a rollback drops it unrun; a flush error rolls the
// transaction back; a transaction Tx did not begin cannot defer.
func TestDeferred(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			db := OpenTest(t, backend)
			ctx := context.Background()
			var flushed []string
			gather := func(tx *sql.Tx, key, name string, fail bool) {
				t.Helper()
				f, ok := db.Deferred(tx, key, func() Flusher { return &tally{db: db, flushed: &flushed, fail: fail} })
				if !ok {
					t.Fatal("Deferred refused a transaction Tx began")
				}
				f.(*tally).names = append(f.(*tally).names, name)
			}
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				gather(tx, "k2", "b1", false)
				gather(tx, "k1", "a1", false)
				gather(tx, "k2", "b2", false)
				if len(flushed) != 0 {
					t.Error("flushed before the transaction's work ended")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"b1+b2", "a1"}; strings.Join(flushed, ",") != strings.Join(want, ",") {
				t.Errorf("flushes %v, want %v (key order, once each)", flushed, want)
			}
			flushed = nil
			err = db.Tx(ctx, func(tx *sql.Tx) error {
				gather(tx, "k", "rolled", false)
				return errors.New("refused")
			})
			if err == nil || len(flushed) != 0 {
				t.Errorf("rolled-back transaction: err %v, flushes %v; want its error and none", err, flushed)
			}
			err = db.Tx(ctx, func(tx *sql.Tx) error {
				if err := db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES ('work', 'w', 0)"); err != nil {
					return err
				}
				gather(tx, "k", "failing", true)
				return nil
			})
			if err == nil {
				t.Error("a flush error did not fail the transaction")
			}
			if got := accountNames(t, db); strings.Join(got, ",") != "a1,b1+b2" {
				t.Errorf("accounts %v: only the first transaction's flushes, no rolled-back work", got)
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, ok := db.Deferred(tx, "k", func() Flusher { return &tally{} }); ok {
				t.Error("Deferred accepted a transaction Tx did not begin")
			}
		})
	}
}

// TestDeferredGroupCommit: the requests of one group commit share their
// transaction's Flusher; when the batch fails and each request is retried
// alone, what the failed batch gathered is dropped and each retry gathers
// its own.
func TestDeferredGroupCommit(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			db := OpenTest(t, backend)
			b := RunTestBatcher(t, NewBatcher(db, 64, 1))
			var mu sync.Mutex
			var flushed []string
			const n = 40
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					errs[i] = b.Do(context.Background(), func(tx *sql.Tx) error {
						f, ok := db.Deferred(tx, "k", func() Flusher { return &lockedTally{mu: &mu, t: tally{db: db, flushed: &flushed}} })
						if !ok {
							return errors.New("no deferral in a group commit")
						}
						f.(*lockedTally).add(fmt.Sprintf("r%02d", i))
						if i == 13 {
							return errors.New("refused")
						}
						return nil
					})
				})
			}
			wg.Wait()
			var names int
			for _, name := range accountNames(t, db) {
				names += len(strings.Split(name, "+"))
				if strings.Contains(name, "r13") {
					t.Errorf("the refused request's name was written: %q", name)
				}
			}
			if names != n-1 {
				t.Errorf("%d names written, want %d: each request's exactly once", names, n-1)
			}
			for i, err := range errs {
				if (err != nil) != (i == 13) {
					t.Errorf("request %d: %v", i, err)
				}
			}
		})
	}
}

type lockedTally struct {
	mu *sync.Mutex
	t  tally
}

func (l *lockedTally) add(name string) {
	l.mu.Lock()
	l.t.names = append(l.t.names, name)
	l.mu.Unlock()
}

func (l *lockedTally) Flush(tx *sql.Tx) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Flush(tx)
}
