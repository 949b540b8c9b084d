package address

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]string{
		"a@example.com":                      "a@example.com",
		"Name <A.b+tag@Example.COM>":         "A.b+tag@example.com",
		`"Doe, John" <j@example.com>`:        "j@example.com",
		"x@bücher.example":                   "x@xn--bcher-kva.example",
		"success+u1@simulator.amazonses.com": "success+u1@simulator.amazonses.com",
	}
	for in, want := range good {
		a, err := Parse(in)
		if err != nil || a.Email() != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, a.Email(), err, want)
		}
	}
	for _, in := range []string{"", "plain", "a@", "@b.com", "a@b", "a@b.com\r\nBcc: x@y.z", "ü@example.com", "a@-.com"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
	if a, err := ParsePath("<x@Example.org>"); err != nil || a.Email() != "x@example.org" {
		t.Errorf("ParsePath = %v %v", a, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Name <a@example.com>")
	f.Add("a@b.c")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if _, err := Parse(a.Email()); err != nil {
			t.Fatalf("Email() of %q does not parse: %v", s, err)
		}
	})
}
