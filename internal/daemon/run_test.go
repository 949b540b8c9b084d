package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
)

// TestStopBeforeServing: a daemon stopped at once — before its listeners'
// Serve goroutines have run — must still stop. go-smtp's Shutdown closes
// only the listeners its Serve has registered, so a Serve that started
// after it accepted for ever and Run never returned (seen as e2e tests
// hanging for 10 minutes).
func TestStopBeforeServing(t *testing.T) {
	for i := range 10 {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.HTTP, cfg.SMTP, cfg.SMTPS, cfg.Inbound = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.Hostname = "petrel.test"
		d, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("run %d: Run did not return 15 s after its context was cancelled", i)
		}
	}
}
