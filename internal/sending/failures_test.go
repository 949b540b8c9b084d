package sending_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestDKIMFailureIsInternal (issue 11, finding 1): a DKIM key that cannot
// sign is Petrel's failure, not the message's. It was a RejectedError
// (554 / MessageRejected, permanent: the client drops the message); it is
// an InternalError naming the identity, which the edges answer as
// temporary, and nothing is stored.
func TestDKIMFailureIsInternal(t *testing.T) {
	cases := []struct {
		name    string
		corrupt string // SQL that breaks the stored key of example.com
		op      string
	}{
		// The key opens but the signer refuses it (a row written wrong).
		{"key cannot sign", "UPDATE dkim_keys SET selector = '' WHERE identity = 'example.com'", "DKIM signing"},
		// The sealed key does not open (wrong master key, damaged row).
		{"key cannot be loaded", "UPDATE dkim_keys SET key_sealed = ? WHERE identity = 'example.com'", "loading DKIM key"},
	}
	for _, backend := range store.Backends() {
		for _, c := range cases {
			t.Run(backend+"/"+c.name, func(t *testing.T) {
				s, db := newTestStore(t, backend, func(ctx context.Context, ids *identity.Service) error {
					_, err := ids.GenerateDKIM(ctx, testAccount, "example.com", dkim.Ed25519)
					return err
				})
				var args []any
				if c.op == "loading DKIM key" {
					args = append(args, []byte("not a sealed key, long enough to hold a nonce"))
				}
				if _, err := db.ExecContext(t.Context(), db.Rebind(c.corrupt), args...); err != nil {
					t.Fatal(err)
				}
				rcpt, _ := address.Parse("rcpt@example.net")
				id, err := s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendRawEmail",
					Recipients: []address.Address{rcpt}, Raw: []byte("From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n")})
				var in *sending.InternalError
				if !errors.As(err, &in) || in.Op != c.op || in.Identity != "example.com" {
					t.Fatalf("Send = %q, %v (%T); want an InternalError %q for example.com", id, err, err, c.op)
				}
				var rej *sending.RejectedError
				var st *sending.StorageError
				if errors.As(err, &rej) || errors.As(err, &st) {
					t.Fatalf("Send = %v: also a %T", err, err)
				}
				assertNothingStored(t, db)
			})
		}
	}
}

// assertNothingStored fails unless the store holds no message, queue
// entry or event.
func assertNothingStored(t *testing.T, db *store.DB) {
	t.Helper()
	for _, table := range []string{"messages", "queue", "events"} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows in %s after a failed Send", n, table)
		}
	}
}

// TestSendCancelled: a Send whose context has ended before the message is
// handed to the store returns the context's error and stores nothing (an
// SMTP session cut short by shutdown answers 421 then; the client retries).
func TestSendCancelled(t *testing.T) {
	s, db := newTestStore(t, "sqlite", nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rcpt, _ := address.Parse("rcpt@example.net")
	id, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail",
		Recipients: []address.Address{rcpt}, Raw: []byte("From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %q, %v; want context.Canceled", id, err)
	}
	assertNothingStored(t, db)
}

// TestMailSource (issue 11, finding 2): mail.source is what the caller gave
// as the sender — the API's FromEmailAddress with its display name, as SES
// reports it (../shared/spec/ses.md §4.2) — else the envelope sender.
func TestMailSource(t *testing.T) {
	s, db := newTestStore(t, "sqlite", nil)
	rcpt, _ := address.Parse("rcpt@example.net")
	bounces, _ := address.Parse("bounces@example.com")
	cases := []struct {
		name     string
		source   string
		mailFrom *address.Address
		want     string
	}{
		{"API FromEmailAddress with a display name", "Sender Name <sender@example.com>", nil, "Sender Name <sender@example.com>"},
		{"API FromEmailAddress, address only", "sender@example.com", nil, "sender@example.com"},
		{"SMTP MAIL FROM", "", &bounces, "bounces@example.com"},
		{"Raw content without FromEmailAddress: From", "", nil, "a@example.com"},
	}
	sp := spool.New(db) // the "mail" object of every event of the message
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendEmail", Source: c.source,
				MailFrom: c.mailFrom, Recipients: []address.Address{rcpt},
				Raw: []byte("From: A <a@example.com>\r\nSubject: s\r\n\r\nbody\r\n")})
			if err != nil {
				t.Fatal(err)
			}
			_, obj, err := sp.Mail(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			var mail event.Mail
			if err := json.Unmarshal(obj, &mail); err != nil {
				t.Fatal(err)
			}
			if mail.Source != c.want {
				t.Errorf("mail.source = %q, want %q", mail.Source, c.want)
			}
		})
	}
}
