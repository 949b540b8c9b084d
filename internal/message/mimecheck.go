package message

import (
	"errors"
	"mime"
	"strings"
)

// builtFields are the MIME fields that describe the body BuildSimple
// builds (RFC 2045 §4, §5, §6, §7, RFC 2183), which Headers may therefore
// not carry.
var builtFields = []string{"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID"}

// BuiltField reports whether name (case-insensitive) is a field that
// describes the body BuildSimple builds (builtFields): a caller's value
// would describe a body the caller did not build (a
// Content-Transfer-Encoding of base64 on a multipart message, RFC 2045
// §6.4; a Content-Disposition of attachment on the whole message).
func BuiltField(name string) bool {
	for _, f := range builtFields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// BuiltFieldError reports a content header field BuildSimple writes itself
// (BuiltField).
type BuiltFieldError struct{ Name string }

func (e *BuiltFieldError) Error() string {
	return "header '" + e.Name + "' cannot be set: Petrel writes MIME-Version, Content-Type, Content-Transfer-Encoding, Content-Disposition and Content-ID for the body it builds."
}

// EncodingError reports a multipart entity whose Content-Transfer-Encoding
// is not 7bit, 8bit or binary (RFC 2045 §6.4): its parts could not be
// found without decoding it, which no receiver does.
type EncodingError struct{ Encoding string }

func (e *EncodingError) Error() string {
	return "Content-Transfer-Encoding '" + truncate(e.Encoding, 60) +
		"' is not allowed on a multipart entity: it must be 7bit, 8bit or binary (RFC 2045 section 6.4)."
}

// CheckEncoding returns an *EncodingError when the message's top-level
// entity is multipart (Content-Type multipart/*) with a
// Content-Transfer-Encoding other than 7bit, 8bit or binary. It costs two
// header lookups.
func (m *Message) CheckEncoding() error {
	cte := m.Get("Content-Transfer-Encoding")
	if cte == "" {
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(m.Get("Content-Type"))
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return nil // RFC 2045 §5.2: taken as text/plain
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return nil
	}
	switch transferEncoding(cte) {
	case "7bit", "8bit", "binary":
		return nil
	}
	return &EncodingError{Encoding: cte}
}

// transferEncoding returns the mechanism of a Content-Transfer-Encoding
// value (RFC 2045 §6.1), lower case, without the white space and RFC 5322
// comment that may follow it: "7BIT (plain)" is "7bit". Every reader of
// the field in this package goes through it.
func transferEncoding(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}
