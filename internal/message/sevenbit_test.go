package message

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // Latin-1 and other charsets for the decoding checks
	gomail "github.com/emersion/go-message/mail"
)

const (
	utf8Text = "Grüße aus Köln — naïve café, Ærøskøbing.\r\n" +
		"你好，世界。こんにちは世界。안녕하세요. Здравствуй, мир.\r\n" +
		"Emoji: 👋🌍🎉 👩‍👩‍👧‍👦\r\n" +
		"A line with trailing spaces   \r\n" +
		".a line that starts with a dot\r\n"
	utf8HTML    = "<html><body><h1>Grüße 👋</h1><p>東京タワー — «guillemets»</p></body></html>\r\n"
	latin1Bytes = "Caf\xe9 cr\xe8me br\xfbl\xe9e, \xc5ngstr\xf6m, \xa9 2024\r\n"
	latin1Text  = "Café crème brûlée, Ångström, © 2024\r\n"
)

// longCJKLine is 300 CJK characters, 900 octets of UTF-8 on one line.
var longCJKLine = strings.Repeat("東京大阪名古屋札幌福岡", 30)

// binaryContent is every octet value but CR and LF, in lines of at most
// 500 octets.
func binaryContent() []byte {
	var b []byte
	for i := range 1200 {
		if c := byte(i * 7); c != '\r' && c != '\n' {
			b = append(b, c)
		}
		if i%500 == 499 {
			b = append(b, '\r', '\n')
		}
	}
	return b
}

// inPart is the content of a body part written as text and a delimiter:
// the last CRLF belongs to the delimiter (RFC 2046 §5.1.1).
func inPart(text string) string { return strings.TrimSuffix(text, "\r\n") }

// leaf is a decoded MIME leaf: media type, file name, content (text in
// UTF-8 when its charset is known).
type leaf struct {
	typ, name string
	content   string
}

// decodeLeaves reads a message with go-message: its leaves in order, an
// enclosed message/rfc822 as a leaf "subject" (its decoded Subject) then
// its own leaves.
func decodeLeaves(t *testing.T, msg []byte) []leaf {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(msg))
	if err != nil && !gomessage.IsUnknownCharset(err) {
		t.Fatalf("go-message cannot read the message: %v", err)
	}
	var out []leaf
	if err := walkLeaves(e, &out, 0); err != nil {
		t.Fatalf("go-message cannot read the message: %v", err)
	}
	return out
}

func walkLeaves(e *gomessage.Entity, out *[]leaf, depth int) error {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && !gomessage.IsUnknownCharset(err) {
				return err
			}
			if err := walkLeaves(p, out, depth+1); err != nil {
				return err
			}
		}
	}
	typ, _, _ := e.Header.ContentType()
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return err
	}
	if typ == "message/rfc822" {
		inner, err := gomessage.Read(bytes.NewReader(body))
		if err != nil && !gomessage.IsUnknownCharset(err) {
			return err
		}
		subject, _ := (&gomail.Header{Header: inner.Header}).Subject()
		*out = append(*out, leaf{typ: "subject", content: subject})
		return walkLeaves(inner, out, depth+1)
	}
	name, _ := (&gomail.AttachmentHeader{Header: e.Header}).Filename()
	*out = append(*out, leaf{typ: typ, name: name, content: string(body)})
	return nil
}

// prepare parses raw and prepares it with fixed ID and time.
func prepare(t *testing.T, raw string) *Prepared {
	t.Helper()
	m, err := Parse(NormalizeLineEndings([]byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(m, "0100-abc-000000", "petrel.test", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(p.Body); err != nil {
		t.Fatalf("prepared message does not parse: %v", err)
	}
	return p
}

// firstEightBit returns the line holding the first octet above 127 or
// NUL, or "".
func firstEightBit(b []byte) string {
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if eightBit(line) {
			return string(line)
		}
	}
	return ""
}

const mixedHead = "From: Zoë Ærøskøbing <zoe@example.com>\r\nTo: 山田 太郎 <taro@例え.jp>, \"Doe, Jane\" <jane@example.org>\r\n" +
	"Subject: Grüße =?UTF-8?Q?caf=C3=A9?= 你好\r\nX-Campaign: Été 2025\r\nKeywords: Grüße, news, 東京\r\nMIME-Version: 1.0\r\n"

// eightBitMessages are accepted messages with 8-bit content, and what
// they decode to.
var eightBitMessages = []struct {
	name   string
	raw    string
	leaves []leaf
	kept   []string // byte sequences that must come out as they went in
}{
	{
		name: "single part UTF-8",
		raw: "From: a@example.com\r\nSubject: single\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text + longCJKLine + "\r\n",
		leaves: []leaf{{typ: "text/plain", content: utf8Text + longCJKLine + "\r\n"}},
	},
	{
		name: "multipart/alternative with 8bit parts",
		raw: mixedHead + "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\nThis is a multi-part message in MIME format.\r\n" +
			"--alt\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
			"--alt \t\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nA 7-bit part, kept as it is.\r\n" +
			"--alt\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8HTML +
			"--alt--\r\nThe epilogue.\r\n",
		leaves: []leaf{{typ: "text/plain", content: inPart(utf8Text)}, {typ: "text/plain", content: "A 7-bit part, kept as it is."},
			{typ: "text/html", content: inPart(utf8HTML)}},
		kept: []string{"\r\n\r\nThis is a multi-part message in MIME format.\r\n--alt\r\n", "--alt \t\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nA 7-bit part, kept as it is.\r\n--alt\r\n",
			"--alt--\r\nThe epilogue.\r\n"},
	},
	{
		name: "attachment with binary",
		raw: "From: a@example.com\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
			"--b1\r\nContent-Type: application/octet-stream; name=\"résumé.bin\"\r\nContent-Disposition: attachment; filename=\"résumé.bin\"\r\n" +
			"Content-Transfer-Encoding: binary\r\n\r\n" + string(binaryContent()) + "\r\n--b1--\r\n",
		leaves: []leaf{{typ: "text/plain", content: inPart(utf8Text)}, {typ: "application/octet-stream", name: "résumé.bin", content: string(binaryContent())}},
	},
	{
		name: "nested multipart",
		raw: mixedHead + "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
			"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
			"--inner\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8Text +
			"--inner\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + utf8HTML +
			"--inner--\r\n" +
			"--outer\r\nContent-Type: text/plain; name=\"報告書（第3四半期）.txt\"\r\nContent-Disposition: attachment;\r\n filename=\"報告書（第3四半期）.txt\"\r\n\r\n" +
			"Plain 8-bit text without a charset: Grüße\r\n--outer--\r\n",
		leaves: []leaf{{typ: "text/plain", content: inPart(utf8Text)}, {typ: "text/html", content: inPart(utf8HTML)},
			{typ: "text/plain", name: "報告書（第3四半期）.txt", content: "Plain 8-bit text without a charset: Grüße"}},
	},
	{
		name: "message/rfc822 with 8bit",
		raw: "From: a@example.com\r\nSubject: forwarded\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSee the message below — ça va.\r\n" +
			"--b1\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"From: Bjørn <bjorn@example.no>\r\nSubject: Smørrebrød 🥪\r\nDate: Mon, 2 Jun 2025 10:00:00 +0200\r\n\r\n" + utf8Text +
			"--b1--\r\n",
		leaves: []leaf{{typ: "text/plain", content: "See the message below — ça va."}, {typ: "subject", content: "Smørrebrød 🥪"},
			{typ: "text/plain", content: inPart(utf8Text)}},
	},
	{
		name:   "non-MIME 8bit",
		raw:    "From: a@example.com\r\nSubject: Grüße\r\n\r\n" + utf8Text,
		leaves: []leaf{{typ: "text/plain", content: utf8Text}},
	},
	{
		name: "Latin-1 declared",
		raw: "From: a@example.com\r\nSubject: latin\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\n" + latin1Bytes,
		leaves: []leaf{{typ: "text/plain", content: latin1Text}},
	},
	{
		name:   "Latin-1 without MIME",
		raw:    "From: a@example.com\r\nSubject: latin\r\n\r\n" + latin1Bytes,
		leaves: []leaf{{typ: "text/plain", content: latin1Bytes}}, // unknown-8bit: go-message leaves the octets
	},
	{
		name: "quoted-printable with raw 8-bit",
		raw: "From: a@example.com\r\nSubject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 and café=\r\n continued\r\n",
		leaves: []leaf{{typ: "text/plain", content: "café and café continued\r\n"}},
	},
}

// TestPrepareMakes7bit: Prepare turns messages with 8-bit content into
// 7-bit ones — no octet above 127 and no NUL anywhere (RFC 2045 §2.7) —
// that decode (go-message) to the same texts, names and attachments, keep
// 7-bit parts, preambles, epilogues and delimiter lines byte for byte, and
// report the conversion.
func TestPrepareMakes7bit(t *testing.T) {
	for _, c := range eightBitMessages {
		t.Run(c.name, func(t *testing.T) {
			p := prepare(t, c.raw)
			if line := firstEightBit(p.Body); line != "" {
				t.Fatalf("8-bit octets left: %q", line)
			}
			if !p.Converted {
				t.Error("Converted = false")
			}
			checkFolding(t, p.Body, foldWidth)
			got := decodeLeaves(t, p.Body)
			if fmt.Sprint(got) != fmt.Sprint(c.leaves) {
				t.Errorf("decodes to\n%q\nwant\n%q", got, c.leaves)
			}
			for _, k := range c.kept {
				if !bytes.Contains(p.Body, []byte(k)) {
					t.Errorf("%q not kept byte for byte", k)
				}
			}
			if again := prepare(t, string(p.Body)); again.Converted {
				t.Error("converting the converted message changes it again")
			}
		})
	}
}

// TestPrepareConvertsHeader: header fields with raw UTF-8 (RFC 6532) are
// written as RFC 2047 encoded-words (text, display names) and with
// A-label domains; go-message decodes them to the original text; fields
// that cannot be made 7-bit stay as they are.
func TestPrepareConvertsHeader(t *testing.T) {
	p := prepare(t, eightBitMessages[1].raw)
	h := readHeader(t, p.Body)
	if s, err := h.Subject(); err != nil || s != "Grüße café 你好" {
		t.Errorf("Subject = %q (%v)", s, err)
	}
	if s, err := h.Text("X-Campaign"); err != nil || s != "Été 2025" {
		t.Errorf("X-Campaign = %q (%v)", s, err)
	}
	if s, err := h.Text("Keywords"); err != nil || s != "Grüße, news, 東京" {
		t.Errorf("Keywords = %q (%v)", s, err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë Ærøskøbing" || from[0].Address != "zoe@example.com" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "山田 太郎" || to[0].Address != "taro@xn--r8jz45g.jp" || to[1].Name != "Doe, Jane" {
		t.Errorf("To = %v (%v)", to, err)
	}
	// The events keep the header as it was sent.
	if p.Common.Subject != "Grüße café 你好" || p.Common.To[0] != "山田 太郎 <taro@例え.jp>" {
		t.Errorf("commonHeaders: %+v", p.Common)
	}

	kept := []string{
		"To: Jöhn <jöhn@example.com>\r\n",              // UTF-8 local part: needs SMTPUTF8
		"Cc: team: Zoë <z@example.com>;\r\n",           // a group
		"Reply-To: z@example.com (Zoë Ærøskøbing)\r\n", // a comment
		"Message-ID: <été@example.com>\r\n",            // structured, not rewritten
	}
	p = prepare(t, "From: a@example.com\r\n"+strings.Join(kept, "")+"Subject: Grüße\r\n\r\nbody\r\n")
	for _, f := range kept[:3] {
		if !bytes.Contains(p.Body, []byte(f)) {
			t.Errorf("%q was rewritten:\n%s", f, p.Body)
		}
	}
	if !bytes.Contains(p.Body, []byte("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n")) || !p.Converted {
		t.Errorf("Subject not converted next to fields that cannot be:\n%s", p.Body)
	}
}

// TestPrepareKeepsSigned8bit: a message the sender DKIM-signed is not
// converted (that would break the signature): its fields and body come
// out byte for byte.
func TestPrepareKeepsSigned8bit(t *testing.T) {
	head := "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from:subject; bh=abc=; b=def=\r\n" +
		"From: Zoë <zoe@example.com>\r\nSubject: Grüße\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n"
	body := utf8Text + longCJKLine + "\r\n"
	p := prepare(t, head+"\r\n"+body)
	if p.Converted {
		t.Error("Converted = true")
	}
	h, b, _ := bytes.Cut(p.Body, []byte("\r\n\r\n"))
	if string(b) != body {
		t.Errorf("body changed:\n%s", b)
	}
	for _, f := range strings.SplitAfter(head, "\r\n") {
		if !bytes.Contains(append(h, '\r', '\n'), []byte(f)) {
			t.Errorf("field %q changed", f)
		}
	}
}

// TestPrepareKeepsMIMESigned: the signed content of a multipart/signed
// (PGP/MIME, S/MIME; RFC 1847) was re-encoded as quoted-printable, which
// broke its signature. A multipart/signed or multipart/encrypted entity,
// at the top or inside a multipart/mixed, stays byte for byte, while the
// message's other 8-bit parts are still converted.
func TestPrepareKeepsMIMESigned(t *testing.T) {
	signed := "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=s\r\n\r\n" +
		"--s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n" +
		"--s\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--s--\r\n"
	head := "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
	top := prepare(t, head+signed)
	if top.Converted || !bytes.HasSuffix(top.Body, []byte(signed[strings.Index(signed, "\r\n\r\n"):])) {
		t.Errorf("top-level multipart/signed changed (converted %v):\n%s", top.Converted, top.Body)
	}
	nested := prepare(t, head+"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n"+signed+
		"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nÜbrigens\r\n--m--\r\n")
	if !nested.Converted || !bytes.Contains(nested.Body, []byte(signed)) || bytes.Contains(nested.Body, []byte("Übrigens")) {
		t.Errorf("nested multipart/signed changed, or the part beside it was not converted:\n%s", nested.Body)
	}
}

// TestPrepareKeeps7bit: 7-bit messages, whatever they declare, are not
// touched.
func TestPrepareKeeps7bit(t *testing.T) {
	body := "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nonly ASCII\r\n--b--\r\n"
	p := prepare(t, "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"+
		"Content-Transfer-Encoding: 8bit\r\n\r\n"+body)
	if _, b, _ := bytes.Cut(p.Body, []byte("\r\n\r\n")); p.Converted || string(b) != body {
		t.Errorf("a 7-bit message changed (converted %v):\n%s", p.Converted, p.Body)
	}
}

// TestPrepareMalformedMIME: broken structure never panics or loses
// content; the 8-bit leaves that can be found are converted, a multipart
// whose parts no reader can find is taken as text, 8-bit octets in a
// preamble or an epilogue become "?", and what cannot be understood is
// left as it is.
func TestPrepareMalformedMIME(t *testing.T) {
	head := "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
	cases := []struct {
		name, raw string
		converted bool
		kept      []string // left byte for byte
		texts     []string // decoded quoted-printable contents expected in the output
		sevenBit  bool     // the whole output is 7-bit
	}{
		{name: "no closing delimiter",
			raw: head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
				"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nlast part, Grüße, runs to the end\r\n",
			converted: true, kept: []string{"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\n"},
			texts: []string{"last part, Grüße, runs to the end\r\n"}},
		{name: "no delimiter at all",
			raw:       head + "Content-Type: multipart/mixed; boundary=b\r\n\r\ngarbage Grüße \xff\r\n--bb not a delimiter\r\n",
			converted: true, sevenBit: true, kept: []string{"Content-Type: text/plain; charset=unknown-8bit\r\n"},
			texts: []string{"garbage Grüße \xff\r\n--bb not a delimiter\r\n"}},
		{name: "no boundary parameter",
			raw:       head + "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nGrüße\r\n--b--\r\n",
			converted: true, sevenBit: true, kept: []string{"Content-Type: text/plain; charset=utf-8\r\n"},
			texts: []string{"--b\r\n\r\nGrüße\r\n--b--\r\n"}},
		{name: "part header that does not parse",
			raw: head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nnot a header line Grüße\r\n\r\nbody ü\r\n" +
				"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n--b--\r\n",
			converted: true, kept: []string{"--b\r\nnot a header line Grüße\r\n\r\nbody ü\r\n--b\r\n"}, texts: []string{"Grüße"}},
		{name: "8-bit preamble and epilogue",
			raw:       head + "Content-Type: multipart/mixed; boundary=b\r\n\r\npréambule\r\n--b\r\n\r\nGrüße\r\n--b--\r\népilogue\r\n",
			converted: true, sevenBit: true, kept: []string{"\r\n\r\npr??ambule\r\n--b\r\n", "--b--\r\n??pilogue\r\n"}, texts: []string{"Grüße"}},
		{name: "base64 with 8-bit garbage",
			raw:  head + "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\xff\xfeAAAA\r\n",
			kept: []string{"\r\n\r\nAAAA\xff\xfeAAAA\r\n"}},
		{name: "empty parts and a delimiter at the end",
			raw:       head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n--b\r\n\r\nü\r\n--b",
			converted: true, kept: []string{"\r\n\r\n--b\r\n--b\r\n\r\n--b\r\n"}, texts: []string{"ü"}},
		{name: "broken Content-Type",
			raw:       head + "Content-Type: text/plain; charset\r\n\r\nGrüße\r\n",
			converted: true, texts: []string{"Grüße\r\n"}},
		{name: "deep nesting", raw: head + deepNesting(200), kept: []string{"\r\nü\r\n"}},
		{name: "nesting within the limit", raw: head + deepNesting(maxDepth), converted: true, texts: []string{"ü"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := prepare(t, c.raw)
			if p.Converted != c.converted {
				t.Errorf("Converted = %v, want %v", p.Converted, c.converted)
			}
			if c.sevenBit && eightBit(p.Body) {
				t.Errorf("8-bit octets left:\n%s", p.Body)
			}
			if c.sevenBit && eightBit(p.Body) {
				t.Errorf("8-bit octets left:\n%s", p.Body)
			}
			for _, k := range c.kept {
				if !bytes.Contains(p.Body, []byte(k)) {
					t.Errorf("%q not kept:\n%s", k, p.Body)
				}
			}
			decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(p.Body)))
			for _, s := range c.texts {
				if !bytes.Contains(decoded, []byte(s)) {
					t.Errorf("%q lost:\n%s", s, p.Body)
				}
			}
		})
	}
}

// deepNesting returns a Content-Type field and a body: n multiparts, each
// the only part of the one before, around an 8-bit text part.
func deepNesting(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("\r\nü\r\n")
	return b.String()
}

// TestPrepareGolden compares converted messages with
// testdata/prepared-*.golden (go test -update rewrites them).
func TestPrepareGolden(t *testing.T) {
	for _, c := range []struct{ name, raw string }{
		{"prepared-alternative", eightBitMessages[1].raw},
		{"prepared-rfc822", eightBitMessages[4].raw},
		{"prepared-non-mime", eightBitMessages[5].raw},
	} {
		golden(t, c.name, prepare(t, c.raw).Body)
	}
}

// FuzzTo7bit: converting any message never panics, gives a message that
// parses, leaves a 7-bit message as it is, and is stable (converting the
// result again changes nothing).
func FuzzTo7bit(f *testing.F) {
	for _, c := range eightBitMessages {
		f.Add([]byte(c.raw))
	}
	f.Add([]byte("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n\xff\r\n--b"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nSubject: \xe9\r\n\r\n\x00"))
	f.Add([]byte("Content-Type:\r\n text/" + strings.Repeat("k", 992) + "\r\n\r\n\xe9"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(NormalizeLineEndings(raw))
		if err != nil {
			return
		}
		eight := m.eightBit()
		p, err := Prepare(m, "id", "h.test", time.Unix(0, 0))
		if err != nil {
			return
		}
		if p.Converted && !eight {
			t.Fatal("a 7-bit message was converted")
		}
		m2, err := Parse(p.Body)
		if err != nil {
			t.Fatalf("prepared message does not parse: %v", err)
		}
		if m2.Get("DKIM-Signature") != "" {
			return
		}
		body := bytes.Clone(m2.Body)
		if to7bit(m2) {
			t.Fatalf("converting again changes the message:\n%q\n%q", body, m2.Body)
		}
	})
}

// FuzzTo7bitContent: a well-formed message with 8-bit subject, display
// name, text, file name and binary attachment becomes wholly 7-bit and
// decodes to the same.
func FuzzTo7bitContent(f *testing.F) {
	f.Add("Grüße 你好", "Zoë Ærøskøbing", utf8Text, "résumé.pdf", binaryContent())
	f.Add("", "", "", "", []byte{})
	f.Add("=?x?q?y?=", "\"q\"", "\x00\r\n.", "\\\"", []byte{0, 0xff})
	f.Fuzz(func(t *testing.T, subject, name, text, filename string, attachment []byte) {
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f || r == utf8.RuneError {
					return -1
				}
				return r
			}, s)
		}
		subject, name, filename = clean(subject), clean(name), clean(filename)
		text = string(NormalizeLineEndings([]byte(strings.ToValidUTF8(text, ""))))
		text = strings.ReplaceAll(text, "\x00", "")
		attachment = bytes.ReplaceAll(bytes.ReplaceAll(attachment, []byte("\r"), nil), []byte("\n"), nil)
		if len(subject) > 2000 || len(name) > 500 || len(filename) > 500 || strings.TrimSpace(filename) != filename || filename == "" {
			return
		}
		for _, line := range strings.Split(text, "\r\n") {
			if len(line) > 900 {
				return
			}
		}
		var lines [][]byte
		for len(attachment) > 0 {
			n := min(len(attachment), 900)
			lines = append(lines, attachment[:n])
			attachment = attachment[n:]
		}
		attachment = bytes.Join(lines, []byte("\r\n"))
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "From: %s <from@example.com>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", quote(name), subject)
		raw.WriteString("Content-Type: multipart/mixed; boundary=\"=-b-=\"\r\n\r\n--=-b-=\r\n")
		raw.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text + "\r\n--=-b-=\r\n")
		fmt.Fprintf(&raw, "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=%s\r\n", quote(filename))
		raw.WriteString("Content-Transfer-Encoding: binary\r\n\r\n")
		raw.Write(attachment)
		raw.WriteString("\r\n--=-b-=--\r\n")
		for _, line := range bytes.Split(raw.Bytes(), []byte("\r\n")) {
			if len(line) > 990 {
				return
			}
		}
		p := prepare(t, raw.String())
		if line := firstEightBit(p.Body); line != "" {
			t.Fatalf("8-bit octets left: %q", line)
		}
		for _, line := range bytes.Split(p.Body, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d characters", len(line))
			}
		}
		h := readHeader(t, p.Body)
		if s, _ := h.Subject(); strings.TrimSpace(s) != strings.TrimSpace(subject) && !strings.Contains(subject, "=?") {
			t.Errorf("Subject %q, want %q", s, subject)
		}
		if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != name && !strings.Contains(name, "=?") {
			t.Errorf("From %v (%v), want name %q", from, err, name)
		}
		want := []leaf{{typ: "text/plain", content: text}, {typ: "application/octet-stream", name: filename, content: string(attachment)}}
		if got := decodeLeaves(t, p.Body); fmt.Sprint(got) != fmt.Sprint(want) && !strings.Contains(filename, "=?") {
			t.Errorf("decodes to\n%q\nwant\n%q", got, want)
		}
	})
}

// quote writes s as an RFC 5322 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestTo7bitLongWords: a field or part whose converted form would need a
// word longer than a line (a long media type, parameter name or local
// part) is folded right after the field's colon, or else left as it is:
// the prepared message never has a line longer than 998 octets.
func TestTo7bitLongWords(t *testing.T) {
	k := func(n int) string { return strings.Repeat("k", n) }
	for _, c := range []struct {
		name, raw string
		left      string // a field left as it is, if any
		body7bit  bool   // the body is converted to 7-bit
	}{
		{"media type, folded after the colon", "From: a@b.c\r\nContent-Type:\r\n text/" + k(990) + "\r\n\r\nhi\xe9\r\n", "", true},
		{"media type filling the line", "From: a@b.c\r\nContent-Type:\r\n text/" + k(992) + "\r\n\r\nhi\xe9\r\n", "", false},
		{"parameter name", "From: a@b.c\r\nContent-Type: text/plain;\r\n " + k(980) + "=\"\xc3\xa9\xe4\xb8\xad\"\r\n\r\nhi\r\n", "Content-Type", true},
		{"local part, folded after the colon", "From: a@b.c\r\nTo:\r\n " + k(978) + "@d\xc3\xb6.example\r\n\r\nhi\r\n", "", true},
		{"local part filling the line", "From: a@b.c\r\nTo:\r\n " + k(982) + "@d\xc3\xb6.example\r\n\r\nhi\r\n", "To", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			p := prepare(t, c.raw)
			for i, line := range bytes.Split(p.Body, []byte("\r\n")) {
				if len(line) > 998 {
					t.Errorf("line %d is %d octets: %.60q…", i+1, len(line), line)
				}
			}
			m2, err := Parse(p.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range m2.Header {
				if c.left != "" && strings.EqualFold(f.Name, c.left) {
					if !bytes.Equal(f.Raw, m.Header[index(m.Header, c.left)].Raw) {
						t.Errorf("%s changed:\n%.120q", f.Name, f.Raw)
					}
				} else if eightBit(f.Raw) {
					t.Errorf("%s still 8-bit: %.120q", f.Name, f.Raw)
				}
			}
			if eightBit(m2.Body) == c.body7bit {
				t.Errorf("body 8-bit: %v, want %v: %q", eightBit(m2.Body), !c.body7bit, m2.Body)
			}
		})
	}
}
