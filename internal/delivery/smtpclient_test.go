package delivery

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/mxtest"
)

// TestSendWritesOnlySafePaths: MAIL FROM and RCPT TO carry addresses in
// their RFC 5321 form (a quoted local part stays quoted), and an address
// that would end the command early or add ESMTP parameters is refused for
// its recipient without a byte written, the connection staying usable.
func TestSendWritesOnlySafePaths(t *testing.T) {
	mx := mxtest.Start(t, "127.0.0.1", 0)
	c, err := dialSMTP(t.Context(), mx.Addr, "petrel.test", timeouts(5*time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	body := []byte("Subject: x\r\n\r\nx\r\n")
	cases := []struct {
		from, rcpt string
		code       int
		enhanced   string
		command    string
		written    []string // command lines the MX receives
	}{
		{"b-1@petrel.test", "a> NOTIFY=NEVER@dest.test", 553, "5.1.3", "RCPT", nil},
		{"b-1@petrel.test", "a@dest.test> NOTIFY=NEVER", 553, "5.1.3", "RCPT", nil},
		{"b-1@petrel.test", "a@dest.test\r\nRSET", 553, "5.1.3", "RCPT", nil},
		{"b-1@petrel.test", `"a"@dest.test`, 553, "5.1.3", "RCPT", nil}, // not canonical
		{"b-1@petrel.test>", "a@dest.test", 553, "5.1.7", "MAIL", nil},
		{"b 1@petrel.test", "a@dest.test", 553, "5.1.7", "MAIL", nil},
		{"b-1@petrel.test", `"a> NOTIFY=NEVER"@dest.test`, 250, "2.0.0", "DATA",
			[]string{"MAIL FROM:<b-1@petrel.test> SIZE=17", `RCPT TO:<"a> NOTIFY=NEVER"@dest.test>`}},
		{"b-1@petrel.test", `"a\"b"@dest.test`, 250, "2.0.0", "DATA",
			[]string{"MAIL FROM:<b-1@petrel.test> SIZE=17", `RCPT TO:<"a\"b"@dest.test>`}},
	}
	for _, tc := range cases {
		before := len(mx.Commands())
		o, err := c.send(t.Context(), tc.from, tc.rcpt, body)
		if err != nil {
			t.Fatalf("send(%q, %q): %v", tc.from, tc.rcpt, err)
		}
		if r := o.reply; r.Code != tc.code || tc.enhanced != "" && r.Enhanced != tc.enhanced || o.command != tc.command {
			t.Errorf("send(%q, %q) = %s after %s, want %d %s after %s", tc.from, tc.rcpt, r, o.command, tc.code, tc.enhanced, tc.command)
		}
		if got := mx.Commands()[before:]; !slices.Equal(got, tc.written) {
			t.Errorf("send(%q, %q): MX received %q, want %q", tc.from, tc.rcpt, got, tc.written)
		}
	}
	if m := mx.Messages(); len(m) != 2 || m[0].To[0] != "a> NOTIFY=NEVER@dest.test" {
		t.Fatalf("MX messages %+v, want the two safe ones, the first to the quoted local part", m)
	}
}

// TestReturnPathDomain: the VERP return path's domain is checked once, at
// start, rather than bouncing every message with 553 5.1.7.
func TestReturnPathDomain(t *testing.T) {
	for _, c := range []struct {
		domain, want string // want "": New fails
	}{
		{"Petrel.Example.", "petrel.example"},
		{"vm", "vm"}, // a single-label host name is a valid RFC 5321 Domain
		{"bad_domain.example", ""},
		{"petrel.example> NOTIFY=NEVER", ""},
		{"bücher.example", ""}, // must be given as an A-label
	} {
		d, err := New(Config{Hostname: "h", ReturnPathDomain: c.domain, RelayHost: "127.0.0.1:1"}, nil, nil, nil, nil, nil)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("New with return path domain %q: no error", c.domain)
		case c.want != "" && (err != nil || d.cfg.ReturnPathDomain != c.want):
			t.Errorf("New with return path domain %q: %v, want %q", c.domain, err, c.want)
		}
	}
}

// timeouts returns Timeouts with every limit d.
func timeouts(d time.Duration) Timeouts {
	return Timeouts{Connect: d, Greeting: d, Hello: d, Mail: d, Rcpt: d, Data: d, DataBlock: d, DataEnd: d}
}

// deliverOnce connects to addr and sends one message, returning the
// failure: a connection or protocol error, or a refusal.
func deliverOnce(t *testing.T, addr string, to Timeouts) error {
	c, err := dialSMTP(t.Context(), addr, "petrel.test", to, false)
	if err != nil {
		return err
	}
	defer c.close()
	o, err := c.send(t.Context(), "b-1@petrel.test", "a@dest.test", []byte(plain))
	if err != nil {
		return err
	}
	if !o.reply.Positive() {
		return o.reply
	}
	return nil
}

// TestStageTimeouts: each stage of the conversation waits for the server
// as long as its own limit says, and no longer.
func TestStageTimeouts(t *testing.T) {
	late := func(mxtest.Call) mxtest.Step { return mxtest.Step{Delay: time.Second} }
	noPipelining := []string{"250-mx.test", "250-8BITMIME", "250 SIZE 1000000"}
	cases := []struct {
		name  string
		limit func(*Timeouts) *time.Duration
		sc    mxtest.Script
	}{
		{"greeting", func(to *Timeouts) *time.Duration { return &to.Greeting }, mxtest.Script{Greet: late}},
		{"EHLO", func(to *Timeouts) *time.Duration { return &to.Hello }, mxtest.Script{Hello: late}},
		{"STARTTLS", func(to *Timeouts) *time.Duration { return &to.Hello }, mxtest.Script{TLS: true, StartTLS: late}},
		{"MAIL", func(to *Timeouts) *time.Duration { return &to.Mail }, mxtest.Script{EHLO: noPipelining, Mail: late}},
		{"MAIL pipelined", func(to *Timeouts) *time.Duration { return &to.Mail }, mxtest.Script{Mail: late}},
		{"RCPT", func(to *Timeouts) *time.Duration { return &to.Rcpt }, mxtest.Script{EHLO: noPipelining, Rcpt: late}},
		{"RCPT pipelined", func(to *Timeouts) *time.Duration { return &to.Rcpt }, mxtest.Script{Rcpt: late}},
		{"DATA", func(to *Timeouts) *time.Duration { return &to.Data }, mxtest.Script{EHLO: noPipelining, Data: late}},
		{"DATA pipelined", func(to *Timeouts) *time.Duration { return &to.Data }, mxtest.Script{Data: late}},
		{"end of data", func(to *Timeouts) *time.Duration { return &to.DataEnd }, mxtest.Script{DataEnd: late}},
	}
	for _, c := range cases {
		for _, waits := range []bool{false, true} {
			name := c.name + " gives up"
			if waits {
				name = c.name + " waits"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				mx := mxtest.StartScript(t, "127.0.0.1", 0, c.sc)
				// The stage answers after 1s: a limit of 300ms gives up on it
				// (every other stage having 5s); one of 5s waits for it
				// (every other stage having 400ms, which a stage using the
				// wrong limit would run out of).
				to := timeouts(5 * time.Second)
				*c.limit(&to) = 300 * time.Millisecond
				if waits {
					to = timeouts(400 * time.Millisecond)
					*c.limit(&to) = 5 * time.Second
				}
				err := deliverOnce(t, mx.Addr, to)
				var ne net.Error
				switch {
				case waits && err != nil:
					t.Fatalf("with a long enough limit: %v", err)
				case !waits && !(errors.As(err, &ne) && ne.Timeout()):
					t.Fatalf("with a short limit: %v, want a timeout", err)
				}
			})
		}
	}
}

// TestEHLOKeywords: the extensions are read from the EHLO reply's lines 2
// to n, whatever line 1 says or lacks.
func TestEHLOKeywords(t *testing.T) {
	cases := []struct {
		ehlo []string
		want map[string]string
	}{
		{[]string{"250-", "250-PIPELINING", "250 SIZE 1000"}, map[string]string{"PIPELINING": "", "SIZE": "1000"}},
		{[]string{"250-mx.test Hello; nice", "250 8BITMIME"}, map[string]string{"8BITMIME": ""}},
		{[]string{"250-mx.test", "250-pipelining", "250-Size 20", "250-#bad", "250 smtputf8"},
			map[string]string{"PIPELINING": "", "SIZE": "20", "SMTPUTF8": ""}},
		{[]string{"250 mx.test PIPELINING"}, map[string]string{}},
	}
	for _, c := range cases {
		mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{EHLO: c.ehlo})
		cl, err := dialSMTP(t.Context(), mx.Addr, "petrel.test", timeouts(5*time.Second), false)
		if err != nil {
			t.Fatal(err)
		}
		cl.quit()
		if !maps.Equal(cl.ext, c.want) {
			t.Errorf("EHLO %q: extensions %v, want %v", c.ehlo, cl.ext, c.want)
		}
	}
}

// TestSendEightBit: MAIL FROM asks for SMTPUTF8 and BODY=8BITMIME when the
// message needs them and the server offers them; otherwise nothing is sent
// and the recipient is refused permanently (8-bit data never goes to a
// server that did not offer 8BITMIME). A UTF-8 header field is 8-bit
// content too: BODY=8BITMIME with SMTPUTF8.
func TestSendEightBit(t *testing.T) {
	const (
		ascii      = "Subject: x\r\n\r\nHello.\r\n"
		body8      = "Subject: x\r\n\r\nCaf\xc3\xa9.\r\n"
		header8    = "Subject: caf\xc3\xa9\r\n\r\nHello.\r\n"
		both8      = "Subject: caf\xc3\xa9\r\n\r\nCaf\xc3\xa9.\r\n"
		headerOnly = "Subject: caf\xc3\xa9\r\n" // no body at all
	)
	full := []string{"250-mx.test", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8", "250 SIZE 1000000"}
	lower := []string{"250-mx.test", "250-8bitmime", "250-smtputf8", "250 size 1000000"}
	only8 := []string{"250-mx.test", "250-8BITMIME", "250 SIZE 1000000"}
	only7 := []string{"250-mx.test", "250 SIZE 1000000"}
	utf8Only := []string{"250-mx.test", "250-SMTPUTF8", "250 SIZE 1000000"}
	utf8Rcpt := "jos\xc3\xa9@dest.test"
	cases := []struct {
		name       string
		ehlo       []string
		rcpt, msg  string
		code       int
		enhanced   string
		mailParams string // after "MAIL FROM:<…> SIZE=n"; "-" when nothing may be sent
	}{
		{"ascii", full, "a@dest.test", ascii, 250, "2.0.0", ""},
		{"8-bit body", full, "a@dest.test", body8, 250, "2.0.0", " BODY=8BITMIME"},
		{"8-bit body, keywords lower case", lower, "a@dest.test", body8, 250, "2.0.0", " BODY=8BITMIME"},
		{"8-bit body, no 8BITMIME", only7, "a@dest.test", body8, 554, "5.6.3", "-"},
		{"8-bit body, SMTPUTF8 without 8BITMIME", utf8Only, "a@dest.test", body8, 554, "5.6.3", "-"},
		{"UTF-8 header", full, "a@dest.test", header8, 250, "2.0.0", " BODY=8BITMIME SMTPUTF8"},
		{"UTF-8 header only", full, "a@dest.test", headerOnly, 250, "2.0.0", " BODY=8BITMIME SMTPUTF8"},
		{"UTF-8 header, SMTPUTF8 without 8BITMIME", utf8Only, "a@dest.test", header8, 554, "5.6.3", "-"},
		{"UTF-8 header and 8-bit body", full, "a@dest.test", both8, 250, "2.0.0", " BODY=8BITMIME SMTPUTF8"},
		{"UTF-8 header, no SMTPUTF8", only8, "a@dest.test", header8, 550, "5.6.7", "-"},
		{"UTF-8 header, nothing offered", only7, "a@dest.test", both8, 550, "5.6.7", "-"},
		{"UTF-8 header and body, SMTPUTF8 without 8BITMIME", utf8Only, "a@dest.test", both8, 554, "5.6.3", "-"},
		{"UTF-8 recipient", full, utf8Rcpt, ascii, 250, "2.0.0", " SMTPUTF8"},
		{"UTF-8 recipient, no SMTPUTF8", only8, utf8Rcpt, ascii, 550, "5.6.7", "-"},
	}
	// Until package address takes UTF-8 local parts (RFC 6531), such a
	// recipient is refused before anything else is looked at.
	utf8Addresses := address.CheckEmail(utf8Rcpt) == nil
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rcpt == utf8Rcpt && !utf8Addresses {
				c.code, c.enhanced, c.mailParams = 553, "5.1.3", "-"
			}
			mx := mxtest.StartScript(t, "127.0.0.1", 0, mxtest.Script{EHLO: c.ehlo})
			cl, err := dialSMTP(t.Context(), mx.Addr, "petrel.test", timeouts(5*time.Second), false)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.close()
			o, err := cl.send(t.Context(), "b-1@petrel.test", c.rcpt, []byte(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if o.reply.Code != c.code || o.reply.Enhanced != c.enhanced {
				t.Errorf("reply %s, want %d %s", o.reply, c.code, c.enhanced)
			}
			cmds := mx.Commands()
			if c.mailParams == "-" {
				if len(cmds) != 0 || len(mx.Messages()) != 0 {
					t.Errorf("MX received %q, want nothing", cmds)
				}
				return
			}
			want := fmt.Sprintf("MAIL FROM:<b-1@petrel.test> SIZE=%d%s", len(c.msg), c.mailParams)
			if len(cmds) != 2 || cmds[0] != want || cmds[1] != "RCPT TO:<"+c.rcpt+">" {
				t.Errorf("MX received %q, want %q and the RCPT", cmds, want)
			}
			if m := mx.Messages(); len(m) != 1 || string(m[0].Data) != c.msg {
				t.Errorf("MX messages %+v, want the message as sent", m)
			}
		})
	}
}
