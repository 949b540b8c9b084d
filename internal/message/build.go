package message

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// Simple is SES "Simple" content (SESv2 Message shape) plus the addressing
// that goes into the header.
type Simple struct {
	From        string // header form, already validated
	To, Cc      []string
	ReplyTo     []string
	Subject     string
	Text, HTML  string // at least one is set
	Charset     string // of Text/HTML; "" means UTF-8
	Headers     [][2]string
	Attachments []Attachment
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
// Message-ID and Date are added later by Prepare.
func BuildSimple(s Simple) ([]byte, error) {
	var h bytes.Buffer
	cs := s.Charset
	if cs == "" {
		cs = "UTF-8"
	}
	writeField(&h, "From", s.From)
	if len(s.To) > 0 {
		writeField(&h, "To", strings.Join(s.To, ", "))
	}
	if len(s.Cc) > 0 {
		writeField(&h, "Cc", strings.Join(s.Cc, ", "))
	}
	if len(s.ReplyTo) > 0 {
		writeField(&h, "Reply-To", strings.Join(s.ReplyTo, ", "))
	}
	writeField(&h, "Subject", EncodeHeaderText(s.Subject))
	writeField(&h, "MIME-Version", "1.0")
	for _, kv := range s.Headers {
		writeField(&h, kv[0], kv[1])
	}

	var body bytes.Buffer
	var ctype string
	switch {
	case s.Text != "" && s.HTML != "":
		b := boundary()
		ctype = `multipart/alternative; boundary="` + b + `"`
		writePart(&body, b, "text/plain; charset="+cs, s.Text)
		writePart(&body, b, "text/html; charset="+cs, s.HTML)
		fmt.Fprintf(&body, "--%s--\r\n", b)
	case s.HTML != "":
		ctype = "text/html; charset=" + cs
		writeQP(&body, s.HTML)
	default:
		ctype = "text/plain; charset=" + cs
		writeQP(&body, s.Text)
	}
	if len(s.Attachments) > 0 {
		inner := body.Bytes()
		innerType := ctype
		b := boundary()
		ctype = `multipart/mixed; boundary="` + b + `"`
		var mixed bytes.Buffer
		fmt.Fprintf(&mixed, "--%s\r\n", b)
		innerCTE := ""
		if !strings.HasPrefix(innerType, "multipart/") {
			innerCTE = "Content-Transfer-Encoding: quoted-printable\r\n"
		}
		fmt.Fprintf(&mixed, "Content-Type: %s\r\n%s\r\n", innerType, innerCTE)
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
	writeField(&h, "Content-Type", ctype)
	if !strings.HasPrefix(ctype, "multipart/") {
		writeField(&h, "Content-Transfer-Encoding", "quoted-printable")
	}
	h.WriteString("\r\n")
	h.Write(body.Bytes())
	return h.Bytes(), nil
}

func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(value)
	b.WriteString("\r\n")
}

func writePart(b *bytes.Buffer, boundary, ctype, content string) {
	fmt.Fprintf(b, "--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, ctype)
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
	name := mime.QEncoding.Encode("UTF-8", a.FileName)
	fmt.Fprintf(b, "Content-Type: %s; name=\"%s\"\r\n", ct, name)
	fmt.Fprintf(b, "Content-Disposition: %s; filename=\"%s\"\r\n", disp, name)
	if a.ContentID != "" {
		fmt.Fprintf(b, "Content-ID: <%s>\r\n", strings.Trim(a.ContentID, "<>"))
	}
	if a.Description != "" {
		fmt.Fprintf(b, "Content-Description: %s\r\n", EncodeHeaderText(a.Description))
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
		enc := base64.StdEncoding.EncodeToString(a.Content)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
	}
	return nil
}

func extension(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// EncodeHeaderText returns s as an unstructured header value: unchanged when
// it is printable ASCII, else as RFC 2047 encoded-words.
func EncodeHeaderText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return mime.BEncoding.Encode("UTF-8", s)
		}
	}
	return s
}

func boundary() string {
	var b [12]byte
	rand.Read(b[:])
	return "=_petrel_" + hex.EncodeToString(b[:])
}
