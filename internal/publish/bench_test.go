package publish

import (
	"bytes"
	"context"
	"mime"
	"mime/multipart"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/message"
)

// cachedFlags answers HasNotifications and HasNotificationTopics as the
// services' caches do: a map read under a read lock.
type cachedFlags struct {
	mu sync.RWMutex
	m  map[string]bool
}

func (c *cachedFlags) has(account string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[account]
}
func (c *cachedFlags) HasNotifications(_ context.Context, account string) bool { return c.has(account) }
func (c *cachedFlags) HasNotificationTopics(_ context.Context, account string) bool {
	return c.has(account)
}
func (c *cachedFlags) EventDestinations(context.Context, string, string) ([]configset.EventDestination, error) {
	return nil, nil
}
func (c *cachedFlags) NotificationAttributes(context.Context, string, string) (identity.NotificationAttributes, error) {
	return identity.NotificationAttributes{}, nil
}

// TestWants: which event types write an outbox row, with and without
// anything configured.
func TestWants(t *testing.T) {
	flags := &cachedFlags{m: map[string]bool{"configured": true}}
	r := New(Config{}, nil, flags, flags, nil)
	bare := New(Config{}, nil, nil, nil, nil)
	for _, c := range []struct {
		account string
		kind    event.Kind
		want    bool
	}{
		{"plain", event.Bounce, true}, {"plain", event.Complaint, true}, {"plain", event.Delivery, false},
		{"plain", event.Send, false}, {"plain", event.DeliveryDelay, false}, {"plain", event.Reject, false},
		{"configured", event.Send, true}, {"configured", event.Delivery, true}, {"configured", event.DeliveryDelay, true},
		{"configured", event.Reject, true}, {"configured", event.AutoResponse, false},
	} {
		if got := r.Wants(c.account, c.kind); got != c.want {
			t.Errorf("Wants(%s, %s) = %v, want %v", c.account, c.kind, got, c.want)
		}
	}
	if !bare.Wants("x", event.Bounce) || bare.Wants("x", event.Delivery) {
		t.Error("a router without services wants Bounce only")
	}
}

// BenchmarkWants is the per-event cost of Wants on the send path (it runs
// in the event's transaction): one or two cached flag reads.
func BenchmarkWants(b *testing.B) {
	flags := &cachedFlags{m: map[string]bool{"configured": true}}
	r := New(Config{}, nil, flags, flags, nil)
	for _, c := range []struct {
		name, account string
		kind          event.Kind
	}{{"Send-unconfigured", "plain", event.Send}, {"Delivery-unconfigured", "plain", event.Delivery},
		{"Send-configured", "configured", event.Send}, {"Bounce", "plain", event.Bounce}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Wants(c.account, c.kind)
			}
		})
	}
}

// FuzzFeedback: whatever a stored bounce or complaint and its mail object
// hold, the feedback emails parse as multipart/report with three parts, and
// no line breaks RFC 5322's 998-character limit.
func FuzzFeedback(f *testing.F) {
	f.Add("jane@example.net", "smtp; 550 5.1.1 user unknown", "5.1.1", "Subject", "Hello", "abuse", "fb-1")
	f.Add("a@b", "x\r\ny", "", "X\r\nInjected: yes", "v\nw", "", "")
	f.Fuzz(func(t *testing.T, rcpt, diag, status, hname, hvalue, ftype, fid string) {
		fb := Feedback{Hostname: "petrel.example", To: "s@example.com", MailFrom: "s@example.com", Time: time.Unix(0, 0),
			Mail: event.Mail{Headers: []message.Header{{Name: hname, Value: hvalue}}}}
		for _, raw := range [][]byte{
			fb.DSN(event.BounceDetail{FeedbackID: fid, BouncedRecipients: []event.BouncedRecipient{{EmailAddress: rcpt, Status: status, DiagnosticCode: diag}}}),
			fb.ARF(event.ComplaintDetail{FeedbackID: fid, ComplaintFeedbackType: ftype, ComplainedRecipients: []event.Recipient{{EmailAddress: rcpt}}}),
		} {
			for _, line := range bytes.Split(raw, []byte("\r\n")) {
				if len(line) > 998 {
					t.Fatalf("line of %d characters", len(line))
				}
			}
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			r := multipart.NewReader(m.Body, params["boundary"])
			n := 0
			for {
				if _, err := r.NextPart(); err != nil {
					break
				}
				n++
			}
			if n != 3 {
				t.Fatalf("%d parts:\n%s", n, raw)
			}
		}
	})
}
