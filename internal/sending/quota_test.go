package sending_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// sendFacts records the SendDetail of each Send event (an event.Observer).
type sendFacts struct {
	mu    sync.Mutex
	sends []event.SendDetail
}

func (f *sendFacts) ObserveTx(tx *sql.Tx, e event.Event) error {
	if d, ok := e.Value.(event.SendDetail); ok {
		f.mu.Lock()
		f.sends = append(f.sends, d)
		f.mu.Unlock()
	}
	return nil
}

// quotaHarness is a Sender whose account "sandy" is in the sandbox, with
// the verified domain example.com and the verified address
// friend@elsewhere.test, and a Quota on a controllable clock.
type quotaHarness struct {
	s     *sending.Sender
	db    *store.DB
	accts *account.Service
	supp  *suppression.List
	facts *sendFacts
	now   time.Time
	mu    sync.Mutex
	build func(*store.Batcher) *sending.Sender
}

func (h *quotaHarness) clock() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }
func (h *quotaHarness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func newQuotaHarness(t *testing.T, backend string) *quotaHarness {
	t.Helper()
	ctx := t.Context()
	h := &quotaHarness{db: store.OpenTest(t, backend), facts: &sendFacts{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	if h.accts, err = account.New(h.db, filepath.Join(t.TempDir(), "master.key"), "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.accts.Create(ctx, "sandy"); err != nil {
		t.Fatal(err)
	}
	ids := identity.New(h.db, h.accts)
	for _, n := range []string{"example.com", "friend@elsewhere.test"} {
		if _, err := ids.Create(ctx, "sandy", n, true); err != nil {
			t.Fatal(err)
		}
	}
	events := event.NewLog(h.db)
	events.Observe(h.facts)
	h.supp = suppression.New(h.db, nil)
	q := quota.New(h.db, quota.Config{Node: "test", Now: h.clock})
	h.build = func(b *store.Batcher) *sending.Sender {
		s := sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "test",
			MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
			h.accts, ids, configset.New(h.db), queue.New(h.db), spool.New(h.db), events, b)
		s.Suppression, s.Quota = h.supp, q
		return s
	}
	h.s = h.build(store.RunTestBatcher(t, store.NewBatcher(h.db, 0, 0)))
	return h
}

func (h *quotaHarness) send(t *testing.T, rcpts ...string) error {
	t.Helper()
	return sendWith(t, h.s, rcpts...)
}

func sendWith(t *testing.T, s *sending.Sender, rcpts ...string) error {
	t.Helper()
	var as []address.Address
	for _, r := range rcpts {
		a, err := address.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
	}
	_, err := s.Send(t.Context(), sending.Request{Account: "sandy", Operation: "SendRawEmail", Recipients: as,
		Raw: []byte("From: me@example.com\r\nSubject: s\r\n\r\nbody\r\n")})
	return err
}

// TestSandboxRecipients: in the sandbox a recipient must be covered by a
// verified identity of the account, or be a simulator address; the others
// are listed in SES's MessageRejected text and nothing is stored. With
// production access any recipient goes.
func TestSandboxRecipients(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := newQuotaHarness(t, backend)
			ok := [][]string{
				{"anyone@example.com"},
				{"friend@elsewhere.test"},
				{"sub@mail.example.com"},
				{"success@simulator.amazonses.com"},
			}
			for _, rcpts := range ok {
				h.advance(time.Second)
				if err := h.send(t, rcpts...); err != nil {
					t.Errorf("%v: %v", rcpts, err)
				}
			}
			h.advance(time.Second)
			err := h.send(t, "friend@elsewhere.test", "stranger@elsewhere.test", "x@other.test")
			var unv *sending.UnverifiedError
			const want = "Email address is not verified. The following identities failed the check in region US-EAST-1: stranger@elsewhere.test, x@other.test"
			if !errors.As(err, &unv) || err.Error() != want {
				t.Fatalf("unverified recipients: %v, want %q", err, want)
			}
			if n := len(h.facts.sends); n != len(ok) {
				t.Errorf("%d Send events, want %d (the refused message stored nothing)", n, len(ok))
			}
			if _, err := h.accts.DecideProduction(t.Context(), "sandy", true); err != nil {
				t.Fatal(err)
			}
			h.advance(time.Second)
			if err := h.send(t, "stranger@elsewhere.test", "x@other.test"); err != nil {
				t.Errorf("with production access: %v", err)
			}
		})
	}
}

// TestSandboxQuota: the sandbox's 1 recipient per second and 200 per
// 24 hours; simulator recipients are limited by the rate but do not count
// towards the 24 hours (SES §5); a throttled message stores nothing and
// consumes nothing.
func TestSandboxQuota(t *testing.T) {
	h := newQuotaHarness(t, "sqlite")
	if err := h.send(t, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	var th *sending.ThrottledError
	for _, rcpt := range []string{"a@example.com", "success@simulator.amazonses.com"} {
		if err := h.send(t, rcpt); !errors.As(err, &th) || th.Daily || err.Error() != "Maximum sending rate exceeded." {
			t.Fatalf("%s in the same second: %v, want the rate throttled", rcpt, err)
		}
	}
	for range 3 {
		h.advance(time.Second)
		if err := h.send(t, "success@simulator.amazonses.com"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 200; i++ {
		h.advance(time.Second)
		if err := h.send(t, "a@example.com"); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	h.advance(time.Second)
	sends := len(h.facts.sends)
	if err := h.send(t, "a@example.com"); !errors.As(err, &th) || !th.Daily || err.Error() != "Daily message quota exceeded." {
		t.Fatalf("the 201st recipient: %v, want the daily quota throttled", err)
	}
	if len(h.facts.sends) != sends {
		t.Error("a throttled message was stored")
	}
	if err := h.send(t, "success@simulator.amazonses.com"); err != nil {
		t.Errorf("simulator recipient over the quota: %v", err)
	}
	h.advance(24 * time.Hour)
	if err := h.send(t, "a@example.com"); err != nil {
		t.Errorf("a day later: %v", err)
	}
}

// TestSendFacts: the Send event carries the set, the identity and each
// recipient with why it does not count; an account-suppressed recipient
// does not count towards the quota, a simulator one neither.
func TestSendFacts(t *testing.T) {
	h := newQuotaHarness(t, "sqlite")
	ctx := t.Context()
	if _, err := h.accts.DecideProduction(ctx, "sandy", true); err != nil {
		t.Fatal(err)
	}
	listed, _ := address.Parse("listed@other.test")
	if err := h.supp.Put(ctx, "sandy", suppression.Entry{Address: listed, Reason: suppression.Bounce}); err != nil {
		t.Fatal(err)
	}
	if err := h.send(t, "a@example.com", "b@other.test", "listed@other.test", "bounce@simulator.amazonses.com"); err != nil {
		t.Fatal(err)
	}
	want := event.SendDetail{Identity: "example.com", Recipients: []event.SendRecipient{
		{Address: "a@example.com", Excluded: event.ExcludedVerified},
		{Address: "b@other.test"},
		{Address: "listed@other.test", Excluded: event.ExcludedSuppressed},
		{Address: "bounce@simulator.amazonses.com", Excluded: event.ExcludedSimulator},
	}}
	if len(h.facts.sends) != 1 || !reflect.DeepEqual(h.facts.sends[0], want) {
		t.Errorf("Send facts = %+v, want %+v", h.facts.sends, want)
	}
	q := quota.New(h.db, quota.Config{Node: "other", Now: h.clock})
	if n, err := q.SentLast24Hours(ctx, "sandy"); err != nil || n != 2 {
		t.Errorf("SentLast24Hours = %d, %v; want 2 (verified and plain recipients)", n, err)
	}
}

// TestQuotaReleasedOnStoreFailure: a message the store does not take gives
// its quota back.
func TestQuotaReleasedOnStoreFailure(t *testing.T) {
	h := newQuotaHarness(t, "sqlite")
	if err := h.accts.SetQuota(t.Context(), "sandy", account.Quota{Max24HourSend: 1, MaxSendRate: -1}); err != nil {
		t.Fatal(err)
	}
	stopped := store.NewBatcher(h.db, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped.Run(ctx) // returns at once: the batcher refuses all work
	var st *sending.StorageError
	if err := sendWith(t, h.build(stopped), "a@example.com"); !errors.As(err, &st) {
		t.Fatalf("Send with the store stopped: %v, want a StorageError", err)
	}
	if err := h.send(t, "a@example.com"); err != nil {
		t.Errorf("the failed message kept its quota: %v", err)
	}
}

// TestGloballySuppressedCount: a recipient on the global suppression list
// (for an account that does not use its own list) is not sent to but
// counts against the rate and the 24 hours, as the account did try to mail
// it; one on the account's list counts against neither.
func TestGloballySuppressedCount(t *testing.T) {
	h := newQuotaHarness(t, "sqlite")
	ctx := t.Context()
	if _, err := h.accts.DecideProduction(ctx, "sandy", true); err != nil {
		t.Fatal(err)
	}
	if err := h.accts.SetQuota(ctx, "sandy", account.Quota{Max24HourSend: 100, MaxSendRate: 1}); err != nil {
		t.Fatal(err)
	}
	listed, _ := address.Parse("listed@other.test")
	if err := h.supp.Put(ctx, "sandy", suppression.Entry{Address: listed, Reason: suppression.Bounce}); err != nil {
		t.Fatal(err)
	}
	if err := h.send(t, "listed@other.test"); err != nil {
		t.Fatalf("an account-suppressed recipient: %v", err)
	}
	if err := h.send(t, "b@other.test"); err != nil {
		t.Fatalf("the account-suppressed recipient took the rate: %v", err)
	}
	h.advance(time.Second)
	if err := h.supp.SetAttributes(ctx, "sandy", suppression.Policy{}); err != nil {
		t.Fatal(err)
	}
	gone, _ := address.Parse("gone@other.test")
	if err := h.supp.GlobalAdd(ctx, gone, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if err := h.send(t, "gone@other.test"); err != nil {
		t.Fatalf("a globally suppressed recipient: %v", err)
	}
	var te *sending.ThrottledError
	if err := h.send(t, "c@other.test"); !errors.As(err, &te) {
		t.Errorf("the send right after a globally suppressed one: %v, want throttled: it took the second's allowance", err)
	}
	q := quota.New(h.db, quota.Config{Node: "other", Now: h.clock})
	if n, err := q.SentLast24Hours(ctx, "sandy"); err != nil || n != 2 {
		t.Errorf("SentLast24Hours = %d, %v; want 2 (b@ and the globally suppressed gone@)", n, err)
	}
}
