package bounce

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// Bounces are written by every kind of software, and many are not valid MIME:
// missing closing boundaries, stray mbox "From " lines, bare CR line endings,
// bad base64. The reader here never fails; it takes what it can.

// Limits that keep a hostile message from costing more than it is worth.
const (
	maxDepth = 8
	maxParts = 200
	// maxReportBytes is how much of a message Parse reads. A report's
	// explanation, status fields and the original message's headers come
	// first (RFC 3464 §2, RFC 5965 §2); what follows is the returned body.
	maxReportBytes = 1 << 20
	// maxExplanation is how much of the human-readable part the prose
	// parsers scan; real explanations are a few kilobytes.
	maxExplanation = 256 << 10
	// maxRecipients is how many recipients one report may name (a message
	// Petrel sends has at most 50).
	maxRecipients = 1000
	// maxFieldBytes is about how much of a header field parseHeader keeps
	// (RFC 5322 §2.1.1 limits a line to 998 bytes, not a folded field).
	maxFieldBytes = 16 << 10
)

// entity is one MIME entity: its header, its decoded body, and its children
// (multipart parts, or the message a message/rfc822 part carries).
type entity struct {
	header   header
	media    string // lower-case media type, "text/plain" when absent
	params   map[string]string
	body     []byte // after Content-Transfer-Encoding (not charset) decoding; delivery-status parts as UTF-8
	children []*entity
}

// header is an ordered list of fields with case-insensitive lookup.
type header []field

type field struct{ name, value string }

func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

func (h header) all(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// normalizeLines turns CRLF and bare CR into LF.
func normalizeLines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

// splitHeader separates a header block from the body at the first empty line.
func splitHeader(b []byte) (head, body []byte) {
	if bytes.HasPrefix(b, []byte("\n")) {
		return nil, b[1:]
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[:i+1], b[i+2:]
	}
	return b, nil
}

// parseHeader reads header fields, unfolding continuation lines and skipping
// lines that are not fields (an mbox "From " line, garbage).
//
// A field's value is built once from its lines, so a field folded over
// many thousands of lines costs time linear in its size, and is kept to
// about its first maxFieldBytes: every rule that reads a field (a Subject,
// a Diagnostic-Code, a list of recipients) needs far less.
func parseHeader(b []byte) header {
	var h header
	var parts []string // the current field's value, line by line
	size := 0
	flush := func() {
		if len(h) > 0 && len(parts) > 1 {
			h[len(h)-1].value = strings.Join(parts, " ")
		}
		parts = parts[:0]
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 {
			if size < maxFieldBytes {
				parts = append(parts, strings.TrimSpace(line))
				size += len(parts[len(parts)-1]) + 1
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		flush()
		h = append(h, field{name: name, value: clip(strings.TrimSpace(value), maxFieldBytes)})
		parts = append(parts, h[len(h)-1].value)
		size = len(parts[0])
	}
	flush()
	return h
}

// parseEntity reads a (line-normalized) entity.
func parseEntity(b []byte, depth int, budget *int) *entity {
	head, body := splitHeader(b)
	e := &entity{header: parseHeader(head)}
	e.media, e.params = mediaType(e.header.get("Content-Type"))
	e.body = decodeTransfer(body, e.header.get("Content-Transfer-Encoding"))
	if (e.media == "message/delivery-status" || e.media == "message/global-delivery-status") && !utf8.Valid(e.body) {
		// Status fields are ASCII, but a Diagnostic-Code may quote the
		// remote server's 8-bit text: read it as an undeclared body.
		e.body = []byte(toUTF8(e.body, e.params["charset"]))
	}
	*budget--
	if depth >= maxDepth || *budget <= 0 {
		return e
	}
	if e.header.get("Content-Type") == "" && depth == 0 && reBoundaryLine.Match(firstBytes(e.body, 10)) {
		// MIME parts without MIME headers (stripped by a relay or an
		// mbox export): read them as multipart/mixed.
		e.media = "multipart/mixed"
	}
	switch {
	case strings.HasPrefix(e.media, "multipart/"):
		var parts [][]byte
		if boundary := e.params["boundary"]; boundary != "" {
			parts = splitMultipart(e.body, boundary)
		}
		if len(parts) == 0 {
			// The declared boundary is not in the body (edited or broken
			// reports): use the first boundary-looking line, else read the
			// body as text.
			if m := reBoundaryLine.FindSubmatch(e.body); m != nil {
				parts = splitMultipart(e.body, string(m[1]))
				e.params["boundary"] = string(m[1])
			}
		}
		if len(parts) == 0 {
			e.media = "text/plain"
			return e
		}
		for _, p := range parts {
			if *budget <= 0 {
				break
			}
			e.children = append(e.children, parseEntity(p, depth+1, budget))
		}
	case e.media == "message/rfc822" || e.media == "message/global" || e.media == "text/rfc822-headers" || e.media == "message/rfc822-headers":
		e.children = append(e.children, parseEntity(bytes.TrimLeft(e.body, "\n"), depth+1, budget))
	}
	return e
}

func mediaType(ct string) (string, map[string]string) {
	if ct == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		// Take the type and a boundary by hand from a malformed field.
		mt, rest, _ := strings.Cut(ct, ";")
		params = map[string]string{}
		for kv := range strings.SplitSeq(rest, ";") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"'`)
			}
		}
		return strings.ToLower(strings.TrimSpace(mt)), params
	}
	return mt, params
}

// splitMultipart returns the parts between boundary lines; a missing closing
// boundary ends the last part at the end of the body. Boundary lines are
// matched as MTAs write them, not only as RFC 2046 §5.1.1 spells them:
// indented, and with the boundary's trailing white space (which §5.1.1
// forbids in the parameter) ignored on both.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + strings.TrimRight(boundary, " \t"))
	var parts [][]byte
	var cur []byte
	in := false
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		t := bytes.TrimLeft(bytes.TrimRight(line, " \t\n"), " \t")
		if bytes.HasPrefix(t, delim) {
			rest := bytes.TrimLeft(t[len(delim):], " \t")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if in {
					parts = append(parts, cur)
				}
				cur, in = nil, len(rest) == 0
				if !in {
					return parts
				}
				continue
			}
		}
		if in {
			cur = append(cur, line...)
		}
	}
	if in && len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

func decodeTransfer(b []byte, cte string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, b)
		if i := bytes.IndexByte(clean, '='); i >= 0 {
			clean = clean[:i]
		}
		out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
		n, _ := base64.RawStdEncoding.Decode(out, clean)
		return normalizeLines(out[:n])
	case "quoted-printable":
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		return normalizeLines(out)
	}
	return b
}

// reBoundaryLine matches a line that looks like a MIME boundary (possibly
// indented) followed by a part's header or its empty header.
var reBoundaryLine = regexp.MustCompile(`(?m)^[ \t]*--(-*[^\s-]\S{4,})[ \t]*\n(?:Content-|\n)`)

// text returns an entity's body as UTF-8, for text parts: decoded from its
// declared charset (RFC 2045 §5.1, RFC 2046 §4.1.2), or by toUTF8 when the
// declared one is missing, unknown or wrong.
func (e *entity) text() string {
	return toUTF8(e.body, e.params["charset"])
}

// charsetAliases are names bounces use that the WHATWG and IANA indexes do
// not know (Microsoft code page numbers).
var charsetAliases = map[string]string{
	"cp932": "windows-31j",
	"ms936": "gbk",
	"cp949": "euc-kr",
	"cp950": "big5",
}

// lookupCharset finds an encoding by its WHATWG label, IANA name or alias;
// nil when none is known.
func lookupCharset(name string) encoding.Encoding {
	name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"'`))
	if a, ok := charsetAliases[name]; ok {
		name = a
	}
	if enc, err := htmlindex.Get(name); err == nil {
		return enc
	}
	if enc, err := ianaindex.IANA.Encoding(name); err == nil && enc != nil {
		return enc
	}
	return nil
}

// decodeStrict decodes b from enc, failing when b is not valid in it.
func decodeStrict(b []byte, enc encoding.Encoding) (string, bool) {
	out, _, err := transform.Bytes(enc.NewDecoder(), b)
	if err != nil || bytes.ContainsRune(out, utf8.RuneError) || !utf8.Valid(out) {
		return "", false
	}
	return string(out), true
}

// isASCII reports whether b has no 8-bit bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Japanese, Chinese and Korean charsets a mislabelled part is tried in, by the
// script its declared charset names.
var (
	jaCharsets = []string{"iso-2022-jp", "euc-jp", "shift_jis"}
	zhCharsets = []string{"gb18030", "big5"}
	koCharsets = []string{"euc-kr"}
)

// toUTF8 decodes text in the charset declared for it (a MIME charset
// parameter; "" when none) to UTF-8. Bounces often declare no charset or the
// wrong one (8-bit Latin-1 with no MIME header; EUC-JP labelled ISO-2022-JP;
// UTF-8 labelled ISO-8859-1, taken as UTF-8 when it is valid UTF-8 with 8-bit
// bytes), so when the declared charset is missing, unknown or does not fit
// the bytes, it tries ISO-2022-JP when the text has its escape sequences (RFC 1468); the text as
// it is when it is valid UTF-8; another charset of the declared one's script;
// and windows-1252 (the WHATWG default for ISO-8859-1 too) as the last
// resort, which decodes any bytes.
func toUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	if cs != "" && cs != "us-ascii" && cs != "utf-8" && cs != "utf8" {
		if enc := lookupCharset(cs); enc != nil {
			if _, single := enc.(*charmap.Charmap); single && utf8.Valid(b) && !isASCII(b) {
				// UTF-8 labelled Latin-1 or windows-125x: 8-bit text in
				// a single-byte charset is almost never valid UTF-8.
				return string(b)
			}
			if s, ok := decodeStrict(b, enc); ok {
				return s
			}
		}
	}
	if bytes.Contains(b, []byte("\x1b$B")) || bytes.Contains(b, []byte("\x1b$@")) {
		if s, ok := decodeStrict(b, japanese.ISO2022JP); ok {
			return s
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	var tries []string
	switch {
	case strings.Contains(cs, "jp") || strings.Contains(cs, "jis") || cs == "cp932" || cs == "windows-31j":
		tries = jaCharsets
	case strings.HasPrefix(cs, "gb") || strings.Contains(cs, "big5") || cs == "cp936" || cs == "ms936" || cs == "cp950":
		tries = zhCharsets
	case strings.Contains(cs, "kr") || strings.Contains(cs, "ks_c") || cs == "cp949":
		tries = koCharsets
	}
	for _, name := range tries {
		if enc := lookupCharset(name); enc != nil {
			if s, ok := decodeStrict(b, enc); ok {
				return s
			}
		}
	}
	out, _, _ := transform.Bytes(charmap.Windows1252.NewDecoder(), b)
	return string(out)
}

// walk visits e and its descendants depth first; visit returns false to skip
// an entity's children.
func (e *entity) walk(visit func(*entity) bool) {
	if visit(e) {
		for _, c := range e.children {
			c.walk(visit)
		}
	}
}

// find returns the first entity of the given media type.
func (e *entity) find(media string) *entity {
	var found *entity
	e.walk(func(x *entity) bool {
		if found == nil && x.media == media {
			found = x
		}
		return found == nil
	})
	return found
}

// wordDecoder decodes RFC 2047 encoded words, in any charset lookupCharset
// knows; words in an unknown charset are left as they are.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc := lookupCharset(charset)
	if enc == nil {
		return input, nil
	}
	return transform.NewReader(input, enc.NewDecoder()), nil
}}

// decodeHeader returns a header value as UTF-8: RFC 2047 encoded words
// decoded, and raw 8-bit text (RFC 6532 allows only UTF-8; older MTAs write
// their own charset) read as toUTF8 reads an undeclared body.
func decodeHeader(s string) string {
	if out, err := wordDecoder.DecodeHeader(s); err == nil {
		s = out
	}
	if !utf8.ValidString(s) {
		s = toUTF8([]byte(s), "")
	}
	return s
}

// firstBytes returns the first n lines of b (with the following line, which
// reBoundaryLine looks at).
func firstBytes(b []byte, n int) []byte {
	i := 0
	for range n + 1 {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b
		}
		i += j + 1
	}
	return b[:i]
}
