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
// rsa-sha256 or ed25519-sha256, over the header fields SES signs.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
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

// Signer signs for one domain with one key.
type Signer struct {
	Domain   string // d=
	Selector string // s=
	Key      crypto.Signer
}

// Sign returns msg (CRLF line endings, as stored) with a DKIM-Signature
// header field prepended, in a new buffer.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	field, err := s.field(msg)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(field)+len(msg))
	return append(append(out, field...), msg...), nil
}

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

// field computes the DKIM-Signature header field for msg (RFC 6376 §5;
// Ed25519: RFC 8463), with relaxed header and simple body canonicalization
// (§3.4.2, §3.4.3) and SHA-256. The body is hashed where it lies, nothing
// of it is copied (a 40 MB message costs no garbage); the header fields
// named in signedHeaders are signed when present, each name once, the last
// instance of a repeated one (§5.4.2).
func (s *Signer) field(msg []byte) (string, error) {
	fields, body := splitHeader(msg)
	var alg string
	opts := crypto.Hash(0) // Ed25519 signs the hash itself (RFC 8463 §3)
	switch s.Key.Public().(type) {
	case *rsa.PublicKey:
		alg, opts = "rsa-sha256", crypto.SHA256
	case ed25519.PublicKey:
		alg = "ed25519-sha256"
	default:
		return "", fmt.Errorf("dkim: %w", ErrBadKey)
	}
	// Simple body canonicalization: trailing empty lines become one CRLF.
	for len(body) >= 2 && body[len(body)-2] == '\r' && body[len(body)-1] == '\n' {
		body = body[:len(body)-2]
	}
	bh := sha256.New()
	bh.Write(body)
	bh.Write([]byte("\r\n"))

	var signed []string
	var picked [][]byte
	for _, name := range signedHeaders {
		if f := lastField(fields, name); f != nil {
			signed = append(signed, name)
			picked = append(picked, f)
		}
	}
	if len(signed) == 0 || signed[0] != "From" {
		return "", errors.New("dkim: the message has no From header field")
	}
	field := "DKIM-Signature: v=1; a=" + alg + "; c=relaxed/simple; d=" + s.Domain + "; s=" + s.Selector +
		";\r\n t=" + strconv.FormatInt(time.Now().Unix(), 10) + "; h=" + strings.Join(signed, ":") +
		";\r\n bh=" + base64.StdEncoding.EncodeToString(bh.Sum(nil)) + ";\r\n b="
	h := sha256.New()
	for _, f := range picked {
		h.Write(relaxedHeader(f))
	}
	h.Write(bytes.TrimSuffix(relaxedHeader([]byte(field)), []byte("\r\n")))
	sig, err := s.Key.Sign(rand.Reader, h.Sum(nil), opts)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	b := base64.StdEncoding.EncodeToString(sig)
	var out strings.Builder
	out.WriteString(field)
	for len(b) > 72 {
		out.WriteString(b[:72])
		out.WriteString("\r\n ")
		b = b[72:]
	}
	out.WriteString(b)
	out.WriteString("\r\n")
	return out.String(), nil
}

// splitHeader returns msg's header fields (each with its folded lines and
// CRLFs) and its body (after the blank line), as sub-slices of msg.
func splitHeader(msg []byte) (fields [][]byte, body []byte) {
	rest := msg
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n') + 1
		if end == 0 {
			end = len(rest)
		}
		line := rest[:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, rest[end:]
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = last[:len(last)+len(line)] // the next bytes of msg
		} else {
			fields = append(fields, line)
		}
		rest = rest[end:]
	}
	return fields, nil
}

// lastField returns the last field named name (case-insensitive), or nil.
func lastField(fields [][]byte, name string) []byte {
	for i := len(fields) - 1; i >= 0; i-- {
		if n, _, ok := bytes.Cut(fields[i], []byte(":")); ok && strings.EqualFold(string(bytes.TrimSpace(n)), name) {
			return fields[i]
		}
	}
	return nil
}

// relaxedHeader canonicalizes one header field (RFC 6376 §3.4.2): the name
// lower-cased, the value unfolded, runs of WSP made one space, WSP around
// the colon and at the end removed; CRLF-terminated.
func relaxedHeader(f []byte) []byte {
	name, value, _ := bytes.Cut(f, []byte(":"))
	out := make([]byte, 0, len(f)+2)
	out = append(out, bytes.ToLower(bytes.TrimSpace(name))...)
	out = append(out, ':')
	space := false
	for _, c := range value {
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
			continue
		}
		if space && len(out) > 0 && out[len(out)-1] != ':' {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c)
	}
	return append(out, '\r', '\n')
}
