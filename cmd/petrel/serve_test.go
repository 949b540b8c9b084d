package main

import (
	"context"
	"testing"
)

// TestServeStoppedWhileStarting: a stop signal that arrives while the
// daemon is still starting (its context cancelled mid-way through opening
// the store and recording its settings) is a clean stop, not a failure:
// service managers and the crash tests send SIGTERM at any moment.
func TestServeStoppedWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := serve(ctx, []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--smtp", "", "--smtps", "", "--inbound", "",
		"--log-level", "error"})
	if err != nil {
		t.Fatalf("serve stopped while starting: %v, want a clean stop", err)
	}
}
