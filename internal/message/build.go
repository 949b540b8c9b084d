package message

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// Simple is SES "Simple" content (SESv2 Message shape) plus the addressing
// that goes into the header.
type Simple struct {
	From       string // one RFC 5322 mailbox in header form (address.Address.String), like To, Cc and ReplyTo
	To, Cc     []string
	ReplyTo    []string
	Subject    string
	Text, HTML string // at least one is set
	Charset    string // of Text/HTML when their own is ""; "" means UTF-8
	// SubjectCharset, TextCharset and HTMLCharset are the charsets of
	// Subject, Text and HTML (SES's Content.Charset of each); "" is Charset
	// (Subject: UTF-8). A part is written in its charset (transcoded from
	// Go's UTF-8) and labelled with it; a charset Go does not know is
	// passed through as a label, the part's bytes left as UTF-8.
	SubjectCharset, TextCharset, HTMLCharset string
	Headers                                  [][2]string
	Attachments                              []Attachment
}

// Attachment is SESv2 Attachment.
type Attachment struct {
	Content     []byte
	FileName    string
	ContentType string // "" = application/octet-stream
	Disposition string // "ATTACHMENT" (default) or "INLINE"
	ContentID   string
	Description string
	Encoding    string // "BASE64" (default), "QUOTED_PRINTABLE", "SEVEN_BIT"
}

// BuildSimple composes the MIME message for Simple content:
// text/plain and/or text/html (multipart/alternative when both), wrapped in
// multipart/mixed when there are attachments. Text parts are
// quoted-printable, so no line exceeds 76 characters whatever the input.
// Every header field is folded (RFC 5322 §2.2.3) to lines of at most 78
// characters where the value allows, never more than 998: address lists
// between addresses, display names and Subject as RFC 2047 encoded-words
// when not ASCII, attachment names as RFC 2231 parameters. Message-ID and
// Date are added later by Prepare. The error reports an address that does
// not parse, a SEVEN_BIT attachment that is not 7-bit data, or a field of
// Headers that describes the body BuildSimple builds (*BuiltFieldError:
// MIME-Version, Content-Type, Content-Transfer-Encoding,
// Content-Disposition, Content-ID; BuiltField).
func BuildSimple(s Simple) ([]byte, error) {
	var h bytes.Buffer
	cs := s.Charset
	if cs == "" {
		cs = "UTF-8"
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"From", []string{s.From}}, {"To", s.To}, {"Cc", s.Cc}, {"Reply-To", s.ReplyTo}} {
		if len(f.list) == 0 {
			continue
		}
		list := make([]*mail.Address, len(f.list))
		for i, a := range f.list {
			var err error
			if list[i], err = mail.ParseAddress(a); err != nil {
				return nil, fmt.Errorf("%s address %q: %v", f.name, a, err)
			}
		}
		h.Write(addressField(f.name, list).Raw)
	}
	subject, err := charsetField("Subject", s.Subject, s.SubjectCharset)
	if err != nil {
		return nil, err
	}
	h.Write(subject.Raw)
	h.Write(foldedField("MIME-Version", "1.0").Raw)
	for _, kv := range s.Headers {
		if BuiltField(kv[0]) {
			return nil, &BuiltFieldError{Name: kv[0]}
		}
		h.Write(foldedField(kv[0], kv[1]).Raw)
	}

	textCS, htmlCS := cmp.Or(s.TextCharset, cs), cmp.Or(s.HTMLCharset, cs)
	text, err := inCharset("Text", s.Text, textCS)
	if err != nil {
		return nil, err
	}
	html, err := inCharset("Html", s.HTML, htmlCS)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	var ctype Field
	switch {
	case s.Text != "" && s.HTML != "":
		b := boundary()
		ctype = typeField("multipart/alternative", "boundary", b)
		writePart(&body, b, typeField("text/plain", "charset", textCS), text)
		writePart(&body, b, typeField("text/html", "charset", htmlCS), html)
		fmt.Fprintf(&body, "--%s--\r\n", b)
	case s.HTML != "":
		ctype = typeField("text/html", "charset", htmlCS)
		writeQP(&body, html)
	default:
		ctype = typeField("text/plain", "charset", textCS)
		writeQP(&body, text)
	}
	multipart := len(s.Attachments) > 0 || s.Text != "" && s.HTML != ""
	if len(s.Attachments) > 0 {
		inner := body.Bytes()
		innerType := ctype
		b := boundary()
		ctype = typeField("multipart/mixed", "boundary", b)
		var mixed bytes.Buffer
		fmt.Fprintf(&mixed, "--%s\r\n", b)
		mixed.Write(innerType.Raw)
		if s.Text == "" || s.HTML == "" {
			mixed.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
		}
		mixed.WriteString("\r\n")
		mixed.Write(inner)
		for _, a := range s.Attachments {
			fmt.Fprintf(&mixed, "\r\n--%s\r\n", b)
			if err := writeAttachment(&mixed, a); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&mixed, "\r\n--%s--\r\n", b)
		body = mixed
	}
	h.Write(ctype.Raw)
	if !multipart {
		h.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	}
	h.WriteString("\r\n")
	h.Write(body.Bytes())
	return h.Bytes(), nil
}

// encoderFor returns the encoder from UTF-8 to the MIME charset cs (IANA
// names and aliases, case-insensitive), or nil when the text is written as
// it is: cs is UTF-8, or a charset Go does not know.
func encoderFor(cs string) *encoding.Encoder {
	if cs == "" || strings.EqualFold(cs, "UTF-8") {
		return nil // the usual case, without a lookup
	}
	e, err := ianaindex.MIME.Encoding(cs)
	if err != nil || e == nil || e == unicode.UTF8 {
		return nil
	}
	return e.NewEncoder()
}

// inCharset returns s (the part named part) in charset cs. The error
// reports a character cs cannot represent.
func inCharset(part, s, cs string) (string, error) {
	enc := encoderFor(cs)
	if enc == nil || s == "" {
		return s, nil
	}
	out, err := enc.String(s)
	if err != nil {
		return "", fmt.Errorf("%s cannot be written in charset %s: %v", part, cs, err)
	}
	return out, nil
}

// charsetField returns an unstructured field (textField) whose value, when
// not plain ASCII, is written as RFC 2047 B encoded-words in charset cs
// ("" or one Go does not know: UTF-8), each holding whole characters. The
// error reports a character cs cannot represent.
func charsetField(name, value, cs string) (Field, error) {
	enc := encoderFor(cs)
	if enc == nil || plainText(value) {
		return textField(name, value), nil
	}
	w := newField(name)
	limit := w.room()
	var word []byte // the current word's text, in cs
	flush := func() {
		w.word(" ", "=?"+cs+"?B?"+base64.StdEncoding.EncodeToString(word)+"?=")
		word, limit = word[:0], maxEncodedWord
	}
	overhead := len("=??B??=") + len(cs)
	for _, r := range value {
		c, err := enc.String(string(r))
		if err != nil {
			return Field{}, fmt.Errorf("%s cannot be written in charset %s: %v", name, cs, err)
		}
		if len(word) > 0 && overhead+base64.StdEncoding.EncodedLen(len(word)+len(c)) > limit {
			flush()
		}
		word = append(word, c...)
	}
	flush()
	return w.field(), nil
}

// typeField returns a Content-Type field: the media type and one
// parameter.
func typeField(mediaType, key, value string) Field {
	w := newField("Content-Type")
	w.text(mediaType)
	w.param(key, value, false)
	return w.field()
}

func writePart(b *bytes.Buffer, boundary string, ctype Field, content string) {
	fmt.Fprintf(b, "--%s\r\n", boundary)
	b.Write(ctype.Raw)
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	writeQP(b, content)
	b.WriteString("\r\n")
}

func writeQP(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	// Text line breaks become CRLF; quotedprintable keeps CRLF as hard breaks.
	w.Write(NormalizeLineEndings([]byte(s)))
	w.Close()
}

func writeAttachment(b *bytes.Buffer, a Attachment) error {
	ct := a.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(extension(a.FileName))
		if ct == "" {
			ct = "application/octet-stream"
		}
	}
	disp := "attachment"
	if strings.EqualFold(a.Disposition, "INLINE") {
		disp = "inline"
	}
	w := newField("Content-Type")
	w.text(ct)
	w.nameParam(a.FileName)
	b.Write(w.field().Raw)
	w = newField("Content-Disposition")
	w.text(disp)
	w.param("filename", a.FileName, true)
	b.Write(w.field().Raw)
	if a.ContentID != "" {
		b.Write(foldedField("Content-ID", "<"+strings.Trim(a.ContentID, "<>")+">").Raw)
	}
	if a.Description != "" {
		b.Write(textField("Content-Description", a.Description).Raw)
	}
	switch strings.ToUpper(a.Encoding) {
	case "QUOTED_PRINTABLE":
		b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		writeQP(b, string(a.Content))
	case "SEVEN_BIT":
		for _, c := range a.Content {
			if c > 127 || c == 0 {
				return fmt.Errorf("attachment %q is not 7-bit data", a.FileName)
			}
		}
		b.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")
		b.Write(NormalizeLineEndings(a.Content))
	default:
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		writeBase64(b, a.Content)
	}
	return nil
}

func extension(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

func boundary() string {
	var b [12]byte
	rand.Read(b[:])
	return "=_petrel_" + hex.EncodeToString(b[:])
}
