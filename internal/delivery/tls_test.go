package delivery

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/queue"
)

// shortLife is the delivery window of entries whose attempts must fail and
// then expire: long enough that one attempt (a TLS handshake that fails, on
// a loaded machine under the race detector) always ends inside it, so the
// attempt is a DeliveryDelay before the expiry's Bounce.
const shortLife = 2 * time.Second

// requireTLS queues one entry whose configuration set requires TLS, to be
// delivered within life.
func (h *harness) requireTLS(rcpt string, life time.Duration) string {
	h.t.Helper()
	now := time.Now()
	return h.sendEntry(queue.Entry{Rcpt: rcpt, Domain: "dest.test", Created: now, Deadline: now.Add(life),
		ConfigurationSet: "secure", TLSRequired: true}, plain)
}

// TestTLSRequiredWithoutTLS: an entry whose configuration set requires TLS
// (TlsPolicy REQUIRE), at a relay host that does not offer STARTTLS,
// refuses it, or fails the handshake, is never sent: no MAIL reaches the
// host, each attempt is a DeliveryDelay with Petrel's 421 4.7.x reply, and
// at the deadline it bounces Transient with SES's expiry diagnostic.
func TestTLSRequiredWithoutTLS(t *testing.T) {
	cases := []struct {
		name   string
		script mxtest.Script
		status string
		text   string
	}{
		{"not offered", mxtest.Script{}, "4.7.4", "421 4.7.4 TLS is required by the configuration set, but host 127.0.0.1 did not offer STARTTLS"},
		{"refused", mxtest.Script{TLS: true, StartTLS: func(mxtest.Call) mxtest.Step {
			return mxtest.Step{Reply: "454 4.7.0 TLS not available due to local problem"}
		}},
			"4.7.4", "421 4.7.4 TLS is required by the configuration set, but host 127.0.0.1 refused STARTTLS: 454 4.7.0 TLS not available due to local problem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mx := mxtest.StartScript(t, "127.0.0.1", 0, c.script)
			h := newHarness(t, Config{RelayHost: mx.Addr})
			h.run()
			evs := h.final(h.requireTLS("rcpt@dest.test", shortLife))
			if count(evs, event.DeliveryDelay) == 0 {
				t.Fatalf("events %v, want DeliveryDelay before the Bounce", kinds(evs))
			}
			d := detail[event.DeliveryDelayDetail](t, find(t, evs, event.DeliveryDelay))
			r := d.DelayedRecipients[0]
			if r.Status != c.status || !strings.HasPrefix(r.DiagnosticCode, "smtp; "+c.text) || d.DelayType != bounce.DelayTransientCommunication {
				t.Errorf("delay %s %+v, want %s %s %q", d.DelayType, r, bounce.DelayTransientCommunication, c.status, c.text)
			}
			b := detail[event.BounceDetail](t, find(t, evs, event.Bounce))
			br := b.BouncedRecipients[0]
			if b.BounceType != bounce.Transient || b.BounceSubType != bounce.General || br.Status != "4.4.7" ||
				!strings.Contains(br.DiagnosticCode, "Message expired") || !strings.Contains(br.DiagnosticCode, c.text) {
				t.Errorf("bounce %s/%s %+v, want Transient/General 4.4.7 expiry with %q", b.BounceType, b.BounceSubType, br, c.text)
			}
			if cmds := mx.Commands(); len(cmds) != 0 {
				t.Errorf("MX received %q, want no transaction", cmds)
			}
			if n := len(mx.Messages()); n != 0 {
				t.Errorf("MX received %d messages, want none", n)
			}
		})
	}
}

// TestTLSRequiredHandshakeFails: a host that accepts STARTTLS and then
// answers the handshake with something that is not TLS gets no plain-text
// retry for an entry requiring TLS (as it would for one that does not):
// the entry is deferred with 421 4.7.5 and bounces Transient at its
// deadline, and no MAIL command ever reaches the host. The host is a few
// lines of raw SMTP here, since mxtest servers always complete the
// handshake.
func TestTLSRequiredHandshakeFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mails atomic.Int64
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				io.WriteString(conn, "220 mx.test ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
					case "EHLO":
						io.WriteString(conn, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
					case "STARTTLS":
						io.WriteString(conn, "220 2.0.0 Ready to start TLS\r\nthis is not a TLS record\r\n")
						return
					case "MAIL":
						mails.Add(1)
						io.WriteString(conn, "250 2.1.0 Ok\r\n")
					case "DATA":
						io.WriteString(conn, "554 5.3.0 This test host takes no message\r\n")
					case "QUIT":
						io.WriteString(conn, "221 2.0.0 Bye\r\n")
						return
					default:
						io.WriteString(conn, "250 2.0.0 Ok\r\n")
					}
				}
			}()
		}
	}()
	h := newHarness(t, Config{RelayHost: l.Addr().String()})
	h.run()
	evs := h.final(h.requireTLS("rcpt@dest.test", shortLife))
	d := detail[event.DeliveryDelayDetail](t, find(t, evs, event.DeliveryDelay))
	want := "smtp; 421 4.7.5 TLS is required by the configuration set, but the TLS handshake with host 127.0.0.1 failed: "
	if r := d.DelayedRecipients[0]; r.Status != "4.7.5" || !strings.HasPrefix(r.DiagnosticCode, want) {
		t.Errorf("delay %+v, want 4.7.5 %q…", r, want)
	}
	if b := detail[event.BounceDetail](t, find(t, evs, event.Bounce)); b.BounceType != bounce.Transient {
		t.Errorf("bounce type %s, want Transient", b.BounceType)
	}
	if n := mails.Load(); n != 0 {
		t.Errorf("%d MAIL commands reached the host, want none", n)
	}
	// An entry that does not require TLS falls back to plain text there
	// (opportunistic TLS), and is not refused for lack of TLS.
	evs = h.final(h.send("plain@dest.test", "dest.test", plain, time.Now(), time.Now().Add(shortLife)))
	if mails.Load() == 0 {
		t.Errorf("entry without TLS requirement: no MAIL over plain text; events %v", kinds(evs))
	}
}

// TestTLSRequiredNextMX: when the first MX does not offer STARTTLS, an entry
// requiring TLS goes to the next one, which does, and is delivered over
// TLS; the first sees no transaction.
func TestTLSRequiredNextMX(t *testing.T) {
	first := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{})
	second := mxtest.StartScript(t, "127.0.0.2", first.Port(), mxtest.Script{TLS: true})
	dns := dnstest.New(t)
	dns.MX("dest.test", 10, "plain.dest.test")
	dns.MX("dest.test", 20, "secure.dest.test")
	dns.A("plain.dest.test", "127.0.0.1")
	dns.A("secure.dest.test", "127.0.0.2")
	h := newHarness(t, Config{DNSServer: dns.Addr, Port: first.Port()})
	h.run()
	evs := h.final(h.requireTLS("rcpt@dest.test", time.Minute))
	if got := kinds(evs); len(got) != 1 || got[0] != event.Delivery {
		t.Fatalf("events %v, want one Delivery", got)
	}
	if cmds := first.Commands(); len(cmds) != 0 {
		t.Errorf("first MX received %q, want nothing", cmds)
	}
	if m := second.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("second MX messages %+v, want one over TLS", m)
	}
}

// TestTLSRequiredOffered: an entry requiring TLS at a host offering
// STARTTLS is delivered over TLS (the self-signed certificate is accepted:
// REQUIRE asks for encryption, not authentication).
func TestTLSRequiredOffered(t *testing.T) {
	mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{TLS: true})
	h := newHarness(t, Config{RelayHost: mx.Addr})
	h.run()
	evs := h.final(h.requireTLS("rcpt@dest.test", time.Minute))
	if got := kinds(evs); len(got) != 1 || got[0] != event.Delivery {
		t.Fatalf("events %v, want one Delivery", got)
	}
	if m := mx.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("MX messages %+v, want one over TLS", m)
	}
}

// TestTLSRequiredReusedConnection: the site's only worker holds an idle
// plain-text connection after delivering an entry that did not require TLS;
// an entry that does is never sent over it. The worker hangs up and
// connects again: to a host whose STARTTLS failed only the first time the
// entry goes over TLS on the new connection; to a host without STARTTLS it
// is deferred, and the host sees only the first entry's transaction.
func TestTLSRequiredReusedConnection(t *testing.T) {
	cases := []struct {
		name      string
		script    mxtest.Script
		delivered bool
	}{
		{"STARTTLS works on the next connection", mxtest.Script{TLS: true, StartTLS: func(c mxtest.Call) mxtest.Step {
			if c.N == 1 {
				return mxtest.Step{Reply: "454 4.7.0 TLS not available due to local problem"}
			}
			return mxtest.Step{}
		}}, true},
		{"no STARTTLS", mxtest.Script{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mx := mxtest.StartScript(t, "127.0.0.1", 0, c.script)
			h := newHarness(t, Config{RelayHost: mx.Addr, MaxConnsPerSite: 1, MaxConns: 1, IdleTime: 10 * time.Second})
			h.run()
			if evs := h.final(h.sendNow("plain@dest.test", "dest.test", plain)); count(evs, event.Delivery) != 1 {
				t.Fatalf("entry without TLS requirement: %v", kinds(evs))
			}
			if m := mx.Messages(); len(m) != 1 || m[0].TLS {
				t.Fatalf("first message %+v, want one in plain text", m)
			}
			life := time.Minute
			if !c.delivered {
				life = shortLife
			}
			evs := h.final(h.requireTLS("secure@dest.test", life))
			if c.delivered {
				if got := kinds(evs); len(got) != 1 || got[0] != event.Delivery {
					t.Fatalf("entry requiring TLS: events %v, want one Delivery", got)
				}
				if m := mx.Messages(); len(m) != 2 || !m[1].TLS {
					t.Fatalf("messages %+v, want the second over TLS", m)
				}
				if n := mx.Connections(); n != 2 {
					t.Errorf("%d connections, want 2 (the plain one is not reused)", n)
				}
				return
			}
			if count(evs, event.Delivery) != 0 || count(evs, event.DeliveryDelay) == 0 || count(evs, event.Bounce) != 1 {
				t.Fatalf("entry requiring TLS: events %v, want DeliveryDelay then Bounce", kinds(evs))
			}
			for _, cmd := range mx.Commands() {
				if strings.Contains(cmd, "secure@") {
					t.Errorf("MX received %q for the entry requiring TLS", cmd)
				}
			}
			if n := len(mx.Messages()); n != 1 {
				t.Errorf("MX received %d messages, want only the first", n)
			}
		})
	}
}
