package notify

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// routerFunc is a test Router: routing proper is package publish's; these
// tests are about the engine, so the router returns fixed jobs.
type routerFunc func(ctx context.Context, e event.Event) ([]Job, error)

func (f routerFunc) Route(ctx context.Context, e event.Event) ([]Job, error) { return f(ctx, e) }

// webhookRouter sends every event of every account to url as a webhook
// job on target "webhook:<account>", signed with secret. The job ID is
// derived from the message ID, so tests know it.
func webhookRouter(url func(account string) string, secret string) routerFunc {
	return func(ctx context.Context, e event.Event) ([]Job, error) {
		body, _ := event.Encode(e)
		return []Job{{ID: "job-" + e.MessageID, Account: e.Account, Target: "webhook:" + e.Account, Channel: Webhook,
			Kind: string(e.Kind), URL: url(e.Account), Body: body, Secrets: []string{secret}}}, nil
	}
}

// hit is one request a receiver got.
type hit struct {
	id, kind, signature string
	body                []byte
	at                  time.Time // the engine's clock when it arrived
	real                time.Time
}

// receiver is a webhook endpoint on 127.0.0.1 that answers with status(h)
// and records every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	status func(h hit) int
	notify chan struct{}
}

func newReceiver(t testing.TB, now func() time.Time, status func(h hit) int) *receiver {
	r := &receiver{status: status, notify: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hit{id: req.Header.Get("X-Petrel-Event-Id"), kind: req.Header.Get("X-Petrel-Event-Type"),
			signature: req.Header.Get(SignatureHeader), body: body, at: now(), real: time.Now()}
		r.mu.Lock()
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		code := http.StatusNoContent
		if r.status != nil {
			code = r.status(h)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) Hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// addEvent records a Bounce event of messageID for account through
// event.Log (whose outbox is the engine), in its own transaction.
func addEvent(t testing.TB, db *store.DB, log *event.Log, account, messageID string, at time.Time) {
	t.Helper()
	err := db.Tx(context.Background(), func(tx *sql.Tx) error {
		return log.AddTx(tx, messageID, account, "r@example.com", at, event.BounceDetail{BounceType: "Permanent", BounceSubType: "General",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "r@example.com"}}, Timestamp: event.Timestamp(at), FeedbackID: "f-" + messageID})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// step runs one fan-out and one delivery round of e and waits for its
// attempts: the tests that drive a simulated clock use it instead of Run.
func step(t testing.TB, e *Engine) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.fanOut(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.schedule(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rowCount counts rows of one of notify's tables.
func rowCount(t testing.TB, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
