package message

import (
	"bytes"
	"encoding/base64"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Header fields Petrel writes are composed here: folded (RFC 5322 §2.2.3)
// so that a line is at most foldWidth characters wherever the value has
// room to fold, and never more than 998; non-ASCII text as RFC 2047
// encoded-words; non-ASCII parameter values as RFC 2231 extended values.
//
// go-message's writer (textproto.WriteHeader) is not used: its only
// exported way to write a field canonicalises the name (Message-ID becomes
// Message-Id, MIME-Version Mime-Version), it folds at any space (inside a
// display name rather than between addresses), and when a word is longer
// than a line it inserts a space into the value. Go's mime.WordEncoder is
// not used either: it returns ASCII unchanged, so an over-long ASCII word
// cannot be made foldable with it, and it does not split words of other
// charsets than UTF-8 (an encoded-word of unknown-8bit text would pass 75
// characters).

const (
	// foldWidth is the longest line, CRLF excluded, that RFC 5322 §2.1.1
	// recommends; Petrel folds before a word that would pass it.
	foldWidth = 78
	// maxEncodedWord is RFC 2047 §2's limit on one encoded-word.
	maxEncodedWord = 75
	// maxPlainWord and maxPlainSpace bound the runs of non-blank and blank
	// characters a value may have to be written as it is: a longer run
	// could take a line past 998 characters (RFC 5322 §2.1.1), so such text
	// is written as encoded-words, which fold anywhere.
	maxPlainWord  = 800
	maxPlainSpace = 80
)

// fieldWriter composes one header field line by line.
type fieldWriter struct {
	name  string
	b     []byte
	line  int // characters on the current line
	words int // non-empty words on the current line after the field name
}

// newField starts the field "name:".
func newField(name string) fieldWriter {
	w := fieldWriter{name: name, b: make([]byte, 0, len(name)+80)}
	w.b = append(w.b, name...)
	w.b = append(w.b, ':')
	w.line = len(name) + 1
	return w
}

// word appends sep and then tok. When tok would end past foldWidth and
// the line already holds a word, the field is folded before sep's first
// blank (sep must then have one): "a,", CRLF, " b". Unfolding (removing
// the CRLF) gives the same text back.
//
// The first word is folded onto a line of its own (RFC 5322 §2.2.3 allows
// folding right after the colon) when it would otherwise take the name's
// line past maxLineOctets.
func (w *fieldWriter) word(sep, tok string) {
	switch {
	case tok != "" && sep != "" && w.words > 0 && w.line+len(sep)+len(tok) > foldWidth:
		w.fold(sep)
	case tok != "" && w.words == 0 && w.line+len(sep)+len(tok) > maxLineOctets && w.onNameLine(sep):
		// Whatever blanks follow the colon, and sep's, go after the fold.
		blanks := string(w.b[len(w.name)+1:]) + sep
		if blanks == "" {
			blanks = " "
		}
		w.b = append(w.b[:len(w.name)+1], '\r', '\n')
		w.b = append(w.b, blanks...)
		w.line = len(blanks)
	default:
		w.b = append(w.b, sep...)
		w.line += len(sep)
	}
	w.b = append(w.b, tok...)
	w.line += len(tok)
	if tok != "" {
		w.words++
	}
}

// onNameLine reports whether nothing but blanks follows "name:" so far,
// and sep is blanks too.
func (w *fieldWriter) onNameLine(sep string) bool {
	return strings.Trim(string(w.b[len(w.name)+1:])+sep, " \t") == "" && !bytes.Contains(w.b, []byte("\n"))
}

// fold writes sep with a CRLF before its first blank.
func (w *fieldWriter) fold(sep string) {
	i := strings.IndexAny(sep, " \t")
	w.b = append(w.b, sep[:i]...)
	w.b = append(w.b, '\r', '\n')
	w.b = append(w.b, sep[i:]...)
	w.line, w.words = len(sep)-i, 0
}

// unit appends toks, joined by single spaces and preceded by sep, as one
// piece: on the current line when they fit, else on a new line when they
// fit there, else folded between them wherever a line is full.
func (w *fieldWriter) unit(sep string, toks ...string) {
	n := len(toks) - 1
	for _, t := range toks {
		n += len(t)
	}
	if w.line+len(sep)+n > foldWidth && w.words > 0 && len(sep)-1+n <= foldWidth {
		w.fold(sep)
		sep = ""
	}
	for i, t := range toks {
		if i > 0 {
			sep = " "
		}
		w.word(sep, t)
	}
}

// text appends a space and s, folding only at s's own blanks (runs of
// spaces and tabs).
func (w *fieldWriter) text(s string) {
	w.b = append(w.b, ' ')
	w.line++
	for s != "" {
		i := blankRun(s)
		j := i + wordRun(s[i:])
		w.word(s[:i], s[i:j])
		s = s[j:]
	}
}

// field ends the field with CRLF.
func (w *fieldWriter) field() Field {
	w.b = append(w.b, '\r', '\n')
	return Field{Name: w.name, Raw: w.b}
}

func blankRun(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func wordRun(s string) int {
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return i
}

// foldedField returns the field "name: value" folded at value's own
// blanks (RFC 5322 §2.2.3), for values that are already encoded (header
// fields given through the API, fields Prepare sets). Lines stay within
// 78 characters where value's blanks allow; a line is longer only for a
// word longer than that, and within 998 when name and value together are.
func foldedField(name, value string) Field {
	w := newField(name)
	w.text(value)
	return w.field()
}

// textField returns an unstructured field (RFC 5322 §3.2.5) holding
// value: as it is, folded at its blanks, when value is printable ASCII
// with no word longer than maxPlainWord (so ASCII written in RFC 2047
// form by the client passes through); otherwise value as RFC 2047 §2 B
// encoded-words (UTF-8, or unknown-8bit when value is not valid UTF-8),
// folded between them. Every line is then within 998 characters.
func textField(name, value string) Field {
	w := newField(name)
	if plainText(value) {
		w.text(value)
	} else {
		for _, ew := range encodedWords(value, w.room()) {
			w.word(" ", ew)
		}
	}
	return w.field()
}

// room returns how long the first encoded-word after a space may be to
// end the current line within foldWidth; when that leaves too little for
// a 4-octet character, maxEncodedWord.
func (w *fieldWriter) room() int {
	if r := foldWidth - w.line - 1; r >= len("=?unknown-8bit?B?12345678?=") {
		return min(r, maxEncodedWord)
	}
	return maxEncodedWord
}

// plainText reports whether s may be written as it is in an unstructured
// field: printable ASCII and tabs, word and blank runs short enough.
func plainText(s string) bool {
	word, blank := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			word = 0
			blank++
		case c > ' ' && c < 0x7f:
			blank = 0
			word++
		default:
			return false
		}
		if word > maxPlainWord || blank > maxPlainSpace {
			return false
		}
	}
	return true
}

// encodedWords returns s as RFC 2047 B encoded-words (RFC 2047 §4.1): in
// UTF-8 when s is valid UTF-8, never splitting a character between two
// words (RFC 2047 §5), else in unknown-8bit (RFC 1428). The first word is
// at most first characters long (first is at least 27, room for a 4-octet
// character), the others maxEncodedWord. Decoding each word alone gives
// whole characters; decoding them together gives s.
func encodedWords(s string, first int) []string {
	cs := "UTF-8"
	utf := utf8.ValidString(s)
	if !utf {
		cs = "unknown-8bit"
	}
	overhead := len("=??B??=") + len(cs)
	var out []string
	for limit := first; s != ""; limit = maxEncodedWord {
		n := min(len(s), (limit-overhead)/4*3)
		for utf && n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		out = append(out, "=?"+cs+"?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return out
}

// addressField returns an address-list field (RFC 5322 §3.4): From, To,
// Cc, Reply-To, Sender. It folds between addresses, and inside an address
// only when the address alone does not fit a line. Display names are
// quoted strings when printable ASCII, else B encoded-words, which RFC
// 2047 §5(3) allows in a phrase; local parts and domains are written as
// they are, never encoded.
func addressField(name string, list []*mail.Address) Field {
	w := newField(name)
	for i, a := range list {
		sep, first := ", ", maxEncodedWord
		if i == 0 {
			sep, first = " ", w.room()
		}
		w.unit(sep, mailbox(a, first)...)
	}
	return w.field()
}

// mailbox returns the words of an address: the display name's, then
// "<local@domain>" (or local@domain alone when there is no name). The
// name's first encoded-word is at most first characters long.
func mailbox(a *mail.Address, first int) []string {
	spec := (&mail.Address{Address: a.Address}).String() // "<local@domain>", local part quoted as needed
	if a.Name == "" {
		return []string{spec[1 : len(spec)-1]}
	}
	return append(phrase(a.Name, first), spec)
}

// phrase returns a display name (RFC 5322 §3.2.5 phrase) as words: a
// quoted string split at its spaces when the name is printable ASCII,
// else B encoded-words (RFC 2047 §5(3)), the first at most first
// characters long.
func phrase(s string, first int) []string {
	if !plainText(s) || strings.ContainsRune(s, '\t') {
		return encodedWords(s, first)
	}
	var q strings.Builder
	q.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			q.WriteByte('\\')
		}
		q.WriteByte(s[i])
	}
	q.WriteByte('"')
	return strings.Split(q.String(), " ")
}

// param appends the parameter "; key=value" (RFC 2045 §5.1). Printable
// ASCII is written as a token or a quoted string when it fits a line (or,
// unless split, when it is not longer than maxPlainWord); anything else
// as an RFC 2231 extended value (§4: key*= the charset UTF-8, an empty
// language, the octets as %XX), split into sections key*0*=…; key*1*=…
// (§3) that each fit a line. The split never falls inside a character.
func (w *fieldWriter) param(key, value string, split bool) {
	if p, ok := plainParam(key, value); ok && (2+len(p) <= foldWidth || !split && len(p) <= maxPlainWord) {
		w.unit("; ", p)
		return
	}
	cs := "UTF-8"
	utf := utf8.ValidString(value)
	if !utf {
		cs = "unknown-8bit"
	}
	var enc []string // the percent-encoded characters
	for i := 0; i < len(value); {
		n := 1
		if utf {
			_, n = utf8.DecodeRuneInString(value[i:])
		}
		var e []byte
		for _, c := range []byte(value[i : i+n]) {
			if isAttrChar(c) {
				e = append(e, c)
			} else {
				e = append(e, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
		}
		enc = append(enc, string(e))
		i += n
	}
	if single := key + "*=" + cs + "''" + strings.Join(enc, ""); 2+len(single) <= foldWidth {
		w.unit("; ", single)
		return
	}
	// A section's line is " " + section + ";".
	sec, n, chars := key+"*0*="+cs+"''", 1, 0
	for _, e := range enc {
		if chars > 0 && len(sec)+len(e)+2 > foldWidth {
			w.unit("; ", sec)
			sec, chars = key+"*"+strconv.Itoa(n)+"*=", 0
			n++
		}
		sec += e
		chars++
	}
	w.unit("; ", sec)
}

// nameParam appends Content-Type's name parameter in the form mail
// programs that predate RFC 2231 read, and that Thunderbird and Outlook
// still write next to filename*: a quoted string, holding RFC 2047
// encoded-words when the name is not printable ASCII or does not fit a
// line. RFC 2047 §5 does not allow encoded-words inside a quoted string;
// the standard name is Content-Disposition's filename (RFC 2231), which
// current readers prefer, and go-message and Go's mime package decode this
// form too.
func (w *fieldWriter) nameParam(value string) {
	if p, ok := plainParam("name", value); ok && 2+len(p) <= foldWidth {
		w.unit("; ", p)
		return
	}
	// The first line is ` name="=?…?=` (with `";` when it is the only
	// word), the last ` =?…?=";`.
	words := encodedWords(value, foldWidth-len(` name="";`))
	words[0] = `name="` + words[0]
	words[len(words)-1] += `"`
	w.unit("; ", words...)
}

// plainParam returns key=value, the value a token or a quoted string,
// when value is printable ASCII.
func plainParam(key, value string) (string, bool) {
	if isToken(value) {
		return key + "=" + value, true
	}
	var b strings.Builder
	b.WriteString(key)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < ' ' || c > '~' {
			return "", false
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String(), true
}

// isToken reports an RFC 2045 §5.1 token: printable ASCII but space and
// tspecials.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// isAttrChar reports an RFC 2231 §7 attribute-char (a token character but
// "*", "'" and "%"), left as it is in an extended value. "{" and "}" are
// percent-encoded too, as some readers expect.
func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
