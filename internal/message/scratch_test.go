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
