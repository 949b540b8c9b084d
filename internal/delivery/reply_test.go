package delivery

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	cases := []struct {
		in       string
		code     int
		enhanced string
		text     string
		lines    []string
	}{
		{"250 2.0.0 Ok queued\r\n", 250, "2.0.0", "Ok queued", []string{"2.0.0 Ok queued"}},
		{"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n", 250, "", "mx.test; PIPELINING; SIZE 10", []string{"mx.test", "PIPELINING", "SIZE 10"}},
		{"250-\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 250, "", "PIPELINING; 8BITMIME", []string{"", "PIPELINING", "8BITMIME"}},
		{"250-mx Hello; nice\r\n250 8BITMIME\r\n", 250, "", "mx Hello; nice; 8BITMIME", []string{"mx Hello; nice", "8BITMIME"}},
		{"220\r\n", 220, "", "", []string{""}},
		{"550 5.1.1 bare LF\n", 550, "5.1.1", "bare LF", []string{"5.1.1 bare LF"}},
		{"451-4.3.0 first\r\n451 4.3.0 second\r\n", 451, "4.3.0", "first; second", []string{"4.3.0 first", "4.3.0 second"}},
	}
	for _, c := range cases {
		r, lines, err := readReply(bufio.NewReaderSize(strings.NewReader(c.in), replyBufferSize))
		if err != nil || r.Code != c.code || r.Enhanced != c.enhanced || r.Text != c.text || !slices.Equal(lines, c.lines) {
			t.Errorf("readReply(%q) = %+v %q %v, want %d %q %q %q", c.in, r, lines, err, c.code, c.enhanced, c.text, c.lines)
		}
	}
	bad := []string{
		"",                   // EOF
		"250 no line end",    // EOF within the line
		"25\r\n",             // short code
		"abc ok\r\n",         // not a code
		"199 too low\r\n",    // not a reply class
		"600 too high\r\n",   // not a reply class
		"250xok\r\n",         // no separator
		"250-a\r\n251 b\r\n", // code changes
		"250-a\r\n",          // EOF before the last line
		"250 " + strings.Repeat("x", replyBufferSize) + "\r\n",   // line too long
		strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n", // too many lines
	}
	for _, in := range bad {
		if r, _, err := readReply(bufio.NewReaderSize(strings.NewReader(in), replyBufferSize)); err == nil {
			t.Errorf("readReply(%.40q…) = %+v, want an error", in, r)
		} else if _, ok := err.(*protocolError); !ok {
			t.Errorf("readReply(%.40q…): %T, want *protocolError", in, err)
		}
	}
	// Pipelined replies are read one at a time.
	br := bufio.NewReader(strings.NewReader("250 2.1.0 Ok\r\n550 5.1.1 Unknown\r\n354 Go ahead\r\n"))
	for _, want := range []int{250, 550, 354} {
		if r, _, err := readReply(br); err != nil || r.Code != want {
			t.Fatalf("pipelined reply %+v %v, want %d", r, err, want)
		}
	}
}

// FuzzReadReply: the reply reader never panics, holds at most one line of
// its buffer's size, and what it accepts is a well-formed reply.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 2.0.0 Ok\r\n",
		"250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n",
		"250-\r\n250 PIPELINING\r\n",
		"220\r\n",
		"451-4.3.0 a\r\n451 4.3.0 b\n",
		"250-a\r\n251 b\r\n",
		"999 bad\r\n",
		"25",
		"250 " + strings.Repeat("x", 5000) + "\r\n",
		strings.Repeat("250-x\r\n", 120),
		"250 a\rb\x00c\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, lines, err := readReply(bufio.NewReaderSize(strings.NewReader(string(in)), replyBufferSize))
		if err != nil {
			if _, ok := err.(*protocolError); !ok {
				t.Fatalf("error %T, want *protocolError", err)
			}
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d accepted", r.Code)
		}
		if len(lines) == 0 || len(lines) > maxReplyLines {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			if strings.ContainsRune(l, '\n') || len(l) > replyBufferSize {
				t.Fatalf("line %q", l)
			}
		}
		if strings.ContainsRune(r.Text, '\n') {
			t.Fatalf("text %q holds a line feed", r.Text)
		}
		for k := range extensions(lines) {
			if !isKeyword(k) || k != strings.ToUpper(k) {
				t.Fatalf("extension keyword %q", k)
			}
		}
	})
}
