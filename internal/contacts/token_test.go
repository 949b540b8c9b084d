package contacts

import (
	"errors"
	"strings"
	"testing"
)

var testTokenKey = TokenKey([]byte("test-verp-secret"))

func TestTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  Token
	}{
		{"SES message ID", Token{Account: "123456789012", List: "Newsletter", Topic: "Sports", Email: "Jane.Doe@example.com",
			MessageID: "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"}},
		{"whole list", Token{Account: "default", List: "L", Email: "a@b.test", MessageID: "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"}},
		{"no message", Token{Account: "default", List: "L", Topic: "t", Email: "a@b.test"}},
		{"other message ID", Token{Account: "a", List: "L", Email: "x@y.test", MessageID: "0100018F1C2B3A4D-5E6F7A8B-1234-4CDE-9F00-ABCDEF012345-000000"}},
		{"odd characters", Token{Account: "a", List: "<b>&\"", Topic: "ü", Email: "\"q w\"@y.test", MessageID: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.tok.Sign(testTokenKey)
			if s != strings.ToLower(s) || strings.ContainsAny(s, "=\r\n") {
				t.Fatalf("token %q is not lower-case unpadded base32", s)
			}
			for _, in := range []string{s, strings.ToUpper(s)} {
				got, err := ParseToken(in, testTokenKey)
				if err != nil || got != tc.tok {
					t.Errorf("ParseToken(%q) = %+v, %v; want %+v", in, got, err, tc.tok)
				}
			}
		})
	}
}

func TestTokenCompact(t *testing.T) {
	tok := Token{Account: "123456789012", List: "Newsletter", Topic: "Sports", Email: "jane@example.com",
		MessageID: "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"}
	// version 1 + 4 length bytes + 12+10+6+16 + kind 1 + 22 + MAC 16 = 88 bytes → 141 base32 characters.
	if s := tok.Sign(testTokenKey); len(s) != 141 {
		t.Errorf("token length %d, want 141: %s", len(s), s)
	}
}

func TestParseTokenRefuses(t *testing.T) {
	tok := Token{Account: "123456789012", List: "Newsletter", Topic: "Sports", Email: "jane@example.com",
		MessageID: "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"}
	good := tok.Sign(testTokenKey)
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	raw, _ := tokenB32.DecodeString(strings.ToUpper(good))
	// A token whose payload is changed and re-signed with another key.
	other := Token{Account: "999999999999", List: "Newsletter", Email: "jane@example.com"}.Sign(TokenKey([]byte("another node")))
	// A valid MAC over a payload of an unknown version.
	v2 := append([]byte{2}, raw[1:len(raw)-tokenMACLen]...)
	badVersion := strings.ToLower(tokenB32.EncodeToString(append(v2, tokenMAC(v2, testTokenKey)...)))
	// A valid MAC over a payload with trailing bytes.
	tr := append(append([]byte{}, raw[:len(raw)-tokenMACLen]...), 0)
	trailing := strings.ToLower(tokenB32.EncodeToString(append(tr, tokenMAC(tr, testTokenKey)...)))
	// Non-canonical: the last character carries low bits base32 ignores.
	nonCanon := good[:len(good)-1] + string(rune(good[len(good)-1]+1))
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"first byte altered", flip(0)},
		{"middle byte altered", flip(len(good) / 2)},
		{"MAC altered", flip(len(good) - 2)},
		{"truncated", good[:len(good)-8]},
		{"truncated to the MAC", good[len(good)-26:]},
		{"extended", good + "aaaaaaaa"},
		{"other key", other},
		{"not base32", good[:10] + "!" + good[11:]},
		{"padding", good + "="},
		{"unknown version", badVersion},
		{"trailing bytes", trailing},
		{"non-canonical", nonCanon},
		{"too long", strings.Repeat("a", MaxTokenLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseToken(tc.in, testTokenKey); !errors.Is(err, ErrBadToken) {
				t.Errorf("ParseToken(%q) = %+v, %v; want ErrBadToken", tc.in, got, err)
			}
		})
	}
	if _, err := ParseToken(good, nil); !errors.Is(err, ErrBadToken) {
		t.Errorf("no key: %v", err)
	}
	if _, err := ParseToken(good, TokenKey([]byte("another node"))); !errors.Is(err, ErrBadToken) {
		t.Errorf("verified with another key: %v", err)
	}
}

func TestHeaders(t *testing.T) {
	tok := Token{Account: "a", List: "L", Email: "x@y.test", MessageID: testMsgID}
	s := tok.Sign(testTokenKey)
	local, ok := MailtoLocal(testMsgID, testTokenKey)
	if !ok {
		t.Fatal("MailtoLocal refused an SES message ID")
	}
	for _, tc := range []struct {
		name   string
		tok    Token
		url    string
		domain string
		wantLU string
		post   string
	}{
		{"both", tok, "https://mail.example.com/", "bounces.example.com",
			"<https://mail.example.com/unsubscribe/" + s + ">, <mailto:" + local + "@bounces.example.com?subject=unsubscribe>", "List-Unsubscribe=One-Click"},
		{"no public URL", tok, "", "bounces.example.com", "<mailto:" + local + "@bounces.example.com?subject=unsubscribe>", ""},
		{"no return domain", tok, "https://mail.example.com", "", "<https://mail.example.com/unsubscribe/" + s + ">", "List-Unsubscribe=One-Click"},
		{"message ID of another shape: no mailto", Token{Account: "a", List: "L", Email: "x@y.test", MessageID: "m"}, "", "bounces.example.com", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lu, post := Headers(tc.tok, testTokenKey, tc.url, tc.domain)
			if lu != tc.wantLU || post != tc.post {
				t.Errorf("Headers = %q, %q; want %q, %q", lu, post, tc.wantLU, tc.post)
			}
			if strings.ContainsAny(lu, "\r\n") {
				t.Errorf("CR/LF in %q", lu)
			}
		})
	}
	if got, want := PageURL(tok, testTokenKey, "https://mail.example.com/"), "https://mail.example.com/unsubscribe/"+s; got != want {
		t.Errorf("PageURL = %q, want %q", got, want)
	}
}

// TestMailtoLocal: the mailto: local part is within RFC 5321
// §4.5.3.1.1's 64 octets whatever the token's fields, lower-case
// base32, and parses back (in any case) to its message ID; anything
// altered, truncated, made with another key or not canonical is refused.
func TestMailtoLocal(t *testing.T) {
	local, ok := MailtoLocal(testMsgID, testTokenKey)
	if !ok || len(local) > 64 || len(local) != len(MailtoPrefix)+MailtoCodeLen || local != strings.ToLower(local) || !strings.HasPrefix(local, MailtoPrefix) {
		t.Fatalf("MailtoLocal = %q (%d octets), %v; want u- and %d lower-case characters", local, len(local), ok, MailtoCodeLen)
	}
	code := local[len(MailtoPrefix):]
	for _, in := range []string{code, strings.ToUpper(code)} {
		if id, err := ParseMailto(in, testTokenKey); err != nil || id != testMsgID {
			t.Errorf("ParseMailto(%q) = %q, %v; want %q", in, id, err, testMsgID)
		}
	}
	flip := func(i int) string {
		c := byte('a')
		if code[i] == 'a' {
			c = 'b'
		}
		return code[:i] + string(c) + code[i+1:]
	}
	last := code[len(code)-1]
	nonCanon := code[:len(code)-1] + string(tokenB32Alphabet[(strings.IndexByte(tokenB32Alphabet, last)|1)])
	if nonCanon == code {
		nonCanon = code[:len(code)-1] + string(tokenB32Alphabet[(strings.IndexByte(tokenB32Alphabet, last)&^1)])
	}
	other, _ := MailtoLocal(testMsgID, TokenKey([]byte("another node")))
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"message ID altered", flip(3)},
		{"MAC altered", flip(len(code) - 3)},
		{"truncated", code[:len(code)-1]},
		{"extended", code + "a"},
		{"not base32", code[:10] + "1" + code[11:]},
		{"non-canonical", nonCanon},
		{"another key", other[len(MailtoPrefix):]},
		{"a link token", Token{Account: "a", List: "L", Email: "x@y.test", MessageID: testMsgID}.Sign(testTokenKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := ParseMailto(tc.in, testTokenKey); !errors.Is(err, ErrBadToken) {
				t.Errorf("ParseMailto(%q) = %q, %v; want ErrBadToken", tc.in, id, err)
			}
		})
	}
	if _, ok := MailtoLocal("not-an-ses-id", testTokenKey); ok {
		t.Error("MailtoLocal packed a message ID of another shape")
	}
}

const tokenB32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

func FuzzParseMailto(f *testing.F) {
	local, _ := MailtoLocal(testMsgID, testTokenKey)
	f.Add(local[len(MailtoPrefix):])
	f.Add("")
	f.Add(strings.Repeat("a", MailtoCodeLen))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseMailto(s, testTokenKey)
		if err != nil {
			return
		}
		// Whatever verifies is the address of the message it names.
		if again, _ := MailtoLocal(id, testTokenKey); again != MailtoPrefix+strings.ToLower(s) {
			t.Fatalf("ParseMailto(%q) = %q, whose address is %q", s, id, again)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add(Token{Account: "a", List: "L", Topic: "T", Email: "x@y.test", MessageID: "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"}.Sign(testTokenKey))
	f.Add(Token{Account: "a", List: "L", Email: "x@y.test", MessageID: "m"}.Sign(testTokenKey))
	f.Add("aaaa")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s, testTokenKey)
		if err != nil {
			return
		}
		// Whatever verifies signs back to the same token (case aside).
		if again := tok.Sign(testTokenKey); again != strings.ToLower(s) {
			t.Fatalf("ParseToken(%q) = %+v, which signs as %q", s, tok, again)
		}
	})
}
