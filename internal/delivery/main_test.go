package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/logtest"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestMain fails the run when a delivery worker recovered from a panic no
// test expected (as mox's server packages do): a recovered panic is a bug
// even when the delivery it broke was retried.
func TestMain(m *testing.M) {
	code := m.Run()
	if n := panics.Load(); n != 0 {
		fmt.Fprintf(os.Stderr, "delivery: %d unexpected recovered panic(s) during the tests\n", n)
		code = 1
	}
	os.Exit(code)
}

// harness is a Deliverer over a real SQLite store, delivering to fake MXes
// on loopback.
type harness struct {
	t    *testing.T
	d    *Deliverer
	q    *queue.Queue
	sp   *spool.Spool
	ev   *event.Log
	b    *store.Batcher
	logs *logtest.Buffer
	n    atomic.Int64
}

// newHarness returns a Deliverer with cfg (test defaults for the zero
// fields: fast retries and polling). Start MX servers before it, so they
// stop after it. Set hooks on h.d, then call run.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	db := store.OpenTest(t, "sqlite")
	h := &harness{t: t, q: queue.New(db), sp: spool.New(db), ev: event.NewLog(db), logs: &logtest.Buffer{}}
	h.b = store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	if cfg.Hostname == "" {
		cfg.Hostname = "petrel.test"
	}
	cfg.NodeID = "node-1"
	setDuration(&cfg.RetryBase, 10*time.Millisecond)
	setDuration(&cfg.RetryMax, 50*time.Millisecond)
	setDuration(&cfg.PollInterval, 20*time.Millisecond)
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, h.q, h.sp, h.ev, h.b, log)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	return h
}

// run starts delivering until the test ends.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
		if h.t.Failed() {
			h.t.Logf("delivery log:\n%s", h.logs)
		}
	})
}

// send queues a message of one recipient, accepted at created and to be
// delivered by deadline, for the poller to find, and returns its ID.
func (h *harness) send(rcpt, domain, body string, created, deadline time.Time) string {
	h.t.Helper()
	return h.sendEntry(queue.Entry{Rcpt: rcpt, Domain: domain, Created: created, Deadline: deadline}, body)
}

// sendEntry queues a message of one recipient, the entry e (its ID,
// MessageID, Account and NextAttempt are filled in), for the poller to
// find, and returns its ID.
func (h *harness) sendEntry(e queue.Entry, body string) string {
	h.t.Helper()
	id := fmt.Sprintf("msg-%d", h.n.Add(1))
	e.ID, e.MessageID, e.Account, e.NextAttempt = id+"/0", id, "acct", time.Now()
	err := h.b.Do(context.Background(), func(tx *sql.Tx) error {
		if err := h.sp.PutTx(tx, &spool.Message{ID: id, Account: "acct", Created: e.Created, MailFrom: "sender@example.com",
			Mail: json.RawMessage(`{}`), Body: []byte(body)}); err != nil {
			return err
		}
		return h.q.InsertTx(tx, &e, "", time.Time{})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.d.Kick()
	return id
}

// sendNow is send for a message accepted now with a deadline a minute away.
func (h *harness) sendNow(rcpt, domain, body string) string {
	now := time.Now()
	return h.send(rcpt, domain, body, now, now.Add(time.Minute))
}

// final waits for the message's final event (Delivery or Bounce) and
// returns all its events.
func (h *harness) final(id string) []event.Event {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs, err := h.ev.List(context.Background(), event.Filter{MessageID: id})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == event.Delivery || e.Kind == event.Bounce {
				return evs
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("message %s: no final event; have %v", id, kinds(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kinds(evs []event.Event) []event.Kind {
	var out []event.Kind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func count(evs []event.Event, kind event.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func find(t *testing.T, evs []event.Event, kind event.Kind) event.Event {
	t.Helper()
	for _, e := range evs {
		if e.Kind == kind {
			return e
		}
	}
	t.Fatalf("no %s event in %v", kind, kinds(evs))
	return event.Event{}
}

func detail[T any](t *testing.T, e event.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Detail, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
