package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []struct{ in, email, key string }{
		{"a@example.com", "a@example.com", "a@example.com"},
		{"Name <A.b+tag@Example.COM>", "A.b+tag@example.com", "a.b+tag@example.com"},
		{`"Doe, John" <j@example.com>`, "j@example.com", "j@example.com"},
		{"x@bücher.example", "x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"success+u1@simulator.amazonses.com", "success+u1@simulator.amazonses.com", "success+u1@simulator.amazonses.com"},
		// Quoted local parts keep (or get) the RFC 5321 form.
		{`"a.b"@example.com`, "a.b@example.com", "a.b@example.com"},
		{`"a> NOTIFY=NEVER"@dest.test`, `"a> NOTIFY=NEVER"@dest.test`, "a> notify=never@dest.test"},
		{`"a\"b\\c"@dest.test`, `"a\"b\\c"@dest.test`, `a"b\c@dest.test`},
		{`"a@b"@dest.test`, `"a@b"@dest.test`, "a@b@dest.test"},
		{`Name <"x y"@dest.test>`, `"x y"@dest.test`, "x y@dest.test"},
	}
	for _, c := range good {
		a, err := Parse(c.in)
		if err != nil || a.Email() != c.email || a.Key() != c.key {
			t.Errorf("Parse(%q) = %q key %q, %v; want %q key %q", c.in, a.Email(), a.Key(), err, c.email, c.key)
		}
	}
	bad := []string{
		"", "plain", "a@", "@b.com", "a@b", "a@b.com\r\nBcc: x@y.z", "ü@example.com", "a@-.com",
		`"ü"@example.com`, "\"a\tb\"@example.com", "\"a\x7fb\"@example.com", `""@example.com`,
		"a@[192.0.2.1]", "a@b..com", strings.Repeat("a", 65) + "@example.com",
		`"a ` + strings.Repeat("a", 61) + `"@example.com`, // 63 characters, 65 once quoted
		"a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 60) + ".com",
	}
	for _, in := range bad {
		if a, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %q, %v; want ErrInvalid", in, a.Email(), err)
		}
	}
}

func TestParsePath(t *testing.T) {
	good := []struct{ in, email string }{
		{"<x@Example.org>", "x@example.org"},
		{"x@example.org", "x@example.org"},
		{" <x@example.org> ", "x@example.org"},
		{`"x.y"@example.org`, "x.y@example.org"},
		{`<"a> NOTIFY=NEVER"@dest.test>`, `"a> NOTIFY=NEVER"@dest.test`},
		{`"a\"b"@dest.test`, `"a\"b"@dest.test`},
		{`"a\ b"@dest.test`, `"a b"@dest.test`},
		{"!#$%&'*+-/=?^_`{|}~@dest.test", "!#$%&'*+-/=?^_`{|}~@dest.test"},
	}
	for _, c := range good {
		a, err := ParsePath(c.in)
		if err != nil || a.Email() != c.email {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", c.in, a.Email(), err, c.email)
		}
	}
	bad := []string{
		"", "<>", "bad@@example.com", "a..b@example.com", ".a@example.com", "a.@example.com",
		`"unbalanced@example.com`, `a"b@example.com`, `"a"b@example.com`, `"a"."b"@example.com`,
		"a> NOTIFY=NEVER@dest.test", "a NOTIFY=NEVER@dest.test", "<a@example.com", "a@example.com>",
		"<<a@example.com>>", "a@b@example.com", "a@[192.0.2.1]", "<@relay.test:a@example.com>",
		"a,b@example.com", "a\r\nRSET@example.com", "a\x00@example.com", "\"a\tb\"@example.com",
		`"a\`, `"a\"@example.com`, "ü@example.com", "a@example.com SIZE=1",
		"a(c)@example.com", "a@exa mple.com", "a@example.com\n",
	}
	for _, in := range bad {
		if a, err := ParsePath(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePath(%q) = %q, %v; want ErrInvalid", in, a.Email(), err)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, s := range []string{"a@example.com", `"a b"@example.com`, `"a\"b"@example.com`, "A.B@example.com", "b-x-0-y@vm"} {
		if err := CheckEmail(s); err != nil {
			t.Errorf("CheckEmail(%q) = %v", s, err)
		}
	}
	for _, s := range []string{
		"a> NOTIFY=NEVER@dest.test", // what Email wrote before quoting
		`"a"@example.com`, "a@Example.com", "<a@example.com>", " a@example.com", "a@xn--bcher-kva.example ",
		"a@bücher.example", "", "@example.com", `""@example.com`, "a@", "a@b..c", "a@-b.c", "a@b_c.d",
		`"a\ b"@example.com`, "a@example.com>", "a@example.com NOTIFY=NEVER",
	} {
		if err := CheckEmail(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckEmail(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

// TestSameMailbox: quoted and unquoted spellings of one Dot-string are one
// mailbox (RFC 5321 §4.1.2), whichever parser read them.
func TestSameMailbox(t *testing.T) {
	a, _ := Parse(`"First.Last"@Example.com`)
	b, _ := ParsePath("first.last@example.com")
	c, _ := ParsePath(`<"first.last"@example.com>`)
	if a.Key() != b.Key() || b.Key() != c.Key() || a.Email() != "First.Last@example.com" {
		t.Fatalf("keys %q %q %q, email %q", a.Key(), b.Key(), c.Key(), a.Email())
	}
}

// checkWritable fails t unless email can be put between angle brackets in
// an SMTP command: no CR, LF or NUL, and no space, '<' or '>' outside quotes.
func checkWritable(t *testing.T, in, email string) {
	t.Helper()
	quoted := false
	for i := 0; i < len(email); i++ {
		switch c := email[i]; {
		case c == '\r' || c == '\n' || c == 0:
			t.Fatalf("Email() of %q = %q contains CR, LF or NUL", in, email)
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '<' || c == '>'):
			t.Fatalf("Email() of %q = %q has %q outside quotes", in, email, c)
		}
	}
	if quoted {
		t.Fatalf("Email() of %q = %q has an unterminated quote", in, email)
	}
}

// roundTrip checks the properties every parsed Address has.
func roundTrip(t *testing.T, in string, a Address) {
	t.Helper()
	email := a.Email()
	checkWritable(t, in, email)
	if err := CheckEmail(email); err != nil {
		t.Fatalf("CheckEmail(Email() of %q = %q): %v", in, email, err)
	}
	for _, parse := range []func(string) (Address, error){Parse, ParsePath} {
		b, err := parse(email)
		if err != nil {
			t.Fatalf("Email() of %q = %q does not re-parse: %v", in, email, err)
		}
		if b.Key() != a.Key() || b.Email() != email {
			t.Fatalf("Email() of %q = %q re-parses as %q (key %q, want %q)", in, email, b.Email(), b.Key(), a.Key())
		}
	}
	b, err := Parse(a.String())
	if err != nil || b.Key() != a.Key() || b.Name != a.Name {
		t.Fatalf("String() of %q = %q re-parses as %+v, %v", in, a.String(), b, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Name <a@example.com>", "a@b.c", `"a> NOTIFY=NEVER"@dest.test`, `"a\"b"@x.test`,
		`"Doe, John" <"j d"@example.com>`, `=?utf-8?q?J=C3=B6rg?= <a@b.c>`, "x@bücher.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := Parse(s); err == nil {
			roundTrip(t, s, a)
		}
		if list, err := ParseList(s); err == nil {
			for _, a := range list {
				roundTrip(t, s, a)
			}
		}
	})
}

func FuzzCheckEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", `"a b"@x.test`, `"a\\\"b"@x.test`, "a> NOTIFY=NEVER@dest.test", "b-1-0-x@vm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckEmail(s) != nil {
			return
		}
		checkWritable(t, s, s)
		if a, err := ParsePath(s); err == nil && a.Email() != s {
			t.Fatalf("CheckEmail accepts %q, which ParsePath writes as %q", s, a.Email())
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"<a@example.com>", `"a b"@x.test`, `"a\\\"b"@x.test`, "bad@@example.com", "a..b@x.test",
		`"a> NOTIFY=NEVER"@dest.test`, "<@r.test:a@x.test>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParsePath(s)
		if err != nil {
			return
		}
		roundTrip(t, s, a)
	})
}
