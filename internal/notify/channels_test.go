package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// mailbox is a test Mailer (the real one is sending.Sender's system
// mail): it records what it is handed, failing while fail is set.
type mailbox struct {
	mu   sync.Mutex
	sent []string
	fail error
}

func (m *mailbox) SendSystemMail(ctx context.Context, account, mailFrom, rcpt string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, account+"|"+mailFrom+"|"+rcpt+"|"+string(msg))
	return nil
}

// TestEmailJobs: an Email job is handed to the Mailer with its account,
// null reverse-path and recipient; a Mailer failure is retried like an
// HTTP failure.
func TestEmailJobs(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	c := newClock()
	mb := &mailbox{fail: errors.New("queue full")}
	e := New(db, Config{Now: c.Now}, nil, mb)
	msg := "From: MAILER-DAEMON@petrel.test\r\nSubject: bounce\r\n\r\nreport\r\n"
	if err := e.Enqueue(context.Background(), Job{ID: "e1", Account: "a", Target: "email:s@example.com", Channel: Email, Rcpt: "s@example.com", Body: []byte(msg)}); err != nil {
		t.Fatal(err)
	}
	step(t, e)
	var attempts int
	var lastErr string
	if err := db.QueryRow("SELECT attempts, last_error FROM notify_deliveries WHERE id = 'e1'").Scan(&attempts, &lastErr); err != nil || attempts != 1 || lastErr != "queue full" {
		t.Fatalf("after a mailer failure: %d attempts, %q, %v", attempts, lastErr, err)
	}
	mb.mu.Lock()
	mb.fail = nil
	mb.mu.Unlock()
	c.Set(c.Now().Add(ImmediateDelay))
	step(t, e)
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if len(mb.sent) != 1 || mb.sent[0] != "a||s@example.com|"+msg {
		t.Fatalf("sent %q", mb.sent)
	}
	if n := rowCount(t, db, "notify_deliveries"); n != 0 {
		t.Errorf("%d jobs left", n)
	}
}

// TestSNSHTTPHeaders: an SNS HTTP job is POSTed with its x-amz-sns-*
// headers, SNS's content type, and no Petrel webhook headers.
func TestSNSHTTPHeaders(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	e := New(db, Config{}, nil, nil)
	j := Job{ID: "s1", Account: "a", Target: "sns:arn:aws:sns:us-east-1:123456789012:t:sub", Channel: SNSHTTP, URL: srv.URL,
		Body: []byte(`{"Type":"Notification"}`), Headers: map[string]string{"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": "s1"}}
	if err := e.Enqueue(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	step(t, e)
	h := <-got
	if h.Get("X-Amz-Sns-Message-Type") != "Notification" || h.Get("X-Amz-Sns-Message-Id") != "s1" ||
		h.Get("Content-Type") != "text/plain; charset=UTF-8" || h.Get(SignatureHeader) != "" || h.Get("X-Petrel-Event-Id") != "" {
		t.Errorf("headers %v", h)
	}
}

// TestRouterFailureKeepsEvent: an event the router fails on stays in the
// outbox (attempts and error recorded), is not routed again before its
// backoff, and is routed when the router recovers; an invalid job counts
// as a failure too.
func TestRouterFailureKeepsEvent(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	c := newClock()
	rcv := newReceiver(t, c.Now, nil)
	var mu sync.Mutex
	calls := 0
	deliver := webhookRouter(func(string) string { return rcv.URL }, testSecret)
	router := routerFunc(func(ctx context.Context, ev event.Event) ([]Job, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1:
			return nil, errors.New("configset: database is locked")
		case 2:
			return []Job{{ID: "no-target", Channel: Webhook}}, nil
		}
		return deliver(ctx, ev)
	})
	e := New(db, Config{Now: c.Now}, router, nil)
	log := event.NewLog(db)
	log.SetOutbox(e)
	addEvent(t, db, log, "a", "m1", c.Now())
	for i, want := range []string{"database is locked", "Target"} {
		step(t, e)
		var attempts int
		var lastErr string
		if err := db.QueryRow("SELECT attempts, last_error FROM notify_outbox").Scan(&attempts, &lastErr); err != nil || attempts != i+1 || !strings.Contains(lastErr, want) {
			t.Fatalf("round %d: outbox row %d attempts, %q, %v", i, attempts, lastErr, err)
		}
		step(t, e) // leased for the backoff: not routed again yet
		mu.Lock()
		if calls != i+1 {
			t.Fatalf("routed %d times after %d failures", calls, i+1)
		}
		mu.Unlock()
		c.Set(c.Now().Add(ImmediateDelay))
	}
	step(t, e)
	if hits := rcv.Hits(); len(hits) != 1 || hits[0].id != "job-m1" {
		t.Fatalf("delivered %+v", hits)
	}
	if n := rowCount(t, db, "notify_outbox"); n != 0 {
		t.Errorf("%d outbox rows left", n)
	}
}

// TestShutdownReleases: stopping Run while an attempt hangs hands the job
// back unattempted (no attempt counted, no lease held).
func TestShutdownReleases(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	arrived := make(chan struct{}, 1)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then the server notices the client going away
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	e := New(db, Config{}, nil, nil)
	if err := e.Enqueue(context.Background(), Job{ID: "h1", Account: "a", Target: "t", Channel: Webhook, URL: srv.URL, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no attempt")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var attempts int
	var owner string
	var until int64
	if err := db.QueryRow("SELECT attempts, lease_owner, lease_until_ms FROM notify_deliveries WHERE id = 'h1'").Scan(&attempts, &owner, &until); err != nil {
		t.Fatal(err)
	}
	if attempts != 0 || owner != "" || until != 0 {
		t.Errorf("after shutdown: %d attempts, lease %q until %d", attempts, owner, until)
	}
}

// TestSealedSecrets: with a Sealer (account.Service, the data-dir key) a
// webhook job's signing secrets are stored sealed, not readable in the
// table, and still sign each attempt. A job whose secrets cannot be opened
// (no sealer) fails its attempts with the reason (retried as any failure)
// without blocking its target's other jobs.
func TestSealedSecrets(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	rcv := newReceiver(t, c.Now, nil)
	sealed := New(db, Config{Now: c.Now, Sealer: accts}, nil, nil)
	for _, id := range []string{"w1", "w2"} {
		if err := sealed.Enqueue(context.Background(), Job{ID: id, Account: "a", Target: "t", Channel: Webhook, URL: rcv.URL, Body: []byte(`{"n":1}`), Secrets: []string{testSecret}}); err != nil {
			t.Fatal(err)
		}
	}
	var stored string
	if err := db.QueryRow("SELECT secrets FROM notify_deliveries WHERE id = 'w1'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "sealed:") || strings.Contains(stored, "whsec_") {
		t.Fatalf("secrets stored as %q", stored)
	}
	// An engine without the sealer (a misconfigured node) cannot sign w1.
	unsealed := New(db, Config{Now: c.Now}, nil, nil)
	if err := unsealed.Enqueue(context.Background(), Job{ID: "plain", Account: "a", Target: "t", Channel: Webhook, URL: rcv.URL, Body: []byte(`{}`), Secrets: []string{testSecret}}); err != nil {
		t.Fatal(err)
	}
	step(t, unsealed)
	hits := rcv.Hits()
	if len(hits) != 1 || hits[0].id != "plain" {
		t.Fatalf("without the sealer: %+v", hits)
	}
	var lastErr string
	db.QueryRow("SELECT last_error FROM notify_deliveries WHERE id = 'w1'").Scan(&lastErr)
	if !strings.Contains(lastErr, "no sealer") {
		t.Fatalf("w1's last error %q", lastErr)
	}
	// With the sealer, w2 (and w1, when due) are signed with the secret.
	c.Set(c.Now().Add(ImmediateDelay))
	step(t, sealed)
	hits = rcv.Hits()[1:]
	if len(hits) != 2 {
		t.Fatalf("with the sealer: %d requests", len(hits))
	}
	for _, h := range hits {
		if err := VerifyWebhook(h.signature, h.body, testSecret, c.Now(), 0); err != nil {
			t.Errorf("%s: %v", h.id, err)
		}
	}
}
