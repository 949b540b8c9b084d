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
	batch := store.NewBatcher(db, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { batch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
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
			key := f.be.FeedbackKey
			token := func(id string, key []byte) string {
				return bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, key) + "\r\n"
			}
			tok := bounce.FeedbackToken(id, key)
			otherTok := bounce.FeedbackToken(other, key)
			feedback := []Rcpt{{Addr: "abuse@" + returnDomain}}
			postmaster := []Rcpt{{Addr: "postmaster@" + returnDomain}}
			verpAddr := bounce.ReturnPath(id, "0", returnDomain, verpSecret)
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
					body: arf(original(two, "a@far.test, b@far.test", token(two, key)), "b@far.test"), msg: two, kind: event.Complaint, rcpt: "b@far.test", by: ByToken},
				{name: "returned original's Return-Path is the VERP address", rcpts: feedback,
					body: arf("Return-Path: <"+verpAddr+">\r\n"+original(id, "victim@far.test", ""), ""), msg: id, kind: event.Complaint, rcpt: "victim@far.test", by: ByReturnedVERP},
				{name: "DSN to the VERP address", rcpts: []Rcpt{{Addr: verpAddr, MessageID: verpID, Index: verpIdx}},
					body: dsn(original(id, "victim@far.test", ""), "victim@far.test"), msg: id, kind: event.Bounce, rcpt: "victim@far.test", by: ByVERP},
			}
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := map[string]int{id: len(f.events(id)), two: len(f.events(two)), other: len(f.events(other))}
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
						if len(added) != 1 || added[0].Kind != c.kind || added[0].Recipient != c.rcpt || string(added[0].Mail) == "{}" {
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
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return c, strings.TrimSpace(line)
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

// TestUnattributedBudget: many small unattributed messages stay within the
// budget — the oldest bodies are dropped, every row and parsed report is
// kept — and an attributed message's body is never dropped for it.
func TestUnattributedBudget(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			const budget = 16 << 10
			f.be.UnattributedBudget = budget
			id := f.sent(time.Now(), "victim@far.test")
			tok := bounce.FeedbackHeader + ": " + bounce.FeedbackToken(id, f.be.FeedbackKey) + "\r\n"
			if _, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "fbl@" + returnDomain}}, arf(original(id, "victim@far.test", tok), "")); err != nil {
				t.Fatal(err)
			}
			st := NewStore(f.db)
			dropped := 0
			for i := range 200 {
				body := append(fmt.Appendf(nil, "X-N: %d\r\n", i), dsn(original(id, "victim@far.test", "")+strings.Repeat("X-Pad: padding\r\n", 40), "victim@far.test")...)
				res, err := f.be.Receive(t.Context(), "", []Rcpt{{Addr: "postmaster@" + returnDomain}}, body)
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
			var rows, kept int64
			for _, u := range use {
				rows += u.Rows
				if u.State == StateUnattributed {
					kept += u.BodyBytes
					if u.ReportBytes < u.Rows*50 {
						t.Errorf("reports of unattributed mail: %d bytes for %d rows", u.ReportBytes, u.Rows)
					}
				}
				if u.State == StateAttributed && (u.Rows != 1 || u.BodyBytes == 0) {
					t.Errorf("attributed mail: %+v, want its body kept", u)
				}
			}
			if rows != 201 || kept > budget || kept < budget/2 || dropped == 0 {
				t.Errorf("rows %d, unattributed body bytes %d (budget %d), dropped %d", rows, kept, budget, dropped)
			}
			recent, err := st.Recent(t.Context(), StateUnattributed, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recent) != 200 || recent[0].BodyBytes == 0 || recent[len(recent)-1].BodyBytes != 0 {
				t.Errorf("newest body %d bytes, oldest %d: want the oldest dropped first", recent[0].BodyBytes, recent[len(recent)-1].BodyBytes)
			}
			if n, err := st.Purge(t.Context(), StateUnattributed, time.Time{}, 7); err != nil || n != 200 {
				t.Errorf("purge: %d, %v", n, err)
			}
			if used, err := st.Budget(t.Context()); err != nil || used != 0 {
				t.Errorf("budget after purging: %d (%v), want 0", used, err)
			}
		})
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

func send(addr, from, to string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mx.far.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	return w.Close()
}
