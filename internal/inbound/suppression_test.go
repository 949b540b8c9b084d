package inbound

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestReportsSuppress: an attributed DSN's hard bounce puts the recipient
// on the account list (with the message's ID) and the global list, and an
// attributed ARF complaint puts it on the account list, in the
// transaction that records the event; an unattributed report adds nothing.
func TestReportsSuppress(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			list := suppression.New(f.db, nil)
			f.be.Suppression = list
			now := time.Now()
			get := func(s string) (suppression.Entry, error) {
				a, _ := address.Parse(s)
				return list.Get(t.Context(), "acme", a)
			}
			token := func(id string) string {
				return bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, f.be.FeedbackKey) + "\r\n"
			}
			postmaster := []Rcpt{{Addr: "postmaster@" + returnDomain}}

			id := f.sent(now, "gone@far.test")
			if _, err := f.be.Receive(t.Context(), "", postmaster, dsn(original(id, "gone@far.test", token(id)), "gone@far.test")); err != nil {
				t.Fatal(err)
			}
			e, err := get("gone@far.test")
			if err != nil || e.Reason != suppression.Bounce || e.MessageID != id || e.FeedbackID == "" || !strings.Contains(e.Cause, "user-unknown") {
				t.Fatalf("bounce entry %+v, %v", e, err)
			}
			a, _ := address.Parse("gone@far.test")
			if _, err := list.GlobalGet(t.Context(), a); err != nil {
				t.Fatalf("global: %v", err)
			}

			cid := f.sent(now, "angry@far.test")
			if _, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "abuse@" + returnDomain}}, arf(original(cid, "angry@far.test", token(cid)), "angry@far.test")); err != nil {
				t.Fatal(err)
			}
			if e, err := get("angry@far.test"); err != nil || e.Reason != suppression.Complaint || e.MessageID != cid {
				t.Fatalf("complaint entry %+v, %v", e, err)
			}

			// No proof: unattributed, nothing added.
			stray := f.sent(now, "stray@far.test")
			if _, err := f.be.Receive(t.Context(), "", postmaster, dsn(original(stray, "stray@far.test", ""), "stray@far.test")); err != nil {
				t.Fatal(err)
			}
			if _, err := get("stray@far.test"); !errors.Is(err, suppression.ErrNotFound) {
				t.Fatalf("unattributed report added: %v", err)
			}
		})
	}
}
