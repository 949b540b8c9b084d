package dkim

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// rfc8463 reads testdata: the signed example of RFC 8463 Appendix A.3
// (rfc8463-signed.eml, CRLF, byte for byte as published) and its keys
// (A.2: the Ed25519 seed and the two TXT records).
func rfc8463(t *testing.T) (signed []byte, seed []byte, records map[string]string) {
	t.Helper()
	signed, err := os.ReadFile("testdata/rfc8463-signed.eml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/rfc8463-keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch {
		case strings.HasPrefix(k, "#") || k == "":
		case k == "ed25519-seed":
			if seed, err = base64.StdEncoding.DecodeString(v); err != nil {
				t.Fatal(err)
			}
		default:
			records[k+"._domainkey.football.example.com"] = v
		}
	}
	return signed, seed, records
}

// unfold removes the folding of a DKIM-Signature field (CRLF before WSP),
// and the folding whitespace inside its final b= value, which RFC 6376
// §3.5 says verifiers ignore.
func unfold(s string) string {
	s = strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t").Replace(s)
	i := strings.LastIndex(s, " b=")
	return s[:i] + strings.Join(strings.Fields(s[i:]), "")
}

// The production signer, given the example's tags (t=, s=, d=, i=, q=,
// c=relaxed/relaxed and h= as the RFC writes it), reproduces RFC 8463's
// Ed25519 DKIM-Signature: every tag, bh= and b= byte for byte (Ed25519 is
// deterministic), and the field itself byte for byte once unfolded (the
// RFC folds at 58 columns, Petrel at 76: folding whitespace, which the
// relaxed header canonicalization makes one space and which b= ignores).
func TestRFC8463Ed25519SignsByteExact(t *testing.T) {
	signed, seed, records := rfc8463(t)
	key := ed25519.NewKeyFromSeed(seed)
	rec, _ := Record(key)
	if rec != records["brisbane._domainkey.football.example.com"] {
		t.Fatalf("Record of the RFC's key = %q, the RFC publishes %q", rec, records["brisbane._domainkey.football.example.com"])
	}
	// The message as it was before signing: the two signature fields off.
	i := bytes.Index(signed, []byte("From: "))
	want, unsigned := string(signed[:bytes.Index(signed, []byte("DKIM-Signature: v=1; a=rsa"))]), signed[i:]
	s := &Signer{
		Domain: "football.example.com", Selector: "brisbane", Key: key,
		identifier: "@football.example.com", query: "dns/txt", canon: "relaxed/relaxed",
		at:        time.Unix(1528637909, 0),
		headers:   []string{"from", "to", "subject", "date", "message-id", "from", "subject", "date"},
		headerSep: " : ",
	}
	out, err := s.Sign(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out[:len(out)-len(unsigned)])
	if unfold(got) != unfold(want) {
		t.Fatalf("signature field differs from RFC 8463's:\ngot  %q\nwant %q", unfold(got), unfold(want))
	}
	for _, tag := range []string{"bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
		"b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="} {
		if !strings.Contains(strings.NewReplacer("\r\n ", "").Replace(got), tag) {
			t.Errorf("signature lacks %s:\n%s", tag, got)
		}
	}
	// The default (relaxed/simple) signature of the same message verifies.
	s = &Signer{Domain: "football.example.com", Selector: "brisbane", Key: key}
	out, err = s.Sign(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(out), &dkim.VerifyOptions{LookupTXT: func(n string) ([]string, error) { return []string{records[n]}, nil }})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("verification: %v %+v", err, vs)
	}
}

// Both signatures of the RFC's example verify with the published records
// (go-msgauth's verifier); a changed body fails both.
func TestRFC8463ExampleVerifies(t *testing.T) {
	signed, _, records := rfc8463(t)
	lookup := func(n string) ([]string, error) { return []string{records[n]}, nil }
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verification: %v %+v", err, vs)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "football.example.com" {
			t.Errorf("%+v", v)
		}
	}
	vs, _ = dkim.VerifyWithOptions(bytes.NewReader(bytes.Replace(signed, []byte("hungry"), []byte("angry!"), 1)), &dkim.VerifyOptions{LookupTXT: lookup})
	if len(vs) != 2 || vs[0].Err == nil || vs[1].Err == nil {
		t.Fatalf("tampered example verified: %+v", vs)
	}
}
