package suppression

// Failing test from the issue-13 break review (branch i13-brk).

import (
	"errors"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestBrkTLSRequiredNeverSoftSuppresses: a message of a configuration set
// with TlsPolicy REQUIRE to a host without STARTTLS ends, at its deadline,
// in a Transient bounce of reason network-error, rule
// delivery-tls-required (internal/delivery/attempt.go: "the address is not
// in question"). The soft-bounce policy counts those bounces and suppresses
// the recipient — for every configuration set and every later message,
// though only the sender's own TLS requirement failed (the issue: a verdict
// that is sender- or transaction-scoped never suppresses the recipient).
// Reproduced live: two sends with a REQUIRE set to a relay without
// STARTTLS, policy 2/1h/1h, listed the recipient with cause "soft-bounce
// policy: 2 transient bounces (network-error) within 1h0m0s".
func TestBrkTLSRequiredNeverSoftSuppresses(t *testing.T) {
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
						Reason: bounce.ReasonNetworkError, Rule: "delivery-tls-required", FeedbackID: "fb"}})
				clk.advance(time.Minute)
			}
			if e, err := l.Get(t.Context(), "acct", a); !errors.Is(err, ErrNotFound) {
				t.Errorf("TLS-required expiries suppressed the recipient: %+v, %v", e, err)
			}
		})
	}
}

// TestBrkSoftBounceEntryReplacesPermanentComplaint: an address the account
// list holds for COMPLAINT, with no expiry, is still mailed through a
// configuration set whose override names BOUNCE only (docs: such an
// override does not suppress a COMPLAINT entry). When those messages soft
// bounce, the set's soft-bounce policy overwrites the permanent COMPLAINT
// entry with an expiring BOUNCE one (PutTx's upsert replaces whatever is
// there); when it lifts, the complaint is gone and the account's own mail
// reaches a recipient who complained. An automatic addition should never
// shorten or weaken an entry already on the list.
func TestBrkSoftBounceEntryReplacesPermanentComplaint(t *testing.T) {
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
			if err != nil || e.Reason != Complaint {
				t.Errorf("the permanent COMPLAINT entry, after 2 soft bounces through a BOUNCE-only set and 2 h: %+v, %v", e, err)
			}
		})
	}
}
