package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/logtest"
)

// testDaemon is a Petrel run by a test on loopback, its log in logs.
type testDaemon struct {
	d      *Daemon
	cfg    config.Config
	logs   *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs Petrel on a fresh SQLite data directory, every listener
// on 127.0.0.1; tweak, when set, changes the config first. It is stopped
// when the test ends, unless stop was called.
func startDaemon(t *testing.T, tweak func(*config.Config)) *testDaemon {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP, cfg.SMTP, cfg.SMTPS, cfg.Inbound = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Hostname = "petrel.test"
	cfg.ShutdownGrace = config.Duration(5 * time.Second)
	if tweak != nil {
		tweak(&cfg)
	}
	td := &testDaemon{cfg: cfg, logs: &logtest.Buffer{}, done: make(chan error, 1)}
	d, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(td.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	td.d = d
	ctx, cancel := context.WithCancel(context.Background())
	td.cancel = cancel
	go func() { td.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		if err := td.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return td
}

// stop cancels Run's context and returns what Run returned.
func (td *testDaemon) stop() error {
	if td.cancel == nil {
		return nil
	}
	td.cancel()
	td.cancel = nil
	return <-td.done
}

// waitLog waits up to 10 s for a log line containing every one of parts,
// and returns it.
func (td *testDaemon) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for line := range strings.SplitSeq(td.logs.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", parts, td.logs)
		}
	}
}
