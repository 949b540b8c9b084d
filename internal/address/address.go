// Package address parses and normalises email addresses and domains the way
// SES accepts them: RFC 5322 mailbox syntax (optionally with a display name),
// a 7-bit ASCII local part (SES does not support SMTPUTF8), and the domain in
// ASCII (IDNA/Punycode), compared case-insensitively.
package address

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
)

// Address is a parsed mailbox.
type Address struct {
	Name   string // display name, decoded; may be empty
	Local  string // local part as given
	Domain string // lower-case ASCII (A-label) domain
}

// Email returns local@domain.
func (a Address) Email() string { return a.Local + "@" + a.Domain }

// String returns the address in header form, with the display name when set.
func (a Address) String() string {
	if a.Name == "" {
		return a.Email()
	}
	return (&mail.Address{Name: a.Name, Address: a.Email()}).String()
}

// ErrInvalid is wrapped by every parse failure.
var ErrInvalid = errors.New("invalid email address")

// Parse parses "local@domain" or "Name <local@domain>".
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

// ParseList parses a comma-separated address list (a header value).
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

// ParsePath parses an SMTP envelope path (MAIL FROM / RCPT TO argument,
// without angle brackets, as go-smtp hands it over).
func ParsePath(s string) (Address, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || strings.ContainsAny(s, " <>,\r\n\x00") {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return split("", s, s)
}

func split(name, addr, orig string) (Address, error) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	local, domain := addr[:i], addr[i+1:]
	if len(local) > 64 {
		return Address{}, fmt.Errorf("%w: local part longer than 64 characters: %q", ErrInvalid, orig)
	}
	for _, r := range local {
		if r > 0x7e || r < 0x21 && r != ' ' {
			return Address{}, fmt.Errorf("%w: local part must be 7-bit ASCII: %q", ErrInvalid, orig)
		}
	}
	d, err := Domain(domain)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q", ErrInvalid, orig)
	}
	return Address{Name: name, Local: local, Domain: d}, nil
}

// Domain normalises a domain name to lower-case ASCII and checks its syntax.
func Domain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	a, err := idna.Lookup.ToASCII(s)
	if err != nil || a == "" || len(a) > 253 || !strings.Contains(a, ".") && a != "localhost" {
		return "", fmt.Errorf("%w: bad domain %q", ErrInvalid, s)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: bad domain %q", ErrInvalid, s)
		}
	}
	return strings.ToLower(a), nil
}

// Key returns the form used to compare addresses: the local part as given
// (RFC 5321 §2.4: local parts are case-sensitive, though SES and most
// receivers fold them) lower-cased, and the domain lower-cased.
func (a Address) Key() string { return strings.ToLower(a.Local) + "@" + a.Domain }
