package suppression

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

func observe(t *testing.T, l *List, o Observation) {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = l.now()
	}
	if err := l.db.Tx(t.Context(), func(tx *sql.Tx) error { return l.ObserveTx(tx, o) }); err != nil {
		t.Fatal(err)
	}
}

func hard(reason, rule string) event.BounceDetail {
	return event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: bounce.General, Reason: reason, Rule: rule, FeedbackID: "fb-1",
		BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "r@example.com", Action: "failed", Status: "5.1.1"}}}
}

func soft(reason string) event.BounceDetail {
	return event.BounceDetail{BounceType: bounce.Transient, BounceSubType: bounce.General, Reason: reason, Rule: reason, FeedbackID: "fb-2"}
}

func complaint(feedbackType string, subType *string) event.ComplaintDetail {
	return event.ComplaintDetail{FeedbackID: "fb-3", ComplaintFeedbackType: feedbackType, ComplaintSubType: subType,
		ComplainedRecipients: []event.Recipient{{EmailAddress: "r@example.com"}}}
}

// TestObserve: which outcomes add the recipient to the account list and
// the global list, and which never do.
func TestObserve(t *testing.T) {
	onList := bounce.OnAccountSuppressionList
	bounceOnly := &Policy{Reasons: []Reason{Bounce}}
	disabled := &Policy{}
	cases := []struct {
		name     string
		rcpt     string
		detail   event.Detail
		override *Policy
		sim      bool
		account  Reason // the account entry's reason; "" none
		global   bool
	}{
		{"hard bounce", "r@example.com", hard(bounce.ReasonUserUnknown, "user-unknown"), nil, false, Bounce, true},
		{"hard bounce, override BOUNCE only", "r@example.com", hard(bounce.ReasonUserUnknown, "x"), bounceOnly, false, Bounce, true},
		{"hard bounce, override disabled: global only", "r@example.com", hard(bounce.ReasonUserUnknown, "x"), disabled, false, "", true},
		{"complaint", "r@example.com", complaint("abuse", nil), nil, false, Complaint, false},
		{"complaint without feedback type", "r@example.com", complaint("", nil), nil, false, Complaint, false},
		{"complaint, override BOUNCE only", "r@example.com", complaint("abuse", nil), bounceOnly, false, "", false},
		{"transient bounce, no soft-bounce policy", "r@example.com", soft(bounce.ReasonMailboxFull), nil, false, "", false},
		{"undetermined bounce", "r@example.com", event.BounceDetail{BounceType: bounce.Undetermined, BounceSubType: bounce.Undetermined}, nil, false, "", false},
		{"delivery", "r@example.com", event.DeliveryDetail{}, nil, false, "", false},
		{"delay", "r@example.com", event.DeliveryDelayDetail{}, nil, false, "", false},
		// Never.
		{"never: simulator bounce", "r@example.com", hard(bounce.ReasonUserUnknown, "x"), nil, true, "", false},
		{"never: simulator complaint", "r@example.com", complaint("abuse", nil), nil, true, "", false},
		{"never: sender-scoped (ip-blocklisted)", "r@example.com", hard(bounce.ReasonIPBlocklisted, "x"), nil, false, "", false},
		{"never: sender-scoped (sender-rejected)", "r@example.com", hard(bounce.ReasonSenderRejected, "x"), nil, false, "", false},
		{"never: content-rejected (8BITMIME not offered)", "r@example.com", hard(bounce.ReasonContentRejected, "delivery-8bitmime-not-offered"), nil, false, "", false},
		{"never: message-too-large", "r@example.com", hard(bounce.ReasonMessageTooLarge, "x"), nil, false, "", false},
		{"never: spam-blocked", "r@example.com", hard(bounce.ReasonSpamBlocked, "x"), nil, false, "", false},
		{"never: SMTPUTF8 not offered, ASCII recipient", "r@example.com", hard(bounce.ReasonNotAcceptingMail, bounce.RuleNoSMTPUTF8), nil, false, "", false},
		{"SMTPUTF8 not offered, UTF-8 recipient", "jürgen@example.com", hard(bounce.ReasonNotAcceptingMail, bounce.RuleNoSMTPUTF8), nil, false, Bounce, true},
		{"never: ARF auth-failure", "r@example.com", complaint("auth-failure", nil), nil, false, "", false},
		{"never: ARF not-spam", "r@example.com", complaint("Not-Spam", nil), nil, false, "", false},
		{"never: empty recipient (bounce)", "", hard(bounce.ReasonUserUnknown, "x"), nil, false, "", false},
		{"never: empty recipient (complaint)", " ", complaint("abuse", nil), nil, false, "", false},
		{"never: own account-list bounce", "r@example.com", event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: bounce.OnAccountSuppressionList}, nil, false, "", false},
		{"never: own global-list bounce", "r@example.com", event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: bounce.Suppressed}, nil, false, "", false},
		{"never: complaint subtype OnAccountSuppressionList", "r@example.com", complaint("", &onList), nil, false, "", false},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					l, _ := openList(t, backend)
					observe(t, l, Observation{Account: "acct", MessageID: "m-1", Recipient: c.rcpt, Detail: c.detail, Override: c.override, Simulated: c.sim})
					rcpt := strings.TrimSpace(c.rcpt)
					if rcpt == "" {
						rcpt = "r@example.com"
					}
					a := mustAddr(t, rcpt)
					e, err := l.Get(t.Context(), "acct", a)
					switch {
					case c.account == "" && !errors.Is(err, ErrNotFound):
						t.Errorf("account entry %+v, %v; want none", e, err)
					case c.account != "" && (err != nil || e.Reason != c.account || e.MessageID != "m-1" || e.FeedbackID == "" || !e.Expires.IsZero() || e.Cause == ""):
						t.Errorf("account entry %+v, %v; want reason %s with MessageId, FeedbackId and cause", e, err, c.account)
					}
					g, err := l.GlobalGet(t.Context(), a)
					if c.global != (err == nil) {
						t.Errorf("global entry %+v, %v; want listed %v", g, err, c.global)
					}
					var n int
					if err := l.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM soft_bounces").Scan(&n); err != nil || n != 0 {
						t.Errorf("soft_bounces rows %d, %v", n, err)
					}
				})
			}
		})
	}
}

// TestObserveCause: a hard bounce's entry names the rule and reason.
func TestObserveCause(t *testing.T) {
	l, _ := openList(t, "sqlite")
	observe(t, l, Observation{Account: "acct", MessageID: "m-1", Recipient: "r@example.com", Detail: hard(bounce.ReasonUserUnknown, "user-unknown-status")})
	e, err := l.Get(t.Context(), "acct", mustAddr(t, "r@example.com"))
	if err != nil || !strings.Contains(e.Cause, "user-unknown-status") || !strings.Contains(e.Cause, "user-unknown") || e.FeedbackID != "fb-1" {
		t.Fatalf("entry %+v, %v", e, err)
	}
}

// TestSoftBouncePolicy: Count Transient bounces within Window list the
// address for SuppressFor; fewer, or bounces outside the window, do not;
// a Reasons-limited policy counts only its reasons.
func TestSoftBouncePolicy(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			sb := &SoftBounce{Count: 3, Window: 24 * time.Hour, SuppressFor: 72 * time.Hour}
			if err := l.SetAttributes(t.Context(), "acct", Policy{Reasons: []Reason{Bounce, Complaint}, SoftBounce: sb}); err != nil {
				t.Fatal(err)
			}
			a := mustAddr(t, "full@example.com")
			bounceAt := func(reason string) {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: a.Email(), Detail: soft(reason), Now: clk.now()})
			}
			listed := func() (Entry, bool) {
				e, err := l.Get(t.Context(), "acct", a)
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Fatal(err)
				}
				return e, err == nil
			}
			// Two within the window: nothing.
			bounceAt(bounce.ReasonMailboxFull)
			clk.advance(10 * time.Hour)
			bounceAt(bounce.ReasonMailboxFull)
			if _, ok := listed(); ok {
				t.Fatal("listed after 2 bounces")
			}
			// The first falls out of the window: the third is the second counted.
			clk.advance(15 * time.Hour)
			bounceAt(bounce.ReasonMailboxDisabled)
			if _, ok := listed(); ok {
				t.Fatal("listed with a bounce outside the window counted")
			}
			// Bounces that say nothing about the address are never counted.
			for _, r := range []string{bounce.ReasonSystemError, bounce.ReasonNetworkError, bounce.ReasonPolicyRejected, bounce.ReasonExpired, bounce.ReasonOther, bounce.ReasonUndetermined} {
				bounceAt(r)
			}
			if _, ok := listed(); ok {
				t.Fatal("listed after bounces of unknown scope")
			}
			// Sender-scoped bounces are never counted.
			bounceAt(bounce.ReasonRateLimited)
			if _, ok := listed(); ok {
				t.Fatal("listed after a sender-scoped bounce")
			}
			clk.advance(time.Hour)
			bounceAt(bounce.ReasonMailboxFull)
			e, ok := listed()
			if !ok || e.Reason != Bounce || !e.Expires.Equal(clk.now().Add(72*time.Hour)) ||
				!strings.Contains(e.Cause, "soft-bounce policy: 3 transient bounces (mailbox-disabled, mailbox-full) within 1d") {
				t.Fatalf("entry %+v listed %v", e, ok)
			}
			var n int
			if err := l.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM soft_bounces").Scan(&n); err != nil || n != 0 {
				t.Fatalf("counted rows left: %d, %v", n, err)
			}
			if _, err := l.GlobalGet(t.Context(), a); !errors.Is(err, ErrNotFound) {
				t.Fatalf("soft bounces listed the address globally: %v", err)
			}
			clk.advance(72*time.Hour - time.Millisecond)
			if _, ok := listed(); !ok {
				t.Fatal("lifted early")
			}
			clk.advance(time.Millisecond)
			if _, ok := listed(); ok {
				t.Fatal("not lifted after SuppressFor")
			}

			// A Reasons-limited policy ignores other reasons.
			sb.Reasons = []string{bounce.ReasonMailboxFull}
			if err := l.SetAttributes(t.Context(), "acct", Policy{Reasons: []Reason{Bounce}, SoftBounce: sb}); err != nil {
				t.Fatal(err)
			}
			b := mustAddr(t, "busy@example.com")
			for range 5 {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: b.Email(), Detail: soft(bounce.ReasonSystemError), Now: clk.now()})
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: b.Email(), Detail: soft(bounce.ReasonRateLimited), Now: clk.now()})
				clk.advance(time.Minute)
			}
			if _, err := l.Get(t.Context(), "acct", b); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a mailbox-full-only policy listed on other reasons: %v", err)
			}
			for range 3 {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: b.Email(), Detail: soft(bounce.ReasonMailboxFull), Now: clk.now()})
			}
			if _, err := l.Get(t.Context(), "acct", b); err != nil {
				t.Fatalf("3 mailbox-full bounces: %v", err)
			}

			// The override's soft-bounce policy replaces the account's; the
			// account list disabled counts nothing.
			c := mustAddr(t, "other@example.com")
			for range 5 {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: c.Email(), Detail: soft(bounce.ReasonMailboxFull),
					Override: &Policy{SoftBounce: sb}, Now: clk.now()})
			}
			if _, err := l.Get(t.Context(), "acct", c); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a disabled override listed: %v", err)
			}
		})
	}
}

// TestObserveHotPath: Send, Delivery, DeliveryDelay (and the other kinds
// that never suppress) do no database work — ObserveTx does not even touch
// the transaction, here nil.
func TestObserveHotPath(t *testing.T) {
	l := New(nil, nil)
	for _, d := range []event.Detail{event.SendDetail{}, event.DeliveryDetail{}, event.DeliveryDelayDetail{}, event.RejectDetail{}, event.AutoResponseDetail{}} {
		if err := l.ObserveTx(nil, Observation{Account: "a", MessageID: "m", Recipient: "r@example.com", Detail: d, Now: time.Now()}); err != nil {
			t.Errorf("%s: %v", d.Kind(), err)
		}
	}
}
