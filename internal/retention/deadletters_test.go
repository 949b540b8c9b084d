package retention

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/store"
)

// TestDeadLettersPrunedWithEvents: a notification that became a dead letter
// is kept while events of its age are, and pruned with them; a pass with
// events kept forever keeps it.
func TestDeadLettersPrunedWithEvents(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
			defer gone.Close()
			eng := notify.New(w.db, notify.Config{}, nil, nil)
			if err := eng.Enqueue(t.Context(), notify.Job{ID: "j1", Account: "acme", Target: "webhook:acme/s/d", Channel: notify.Webhook,
				Kind: "Bounce", URL: gone.URL, Body: []byte(`{}`), Secrets: []string{"whsec_x"}}); err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { eng.Run(ctx); close(done) }()
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				dl, err := eng.DeadLetters(t.Context(), "acme", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(dl) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the 410 did not make a dead letter")
				}
			}
			stop()
			<-done

			pass := func(events time.Duration, at time.Time) Result {
				p := &Pruner{Policy: Policy{Events: events}, Spool: w.spool, Queue: w.queue, Events: w.events,
					DeadLetters: eng, Now: func() time.Time { return at }, Pause: -1}
				r, err := p.Once(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			now := time.Now()
			if r := pass(0, now.Add(400*day)); r.DeadLetters != 0 {
				t.Errorf("events kept forever: %d dead letters pruned", r.DeadLetters)
			}
			if r := pass(30*day, now.Add(29*day)); r.DeadLetters != 0 {
				t.Errorf("29 days later with 30-day events: %d dead letters pruned", r.DeadLetters)
			}
			if r := pass(30*day, now.Add(31*day)); r.DeadLetters != 1 {
				t.Errorf("31 days later with 30-day events: %d dead letters pruned, want 1", r.DeadLetters)
			}
			if dl, _ := eng.DeadLetters(t.Context(), "acme", 10); len(dl) != 0 {
				t.Errorf("dead letters left: %+v", dl)
			}
		})
	}
}
