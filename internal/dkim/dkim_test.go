package dkim

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const testMessage = "From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nSubject: hello\r\n" +
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nX-Unsigned: yes\r\n\r\nHello,\r\n\r\nthis is signed.\r\n"

// Signatures made here verify with an independent implementation's verifier
// (go-msgauth), against the TXT record Record publishes.
func TestSignVerifies(t *testing.T) {
	for _, alg := range []Algorithm{RSA2048, RSA1024, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			key, err := Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			if AlgorithmOf(key) != alg {
				t.Fatalf("AlgorithmOf = %s", AlgorithmOf(key))
			}
			rec, err := Record(key)
			if err != nil {
				t.Fatal(err)
			}
			s := &Signer{Domain: "example.com", Selector: "sel1", Key: key}
			signed, err := s.Sign([]byte(testMessage))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(signed, []byte(testMessage)) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
				t.Fatalf("signed message is not the original with a prepended field:\n%s", signed)
			}
			lookups := 0
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
				lookups++
				if name != "sel1._domainkey.example.com" {
					t.Errorf("looked up %q", name)
				}
				return []string{rec}, nil
			}})
			if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.com" || lookups != 1 {
				t.Fatalf("verification: %v %+v", err, vs)
			}
			sigField := strings.Join(strings.Fields(string(signed[:len(signed)-len(testMessage)])), "")
			_, tags, _ := strings.Cut(sigField, ":")
			signedFields := map[string]bool{}
			for _, tag := range strings.Split(tags, ";") {
				if v, ok := strings.CutPrefix(tag, "h="); ok {
					for _, f := range strings.Split(v, ":") {
						signedFields[strings.ToLower(f)] = true
					}
				}
			}
			for _, h := range []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type"} {
				if !signedFields[h] {
					t.Errorf("h= lacks %s: %s", h, sigField)
				}
			}
			if signedFields["x-unsigned"] || signedFields["cc"] || len(signedFields) != 7 {
				t.Errorf("h= = %v, want exactly the seven present standard fields", signedFields)
			}
			// A changed body no longer verifies.
			tampered := bytes.Replace(signed, []byte("this is signed"), []byte("this is forged"), 1)
			vs, _ = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{rec}, nil }})
			if len(vs) != 1 || vs[0].Err == nil {
				t.Fatal("tampered body verified")
			}
		})
	}
}

func TestParsePrivateKey(t *testing.T) {
	rsaKey, _ := Generate(RSA2048)
	der, err := MarshalPrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_, edKey, _ := ed25519.GenerateKey(nil)
	edDER, _ := MarshalPrivateKey(edKey)
	for _, tc := range []struct {
		name string
		in   []byte
		want Algorithm
		err  bool
	}{
		{"SES base64 (BYODKIM)", []byte(b64), RSA2048, false},
		{"base64 with line breaks", []byte(b64[:64] + "\n" + b64[64:]), RSA2048, false},
		{"PEM", pemText, RSA2048, false},
		{"raw DER", der, RSA2048, false},
		{"Ed25519 PKCS #8", edDER, Ed25519, false},
		{"garbage", []byte("not a key"), "", true},
		{"empty", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tc.in)
			if tc.err {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey", err)
				}
				return
			}
			if err != nil || AlgorithmOf(k) != tc.want {
				t.Fatalf("ParsePrivateKey = %v, %v", k, err)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"RSA_2048_BIT": RSA2048, "rsa1024": RSA1024, "ed25519": Ed25519, "rsa-2048": RSA2048} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAlgorithm("dsa"); err == nil {
		t.Error("dsa accepted")
	}
}

func benchmarkSign(b *testing.B, alg Algorithm) {
	key, err := Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	s := &Signer{Domain: "example.com", Selector: "sel1", Key: key}
	msg := []byte(testMessage + strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n", 65))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign signs a 5 KB message, as acceptance does once per message
// for a domain with DKIM.
func BenchmarkSignRSA2048(b *testing.B) { benchmarkSign(b, RSA2048) }
func BenchmarkSignEd25519(b *testing.B) { benchmarkSign(b, Ed25519) }

// FuzzParsePrivateKey: operator-supplied key material never panics the parser.
func FuzzParsePrivateKey(f *testing.F) {
	key, _ := Generate(Ed25519)
	der, _ := MarshalPrivateKey(key)
	f.Add(der)
	f.Add([]byte(base64.StdEncoding.EncodeToString(der)))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKey(b)
		if err == nil && AlgorithmOf(k) == "" {
			t.Fatalf("accepted a key of no known algorithm: %T", k)
		}
	})
}
