package inbound

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestMailtoUnsubscribe, over SMTP: RCPT u-CODE@ (a local part within 64
// octets) is accepted at any domain when the code verifies (in any case:
// local parts may be case-folded) and its message's unsubscribe is
// stored, and refused as before when either is not so; DATA unsubscribes
// the contact from the token's topic with one Subscription event on the
// message; a repeat changes nothing and records nothing; the change's
// mail is stored once for audit, its body charged to the body budget; a
// token whose list was deleted is accepted and changes nothing.
func TestMailtoUnsubscribe(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f, cs, key := newUnsubscribeFixture(t, backend)
			ctx := t.Context()
			addr := f.serve(t, admission.Limits{})
			id := f.sent(time.Now(), "jane@far.test")
			tok := contacts.Token{Account: "acme", List: "news", Topic: "sports", Email: "jane@far.test", MessageID: id}
			mailto, _ := contacts.Headers(tok, key, "", returnDomain)
			rcpt := strings.TrimSuffix(strings.TrimPrefix(mailto, "<mailto:"), "?subject=unsubscribe>")
			if local, _, _ := strings.Cut(rcpt, "@"); len(local) > 64 {
				t.Fatalf("local part of %q has %d octets, more than RFC 5321's 64", rcpt, len(local))
			}
			body := []byte("From: jane@far.test\r\nTo: " + rcpt + "\r\nSubject: unsubscribe\r\n\r\nplease\r\n")
			var se *smtp.SMTPError
			if err := send(addr, "jane@far.test", rcpt, body); !errors.As(err, &se) || se.Code != 550 {
				t.Fatalf("RCPT before the message's unsubscribe is stored: %v, want 550", err)
			}
			if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return cs.PutMailtoTx(tx, tok, key, time.Now()) }); err != nil {
				t.Fatal(err)
			}

			sig, _, _ := strings.Cut(strings.TrimPrefix(rcpt, "u-"), "@")
			flipped := "a"
			if sig[30] == 'a' {
				flipped = "b"
			}
			forged, _ := contacts.MailtoLocal(id, contacts.TokenKey([]byte("other")))
			for _, bad := range []string{
				"u-" + sig[:30] + flipped + sig[31:] + "@" + returnDomain,
				forged + "@" + returnDomain,
				"u-" + tok.Sign(key) + "@" + returnDomain, // the long form of old
				"u-@" + returnDomain,
			} {
				if err := send(addr, "jane@far.test", bad, body); !errors.As(err, &se) || se.Code != 550 {
					t.Errorf("RCPT %.40s…: %v, want 550", bad, err)
				}
			}
			if _, err := cs.GetContact(ctx, "acme", "news", "jane@far.test"); !errors.Is(err, contacts.ErrNotFound) {
				t.Fatalf("a refused token changed the contact: %v", err)
			}

			upper := "U-" + strings.ToUpper(sig) + "@other-domain.test"
			for i, to := range []string{rcpt, upper} {
				if err := send(addr, "jane@far.test", to, body); err != nil {
					t.Fatalf("send #%d to %.40s…: %v", i+1, to, err)
				}
			}
			c, err := cs.GetContact(ctx, "acme", "news", "jane@far.test")
			if st, _ := c.Preference("sports"); err != nil || st != contacts.OptOut || c.UnsubscribeAll || len(c.TopicPreferences) != 1 {
				t.Fatalf("contact: %+v, %v", c, err)
			}
			var subs []event.Event
			for _, e := range f.events(id) {
				if e.Kind == event.Subscription {
					subs = append(subs, e)
				}
			}
			if len(subs) != 1 || !strings.Contains(string(subs[0].Detail), `"source":"UnsubscribeHeader"`) || subs[0].Recipient != "jane@far.test" {
				t.Fatalf("subscription events: %+v", subs)
			}
			rows, err := NewStore(f.db).Recent(ctx, StateUnsubscribe, 10)
			if err != nil || len(rows) != 1 || rows[0].BodyBytes != int64(len(body)) || rows[0].MessageID != id || rows[0].Kind != KindUnsubscribe {
				t.Fatalf("audit rows: %+v, %v", rows, err)
			}
			if n, _ := NewStore(f.db).Budget(ctx); n != int64(len(body)) {
				t.Errorf("unsubscribe mail charged %d bytes to the body budget, want %d", n, len(body))
			}

			if err := cs.DeleteList(ctx, "acme", "news"); err != nil {
				t.Fatal(err)
			}
			if err := send(addr, "jane@far.test", rcpt, body); err != nil {
				t.Fatalf("after the list was deleted: %v", err)
			}
			if n := len(f.events(id)); n != 1 {
				t.Errorf("%d events after the list was deleted, want 1", n)
			}
			if rows, _ := NewStore(f.db).Recent(ctx, StateUnsubscribe, 10); len(rows) != 1 {
				t.Errorf("%d audit rows after the list was deleted, want 1", len(rows))
			}
		})
	}
}

// TestMailtoUnsubscribeAnswerKinds: a recipient with '<' and '>' in a
// quoted local part unsubscribes by mailto: like any other; a token naming
// what the contacts refuse is a permanent 554 after DATA, never 451.
func TestMailtoUnsubscribeAnswerKinds(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			ctx := t.Context()
			key := contacts.TokenKey(verpSecret)
			cs := contacts.New(f.db, nil)
			if err := cs.CreateList(ctx, "acme", contacts.List{Name: "news"}); err != nil {
				t.Fatal(err)
			}
			f.be.Unsubscribes = &contacts.Unsubscriber{Contacts: cs, DB: f.db, Events: f.log, Key: key}
			addr := f.serve(t, admission.Limits{})
			for _, c := range []struct {
				email string
				code  int // 0: accepted
			}{
				{`"<x>"@dest.test`, 0},
				{`"a<b>"@dest.test`, 0},
				{"not an address", 554},
			} {
				// Each mailto: address stands for one message's unsubscribe.
				id := f.sent(time.Now(), "jane@far.test")
				tok := contacts.Token{Account: "acme", List: "news", Email: c.email, MessageID: id}
				if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return cs.PutMailtoTx(tx, tok, key, time.Now()) }); err != nil {
					t.Fatal(err)
				}
				local, _ := contacts.MailtoLocal(id, key)
				rcpt := local + "@" + returnDomain
				err := send(addr, "postmaster@far.test", rcpt, []byte("Subject: unsubscribe\r\n\r\nplease\r\n"))
				var se *smtp.SMTPError
				switch {
				case c.code == 0 && err != nil, c.code != 0 && (!errors.As(err, &se) || se.Code != c.code):
					t.Errorf("%s: %v, want %d", c.email, err, c.code)
				case c.code == 0:
					if ct, err := cs.GetContact(ctx, "acme", "news", c.email); err != nil || !ct.UnsubscribeAll {
						t.Errorf("%s: contact %+v, %v", c.email, ct, err)
					}
				}
			}
		})
	}
}
