package contacts

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestMailtoStored: a mailto: code is valid only once its message's row
// is stored (a MAC that verifies is not enough) and until the row is
// pruned; PrepareMailto applies the stored token's unsubscribe (the topic
// here) and, once the row is pruned, has nothing to do.
func TestMailtoStored(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, backend)
			ctx := t.Context()
			tok := Token{Account: "acme", List: "main", Topic: "news", Email: "jane@example.com", MessageID: testMsgID}
			local, _ := MailtoLocal(testMsgID, testTokenKey)
			code := local[len(MailtoPrefix):]
			if ok, err := u.MailtoValid(ctx, code); ok || err != nil {
				t.Fatalf("before the row is stored: MailtoValid = %v, %v; want false", ok, err)
			}
			sent := time.UnixMilli(1_700_000_000_000)
			if err := u.DB.Tx(ctx, func(tx *sql.Tx) error { return s.PutMailtoTx(tx, tok, testTokenKey, sent) }); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{code, strings.ToUpper(code)} {
				if ok, err := u.MailtoValid(ctx, c); !ok || err != nil {
					t.Fatalf("MailtoValid(%q) = %v, %v; want true", c, ok, err)
				}
			}
			forged, _ := MailtoLocal(testMsgID, TokenKey([]byte("another node")))
			if ok, _ := u.MailtoValid(ctx, forged[len(MailtoPrefix):]); ok {
				t.Fatal("a code made with another key is valid")
			}
			account, id, apply, err := u.PrepareMailto(ctx, code)
			if err != nil || account != "acme" || id != testMsgID || apply == nil {
				t.Fatalf("PrepareMailto = %q, %q, %v, %v", account, id, apply != nil, err)
			}
			var changed bool
			if err := u.DB.Tx(ctx, func(tx *sql.Tx) error { changed, err = apply(tx); return err }); err != nil || !changed {
				t.Fatalf("apply = %v, %v", changed, err)
			}
			c, err := s.GetContact(ctx, "acme", "main", "jane@example.com")
			if st, _ := c.Preference("news"); err != nil || st != OptOut || c.UnsubscribeAll {
				t.Fatalf("contact %+v, %v: want news OPT_OUT", c, err)
			}
			if n := len(subscriptionEvents(t, ev)); n != 1 {
				t.Errorf("%d subscription events, want 1", n)
			}

			if n, err := s.PruneMailtoBefore(ctx, sent, 10); n != 0 || err != nil {
				t.Fatalf("pruning before the message: %d, %v", n, err)
			}
			if n, err := s.PruneMailtoBefore(ctx, sent.Add(time.Millisecond), 10); n != 1 || err != nil {
				t.Fatalf("pruning after the message: %d, %v", n, err)
			}
			if ok, err := u.MailtoValid(ctx, code); ok || err != nil {
				t.Fatalf("after pruning: MailtoValid = %v, %v; want false", ok, err)
			}
			if _, id, apply, err := u.PrepareMailto(ctx, code); err != nil || apply != nil || id != testMsgID {
				t.Fatalf("after pruning: PrepareMailto = %q, %v, %v; want nothing to do", id, apply != nil, err)
			}
		})
	}
}
