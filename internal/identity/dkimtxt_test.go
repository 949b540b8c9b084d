package identity

import (
	"strings"
	"testing"
)

func TestDKIMKeyOf(t *testing.T) {
	for _, c := range []struct {
		txt, key string
		ok       bool
	}{
		{"v=DKIM1; k=rsa; p=MIIB", "MIIB", true},
		{"v=DKIM1;k=rsa;p=MII B\t\r\n CD;", "MIIBCD", true}, // folding whitespace inside p=
		{"p=abc", "abc", true},                              // v= is optional
		{"v=DKIM1; p=", "", true},                           // a revoked key
		{"v=DKIM2; p=abc", "", false},
		{"v=DKIM1; k=rsa", "", false}, // no p=
		{"v=spf1 -all", "", false},
		{"p=a; p=b", "", false},
		{"=x; p=a", "", false},
		{"", "", false},
	} {
		key, ok := dkimKeyOf(c.txt)
		if key != c.key || ok != c.ok {
			t.Errorf("dkimKeyOf(%q) = %q, %v; want %q, %v", c.txt, key, ok, c.key, c.ok)
		}
	}
}

func FuzzDKIMTags(f *testing.F) {
	f.Add("v=DKIM1; k=rsa; p=MIIB")
	f.Add("p=a;;q= b c ;")
	f.Add("=;=")
	f.Fuzz(func(t *testing.T, txt string) {
		tags, ok := dkimTags(txt)
		if !ok {
			return
		}
		for name, value := range tags {
			if name == "" || strings.ContainsAny(name, ";=") || strings.ContainsAny(value, "; \t\r\n") {
				t.Fatalf("dkimTags(%q): tag %q=%q", txt, name, value)
			}
		}
	})
}
