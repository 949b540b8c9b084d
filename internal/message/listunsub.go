package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// SES list management on the message (../shared/spec/ses.md §11.4, §3.3):
// the unsubscribe-page URL put in place of the {{amazonSESUnsubscribeUrl}}
// placeholder, and the X-SES-LIST-MANAGEMENT-OPTIONS header field.

// UnsubscribePlaceholder is the text SES replaces with the recipient's
// unsubscribe-page URL in the text/plain and text/html parts of a message
// sent with list management (dg/sending-email-subscription-management).
const UnsubscribePlaceholder = "{{amazonSESUnsubscribeUrl}}"

// maxUnsubscribeReplacements is how many occurrences SES replaces: the
// first two of the message.
const maxUnsubscribeReplacements = 2

// ReplaceUnsubscribeURL replaces the first two occurrences of
// UnsubscribePlaceholder in m's text/plain and text/html parts (in the
// order they appear, inline parts only: a part with Content-Disposition
// attachment, an enclosed message/rfc822 and a multipart/signed or
// multipart/encrypted entity are left as they are) with url, and returns
// how many it replaced. In text/html the URL is written HTML-escaped
// (html.EscapeString), so it is safe inside an attribute value or text.
//
// A part whose content-transfer-encoding is quoted-printable or base64 is
// decoded, changed and encoded again with the same encoding (RFC 2045 §6.7,
// §6.8). A 7bit, 8bit or binary part is changed in place, unless a line
// would then be longer than 998 octets (RFC 5322 §2.1.1, RFC 5321
// §4.5.3.1.6: receivers refuse such a line, or rewrap it and break the DKIM
// signature): then the part is encoded as quoted-printable, its
// Content-Transfer-Encoding set so (with a charset added to a part with
// 8-bit content and none, and MIME-Version to a message without it). Only
// the parts that held the placeholder change: every other byte of m
// (header fields, other parts, preambles, delimiters) stays as it was. A
// message whose octets hold neither the placeholder nor a "base64" or
// "quoted-printable" encoding name (in which the placeholder might be
// hidden) is left alone after one scan. url must be ASCII.
func ReplaceUnsubscribeURL(m *Message, url string) int {
	if !mayHoldPlaceholder(m) {
		return 0
	}
	r := replacer{url: url, left: maxUnsubscribeReplacements}
	h, body, changed := r.entity(m.Header, m.Body, "text/plain", 0)
	m.Body = body
	if changed {
		if index(h, "MIME-Version") < 0 {
			h = insertAt(h, index(h, "Content-Transfer-Encoding"), Field{Name: "MIME-Version", Raw: []byte("MIME-Version: 1.0\r\n")})
		}
		m.Header = h
	}
	return maxUnsubscribeReplacements - r.left
}

// mayHoldPlaceholder reports whether m may hold the placeholder: written
// plainly, or inside an encoded part.
func mayHoldPlaceholder(m *Message) bool {
	if bytes.Contains(m.Body, []byte("amazonSESUnsubscribeUrl")) {
		return true
	}
	for _, enc := range []string{"base64", "quoted-printable"} {
		if containsFold(m.Body, enc) {
			return true
		}
		for _, f := range m.Header {
			if containsFold(f.Raw, enc) {
				return true
			}
		}
	}
	return false
}

// containsFold reports whether b holds lower (ASCII lower-case) in any case.
func containsFold(b []byte, lower string) bool {
	first := lower[0]
	for i := 0; i+len(lower) <= len(b); i++ {
		if c := b[i] | 0x20; c != first {
			continue
		}
		if strings.EqualFold(string(b[i:i+len(lower)]), lower) {
			return true
		}
	}
	return false
}

// replacer counts the replacements still allowed.
type replacer struct {
	url  string
	left int
}

// entity returns the header fields and body of the entity with header h
// after replacement, and whether the fields changed (the part was
// re-encoded); defaultType is its media type when h has no Content-Type.
func (r *replacer) entity(h []Field, body []byte, defaultType string, depth int) ([]Field, []byte, bool) {
	if r.left == 0 || depth > maxDepth {
		return h, body, false
	}
	mediaType, params := defaultType, map[string]string(nil)
	if ct := get(h, "Content-Type"); ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			mediaType = "text/plain" // RFC 2045 §5.2
		}
	}
	if d := get(h, "Content-Disposition"); d != "" {
		if disp, _, err := mime.ParseMediaType(d); err == nil && disp == "attachment" {
			return h, body, false
		}
	}
	switch {
	case mediaType == "multipart/signed" || mediaType == "multipart/encrypted":
		return h, body, false // RFC 1847: changing the content breaks its signature
	case strings.HasPrefix(mediaType, "multipart/"):
		if mediaType == "multipart/digest" {
			return h, body, false // its parts are messages
		}
		return h, r.multipart(body, params["boundary"], depth), false
	case mediaType == "text/plain" || mediaType == "text/html":
		return r.leaf(h, body, mediaType, params, transferEncoding(get(h, "Content-Transfer-Encoding")))
	}
	return h, body, false
}

// leaf replaces in the content of a text part with header h; it returns
// the part's header fields, its new content, and whether the fields
// changed.
func (r *replacer) leaf(h []Field, body []byte, mediaType string, params map[string]string, cte string) ([]Field, []byte, bool) {
	url := r.url
	if mediaType == "text/html" {
		url = html.EscapeString(url)
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
		out, ok := r.replace(body, url)
		if !ok {
			return h, body, false
		}
		if !longLine(out) {
			return h, out, false
		}
		if eightBit(out) {
			// A Content-Type that cannot take a charset within a line
			// leaves the part as it is.
			if h, ok = withCharset(h, mediaType, params, out); !ok {
				return h, body, false
			}
		}
		h = setField(h, foldedField("Content-Transfer-Encoding", "quoted-printable"))
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(out)
		w.Close()
		return h, b.Bytes(), true
	case "quoted-printable":
		content, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return h, body, false
		}
		out, ok := r.replace(content, url)
		if !ok {
			return h, body, false
		}
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(out)
		w.Close()
		if bytes.HasSuffix(body, []byte("\r\n")) && !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
			b.WriteString("=\r\n") // the part ended with a line break: keep one, adding no content
		}
		return h, b.Bytes(), false
	case "base64":
		content, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
		if err != nil {
			return h, body, false
		}
		out, ok := r.replace(content, url)
		if !ok {
			return h, body, false
		}
		var b bytes.Buffer
		writeBase64(&b, out)
		if bytes.HasSuffix(body, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
		return h, b.Bytes(), false
	}
	return h, body, false
}

// maxLineOctets is the longest line RFC 5322 §2.1.1 allows, CRLF excluded.
const maxLineOctets = 998

// longLine reports whether b (CRLF line endings) has a line longer than
// maxLineOctets.
func longLine(b []byte) bool {
	for len(b) > maxLineOctets {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return true
		}
		if i > maxLineOctets {
			return true
		}
		b = b[i+2:]
	}
	return false
}

// replace replaces up to r.left occurrences of the placeholder in b with
// url, in a new buffer; ok is false when b holds none.
func (r *replacer) replace(b []byte, url string) (out []byte, ok bool) {
	ph := []byte(UnsubscribePlaceholder)
	for r.left > 0 {
		i := bytes.Index(b, ph)
		if i < 0 {
			break
		}
		out = append(out, b[:i]...)
		out = append(out, url...)
		b = b[i+len(ph):]
		r.left--
		ok = true
	}
	if !ok {
		return nil, false
	}
	return append(out, b...), true
}

// multipart replaces in each body part of a multipart body
// (walkMultipart), until no replacement is left; parts without the
// placeholder, and everything between parts, are copied as they are. A
// part re-encoded gets its new header fields.
func (r *replacer) multipart(body []byte, boundary string, depth int) []byte {
	var out []byte
	copied := 0 // body[:copied] is in out
	walkMultipart(body, boundary, func(kind span, start, end int) bool {
		if kind != spanPart {
			return true
		}
		h, content, ok := splitFields(body[start:end:end])
		if !ok {
			return true
		}
		before := r.left
		nh, nc, changed := r.entity(h, content, "text/plain", depth+1)
		switch {
		case r.left == before:
		case changed:
			out = append(out, body[copied:start]...)
			out = append(out, joinFields(nh, nc)...)
			copied = end
		default:
			out = append(out, body[copied:end-len(content)]...)
			out = append(out, nc...)
			copied = end
		}
		return r.left > 0
	})
	return finish(out, body, copied)
}

// ListManagementOptions is SES's ListManagementOptions: the contact list
// (and optionally the topic of it) a message is sent for
// (../shared/spec/ses.md §1.3, §11.4).
type ListManagementOptions struct {
	ContactList string
	Topic       string // "": the whole list
}

// ListOptionsError reports an X-SES-LIST-MANAGEMENT-OPTIONS value that
// does not parse.
type ListOptionsError struct{ Value string }

func (e *ListOptionsError) Error() string {
	return "Invalid X-SES-LIST-MANAGEMENT-OPTIONS header '" + truncate(e.Value, 100) +
		"': expected 'contactListName' or 'contactListName; topic=topicName', names of 1-64 letters, digits, '_' and '-'."
}

// ParseListManagementOptions parses the value of the
// X-SES-LIST-MANAGEMENT-OPTIONS header field, SES's SMTP equivalent of
// ListManagementOptions (../shared/spec/ses.md §3.3):
// "{contactListName}" or "{contactListName}; topic={topicName}". Blanks
// around the parts are ignored and the parameter name "topic" is
// case-insensitive. The names must be printable ASCII without blanks,
// ';' or '=' (the send path also holds them to the contact list and topic
// name syntax, contacts.ValidateName, which this package cannot import). Errors: *ListOptionsError (no list, an empty topic, another
// parameter, a repeated topic).
func ParseListManagementOptions(v string) (ListManagementOptions, error) {
	bad := &ListOptionsError{Value: v}
	parts := strings.Split(v, ";")
	o := ListManagementOptions{ContactList: strings.TrimSpace(parts[0])}
	if !optionName(o.ContactList) {
		return ListManagementOptions{}, bad
	}
	seen := false
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue // a trailing ";"
		}
		k, val, ok := strings.Cut(p, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || !strings.EqualFold(k, "topic") || seen || !optionName(val) {
			return ListManagementOptions{}, bad
		}
		o.Topic, seen = val, true
	}
	return o, nil
}

// optionName reports a contact list or topic name as the header field can
// carry it.
func optionName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ';' || c == '=' {
			return false
		}
	}
	return s != ""
}
