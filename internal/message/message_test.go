package message

import (
	"bytes"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeLineEndings(t *testing.T) {
	cases := map[string]string{
		"a\r\nb\r\n":         "a\r\nb\r\n",
		"a\nb\n":             "a\r\nb\r\n",
		"a\rb":               "a\r\nb",
		"x\n.\nsmuggled\r\n": "x\r\n.\r\nsmuggled\r\n",
		"x\r\n.\rMAIL FROM:": "x\r\n.\r\nMAIL FROM:",
		"\r\r\n":             "\r\n\r\n",
	}
	for in, want := range cases {
		if got := string(NormalizeLineEndings([]byte(in))); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAndPrepare(t *testing.T) {
	raw := "From: Sender <s@example.com>\r\nTo: a@example.net,\r\n b@example.org\r\nBcc: hidden@example.com\r\n" +
		"Subject: =?UTF-8?B?44GT44KT44Gr44Gh44Gv?=\r\nMessage-ID: <orig@client>\r\n" +
		"X-SES-CONFIGURATION-SET: cs1\r\nX-SES-MESSAGE-TAGS: campaign=spring, tier=gold\r\n\r\nbody\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p, err := Prepare(m, "0100-abc-000000", "petrel.test", now)
	if err != nil {
		t.Fatal(err)
	}
	if p.ConfigurationSet != "cs1" || len(p.Tags) != 2 || p.Tags[1] != [2]string{"tier", "gold"} {
		t.Fatalf("config set / tags: %q %v", p.ConfigurationSet, p.Tags)
	}
	if p.Common.Subject != "こんにちは" || p.Common.MessageID != "<orig@client>" || len(p.Common.To) != 2 {
		t.Fatalf("common headers: %+v", p.Common)
	}
	out, err := mail.ReadMessage(bytes.NewReader(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	if out.Header.Get("Message-ID") != "<0100-abc-000000@petrel.test>" {
		t.Errorf("Message-ID = %q", out.Header.Get("Message-ID"))
	}
	for _, h := range []string{"Bcc", "X-SES-CONFIGURATION-SET", "X-SES-MESSAGE-TAGS"} {
		if out.Header.Get(h) != "" {
			t.Errorf("%s not stripped", h)
		}
	}
	for _, h := range p.Headers {
		if h.Name == "Bcc" {
			t.Error("Bcc leaked into mail.headers")
		}
	}
}

func TestParseErrors(t *testing.T) {
	bad := []string{
		"no colon here\r\n\r\nbody",
		" continuation first: x\r\n\r\n",
		"",
		"Subject: " + strings.Repeat("x", 1200) + "\r\n\r\n",
		"Subject: ok\r\n\r\n" + strings.Repeat("y", 1001) + "\r\n",
	}
	for _, b := range bad {
		if _, err := Parse([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", truncate(b, 30), err)
		}
	}
}

func TestDuplicates(t *testing.T) {
	m, _ := Parse([]byte("Content-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\ncontent-type: text/html\r\n\r\n"))
	var d *DuplicateHeaderError
	if err := m.CheckDuplicates(); !errors.As(err, &d) || err.Error() != "Duplicate header 'content-type'." {
		t.Fatalf("got %v", err)
	}
}

func TestBuildSimple(t *testing.T) {
	b, err := BuildSimple(Simple{
		From: "Sender <s@example.com>", To: []string{"a@example.net"}, Subject: "Grüße",
		Text: "hello\nworld " + strings.Repeat("z", 300), HTML: "<p>hi</p>",
		Attachments: []Attachment{{Content: []byte("PDFDATA"), FileName: "a.pdf"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatalf("built message does not parse: %v", err)
	}
	if !strings.HasPrefix(m.Get("Content-Type"), "multipart/mixed") || decodeText(m.Get("Subject")) != "Grüße" {
		t.Fatalf("headers: %q %q", m.Get("Content-Type"), m.Get("Subject"))
	}
	msg, _ := mail.ReadMessage(bytes.NewReader(b))
	if msg == nil || !bytes.Contains(b, []byte("application/pdf")) {
		t.Fatal("attachment part missing")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("A: b\n\tc\n\nbody"))
	f.Add([]byte("X-SES-MESSAGE-TAGS: a=b, c\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := NormalizeLineEndings(b)
		if bytes.Contains(bytes.ReplaceAll(n, []byte("\r\n"), nil), []byte("\n")) ||
			bytes.Contains(bytes.ReplaceAll(n, []byte("\r\n"), nil), []byte("\r")) {
			t.Fatalf("bare CR/LF survived normalisation: %q", n)
		}
		m, err := Parse(n)
		if err != nil {
			return
		}
		_, _ = m.CheckDuplicates(), m.CheckEncoding()
		p, err := Prepare(m, "id", "h.test", time.Unix(0, 0))
		if err != nil {
			return
		}
		if _, err := Parse(p.Body); err != nil {
			t.Fatalf("prepared message does not parse: %v", err)
		}
	})
}

// TestPrepareAddsFields: fields Petrel adds (the feedback token) replace any
// the client wrote, so a client cannot plant its own value.
func TestPrepareAddsFields(t *testing.T) {
	m, err := Parse([]byte("From: s@example.com\r\nX-Petrel-Feedback: forged.value\r\nx-petrel-feedback: again\r\nSubject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(m, "id", "h.test", time.Unix(0, 0), [2]string{"X-Petrel-Feedback", "id.mac"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := out.Values("X-Petrel-Feedback"); len(v) != 1 || v[0] != "id.mac" {
		t.Errorf("X-Petrel-Feedback = %q, want exactly [id.mac]", v)
	}
}

// TestCommonHeadersQuoteNames: a display name with a comma or other
// special is kept quoted in commonHeaders, so each entry is still one
// address; plain and non-ASCII names are written as they are.
func TestCommonHeadersQuoteNames(t *testing.T) {
	raw := "From: \"Doe, John\" <john@example.com>\r\n" +
		"To: Plain Name <a@example.com>, \"J. \\\"Q\\\" Public\" <b@example.com>, =?UTF-8?B?w5xuw69jw7ZkZQ==?= <c@example.com>, d@example.com\r\n" +
		"Subject: s\r\n\r\nbody\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(m, "id", "example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`"Doe, John" <john@example.com>`}; !slices.Equal(p.Common.From, want) {
		t.Errorf("from = %q, want %q", p.Common.From, want)
	}
	want := []string{`Plain Name <a@example.com>`, `"J. \"Q\" Public" <b@example.com>`, `Ünïcöde <c@example.com>`, `d@example.com`}
	if !slices.Equal(p.Common.To, want) {
		t.Errorf("to = %q, want %q", p.Common.To, want)
	}
	for _, a := range append(p.Common.From, p.Common.To...) {
		if _, err := mail.ParseAddress(a); err != nil {
			t.Errorf("%q does not parse as one address: %v", a, err)
		}
	}
}
