// Package dkim signs outgoing mail with DomainKeys Identified Mail
// (RFC 6376; Ed25519 per RFC 8463), as SES does for domains with Easy DKIM or
// a bring-your-own key (BYODKIM):
//
//  1. a key is generated for a domain identity (Generate) or supplied by the
//     operator (ParsePrivateKey), and stored sealed by package identity;
//  2. the operator publishes Record(key) as TXT at <selector>._domainkey.<domain>;
//  3. every message whose From domain (or a parent domain) has a key is
//     signed once at acceptance (Signer.Sign), before it is stored, so all
//     recipients and all retries send the same signed bytes.
//
// Signatures use relaxed header and simple body canonicalization and
// rsa-sha256 or ed25519-sha256, over the header fields SES signs; they are
// computed here (sign.go) and verified in the tests by an independent
// implementation (go-msgauth) and against RFC 8463's published example,
// which Signer reproduces byte for byte given the example's tags (the
// Signer's optional fields). Signing a large message costs no copy of it:
// the field is written into spare room before the message (SignInPlace),
// and the body is hashed line by line where it lies.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Algorithm names a key type, with SES's names for RSA lengths.
type Algorithm string

const (
	RSA2048 Algorithm = "RSA_2048_BIT" // SES Easy DKIM default
	RSA1024 Algorithm = "RSA_1024_BIT"
	Ed25519 Algorithm = "ED25519"
)

// ParseAlgorithm accepts SES's names and the short forms rsa2048, rsa1024, ed25519.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.NewReplacer("-", "", "_", "").Replace(strings.ToUpper(s)) {
	case "RSA2048BIT", "RSA2048", "RSA":
		return RSA2048, nil
	case "RSA1024BIT", "RSA1024":
		return RSA1024, nil
	case "ED25519":
		return Ed25519, nil
	}
	return "", fmt.Errorf("unknown DKIM key type %q (want RSA_2048_BIT, RSA_1024_BIT or ED25519)", s)
}

// Generate returns a new private key of the algorithm.
func Generate(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown DKIM key type %q", alg)
}

// AlgorithmOf names the algorithm of a key.
func AlgorithmOf(k crypto.Signer) Algorithm {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() <= 1024 {
			return RSA1024
		}
		return RSA2048
	case ed25519.PublicKey:
		return Ed25519
	}
	return ""
}

// MarshalPrivateKey encodes a key as PKCS #8 DER, for storage.
func MarshalPrivateKey(k crypto.Signer) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }

// ErrBadKey is returned for a private key that cannot be used for DKIM.
var ErrBadKey = errors.New("not an RSA (1024-4096 bit) or Ed25519 private key")

// ParsePrivateKey reads a private key given as PEM, as base64 DER (SES's
// DomainSigningPrivateKey: PEM without header, footer and line breaks), or
// as raw DER; PKCS #8 and PKCS #1 are accepted.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	der := b
	if block, _ := pem.Decode(b); block != nil {
		der = block.Bytes
	} else if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err == nil {
		der = d
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			return nil, ErrBadKey
		}
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < 1024 || n > 4096 {
			return nil, fmt.Errorf("RSA key of %d bits: %w", n, ErrBadKey)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, ErrBadKey
}

// Record is the DNS TXT record publishing the public key (RFC 6376 §3.6.1).
func Record(k crypto.Signer) (string, error) {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 §4.2: the raw 32-byte key, not SubjectPublicKeyInfo.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", ErrBadKey
}

// signedHeaders are the fields SES signs when present (RFC 6376 §5.4.1
// recommends the same set), plus Petrel's feedback token; From is required.
var signedHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe",
	"List-Unsubscribe-Post", "Feedback-ID", "X-Petrel-Feedback"}

// Signer signs for one domain with one key: Domain (d=), Selector (s=)
// and Key are the whole production interface (package identity sets only
// these), and the signature then has Petrel's fixed form — relaxed/simple
// canonicalization, no i= or q=, t= the time of signing, h= the fields of
// signedHeaders that the message has, joined by ":".
//
// The unexported fields override that form, and only the package's tests
// set them: they reproduce a published example (RFC 8463 Appendix A)
// byte-exact, which needs its i=, q=, c=, t=, h= list (with repeats) and
// h= separator, and they let a test sign with each canonicalization. Zero
// values mean the fixed form.
type Signer struct {
	Domain   string // d=
	Selector string // s=
	Key      crypto.Signer

	identifier string    // i= (RFC 6376 §3.5, e.g. "@football.example.com"); none when ""
	query      string    // q= ("dns/txt", the default a verifier assumes); none when ""
	canon      string    // c= as "header/body" (or one name, RFC 6376 §3.5); "" = relaxed/simple
	at         time.Time // t=; zero = the time of signing
	headers    []string  // h= names as written (repeats oversign); nil = the fields of signedHeaders present
	headerSep  string    // between h= names; "" = ":" (the RFC's example uses " : ")
}

// Sign returns msg (CRLF line endings, as stored) with a DKIM-Signature
// header field prepended, in a new buffer; msg is left as it is.
func (s *Signer) Sign(msg []byte) ([]byte, error) { return s.SignInPlace(msg[:len(msg):len(msg)]) }

// SignInPlace is Sign building the result in msg's backing array when its
// spare capacity holds the field (message.SignHeadroom leaves room): msg is
// moved up and the field written before it, so signing a 40 MB message
// costs no second copy. msg must not be used afterwards.
func (s *Signer) SignInPlace(msg []byte) ([]byte, error) {
	field, err := s.field(msg)
	if err != nil {
		return nil, err
	}
	if cap(msg)-len(msg) < len(field) {
		out := make([]byte, 0, len(field)+len(msg))
		return append(append(out, field...), msg...), nil
	}
	out := msg[:len(field)+len(msg)]
	copy(out[len(field):], msg)
	copy(out, field)
	return out, nil
}

// field computes the DKIM-Signature header field for msg (sign.go): by
// default relaxed header and simple body canonicalization (RFC 6376
// §3.4.2, §3.4.1), SHA-256, over the fields named in signedHeaders that
// msg has (the last instance of each, §5.4.2). The field is
// CRLF-terminated and folded. A message without From cannot be signed
// (§5.4: From must be signed).
func (s *Signer) field(msg []byte) (string, error) {
	keys := s.headers
	if keys == nil {
		keys = presentHeaders(msg)
	}
	hasFrom := false
	for _, k := range keys {
		hasFrom = hasFrom || strings.EqualFold(k, "From")
	}
	fields, _ := splitHeader(msg)
	if !hasFrom || pick(fields, "from", 0) == nil {
		return "", s.signError(errNoFrom)
	}
	f, err := s.sign(msg, keys)
	if err != nil {
		return "", s.signError(err)
	}
	return f, nil
}

// signError names the key that failed; the errors start with "dkim: ".
func (s *Signer) signError(err error) error {
	return fmt.Errorf("signing for %s with selector %q: %w", s.Domain, s.Selector, err)
}

// presentHeaders returns the names in signedHeaders (in that order, so
// From first when present) of the fields msg's header has.
func presentHeaders(msg []byte) []string {
	var names [][]byte
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i+1], msg[i+1:]
		} else {
			msg = nil
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok {
			names = append(names, bytes.TrimSpace(name))
		}
	}
	keys := make([]string, 0, len(signedHeaders))
	for _, h := range signedHeaders {
		for _, n := range names {
			if bytes.EqualFold(n, []byte(h)) {
				keys = append(keys, h)
				break
			}
		}
	}
	return keys
}
