package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Canonicalization algorithms (RFC 6376 §3.4).
const (
	Simple  = "simple"
	Relaxed = "relaxed"
)

// foldWidth is the longest line of a DKIM-Signature field Petrel writes,
// CRLF excluded (RFC 5322 §2.1.1 recommends 78).
const foldWidth = 76

// sign computes the DKIM-Signature header field for msg (RFC 6376 §5;
// Ed25519: RFC 8463 §3, the SHA-256 hash of the header data signed with
// PureEdDSA): tags in RFC 6376's order (v a c d i q s t h bh b; §3.5), the
// field CRLF-terminated and folded at whitespace to foldWidth columns,
// b= broken anywhere. The header fields named in keys are taken bottom-up
// (§5.4.2; a name listed more often than present adds nothing, which
// oversigns); the body is hashed in one streaming pass with no copy of it.
func (s *Signer) sign(msg []byte, keys []string) (string, error) {
	headerCanon, bodyCanon, err := s.canonicalization()
	if err != nil {
		return "", err
	}
	for _, v := range [][2]string{{"domain (d=)", s.Domain}, {"selector (s=)", s.Selector}} {
		if v[1] == "" || strings.ContainsAny(v[1], "; \t\r\n=") {
			return "", fmt.Errorf("dkim: bad %s %q", v[0], v[1])
		}
	}
	var algo string
	switch s.Key.Public().(type) {
	case ed25519.PublicKey:
		algo = "ed25519-sha256"
	default:
		if AlgorithmOf(s.Key) == "" {
			return "", ErrBadKey
		}
		algo = "rsa-sha256"
	}
	fields, body := splitHeader(msg)
	bh := sha256.New()
	if bodyCanon == Relaxed {
		relaxedBody(bh, body)
	} else {
		simpleBody(bh, body)
	}
	sep := s.headerSep
	if sep == "" {
		sep = ":"
	}
	t := s.at
	if t.IsZero() {
		t = time.Now()
	}
	tags := []string{"v=1", "a=" + algo, "c=" + headerCanon + "/" + bodyCanon, "d=" + s.Domain}
	if s.identifier != "" {
		tags = append(tags, "i="+s.identifier)
	}
	if s.query != "" {
		tags = append(tags, "q="+s.query)
	}
	tags = append(tags, "s="+s.Selector, "t="+strconv.FormatInt(t.Unix(), 10),
		"h="+strings.Join(keys, sep), "bh="+base64.StdEncoding.EncodeToString(bh.Sum(nil)))
	unsigned := fold(tags)
	hh := sha256.New()
	used := map[string]int{}
	for _, k := range keys {
		lk := strings.ToLower(k)
		f := pick(fields, lk, used[lk])
		if f == nil {
			continue
		}
		used[lk]++
		hh.Write(canonHeader(f, headerCanon))
	}
	own := canonHeader([]byte(unsigned+" b="), headerCanon)
	hh.Write(bytes.TrimRight(own, "\r\n"))
	digest := hh.Sum(nil)
	var sig []byte
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		sig, err = s.Key.Sign(rand.Reader, digest, crypto.Hash(0))
	} else {
		sig, err = s.Key.Sign(rand.Reader, digest, crypto.SHA256)
	}
	if err != nil {
		return "", err
	}
	return unsigned + foldB(base64.StdEncoding.EncodeToString(sig)), nil
}

// canonicalization returns the header and body algorithms of s.canon
// ("header/body", or one name for both as RFC 6376 §3.5 c= reads; default
// relaxed/simple).
func (s *Signer) canonicalization() (string, string, error) {
	c := s.canon
	if c == "" {
		return Relaxed, Simple, nil
	}
	h, b, ok := strings.Cut(c, "/")
	if !ok {
		b = Simple
	}
	for _, a := range []string{h, b} {
		if a != Simple && a != Relaxed {
			return "", "", fmt.Errorf("dkim: unknown canonicalization %q", c)
		}
	}
	return h, b, nil
}

// fold writes "DKIM-Signature:" and the tags, each followed by ";", folding
// before a tag or before a word of a tag's value (h= has spaces when its
// separator has) when the line would pass foldWidth.
func fold(tags []string) string {
	var b strings.Builder
	b.WriteString("DKIM-Signature:")
	col := b.Len()
	for _, tag := range tags {
		words := strings.Split(tag+";", " ")
		for _, w := range words {
			if col+1+len(w) > foldWidth && col > 1 {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteByte(' ')
			b.WriteString(w)
			col += 1 + len(w)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// foldB is the b= tag on lines of its own, broken to foldWidth.
func foldB(sig string) string {
	var b strings.Builder
	line := " b="
	for len(sig) > 0 {
		n := min(len(sig), foldWidth-len(line))
		b.WriteString(line + sig[:n] + "\r\n")
		sig, line = sig[n:], " "
	}
	return b.String()
}

// splitHeader returns msg's header fields (each with its folded lines and
// line ends, as written) and the body after the empty line.
func splitHeader(msg []byte) (fields [][]byte, body []byte) {
	rest := msg
	for len(rest) > 0 {
		end := len(rest)
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			end = i + 1
		}
		line := rest[:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, rest[end:]
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = last[:len(last)+len(line)]
		} else {
			fields = append(fields, line)
		}
		rest = rest[end:]
	}
	return fields, nil
}

// pick returns the field named lname (lower case) that is the skip+1-th
// from the bottom, or nil.
func pick(fields [][]byte, lname string, skip int) []byte {
	for i := len(fields) - 1; i >= 0; i-- {
		name, _, ok := bytes.Cut(fields[i], []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimRight(name, " \t")), lname) {
			continue
		}
		if skip == 0 {
			return fields[i]
		}
		skip--
	}
	return nil
}

// canonHeader is one header field in canonical form, CRLF-terminated
// (RFC 6376 §3.4.1 simple: as is, line ends made CRLF; §3.4.2 relaxed:
// lower-case name, unfolded, runs of WSP one SP, none around the colon or
// at the end).
func canonHeader(f []byte, canon string) []byte {
	if canon == Simple {
		var out []byte
		for line := range bytes.Lines(f) {
			out = append(append(out, bytes.TrimRight(line, "\r\n")...), '\r', '\n')
		}
		return out
	}
	name, value, _ := bytes.Cut(f, []byte(":"))
	out := append(bytes.ToLower(bytes.TrimRight(name, " \t")), ':')
	space := false
	for _, c := range bytes.TrimLeft(value, " \t\r\n") {
		switch c {
		case '\r', '\n':
		case ' ', '\t':
			space = true
		default:
			if space {
				out = append(out, ' ')
				space = false
			}
			out = append(out, c)
		}
	}
	return append(out, '\r', '\n')
}

// simpleBody hashes body canonicalized as RFC 6376 §3.4.3 says: line ends
// CRLF, trailing empty lines dropped, an empty body one CRLF. Empty lines
// are held back (as a count) until a non-empty line follows.
func simpleBody(h hash.Hash, body []byte) {
	pending, wrote := 0, false
	for line := range bytes.Lines(body) {
		text := bytes.TrimRight(line, "\r\n")
		if len(text) == 0 && len(line) > len(text) {
			pending++
			continue
		}
		for ; pending > 0; pending-- {
			h.Write(crlf)
		}
		h.Write(text)
		h.Write(crlf)
		wrote = true
	}
	if !wrote {
		h.Write(crlf)
	}
}

// relaxedBody hashes body canonicalized as RFC 6376 §3.4.4 says: runs of
// WSP one SP, none at line ends, trailing empty lines dropped, an empty
// body nothing.
func relaxedBody(h hash.Hash, body []byte) {
	pending := 0
	var buf []byte
	for line := range bytes.Lines(body) {
		buf = buf[:0]
		space := false
		for _, c := range bytes.TrimRight(line, " \t\r\n") {
			if c == ' ' || c == '\t' {
				space = true
				continue
			}
			if space {
				buf = append(buf, ' ')
				space = false
			}
			buf = append(buf, c)
		}
		if len(buf) == 0 {
			pending++
			continue
		}
		for ; pending > 0; pending-- {
			h.Write(crlf)
		}
		h.Write(buf)
		h.Write(crlf)
	}
}

var crlf = []byte("\r\n")

var errNoFrom = errors.New("dkim: the message has no From header field")
