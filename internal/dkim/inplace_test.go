package dkim

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// SignInPlace builds the signed message in the message's own array when it
// has room for the field (no copy of a 40 MB message), else in a new one;
// either way the result verifies.
func TestSignInPlace(t *testing.T) {
	key, err := Generate(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := Record(key)
	s := &Signer{Domain: "example.com", Selector: "sel1", Key: key}
	for _, room := range []int{0, 10, 4096} {
		buf := make([]byte, len(testMessage), len(testMessage)+room)
		copy(buf, testMessage)
		signed, err := s.SignInPlace(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(signed, []byte(testMessage)) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
			t.Fatalf("room %d: not the message with a field before it:\n%s", room, signed)
		}
		if inPlace := &signed[0] == &buf[:1][0]; inPlace != (room >= 4096) {
			t.Fatalf("room %d: built in place = %v", room, inPlace)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return []string{rec}, nil }})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("room %d: verification: %v %+v", room, err, vs)
		}
	}
}

// The signature verifies with go-msgauth's verifier on the header shapes
// that trip canonicalization up, and for large bodies with long runs of
// trailing blank lines, under both body canonicalizations.
func TestSignCanonicalization(t *testing.T) {
	const signChunk = 64 << 10
	cases := map[string]string{
		"folded and spaced":    "From:   Sender\r\n\t<sender@example.com>  \r\nSubject:  a   b\t c \r\nTo: r@example.net\r\n\r\nbody\r\n",
		"repeated To":          "From: s@example.com\r\nTo: first@example.net\r\nTo: second@example.net\r\n\r\nbody\r\n",
		"trailing blank lines": "From: s@example.com\r\n\r\nbody\r\n\r\n\r\n",
		"empty body":           "From: s@example.com\r\nSubject: x\r\n\r\n",
		"mixed-case names":     "FROM: s@example.com\r\nsubject: x\r\nMessage-Id: <1@example.com>\r\n\r\nb\r\n",
		"CRLF across pieces":   "From: s@example.com\r\n\r\n" + strings.Repeat("x", signChunk-len("From: s@example.com\r\n\r\n")-1) + "\r\nline\r\n",
		"blank lines across pieces": "From: s@example.com\r\n\r\n" + strings.Repeat("y", signChunk-len("From: s@example.com\r\n\r\n")-3) +
			strings.Repeat("\r\n", signChunk),
		"several pieces": "From: s@example.com\r\n\r\n" + strings.Repeat("line of a large body\r\n", 3*signChunk/22),
	}
	for _, alg := range []Algorithm{RSA1024, Ed25519} {
		key, err := Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := Record(key)
		for _, c := range []string{"", "relaxed/relaxed", "simple/simple", "simple/relaxed"} {
			s := &Signer{Domain: "example.com", Selector: "sel1", Key: key, canon: c}
			for name, msg := range cases {
				signed, err := s.Sign([]byte(msg))
				if err != nil {
					t.Fatalf("%s %s: %v", alg, name, err)
				}
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
					LookupTXT: func(string) ([]string, error) { return []string{rec}, nil }})
				if err != nil || len(vs) != 1 || vs[0].Err != nil {
					t.Fatalf("%s %q %s: verification: %v %+v\n%s", alg, c, name, err, vs, signed)
				}
			}
		}
	}
	if _, err := (&Signer{Domain: "example.com", Selector: "s", Key: ed25519.NewKeyFromSeed(make([]byte, 32))}).Sign([]byte("Subject: x\r\n\r\nb\r\n")); err == nil {
		t.Fatal("signed a message without From")
	}
}

// BenchmarkSignLarge computes the signature of a 40 MB message, hashed
// where it lies (no copy of it).
func BenchmarkSignLarge(b *testing.B) {
	key, _ := Generate(Ed25519)
	s := &Signer{Domain: "example.com", Selector: "sel1", Key: key}
	msg := append([]byte(testMessage), bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 40<<20/38)...)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.field(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSign signs arbitrary header blocks and bodies (From first, CRLF line
// endings, as Petrel's accept path hands them over): signing never fails
// for them, and the independent verifier accepts every signature.
func FuzzSign(f *testing.F) {
	f.Add("Subject:  a \r\n\t b\r\nTo: x@y\r\nTo: z@y", "body\r\n\r\n")
	f.Add("subject:x", "")
	f.Add("X-A:\t\t", "\r\n\r\n")
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	rec, _ := Record(key)
	s := &Signer{Domain: "example.com", Selector: "sel1", Key: key}
	f.Fuzz(func(t *testing.T, head, body string) {
		if strings.Contains(strings.ReplaceAll(head+body, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(head+body, "\r\n", ""), "\r") {
			return // line endings are normalised before signing
		}
		for _, line := range strings.Split(head, "\r\n") {
			if name, _, ok := strings.Cut(line, ":"); !ok && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") ||
				ok && (name == "" || strings.ContainsAny(name, " \t")) || line == "" {
				return // message.Parse refuses such header blocks
			}
		}
		msg := "From: a@example.com\r\n" + head + "\r\n\r\n" + body
		signed, err := s.Sign([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return []string{rec}, nil }})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("verification: %v %+v\n%q", err, vs, signed)
		}
	})
}

// A key row with an empty or tag-breaking domain or selector is refused
// rather than written into a broken field.
func TestSignRefusesBadTags(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	for _, s := range []*Signer{{Domain: "example.com", Key: key}, {Selector: "s", Key: key},
		{Domain: "example.com", Selector: "a; b=", Key: key}} {
		if _, err := s.Sign([]byte(testMessage)); err == nil {
			t.Errorf("%+v: signed", s)
		}
	}
}
