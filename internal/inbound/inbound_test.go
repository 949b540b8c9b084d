package inbound

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/smtptest"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

const returnDomain = "bounces.petrel.test"

var verpSecret = []byte("inbound-test-verp-secret")

// fixture is a Backend over a real store, with messages Petrel "sent".
type fixture struct {
	t     *testing.T
	db    *store.DB
	be    *Backend
	spool *spool.Spool
	log   *event.Log
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	db := store.OpenTest(t, backend)
	batch := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	rules, err := bounce.NewClassifier("")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, spool: spool.New(db), log: event.NewLog(db)}
	f.be = &Backend{DB: db, Batch: batch, Spool: f.spool, Events: f.log, Rules: rules, Domain: returnDomain,
		Mailboxes: []string{"postmaster", "abuse", "fbl"}, VERPSecret: verpSecret, FeedbackKey: bounce.FeedbackKey(verpSecret),
		Log: slog.New(slog.DiscardHandler)}
	return f
}

// sent stores a message Petrel accepted for dest and returns its id.
func (f *fixture) sent(at time.Time, dest ...string) string {
	f.t.Helper()
	id := event.NewID(at)
	mail, _ := json.Marshal(event.Mail{MessageID: id, Source: "sender@example.com", Destination: dest})
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return f.spool.PutTx(tx, &spool.Message{ID: id, Account: "acme", Created: at, MailFrom: "sender@example.com", Mail: mail, Body: []byte{}})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) events(id string) []event.Event {
	f.t.Helper()
	evs, err := f.log.List(context.Background(), event.Filter{MessageID: id})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// original is the header of a message as delivered, with its feedback token
// line (or none).
func original(id, to, tokenLine string) string {
	return tokenLine + "From: sender@example.com\r\nTo: " + to + "\r\nSubject: Offer\r\nMessage-ID: <" + id + "@petrel.test>\r\n"
}

func arf(orig, rcptTo string) []byte {
	var b bytes.Buffer
	b.WriteString("From: fbl@isp.test\r\nTo: abuse@" + returnDomain + "\r\nSubject: Abuse report\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=feedback-report; boundary=\"F1\"\r\n\r\n")
	b.WriteString("--F1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n")
	b.WriteString("--F1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ISPFeedback/1.0\r\nVersion: 1\r\n")
	if rcptTo != "" {
		b.WriteString("Original-Rcpt-To: " + rcptTo + "\r\n")
	}
	b.WriteString("Arrival-Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n")
	fmt.Fprintf(&b, "--F1\r\nContent-Type: message/rfc822\r\n\r\n%s\r\nBuy now\r\n--F1--\r\n", orig)
	return b.Bytes()
}

func dsn(orig, rcpt string) []byte {
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@mx.far.test\r\nTo: postmaster@" + returnDomain + "\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n")
	b.WriteString("--B1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n")
	fmt.Fprintf(&b, "--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.test\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n", rcpt)
	fmt.Fprintf(&b, "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n%s\r\n--B1--\r\n", orig)
	return b.Bytes()
}

// TestAttribution: only proof that Petrel sent the original attributes a
// report — the signed VERP address, the signed VERP Return-Path of the
// returned original, or the signed feedback token — never the Message-ID
// that every recipient sees (issue 10, finding 2).
func TestAttribution(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			now := time.Now()
			id := f.sent(now, "victim@far.test")
			two := f.sent(now, "a@far.test", "b@far.test")
			other := f.sent(now, "someone@far.test")
			// Separate messages for the VERP proofs: one event per message,
			// recipient and kind, and the token cases made theirs on id.
			viaRP, viaVERP := f.sent(now, "victim@far.test"), f.sent(now, "victim@far.test")
			key := f.be.FeedbackKey
			token := func(id string, key []byte) string {
				return bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, key) + "\r\n"
			}
			tok := bounce.FeedbackToken(id, key)
			otherTok := bounce.FeedbackToken(other, key)
			feedback := []Rcpt{{Addr: "abuse@" + returnDomain}}
			postmaster := []Rcpt{{Addr: "postmaster@" + returnDomain}}
			rpAddr := bounce.ReturnPath(viaRP, "0", returnDomain, verpSecret)
			verpAddr := bounce.ReturnPath(viaVERP, "0", returnDomain, verpSecret)
			verpID, verpIdx, err := bounce.ParseReturnPath(verpAddr, verpSecret)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				rcpts  []Rcpt
				body   []byte
				msg    string     // the message that must get the event ("" = none may)
				kind   event.Kind // the event
				rcpt   string
				by     string
				unattr bool
			}{
				{name: "forged DSN to postmaster quoting only the Message-ID", rcpts: postmaster,
					body: dsn(original(id, "victim@far.test", ""), "victim@far.test"), unattr: true},
				{name: "forged ARF to abuse quoting only the Message-ID", rcpts: feedback,
					body: arf(original(id, "victim@far.test", ""), ""), unattr: true},
				{name: "forged ARF naming the recipient, Message-ID in the text", rcpts: feedback,
					body: arf("Subject: about "+id+"\r\nX-Petrel-Message-ID: "+id+"\r\n", "victim@far.test"), unattr: true},
				{name: "ARF carrying the real token", rcpts: feedback,
					body: arf(original(id, "victim@far.test", token(id, key)), ""), msg: id, kind: event.Complaint, rcpt: "victim@far.test", by: ByToken},
				{name: "DSN to postmaster carrying the real token", rcpts: postmaster,
					body: dsn(original(id, "victim@far.test", token(id, key)), "victim@far.test"), msg: id, kind: event.Bounce, rcpt: "victim@far.test", by: ByToken},
				{name: "token with a bad MAC", rcpts: feedback,
					body: arf(original(id, "victim@far.test", bounce.FeedbackHeader+": "+tok[:len(tok)-4]+"aaaa\r\n"), ""), unattr: true},
				{name: "token whose MAC is another message's", rcpts: feedback,
					body: arf(original(id, "victim@far.test", bounce.FeedbackHeader+": "+id+otherTok[len(other):]+"\r\n"), ""), unattr: true},
				{name: "token signed with another key", rcpts: feedback,
					body: arf(original(id, "victim@far.test", token(id, bounce.FeedbackKey([]byte("attacker")))), ""), unattr: true},
				{name: "token signed with the VERP secret itself", rcpts: feedback,
					body: arf(original(id, "victim@far.test", token(id, verpSecret)), ""), unattr: true},
				{name: "real token, report names a stranger", rcpts: feedback,
					body: arf(original(two, "a@far.test, b@far.test", token(two, key)), "stranger@else.test"), unattr: true},
				{name: "real token, report names one of two destinations", rcpts: feedback,
					body: arf(original(two, "a@far.test, b@far.test", token(two, key)), "b@far.test"), unattr: true},
				{name: "returned original's Return-Path is the VERP address", rcpts: feedback,
					body: arf("Return-Path: <"+rpAddr+">\r\n"+original(viaRP, "victim@far.test", ""), ""), msg: viaRP, kind: event.Complaint, rcpt: "victim@far.test", by: ByReturnedVERP},
				{name: "DSN to the VERP address", rcpts: []Rcpt{{Addr: verpAddr, MessageID: verpID, Index: verpIdx}},
					body: dsn(original(viaVERP, "victim@far.test", ""), "victim@far.test"), msg: viaVERP, kind: event.Bounce, rcpt: "victim@far.test", by: ByVERP},
			}
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := map[string]int{id: len(f.events(id)), two: len(f.events(two)), other: len(f.events(other)),
						viaRP: len(f.events(viaRP)), viaVERP: len(f.events(viaVERP))}
					// A unique line keeps the digest from calling it a duplicate.
					body := append(fmt.Appendf(nil, "X-Case: %d\r\n", i), c.body...)
					res, err := f.be.Receive(t.Context(), "", c.rcpts, body)
					if err != nil {
						t.Fatal(err)
					}
					for m, n := range before {
						evs := f.events(m)
						added := evs[n:]
						if m != c.msg {
							if len(added) != 0 {
								t.Errorf("message %s got %d events, want none", m, len(added))
							}
							continue
						}
						if len(added) != 1 || added[0].Kind != c.kind || added[0].Recipient != c.rcpt {
							t.Errorf("events added to %s: %+v, want one %s for %s", m, added, c.kind, c.rcpt)
						}
					}
					if c.unattr {
						if res.State != StateUnattributed || len(res.Events) != 0 {
							t.Errorf("state %s events %d, want unattributed", res.State, len(res.Events))
						}
					} else if res.State != StateAttributed || res.By != c.by {
						t.Errorf("state %s by %q, want attributed by %s", res.State, res.By, c.by)
					}
				})
			}
		})
	}
}

// TestSizeLimit: the case — four 9 MB messages to postmaster@ that
// filled a 40 MB volume — is refused at DATA, and nothing is stored; a
// report within the limit is taken.
func TestSizeLimit(t *testing.T) {
	f := newFixture(t, "sqlite")
	addr := f.serve(t, admission.Limits{})
	big := append([]byte("Subject: x\r\n\r\n"), bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), 9<<20/78)...)
	for i := range 4 {
		err := send(addr, "", "postmaster@"+returnDomain, big)
		if e, ok := err.(*smtp.SMTPError); !ok || e.Code != 552 || e.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
			t.Fatalf("9 MB message %d: %v, want 552 5.3.4", i, err)
		}
	}
	if err := send(addr, "", "postmaster@"+returnDomain, dsn(original("x", "a@b.test", ""), "a@b.test")); err != nil {
		t.Fatal(err)
	}
	use, err := NewStore(f.db).Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var rows, body int64
	for _, u := range use {
		rows, body = rows+u.Rows, body+u.BodyBytes
	}
	if rows != 1 || body > 4096 {
		t.Errorf("stored %d messages, %d body bytes; want only the small report", rows, body)
	}
}

// TestMemoryBudget: a DATA that does not fit in the shared memory budget
// is refused with a retryable 451 4.3.1, and takes nothing from it.
func TestMemoryBudget(t *testing.T) {
	f := newFixture(t, "sqlite")
	f.be.Memory = admission.NewBudget(DefaultMaxSize - 1)
	addr := f.serve(t, admission.Limits{})
	err := send(addr, "", "postmaster@"+returnDomain, []byte("Subject: x\r\n\r\nx\r\n"))
	if e, ok := err.(*smtp.SMTPError); !ok || e.Code != 451 || e.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("DATA over the memory budget: %v, want 451 4.3.1", err)
	}
	f.be.Memory = admission.NewBudget(DefaultMaxSize)
	if err := send(addr, "", "postmaster@"+returnDomain, []byte("Subject: x\r\n\r\nx\r\n")); err != nil || f.be.Memory.InUse() != 0 {
		t.Errorf("DATA within the budget: %v, %d bytes still reserved", err, f.be.Memory.InUse())
	}
}

// TestConnectionLimits: connections over the total or per-IP cap are
// answered 421 4.7.0 and closed; closing one frees its slot.
func TestConnectionLimits(t *testing.T) {
	f := newFixture(t, "sqlite")
	addr := f.serve(t, admission.Limits{MaxConns: 3, MaxConnsPerIP: 2})
	greet := func(from string) (net.Conn, string) {
		t.Helper()
		c, code, msg := smtptest.Dial(t, from, addr)
		return c.Conn, fmt.Sprintf("%d %s", code, msg)
	}
	a1, l := greet("127.0.0.1")
	if !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first connection: %q", l)
	}
	if _, l = greet("127.0.0.1"); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("second connection: %q", l)
	}
	if _, l = greet("127.0.0.1"); l != "421 4.7.0 Too many connections" {
		t.Errorf("third connection from one IP: %q, want 421 4.7.0", l)
	}
	if _, l = greet("127.0.0.2"); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("another IP: %q", l)
	}
	if _, l = greet("127.0.0.3"); l != "421 4.7.0 Too many connections" {
		t.Errorf("fourth connection in all: %q, want 421 4.7.0", l)
	}
	a1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, l = greet("127.0.0.3"); strings.HasPrefix(l, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed: %q", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRateLimit: past MessagesPerMinute from one IP, MAIL gets 450 4.7.1;
// another IP is not affected; the limiters held stay bounded.
func TestRateLimit(t *testing.T) {
	f := newFixture(t, "sqlite")
	f.be.MessagesPerMinute = 3
	addr := f.serve(t, admission.Limits{})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.far.test"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Mail("", nil); err != nil {
			t.Fatalf("MAIL %d: %v", i, err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Mail("", nil)
	if e, ok := err.(*smtp.SMTPError); !ok || e.Code != 450 || e.EnhancedCode != (smtp.EnhancedCode{4, 7, 1}) {
		t.Errorf("fourth MAIL within a minute: %v, want 450 4.7.1", err)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c2 := smtp.NewClient(conn)
	defer c2.Close()
	if err := c2.Hello("mx2.far.test"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Mail("", nil); err != nil {
		t.Errorf("MAIL from another IP: %v", err)
	}

	r := newIPRates(60, 3)
	now := time.Now()
	for i := range 10 {
		r.allow(fmt.Sprintf("192.0.2.%d", i), now)
	}
	if n := r.tracked(); n > 3 {
		t.Errorf("%d limiters held, want at most 3", n)
	}
}

// TestBodyBudget: every stored body counts against one budget, whatever
// its state — the tester's attack was 100 attributed 1.9 MB DSNs carrying a
// real token, each with different bytes, which stored 185.6 MiB (issue 10,
// finding 1). The oldest bodies are dropped first, rows and parsed reports
// kept, and the flood adds one Bounce, not one per report.
func TestBodyBudget(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			const budget = 64 << 10
			f.be.BodyBudget = budget
			id := f.sent(time.Now(), "victim@far.test")
			tok := bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, f.be.FeedbackKey) + "\r\n"
			st := NewStore(f.db)
			dropped := 0
			for i := range 60 {
				// Attributed (the real token) and unattributed (none)
				// reports in turn, each padded to ~5 KB with varied bytes.
				line := tok
				if i%2 == 1 {
					line = ""
				}
				pad := strings.Repeat(fmt.Sprintf("X-Pad-%d: padding padding padding padding\r\n", i), 100)
				res, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "postmaster@" + returnDomain}}, dsn(original(id, "victim@far.test", line)+pad, "victim@far.test"))
				if err != nil {
					t.Fatal(err)
				}
				dropped += res.BodiesDropped
				if used, err := st.Budget(t.Context()); err != nil || used > budget {
					t.Fatalf("after message %d: %d bytes counted (%v), budget %d", i, used, err, budget)
				}
			}
			use, err := st.Usage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var rows, bodies, attributedRows, attributedBodies int64
			for _, u := range use {
				rows, bodies = rows+u.Rows, bodies+u.BodyBytes
				if u.ReportBytes < u.Rows*50 {
					t.Errorf("%s reports: %d bytes for %d rows, want every parsed report kept", u.State, u.ReportBytes, u.Rows)
				}
				if u.State == StateAttributed || u.State == StateDuplicate {
					attributedRows, attributedBodies = attributedRows+u.Rows, attributedBodies+u.BodyBytes
				}
			}
			if rows != 60 || bodies > budget || bodies < budget/2 || dropped == 0 {
				t.Errorf("rows %d, body bytes stored %d (budget %d), dropped %d", rows, bodies, budget, dropped)
			}
			if attributedRows != 30 || attributedBodies >= 30*5000 {
				t.Errorf("attributed rows %d with %d body bytes: want their bodies in the budget too", attributedRows, attributedBodies)
			}
			recent, err := st.Recent(t.Context(), "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recent) != 60 || recent[0].BodyBytes == 0 || recent[len(recent)-1].BodyBytes != 0 {
				t.Errorf("newest body %d bytes, oldest %d: want the oldest dropped first", recent[0].BodyBytes, recent[len(recent)-1].BodyBytes)
			}
			if n := len(f.events(id)); n != 1 {
				t.Errorf("%d events from 30 reports of one bounce, want 1", n)
			}
			if n, err := st.Purge(t.Context(), "", time.Time{}, 7); err != nil || n != 60 {
				t.Errorf("purge: %d, %v", n, err)
			}
			if used, err := st.Budget(t.Context()); err != nil || used != 0 {
				t.Errorf("budget after purging: %d (%v), want 0", used, err)
			}
		})
	}
}

// delayDSN is a DSN saying delivery to rcpt is delayed.
func delayDSN(orig, rcpt string) []byte {
	return bytes.Replace(bytes.Replace(dsn(orig, rcpt), []byte("Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown"),
		[]byte("Action: delayed\r\nStatus: 4.2.2\r\nDiagnostic-Code: smtp; 452 4.2.2 mailbox full"), 1), []byte("Undelivered Mail Returned to Sender"), []byte("Delayed Mail (still being retried)"), 1)
}

// TestOneEventPerOutcome: return-path mail makes one event per message,
// recipient and kind, however the bytes of the reports vary; later reports
// are stored as duplicate. DeliveryDelay may repeat, once per
// DelayInterval (issue 10, finding 1: each varied report added a Bounce).
func TestOneEventPerOutcome(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			clock := time.Now()
			f.be.Now = func() time.Time { return clock }
			id := f.sent(clock, "victim@far.test")
			tok := bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, f.be.FeedbackKey) + "\r\n"
			verp := bounce.ReturnPath(id, "0", returnDomain, verpSecret)
			mid, idx, _ := bounce.ParseReturnPath(verp, verpSecret)
			postmaster := []Rcpt{{Addr: "postmaster@" + returnDomain}}
			toVERP := []Rcpt{{Addr: verp, MessageID: mid, Index: idx}}
			steps := []struct {
				name    string
				rcpts   []Rcpt
				body    []byte
				advance time.Duration
				want    event.Kind // the event it adds ("" = none)
			}{
				{"bounce by token", postmaster, dsn(original(id, "victim@far.test", tok), "victim@far.test"), 0, event.Bounce},
				{"the bounce again, other bytes", postmaster, dsn(original(id, "victim@far.test", tok)+"X-Other: 1\r\n", "victim@far.test"), 0, ""},
				{"the bounce to the VERP address", toVERP, dsn(original(id, "victim@far.test", ""), "victim@far.test"), 0, ""},
				{"complaint", postmaster, arf(original(id, "victim@far.test", tok), ""), 0, event.Complaint},
				{"the complaint again", postmaster, arf(original(id, "victim@far.test", tok)+"X-Other: 2\r\n", "victim@far.test"), 0, ""},
				{"delay", toVERP, delayDSN(original(id, "victim@far.test", ""), "victim@far.test"), 0, event.DeliveryDelay},
				{"delay 59 minutes later", toVERP, delayDSN(original(id, "victim@far.test", "")+"X-Other: 3\r\n", "victim@far.test"), 59 * time.Minute, ""},
				{"delay an hour after the first", toVERP, delayDSN(original(id, "victim@far.test", "")+"X-Other: 4\r\n", "victim@far.test"), time.Minute, event.DeliveryDelay},
				{"the same delay bytes replayed", toVERP, delayDSN(original(id, "victim@far.test", "")+"X-Other: 4\r\n", "victim@far.test"), 2 * time.Hour, ""},
			}
			for _, s := range steps {
				clock = clock.Add(s.advance)
				before := len(f.events(id))
				res, err := f.be.Receive(t.Context(), "", s.rcpts, s.body)
				if err != nil {
					t.Fatal(err)
				}
				added := f.events(id)[before:]
				switch {
				case s.want == "" && (len(added) != 0 || res.State != StateDuplicate):
					t.Errorf("%s: state %s, %d events added; want duplicate, none", s.name, res.State, len(added))
				case s.want != "" && (len(added) != 1 || added[0].Kind != s.want || res.State != StateAttributed):
					t.Errorf("%s: state %s, events %s; want attributed, one %s", s.name, res.State, kinds(added), s.want)
				}
			}
		})
	}
}

// TestCoRecipientForgery: the tester's scenario (issue 10, finding 2). A
// message went to attacker@ and other@; the attacker, holding their copy
// (its feedback token, its VERP Return-Path), forges a DSN and an ARF
// naming other@. The token signs only the message, so it cannot name
// other@; their own copy's VERP address names attacker@ only. No event for
// other@ ever; at most events for attacker@.
func TestCoRecipientForgery(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			id := f.sent(time.Now(), "attacker@far.test", "other@far.test")
			tok := bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, f.be.FeedbackKey) + "\r\n"
			own := bounce.ReturnPath(id, "0", returnDomain, verpSecret)
			mid, idx, _ := bounce.ParseReturnPath(own, verpSecret)
			rp := "Return-Path: <" + own + ">\r\n"
			to := "attacker@far.test, other@far.test"
			postmaster := []Rcpt{{Addr: "postmaster@" + returnDomain}}
			abuse := []Rcpt{{Addr: "abuse@" + returnDomain}}
			cases := []struct {
				name  string
				rcpts []Rcpt
				body  []byte
				want  event.Kind // the event attacker@ may get ("" = none)
			}{
				{"DSN, real token, naming other@", postmaster, dsn(original(id, to, tok), "other@far.test"), ""},
				{"ARF, real token, naming other@", abuse, arf(original(id, to, tok), "other@far.test"), ""},
				{"ARF, real token, naming nobody", abuse, arf(original(id, to, tok), ""), ""},
				{"DSN, real token, naming both", postmaster, dsn(original(id, to, tok), "other@far.test\r\n\r\nFinal-Recipient: rfc822; attacker@far.test"), ""},
				{"DSN, own VERP Return-Path, naming other@", postmaster, dsn(rp+original(id, to, tok), "other@far.test"), ""},
				{"ARF, own VERP Return-Path, naming other@", abuse, arf(rp+original(id, to, tok), "other@far.test"), ""},
				{"DSN to own VERP address, naming other@", []Rcpt{{Addr: own, MessageID: mid, Index: idx}}, dsn(original(id, to, ""), "other@far.test"), ""},
				{"ARF, own VERP Return-Path, naming attacker@", abuse, arf(rp+original(id, to, tok), "attacker@far.test"), event.Complaint},
				{"DSN to own VERP address, naming both", []Rcpt{{Addr: own, MessageID: mid, Index: idx}},
					dsn(original(id, to, ""), "other@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; attacker@far.test"), event.Bounce},
				{"the ARF replayed", abuse, arf(rp+original(id, to, tok)+"X-Replay: 1\r\n", "attacker@far.test"), ""},
			}
			for _, c := range cases {
				before := len(f.events(id))
				res, err := f.be.Receive(t.Context(), "", c.rcpts, c.body)
				if err != nil {
					t.Fatal(err)
				}
				added := f.events(id)[before:]
				for _, e := range added {
					if e.Recipient != "attacker@far.test" {
						t.Errorf("%s: %s event for %s", c.name, e.Kind, e.Recipient)
					}
				}
				if c.want == "" && len(added) != 0 || c.want != "" && (len(added) != 1 || added[0].Kind != c.want) {
					t.Errorf("%s: events %s, want %q", c.name, kinds(added), c.want)
				}
				if len(added) == 0 && res.State == StateUnattributed && res.Why == "" {
					t.Errorf("%s: unattributed without a reason", c.name)
				}
			}
		})
	}
}

// kinds lists events as "Kind for recipient".
func kinds(evs []event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind)+" for "+e.Recipient)
	}
	return out
}

// TestStoredReportCap: a report naming many recipients with long
// diagnostics (about 1 MiB of parsed report) is stored in at most
// maxStoredReport bytes, saying how many recipients it left out.
func TestStoredReportCap(t *testing.T) {
	f := newFixture(t, "sqlite")
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@mx.far.test\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.test\r\n")
	for i := range 600 {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; r%d@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 %s\r\n", i, strings.Repeat("x", 1500))
	}
	b.WriteString("\r\n--B1--\r\n")
	res, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "postmaster@" + returnDomain}}, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Recipients) != 600 {
		t.Fatalf("parsed %d recipients, want 600", len(res.Report.Recipients))
	}
	var report string
	if err := f.db.QueryRowContext(t.Context(), "SELECT report FROM inbound_messages").Scan(&report); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Recipients []bounce.Recipient `json:"recipients"`
		Omitted    int                `json:"recipientsOmitted"`
	}
	if err := json.Unmarshal([]byte(report), &got); err != nil {
		t.Fatal(err)
	}
	if len(report) > maxStoredReport || got.Omitted == 0 || len(got.Recipients)+got.Omitted != 600 || len(got.Recipients) == 0 {
		t.Errorf("stored report: %d bytes, %d recipients, %d omitted; want at most %d bytes, all 600 accounted for",
			len(report), len(got.Recipients), got.Omitted, maxStoredReport)
	}
}

// TestLongLines: a bounce whose returned original has a 100 KB line is
// taken — a bounce receiver must not refuse real bounces for RFC 5321
// §4.5.3.1.6's 1000-octet limit (issue 10: it got 554 5.0.0) — while a
// command line over 2000 octets is still refused.
func TestLongLines(t *testing.T) {
	f := newFixture(t, "sqlite")
	addr := f.serve(t, admission.Limits{})
	body := dsn(original("x", "a@far.test", "")+"X-Long: "+strings.Repeat("y", 100<<10)+"\r\n", "a@far.test")
	if err := send(addr, "", "postmaster@"+returnDomain, body); err != nil {
		t.Fatalf("DSN with a 100 KB line: %v, want 250", err)
	}
	use, err := NewStore(f.db).Usage(t.Context())
	if err != nil || len(use) != 1 || use[0].BodyBytes < 100<<10 {
		t.Errorf("stored: %+v (%v), want the whole DSN", use, err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	fmt.Fprintf(c, "EHLO mx.far.test\r\nNOOP %s\r\n", strings.Repeat("z", 3000))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no reply to a 3000-octet command: %v", err)
		}
		if strings.HasPrefix(line, "250 ") || strings.HasPrefix(line, "250-") {
			continue
		}
		if !strings.HasPrefix(line, "500 ") {
			t.Errorf("3000-octet command: %q, want 500", line)
		}
		break
	}
}

// TestMailFrom: MAIL FROM takes the null path and valid RFC 5321 §4.1.2
// paths and refuses others with 553 5.1.7 (issue 10: <bad@@x> got 250).
func TestMailFrom(t *testing.T) {
	f := newFixture(t, "sqlite")
	addr := f.serve(t, admission.Limits{})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.far.test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from string
		ok   bool
	}{
		{"", true},
		{"MAILER-DAEMON@mx.far.test", true},
		{"fbl-reports@isp.test", true},
		{"bad@@example.com", false},
		{"a@-bad-.test", false},
		{"a..b@x.test", false},
	} {
		err := c.Mail(tc.from, nil)
		if tc.ok && err != nil {
			t.Errorf("MAIL FROM:<%s>: %v, want 250", tc.from, err)
		}
		if e, ok := err.(*smtp.SMTPError); !tc.ok && (!ok || e.Code != 553 || e.EnhancedCode != (smtp.EnhancedCode{5, 1, 7})) {
			t.Errorf("MAIL FROM:<%s>: %v, want 553 5.1.7", tc.from, err)
		}
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
}

// serve runs the receiver on a loopback port behind Listen.
func (f *fixture) serve(t *testing.T, lim admission.Limits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(f.be, "mx.petrel.test")
	go s.Serve(Listen(l, lim))
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// send sends raw to the receiver at addr as a remote MTA would.
func send(addr, from, to string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// TestMixedReport: a DSN that reports one recipient failed and another still
// delayed is a bounce for the first and a delay for the second (RFC 3464
// §2.3.3): the delayed recipient gets a DeliveryDelay, never a Bounce.
func TestMixedReport(t *testing.T) {
	f := newFixture(t, store.Backends()[0])
	id := f.sent(time.Now(), "gone@far.test", "slow@far.test")
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@mx.far.test\r\nSubject: Warning: could not send message\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n")
	b.WriteString("--B1\r\nContent-Type: text/plain\r\n\r\nOne address failed; the other is still being tried.\r\n\r\n")
	b.WriteString("--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.test\r\n\r\n" +
		"Final-Recipient: rfc822; gone@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n" +
		"Final-Recipient: rfc822; slow@far.test\r\nAction: delayed\r\nStatus: 4.4.1\r\nDiagnostic-Code: smtp; 421 4.4.1 connection timed out\r\n")
	fmt.Fprintf(&b, "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n%s\r\n--B1--\r\n", original(id, "gone@far.test, slow@far.test", ""))
	want := map[string]event.Kind{"gone@far.test": event.Bounce, "slow@far.test": event.DeliveryDelay}
	for i, rcpt := range []string{"gone@far.test", "slow@far.test"} {
		verp := bounce.ReturnPath(id, fmt.Sprint(i), returnDomain, verpSecret)
		msgID, idx, err := bounce.ParseReturnPath(verp, verpSecret)
		if err != nil {
			t.Fatal(err)
		}
		// Each VERP address gets its copy; a unique line keeps the digest
		// from calling the second a duplicate.
		body := append(fmt.Appendf(nil, "X-Case: %d\r\n", i), b.Bytes()...)
		res, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: verp, MessageID: msgID, Index: idx}}, body)
		if err != nil {
			t.Fatal(err)
		}
		if res.State != StateAttributed || len(res.Events) != 1 {
			t.Fatalf("%s: state %s, %d events (%s)", rcpt, res.State, len(res.Events), res.Why)
		}
	}
	got := map[string]event.Kind{}
	for _, e := range f.events(id) {
		got[e.Recipient] = e.Kind
	}
	for rcpt, k := range want {
		if got[rcpt] != k {
			t.Errorf("%s: event %s, want %s (all: %v)", rcpt, got[rcpt], k, got)
		}
	}
}

// TestCustomMailFromDomain: a VERP address at an identity's custom MAIL
// FROM domain is accepted and attributes its DSN, over SMTP, as one at the
// return-path domain does, and so does a returned original whose
// Return-Path is such an address; at that domain a forged VERP address or
// a feedback mailbox is refused (Relaying denied).
func TestCustomMailFromDomain(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			addr := f.serve(t, admission.Limits{})
			now := time.Now()
			id := f.sent(now, "victim@far.test")
			verp := bounce.ReturnPath(id, "0", "bounce.example.com", verpSecret)
			if err := send(addr, "", verp, dsn(original(id, "victim@far.test", ""), "victim@far.test")); err != nil {
				t.Fatalf("DSN to %s: %v", verp, err)
			}
			evs := f.events(id)
			if len(evs) != 1 || evs[0].Kind != event.Bounce || evs[0].Recipient != "victim@far.test" {
				t.Fatalf("events %+v, want one Bounce for victim@far.test", evs)
			}
			forged := verp[:strings.IndexByte(verp, '@')-4] + "aaaa@bounce.example.com"
			for _, to := range []string{forged, "postmaster@bounce.example.com"} {
				err := send(addr, "", to, dsn(original(id, "victim@far.test", ""), "victim@far.test"))
				if e, ok := err.(*smtp.SMTPError); !ok || e.Code != 550 || e.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
					t.Errorf("RCPT TO:<%s>: %v, want 550 5.7.1", to, err)
				}
			}
			viaRP := f.sent(now, "victim@far.test")
			rp := bounce.ReturnPath(viaRP, "0", "bounce.example.com", verpSecret)
			res, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "abuse@" + returnDomain}},
				arf("Return-Path: <"+rp+">\r\n"+original(viaRP, "victim@far.test", ""), ""))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != StateAttributed || res.By != ByReturnedVERP {
				t.Errorf("returned original with a custom-domain Return-Path: %s by %q", res.State, res.By)
			}
		})
	}
}
