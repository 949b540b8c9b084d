package sending_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCustomMailFrom: the queue entries of a message whose envelope sender's
// identity has a verified (SUCCESS) custom MAIL FROM domain carry it as
// their return-path domain; one not verified gives the default ("") under
// USE_DEFAULT_VALUE and a *MailFromNotVerifiedError, nothing stored, under
// REJECT_MESSAGE (SES §1.7); the envelope sender, not the From header,
// decides.
func TestCustomMailFrom(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			var ids *identity.Service
			s, db := newTestStore(t, backend, func(ctx context.Context, i *identity.Service) error {
				ids = i
				_, err := i.Create(ctx, testAccount, "other.test", true)
				return err
			})
			ctx := t.Context()
			q := queue.New(db)
			rcpt, _ := address.Parse("rcpt@example.net")
			send := func(from string, mailFrom *address.Address) (string, error) {
				raw := []byte("From: " + from + "\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
				return s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail", MailFrom: mailFrom,
					Recipients: []address.Address{rcpt}, Raw: raw})
			}
			returnPath := func(id string) string {
				t.Helper()
				es, err := q.Lease(ctx, "t", time.Now().Add(time.Minute), 100, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					if e.MessageID == id {
						return e.ReturnPathDomain
					}
				}
				t.Fatalf("no queue entry of %s", id)
				return ""
			}
			// The MAIL FROM status comes from the verification engine: set
			// starts the domain afresh (cleared, its records dropped, then
			// set again) with DNS answering as status needs, and checks it.
			dns := dnstest.New(t)
			checker := &identity.Checker{S: ids, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				MailFrom: identity.MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}}
			const mf = "bounce.example.com"
			set := func(behavior, status string) {
				t.Helper()
				if err := ids.PutMailFrom(ctx, testAccount, "example.com", "", behavior); err != nil {
					t.Fatal(err)
				}
				if _, err := checker.Check(ctx, testAccount, "example.com"); err != nil {
					t.Fatal(err)
				}
				dns.Remove(mf)
				dns.Fail(mf, dnstest.Healthy)
				switch status {
				case identity.StatusSuccess:
					dns.MX(mf, 10, "feedback.petrel.test")
					dns.TXT(mf, "v=spf1 include:petrel.test ~all")
				case identity.StatusFailed: // several MX records
					dns.MX(mf, 10, "feedback.petrel.test")
					dns.MX(mf, 20, "backup.example.com")
					dns.TXT(mf, "v=spf1 include:petrel.test ~all")
				case identity.StatusTemporaryFailure:
					dns.Fail(mf, dnstest.ServFail)
				}
				if err := ids.PutMailFrom(ctx, testAccount, "example.com", mf, behavior); err != nil {
					t.Fatal(err)
				}
				if _, err := checker.Check(ctx, testAccount, "example.com"); err != nil {
					t.Fatal(err)
				}
				if m, err := ids.GetMailFrom(ctx, testAccount, "example.com"); err != nil || m.Status != status {
					t.Fatalf("MAIL FROM %+v, %v; want %s", m, err, status)
				}
			}
			id, err := send("a@example.com", nil)
			if err != nil || returnPath(id) != "" {
				t.Fatalf("no MAIL FROM domain: %v", err)
			}
			set(identity.RejectMessage, identity.StatusSuccess)
			if id, err = send("a@example.com", nil); err != nil {
				t.Fatal(err)
			}
			if got := returnPath(id); got != "bounce.example.com" {
				t.Errorf("SUCCESS: return-path domain %q", got)
			}
			other, _ := address.Parse("x@other.test")
			if id, err = send("a@example.com", &other); err != nil || returnPath(id) != "" {
				t.Errorf("envelope sender of another identity: %v", err)
			}
			for _, status := range []string{identity.StatusPending, identity.StatusFailed, identity.StatusTemporaryFailure} {
				set(identity.UseDefaultValue, status)
				if id, err = send("a@example.com", nil); err != nil || returnPath(id) != "" {
					t.Errorf("USE_DEFAULT_VALUE, %s: %v", status, err)
				}
				set(identity.RejectMessage, status)
				_, err = send("a@example.com", nil)
				var nv *sending.MailFromNotVerifiedError
				if !errors.As(err, &nv) || nv.Domain != "bounce.example.com" || nv.Identity != "example.com" || nv.Status != status {
					t.Errorf("REJECT_MESSAGE, %s: %v", status, err)
				}
				// The cause is the records' actual state (SERVFAIL, two
				// MX records, no such name), not a blanket "not found".
				if err != nil && (!strings.Contains(err.Error(), " is "+status+" (its ") || !strings.Contains(err.Error(), " record at bounce.example.com is "+status+" (") ||
					strings.Contains(err.Error(), "MX or SPF record is not found")) {
					t.Errorf("REJECT_MESSAGE, %s: message %q", status, err)
				}
			}
			// Another identity's sender is not concerned.
			if _, err = send("x@other.test", nil); err != nil {
				t.Errorf("sender of another identity: %v", err)
			}
		})
	}
}
