package suppression

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSoftBounceKeepsPermanentComplaint: an address the account list holds
// for COMPLAINT, for good, mailed through a configuration set whose
// override names BOUNCE only (which does not suppress a COMPLAINT entry),
// soft-bounces until the set's soft-bounce policy triggers: the COMPLAINT
// entry stays as it was, and is still there long after the soft-bounce
// entry would have lifted.
func TestSoftBounceKeepsPermanentComplaint(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			a := mustAddr(t, "complainer@example.com")
			if err := l.Put(t.Context(), "acct", Entry{Address: a, Reason: Complaint, Cause: "PutSuppressedDestination"}); err != nil {
				t.Fatal(err)
			}
			sb := &SoftBounce{Count: 2, Window: time.Hour, SuppressFor: time.Hour}
			override := &Policy{Reasons: []Reason{Bounce}, SoftBounce: sb}
			for range 2 {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: a.Email(), Override: override, Now: clk.now(),
					Detail: soft(bounce.ReasonMailboxFull)})
				clk.advance(time.Minute)
			}
			clk.advance(2 * time.Hour)
			e, err := l.Get(t.Context(), "acct", a)
			if err != nil || e.Reason != Complaint || !e.Expires.IsZero() || e.Cause != "PutSuppressedDestination" {
				t.Errorf("the permanent COMPLAINT entry, after 2 soft bounces through a BOUNCE-only set and 2 h: %+v, %v", e, err)
			}
		})
	}
}

// TestAutomaticAdditionNeverWeakens: what each automatic addition (hard
// bounce, complaint, the soft-bounce policy) does to the entry already on
// the list. It creates one when none is in force (none, or one expired); it
// makes an expiring entry permanent or longer; it never touches an
// unexpired permanent entry, and never shortens an expiring one.
func TestAutomaticAdditionNeverWeakens(t *testing.T) {
	const day = 24 * time.Hour
	sb := &SoftBounce{Count: 2, Window: time.Hour, SuppressFor: 2 * day}
	policy := &Policy{Reasons: []Reason{Bounce, Complaint}, SoftBounce: sb}
	bounceOnly := &Policy{Reasons: []Reason{Bounce}, SoftBounce: sb}
	type existing struct {
		reason  Reason
		expires time.Duration // from the test's start; 0: permanent
	}
	type want struct {
		reason  Reason
		expires time.Duration // from the addition; 0: permanent
		changed bool          // the entry is the addition's (else the existing one, untouched)
	}
	hardBounce := func(l *List, o Observation) {
		o.Detail = hard(bounce.ReasonUserUnknown, "user-unknown")
		observe(t, l, o)
	}
	complain := func(l *List, o Observation) { o.Detail = complaint("abuse", nil); observe(t, l, o) }
	softBounces := func(l *List, o Observation) {
		o.Detail = soft(bounce.ReasonMailboxFull)
		observe(t, l, o)
		observe(t, l, o)
	}
	cases := []struct {
		name     string
		existing *existing
		override *Policy
		add      func(*List, Observation)
		want     want
	}{
		{"none + hard bounce", nil, policy, hardBounce, want{Bounce, 0, true}},
		{"none + complaint", nil, policy, complain, want{Complaint, 0, true}},
		{"none + soft bounces", nil, policy, softBounces, want{Bounce, 2 * day, true}},
		{"permanent COMPLAINT + hard bounce", &existing{Complaint, 0}, policy, hardBounce, want{Complaint, 0, false}},
		{"permanent COMPLAINT + hard bounce through a BOUNCE-only set", &existing{Complaint, 0}, bounceOnly, hardBounce, want{Complaint, 0, false}},
		{"permanent COMPLAINT + soft bounces", &existing{Complaint, 0}, bounceOnly, softBounces, want{Complaint, 0, false}},
		{"permanent BOUNCE + complaint", &existing{Bounce, 0}, policy, complain, want{Bounce, 0, false}},
		{"permanent BOUNCE + hard bounce", &existing{Bounce, 0}, policy, hardBounce, want{Bounce, 0, false}},
		{"permanent BOUNCE + soft bounces", &existing{Bounce, 0}, policy, softBounces, want{Bounce, 0, false}},
		{"expiring BOUNCE + hard bounce: permanent", &existing{Bounce, day}, policy, hardBounce, want{Bounce, 0, true}},
		{"expiring BOUNCE + complaint: permanent COMPLAINT", &existing{Bounce, day}, policy, complain, want{Complaint, 0, true}},
		{"expiring BOUNCE (1d) + soft bounces (2d): longer", &existing{Bounce, day}, policy, softBounces, want{Bounce, 2 * day, true}},
		{"expiring BOUNCE (10d) + soft bounces (2d): kept", &existing{Bounce, 10 * day}, policy, softBounces, want{Bounce, 0, false}},
		{"expired BOUNCE + soft bounces: new", &existing{Bounce, time.Minute}, policy, softBounces, want{Bounce, 2 * day, true}},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					l, clk := openList(t, backend)
					a := mustAddr(t, "r@example.com")
					var before Entry
					if c.existing != nil {
						before = Entry{Address: a, Reason: c.existing.reason, LastUpdate: clk.now(), Cause: "existing"}
						if c.existing.expires != 0 {
							before.Expires = clk.now().Add(c.existing.expires)
						}
						if err := l.Put(t.Context(), "acct", before); err != nil {
							t.Fatal(err)
						}
					}
					clk.advance(time.Hour)
					at := clk.now()
					c.add(l, Observation{Account: "acct", MessageID: "m-new", Recipient: a.Email(), Override: c.override, Now: at})
					e, err := l.Get(t.Context(), "acct", a)
					if err != nil {
						t.Fatalf("no entry after the addition: %v", err)
					}
					wantExpires := time.Time{}
					if !c.want.changed {
						wantExpires = before.Expires
					} else if c.want.expires != 0 {
						wantExpires = at.Add(c.want.expires)
					}
					if e.Reason != c.want.reason || !e.Expires.Equal(wantExpires) || (e.Cause == "existing") == c.want.changed ||
						(e.MessageID == "m-new") != c.want.changed {
						t.Errorf("entry %+v; want reason %s, expiry %v, the addition's %v", e, c.want.reason, wantExpires, c.want.changed)
					}
				})
			}
		})
	}
}

// TestTLSRequiredNeverSoftSuppresses: a configuration set with TlsPolicy
// REQUIRE mailing a host without STARTTLS ends, at the deadline, in
// Transient bounces of reason network-error, rule delivery-tls-required:
// only the sender's own requirement failed, and the soft-bounce policy
// never lists the recipient for it.
func TestTLSRequiredNeverSoftSuppresses(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			sb := &SoftBounce{Count: 2, Window: time.Hour, SuppressFor: time.Hour}
			if err := l.SetAttributes(t.Context(), "acct", Policy{Reasons: []Reason{Bounce, Complaint}, SoftBounce: sb}); err != nil {
				t.Fatal(err)
			}
			a := mustAddr(t, "tls@example.com")
			for range 3 {
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: a.Email(), Now: clk.now(),
					Detail: event.BounceDetail{BounceType: bounce.Transient, BounceSubType: bounce.General,
						Reason: bounce.ReasonNetworkError, Rule: bounce.RuleTLSRequired, FeedbackID: "fb"}})
				clk.advance(time.Minute)
			}
			if e, err := l.Get(t.Context(), "acct", a); !errors.Is(err, ErrNotFound) {
				t.Errorf("TLS-required expiries suppressed the recipient: %+v, %v", e, err)
			}
		})
	}
}

// TestOutageNeverSoftSuppresses: a receiving domain that is down (every
// message to it ends in a Transient network-error, system-error or
// expired bounce) never gets its recipients listed by a soft-bounce policy
// without Reasons, however many bounces; only reasons about the recipient
// count.
func TestOutageNeverSoftSuppresses(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			sb := &SoftBounce{Count: 3, Window: 24 * time.Hour, SuppressFor: 24 * time.Hour}
			if err := l.SetAttributes(t.Context(), "acct", Policy{Reasons: []Reason{Bounce, Complaint}, SoftBounce: sb}); err != nil {
				t.Fatal(err)
			}
			a := mustAddr(t, "user@down.example")
			for i := range 30 {
				reason := []string{bounce.ReasonNetworkError, bounce.ReasonSystemError, bounce.ReasonExpired}[i%3]
				observe(t, l, Observation{Account: "acct", MessageID: "m", Recipient: a.Email(), Now: clk.now(),
					Detail: event.BounceDetail{BounceType: bounce.Transient, BounceSubType: bounce.General, Reason: reason, Rule: "connect-failed"}})
				clk.advance(10 * time.Minute)
			}
			if e, err := l.Get(t.Context(), "acct", a); !errors.Is(err, ErrNotFound) {
				t.Errorf("30 outage bounces listed the recipient: %+v, %v", e, err)
			}
		})
	}
}

// TestSoftBounceReasonsValidate: Reasons may name only bounce-rule reasons
// about the recipient; a typo or a reason that says nothing about the
// address is refused with the reasons that may be named.
func TestSoftBounceReasonsValidate(t *testing.T) {
	cases := []struct {
		reasons []string
		err     string // "" valid
	}{
		{nil, ""},
		{[]string{bounce.ReasonMailboxFull}, ""},
		{[]string{bounce.ReasonMailboxFull, bounce.ReasonMailboxDisabled, bounce.ReasonUserUnknown}, ""},
		{[]string{"mailbox_full"}, `"mailbox_full" is not a bounce-rule reason: Reasons may name any of domain-not-found, has-moved, mailbox-disabled, mailbox-full, not-accepting-mail, user-unknown`},
		{[]string{""}, "is not a bounce-rule reason"},
		{[]string{bounce.ReasonNetworkError}, `"network-error" says nothing about the recipient and is never counted: Reasons may name any of domain-not-found`},
		{[]string{bounce.ReasonMailboxFull, bounce.ReasonSystemError}, `"system-error" says nothing about the recipient`},
		{[]string{bounce.ReasonRateLimited}, `"rate-limited" says nothing about the recipient`},
		{[]string{bounce.ReasonSpamBlocked}, `"spam-blocked" says nothing about the recipient`},
		{[]string{bounce.ReasonSuppressed}, `"suppressed" says nothing about the recipient`},
	}
	for _, c := range cases {
		err := SoftBounce{Count: 3, Window: time.Hour, SuppressFor: time.Hour, Reasons: c.reasons}.Validate()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v, want valid", c.reasons, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error containing %q", c.reasons, err, c.err)
		}
	}
}
