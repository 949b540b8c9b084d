package message

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// With Scratch, Prepare builds the delivered message in the parsed bytes'
// own array (the body moves, up or down, instead of being copied) when it
// has room, and the result is the same as without; it leaves SignHeadroom
// for the DKIM field either way.
func TestPrepareScratch(t *testing.T) {
	body := strings.Repeat("a line of the body\r\n", 500)
	cases := []struct{ name, head string }{
		{"header grows", "From: s@example.com\r\nTo: a@example.net\r\n"},
		{"header shrinks", "From: s@example.com\r\nBcc: hidden@example.com\r\n" +
			strings.Repeat("X-SES-MESSAGE-TAGS: a=b\r\n", 40) + "Return-Path: <r@example.com>\r\n"},
		{"8-bit header converted", "From: Zoë <s@example.com>\r\nSubject: Grüße aus Köln\r\n"},
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range cases {
		raw := c.head + "\r\n" + body
		ref, err := Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		want, err := Prepare(ref, "id", "h.test", now)
		if err != nil {
			t.Fatal(err)
		}
		for _, room := range []int{0, 64 << 10} {
			buf := make([]byte, len(raw), len(raw)+room)
			copy(buf, raw)
			m, err := Parse(buf)
			if err != nil {
				t.Fatal(err)
			}
			m.Scratch = true
			p, err := Prepare(m, "id", "h.test", now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Body, want.Body) {
				t.Fatalf("%s, room %d: differs from the copy:\n%.300s", c.name, room, p.Body)
			}
			if inPlace := &p.Body[0] == &buf[0]; inPlace != (room > 0) {
				t.Fatalf("%s, room %d: built in place = %v", c.name, room, inPlace)
			}
			if cap(p.Body)-len(p.Body) < SignHeadroom {
				t.Fatalf("%s, room %d: %d bytes of headroom", c.name, room, cap(p.Body)-len(p.Body))
			}
		}
	}
}

func TestNormalizeLineEndingsInPlace(t *testing.T) {
	for _, in := range []string{"", "a", "a\r\nb\r\n", "a\nb\n", "\n\n\r\r", "a\rb", "\r\n\n\r\r\n", "x\r", "\ny", "head: 1\n\nbody\r\nline\rend\n"} {
		want := string(NormalizeLineEndings([]byte(in)))
		// With room: rewritten in the same backing array.
		buf := make([]byte, len(in), len(in)*2+1)
		copy(buf, in)
		got := NormalizeLineEndingsInPlace(buf)
		if string(got) != want {
			t.Errorf("%q: in place %q, want %q", in, got, want)
		}
		if len(got) > 0 && &got[0] != &buf[:1][0] {
			t.Errorf("%q: a copy was made although the capacity held the result", in)
		}
		// Without room: a new buffer, the input untouched.
		tight := make([]byte, len(in)) // cap == len
		copy(tight, in)
		if got := NormalizeLineEndingsInPlace(tight); string(got) != want || string(tight) != in {
			t.Errorf("%q: without room got %q (input now %q), want %q", in, got, tight, want)
		}
	}
}

func FuzzNormalizeLineEndingsInPlace(f *testing.F) {
	for _, s := range []string{"a\nb", "\r\r\n\n", "x\r\ny\rz\n"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, in []byte, room int) {
		want := NormalizeLineEndings(append([]byte(nil), in...))
		buf := make([]byte, len(in), len(in)+max(room, 0)%(len(in)+2))
		copy(buf, in)
		if got := NormalizeLineEndingsInPlace(buf); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
	})
}
