package bounce

import (
	"os"
	"strings"
	"testing"
)

const (
	tokenTestID    = "0100019a1b2c3d4e-3a2b3c4d-1111-4222-8333-444455556666-000000"
	tokenTestOther = "0100019a1b2c3d4e-3a2b3c4d-1111-4222-8333-444455556667-000000"
)

var tokenTestKey = FeedbackKey([]byte("test-verp-secret"))

func TestFeedbackToken(t *testing.T) {
	tok := FeedbackToken(tokenTestID, tokenTestKey)
	mac := tok[strings.LastIndexByte(tok, '.')+1:]
	otherMAC := FeedbackToken(tokenTestOther, tokenTestKey)
	otherMAC = otherMAC[strings.LastIndexByte(otherMAC, '.')+1:]
	flipped := []byte(tok)
	if flipped[len(flipped)-1] == 'a' {
		flipped[len(flipped)-1] = 'b'
	} else {
		flipped[len(flipped)-1] = 'a'
	}
	cases := []struct {
		name, token string
		key         []byte
		want        string // "" = ErrBadToken
	}{
		{"valid", tok, tokenTestKey, tokenTestID},
		{"folded by a relay", "\r\n " + tok + " ", tokenTestKey, tokenTestID},
		{"upper-case MAC", tokenTestID + "." + strings.ToUpper(mac), tokenTestKey, tokenTestID},
		{"wrong key", tok, FeedbackKey([]byte("another node")), ""},
		{"VERP secret used directly", FeedbackToken(tokenTestID, []byte("test-verp-secret")), tokenTestKey, ""},
		{"one MAC character changed", string(flipped), tokenTestKey, ""},
		{"MAC of another message", tokenTestOther + "." + mac, tokenTestKey, ""},
		{"another message's MAC on this id", tokenTestID + "." + otherMAC, tokenTestKey, ""},
		{"truncated MAC", tok[:len(tok)-1], tokenTestKey, ""},
		{"Message-ID alone", tokenTestID, tokenTestKey, ""},
		{"Message-ID with domain", "<" + tokenTestID + "@petrel.test>", tokenTestKey, ""},
		{"not an id", "hello." + mac, tokenTestKey, ""},
		{"empty", "", tokenTestKey, ""},
		{"no key", tok, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := ParseFeedbackToken(c.token, c.key)
			if c.want == "" {
				if err != ErrBadToken || id != "" {
					t.Errorf("ParseFeedbackToken(%q) = %q, %v; want ErrBadToken", c.token, id, err)
				}
				return
			}
			if err != nil || id != c.want {
				t.Errorf("ParseFeedbackToken(%q) = %q, %v; want %s", c.token, id, err, c.want)
			}
		})
	}
}

// TestFeedbackTokenInReports: the token comes back in every way a report
// returns the original — an ARF's message/rfc822 part (folded), a DSN's
// text/rfc822-headers part, a prose bounce quoting the headers — and a
// report that quotes only the Message-ID carries none.
func TestFeedbackTokenInReports(t *testing.T) {
	want := FeedbackToken(tokenTestID, tokenTestKey)
	for _, f := range []string{"arf-feedback-token", "dsn-headers-feedback-token", "text-quoted-feedback-token"} {
		raw, err := os.ReadFile("testdata/reports/" + f + ".eml")
		if err != nil {
			t.Fatal(err)
		}
		r := Parse(raw)
		if r.Original.FeedbackToken != want {
			t.Errorf("%s: token %q, want %q", f, r.Original.FeedbackToken, want)
		}
		if id, err := ParseFeedbackToken(r.Original.FeedbackToken, tokenTestKey); err != nil || id != tokenTestID {
			t.Errorf("%s: token does not verify: %q %v", f, id, err)
		}
	}
	for _, f := range []string{"arf-abuse", "postfix-dsn-user-unknown"} {
		raw, err := os.ReadFile("testdata/reports/" + f + ".eml")
		if err != nil {
			t.Fatal(err)
		}
		if r := Parse(raw); r.Original.FeedbackToken != "" || r.Original.PetrelID == "" && f == "arf-abuse" {
			t.Errorf("%s: token %q (petrel id %q), want none", f, r.Original.FeedbackToken, r.Original.PetrelID)
		}
	}
}

// FuzzParseFeedbackToken: any value is verified or refused, never accepted
// without the MAC, and never panics.
func FuzzParseFeedbackToken(f *testing.F) {
	f.Add(FeedbackToken(tokenTestID, tokenTestKey))
	f.Add(tokenTestID + ".aaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add(" \r\n" + tokenTestID + ".")
	f.Add(".")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseFeedbackToken(s, tokenTestKey)
		if err == nil && !strings.EqualFold(FeedbackToken(id, tokenTestKey), strings.Join(strings.Fields(s), "")) {
			t.Fatalf("ParseFeedbackToken(%q) accepted %q", s, id)
		}
	})
}
