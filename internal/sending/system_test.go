package sending_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendSystemMail: system mail is stored with one system queue entry
// carrying its envelope sender (null or given), a mail object tagged
// SystemOperation, no Send event; invalid addresses or messages are
// refused with nothing stored.
func TestSendSystemMail(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s, db := newTestStore(t, backend, nil)
			msg := []byte("From: MAILER-DAEMON@petrel.example\nTo: bounces@example.com\nSubject: Delivery Status Notification (Failure)\n\nreport\n")
			for _, c := range []struct {
				mailFrom, rcpt string
				msg            []byte
				rejected       bool
			}{
				{"", "bounces@example.com", msg, false},
				{"notify@petrel.example", "ops@example.org", msg, false},
				{"", "not an address", msg, true},
				{"bad@@x", "ops@example.org", msg, true},
				{"", "ops@example.org", []byte("no header separator and no colon"), true},
			} {
				err := s.SendSystemMail(t.Context(), testAccount, c.mailFrom, c.rcpt, c.msg)
				var rej *sending.RejectedError
				if c.rejected != errors.As(err, &rej) || !c.rejected && err != nil {
					t.Errorf("SendSystemMail(%q, %q) = %v, rejected want %v", c.mailFrom, c.rcpt, err, c.rejected)
				}
			}
			entries, err := queue.New(db).Lease(t.Context(), "check", timeFar(), 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Fatalf("%d queue entries, want 2", len(entries))
			}
			sp := spool.New(db)
			for _, e := range entries {
				if !e.System || e.Account != testAccount {
					t.Errorf("entry %+v is not a system entry of %s", e, testAccount)
				}
				_, mailFrom, raw, err := sp.Envelope(t.Context(), e.MessageID)
				if err != nil || mailFrom != e.MailFrom {
					t.Errorf("spool mail_from %q, entry %q (%v)", mailFrom, e.MailFrom, err)
				}
				var m event.Mail
				if err := json.Unmarshal(raw, &m); err != nil || len(m.Tags["ses:operation"]) != 1 || m.Tags["ses:operation"][0] != sending.SystemOperation ||
					len(m.Destination) != 1 || m.Destination[0] != e.Rcpt || m.CommonHeaders.Subject != "Delivery Status Notification (Failure)" {
					t.Errorf("mail object %s (%v)", raw, err)
				}
				body, err := sp.Body(t.Context(), e.MessageID)
				if err != nil || !containsCRLF(body) {
					t.Errorf("body %q (%v): want CRLF line endings", body, err)
				}
			}
			evs, err := event.NewLog(db).List(t.Context(), event.Filter{Account: testAccount})
			if err != nil || len(evs) != 0 {
				t.Errorf("events %v (%v), want none", evs, err)
			}
		})
	}
}

func timeFar() time.Time { return time.Now().Add(time.Hour) }

func containsCRLF(b []byte) bool { return bytes.Contains(b, []byte("report\r\n")) }
