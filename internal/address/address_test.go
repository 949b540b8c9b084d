package address

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
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
		// RFC 6531/6532: UTF-8 local parts, kept as given; U-labels become
		// A-labels (UTS #46 Lookup: mapped, nontransitional).
		{"用户@例え.jp", "用户@xn--r8jz45g.jp", "用户@xn--r8jz45g.jp"},
		{"ü@example.com", "ü@example.com", "ü@example.com"},
		{`"ü"@example.com`, "ü@example.com", "ü@example.com"},
		{`"用 户"@例え。jp`, `"用 户"@xn--r8jz45g.jp`, "用 户@xn--r8jz45g.jp"},
		{"Jörg <ÖJörg@Bücher.Example>", "ÖJörg@xn--bcher-kva.example", "Öjörg@xn--bcher-kva.example"}, // only ASCII folded
		{"\u212aate@example.com", "\u212aate@example.com", "\u212aate@example.com"},                   // KELVIN SIGN is not k
		{"a\u0301@example.com", "a\u0301@example.com", "a\u0301@example.com"},                         // NFD kept, not made NFC
		{"x@xn--bcher-kva.example", "x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"x@ＥＸＡＭＰＬＥ.com", "x@example.com", "x@example.com"},
		{"x@faß.de", "x@xn--fa-hia.de", "x@xn--fa-hia.de"},
		{strings.Repeat("ü", 32) + "@example.com", strings.Repeat("ü", 32) + "@example.com", strings.Repeat("ü", 32) + "@example.com"},
	}
	for _, c := range good {
		a, err := Parse(c.in)
		if err != nil || a.Email() != c.email || a.Key() != c.key {
			t.Errorf("Parse(%q) = %q key %q, %v; want %q key %q", c.in, a.Email(), a.Key(), err, c.email, c.key)
		}
	}
	bad := []string{
		"", "plain", "a@", "@b.com", "a@b", "a@b.com\r\nBcc: x@y.z", "a@-.com",
		"\"a\tb\"@example.com", "\"a\x7fb\"@example.com", `""@example.com`,
		"a\xff@example.com", "\u0085a@example.com", "\"a\u0080\"@example.com", "a\xed\xa0\x80@example.com",
		"a@xn--zz.example", "a@ab--c.example", "a@\u200d.example", "a@a_b.example", "a@bü_cher.example",
		"a@\u05d0a.example", "a@b\xff.example", strings.Repeat("ü", 33) + "@example.com",
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
		{"<用户@例え.jp>", "用户@xn--r8jz45g.jp"},
		{`<"用 户"@例え.jp>`, `"用 户"@xn--r8jz45g.jp`},
		{`"ü\"x"@dest.test`, `"ü\"x"@dest.test`},
		{"ü.\u00a0@dest.test", "ü.\u00a0@dest.test"},
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
		`"a\`, `"a\"@example.com`, "a@example.com SIZE=1",
		"用户 x@例え.jp", "ü>@x.test", "a\xc3@x.test", "\xed\xa0\x80@x.test", "\xc0\xaf@x.test", "\u0085@x.test",
		"\"a\u0085\"@x.test", `"a\é"@x.test`, `"a` + "\xff" + `"@x.test`, "ü@xn--zz.test", "ü@例え..jp",
		"a(c)@example.com", "a@exa mple.com", "a@example.com\n",
	}
	for _, in := range bad {
		if a, err := ParsePath(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePath(%q) = %q, %v; want ErrInvalid", in, a.Email(), err)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, s := range []string{"a@example.com", `"a b"@example.com`, `"a\"b"@example.com`, "A.B@example.com", "b-x-0-y@vm",
		"用户@xn--r8jz45g.jp", `"用 户"@xn--r8jz45g.jp`, "ü.\u00a0@example.com"} {
		if err := CheckEmail(s); err != nil {
			t.Errorf("CheckEmail(%q) = %v", s, err)
		}
	}
	for _, s := range []string{
		"a> NOTIFY=NEVER@dest.test", // what Email wrote before quoting
		`"a"@example.com`, "a@Example.com", "<a@example.com>", " a@example.com", "a@xn--bcher-kva.example ",
		"a@bücher.example", "", "@example.com", `""@example.com`, "a@", "a@b..c", "a@-b.c", "a@b_c.d",
		`"a\ b"@example.com`, "a@example.com>", "a@example.com NOTIFY=NEVER",
		"用户@例え.jp", `"ü"@example.com`, "a\xff@example.com", "\u0085@example.com", "ü>@example.com",
		"ü ü@example.com", "ü\r\n@example.com", `"ü` + "\x00" + `"@example.com`, "ü@example.com\u2028",
	} {
		if err := CheckEmail(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckEmail(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestNeedsSMTPUTF8(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"a@example.com", false},
		{`"a b"@example.com`, false},
		{"x@xn--r8jz45g.jp", false},
		{"用户@xn--r8jz45g.jp", true},
		{`"ü x"@example.com`, true},
	} {
		if got := NeedsSMTPUTF8(c.in); got != c.want {
			t.Errorf("NeedsSMTPUTF8(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestDomainErrors: an invalid IDN is refused with the reason.
func TestDomainErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"xn--zz.example", `idna: invalid label "zz"`},
		{"a_b.example", "disallowed rune U+005F"},
		{"\u200d.example", "invalid label"},
		{"b\xff.example", "not UTF-8"},
		{"example", "2 or more labels"},
	} {
		_, err := Domain(c.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Domain(%q) = %v, want ErrInvalid saying %q", c.in, err, c.want)
		}
	}
}

// TestLocalPartErrors: a refused UTF-8 local part is refused with the
// reason.
func TestLocalPartErrors(t *testing.T) {
	for _, c := range []struct {
		parse    func(string) (Address, error)
		in, want string
	}{
		{Parse, "\u0085a@x.test", "control character"},
		{Parse, "\"a\u009fb\"@x.test", "control character"},
		{ParsePath, "\"a\u0085\"@x.test", "control character"},
		{ParsePath, "\"a\xff\"@x.test", "not valid UTF-8"},
		{ParsePath, "\"a\xed\xa0\x80\"@x.test", "not valid UTF-8"},
	} {
		_, err := c.parse(c.in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parsing %q: %v, want ErrInvalid saying %q", c.in, err, c.want)
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
// an SMTP command (with SMTPUTF8 when it is not ASCII): valid UTF-8 with
// no control character (C0, DEL, C1), and no space, '<' or '>' outside
// quotes.
func checkWritable(t *testing.T, in, email string) {
	t.Helper()
	if !utf8.ValidString(email) {
		t.Fatalf("Email() of %q = %q is not UTF-8", in, email)
	}
	if i := strings.IndexFunc(email, unicode.IsControl); i >= 0 {
		t.Fatalf("Email() of %q = %q has a control character at %d", in, email, i)
	}
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
	if NeedsSMTPUTF8(a.Domain) {
		t.Fatalf("domain of %q = %q is not ASCII", in, a.Domain)
	}
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
		`"Doe, John" <"j d"@example.com>`, `=?utf-8?q?J=C3=B6rg?= <a@b.c>`, "x@bücher.example",
		"Jörg <用户@例え.jp>", `"用 户"@例え。jp`, "a\u0301@example.com", "\u0085a@x.test", "a@\u05d0a.example"} {
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
	for _, s := range []string{"a@example.com", `"a b"@x.test`, `"a\\\"b"@x.test`, "a> NOTIFY=NEVER@dest.test", "b-1-0-x@vm",
		"用户@xn--r8jz45g.jp", `"用 户"@xn--r8jz45g.jp`, "ü\u0085@x.test"} {
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
		`"a> NOTIFY=NEVER"@dest.test`, "<@r.test:a@x.test>", "<用户@例え.jp>", `"用 户"@例え.jp`, "\xed\xa0\x80@x.test"} {
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

func FuzzDomain(f *testing.F) {
	for _, s := range []string{"example.com", "Bücher.Example", "例え。jp", "xn--zz.example", "faß.de", "\u05d0a.example", "localhost."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Domain(s)
		if err != nil {
			return
		}
		if err := CheckEmail("a@" + d); err != nil {
			t.Fatalf("Domain(%q) = %q, not LDH labels: %v", s, d, err)
		}
		if again, err := Domain(d); err != nil || again != d {
			t.Fatalf("Domain(%q) = %q, which normalises to %q, %v", s, d, again, err)
		}
	})
}

// TestParseAddrSpec: a bare address, '<' and '>' allowed inside a quoted
// local part; a display name, a comment or angle brackets around it
// refused.
func TestParseAddrSpec(t *testing.T) {
	for _, c := range []struct {
		in, key string // key "": refused
	}{
		{"Jane@Example.COM", "jane@example.com"},
		{" a@x.test ", "a@x.test"},
		{`"<x>"@dest.test`, "<x>@dest.test"},
		{`"a<b"@dest.test`, "a<b@dest.test"},
		{`"a>(b)"@dest.test`, "a>(b)@dest.test"},
		{`"a\"<"@dest.test`, `a"<@dest.test`},
		{`"<script>alert(1)</script>"@dest.test`, "<script>alert(1)</script>@dest.test"},
		{"<a@x.test>", ""},
		{`"" <a@x.test>`, ""},
		{"Jane <a@x.test>", ""},
		{`<"<x>"@dest.test>`, ""},
		{"a@x.test (comment)", ""},
		{"a@x.test ()", ""},
		{"a@x.test>", ""},
		{"nobody", ""},
	} {
		a, err := ParseAddrSpec(c.in)
		switch {
		case c.key == "" && err == nil:
			t.Errorf("ParseAddrSpec(%q) = %+v, want an error", c.in, a)
		case c.key != "" && (err != nil || a.Key() != c.key):
			t.Errorf("ParseAddrSpec(%q) = %q, %v, want key %q", c.in, a.Key(), err, c.key)
		}
	}
}

// FuzzParseAddrSpec: whatever Parse accepts, ParseAddrSpec accepts as
// Email writes it, with the same Key (a recipient of the send path is
// always a valid contact); whatever ParseAddrSpec accepts, Parse accepts
// with the same Key.
func FuzzParseAddrSpec(f *testing.F) {
	for _, s := range []string{"a@b.c", `"<x>"@dest.test`, `Name <"a<b"@x.test>`, `"a\"<"@x.test`, "<a@x.test>",
		"a@x.test (c)", `"a b"@x.test`, "用户@例え.jp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := Parse(s); err == nil {
			b, err := ParseAddrSpec(a.Email())
			if err != nil || b.Key() != a.Key() || b.Email() != a.Email() {
				t.Fatalf("Parse(%q) = %q, which ParseAddrSpec takes as %q, %v", s, a.Email(), b.Email(), err)
			}
		}
		if a, err := ParseAddrSpec(s); err == nil {
			if b, err := Parse(s); err != nil || b.Key() != a.Key() || a.Name != "" {
				t.Fatalf("ParseAddrSpec(%q) = %+v, Parse: %+v, %v", s, a, b, err)
			}
		}
	})
}
