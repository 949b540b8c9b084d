package message

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// encodedWordRE matches an RFC 2047 encoded-word.
var encodedWordRE = regexp.MustCompile(`=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=`)

// checkFolding checks a message's header block: no line longer than
// maxHeaderLine characters (CRLF excluded), every encoded-word at most 75
// characters and decoding on its own to valid UTF-8 (RFC 2047 §2, §5); and
// no line of the whole message longer than 998 (RFC 5322 §2.1.1).
func checkFolding(t *testing.T, msg []byte, maxHeaderLine int) {
	t.Helper()
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for i, line := range strings.Split(string(head), "\r\n") {
		if len(line) > maxHeaderLine {
			t.Errorf("header line %d is %d characters: %.100q…", i+1, len(line), line)
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("header line %d is blank", i+1)
		}
	}
	for _, w := range encodedWordRE.FindAllString(string(msg), -1) {
		if len(w) > maxEncodedWord {
			t.Errorf("encoded-word of %d characters: %s", len(w), w)
		}
		d, err := new(mime.WordDecoder).Decode(w)
		if err != nil || !utf8.ValidString(d) {
			t.Errorf("encoded-word %s decodes alone to %q (%v)", w, d, err)
		}
	}
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line %d is %d characters", i+1, len(line))
		}
	}
}

// readHeader reads a message's header with go-message.
func readHeader(t *testing.T, msg []byte) gomail.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		t.Fatalf("go-message cannot read the header: %v", err)
	}
	return gomail.Header{Header: gomessage.Header{Header: h}}
}

func recipients(n int) []string {
	var to []string
	for r := range n {
		switch r % 3 {
		case 0:
			to = append(to, fmt.Sprintf("Empfänger Nr. %02d 受信者 <m-r%02d@example.net>", r, r))
		case 1:
			to = append(to, fmt.Sprintf("m-r%02d@example.net", r))
		default:
			to = append(to, fmt.Sprintf(`"Doe, Jane \"JD\" %02d" <jane.doe.%02d@example.org>`, r, r))
		}
	}
	return to
}

// TestBuildSimpleFoldsHeaders: many recipients and long subjects in any
// script make header fields far longer than a line; every one is folded
// (lines within 78 characters, RFC 5322 §2.1.1), encoded-words stay within
// 75 characters and hold whole characters (RFC 2047 §2, §5), and the
// header decodes back to exactly what was given, with go-message and
// with Prepare's commonHeaders.
func TestBuildSimpleFoldsHeaders(t *testing.T) {
	cases := []struct{ name, subject string }{
		{"ascii words", wordsOf(1000)},
		{"ascii one word", strings.Repeat("x", 1000)},
		{"cjk 300", strings.Repeat("東京大阪名古屋札幌福岡", 30)},
		{"cjk 1000", strings.Repeat("東京大阪名古屋札幌福岡", 100)},
		{"mixed", strings.Repeat("Grüße 👋🌍 naïve — 你好 ", 40)},
		{"encoded by the client", "=?UTF-8?B?R3LDvMOfZQ==?= and more"},
	}
	to := recipients(50)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := BuildSimple(Simple{From: "Zoë Ærøskøbing 山田 <sender@example.com>", To: to, Cc: to[:7],
				ReplyTo: []string{"Ñandú Ölçer <reply@example.com>"}, Subject: c.subject, Text: "hello"})
			if err != nil {
				t.Fatal(err)
			}
			checkFolding(t, b, foldWidth)
			h := readHeader(t, b)
			want := c.subject
			if c.name == "encoded by the client" {
				want = "Grüße and more"
			}
			if got, err := h.Subject(); err != nil || got != want {
				t.Errorf("Subject decodes to %q (%v), want %q", got, err, want)
			}
			list, err := h.AddressList("To")
			if err != nil || len(list) != len(to) {
				t.Fatalf("To decodes to %d addresses (%v), want %d", len(list), err, len(to))
			}
			for i, a := range list {
				if w, _ := gomail.ParseAddress(to[i]); a.Name != w.Name || a.Address != w.Address {
					t.Errorf("To[%d] = %q <%s>, want %q <%s>", i, a.Name, a.Address, w.Name, w.Address)
				}
			}
			if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Zoë Ærøskøbing 山田" {
				t.Errorf("From decodes to %v (%v)", from, err)
			}
			m, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Prepare(m, "id", "h.test", time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if p.Common.Subject != want || len(p.Common.To) != len(to) || p.Common.From[0] != "Zoë Ærøskøbing 山田 <sender@example.com>" {
				t.Errorf("commonHeaders: subject %q, %d To, From %q", p.Common.Subject, len(p.Common.To), p.Common.From)
			}
			if p.Common.To[0] != `"Empfänger Nr. 00 受信者" <m-r00@example.net>` || p.Common.To[2] != `"Doe, Jane \"JD\" 02" <jane.doe.02@example.org>` {
				t.Errorf("commonHeaders.to: %q", p.Common.To[:3])
			}
			if p.Converted {
				t.Error("a 7-bit message was converted")
			}
		})
	}
}

// wordsOf returns n characters of space-separated ASCII words.
func wordsOf(n int) string {
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[i%len(words)])
		b.WriteByte(' ')
	}
	return b.String()[:n-1] + "."
}

// TestBuildSimpleHeadersAPI: the header fields given through the API (SES
// allows values of up to 995 characters, name and value 996 together) stay
// within 998 characters a line, folded at their own spaces where they have
// some, and unfold to the value given.
func TestBuildSimpleHeadersAPI(t *testing.T) {
	values := []string{
		"<https://example.com/unsubscribe?list=news&id=1234567890>, <mailto:unsubscribe@example.com?subject=unsubscribe>",
		wordsOf(995),
		strings.Repeat("y", 980),
	}
	var hs [][2]string
	for i, v := range values {
		name := fmt.Sprintf("X-Note-%d", i)
		hs = append(hs, [2]string{name, v[:min(len(v), 996-len(name))]})
	}
	b, err := BuildSimple(Simple{From: "s@example.com", To: []string{"a@example.net"}, Subject: "x", Text: "t", Headers: hs})
	if err != nil {
		t.Fatal(err)
	}
	checkFolding(t, b, 998)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range hs {
		if got := m.Get(kv[0]); got != kv[1] {
			t.Errorf("%s unfolds to %.60q…, want %.60q…", kv[0], got, kv[1])
		}
	}
	for i, line := range strings.Split(string(b), "\r\n") {
		if len(line) > foldWidth && strings.Contains(strings.TrimSpace(line), " ") && !strings.HasPrefix(line, "X-Note-2:") {
			t.Errorf("line %d has %d characters and spaces to fold at", i+1, len(line))
		}
	}
}

// attachmentNames are file names to round-trip: ASCII, Latin-1 range, CJK,
// emoji, very long, with quotes, backslashes and semicolons.
var attachmentNames = []string{
	"report.pdf",
	"quarterly report 2025.pdf",
	"résumé Zoë Ærøskøbing.pdf",
	"報告書（第3四半期）.xlsx",
	"🎉 party 🎈.png",
	strings.Repeat("非常に長いファイル名", 30) + ".txt",
	strings.Repeat("long-ascii-name_", 19) + "end.bin",
	`a "quoted"; name; with\backslash.pdf`,
	`ünï "cödé"; tëst.doc`,
}

// TestAttachmentNamesRoundTrip: Content-Disposition carries the name as
// an RFC 2231 parameter (extended values with continuations, never an
// encoded-word in a quoted string, RFC 2047 §5), Content-Type a name as
// older programs read it; both decode to the name given — with
// go-message's AttachmentHeader.Filename, Go's mime.ParseMediaType and
// Content-Type's name decoded as RFC 2047 — and every line fits 78
// characters.
func TestAttachmentNamesRoundTrip(t *testing.T) {
	var atts []Attachment
	for i, n := range attachmentNames {
		atts = append(atts, Attachment{Content: []byte{byte(i), 0xff, '\r', '\n'}, FileName: n})
	}
	b, err := BuildSimple(Simple{From: "s@example.com", To: []string{"a@example.net"}, Subject: "files", Text: "see", Attachments: atts})
	if err != nil {
		t.Fatal(err)
	}
	r, err := gomail.CreateReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var i int
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h, ok := p.Header.(*gomail.AttachmentHeader)
		if !ok {
			continue
		}
		if i >= len(attachmentNames) {
			t.Fatal("more attachments than sent")
		}
		want := attachmentNames[i]
		if got, err := h.Filename(); err != nil || got != want {
			t.Errorf("attachment %d: Filename() = %q (%v), want %q", i, got, err, want)
		}
		disp := h.Get("Content-Disposition")
		if strings.Contains(disp, "=?") {
			t.Errorf("attachment %d: encoded-word in Content-Disposition: %s", i, disp)
		}
		if _, params, err := mime.ParseMediaType(disp); err != nil || params["filename"] != want {
			t.Errorf("attachment %d: mime.ParseMediaType(%q) filename = %q (%v), want %q", i, disp, params["filename"], err, want)
		}
		if _, params, err := h.ContentType(); err != nil || params["name"] != want {
			t.Errorf("attachment %d: Content-Type name = %q (%v), want %q", i, params["name"], err, want)
		}
		if content, _ := io.ReadAll(p.Body); !bytes.Equal(content, []byte{byte(i), 0xff, '\r', '\n'}) {
			t.Errorf("attachment %d: content %q", i, content)
		}
		i++
	}
	if i != len(attachmentNames) {
		t.Errorf("%d attachments read, want %d", i, len(attachmentNames))
	}
	checkFolding(t, b, 998)
	for j, line := range strings.Split(string(b), "\r\n") {
		// Only a word longer than a line, such as a long media type, may
		// take one past 78 characters.
		if words := strings.Fields(line); len(line) > foldWidth && (len(words) > 2 || len(words) == 2 && !strings.HasSuffix(words[0], ":")) {
			t.Errorf("line %d has %d characters: %.80q", j+1, len(line), line)
		}
	}
}

// TestBuildSimpleGolden compares BuildSimple's whole output, boundaries
// normalised, with testdata/simple-*.golden (go test -update rewrites
// them).
func TestBuildSimpleGolden(t *testing.T) {
	cases := map[string]Simple{
		"simple-long-headers": {From: "Zoë Ærøskøbing 山田 <sender@example.com>", To: recipients(9),
			Subject: "Grüße — " + strings.Repeat("東京大阪名古屋", 8), Text: "Grüße\nsecond line", HTML: "<p>Grüße</p>",
			Headers: [][2]string{{"List-Unsubscribe", "<https://example.com/unsubscribe?list=news&id=1234567890>, <mailto:u@example.com>"}}},
		"simple-attachments": {From: "s@example.com", To: []string{"a@example.net"}, Subject: "Pièces jointes 📎", Text: "see",
			Attachments: []Attachment{
				{Content: []byte("%PDF-1.4"), FileName: "résumé Zoë Ærøskøbing.pdf"},
				{Content: []byte("PNG"), FileName: "🎉 party 🎈.png", Disposition: "INLINE", ContentID: "party@example.com", Description: "Fête 🎉"},
				{Content: []byte("text\n"), FileName: strings.Repeat("非常に長いファイル名", 4) + ".txt", ContentType: "text/plain; charset=UTF-8", Encoding: "QUOTED_PRINTABLE"},
			}},
	}
	for name, s := range cases {
		b, err := BuildSimple(s)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, normaliseBoundaries(b))
	}
}

// normaliseBoundaries replaces BuildSimple's random boundaries with B1,
// B2… in order of appearance.
func normaliseBoundaries(b []byte) []byte {
	seen := map[string]string{}
	return regexp.MustCompile(`=_petrel_[0-9a-f]{24}`).ReplaceAllFunc(b, func(m []byte) []byte {
		if _, ok := seen[string(m)]; !ok {
			seen[string(m)] = fmt.Sprintf("=_petrel_B%d", len(seen)+1)
		}
		return []byte(seen[string(m)])
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

// FuzzFieldFolding: a folded field unfolds (RFC 5322 §2.2.3: remove each
// CRLF) to the value given; no line is blank; a line passes 78 characters
// only when it holds a single word; a text field decodes back to its
// value, with every line within 998 characters and every encoded-word
// within 75.
func FuzzFieldFolding(f *testing.F) {
	f.Add("Subject", "hello world")
	f.Add("X-Note", wordsOf(995))
	f.Add("Subject", strings.Repeat("東京大阪", 100))
	f.Add("Subject", "a  \t b   "+strings.Repeat("z", 900))
	f.Add("To", "Caf\xe9 cr\xe8me")
	f.Fuzz(func(t *testing.T, name, value string) {
		if !validName([]byte(name)) || len(name) > 76 || strings.ContainsAny(value, "\r\n") {
			return
		}
		fd := foldedField(name, value)
		raw := string(fd.Raw)
		if !strings.HasSuffix(raw, "\r\n") {
			t.Fatalf("no CRLF at the end: %q", raw)
		}
		if got := strings.ReplaceAll(strings.TrimSuffix(raw, "\r\n"), "\r\n", ""); got != name+": "+value {
			t.Fatalf("unfolds to %q, want %q", got, name+": "+value)
		}
		blank := func(r rune) bool { return r == ' ' || r == '\t' }
		for i, line := range strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n") {
			words := len(strings.FieldsFunc(line, blank))
			if i > 0 && words == 0 {
				t.Fatalf("blank line in %q", raw)
			}
			if i == 0 {
				words-- // the field name
			}
			if len(strings.TrimRight(line, " \t")) > foldWidth && words > 1 { // trailing blanks cannot start a line
				t.Fatalf("line of %d characters with room to fold: %q", len(line), line)
			}
		}
		tf := textField(name, value)
		lines := strings.Split(strings.TrimSuffix(string(tf.Raw), "\r\n"), "\r\n")
		for _, line := range lines {
			if len(line) > 998 {
				t.Fatalf("text field line of %d characters", len(line))
			}
		}
		unfolded := strings.TrimPrefix(strings.Join(lines, ""), name+": ")
		for _, w := range encodedWordRE.FindAllString(unfolded, -1) {
			if len(w) > maxEncodedWord {
				t.Fatalf("encoded-word of %d characters", len(w))
			}
		}
		if plainText(value) {
			if unfolded != value {
				t.Fatalf("plain text unfolds to %q, want %q", unfolded, value)
			}
			return
		}
		got, err := new(mime.WordDecoder).DecodeHeader(unfolded)
		if utf8.ValidString(value) && (err != nil || got != value) {
			t.Fatalf("text field decodes to %q (%v), want %q", got, err, value)
		}
	})
}
