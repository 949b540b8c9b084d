package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
)

// TestWireDKIMPy sends 200 generated messages — Simple and Raw content
// through the SESv2 API (the AWS SDK client), raw messages through SMTP
// submission (STARTTLS + AUTH PLAIN): Unicode text and HTML, attachments
// with CJK, emoji and accented names, 8-bit bodies (UTF-8 and Latin-1,
// Content-Transfer-Encoding: 8bit), 50 recipients, 1,000-character and CJK
// subjects, long To lists — through a running Petrel to two fake MXes, one
// advertising 8BITMIME and one not. Every delivered copy, exactly the bytes
// the MX received, must pass DKIM verification by dkimpy (Debian's
// python3-dkim: an implementation Petrel did not write; RSA-2048 Easy DKIM
// and Ed25519), and fail it once one body byte or one signed header byte
// is changed. Each copy must also keep every line within 998 octets (RFC
// 5322 §2.1.1), a 7-bit header (none of these messages needs SMTPUTF8,
// RFC 6531), only CRLF line ends, be wholly 7-bit when the MX lacks
// 8BITMIME (RFC 6152 §3), and still carry the subject, addresses, texts
// and attachments (names and bytes) that were sent.
//
// It runs when PETREL_WIRE_DKIMPY names the python3 that has python3-dkim
// (.ci/wire installs it and sets the variable; Debian's /usr/bin/python3).
// Failures are reported per message: which copy, and why.
func TestWireDKIMPy(t *testing.T) {
	py := os.Getenv("PETREL_WIRE_DKIMPY")
	if py == "" {
		t.Skip("PETREL_WIRE_DKIMPY is not set: it names the python3 with python3-dkim (.ci/wire sets it)")
	}
	if out, err := exec.Command(py, "-c", "import dkim, nacl.signing").CombinedOutput(); err != nil {
		t.Fatalf("PETREL_WIRE_DKIMPY=%s cannot import dkimpy and PyNaCl (apt-get install python3-dkim): %v\n%s", py, err, out)
	}
	e := start(t, "sqlite", nil)
	eight := e.mx(wireEight, "127.0.0.3", 10)
	seven := e.mxWithout8BitMIME(wireSeven, "127.0.0.5", 10)
	keys := wireIdentities(t, e)

	msgs := wireMessages()
	if len(msgs) != 200 {
		t.Fatalf("generated %d messages, want 200", len(msgs))
	}
	wireSend(t, e, msgs)
	r := newWireReport(msgs)
	for i, m := range msgs {
		if m.sendErr != "" {
			r.add(i, "", "rejected at submission: %s", m.sendErr)
		}
	}
	wireWait(t, e, msgs, r, 60*time.Second)

	// Every copy, as the MX received it, goes to a file for dkimpy.
	dir := t.TempDir()
	copies := map[string]wireCopy{}
	for _, mx := range []*mxtest.Server{eight, seven} {
		params := mailParams(mx.Commands())
		for _, got := range mx.Messages() {
			i, ok := wireIndex(got.To)
			if !ok {
				t.Errorf("MX %s received a message for %v, which the test did not send", mx.IP, got.To)
				continue
			}
			c := wireCopy{msg: i, rcpts: got.To, data: got.Data, sevenBit: mx == seven, mailParams: params[got.From]}
			file := wireFileName(got.To[0]) + ".eml"
			if _, dup := copies[file]; dup {
				r.add(i, got.To[0], "delivered more than once")
				continue
			}
			copies[file] = c
			if err := os.WriteFile(filepath.Join(dir, file), got.Data, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, p := range checkWireCopy(msgs[i], c) {
				r.add(i, got.To[0], "%s", p)
			}
		}
	}
	for i, m := range msgs {
		if m.sendErr != "" {
			continue
		}
		for _, rcpt := range m.rcpts {
			if !wireCovered(copies, i, rcpt) && !r.has(i, rcpt) {
				r.add(i, rcpt, "no copy reached the MX")
			}
		}
	}

	tampered := writeTampered(t, dir, copies, r)
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	kj, _ := json.Marshal(keys)
	if err := os.WriteFile(keyFile, kj, 0o600); err != nil {
		t.Fatal(err)
	}
	results := runDKIMPy(t, py, keyFile, dir)
	for file, c := range copies {
		res, ok := results[file]
		m := msgs[c.msg]
		switch {
		case !ok:
			r.add(c.msg, c.rcpts[0], "dkimpy printed no result for the copy")
		case !res.OK:
			r.add(c.msg, c.rcpts[0], "dkimpy: DKIM fail: %s", res.Error)
		case res.Sigs != 1:
			r.add(c.msg, c.rcpts[0], "%d DKIM-Signature fields, want 1", res.Sigs)
		case res.D != m.domain || res.A != wireAlgorithms[m.domain]:
			r.add(c.msg, c.rcpts[0], "signed d=%s a=%s, want d=%s a=%s", res.D, res.A, m.domain, wireAlgorithms[m.domain])
		}
	}
	for file, kind := range tampered {
		c := copies[strings.Split(file, ".tampered-")[0]+".eml"]
		switch res, ok := results[file]; {
		case !ok:
			r.add(c.msg, c.rcpts[0], "dkimpy printed no result for the copy with a %s byte changed", kind)
		case res.OK:
			r.add(c.msg, c.rcpts[0], "dkimpy still verifies the copy after one %s byte was changed", kind)
		}
	}
	t.Logf("wire: %d messages, %d copies (%d to the MX without 8BITMIME), %d tampered copies, verified by %s",
		len(msgs), len(copies), len(seven.Messages()), len(tampered), py)
	r.report(t)
}

// writeTampered writes, for each message, its first copy twice more into
// dir: with one body letter changed, and with one letter of its (signed)
// Subject changed. It returns the kind of change by file name.
func writeTampered(t *testing.T, dir string, copies map[string]wireCopy, r *wireReport) map[string]string {
	t.Helper()
	tampered := map[string]string{}
	seen := map[int]bool{}
	for _, file := range slices.Sorted(maps.Keys(copies)) {
		c := copies[file]
		if seen[c.msg] {
			continue
		}
		seen[c.msg] = true
		for kind, fn := range map[string]func([]byte) ([]byte, bool){"body": tamperBody, "subject": tamperSubject} {
			data, ok := fn(c.data)
			if !ok {
				r.add(c.msg, c.rcpts[0], "cannot tamper with the %s of the copy (no letter to change)", kind)
				continue
			}
			name := strings.TrimSuffix(file, ".eml") + ".tampered-" + kind + ".eml"
			tampered[name] = kind
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tampered
}

// The two destination domains: one MX advertises 8BITMIME, one does not.
const (
	wireEight = "eight.test"
	wireSeven = "seven.test"
)

// wireAlgorithms are the sender domains and the a= their signatures carry:
// Easy DKIM made through the API (RSA-2048, SES's default) and an Ed25519
// key (RFC 8463).
var wireAlgorithms = map[string]string{"rsa.test": "rsa-sha256", "ed.test": "ed25519-sha256"}

// mxWithout8BitMIME starts a fake MX for domain whose EHLO reply lacks
// 8BITMIME (and SMTPUTF8): an RFC 5321 server that takes only 7-bit data.
func (e *env) mxWithout8BitMIME(domain, ip string, pref uint16) *mxtest.Server {
	s := mxtest.StartScript(e.t, ip, e.port, mxtest.Script{EHLO: []string{"250-mx.test", "250-PIPELINING", "250 SIZE 50000000"}})
	host := "mx-" + ip + ".test"
	e.dns.MX(domain, pref, host)
	e.dns.A(host, ip)
	return s
}

// wireIdentities verifies rsa.test (created through the API: Easy DKIM,
// RSA-2048) and ed.test (an Ed25519 key), and returns their DKIM TXT
// records by DNS name, as dkimpy would look them up.
func wireIdentities(t *testing.T, e *env) map[string]string {
	t.Helper()
	svc := e.d.Services()
	out, err := e.ses.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("rsa.test")})
	if err != nil {
		t.Fatal(err)
	}
	if out.DkimAttributes == nil || out.DkimAttributes.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit {
		t.Fatalf("rsa.test: DkimAttributes = %+v", out.DkimAttributes)
	}
	if err := svc.Identities.SetVerified(t.Context(), "default", "rsa.test", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(t.Context(), "default", "ed.test", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.GenerateDKIM(t.Context(), "default", "ed.test", dkim.Ed25519); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for domain := range wireAlgorithms {
		d, ok, err := svc.Identities.GetDKIM(t.Context(), "default", domain)
		if err != nil || !ok || !d.SigningEnabled {
			t.Fatalf("%s: DKIM %+v %v %v", domain, d, ok, err)
		}
		keys[d.Selector+"._domainkey."+domain] = d.Record
	}
	return keys
}

type wireVia string

const (
	viaSimple wireVia = "api-simple" // SendEmail, Content.Simple
	viaRaw    wireVia = "api-raw"    // SendEmail, Content.Raw
	viaSMTP   wireVia = "smtp"       // SMTP submission, STARTTLS + AUTH PLAIN
)

// wirePart is a leaf of the MIME tree the recipient must be able to decode:
// a text (name "") or an attachment, after its transfer encoding is undone.
type wirePart struct {
	name    string
	content []byte
}

// wireMsg is one generated message, what the delivered copies must show,
// and what became of it.
type wireMsg struct {
	kind   string
	via    wireVia
	domain string   // the From domain: the DKIM d= expected
	from   string   // the From address (and envelope sender for SMTP)
	rcpts  []string // every envelope recipient
	simple *sesv2.SendEmailInput
	raw    []byte // Raw and SMTP: the message as the client writes it

	subject  string   // decoded Subject the copies must show
	fromName string   // decoded From display name
	to       []string // addresses the To field must list
	parts    []wirePart

	id      string // MessageId once accepted
	sendErr string // why it was not accepted
}

func (m *wireMsg) label(i int) string {
	return fmt.Sprintf("m%03d %s via %s from %s", i, m.kind, m.via, m.domain)
}

// wireKind generates the messages of one kind; k counts messages of the
// kind from 0, so via, sender domain and destinations vary within it.
type wireKind struct {
	name  string
	count int
	raw   bool // Raw content: alternately API Raw and SMTP
	rcpts int  // 50, or 0 for one or two (by k)
	build func(m *wireMsg, k int)
}

var wireKinds = []wireKind{
	{"simple-text", 20, false, 0, buildSimpleText},
	{"simple-html", 20, false, 0, buildSimpleHTML},
	{"simple-attachments", 20, false, 0, buildSimpleAttachments},
	{"simple-50-recipients", 4, false, 50, buildSimple50},
	{"simple-1000-char-subject", 10, false, 0, func(m *wireMsg, k int) { buildSimpleSubject(m, wireWords(1000)) }},
	{"simple-1000-char-unbroken-subject", 10, false, 0, func(m *wireMsg, k int) { buildSimpleSubject(m, strings.Repeat("abcdefghij", 100)) }},
	{"simple-cjk-subject", 16, false, 0, func(m *wireMsg, k int) { buildSimpleSubject(m, strings.Repeat("日本語の件名テスト🎌", 20)) }},
	{"raw-8bit-utf8", 24, true, 0, buildRaw8BitUTF8},
	{"raw-8bit-latin1", 20, true, 0, buildRaw8BitLatin1},
	{"raw-8bit-multipart", 24, true, 0, buildRaw8BitMultipart},
	{"raw-50-recipients-folded", 4, true, 50, buildRaw50},
	{"raw-folded-long-headers", 16, true, 0, buildRawFolded},
	{"raw-bcc", 12, true, 0, buildRawBcc},
}

// wireMessages generates the 200 messages, the same every run.
func wireMessages() []*wireMsg {
	var msgs []*wireMsg
	for _, kind := range wireKinds {
		for k := range kind.count {
			i := len(msgs)
			m := &wireMsg{kind: kind.name, via: viaSimple, domain: "rsa.test"}
			if (k/2)%2 == 1 {
				m.domain = "ed.test"
			}
			if kind.raw {
				m.via = viaRaw
				if k%2 == 1 {
					m.via = viaSMTP
				}
			}
			m.from = fmt.Sprintf("news%03d@%s", i, m.domain)
			switch {
			case kind.rcpts == 50:
				for r := range 50 {
					m.rcpts = append(m.rcpts, wireRcpt(i, r, []string{wireEight, wireSeven}[r%2]))
				}
			case k%3 == 0:
				m.rcpts = []string{wireRcpt(i, 0, wireEight)}
			case k%3 == 1:
				m.rcpts = []string{wireRcpt(i, 0, wireSeven)}
			default:
				m.rcpts = []string{wireRcpt(i, 0, wireEight), wireRcpt(i, 1, wireSeven)}
			}
			m.to = m.rcpts
			kind.build(m, k)
			msgs = append(msgs, m)
		}
	}
	return msgs
}

func wireRcpt(i, r int, domain string) string { return fmt.Sprintf("m%03d-r%02d@%s", i, r, domain) }

// wireIndex finds the message a copy belongs to from its recipient.
func wireIndex(to []string) (int, bool) {
	if len(to) == 0 {
		return 0, false
	}
	var i, r int
	if n, err := fmt.Sscanf(to[0], "m%03d-r%02d@", &i, &r); n != 2 || err != nil {
		return 0, false
	}
	return i, true
}

func wireFileName(rcpt string) string {
	return strings.NewReplacer("@", "_at_", "/", "_").Replace(rcpt)
}

func wireCovered(copies map[string]wireCopy, i int, rcpt string) bool {
	for _, c := range copies {
		if c.msg == i && slices.Contains(c.rcpts, rcpt) {
			return true
		}
	}
	return false
}

// Texts used across the kinds.
const (
	wireUTF8Text = "Grüße aus Köln — naïve café, crème brûlée, Ærøskøbing, São Paulo.\n" +
		"你好，世界。こんにちは世界。안녕하세요 세계. Здравствуй, мир. مرحبا بالعالم. שלום עולם.\n" +
		"Emoji: 👋🌍🎉 👩‍👩‍👧‍👦 🇯🇵 ✉️\n" +
		"A line with trailing spaces   \n" +
		"..a line that starts with two dots\n" +
		".\n" +
		"From the start of a line.\n"
	wireHTML = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Café ☕</title></head><body>\n" +
		"<h1>Grüße 👋</h1><p>東京タワー、ソウル타워, Zürich — «guillemets» “quotes”.</p>\n" +
		"<p style=\"font-family: 'Noto Sans CJK JP', sans-serif\">日本語の段落です。</p></body></html>\n"
	wireLatin1Text = "Caf\xe9 cr\xe8me br\xfbl\xe9e, \xc5ngstr\xf6m, na\xefve, se\xf1or, \xa9 2024, \xbd \xbc \xbe\r\n" +
		"Gr\xfc\xdfe aus K\xf6ln, \xe0 bient\xf4t!   \r\n" +
		"..dotted line\r\n"
)

// wireLongCJKLine is 300 CJK characters: 900 octets of UTF-8 on one line,
// within the 998-octet limit only as 8-bit text.
var wireLongCJKLine = strings.Repeat("東京大阪名古屋札幌福岡", 30)

// wireWords returns n characters of space-separated ASCII words.
func wireWords(n int) string {
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do"}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[i%len(words)])
	}
	return b.String()[:n]
}

// wireBinary is deterministic binary content of n bytes, every byte value
// appearing.
func wireBinary(n, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func simpleInput(m *wireMsg, fromName string, subject string) *sesv2.SendEmailInput {
	m.subject, m.fromName = subject, fromName
	from := m.from
	if fromName != "" {
		from = fromName + " <" + m.from + ">"
	}
	return &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: m.rcpts},
		Content:          &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String(subject)}}},
	}
}

func buildSimpleText(m *wireMsg, k int) {
	m.simple = simpleInput(m, "Zoë Ærøskøbing 山田", fmt.Sprintf("Grüße — 你好 👋 #%d", k))
	text := wireUTF8Text + wireLongCJKLine + "\n"
	m.simple.Content.Simple.Body = &types.Body{Text: &types.Content{Data: aws.String(text), Charset: aws.String("UTF-8")}}
	m.simple.Content.Simple.Headers = []types.MessageHeader{
		{Name: aws.String("List-Unsubscribe"), Value: aws.String(fmt.Sprintf("<https://example.com/unsubscribe?list=news&id=%d>, <mailto:unsubscribe@%s>", k, m.domain))},
		{Name: aws.String("X-Campaign-Note"), Value: aws.String(wireWords(900))},
	}
	m.parts = []wirePart{{content: []byte(text)}}
}

func buildSimpleHTML(m *wireMsg, k int) {
	m.simple = simpleInput(m, "", fmt.Sprintf("Café ☕ newsletter № %d — «édition spéciale»", k))
	m.simple.Content.Simple.Body = &types.Body{
		Text: &types.Content{Data: aws.String(wireUTF8Text)},
		Html: &types.Content{Data: aws.String(wireHTML)},
	}
	m.parts = []wirePart{{content: []byte(wireUTF8Text)}, {content: []byte(wireHTML)}}
}

// wireAttachmentNames are Unicode file names: accented, CJK with
// full-width punctuation, emoji, and one 80 CJK characters long.
var wireAttachmentNames = []string{
	"résumé Zoë Ærøskøbing.pdf",
	"報告書（第3四半期）.xlsx",
	"🎉 party 🎈.png",
	strings.Repeat("非常に長いファイル名", 8) + ".txt",
}

func buildSimpleAttachments(m *wireMsg, k int) {
	m.simple = simpleInput(m, "Ñandú Ölçer", fmt.Sprintf("Pièces jointes 📎 添付ファイル %d", k))
	text := "See the attachments: " + strings.Join(wireAttachmentNames, ", ") + "\n"
	sm := m.simple.Content.Simple
	sm.Body = &types.Body{Text: &types.Content{Data: aws.String(text)}}
	m.parts = []wirePart{{content: []byte(text)}}
	for j, name := range wireAttachmentNames {
		data := wireBinary(1500+500*j, k*10+j)
		a := types.Attachment{FileName: aws.String(name), RawContent: data}
		if j == 2 {
			a.ContentDisposition = types.AttachmentContentDispositionInline
			a.ContentId = aws.String(fmt.Sprintf("party%d@%s", k, m.domain))
		}
		if j == 3 {
			data = []byte(wireUTF8Text)
			a.RawContent = data
			a.ContentType = aws.String("text/plain; charset=UTF-8")
			a.ContentTransferEncoding = types.AttachmentContentTransferEncodingQuotedPrintable
		}
		sm.Attachments = append(sm.Attachments, a)
		m.parts = append(m.parts, wirePart{name: name, content: data})
	}
}

func buildSimple50(m *wireMsg, k int) {
	m.simple = simpleInput(m, "", fmt.Sprintf("Fifty recipients, one message %d", k))
	var to []string
	for r, a := range m.rcpts {
		if r%2 == 0 {
			to = append(to, fmt.Sprintf("Empfänger Nr. %02d 受信者 <%s>", r, a))
		} else {
			to = append(to, a)
		}
	}
	m.simple.Destination.ToAddresses = to
	m.simple.Content.Simple.Body = &types.Body{Text: &types.Content{Data: aws.String(wireUTF8Text)}}
	m.parts = []wirePart{{content: []byte(wireUTF8Text)}}
}

func buildSimpleSubject(m *wireMsg, subject string) {
	m.simple = simpleInput(m, "", subject)
	m.simple.Content.Simple.Body = &types.Body{Text: &types.Content{Data: aws.String("The subject says it all.\n")}}
	m.parts = []wirePart{{content: []byte("The subject says it all.\n")}}
}

// rawHeader writes the fields every raw message has. subject is written
// as given (already encoded and folded as the kind wants).
func rawHeader(b *bytes.Buffer, m *wireMsg, to []string, subject string) {
	fmt.Fprintf(b, "From: =?UTF-8?Q?Zo=C3=AB_=C3=86r=C3=B8sk=C3=B8bing?= <%s>\r\n", m.from)
	m.fromName = "Zoë Ærøskøbing"
	fmt.Fprintf(b, "To: %s\r\n", foldList(to))
	fmt.Fprintf(b, "Subject: %s\r\n", subject)
	fmt.Fprintf(b, "Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n")
	fmt.Fprintf(b, "Message-ID: <%s.client@%s>\r\n", strings.Split(m.from, "@")[0], m.domain)
	b.WriteString("MIME-Version: 1.0\r\n")
}

// foldList joins addresses with ", " and folds before an address when a
// line would pass 78 characters (RFC 5322 §2.2.3).
func foldList(list []string) string { return fold(list, ",", len("To: ")) }

// foldWords folds unstructured text at its spaces so no line passes 78
// characters; unfolding (removing each CRLF) gives s back.
func foldWords(s string, first int) string { return fold(strings.Split(s, " "), "", first) }

// fold joins parts with sep and a space, folding before the space when a
// part would take the line, which starts with first characters, past 78.
func fold(parts []string, sep string, first int) string {
	var b strings.Builder
	line := first
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
			line += len(sep)
			if line+1+len(p) > 78 {
				b.WriteString("\r\n")
				line = 0
			}
			b.WriteString(" ")
			line++
		}
		b.WriteString(p)
		line += len(p)
	}
	return b.String()
}

// encodedWords encodes s as RFC 2047 B encoded-words of at most 75
// characters each (mime.BEncoding splits them), one per folded line.
func encodedWords(s string) string {
	return strings.ReplaceAll(mime.BEncoding.Encode("UTF-8", s), " =?", "\r\n =?")
}

// rfc2231 writes the parameter name*0*=UTF-8”…; name*1*=… (RFC 2231 §3,
// §4) with each section short enough to stay within 78 characters.
func rfc2231(param, value string) string {
	const attrChars = "!#$&+-.^_`|~"
	var enc []string
	for _, c := range []byte(value) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChars, c) >= 0) {
			enc = append(enc, string(c))
		} else {
			enc = append(enc, fmt.Sprintf("%%%02X", c))
		}
	}
	var sections []string
	cur := "UTF-8''"
	for _, e := range enc {
		if len(cur)+len(e) > 60 {
			sections = append(sections, cur)
			cur = ""
		}
		cur += e
	}
	sections = append(sections, cur)
	var parts []string
	for i, s := range sections {
		parts = append(parts, fmt.Sprintf("%s*%d*=%s", param, i, s))
	}
	return strings.Join(parts, ";\r\n ")
}

func buildRaw8BitUTF8(m *wireMsg, k int) {
	var b bytes.Buffer
	m.subject = fmt.Sprintf("8-bit UTF-8 body — ünïcödé 你好 %d", k)
	rawHeader(&b, m, m.rcpts, encodedWords(m.subject))
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	text := strings.ReplaceAll(wireUTF8Text+wireLongCJKLine+"\n", "\n", "\r\n")
	b.WriteString(text)
	m.raw = b.Bytes()
	m.parts = []wirePart{{content: []byte(text)}}
}

func buildRaw8BitLatin1(m *wireMsg, k int) {
	var b bytes.Buffer
	m.subject = fmt.Sprintf("Latin-1 body: café crème %d", k)
	rawHeader(&b, m, m.rcpts, "=?ISO-8859-1?Q?Latin-1_body:_caf=E9_cr=E8me_"+fmt.Sprint(k)+"?=")
	b.WriteString("Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(wireLatin1Text)
	m.raw = b.Bytes()
	m.parts = []wirePart{{content: []byte(wireLatin1Text)}}
}

func buildRaw8BitMultipart(m *wireMsg, k int) {
	var b bytes.Buffer
	m.subject = fmt.Sprintf("Multipart 8-bit 📎 %d", k)
	rawHeader(&b, m, m.rcpts, encodedWords(m.subject))
	outer, inner := fmt.Sprintf("outer-%d-=_", k), fmt.Sprintf("inner-%d-=_", k)
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME format.\r\n", outer)
	text := strings.ReplaceAll(wireUTF8Text, "\n", "\r\n")
	html := strings.ReplaceAll(wireHTML, "\n", "\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", outer, inner)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", inner, text)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", inner, html)
	fmt.Fprintf(&b, "--%s--\r\n", inner)
	m.parts = []wirePart{{content: []byte(text)}, {content: []byte(html)}}

	pdf := wireBinary(2048, k)
	enc := base64.StdEncoding.EncodeToString(pdf)
	var lines []string
	for len(enc) > 76 {
		lines, enc = append(lines, enc[:76]), enc[76:]
	}
	lines = append(lines, enc)
	name := "résumé 📄 " + strings.Repeat("長いファイル名", 6) + ".pdf"
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n %s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
		outer, rfc2231("filename", name), strings.Join(lines, "\r\n"))
	m.parts = append(m.parts, wirePart{name: name, content: pdf})

	latin := []byte(wireLatin1Text)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Disposition: attachment; filename*=UTF-8''caf%%C3%%A9%%20cr%%C3%%A8me.txt\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", outer, latin)
	m.parts = append(m.parts, wirePart{name: "café crème.txt", content: latin})
	fmt.Fprintf(&b, "--%s--\r\n", outer)
	m.raw = b.Bytes()
}

func buildRaw50(m *wireMsg, k int) {
	var b bytes.Buffer
	m.subject = wireWords(1000)
	rawHeader(&b, m, m.rcpts, foldWords(m.subject, len("Subject: ")))
	var refs []string
	for r := range 30 {
		refs = append(refs, fmt.Sprintf("<thread-%d-%d.%s@%s>", k, r, strings.Repeat("x", 20), m.domain))
	}
	fmt.Fprintf(&b, "References: %s\r\n", strings.Join(refs, "\r\n "))
	b.WriteString("Content-Type: text/plain; charset=US-ASCII\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	text := "Fifty recipients on a folded To list, a folded 1,000-character subject\r\nand 30 References.\r\n"
	b.WriteString(text)
	m.raw = b.Bytes()
	m.parts = []wirePart{{content: []byte(text)}}
}

func buildRawFolded(m *wireMsg, k int) {
	var b bytes.Buffer
	m.subject = strings.Repeat("長い件名のテストです。", 15) + fmt.Sprintf(" 🎌 %d", k)
	rawHeader(&b, m, m.rcpts, encodedWords(m.subject))
	fmt.Fprintf(&b, "X-Long-Note: %s\r\n", foldWords(wireWords(2000), len("X-Long-Note: ")))
	fmt.Fprintf(&b, "Comments: %s\r\n", encodedWords(strings.Repeat("Ünïcödé çømmént ", 10)))
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	text := strings.ReplaceAll(wireUTF8Text+wireLongCJKLine+"\n", "\n", "\r\n")
	w.Write([]byte(text))
	w.Close()
	b.Write(qp.Bytes())
	m.raw = b.Bytes()
	m.parts = []wirePart{{content: []byte(text)}}
}

func buildRawBcc(m *wireMsg, k int) {
	// Three recipients: one in To, one in Cc, one only in Bcc.
	i, _ := wireIndex(m.rcpts)
	m.rcpts = []string{wireRcpt(i, 0, wireEight), wireRcpt(i, 1, wireSeven), wireRcpt(i, 2, []string{wireEight, wireSeven}[k%2])}
	m.to = m.rcpts[:1]
	var b bytes.Buffer
	m.subject = fmt.Sprintf("Bcc 🙈 %d", k)
	rawHeader(&b, m, m.to, encodedWords(m.subject))
	fmt.Fprintf(&b, "Cc: %s\r\nBcc: %s\r\n", m.rcpts[1], m.rcpts[2])
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	text := "Only the Bcc recipient knows. — Nur der Bcc-Empfänger weiß es. 🙈\r\n"
	b.WriteString(text)
	m.raw = b.Bytes()
	m.parts = []wirePart{{content: []byte(text)}}
}

// wireSend submits every message: API messages from 8 goroutines, SMTP
// messages over 4 authenticated connections.
func wireSend(t *testing.T, e *env, msgs []*wireMsg) {
	t.Helper()
	var api, smtpMsgs []*wireMsg
	for _, m := range msgs {
		if m.via == viaSMTP {
			smtpMsgs = append(smtpMsgs, m)
		} else {
			api = append(api, m)
		}
	}
	var wg sync.WaitGroup
	work := make(chan *wireMsg)
	for range 8 {
		wg.Go(func() {
			for m := range work {
				in := m.simple
				if m.via == viaRaw {
					in = &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: m.raw}}}
				}
				out, err := e.ses.SendEmail(t.Context(), in)
				var apiErr smithy.APIError
				switch {
				case errors.As(err, &apiErr):
					m.sendErr = "API: " + apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
					continue
				case err != nil:
					m.sendErr = "API: " + err.Error()
					continue
				}
				m.id = *out.MessageId
			}
		})
	}
	const conns = 4
	for c := range conns {
		var mine []*wireMsg
		for j := c; j < len(smtpMsgs); j += conns {
			mine = append(mine, smtpMsgs[j])
		}
		wg.Go(func() { wireSubmit(e, mine) })
	}
	for _, m := range api {
		work <- m
	}
	close(work)
	wg.Wait()
}

// wireSubmit sends msgs through one SMTP submission connection.
func wireSubmit(e *env, msgs []*wireMsg) {
	fail := func(err error) {
		for _, m := range msgs {
			if m.id == "" && m.sendErr == "" {
				m.sendErr = err.Error()
			}
		}
	}
	c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		fail(err)
		return
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", e.d.Credentials.AccessKeyID, e.smtpPassword())); err != nil {
		fail(err)
		return
	}
	for _, m := range msgs {
		id, err := wireTransaction(c, m)
		if err != nil {
			m.sendErr = "SMTP: " + err.Error()
			if c.Reset() != nil {
				fail(fmt.Errorf("connection lost after an earlier failure: %w", err))
				return
			}
			continue
		}
		m.id = id
	}
}

func wireTransaction(c *smtp.Client, m *wireMsg) (string, error) {
	if err := c.Mail(m.from, nil); err != nil {
		return "", err
	}
	for _, r := range m.rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(m.raw); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(resp.StatusText, "Ok ")
	if !ok {
		return "", fmt.Errorf("final reply %q has no MessageId", resp.StatusText)
	}
	return id, nil
}

// wireWait waits until every recipient of every accepted message has a
// Delivery or Bounce event, and reports bounces and what is still missing
// at the deadline.
func wireWait(t *testing.T, e *env, msgs []*wireMsg, r *wireReport, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pending := map[int]bool{}
	for i, m := range msgs {
		if m.id != "" {
			pending[i] = true
		}
	}
	evs := map[int][]event.Event{}
	for len(pending) > 0 && time.Now().Before(deadline) {
		for i := range pending {
			list, err := e.d.Services().Events.List(context.Background(), event.Filter{MessageID: msgs[i].id})
			if err != nil {
				t.Fatal(err)
			}
			evs[i] = list
			if finalCount(len(msgs[i].rcpts))(list) {
				delete(pending, i)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, list := range evs {
		for _, ev := range list {
			switch ev.Kind {
			case event.Bounce:
				d := detail[event.BounceDetail](t, ev)
				diag := ""
				for _, br := range d.BouncedRecipients {
					diag += br.DiagnosticCode
				}
				r.add(i, ev.Recipient, "bounced (%s/%s): %s", d.BounceType, d.BounceSubType, diag)
			case event.Reject:
				r.add(i, "", "rejected: %s", detail[event.RejectDetail](t, ev).Reason)
			case event.DeliveryDelay:
				d := detail[event.DeliveryDelayDetail](t, ev)
				for _, dr := range d.DelayedRecipients {
					r.add(i, dr.EmailAddress, "delayed: %s", dr.DiagnosticCode)
				}
			}
		}
	}
	for i := range pending {
		r.add(i, "", "not final within %v: events %v", timeout, kinds(evs[i]))
	}
}

// wireCopy is one delivered copy: the MX's bytes and where they went.
type wireCopy struct {
	msg      int
	rcpts    []string
	data     []byte
	sevenBit bool // received by the MX without 8BITMIME

	mailParams []string // the ESMTP parameters of the MAIL command, upper case
}

// mailParams maps each reverse-path of the MAIL commands in cmds to the
// command's ESMTP parameters ("BODY=8BITMIME"), upper-cased. Petrel's
// reverse-paths (VERP) are distinct per message.
func mailParams(cmds []string) map[string][]string {
	out := map[string][]string{}
	for _, cmd := range cmds {
		rest, ok := strings.CutPrefix(strings.ToUpper(cmd[:min(len(cmd), 10)]), "MAIL FROM:")
		if !ok || rest != "" {
			continue
		}
		arg := strings.TrimSpace(cmd[10:])
		end := strings.IndexByte(arg, '>')
		if !strings.HasPrefix(arg, "<") || end < 0 {
			continue
		}
		out[arg[1:end]] = strings.Fields(strings.ToUpper(arg[end+1:]))
	}
	return out
}

// checkWireCopy returns what is wrong with a delivered copy, short of DKIM.
func checkWireCopy(m *wireMsg, c wireCopy) []string {
	var probs []string
	header, body, ok := bytes.Cut(c.data, []byte("\r\n\r\n"))
	if !ok {
		return []string{"no blank line ends the header"}
	}
	header = append(header, "\r\n"...)
	for n, line := range bytes.SplitAfter(c.data, []byte("\n")) {
		l := bytes.TrimSuffix(line, []byte("\r\n"))
		if bytes.ContainsAny(l, "\r\n") {
			probs = append(probs, fmt.Sprintf("line %d has a bare CR or LF", n+1))
		}
		if len(l) > 998 {
			where := "body"
			if n < bytes.Count(header, []byte("\n")) {
				where = "header"
			}
			probs = append(probs, fmt.Sprintf("%s line %d is %d octets long (RFC 5322 §2.1.1: at most 998): %.60q…", where, n+1, len(l), l))
		}
	}
	for _, w := range encodedWordRE.FindAll(c.data, -1) {
		if len(w) > 75 {
			probs = append(probs, fmt.Sprintf("encoded-word of %d characters (RFC 2047 §2: at most 75): %.60s…", len(w), w))
			break
		}
	}
	if i := firstNonASCII(header); i >= 0 {
		probs = append(probs, fmt.Sprintf("8-bit header (needs no SMTPUTF8, so must be 7-bit): %q", lineAround(header, i)))
	}
	eightBit := firstNonASCII(body) >= 0
	switch {
	case c.sevenBit && eightBit:
		probs = append(probs, fmt.Sprintf("8-bit body sent to an MX without 8BITMIME: %q", lineAround(body, firstNonASCII(body))))
	case c.sevenBit && slices.Contains(c.mailParams, "BODY=8BITMIME"):
		probs = append(probs, "MAIL FROM has BODY=8BITMIME, which the MX did not advertise")
	case eightBit && !slices.Contains(c.mailParams, "BODY=8BITMIME"):
		probs = append(probs, fmt.Sprintf("8-bit body sent without BODY=8BITMIME (RFC 6152 §3); MAIL parameters %v", c.mailParams))
	}
	if slices.Contains(c.mailParams, "SMTPUTF8") {
		probs = append(probs, "MAIL FROM has SMTPUTF8, which neither the message needs nor the MX advertised")
	}
	fields := headerFields(header)
	if _, ok := fields["bcc"]; ok {
		probs = append(probs, "the copy has a Bcc field")
	}
	if got := wireDecode(fields["subject"]); got != m.subject {
		probs = append(probs, fmt.Sprintf("Subject decodes to %.100q…, want %.100q… (field %.100q…)", got, m.subject, fields["subject"]))
	}
	if from, err := mail.ParseAddress(fields["from"]); err != nil || from.Name != m.fromName || from.Address != m.from {
		probs = append(probs, fmt.Sprintf("From %q decodes to %v (%v), want %q <%s>", fields["from"], from, err, m.fromName, m.from))
	}
	to, err := mail.ParseAddressList(fields["to"])
	var addrs []string
	for _, a := range to {
		addrs = append(addrs, a.Address)
	}
	if err != nil || !slices.Equal(addrs, m.to) {
		probs = append(probs, fmt.Sprintf("To lists %d addresses %v (%v), want %d: %v", len(addrs), wireShort(addrs), err, len(m.to), wireShort(m.to)))
	}
	return append(probs, checkWireParts(m, c.data)...)
}

// encodedWordRE matches an RFC 2047 encoded-word.
var encodedWordRE = regexp.MustCompile(`=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=`)

// checkWireParts decodes the copy's MIME tree and compares its texts and
// attachments (decoded names and bytes) with what was sent.
func checkWireParts(m *wireMsg, data []byte) []string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return []string{"unparsable: " + err.Error()}
	}
	var texts [][]byte
	files := map[string][]byte{}
	var probs []string
	var walk func(h textproto.MIMEHeader, body []byte, depth int)
	walk = func(h textproto.MIMEHeader, body []byte, depth int) {
		ct := h.Get("Content-Type")
		if ct == "" {
			ct = "text/plain"
		}
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			probs = append(probs, fmt.Sprintf("Content-Type %q: %v", ct, err))
			return
		}
		if strings.HasPrefix(mt, "multipart/") && depth < 5 {
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					probs = append(probs, fmt.Sprintf("%s part: %v", mt, err))
					return
				}
				b, err := io.ReadAll(p)
				if err != nil {
					probs = append(probs, fmt.Sprintf("%s part: %v", mt, err))
					return
				}
				walk(p.Header, b, depth+1)
			}
		}
		content, err := decodeCTE(h.Get("Content-Transfer-Encoding"), body)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s part: %v", mt, err))
			return
		}
		name, err := partName(h, params)
		if err != nil {
			probs = append(probs, err.Error())
			return
		}
		if name == "" {
			texts = append(texts, content)
		} else {
			files[name] = content
		}
	}
	_, body, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	walk(textproto.MIMEHeader(msg.Header), body, 0)
	for _, p := range m.parts {
		if p.name == "" {
			if !slices.ContainsFunc(texts, func(got []byte) bool { return sameText(got, p.content) }) {
				probs = append(probs, fmt.Sprintf("text %.40q… not found among the %d decoded text parts", p.content, len(texts)))
			}
			continue
		}
		got, ok := files[p.name]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("attachment %q not found; decoded names: %q", p.name, slices.Sorted(maps.Keys(files))))
		case !sameText(got, p.content) && !bytes.Equal(got, p.content):
			probs = append(probs, fmt.Sprintf("attachment %q decodes to %d different bytes (sent %d)", p.name, len(got), len(p.content)))
		}
	}
	return probs
}

// partName is the decoded file name of a MIME part: Content-Disposition's
// filename (RFC 2183; RFC 2231 extended values; RFC 2047 encoded-words as
// many clients write them), else Content-Type's name; both, when present,
// must agree.
func partName(h textproto.MIMEHeader, ctParams map[string]string) (string, error) {
	var fromDisp string
	if d := h.Get("Content-Disposition"); d != "" {
		_, params, err := mime.ParseMediaType(d)
		if err != nil {
			return "", fmt.Errorf("Content-Disposition %q: %v", d, err)
		}
		fromDisp = wireDecode(params["filename"])
	}
	fromType := wireDecode(ctParams["name"])
	if fromDisp != "" && fromType != "" && fromDisp != fromType {
		return "", fmt.Errorf("Content-Disposition filename %q and Content-Type name %q differ", fromDisp, fromType)
	}
	if fromDisp != "" {
		return fromDisp, nil
	}
	return fromType, nil
}

func decodeCTE(cte string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil)))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case "", "7bit", "8bit", "binary":
		return body, nil
	}
	return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
}

// sameText compares texts as a recipient reads them: line ends as LF, and
// the line end before a boundary or at the end not counted.
func sameText(a, b []byte) bool {
	norm := func(x []byte) []byte {
		return bytes.TrimRight(bytes.ReplaceAll(x, []byte("\r\n"), []byte("\n")), "\n")
	}
	return bytes.Equal(norm(a), norm(b))
}

// headerFields returns each field's value unfolded as RFC 5322 §2.2.3
// says (CRLF removed, nothing else), without the space after the colon,
// keyed by lower-case name; the last instance wins.
func headerFields(header []byte) map[string]string {
	out := map[string]string{}
	var name string
	var val strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimLeft(val.String(), " \t")
		}
		val.Reset()
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(string(header), "\r\n"), "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			val.WriteString(line)
			continue
		}
		flush()
		n, v, _ := strings.Cut(line, ":")
		name = strings.ToLower(n)
		val.WriteString(v)
	}
	flush()
	return out
}

// wireDecode decodes RFC 2047 encoded-words (UTF-8 and ISO-8859-1).
func wireDecode(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

func firstNonASCII(b []byte) int {
	for i, c := range b {
		if c >= 0x80 {
			return i
		}
	}
	return -1
}

func lineAround(b []byte, i int) []byte {
	start := bytes.LastIndexByte(b[:i], '\n') + 1
	end := i + min(60, len(b)-i)
	if j := bytes.IndexByte(b[i:end], '\r'); j >= 0 {
		end = i + j
	}
	return b[start:end]
}

func wireShort(list []string) []string {
	if len(list) > 3 {
		return append(list[:3:3], fmt.Sprintf("… %d more", len(list)-3))
	}
	return list
}

// tamperBody changes one letter of the body (simple body
// canonicalization, RFC 6376 §3.4.3, keeps every letter).
func tamperBody(data []byte) ([]byte, bool) {
	i := bytes.Index(data, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, false
	}
	return tamperLetter(data, i+4, len(data))
}

// tamperSubject changes one letter of the Subject field (folded lines
// included), which Petrel signs (h= always lists it when present).
func tamperSubject(data []byte) ([]byte, bool) {
	i := bytes.Index(data, []byte("\r\nSubject:"))
	if i < 0 {
		return nil, false
	}
	start := i + len("\r\nSubject:")
	end := start
	for {
		j := bytes.Index(data[end:], []byte("\r\n"))
		if j < 0 {
			return nil, false
		}
		end += j + 2
		if end >= len(data) || (data[end] != ' ' && data[end] != '\t') {
			break
		}
	}
	return tamperLetter(data, start, end)
}

func tamperLetter(data []byte, from, to int) ([]byte, bool) {
	out := bytes.Clone(data)
	for i := from; i < to; i++ {
		if c := out[i]; c >= 'a' && c < 'z' {
			out[i] = c + 1
			return out, true
		}
	}
	return nil, false
}

// dkimpyResult is one line of testdata/dkimpy_verify.py's output.
type dkimpyResult struct {
	File  string `json:"file"`
	OK    bool   `json:"ok"`
	Sigs  int    `json:"sigs"`
	D     string `json:"d"`
	S     string `json:"s"`
	A     string `json:"a"`
	Error string `json:"error"`
}

// runDKIMPy verifies every .eml file in dir in one python process.
func runDKIMPy(t *testing.T, py, keys, dir string) map[string]dkimpyResult {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("testdata", "dkimpy_verify.py"), keys, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy_verify.py: %v\n%s", err, stderr.Bytes())
	}
	results := map[string]dkimpyResult{}
	for line := range bytes.SplitSeq(bytes.TrimSpace(out), []byte("\n")) {
		var r dkimpyResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("dkimpy_verify.py printed %q: %v", line, err)
		}
		results[r.File] = r
	}
	return results
}

// wireReport gathers problems per message; the same problem on several
// copies of one message is reported once, with the count.
type wireReport struct {
	msgs  []*wireMsg
	probs map[int]map[string][]string // message → problem → recipients
}

func newWireReport(msgs []*wireMsg) *wireReport {
	return &wireReport{msgs: msgs, probs: map[int]map[string][]string{}}
}

func (r *wireReport) add(i int, rcpt, format string, args ...any) {
	if r.probs[i] == nil {
		r.probs[i] = map[string][]string{}
	}
	p := fmt.Sprintf(format, args...)
	r.probs[i][p] = append(r.probs[i][p], rcpt)
}

// has reports whether a problem was noted for rcpt of message i.
func (r *wireReport) has(i int, rcpt string) bool {
	for _, rcpts := range r.probs[i] {
		if slices.Contains(rcpts, rcpt) {
			return true
		}
	}
	return false
}

// report fails the test with one error per failing message, then a
// summary of failing messages by kind and by problem class.
func (r *wireReport) report(t *testing.T) {
	t.Helper()
	byKind := map[string]int{}
	byClass := map[string]int{}
	for i := range r.msgs {
		probs := r.probs[i]
		if len(probs) == 0 {
			continue
		}
		m := r.msgs[i]
		byKind[m.kind+" via "+string(m.via)]++
		var lines []string
		classes := map[string]bool{}
		for _, p := range slices.Sorted(maps.Keys(probs)) {
			rcpts := probs[p]
			where := ""
			if len(rcpts) > 1 {
				where = fmt.Sprintf(" (%d copies)", len(rcpts))
			} else if rcpts[0] != "" {
				where = " (" + rcpts[0] + ")"
			}
			lines = append(lines, "  "+p+where)
			classes[wireClass(p)] = true
		}
		for c := range classes {
			byClass[c]++
		}
		t.Errorf("%s (MessageId %s):\n%s", m.label(i), m.id, strings.Join(lines, "\n"))
	}
	if len(byKind) == 0 {
		return
	}
	var sum []string
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		sum = append(sum, fmt.Sprintf("  %-55s %3d messages", k, byKind[k]))
	}
	sum = append(sum, "by problem:")
	classes := slices.Sorted(maps.Keys(byClass))
	slices.SortStableFunc(classes, func(a, b string) int { return byClass[b] - byClass[a] })
	for _, c := range classes {
		sum = append(sum, fmt.Sprintf("  %-55s %3d messages", c, byClass[c]))
	}
	t.Errorf("wire summary: failing messages by kind:\n%s", strings.Join(sum, "\n"))
}

// wireClass names the class of a problem for the summary.
func wireClass(p string) string {
	for _, c := range []string{"rejected at submission", "bounced", "delayed", "not final", "no copy",
		"dkimpy: DKIM fail", "still verifies", "DKIM-Signature fields", "signed d=",
		"octets long", "encoded-word of", "8-bit header", "8-bit body sent to an MX without 8BITMIME", "8-bit body sent without BODY=8BITMIME", "BODY=8BITMIME, which", "SMTPUTF8, which", "bare CR",
		"Subject decodes", "From ", "To lists", "attachment", "text ", "Content-", "Bcc"} {
		if strings.Contains(p, c) {
			return c
		}
	}
	return p
}
