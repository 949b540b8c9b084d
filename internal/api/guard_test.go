package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGuardWorkDeadline: a request whose work outlasts the time Guard
// allows it sees its context end before the response's write deadline,
// so the handler stops (the accept path then stores nothing) and its
// reply still reaches the client. Before, the context lived on, the
// handler could store messages after the deadline, and the client saw the
// connection closed without a reply — and would retry, sending twice.
func TestGuardWorkDeadline(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler), BodyTimeout: 50 * time.Millisecond, WorkTime: 600 * time.Millisecond}
	ended := make(chan error, 1)
	srv := httptest.NewServer(s.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "stopped in time")
		case <-time.After(10 * time.Second):
			ended <- nil
			io.WriteString(w, "ran on")
		}
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || string(body) != "stopped in time" {
		t.Fatalf("reply %d %q, %v; want 503 \"stopped in time\"", resp.StatusCode, body, err)
	}
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the work's context ended with %v, want the work deadline", err)
	}
}
