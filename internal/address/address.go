// Package address parses and normalises email addresses and domains:
// RFC 5322 mailbox syntax in headers and API fields (optionally with a
// display name) and RFC 5321 §4.1.2 Mailbox syntax in SMTP envelope paths,
// both as RFC 6531 §3.3 and RFC 6532 §3.2 extend them for internationalised
// email. Petrel goes beyond SES here, which takes 7-bit local parts and
// Punycode domains only.
//
// Domains: a domain given with U-labels (user@bücher.example, 例え.jp) is
// converted to A-labels (xn--bcher-kva.example, xn--r8jz45g.jp) when it is
// parsed, with the UTS #46 processing of golang.org/x/net/idna's Lookup
// profile (nontransitional, mapping — case, width, compatibility forms, as a
// resolver maps a typed name — then the CheckHyphens, CheckBidi,
// CheckJoiners and STD3 rules). Lookup rather than Registration: whether a
// name may be registered is its registry's business, and Registration
// refuses even "Example.COM". An Address's domain is always lower-case ASCII,
// so the queue, DNS, RCPT TO, identities and events all see the A-label:
// what goes on the wire, valid with or without SMTPUTF8 (RFC 6531 §3.2).
//
// Local parts may hold UTF-8 (RFC 6531 §3.3: atext and qtextSMTP extended
// with UTF8-non-ascii), which must be valid, and hold no control character:
// no C0, DEL or C1 (U+0080-U+009F), quoted or not. They are kept byte for
// byte as given — not NFC-normalised, though RFC 6530 §10.1 recommends NFC
// to senders: only the receiving domain knows which spellings are one
// mailbox (RFC 5321 §2.4), and a rewritten local part could be another.
// Lengths are in octets (RFC 6531 §3.3). A non-ASCII address needs
// SMTPUTF8 to be written in MAIL FROM or RCPT TO (NeedsSMTPUTF8).
//
// An Address keeps its local part unquoted (the content of a Quoted-string,
// without quotes or quoted-pairs) and writes it back in RFC 5321 form with
// Email: as a Dot-string when it is one, else as a Quoted-string. Local parts
// that no Quoted-string can carry are refused by every parser, so Email of a
// parsed Address is always safe to put between angle brackets in MAIL FROM
// or RCPT TO.
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
	Local  string // local part, unquoted: UTF-8 without control characters, 1-64 octets once written by Email
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
// with its ASCII letters lower-cased (RFC 5321 §2.4 makes local parts
// case-sensitive, though SES and most receivers fold ASCII), "@", and the
// domain. Non-ASCII letters are not folded: Unicode case folding would make
// one Key of mailboxes a receiver may keep apart (K and U+212A KELVIN SIGN),
// and would change with Unicode versions. Quoted and unquoted spellings of
// the same local part ("a.b"@x and a.b@x, RFC 5321 §4.1.2) have the same
// Key.
func (a Address) Key() string { return lowerASCII(a.Local) + "@" + a.Domain }

// NeedsSMTPUTF8 reports whether the mailbox email (as Email writes it) can
// only be written in MAIL FROM or RCPT TO with the SMTPUTF8 parameter, that
// is whether it holds a non-ASCII octet (RFC 6531 §3.4). Addresses from
// this package's parsers have ASCII domains, so only a UTF-8 local part
// makes this true.
func NeedsSMTPUTF8(email string) bool {
	for i := 0; i < len(email); i++ {
		if email[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

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

// ParseAddrSpec parses one bare address, an RFC 5322 §3.4.1 addr-spec
// (local@domain, surrounding blanks allowed), as Parse does but refusing a
// display name, a comment and angle brackets around the address: the form
// of an API field that names a mailbox alone (a contact's EmailAddress).
// '<' and '>' inside a quoted local part ("<x>"@example.com) are part of
// the address and accepted. It accepts every address Parse accepts written
// as Email writes it, with the same Key, so a recipient the send path
// takes is always one it takes too. Errors wrap ErrInvalid.
func ParseAddrSpec(s string) (Address, error) {
	a, err := Parse(s)
	if err != nil {
		return Address{}, err
	}
	if a.Name != "" || outsideQuotes(s, "<>()") {
		return Address{}, fmt.Errorf("%w: not a bare address (local@domain): %q", ErrInvalid, s)
	}
	return a, nil
}

// outsideQuotes reports whether s holds one of chars outside its quoted
// strings (a quoted-pair inside one escapes the next byte).
func outsideQuotes(s, chars string) bool {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(chars, c) >= 0:
			return true
		}
	}
	return false
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
// a minimal Quoted-string local part (UTF-8 allowed, RFC 6531 §3.3; no
// control characters), "@", and an RFC 5321 Domain of lower-case LDH labels
// (A-labels, never U-labels) — a Mailbox that can be put between angle
// brackets in an SMTP command (with SMTPUTF8 when NeedsSMTPUTF8) without
// changing its meaning or adding to it. It checks syntax only: a
// single-label domain (a host name used for return paths) passes, though
// Parse and ParsePath refuse it as a recipient, and lengths are left to the
// parsers (a VERP return path's local part is longer than 64 octets, which
// RFC 5321 §4.5.3.1 lets receivers accept). Errors wrap ErrInvalid.
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
			// quoted-pairSMTP = %d92 %d32-126 (not extended by RFC 6531)
			if i+1 == len(s) || s[i+1] < 32 || s[i+1] > 126 {
				return "", "", errors.New("bad quoted-pair")
			}
			i++
			b.WriteByte(s[i])
		case c >= utf8.RuneSelf:
			// qtextSMTP =/ UTF8-non-ascii (RFC 6531 §3.3)
			r, n := utf8.DecodeRuneInString(s[i:])
			if err := checkLocalRune(r, n); err != nil {
				return "", "", err
			}
			b.WriteString(s[i : i+n])
			i += n - 1
		case c < 32 || c == 127:
			// qtextSMTP = %d32-33 / %d35-91 / %d93-126
			return "", "", errControl
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
	for i := 0; i < len(local); {
		r, n := utf8.DecodeRuneInString(local[i:])
		if err := checkLocalRune(r, n); err != nil {
			return Address{}, fmt.Errorf("%w: %v: %q", ErrInvalid, err, orig)
		}
		i += n
	}
	if len(quoteLocal(local)) > maxLocal {
		return Address{}, fmt.Errorf("%w: local part longer than %d octets: %q", ErrInvalid, maxLocal, orig)
	}
	d, err := Domain(domain)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q", err, orig)
	}
	a := Address{Name: name, Local: local, Domain: d}
	if len(a.Email()) > maxEmail {
		return Address{}, fmt.Errorf("%w: longer than %d characters: %q", ErrInvalid, maxEmail, orig)
	}
	return a, nil
}

// Domain normalises a domain name, given with U-labels, A-labels or both,
// to lower-case ASCII A-labels (bücher.example → xn--bcher-kva.example) by
// UTS #46 nontransitional processing (idna.Lookup, see the package comment)
// and checks its syntax: LDH labels of 1-63 octets, at least two labels (or
// "localhost"), at most 253 octets. A trailing dot is dropped. Errors wrap
// ErrInvalid and say why: not UTF-8, an invalid IDN (with idna's reason: a
// disallowed rune, a bad label, an A-label that does not decode), or a bad
// length or label.
func Domain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: domain is not UTF-8", ErrInvalid)
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: bad domain %q: %v", ErrInvalid, s, err)
	}
	a = strings.ToLower(a)
	if again, err := idna.Lookup.ToASCII(a); err != nil || again != a {
		// Refused so that the domain Petrel writes always parses again to
		// itself.
		return "", fmt.Errorf("%w: bad domain %q: A-labels do not convert back to themselves", ErrInvalid, s)
	}
	if a == "" || len(a) > 253 || !strings.Contains(a, ".") && a != "localhost" {
		return "", fmt.Errorf("%w: bad domain %q: need 2 or more labels and at most 253 octets", ErrInvalid, s)
	}
	for _, label := range strings.Split(a, ".") {
		if !isLDH(label) {
			return "", fmt.Errorf("%w: bad domain %q: label %q is not 1-63 letters, digits and inner hyphens", ErrInvalid, s, label)
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

// isDotString reports whether s is an RFC 5321 Dot-string, as RFC 6531
// §3.3 extends it: atoms of atext or UTF8-non-ascii (checkLocalRune) joined
// by single dots.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c != '.' && !isAtext(c) {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if checkLocalRune(r, n) != nil {
			return false
		}
		i += n
	}
	return true
}

var (
	errUTF8    = errors.New("local part is not valid UTF-8")
	errControl = errors.New("local part has a control character")
)

// checkLocalRune says why r, decoded from n octets, may not be in a local
// part, quoted or not: errUTF8 for invalid UTF-8 (a surrogate, overlong or
// truncated sequence), errControl for a C0 control, DEL, or a C1 control
// (U+0080-U+009F: RFC 6532 §3.1 UTF8-non-ascii, refused as RFC 5321
// refuses C0); nil otherwise.
func checkLocalRune(r rune, n int) error {
	switch {
	case r == utf8.RuneError && n == 1:
		return errUTF8
	case r < 32 || r == 127 || r >= 0x80 && r < 0xa0:
		return errControl
	}
	return nil
}

// lowerASCII lower-cases the ASCII letters of s and nothing else.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
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
