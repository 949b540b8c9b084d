package sending_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestFeedbackAddressIdentity: the FeedbackForwardingEmailAddress (v1
// ReturnPath) must be covered by a verified identity of the account, as
// the From address (SES: "must be either individually verified with
// Amazon SES, or from a domain that has been verified"); an accepted one
// is recorded with the message, for feedback forwarding. SendBulk checks
// the call's one address once, and records it with each entry's message.
func TestFeedbackAddressIdentity(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s, db := newTestStore(t, backend, nil)
			sp := spool.New(db)
			rcpt := mustAddr(t, "rcpt@example.net")
			cases := []struct {
				name       string
				feedback   string   // "": none
				unverified []string // nil: accepted
			}{
				{"none", "", nil},
				{"verified domain", "fb@example.com", nil},
				{"verified domain, display name", "Feedback <FB@Example.com>", nil},
				{"the From address", "news@example.com", nil},
				{"unverified domain", "fb@other.test", []string{"fb@other.test"}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					var fb *address.Address
					want := ""
					if c.feedback != "" {
						a := mustAddr(t, c.feedback)
						fb, want = &a, a.Email()
					}
					raw := []byte("From: news@example.com\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
					id, err := s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendEmail",
						Recipients: []address.Address{rcpt}, Raw: raw, FeedbackAddress: fb})
					var unv *sending.UnverifiedError
					if c.unverified != nil {
						if !errors.As(err, &unv) || !slices.Equal(unv.Identities, c.unverified) {
							t.Fatalf("Send = %q, %v; want unverified %q", id, err, c.unverified)
						}
					} else {
						if err != nil {
							t.Fatalf("Send: %v", err)
						}
						env, err := sp.Envelope(t.Context(), id)
						if err != nil || env.FeedbackAddress != want {
							t.Fatalf("recorded feedback address %q (%v), want %q", env.FeedbackAddress, err, want)
						}
					}

					r := bulkOf(t, "a@example.net", "b@example.net")
					r.FeedbackAddress = fb
					res, err := s.SendBulk(t.Context(), r)
					if c.unverified != nil {
						// A sender identity decides for the whole call.
						if !errors.As(err, &unv) || !slices.Equal(unv.Identities, c.unverified) {
							t.Fatalf("SendBulk = %v, %v; want unverified %q", statuses(res), err, c.unverified)
						}
						return
					}
					if got := statuses(res); err != nil || !slices.Equal(got, []sending.BulkStatus{sending.BulkSuccess, sending.BulkSuccess}) {
						t.Fatalf("SendBulk = %v, %v; want SUCCESS each", got, err)
					}
					for _, r := range res {
						if r.Status != sending.BulkSuccess {
							continue
						}
						if env, err := sp.Envelope(t.Context(), r.MessageID); err != nil || env.FeedbackAddress != want {
							t.Fatalf("bulk entry's recorded feedback address %q (%v), want %q", env.FeedbackAddress, err, want)
						}
					}
				})
			}
		})
	}
}

// TestFeedbackAddressSandbox: in the sandbox the feedback address is a
// sender, not a recipient: a verified one goes with any recipient the
// sandbox allows (a simulator address), and an unverified one is refused
// as a sender is, named once.
func TestFeedbackAddressSandbox(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := newQuotaHarness(t, backend)
			cases := []struct {
				feedback, rcpt string
				unverified     []string // nil: accepted
			}{
				{"friend@elsewhere.test", "bounce@simulator.amazonses.com", nil},
				{"fb@example.com", "friend@elsewhere.test", nil},
				{"stranger@elsewhere.test", "success@simulator.amazonses.com", []string{"stranger@elsewhere.test"}},
				{"stranger@elsewhere.test", "x@other.test", []string{"stranger@elsewhere.test", "x@other.test"}},
			}
			for _, c := range cases {
				h.advance(time.Second)
				fb := mustAddr(t, c.feedback)
				_, err := h.s.Send(t.Context(), sending.Request{Account: "sandy", Operation: "SendEmail", Recipients: []address.Address{mustAddr(t, c.rcpt)},
					Raw: []byte("From: me@example.com\r\nSubject: s\r\n\r\nbody\r\n"), FeedbackAddress: &fb})
				var unv *sending.UnverifiedError
				switch {
				case c.unverified == nil && err != nil:
					t.Errorf("feedback %s to %s: %v", c.feedback, c.rcpt, err)
				case c.unverified != nil && (!errors.As(err, &unv) || !slices.Equal(unv.Identities, c.unverified)):
					t.Errorf("feedback %s to %s: %v; want unverified %q", c.feedback, c.rcpt, err, c.unverified)
				}
			}
		})
	}
}
