package inbound

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/store"
)

// newUnsubscribeFixture is newFixture with account acme's contact list
// news (topics sports and weather, both OPT_IN by default) and the
// Unsubscriber applying its mailto: unsubscribes; it returns the token key.
func newUnsubscribeFixture(t *testing.T, backend string) (*fixture, *contacts.Service, []byte) {
	t.Helper()
	f := newFixture(t, backend)
	key := contacts.TokenKey(verpSecret)
	cs := contacts.New(f.db, nil)
	if err := cs.CreateList(t.Context(), "acme", contacts.List{Name: "news", Topics: []contacts.Topic{
		{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn},
		{Name: "weather", DisplayName: "Weather", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
		t.Fatal(err)
	}
	f.be.Unsubscribes = &contacts.Unsubscriber{Contacts: cs, DB: f.db, Events: f.log, Key: key}
	return f, cs, key
}

// TestMailtoAuditRowsBounded, over SMTP: mail to an unsubscribe address
// is stored for audit only when it changed the contact — sending the same
// token again (anyone holding a forwarded copy can) adds no row — and the
// stored mail counts against the body budget like other inbound mail:
// past it the oldest bodies are dropped.
func TestMailtoAuditRowsBounded(t *testing.T) {
	steps := []struct {
		msg   int    // which message the unsubscribe link came from
		topic string // "" the whole list
		sends int
		// rows stored, and of them (newest first) those keeping their body,
		// after the step.
		rows, bodies int
	}{
		{0, "sports", 3, 1, 1},
		{1, "weather", 2, 2, 1},
		{0, "sports", 2, 2, 1},
		{2, "", 4, 3, 1},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f, cs, key := newUnsubscribeFixture(t, backend)
			ctx := t.Context()
			body := []byte("From: jane@far.test\r\nSubject: unsubscribe\r\n\r\n" + strings.Repeat("please\r\n", 100))
			f.be.BodyBudget = int64(len(body)) * 3 / 2
			addr := f.serve(t, admission.Limits{})
			st := NewStore(f.db)
			ids := map[int]string{}
			for i, step := range steps {
				tok := contacts.Token{Account: "acme", List: "news", Topic: step.topic, Email: "jane@far.test", MessageID: ids[step.msg]}
				if tok.MessageID == "" {
					tok.MessageID = f.sent(time.Now(), "jane@far.test")
					ids[step.msg] = tok.MessageID
					if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return cs.PutMailtoTx(tx, tok, key, time.Now()) }); err != nil {
						t.Fatal(err)
					}
				}
				mailto, _ := contacts.Headers(tok, key, "", returnDomain)
				rcpt := strings.TrimSuffix(strings.TrimPrefix(mailto, "<mailto:"), "?subject=unsubscribe>")
				for range step.sends {
					if err := send(addr, "jane@far.test", rcpt, body); err != nil {
						t.Fatalf("step %d: %v", i+1, err)
					}
				}
				rows, err := st.Recent(ctx, StateUnsubscribe, 100)
				if err != nil {
					t.Fatal(err)
				}
				bodies := 0
				for j, r := range rows {
					if r.BodyBytes != 0 && (j != bodies || r.BodyBytes != int64(len(body))) {
						t.Errorf("step %d: row %d body %d bytes (rows %+v)", i+1, j, r.BodyBytes, rows)
					}
					if r.BodyBytes != 0 {
						bodies++
					}
				}
				if len(rows) != step.rows || bodies != step.bodies {
					t.Errorf("step %d: %d rows, %d with their body; want %d, %d", i+1, len(rows), bodies, step.rows, step.bodies)
				}
				if n, err := st.Budget(ctx); err != nil || n != int64(step.bodies*len(body)) {
					t.Errorf("step %d: budget charged %d bytes (%v), want %d", i+1, n, err, step.bodies*len(body))
				}
			}
		})
	}
}
