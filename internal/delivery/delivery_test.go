package delivery

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/queue"
)

const plain = "From: sender@example.com\r\nTo: rcpt@dest.test\r\nSubject: test\r\n\r\nHello.\r\n"

// TestTimeoutDefaults: the SMTP time limits default to RFC 5321
// §4.5.3.2's, with Petrel's (Postfix's) choices for connect and EHLO.
func TestTimeoutDefaults(t *testing.T) {
	var c Config
	c.defaults()
	want := Timeouts{Connect: 30 * time.Second, Greeting: 5 * time.Minute, Hello: 5 * time.Minute,
		Mail: 5 * time.Minute, Rcpt: 5 * time.Minute, Data: 2 * time.Minute, DataBlock: 3 * time.Minute, DataEnd: 10 * time.Minute}
	if c.Timeouts != want {
		t.Fatalf("default timeouts %+v, want %+v", c.Timeouts, want)
	}
	c = Config{Timeouts: Timeouts{DataEnd: time.Second}}
	c.defaults()
	if c.Timeouts.DataEnd != time.Second || c.Timeouts.Mail != 5*time.Minute {
		t.Fatalf("a set timeout is kept, the others defaulted: %+v", c.Timeouts)
	}
}

// TestSlowEndOfData: a server that takes longer to answer the final "."
// than any command limit, but within the end-of-data limit, gets the
// message once: no timeout, no retry, one Delivery event.
func TestSlowEndOfData(t *testing.T) {
	mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{
		DataEnd: func(mxtest.Call) mxtest.Step { return mxtest.Step{Delay: time.Second} },
	})
	short := 300 * time.Millisecond
	h := newHarness(t, Config{RelayHost: mx.Addr, Timeouts: Timeouts{Connect: short, Greeting: short, Hello: short,
		Mail: short, Rcpt: short, Data: short, DataBlock: short, DataEnd: 5 * time.Second}})
	h.run()
	evs := h.final(h.sendNow("rcpt@dest.test", "dest.test", plain))
	if count(evs, event.Delivery) != 1 || count(evs, event.DeliveryDelay) != 0 {
		t.Fatalf("events %v, want one Delivery and no DeliveryDelay", kinds(evs))
	}
	if n := len(mx.Messages()); n != 1 {
		t.Fatalf("MX received %d messages, want 1", n)
	}
}

// TestPanicFreesWorker: a panic in an attempt, made while the site's only
// worker holds the only connection slot, is recovered with its stack
// logged; the slot and the worker are free again, the entry is retried and
// delivered, and the site goes on delivering.
func TestPanicFreesWorker(t *testing.T) {
	mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{})
	h := newHarness(t, Config{RelayHost: mx.Addr, MaxConnsPerSite: 1, MaxConns: 1, IdleTime: 10 * time.Second})
	h.d.beforeAttempt = func(e *queue.Entry) {
		if strings.HasPrefix(e.Rcpt, "panic@") && e.Attempts == 0 {
			panic("injected by the test")
		}
	}
	h.run()
	before := panics.Load()
	// A first delivery leaves the worker holding an idle connection.
	if evs := h.final(h.sendNow("first@dest.test", "dest.test", plain)); count(evs, event.Delivery) != 1 {
		t.Fatalf("first message: %v", kinds(evs))
	}
	evs := h.final(h.sendNow("panic@dest.test", "dest.test", plain))
	if got := kinds(evs); len(got) != 2 || got[0] != event.DeliveryDelay || got[1] != event.Delivery {
		t.Fatalf("panicked entry: events %v, want DeliveryDelay then Delivery", got)
	}
	dd := detail[event.DeliveryDelayDetail](t, evs[0])
	if dd.DelayedRecipients[0].Status != "4.3.0" || !strings.Contains(dd.DelayedRecipients[0].DiagnosticCode, "internal error") {
		t.Errorf("delay after a panic: %+v", dd.DelayedRecipients[0])
	}
	if evs := h.final(h.sendNow("after@dest.test", "dest.test", plain)); count(evs, event.Delivery) != 1 {
		t.Fatalf("message after the panic: %v", kinds(evs))
	}
	if n := panics.Load() - before; n != 1 {
		t.Fatalf("%d panics counted, want 1", n)
	}
	panics.Add(-1) // expected: TestMain must not fail the run for it
	logs := h.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "injected by the test") || !strings.Contains(logs, "runtime/debug.Stack") {
		t.Errorf("panic not logged at Error with its stack:\n%s", logs)
	}
	if n := len(mx.Messages()); n != 3 {
		t.Errorf("MX received %d messages, want 3", n)
	}
}

// TestExpiry: when retries run out the Bounce carries SES's expiry status
// and diagnostic, with the minutes from acceptance to the deadline and the
// last answer; its type is the last answer's when Permanent, else
// Transient.
func TestExpiry(t *testing.T) {
	cases := []struct {
		rcpt    string
		reply   string // the MX's answer to RCPT, every time
		typ     string
		subType string
		last    string
	}{
		{"busy@dest.test", "451 4.3.0 Try again later", bounce.Transient, bounce.General, "451 4.3.0 Try again later"},
		{"gone@dest.test", "450 4.1.1 No such user here", bounce.Permanent, bounce.NoEmail, "450 4.1.1 No such user here"},
	}
	byRcpt := map[string]string{}
	for _, c := range cases {
		byRcpt[c.rcpt] = c.reply
	}
	mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{
		Rcpt: func(c mxtest.Call) mxtest.Step { return mxtest.Step{Reply: byRcpt[c.Path]} },
	})
	h := newHarness(t, Config{RelayHost: mx.Addr})
	h.run()
	for _, c := range cases {
		t.Run(c.rcpt, func(t *testing.T) {
			deadline := time.Now().Add(shortLife)
			created := deadline.Add(-14 * time.Hour) // SES's default: 840 minutes
			evs := h.final(h.send(c.rcpt, "dest.test", plain, created, deadline))
			b := detail[event.BounceDetail](t, find(t, evs, event.Bounce))
			want := "smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<" + c.last + ">"
			r := b.BouncedRecipients[0]
			if r.Status != "4.4.7" || r.DiagnosticCode != want || r.Action != "failed" {
				t.Errorf("bounced recipient %+v, want status 4.4.7 and diagnostic %q", r, want)
			}
			if b.BounceType != c.typ || b.BounceSubType != c.subType {
				t.Errorf("bounce %s/%s, want %s/%s", b.BounceType, b.BounceSubType, c.typ, c.subType)
			}
			if count(evs, event.DeliveryDelay) == 0 {
				t.Errorf("no DeliveryDelay before the expiry: %v", kinds(evs))
			}
		})
	}
}

// TestDiagnosticOneLine: a DNS failure whose error joins several errors
// (errors.Join: lines separated by "\n") is reported on one line.
func TestDiagnosticOneLine(t *testing.T) {
	dns := dnstest.New(t)
	dns.MX("joined.test", 10, "nohost.joined.test") // the MX host has neither A nor AAAA: two errors, joined
	h := newHarness(t, Config{DNSServer: dns.Addr})
	h.run()
	now := time.Now()
	evs := h.final(h.send("x@joined.test", "joined.test", plain, now, now.Add(2*time.Second)))
	var codes []string
	for _, e := range evs {
		switch e.Kind {
		case event.DeliveryDelay:
			codes = append(codes, detail[event.DeliveryDelayDetail](t, e).DelayedRecipients[0].DiagnosticCode)
		case event.Bounce:
			codes = append(codes, detail[event.BounceDetail](t, e).BouncedRecipients[0].DiagnosticCode)
		}
	}
	if len(codes) < 2 {
		t.Fatalf("events %v, want DeliveryDelay and Bounce", kinds(evs))
	}
	for _, c := range codes {
		if strings.ContainsFunc(c, unicode.IsControl) || !strings.Contains(c, "DNS A nohost.joined.test") || !strings.Contains(c, "; DNS AAAA nohost.joined.test") {
			t.Errorf("diagnosticCode %q: want both DNS errors on one line", c)
		}
	}
}

func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"DNS A x: no\nDNS AAAA x: no", "DNS A x: no; DNS AAAA x: no"},
		{"a\r\nb\r\n", "a; b"},
		{"\na\n\n\nb", "a; b"},
		{"tab\there\x00nul\x7fdel\u0085nel", "tab here nul del nel"},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
		{"ünïcode stays", "ünïcode stays"},
	} {
		if got := oneLine(c.in); got != c.want {
			t.Errorf("oneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestExtensionRefusals: a message needing SMTPUTF8 or 8BITMIME that the
// server does not offer bounces Permanent with Petrel's reply, and nothing
// of the transaction is sent.
func TestExtensionRefusals(t *testing.T) {
	mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{EHLO: []string{"250-mx.test", "250-PIPELINING", "250 SIZE 1000000"}})
	h := newHarness(t, Config{RelayHost: mx.Addr})
	h.run()
	cases := []struct {
		body, status, diagnostic string
	}{
		{"Subject: caf\xc3\xa9\r\n\r\nHello.\r\n", "5.6.7",
			"smtp; 550 5.6.7 SMTPUTF8 is required, but was not offered by host 127.0.0.1"},
		{"Subject: cafe\r\n\r\nCaf\xc3\xa9.\r\n", "5.6.3",
			"smtp; 554 5.6.3 Conversion required but not supported: message has 8-bit content and host 127.0.0.1 does not offer 8BITMIME (RFC 6152)"},
	}
	for _, c := range cases {
		evs := h.final(h.sendNow("rcpt@dest.test", "dest.test", c.body))
		b := detail[event.BounceDetail](t, find(t, evs, event.Bounce))
		r := b.BouncedRecipients[0]
		if b.BounceType != bounce.Permanent || b.BounceSubType != bounce.General || r.Status != c.status || r.DiagnosticCode != c.diagnostic {
			t.Errorf("bounce %s/%s %+v, want Permanent/General %s %q", b.BounceType, b.BounceSubType, r, c.status, c.diagnostic)
		}
		if count(evs, event.DeliveryDelay) != 0 {
			t.Errorf("refusal was retried: %v", kinds(evs))
		}
	}
	if cmds := mx.Commands(); len(cmds) != 0 {
		t.Errorf("MX received %q, want nothing", cmds)
	}
}

// TestConnectionRefusals: a refused greeting, or EHLO and HELO both refused,
// is about the sending host, never the recipient (issue 12, kind 1): delayed
// with delayType IPFailure when the words say so, finally a Transient bounce
// whose reason is not a recipient's, and the diagnostic names what was
// refused.
func TestConnectionRefusals(t *testing.T) {
	cases := []struct {
		name   string
		script mxtest.Script
		delay  string // delayType
		reason string
		diag   string // the expiry bounce's diagnostic holds this
	}{
		{"greeting", mxtest.Script{Greeting: "554 5.7.1 mx.test: your IP 127.0.0.1 is blocked using zen.spamhaus.test"},
			bounce.DelayIPFailure, bounce.ReasonIPBlocklisted, "Greeting refused: 554 5.7.1 mx.test: your IP 127.0.0.1 is blocked"},
		{"HELO", mxtest.Script{Hello: func(c mxtest.Call) mxtest.Step { return mxtest.Step{Reply: "550 5.7.1 Access denied"} }},
			bounce.DelayIPFailure, bounce.ReasonHELORejected, "HELO refused: 550 5.7.1 Access denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mx := mxtest.StartScript(t, "127.0.0.1", 0, c.script)
			h := newHarness(t, Config{RelayHost: mx.Addr})
			h.run()
			now := time.Now()
			evs := h.final(h.send("rcpt@dest.test", "dest.test", plain, now, now.Add(2*time.Second)))
			d := detail[event.DeliveryDelayDetail](t, find(t, evs, event.DeliveryDelay))
			if d.DelayType != c.delay {
				t.Errorf("delayType %s, want %s", d.DelayType, c.delay)
			}
			b := detail[event.BounceDetail](t, find(t, evs, event.Bounce))
			if b.BounceType != bounce.Transient || b.Reason != c.reason || !strings.Contains(b.BouncedRecipients[0].DiagnosticCode, c.diag) {
				t.Errorf("bounce %s %s %q, want Transient %s with %q", b.BounceType, b.Reason, b.BouncedRecipients[0].DiagnosticCode, c.reason, c.diag)
			}
		})
	}
}

// TestSystemMailReturnPath: a system entry goes out with its own envelope
// sender — the null reverse-path <> or the address given — never the VERP
// return path, which a normal entry of the same harness still gets, at the
// return-path domain or at the entry's custom MAIL FROM domain.
func TestSystemMailReturnPath(t *testing.T) {
	mx := mxtest.Start(t, "127.0.0.1", 0)
	h := newHarness(t, Config{RelayHost: mx.Addr, ReturnPathDomain: "bounces.petrel.test"})
	h.run()
	now := time.Now()
	cases := []struct {
		rcpt   string
		e      queue.Entry
		prefix string // of MAIL FROM as the MX saw it
		domain string // of a VERP MAIL FROM
	}{
		{"null@example.net", queue.Entry{System: true}, "", ""},
		{"given@example.net", queue.Entry{System: true, MailFrom: "notify@petrel.test"}, "notify@petrel.test", ""},
		{"verp@example.net", queue.Entry{}, "b-msg-", "@bounces.petrel.test"},
		{"custom@example.net", queue.Entry{ReturnPathDomain: "bounce.example.com"}, "b-msg-", "@bounce.example.com"},
	}
	for _, c := range cases {
		c.e.Rcpt, c.e.Domain, c.e.Created, c.e.Deadline = c.rcpt, "example.net", now, now.Add(time.Minute)
		id := h.sendEntry(c.e, "Subject: s\r\n\r\nbody\r\n")
		if evs := h.final(id); evs[len(evs)-1].Kind != event.Delivery {
			t.Fatalf("%s: events %v", c.rcpt, kinds(evs))
		}
	}
	from := map[string]string{}
	for _, m := range mx.Messages() {
		from[m.To[0]] = m.From
	}
	for _, c := range cases {
		got, ok := from[c.rcpt]
		switch {
		case !ok:
			t.Errorf("%s: not received", c.rcpt)
		case c.prefix == "" && got != "":
			t.Errorf("%s: MAIL FROM <%s>, want <>", c.rcpt, got)
		case c.prefix != "" && (!strings.HasPrefix(got, c.prefix) || !strings.HasSuffix(got, c.domain)):
			t.Errorf("%s: MAIL FROM <%s>, want %s…", c.rcpt, got, c.prefix)
		}
	}
}
