package daemon

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/petrelmail/petrel/internal/api"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/store"
)

// TestReadyzNamesCause (issue 10, E): the 503 of /readyz echoed SQL to
// unauthenticated callers ("INSERT INTO messages (id, account, creat:
// database or disk is full (13)"). It must name the cause only, and log
// the details; low free space makes it fail before any write does.
func TestReadyzNamesCause(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	var logBuf bytes.Buffer
	d := &Daemon{svc: &Services{DB: db}, log: slog.New(slog.NewTextHandler(&logBuf, nil))}
	d.ready.Store(true)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		d.readyz(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 {
		t.Fatalf("healthy store: %d %q", code, body)
	}

	// A write fails in the kernel (file-size limit of one byte, EFBIG, as
	// ENOSPC on a full disk).
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	err := db.Tx(context.Background(), func(tx *sql.Tx) error {
		return db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES (?, ?, 0)", "x", "x")
	})
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil {
		t.Fatal("a write succeeded with a one-byte file size limit")
	}
	code, body := get()
	t.Logf("readyz: %d %q (the write failed with %v)", code, body, err)
	if code != http.StatusServiceUnavailable ||
		!regexp.MustCompile(`^store cannot write since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: (disk full|I/O error)\n$`).MatchString(body) {
		t.Errorf("readyz on a failed write: %d %q", code, body)
	}
	for _, leak := range []string{"INSERT", "accounts", "committing", "(", "petrel.db"} {
		if strings.Contains(body, leak) {
			t.Errorf("readyz shows internals (%q): %q", leak, body)
		}
	}
	if !strings.Contains(logBuf.String(), "not ready: the store cannot write") || !strings.Contains(logBuf.String(), "err=") {
		t.Errorf("no log line with the details:\n%s", logBuf.String())
	}

	// A successful write clears the fault; free space under the mark (the
	// real statfs of the test's directory, against an unreachable mark)
	// fails readiness without any failed write.
	if err := db.Tx(context.Background(), func(tx *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	b := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	if err := b.Do(context.Background(), func(tx *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != 200 {
		t.Fatalf("after a successful write: %d %q", code, body)
	}
	db.MinFree = 1 << 62
	if code, body := get(); code != 503 || !strings.HasSuffix(body, ": low disk space\n") {
		t.Errorf("4 EiB needed free: %d %q", code, body)
	}
}

// TestConnCap (issue 10, H): --http-max-conns=0 was documented as
// unlimited but silently capped with a warning; 0 now means "as many as
// the open-files limit allows", said at info level, and an explicit cap
// over the room is lowered with a warning.
func TestConnCap(t *testing.T) {
	for _, c := range []struct {
		want, others int
		limit        uint64
		cap          int
		level        string
	}{
		{0, 2200, 65536, 65536 - fdReserve - 2200, "INFO"},
		{4096, 2200, 65536, 4096, ""},
		{100000, 2200, 65536, 65536 - fdReserve - 2200, "WARN"},
		{4096, 2200, 1024, 64, "WARN"},
		{0, 0, 0, 0, ""},
		{0, 3 * config.MaxConns, 1 << 62, (1 << 30) - fdReserve - 3*config.MaxConns, "INFO"},
	} {
		var buf bytes.Buffer
		got := connCap(c.want, c.others, c.limit, slog.New(slog.NewTextHandler(&buf, nil)))
		if got != c.cap || c.level == "" && buf.Len() > 0 || c.level != "" && !strings.Contains(buf.String(), "level="+c.level) {
			t.Errorf("connCap(%d, others %d, limit %d) = %d, log %q; want %d at %q", c.want, c.others, c.limit, got, buf.String(), c.cap, c.level)
		}
	}
}

// TestMinBodyMemory: config's lower bound for max-body-memory is one
// largest API request, which reserves its whole body.
func TestMinBodyMemory(t *testing.T) {
	if config.MinBodyMemory != api.MaxBody {
		t.Fatalf("config.MinBodyMemory %d, api.MaxBody %d", config.MinBodyMemory, api.MaxBody)
	}
}
