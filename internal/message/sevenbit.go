package message

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Making a message 7-bit (RFC 2045 §2.7: no octet above 127, no NUL,
// lines within 998 octets) before it is DKIM-signed, so that the signed
// bytes are the bytes every next hop receives, whether or not it offers
// 8BITMIME (RFC 6152): the next hop cannot be made to downgrade them and
// break the signature.
//
// Only what carries 8-bit octets is rewritten; everything else — 7-bit
// parts, multipart preambles and epilogues, delimiter lines — stays byte
// for byte:
//
//   - a leaf MIME part (or the body of a message without MIME structure)
//     is re-encoded: text/* as quoted-printable, anything else as base64
//     (RFC 2045 §6.7, §6.8), and its Content-Transfer-Encoding set. A
//     quoted-printable part with raw 8-bit octets is decoded and encoded
//     again; a base64 (or other encoded) part with 8-bit octets is garbage
//     no reading can be sure of, and is left as it is. A text part without
//     a charset (which means us-ascii, RFC 2045 §5.2) is given charset
//     utf-8 when its octets are UTF-8, else unknown-8bit (RFC 1428).
//   - a multipart/signed or multipart/encrypted entity (RFC 1847) is left
//     as it is, like a message its sender DKIM-signed: re-encoding the
//     signed content would break its signature.
//   - a message/rfc822 or message/global part, which RFC 2045 §6.4 forbids
//     to encode, is converted as the message it holds, recursively.
//     Other message/* parts (delivery-status, partial, external-body) are
//     left as they are.
//   - header fields with raw UTF-8 (RFC 6532): unstructured ones become
//     RFC 2047 encoded-words, display names in address fields too (RFC
//     2047 §5(3)), MIME parameters RFC 2231 extended values. A field that
//     cannot be made 7-bit — an address with a non-ASCII local part, a
//     group or a comment, a field of another structure — stays as it is;
//     the message then needs SMTPUTF8 (RFC 6531) at the next hop.
//
// Malformed MIME never loses content: a multipart without its closing
// delimiter ends at the end of the body; a multipart without a boundary
// parameter or without any delimiter line has no parts any reader can
// find, so its body is taken as the text it is (Content-Type text/plain,
// quoted-printable); a part whose header does not parse is left as it is
// (it may then still carry 8-bit octets). Preambles and epilogues, which
// readers ignore (RFC 2046 §5.1.1) and no encoding can apply to, have
// their 8-bit octets replaced by "?".

// maxDepth bounds the nesting of multiparts and enclosed messages the
// conversion follows; deeper entities are left as they are.
const maxDepth = 32

// eightBit reports whether b has an octet that 7-bit data may not hold:
// one above 127, or NUL (RFC 2045 §2.7). It reads eight octets at a time.
func eightBit(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 32 {
		x0 := binary.LittleEndian.Uint64(b)
		x1 := binary.LittleEndian.Uint64(b[8:])
		x2 := binary.LittleEndian.Uint64(b[16:])
		x3 := binary.LittleEndian.Uint64(b[24:])
		// A zero octet borrows in x-ones and sets that octet's high bit.
		if (x0|(x0-ones)|x1|(x1-ones)|x2|(x2-ones)|x3|(x3-ones))&highs != 0 {
			return true
		}
		b = b[32:]
	}
	for _, c := range b {
		if c == 0 || c > 127 {
			return true
		}
	}
	return false
}

// to7bit rewrites m's header fields and body as 7-bit, as described
// above, and reports whether it changed anything.
func to7bit(m *Message) bool {
	var c converter
	m.Header, m.Body = c.message(m.Header, m.Body, 0)
	return c.changes > 0
}

// converter counts the rewrites it makes.
type converter struct{ changes int }

// message converts a message: its header fields, then its body as an
// entity. A message that gains a Content-Type also gains MIME-Version.
func (c *converter) message(h []Field, body []byte, depth int) ([]Field, []byte) {
	h = c.fields(h)
	hadType := get(h, "Content-Type") != ""
	h, body = c.entity(h, body, "text/plain", depth)
	if i := index(h, "Content-Type"); !hadType && i >= 0 && index(h, "MIME-Version") < 0 {
		h = insertAt(h, i, Field{Name: "MIME-Version", Raw: []byte("MIME-Version: 1.0\r\n")})
	}
	return h, body
}

// fields converts the header fields that have 8-bit octets and can be
// rewritten.
func (c *converter) fields(h []Field) []Field {
	for i, f := range h {
		if !eightBit(f.Raw) {
			continue
		}
		if g, ok := convertField(f); ok && !longLine(g.Raw) {
			h[i] = g
			c.changes++
		}
	}
	return h
}

// entity converts the body of an entity with header h (RFC 2045 §2.4);
// defaultType is the media type when h has no Content-Type.
func (c *converter) entity(h []Field, body []byte, defaultType string, depth int) ([]Field, []byte) {
	if depth > maxDepth || !eightBit(body) {
		return h, body
	}
	mediaType, params := defaultType, map[string]string(nil)
	if ct := get(h, "Content-Type"); ct != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			mediaType = "text/plain" // RFC 2045 §5.2: an invalid Content-Type is taken as text/plain
		}
	}
	cte := transferEncoding(get(h, "Content-Transfer-Encoding"))
	switch {
	case mediaType == "multipart/signed" || mediaType == "multipart/encrypted":
		// RFC 1847 §2.1: the signed (or encrypted) content must stay byte
		// for byte; re-encoding it would break the PGP/MIME or S/MIME
		// signature, as converting a DKIM-signed message would break DKIM.
		// It stays 8-bit and needs 8BITMIME at the next hop.
		return h, body
	case strings.HasPrefix(mediaType, "multipart/"):
		parts, found := c.multipart(body, params["boundary"], mediaType == "multipart/digest", depth)
		if !found {
			h = setField(h, foldedField("Content-Type", "text/plain"))
			return c.leaf(h, body, "text/plain", map[string]string{}, cte)
		}
		body = parts
	case mediaType == "message/rfc822" || mediaType == "message/global":
		if cte != "" && cte != "7bit" && cte != "8bit" && cte != "binary" {
			return h, body
		}
		inner, innerBody, ok := splitFields(body)
		if !ok {
			return h, body
		}
		inner, innerBody = c.message(inner, innerBody, depth+1)
		body = joinFields(inner, innerBody)
	case strings.HasPrefix(mediaType, "message/"):
		return h, body
	default:
		return c.leaf(h, body, mediaType, params, cte)
	}
	if (cte == "8bit" || cte == "binary") && !eightBit(body) {
		h = setField(h, foldedField("Content-Transfer-Encoding", "7bit"))
	}
	return h, body
}

// leaf re-encodes the content of a leaf entity with 8-bit octets.
func (c *converter) leaf(h []Field, body []byte, mediaType string, params map[string]string, cte string) ([]Field, []byte) {
	content := body
	switch cte {
	case "", "7bit", "8bit", "binary":
	case "quoted-printable":
		// Go's reader takes raw 8-bit octets as themselves.
		var err error
		if content, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
			return h, body
		}
	default:
		return h, body
	}
	var out bytes.Buffer
	if !strings.HasPrefix(mediaType, "text/") {
		c.changes++
		out.Grow(len(content) * 4 / 3)
		h = setField(h, foldedField("Content-Transfer-Encoding", "base64"))
		writeBase64(&out, content)
		if bytes.HasSuffix(content, []byte("\r\n")) {
			out.WriteString("\r\n") // a line break at the end stays one
		}
		return h, out.Bytes()
	}
	h2, ok := withCharset(h, mediaType, params, content)
	if !ok {
		return h, body
	}
	c.changes++
	out.Grow(len(content) * 4 / 3)
	h = setField(h2, foldedField("Content-Transfer-Encoding", "quoted-printable"))
	w := quotedprintable.NewWriter(&out)
	w.Write(content)
	w.Close()
	return h, out.Bytes()
}

// withCharset gives a text part with header h and 8-bit content but no
// charset parameter (which means us-ascii, RFC 2045 §5.2) charset utf-8
// when content is UTF-8, else unknown-8bit (RFC 1428); params are its
// Content-Type's (nil: none, or one that does not parse). It reports false,
// with h as it is, when the new Content-Type would have a line longer than
// maxLineOctets (a media type or parameter longer than a line): the part
// is then left as it is.
func withCharset(h []Field, mediaType string, params map[string]string, content []byte) ([]Field, bool) {
	if _, ok := params["charset"]; ok {
		return h, true
	}
	cs := "utf-8"
	if !utf8.Valid(content) {
		cs = "unknown-8bit"
	}
	var f Field
	switch ct := get(h, "Content-Type"); {
	case ct == "":
		f = foldedField("Content-Type", mediaType+"; charset="+cs)
	case params != nil:
		f = foldedField("Content-Type", strings.TrimRight(ct, "; \t")+"; charset="+cs)
	default:
		return h, true
	}
	if longLine(f.Raw) {
		return h, false
	}
	return setField(h, f), true
}

// writeBase64 writes b in base64 lines of 76 characters (RFC 2045 §6.8),
// CRLF between them.
func writeBase64(out *bytes.Buffer, b []byte) {
	var line [76]byte
	for len(b) > 0 {
		n := min(len(b), 57) // octets per line
		base64.StdEncoding.Encode(line[:], b[:n])
		out.Write(line[:base64.StdEncoding.EncodedLen(n)])
		b = b[n:]
		if len(b) > 0 {
			out.WriteString("\r\n")
		}
	}
}

// multipart converts each body part of a multipart body (walkMultipart).
// Everything but the parts' contents is copied as it is, but for the
// 8-bit octets of a preamble or epilogue. found is false when body has no
// delimiter line (or boundary is empty): then nothing was converted.
func (c *converter) multipart(body []byte, boundary string, digest bool, depth int) (converted []byte, found bool) {
	defaultType := "text/plain"
	if digest {
		defaultType = "message/rfc822"
	}
	var out []byte
	copied := 0 // body[:copied] is in out
	found = walkMultipart(body, boundary, func(kind span, start, end int) bool {
		switch {
		case kind == spanPreamble && eightBit(body[start:end]):
			out = c.clean(out, body[start:end])
			copied = end
		case kind == spanPart:
			out = c.replacePart(out, body, &copied, start, end, defaultType, depth)
		case kind == spanEpilogue && eightBit(body[start:end]):
			out = append(out, body[copied:start]...)
			out = c.clean(out, body[start:end])
			copied = end
		}
		return true
	})
	if !found {
		return body, false
	}
	return finish(out, body, copied), true
}

// span is a piece of a multipart body walkMultipart finds.
type span int

const (
	spanPreamble span = iota // before the first delimiter line
	spanPart                 // a body part: header fields, blank line, content
	spanEpilogue             // after the closing delimiter line
)

// walkMultipart finds the pieces of a multipart body (RFC 2046 §5.1.1) and
// calls visit with each, body[start:end], in order — the preamble (when
// not empty), each body part, the epilogue (when not empty) — until visit
// returns false. Delimiter lines are "--" boundary, "--" after the last,
// then optional blanks, at the start of a line; the CRLF before a
// delimiter belongs to it. Without a closing delimiter the last part runs
// to the end. found is false when body has no delimiter line (or boundary
// is empty): visit was not called. The 7-bit conversion and the
// unsubscribe-URL replacement both read multiparts with it.
func walkMultipart(body []byte, boundary string, visit func(kind span, start, end int) bool) (found bool) {
	if boundary == "" {
		return false
	}
	delim := []byte("--" + boundary)
	partStart := -1 // where the current part starts
	for at := 0; at < len(body); {
		i := bytes.Index(body[at:], delim)
		if i < 0 {
			break
		}
		i += at
		at = i + len(delim)
		if i != 0 && (i < 2 || body[i-2] != '\r' || body[i-1] != '\n') {
			continue
		}
		rest := body[at:]
		closing := bytes.HasPrefix(rest, []byte("--"))
		if closing {
			rest = rest[2:]
		}
		end := len(body) - len(rest) + blankRunBytes(rest)
		if end < len(body) && !bytes.HasPrefix(body[end:], []byte("\r\n")) {
			continue // a line that only starts like a delimiter
		}
		if partStart < 0 && i > 0 && !visit(spanPreamble, 0, i) {
			return true
		}
		if partStart >= 0 && i-2 >= partStart && !visit(spanPart, partStart, i-2) {
			return true
		}
		if closing {
			if end < len(body) {
				visit(spanEpilogue, end, len(body))
			}
			return true
		}
		partStart = min(end+2, len(body))
		at = partStart
	}
	if partStart < 0 {
		return false
	}
	visit(spanPart, partStart, len(body))
	return true
}

// clean appends b to out with each octet 7-bit data may not hold replaced
// by "?": for a preamble or an epilogue, text outside every part.
func (c *converter) clean(out, b []byte) []byte {
	c.changes++
	for _, ch := range b {
		if ch == 0 || ch > 127 {
			ch = '?'
		}
		out = append(out, ch)
	}
	return out
}

// replacePart converts the part body[start:end]; when it changes, out
// gets body[*copied:start] and the new part, and *copied becomes end.
func (c *converter) replacePart(out, body []byte, copied *int, start, end int, defaultType string, depth int) []byte {
	q, changed := c.part(body[start:end:end], defaultType, depth)
	if !changed {
		return out
	}
	out = append(out, body[*copied:start]...)
	out = append(out, q...)
	*copied = end
	return out
}

func finish(out, body []byte, copied int) []byte {
	if out == nil {
		return body
	}
	return append(out, body[copied:]...)
}

// part converts one body part (RFC 2046 §5.1.1): header fields, a blank
// line, the content. It reports whether anything changed.
func (c *converter) part(p []byte, defaultType string, depth int) ([]byte, bool) {
	if !eightBit(p) {
		return p, false
	}
	h, body, ok := splitFields(p)
	if !ok {
		return p, false
	}
	before := c.changes
	h = c.fields(h)
	h, body = c.entity(h, body, defaultType, depth+1)
	if c.changes == before {
		return p, false
	}
	return joinFields(h, body), true
}

// splitFields splits an entity into its header fields and its body,
// leniently: the fields end at the first empty line (or at the end), and
// every line before it must be a field or a continuation line. The
// fields' Raw are sub-slices of b.
func splitFields(b []byte) ([]Field, []byte, bool) {
	var h []Field
	rest := b
	for len(rest) > 0 {
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return h, rest[2:], true
		}
		end := bytes.Index(rest, []byte("\r\n"))
		if end < 0 {
			end = len(rest)
		} else {
			end += 2
		}
		at := len(b) - len(rest)
		if rest[0] == ' ' || rest[0] == '\t' {
			if len(h) == 0 {
				return nil, nil, false
			}
			last := &h[len(h)-1]
			last.Raw = b[at-len(last.Raw) : at+end : at+end]
		} else {
			colon := bytes.IndexByte(rest[:end], ':')
			if colon <= 0 || !validName(rest[:colon]) {
				return nil, nil, false
			}
			h = append(h, Field{Name: string(rest[:colon]), Raw: b[at : at+end : at+end]})
		}
		rest = rest[end:]
	}
	return h, nil, true
}

// joinFields writes header fields, the blank line and the body.
func joinFields(h []Field, body []byte) []byte {
	n := len(body) + 2
	for _, f := range h {
		n += len(f.Raw)
	}
	out := make([]byte, 0, n)
	for _, f := range h {
		out = append(out, f.Raw...)
	}
	out = append(out, '\r', '\n')
	return append(out, body...)
}

func blankRunBytes(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// get returns the unfolded value of the first field named name.
func get(h []Field, name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// index returns the index of the first field named name, or -1.
func index(h []Field, name string) int {
	return slices.IndexFunc(h, func(f Field) bool { return strings.EqualFold(f.Name, name) })
}

// setField replaces the fields named as f with f, where the first was, or
// adds f at the end.
func setField(h []Field, f Field) []Field {
	i := index(h, f.Name)
	if i < 0 {
		return append(h, f)
	}
	h[i] = f
	tail := slices.DeleteFunc(h[i+1:], func(g Field) bool { return strings.EqualFold(g.Name, f.Name) })
	return h[:i+1+len(tail)]
}

// convertField rewrites a header field with 8-bit octets as 7-bit when
// its structure allows (see the comment at the top of this file).
func convertField(f Field) (Field, bool) {
	if len(f.Name) > 76 {
		return f, false
	}
	v := f.Value()
	switch name := strings.ToLower(f.Name); {
	case name == "subject" || name == "comments" || name == "content-description" || name == "thread-topic" ||
		name == "organization" || strings.HasPrefix(name, "x-"):
		if utf8.ValidString(v) {
			d, err := new(mime.WordDecoder).DecodeHeader(v)
			if err != nil {
				return f, false
			}
			v = d
		}
		return textField(f.Name, v), true
	case name == "from" || name == "to" || name == "cc" || name == "reply-to" || name == "sender" ||
		name == "resent-from" || name == "resent-to" || name == "resent-cc" || name == "resent-sender" ||
		name == "disposition-notification-to":
		list, ok := asciiAddresses(v)
		if !ok {
			return f, false
		}
		return addressField(f.Name, list), true
	case name == "keywords":
		return keywordsField(f.Name, v)
	case name == "content-type" || name == "content-disposition":
		return paramsField(f.Name, v)
	}
	return f, false
}

// asciiAddresses parses an address list whose addresses can all be
// written in ASCII: no group, no comment, ASCII local parts; domains are
// turned into A-labels (RFC 5891).
func asciiAddresses(v string) ([]*mail.Address, bool) {
	quoted, angle := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			return nil, false
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case !angle && (c == ':' || c == ';'):
			return nil, false
		}
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return nil, false
	}
	for _, a := range list {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 || eightBit([]byte(a.Address[:at])) {
			return nil, false
		}
		if d := a.Address[at+1:]; eightBit([]byte(d)) {
			ascii, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return nil, false
			}
			a.Address = a.Address[:at+1] + ascii
		}
	}
	return list, true
}

// keywordsField rewrites Keywords (RFC 5322 §3.6.5: phrases separated by
// commas), each non-ASCII phrase as encoded-words.
func keywordsField(name, v string) (Field, bool) {
	if strings.ContainsAny(v, `"()`) {
		return Field{}, false
	}
	w := newField(name)
	for i, k := range strings.Split(v, ",") {
		sep, first := ", ", maxEncodedWord
		if i == 0 {
			sep, first = " ", w.room()
		}
		k = strings.TrimSpace(k)
		if plainText(k) {
			w.unit(sep, strings.Split(k, " ")...)
		} else {
			w.unit(sep, encodedWords(k, first)...)
		}
	}
	return w.field(), true
}

// paramsField rewrites Content-Type or Content-Disposition (RFC 2045
// §5.1, RFC 2183) with its parameters written again: non-ASCII values as
// RFC 2231 extended values, Content-Type's name as nameParam writes it.
func paramsField(name, v string) (Field, bool) {
	value, params, err := mime.ParseMediaType(v)
	if err != nil || eightBit([]byte(value)) {
		return Field{}, false
	}
	w := newField(name)
	w.text(value)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if k == "name" && strings.EqualFold(name, "Content-Type") {
			w.nameParam(params[k])
		} else {
			w.param(k, params[k], k == "filename")
		}
	}
	return w.field(), true
}
