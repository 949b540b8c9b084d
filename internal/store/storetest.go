package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
)

// OpenTest opens a fresh database for a test: SQLite in t.TempDir(), or, when
// backend is "postgres", a new schema on the server named by
// PETREL_TEST_POSTGRES (the test is skipped when that is unset). The schema is
// dropped when the test ends.
func OpenTest(t testing.TB, backend string) *DB {
	t.Helper()
	ctx := context.Background()
	if backend != "postgres" {
		db, err := Open(ctx, "", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dsn := TestPostgresDSN(t)
	db, err := Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgresDSN creates a fresh schema on the PETREL_TEST_POSTGRES server
// and returns a DSN whose search_path points at it; the test is skipped when
// the variable is unset.
func TestPostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("PETREL_TEST_POSTGRES")
	if base == "" {
		t.Skip("PETREL_TEST_POSTGRES not set")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])
	// A plain connection: creating the schema must not migrate the server's
	// default schema as a side effect.
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("connecting to PETREL_TEST_POSTGRES: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}

// Backends lists the backends a store-backed test should run against.
func Backends() []string { return []string{"sqlite", "postgres"} }

// RunTestBatcher runs b (its group committer and store probe) for the rest
// of the test and stops it at cleanup, after committing what is queued; it
// returns b. Set b's fields (ProbeEvery) before calling it.
func RunTestBatcher(t testing.TB, b *Batcher) *Batcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}
