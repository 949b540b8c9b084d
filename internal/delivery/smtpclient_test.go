package delivery

import (
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/mxtest"
)

// TestSendWritesOnlySafePaths: MAIL FROM and RCPT TO carry addresses in
// their RFC 5321 form (a quoted local part stays quoted), and an address
// that would end the command early or add ESMTP parameters is refused for
// its recipient without a byte written, the connection staying usable.
func TestSendWritesOnlySafePaths(t *testing.T) {
	mx := mxtest.Start(t, "127.0.0.1", 0)
	c, err := dialSMTP(t.Context(), mx.Addr, "petrel.test", 5*time.Second, false)
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
		{"b-1@petrel.test", `"a> NOTIFY=NEVER"@dest.test`, 250, "", "DATA",
			[]string{"MAIL FROM:<b-1@petrel.test> SIZE=17", `RCPT TO:<"a> NOTIFY=NEVER"@dest.test>`}},
		{"b-1@petrel.test", `"a\"b"@dest.test`, 250, "", "DATA",
			[]string{"MAIL FROM:<b-1@petrel.test> SIZE=17", `RCPT TO:<"a\"b"@dest.test>`}},
	}
	for _, tc := range cases {
		before := len(mx.Commands())
		r, command, err := c.send(t.Context(), tc.from, tc.rcpt, body)
		if err != nil {
			t.Fatalf("send(%q, %q): %v", tc.from, tc.rcpt, err)
		}
		if r.Code != tc.code || tc.enhanced != "" && r.Enhanced != tc.enhanced || command != tc.command {
			t.Errorf("send(%q, %q) = %s after %s, want %d %s after %s", tc.from, tc.rcpt, r, command, tc.code, tc.enhanced, tc.command)
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
