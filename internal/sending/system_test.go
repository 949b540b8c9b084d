package sending_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
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
				env, err := sp.Envelope(t.Context(), e.MessageID)
				raw := env.Mail
				if err != nil || env.MailFrom != e.MailFrom {
					t.Errorf("spool mail_from %q, entry %q (%v)", env.MailFrom, e.MailFrom, err)
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

// TestSendSystemMailSuppressed: a system mail recipient that the
// account's suppression lists forbid (the account list; the global list
// when the account list is not in use) is skipped — nil, nothing stored,
// nothing queued — while others are queued; another account's list does
// not apply.
func TestSendSystemMailSuppressed(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s, db := newTestStore(t, backend, nil)
			supp := suppression.New(db, nil)
			s.Suppression = supp
			put := func(account, addr string) {
				a, _ := address.Parse(addr)
				if err := supp.Put(ctx, account, suppression.Entry{Address: a, Reason: suppression.Bounce, LastUpdate: time.Now(), Cause: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			put(testAccount, "listed@example.com")
			put("other", "elsewhere@example.com")
			g, _ := address.Parse("global@example.com")
			if err := supp.GlobalAdd(ctx, g, time.Hour, "test"); err != nil {
				t.Fatal(err)
			}
			msg := []byte("From: MAILER-DAEMON@petrel.example\nSubject: report\n\nreport\n")
			send := func(rcpt string) {
				t.Helper()
				if err := s.SendSystemMail(ctx, testAccount, "", rcpt, msg); err != nil {
					t.Fatalf("SendSystemMail(%s) = %v", rcpt, err)
				}
			}
			queued := func() []string {
				t.Helper()
				var rcpts []string
				rows, err := db.QueryContext(ctx, "SELECT rcpt FROM queue ORDER BY rcpt")
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var r string
					rows.Scan(&r)
					rcpts = append(rcpts, r)
				}
				return rcpts
			}
			// The account list is in use (the default policy): it decides,
			// and overrides the global list.
			for _, r := range []string{"listed@example.com", "Listed@Example.com", "ok@example.com", "elsewhere@example.com", "global@example.com"} {
				send(r)
			}
			if got, want := queued(), []string{"elsewhere@example.com", "global@example.com", "ok@example.com"}; !slices.Equal(got, want) {
				t.Errorf("account list in use: queued %q, want %q", got, want)
			}
			// The account list not in use: the global list applies.
			if err := supp.SetAttributes(ctx, testAccount, suppression.Policy{}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "DELETE FROM queue"); err != nil {
				t.Fatal(err)
			}
			for _, r := range []string{"global@example.com", "listed@example.com"} {
				send(r)
			}
			if got, want := queued(), []string{"listed@example.com"}; !slices.Equal(got, want) {
				t.Errorf("account list not in use: queued %q, want %q", got, want)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages").Scan(&n); err != nil || n != 4 {
				t.Errorf("%d spool records (%v), want 4: a skipped message is not stored", n, err)
			}
		})
	}
}
