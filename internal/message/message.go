// Package message handles message content on the accept path: it parses a
// raw RFC 5322 message into header fields and body without re-encoding
// anything, normalises line endings, builds the MIME message for SES
// "Simple" content, and prepares a message for delivery the way SES does
// (SES-specific headers read and stripped, Message-ID and Date replaced, the
// original headers kept for the event "mail" object).
package message

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxLineLength is the longest line allowed, CRLF included (RFC 5321
// §4.5.3.1.6; SES RawMessage.Data).
const MaxLineLength = 1000

// Field is one header field as it appears in the message.
type Field struct {
	Name string // as written, e.g. "Content-Type"
	Raw  []byte // the whole field, "Name: value\r\n" with any folding
}

// Value returns the field body, unfolded, with surrounding space trimmed.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte{':'})
	s := strings.ReplaceAll(string(v), "\r\n", "")
	return strings.TrimSpace(s)
}

// Message is a parsed message: header fields in order and the body bytes.
type Message struct {
	Header []Field
	Body   []byte // everything after the blank line, CRLF line endings

	// Scratch lets Prepare build the prepared message in the backing array
	// of the bytes Parse was given (up to their capacity), moving the body
	// within it instead of copying it: for a 40 MB message, no second copy.
	// Set it only when the caller gives those bytes up; m and they must not
	// be used after Prepare.
	Scratch bool
	input   []byte // what Parse was given
}

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed message")

// NormalizeLineEndings rewrites every bare LF and bare CR as CRLF. Only a
// CRLF line ending ever leaves Petrel, so sequences such as "\n.\n" cannot
// smuggle a second message past the next hop (CVE-2023-51764 class). b is
// returned as is when it needs nothing, else the result is a new buffer.
func NormalizeLineEndings(b []byte) []byte {
	extra := bareLineEnds(b)
	if extra == 0 {
		return b
	}
	out := make([]byte, len(b), len(b)+extra)
	copy(out, b)
	return rewriteLineEnds(out, extra)
}

// NormalizeLineEndingsInPlace is NormalizeLineEndings without a copy when
// b's spare capacity holds the longer result: the bytes are rewritten in
// b's backing array. Otherwise it returns a new buffer, as
// NormalizeLineEndings does. For buffers nothing else reads (a request
// body); b must not be used afterwards.
func NormalizeLineEndingsInPlace(b []byte) []byte {
	extra := bareLineEnds(b)
	if extra == 0 {
		return b
	}
	if cap(b)-len(b) < extra {
		return NormalizeLineEndings(b)
	}
	return rewriteLineEnds(b, extra)
}

// bareLineEnds counts the bare CRs and bare LFs in b: the bytes
// normalising it adds.
func bareLineEnds(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			} else {
				n++
			}
		case '\n':
			n++
		}
	}
	return n
}

// rewriteLineEnds makes every line ending of b CRLF in b's own backing
// array, extra (bareLineEnds(b) <= cap(b)-len(b)) bytes longer. It works
// from the end, so every write lands at or after the byte being read and
// nothing is overwritten before it is read.
func rewriteLineEnds(b []byte, extra int) []byte {
	out := b[:len(b)+extra]
	w := len(out)
	for r := len(b) - 1; r >= 0; r-- {
		switch c := b[r]; {
		case c == '\n' && r > 0 && b[r-1] == '\r':
			r--
			fallthrough
		case c == '\n' || c == '\r':
			out[w-1], out[w-2] = '\n', '\r'
			w -= 2
		default:
			out[w-1] = c
			w--
		}
	}
	return out
}

// Parse splits a CRLF-normalised message into header fields and body. It
// checks the header syntax and the line-length limit; the body is kept as is.
func Parse(b []byte) (*Message, error) {
	m := &Message{input: b}
	rest := b
	for {
		if len(rest) == 0 {
			// Header only, no blank line: the body is empty.
			break
		}
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			m.Body = rest[2:]
			break
		}
		if rest[0] == ' ' || rest[0] == '\t' {
			if len(m.Header) == 0 {
				return nil, fmt.Errorf("%w: message starts with a continuation line", ErrMalformed)
			}
		}
		end := bytes.Index(rest, []byte("\r\n"))
		if end < 0 {
			end = len(rest)
		} else {
			end += 2
		}
		line := rest[:end]
		if len(line) > MaxLineLength {
			return nil, fmt.Errorf("%w: header line longer than %d characters", ErrMalformed, MaxLineLength)
		}
		if line[0] == ' ' || line[0] == '\t' {
			last := &m.Header[len(m.Header)-1]
			last.Raw = append(last.Raw, line...)
		} else {
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !validName(line[:colon]) {
				if len(m.Header) == 0 {
					return nil, fmt.Errorf("%w: no header fields", ErrMalformed)
				}
				return nil, fmt.Errorf("%w: bad header line %q", ErrMalformed, truncate(string(line), 60))
			}
			m.Header = append(m.Header, Field{Name: string(line[:colon]), Raw: append([]byte(nil), line...)})
		}
		rest = rest[end:]
	}
	if len(m.Header) == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	if last := &m.Header[len(m.Header)-1]; !bytes.HasSuffix(last.Raw, []byte("\r\n")) {
		last.Raw = append(last.Raw, '\r', '\n')
	}
	if err := checkLines(m.Body); err != nil {
		return nil, err
	}
	return m, nil
}

func checkLines(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		if i+1 > MaxLineLength {
			return fmt.Errorf("%w: line longer than %d characters", ErrMalformed, MaxLineLength)
		}
		b = b[i+1:]
	}
	return nil
}

// validName reports an RFC 5322 §3.6.8 field name: printable ASCII but ':'.
func validName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return len(b) > 0
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Get returns the value of the first field named name (case-insensitive).
func (m *Message) Get(name string) string {
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// Values returns the values of all fields named name.
func (m *Message) Values(name string) []string {
	var out []string
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// Del removes all fields named name.
func (m *Message) Del(name string) {
	out := m.Header[:0]
	for _, f := range m.Header {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	m.Header = out
}

// Set replaces all fields named name with one field holding value, placed
// where the first one was (or first in the header when there was none),
// folded at value's blanks (RFC 5322 §2.2.3). value must already be
// encoded and must not contain CR or LF.
func (m *Message) Set(name, value string) {
	f := foldedField(name, value)
	at := 0
	for i, h := range m.Header {
		if strings.EqualFold(h.Name, name) {
			at = i
			break
		}
	}
	m.Del(name)
	m.Header = insertAt(m.Header, at, f)
}

func insertAt(h []Field, i int, f Field) []Field {
	if i > len(h) {
		i = len(h)
	}
	h = append(h, Field{})
	copy(h[i+1:], h[i:])
	h[i] = f
	return h
}

// Bytes returns the message as it will be transmitted, in a new buffer
// with SignHeadroom bytes of spare capacity.
func (m *Message) Bytes() []byte { return m.assemble(nil) }

// SignHeadroom is the spare capacity left after a prepared message for the
// DKIM-Signature field (an RSA-4096 signature field is about 900 bytes), so
// that dkim.Signer.SignInPlace can prepend it without copying the message.
const SignHeadroom = 2 << 10

// assemble writes the header fields, the blank line and the body in one
// buffer: scratch's backing array when it has room (the body, which lies
// in it, is moved rather than copied; the fields are separate copies made
// by Parse), else a new one.
func (m *Message) assemble(scratch []byte) []byte {
	n := len(m.Body) + 2
	for _, f := range m.Header {
		n += len(f.Raw)
	}
	var out []byte
	if cap(scratch) >= n+SignHeadroom {
		out = scratch[:n]
	} else {
		out = make([]byte, n, n+SignHeadroom)
	}
	copy(out[n-len(m.Body):], m.Body) // first: the fields go where the body may have been
	w := 0
	for _, f := range m.Header {
		w += copy(out[w:], f.Raw)
	}
	copy(out[w:], "\r\n")
	return out
}

// singleton lists the header fields a message may carry at most once
// (CheckDuplicates): SES's list (dg/header-fields; ../shared/spec/ses.md
// §11.2); the fields RFC 5322 §3.6 allows once that SES's list leaves out
// (To, Cc, Bcc: a deliberate difference from SES, which accepts them
// twice, since receivers such as Gmail refuse such mail as not RFC 5322
// compliant); and the single-valued X-SES-* control fields the send path
// reads (§3.3), so that a second one is refused rather than ignored.
// X-SES-MESSAGE-TAGS may repeat: Prepare merges its fields.
var singleton = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`To Cc Bcc X-SES-CONFIGURATION-SET X-SES-LIST-MANAGEMENT-OPTIONS
		X-SES-SOURCE-ARN X-SES-FROM-ARN X-SES-RETURN-PATH-ARN`) {
		singleton[strings.ToLower(n)] = true
	}
	for _, n := range strings.Fields(`Accept-Language acceptLanguage Archived-At Auto-Submitted Bounces-to Comments
		Content-Alternative Content-Base Content-Class Content-Description Content-Disposition Content-Duration
		Content-ID Content-Language Content-Length Content-Location Content-MD5 Content-Transfer-Encoding
		Content-Type Date Delivered-To Disposition-Notification-Options Disposition-Notification-To
		DKIM-Signature DomainKey-Signature Errors-To From Importance In-Reply-To Keywords List-Archive List-Help
		List-Id List-Owner List-Post List-Subscribe List-Unsubscribe List-Unsubscribe-Post Message-Context
		Message-ID MIME-Version Organization Original-From Original-Message-ID Original-Recipient
		Original-Subject Precedence Priority References Reply-To Return-Path Return-Receipt-To Sender
		Solicitation Sensitivity Subject Thread-Index Thread-Topic User-Agent VBR-Info`) {
		singleton[strings.ToLower(n)] = true
	}
}

// DuplicateHeaderError reports a header field allowed once (singleton)
// appearing more often. Its text is SES's: "Duplicate header 'Content-Type'."
type DuplicateHeaderError struct{ Name string }

func (e *DuplicateHeaderError) Error() string { return fmt.Sprintf("Duplicate header '%s'.", e.Name) }

// CheckDuplicates returns a *DuplicateHeaderError for the first field that
// may appear only once but appears again.
func (m *Message) CheckDuplicates() error {
	seen := map[string]bool{}
	for _, f := range m.Header {
		k := strings.ToLower(f.Name)
		if !singleton[k] {
			continue
		}
		if seen[k] {
			return &DuplicateHeaderError{Name: f.Name}
		}
		seen[k] = true
	}
	return nil
}

// eightBit reports whether the message has an octet 7-bit data may not
// hold (RFC 2045 §2.7) in its header or body.
func (m *Message) eightBit() bool {
	for _, f := range m.Header {
		if eightBit(f.Raw) {
			return true
		}
	}
	return eightBit(m.Body)
}
