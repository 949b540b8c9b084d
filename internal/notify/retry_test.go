package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

const testSecret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MDA"

// drive steps e through simulated time: after each round the clock jumps
// to the next job's due time, until no job is pending (or max rounds).
func drive(t *testing.T, e *Engine, c *clock, rounds int) {
	t.Helper()
	for range rounds {
		step(t, e)
		next, ok, err := e.nextDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if next.After(c.Now()) {
			c.Set(next)
		}
	}
	t.Fatalf("still pending after %d rounds", rounds)
}

func offsets(hits []hit, start time.Time) []time.Duration {
	var out []time.Duration
	for _, h := range hits {
		out = append(out, h.at.Sub(start))
	}
	return out
}

// TestReceiverDownTenMinutes: a receiver that fails for 10 minutes (on a
// simulated clock) gets the notification once it is back, after retries
// at exactly the policy's times (20 s × 3, then 1, 2, 4, 8 min), each with
// the same event ID and a valid signature; nothing is left behind.
func TestReceiverDownTenMinutes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			c := newClock()
			start := c.Now()
			rcv := newReceiver(t, c.Now, func(h hit) int {
				if h.at.Before(start.Add(10 * time.Minute)) {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			e := New(db, Config{Now: c.Now}, webhookRouter(func(string) string { return rcv.URL }, testSecret), nil)
			log := event.NewLog(db)
			log.SetOutbox(e)
			addEvent(t, db, log, "a", "m1", start)
			drive(t, e, c, 100)

			hits := rcv.Hits()
			want := []time.Duration{0, 20 * time.Second, 40 * time.Second, 60 * time.Second, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute}
			if got := offsets(hits, start); !slices.Equal(got, want) {
				t.Fatalf("attempts at %v, want %v", got, want)
			}
			for i, h := range hits {
				if h.id != "job-m1" || h.kind != "Bounce" {
					t.Errorf("attempt %d: id %q kind %q", i, h.id, h.kind)
				}
				if err := VerifyWebhook(h.signature, h.body, testSecret, h.at, 0); err != nil {
					t.Errorf("attempt %d: %v", i, err)
				}
				if !strings.HasPrefix(string(h.body), `{"eventType":"Bounce","mail":{},"bounce":{"bounceType":"Permanent"`) {
					t.Errorf("attempt %d: body %s", i, h.body)
				}
			}
			if n := rowCount(t, db, "notify_deliveries") + rowCount(t, db, "notify_outbox"); n != 0 {
				t.Errorf("%d rows left after delivery", n)
			}
		})
	}
}

// TestDeadLetterAndReplay: a receiver that never answers 2xx is tried on
// the policy's schedule until RetryPeriod (the last attempt exactly at its
// end), then the job is a dead letter; Replay delivers it with the same ID.
func TestDeadLetterAndReplay(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	c := newClock()
	start := c.Now()
	var up atomic.Bool
	rcv := newReceiver(t, c.Now, func(hit) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	e := New(db, Config{Now: c.Now, RetryPeriod: 24 * time.Hour}, webhookRouter(func(string) string { return rcv.URL }, testSecret), nil)
	log := event.NewLog(db)
	log.SetOutbox(e)
	addEvent(t, db, log, "a", "m1", start)
	drive(t, e, c, 200)

	// The schedule, written out: 0, +20 s ×3, +1, 2, 4, …, 32 min, then
	// hourly, and the last attempt at 24 h.
	want := []time.Duration{0}
	delays := []time.Duration{20 * time.Second, 20 * time.Second, 20 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 32 * time.Minute}
	at := time.Duration(0)
	for i := 0; ; i++ {
		d := time.Hour
		if i < len(delays) {
			d = delays[i]
		}
		at += d
		if at >= 24*time.Hour {
			want = append(want, 24*time.Hour)
			break
		}
		want = append(want, at)
	}
	if got := offsets(rcv.Hits(), start); !slices.Equal(got, want) {
		t.Fatalf("attempts at\n%v\nwant\n%v", got, want)
	}
	dead, err := e.DeadLetters(context.Background(), "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "job-m1" || dead[0].Attempts != len(want) || !strings.Contains(dead[0].LastError, "500") ||
		!dead[0].Died.Equal(start.Add(24*time.Hour)) || dead[0].Endpoint != rcv.URL {
		t.Fatalf("dead letters %+v", dead)
	}
	targets, err := e.Targets(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Dead != 1 || targets[0].Pending != 0 || !strings.Contains(targets[0].LastError, "500") {
		t.Fatalf("targets %+v", targets)
	}
	// Other accounts' replays do not touch it.
	if n, err := e.Replay(context.Background(), "b", nil); err != nil || n != 0 {
		t.Fatalf("replay of account b: %d, %v", n, err)
	}
	up.Store(true)
	n, err := e.Replay(context.Background(), "a", []string{"job-m1"})
	if err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	before := len(rcv.Hits())
	step(t, e)
	hits := rcv.Hits()
	if len(hits) != before+1 || hits[len(hits)-1].id != "job-m1" {
		t.Fatalf("replay delivered %d requests (%+v)", len(hits)-before, hits[len(hits)-1])
	}
	if err := VerifyWebhook(hits[len(hits)-1].signature, hits[len(hits)-1].body, testSecret, c.Now(), 0); err != nil {
		t.Error(err)
	}
	if n := rowCount(t, db, "notify_deliveries"); n != 0 {
		t.Errorf("%d jobs left after the replay delivered", n)
	}
}

// TestAnswers: how each kind of answer is treated (one attempt each).
func TestAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		state  string // "" = delivered (row gone)
		errHas string
	}{
		{"200", 200, "", ""},
		{"204", 204, "", ""},
		{"299", 299, "", ""},
		{"410 is dead at once", 410, "dead", "410"},
		{"302 not followed", 302, "pending", "redirects are not followed"},
		{"301 not followed", 301, "pending", "redirects are not followed"},
		{"400 retried", 400, "pending", "400"},
		{"404 retried", 404, "pending", "404"},
		{"429 retried", 429, "pending", "429"},
		{"503 retried", 503, "pending", "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := store.OpenTest(t, "sqlite")
			c := newClock()
			elsewhere := newReceiver(t, c.Now, nil) // where redirects point
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", elsewhere.URL)
				w.WriteHeader(tt.status)
				w.Write([]byte("answer"))
			}))
			defer rcv.Close()
			e := New(db, Config{Now: c.Now}, nil, nil)
			if err := e.Enqueue(context.Background(), Job{ID: "j1", Account: "a", Target: "t", Channel: Webhook, URL: rcv.URL, Body: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			step(t, e)
			var state, lastErr string
			var attempts int
			err := db.QueryRow("SELECT state, last_error, attempts FROM notify_deliveries WHERE id = 'j1'").Scan(&state, &lastErr, &attempts)
			if tt.state == "" {
				if err == nil {
					t.Fatalf("job still stored (%s, %s)", state, lastErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if state != tt.state || attempts != 1 || !strings.Contains(lastErr, tt.errHas) {
				t.Errorf("state %s attempts %d last_error %q; want %s, 1, …%s…", state, attempts, lastErr, tt.state, tt.errHas)
			}
			if n := len(elsewhere.Hits()); n != 0 {
				t.Errorf("redirect target got %d requests", n)
			}
		})
	}
}

// TestEnqueueIdempotent: the same job ID enqueued twice is delivered once;
// a job without a target is refused.
func TestEnqueueIdempotent(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	c := newClock()
	rcv := newReceiver(t, c.Now, nil)
	e := New(db, Config{Now: c.Now}, nil, nil)
	j := Job{ID: "same", Account: "a", Target: "t", Channel: SNSHTTP, URL: rcv.URL, Body: []byte(`{"Type":"Notification"}`),
		Headers: map[string]string{"x-amz-sns-message-type": "Notification"}}
	for range 2 {
		if err := e.Enqueue(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	step(t, e)
	if hits := rcv.Hits(); len(hits) != 1 {
		t.Fatalf("%d deliveries", len(hits))
	}
	if err := e.Enqueue(context.Background(), Job{ID: "x", Channel: Webhook}); err == nil {
		t.Error("a job without Target was stored")
	}
}

// TestWantsFiltersOutbox: AddTx writes a row only for events Wants wants.
func TestWantsFiltersOutbox(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	e := New(db, Config{Wants: func(account string, kind event.Kind) bool { return account == "a" && kind == event.Bounce }}, nil, nil)
	log := event.NewLog(db)
	log.SetOutbox(e)
	now := time.Now()
	addEvent(t, db, log, "a", "m1", now) // wanted
	addEvent(t, db, log, "b", "m2", now) // not wanted
	if n := rowCount(t, db, "notify_outbox"); n != 1 {
		t.Fatalf("%d outbox rows, want 1", n)
	}
	if n := rowCount(t, db, "events"); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

// TestLeaseTakeover: a node that stops answering while it holds a job (its
// attempt hangs) keeps other nodes off the job until the lease expires
// (HTTPTimeout + 1 min); then another node attempts it (and fails: 500).
// The stalled node's late success is refused (its lease is gone): the job
// stays pending with node2's attempt recorded.
func TestLeaseTakeover(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	c := newClock()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	var first atomic.Bool
	rcv := newReceiver(t, c.Now, func(hit) int { return http.StatusInternalServerError })
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) { // node1's attempt: stalls
			arrived <- struct{}{}
			<-release
			return
		}
		// Later attempts are node2's: pass them to the recording receiver.
		resp, err := http.Post(rcv.URL, "application/json", r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	defer stall.Close()
	node1 := New(db, Config{NodeID: "node1", Now: c.Now, HTTPTimeout: time.Hour}, nil, nil)
	node2 := New(db, Config{NodeID: "node2", Now: c.Now}, nil, nil)
	if err := node1.Enqueue(context.Background(), Job{ID: "j1", Account: "a", Target: "t", Channel: Webhook, URL: stall.URL, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	stalled := make(chan struct{})
	go func() {
		defer close(stalled)
		node1.schedule(context.Background(), true)
	}()
	<-arrived
	step(t, node2)
	if n := len(rcv.Hits()); n != 0 {
		t.Fatalf("node2 sent a job node1 holds (%d requests)", n)
	}
	c.Set(c.Now().Add(time.Hour + time.Minute)) // node1's lease (HTTPTimeout + 1 min) expires
	step(t, node2)
	if hits := rcv.Hits(); len(hits) != 1 {
		t.Fatalf("after the lease expired node2 sent %+v", hits)
	}
	close(release) // node1's attempt ends (a 200): its record must not count
	<-stalled
	var state, lastErr string
	var attempts int
	if err := db.QueryRow("SELECT state, attempts, last_error FROM notify_deliveries WHERE id = 'j1'").Scan(&state, &attempts, &lastErr); err != nil {
		t.Fatalf("the job is gone: node1's stale success counted (%v)", err)
	}
	if state != "pending" || attempts != 1 || !strings.Contains(lastErr, "500") {
		t.Fatalf("job %s, %d attempts, %q; want pending, node2's one failed attempt", state, attempts, lastErr)
	}
}
