package message

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDuplicatesRFC5322: every field RFC 5322 §3.6 allows at most once
// (orig-date, from, sender, reply-to, to, cc, bcc, message-id,
// in-reply-to, references, subject) and every single-valued X-SES-*
// control field is refused when repeated; fields that may repeat are not.
func TestDuplicatesRFC5322(t *testing.T) {
	once := []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID", "In-Reply-To",
		"References", "Subject", "X-SES-CONFIGURATION-SET", "X-SES-LIST-MANAGEMENT-OPTIONS", "X-SES-SOURCE-ARN",
		"X-SES-FROM-ARN", "X-SES-RETURN-PATH-ARN"}
	for _, name := range once {
		m, err := Parse([]byte(name + ": a@example.com\r\nX-Other: 1\r\n" + strings.ToLower(name) + ": b@example.com\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		var d *DuplicateHeaderError
		if err := m.CheckDuplicates(); !errors.As(err, &d) || err.Error() != "Duplicate header '"+strings.ToLower(name)+"'." {
			t.Errorf("%s twice: %v", name, err)
		}
	}
	for _, name := range []string{"Received", "Resent-To", "Resent-Date", "X-SES-MESSAGE-TAGS", "X-Custom"} {
		m, _ := Parse([]byte(name + ": a\r\n" + name + ": b\r\n\r\n"))
		if err := m.CheckDuplicates(); err != nil {
			t.Errorf("%s twice: %v", name, err)
		}
	}
}

// TestBuildSimpleRefusesBuiltFields: content Headers may not set the
// fields that describe the body Petrel builds, whatever its shape (a
// multipart message has no top-level Content-Transfer-Encoding of its own
// for a caller's to duplicate).
func TestBuildSimpleRefusesBuiltFields(t *testing.T) {
	shapes := map[string]Simple{
		"text":        {Text: "t"},
		"alternative": {Text: "t", HTML: "<p>h</p>"},
		"mixed":       {Text: "t", Attachments: []Attachment{{Content: []byte("x"), FileName: "a.txt"}}},
	}
	for shape, s := range shapes {
		for _, name := range []string{"Content-Transfer-Encoding", "content-type", "MIME-Version", "Content-Disposition", "content-id"} {
			s := s
			s.From, s.To, s.Subject = "s@example.com", []string{"a@example.net"}, "x"
			s.Headers = [][2]string{{"X-Fine", "1"}, {name, "base64"}}
			_, err := BuildSimple(s)
			var bf *BuiltFieldError
			if !errors.As(err, &bf) || bf.Name != name || !strings.Contains(err.Error(), "'"+name+"'") {
				t.Errorf("%s, %s: %v", shape, name, err)
			}
		}
	}
	for _, name := range []string{"Content-Language", "X-Content-Type", "Content-Transfer-Encodings", "To"} {
		if BuiltField(name) {
			t.Errorf("BuiltField(%q)", name)
		}
	}
}

// TestCheckEncoding: a multipart top level may only be 7bit, 8bit or
// binary (RFC 2045 §6.4); any encoding of a leaf is left to Prepare.
func TestCheckEncoding(t *testing.T) {
	cases := []struct {
		ctype, cte string
		bad        bool
	}{
		{"multipart/mixed; boundary=b", "base64", true},
		{"multipart/alternative; boundary=b", "Quoted-Printable", true},
		{"Multipart/Mixed; boundary=b", "x-uuencode", true},
		{"multipart/mixed; boundary=b", "7bit", false},
		{"multipart/mixed; boundary=b", "8BIT", false},
		{"multipart/mixed; boundary=b", "binary (raw)", false},
		{"multipart/mixed; boundary=b", "", false},
		{"text/plain", "base64", false},
		{"", "base64", false},
		{"multipart/mixed; boundary=b; x", "base64", true}, // an invalid parameter: still multipart
		{"not a type", "base64", false},                    // RFC 2045 §5.2: text/plain
	}
	for _, c := range cases {
		h := "From: a@example.com\r\n"
		if c.ctype != "" {
			h += "Content-Type: " + c.ctype + "\r\n"
		}
		if c.cte != "" {
			h += "Content-Transfer-Encoding: " + c.cte + "\r\n"
		}
		m, err := Parse([]byte(h + "\r\n--b\r\n\r\nx\r\n--b--\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = m.CheckEncoding()
		var e *EncodingError
		if got := errors.As(err, &e); got != c.bad {
			t.Errorf("%q / %q: %v", c.ctype, c.cte, err)
		}
		if c.bad && !strings.Contains(err.Error(), "'"+c.cte+"'") {
			t.Errorf("%q / %q: the error does not name the encoding: %v", c.ctype, c.cte, err)
		}
	}
}

// TestPrepareMergesTagFields: the tags of every X-SES-MESSAGE-TAGS field
// count, in order, and every such field is removed.
func TestPrepareMergesTagFields(t *testing.T) {
	m, _ := Parse([]byte("From: a@example.com\r\nX-SES-MESSAGE-TAGS: a=1, b=2\r\nSubject: s\r\nx-ses-message-tags: c=3\r\n\r\nbody\r\n"))
	p, err := Prepare(m, "id", "h.test", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}; !slices.Equal(p.Tags, want) {
		t.Errorf("tags %q, want %q", p.Tags, want)
	}
	if strings.Contains(strings.ToLower(string(p.Body)), "x-ses-") {
		t.Errorf("X-SES-* field delivered:\n%s", p.Body)
	}
	m, _ = Parse([]byte("From: a@example.com\r\nX-SES-MESSAGE-TAGS: a=1\r\nX-SES-MESSAGE-TAGS: b=x y\r\n\r\nbody\r\n"))
	var te *TagError
	if _, err := Prepare(m, "id", "h.test", time.Unix(0, 0)); !errors.As(err, &te) || te.Tag != "b=x y" {
		t.Errorf("a bad tag in the second field: %v", err)
	}
}

// TestTransferEncodingComment: a Content-Transfer-Encoding with a comment
// or in another case names the same mechanism everywhere the package reads
// it. The unsubscribe-URL replacement decoded a "Quoted-Printable
// (encoded)" part as if it were not encoded (it compared the whole value),
// and so found no placeholder split by a soft line break.
func TestTransferEncodingComment(t *testing.T) {
	for in, want := range map[string]string{"7bit": "7bit", " 7BIT (plain)": "7bit", "base64(x)": "base64",
		"Quoted-Printable (encoded)": "quoted-printable", "": ""} {
		if got := transferEncoding(in); got != want {
			t.Errorf("transferEncoding(%q) = %q, want %q", in, got, want)
		}
	}
	raw := "From: a@example.com\r\nTo: b@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: Quoted-Printable (encoded)\r\n\r\n" +
		"Leave: {{amazonSES=\r\nUnsubscribeUrl}}\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if n := ReplaceUnsubscribeURL(m, "https://p.example/unsubscribe/t"); n != 1 {
		t.Fatalf("%d placeholders replaced in a quoted-printable part with a comment, want 1", n)
	}
}
