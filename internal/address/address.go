// Package address parses and normalises email addresses and domains the way
// SES accepts them: RFC 5322 mailbox syntax in headers and API fields
// (optionally with a display name), RFC 5321 §4.1.2 Mailbox syntax in SMTP
// envelope paths, a 7-bit ASCII local part (SES does not support SMTPUTF8),
// and the domain in ASCII (IDNA/Punycode), compared case-insensitively.
//
// An Address keeps its local part unquoted (the content of a Quoted-string,
// without quotes or quoted-pairs) and writes it back in RFC 5321 form with
// Email: as a Dot-string when it is one, else as a Quoted-string. Local parts
// that no RFC 5321 Quoted-string can carry — control characters, TAB, DEL,
// non-ASCII — are refused by every parser, so Email of a parsed Address is
// always safe to put between angle brackets in MAIL FROM or RCPT TO.
//
// Policy: address literals (user@[192.0.2.1]) and source routes are refused
// (SES sends to domain names only); an empty local part ("") is refused.
package address

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address is a parsed mailbox.
type Address struct {
	Name   string // display name, decoded; may be empty
	Local  string // local part, unquoted: printable ASCII and space, 1-64 octets once written by Email
	Domain string // lower-case ASCII (A-label) domain
}

// Limits of RFC 5321 §4.5.3.1.
const (
	maxLocal = 64  // octets of the Local-part as written (quotes included)
	maxEmail = 254 // octets of Mailbox: a Path is at most 256 with its "<" and ">"
)

// Email returns the mailbox in RFC 5321 §4.1.2 form, local@domain: the
// local part as a Dot-string when it is one (a.b+tag@example.com), else as a
// Quoted-string with quoted-pairs for '"' and '\' ("a b"@example.com). This
// is the form written in MAIL FROM and RCPT TO, stored in queue entries and
// shown in events. For an Address returned by this package's parsers it
// contains no CR, LF, NUL, and no space, '<' or '>' outside the quotes.
func (a Address) Email() string { return quoteLocal(a.Local) + "@" + a.Domain }

// String returns the address in RFC 5322 header form, with the display name
// (quoted or RFC 2047-encoded as needed) when set.
func (a Address) String() string {
	if a.Name == "" {
		return a.Email()
	}
	// net/mail quotes the local part exactly as Email does (dot-atom or
	// quoted-string with quoted-pairs) for the characters Local may hold.
	return (&mail.Address{Name: a.Name, Address: a.Local + "@" + a.Domain}).String()
}

// Key returns the form used to compare addresses: the unquoted local part
// lower-cased (RFC 5321 §2.4 makes local parts case-sensitive, though SES and
// most receivers fold them), "@", and the domain. Quoted and unquoted
// spellings of the same local part ("a.b"@x and a.b@x, RFC 5321 §4.1.2) have
// the same Key.
func (a Address) Key() string { return strings.ToLower(a.Local) + "@" + a.Domain }

// ErrInvalid is wrapped by every parse failure.
var ErrInvalid = errors.New("invalid email address")

// Parse parses an RFC 5322 address, "local@domain" or "Name <local@domain>"
// (an API field or a header holding one mailbox). Errors wrap ErrInvalid.
func Parse(s string) (Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return Address{}, fmt.Errorf("%w: contains a control character", ErrInvalid)
	}
	if strings.TrimSpace(s) == "" {
		return Address{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	m, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return split(m.Name, m.Address, s)
}

// ParseList parses a comma-separated RFC 5322 address list (a header value).
// Errors wrap ErrInvalid.
func ParseList(s string) ([]Address, error) {
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	out := make([]Address, 0, len(list))
	for _, m := range list {
		a, err := split(m.Name, m.Address, m.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ParsePath parses an SMTP envelope path, the MAIL FROM or RCPT TO argument
// with or without its angle brackets and surrounding blanks, as an RFC 5321
// §4.1.2 Mailbox:
// Local-part = Dot-string / Quoted-string, "@", a domain name. Source routes,
// address literals, the null path "<>" and anything else are refused with an
// error wrapping ErrInvalid.
//
// go-smtp hands the server its argument with a quoted local part already
// unquoted, so over Petrel's SMTP listeners a quoted local part that is not
// also a valid Dot-string ("a b"@x arriving as a b@x) is refused rather
// than guessed at.
func ParsePath(s string) (Address, error) {
	s = strings.Trim(s, " \t")
	if strings.HasPrefix(s, "<") || strings.HasSuffix(s, ">") {
		if len(s) < 2 || s[0] != '<' || s[len(s)-1] != '>' {
			return Address{}, fmt.Errorf("%w: unbalanced angle brackets: %q", ErrInvalid, s)
		}
		s = s[1 : len(s)-1]
	}
	return ParseMailbox(s)
}

// ParseMailbox parses exactly an RFC 5321 §4.1.2 Mailbox (no brackets, no
// surrounding space): Dot-string or Quoted-string, "@", a domain name.
// Errors wrap ErrInvalid.
func ParseMailbox(s string) (Address, error) {
	local, rest, err := parseLocal(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v: %q", ErrInvalid, err, s)
	}
	domain, ok := strings.CutPrefix(rest, "@")
	if !ok || strings.Contains(domain, "@") {
		return Address{}, fmt.Errorf("%w: expected one \"@\" and a domain: %q", ErrInvalid, s)
	}
	return check("", local, domain, s)
}

// CheckEmail reports whether s is in the form Email writes: a Dot-string or
// a minimal Quoted-string local part, "@", and an RFC 5321 Domain of
// lower-case LDH labels — a Mailbox that can be put between angle brackets
// in an SMTP command without changing its meaning or adding to it. It checks
// syntax only: a single-label domain (a host name used for return paths)
// passes, though Parse and ParsePath refuse it as a recipient, and lengths
// are left to the parsers (a VERP return path's local part is longer than
// 64 octets, which RFC 5321 §4.5.3.1 lets receivers accept). Errors wrap
// ErrInvalid.
func CheckEmail(s string) error {
	local, rest, err := parseLocal(s)
	if err != nil {
		return fmt.Errorf("%w: %v: %q", ErrInvalid, err, s)
	}
	q := quoteLocal(local)
	domain, ok := strings.CutPrefix(rest, "@")
	switch {
	case !ok || local == "":
		return fmt.Errorf("%w: expected a local part, \"@\" and a domain: %q", ErrInvalid, s)
	case q != s[:len(s)-len(rest)]:
		return fmt.Errorf("%w: local part not in canonical form (%s): %q", ErrInvalid, q, s)
	}
	for _, label := range strings.Split(domain, ".") {
		if !isLDH(label) {
			return fmt.Errorf("%w: bad domain: %q", ErrInvalid, s)
		}
	}
	return nil
}

// parseLocal reads an RFC 5321 Local-part from the start of s and returns it
// unquoted, with the rest of s.
func parseLocal(s string) (local, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexByte(s, '@')
		if i < 0 {
			return "", "", errors.New(`missing "@"`)
		}
		if !isDotString(s[:i]) {
			return "", "", errors.New("local part is not a Dot-string")
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\':
			// quoted-pairSMTP = %d92 %d32-126
			if i+1 == len(s) || s[i+1] < 32 || s[i+1] > 126 {
				return "", "", errors.New("bad quoted-pair")
			}
			i++
			b.WriteByte(s[i])
		case c < 32 || c > 126:
			// qtextSMTP = %d32-33 / %d35-91 / %d93-126
			return "", "", errors.New("local part must be printable 7-bit ASCII")
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted string")
}

// split takes the unquoted local@domain net/mail returns (the local part may
// itself contain "@" once unquoted; the domain cannot).
func split(name, addr, orig string) (Address, error) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	return check(name, addr[:i], addr[i+1:], orig)
}

// check validates an unquoted local part and a domain and builds the Address.
func check(name, local, domain, orig string) (Address, error) {
	if local == "" {
		return Address{}, fmt.Errorf("%w: empty local part: %q", ErrInvalid, orig)
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c < 32 || c > 126 {
			return Address{}, fmt.Errorf("%w: local part must be printable 7-bit ASCII: %q", ErrInvalid, orig)
		}
	}
	if len(quoteLocal(local)) > maxLocal {
		return Address{}, fmt.Errorf("%w: local part longer than %d characters: %q", ErrInvalid, maxLocal, orig)
	}
	d, err := Domain(domain)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	a := Address{Name: name, Local: local, Domain: d}
	if len(a.Email()) > maxEmail {
		return Address{}, fmt.Errorf("%w: longer than %d characters: %q", ErrInvalid, maxEmail, orig)
	}
	return a, nil
}

// Domain normalises a domain name to lower-case ASCII (IDNA A-labels) and
// checks its syntax: LDH labels of 1-63 octets, at least two labels (or
// "localhost"), at most 253 octets. Errors wrap ErrInvalid.
func Domain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: domain is not UTF-8", ErrInvalid)
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil || a == "" || len(a) > 253 || !strings.Contains(a, ".") && a != "localhost" {
		return "", fmt.Errorf("%w: bad domain %q", ErrInvalid, s)
	}
	a = strings.ToLower(a)
	if again, err := idna.Lookup.ToASCII(a); err != nil || again != a {
		// An A-label that does not decode (xn--zz): refused, so that the
		// domain Petrel writes always parses again to itself.
		return "", fmt.Errorf("%w: bad domain %q", ErrInvalid, s)
	}
	for _, label := range strings.Split(a, ".") {
		if !isLDH(label) {
			return "", fmt.Errorf("%w: bad domain %q", ErrInvalid, s)
		}
	}
	return a, nil
}

// isLDH reports whether label is an RFC 5321 sub-domain in lower case:
// letters, digits and inner hyphens, 1-63 octets.
func isLDH(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDotString reports whether s is an RFC 5321 Dot-string: atoms of atext
// joined by single dots.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !isAtext(s[i]) {
			return false
		}
	}
	return true
}

// isAtext reports whether c is RFC 5322 §3.2.3 atext.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// quoteLocal writes an unquoted local part in RFC 5321 form: as is when it
// is a Dot-string, else as a Quoted-string with '"' and '\' escaped.
func quoteLocal(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}
