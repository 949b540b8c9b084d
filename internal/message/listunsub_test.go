package message

import (
	"bytes"
	"strings"
	"testing"
)

const testUnsubURL = "https://petrel.test/unsubscribe/abc?x=1&y=2"

// unsubMessages are the golden cases of ReplaceUnsubscribeURL: raw
// message in, testdata/listunsub-NAME.golden out.
var unsubMessages = []struct {
	name, raw string
	replaced  int
}{
	{"alternative-qp", "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Bye: {{amazonSESUnsub=\r\nscribeUrl}} caf=C3=A9\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"<a href=3D\"{{amazonSESUnsubscribeUrl}}\">unsubscribe</a> <a href=3D\"{{amazonSESUnsubscribeUrl}}\">again</a>\r\n--b1--\r\nepilogue\r\n", 2},
	{"base64", "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap64("<p>Grüße</p><a href=\"{{amazonSESUnsubscribeUrl}}\">unsubscribe</a>") + "\r\n", 1},
	{"nested-attachment", "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\n" +
		"Unsubscribe: {{amazonSESUnsubscribeUrl}}\r\n--inner--\r\n\r\n--outer\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n" +
		"{{amazonSESUnsubscribeUrl}} stays in an attachment\r\n--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap64("{{amazonSESUnsubscribeUrl}}") + "\r\n--outer--\r\n", 1},
	{"8bit", "From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Grüße — {{amazonSESUnsubscribeUrl}} {{amazonSESUnsubscribeUrl}} {{amazonSESUnsubscribeUrl}}\r\n", 2},
	// A 988-octet line would become 1004 (over RFC 5322's 998): the part
	// is re-encoded as quoted-printable, MIME-Version added.
	{"long-line-7bit", "From: a@example.com\r\nSubject: s\r\n\r\nfirst line\r\n" + lineOf(988, "Unsubscribe: ") + "\r\nlast line\r\n", 1},
	// One that stays within 998 octets (982 + 16 = 998) is changed in place.
	{"long-line-fits", "From: a@example.com\r\nSubject: s\r\n\r\n" + lineOf(998-len(testUnsubURL)+len(UnsubscribePlaceholder), "") + "\r\n", 1},
	// In a multipart, only the part that overflows is re-encoded (an 8bit
	// HTML part without a charset gets one); the text part stays 7bit.
	{"long-line-multipart", "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nUnsubscribe: {{amazonSESUnsubscribeUrl}}\r\n" +
		"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>Grüße</p>\r\n" + lineOf(988, "<a href=\"") + "\r\n--b--\r\n", 2},
}

// lineOf returns a line of n octets (CRLF not counted) that starts with
// prefix and holds the placeholder, padded with "x" before it.
func lineOf(n int, prefix string) string {
	return prefix + strings.Repeat("x", n-len(prefix)-len(UnsubscribePlaceholder)) + UnsubscribePlaceholder
}

func wrap64(s string) string {
	var b bytes.Buffer
	writeBase64(&b, []byte(s))
	return b.String()
}

func TestReplaceUnsubscribeURLGolden(t *testing.T) {
	for _, c := range unsubMessages {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			if n := ReplaceUnsubscribeURL(m, testUnsubURL); n != c.replaced {
				t.Errorf("replaced %d, want %d", n, c.replaced)
			}
			golden(t, "listunsub-"+c.name, m.Bytes())
		})
	}
}

// TestReplaceUnsubscribeURL checks decoded content: the URL is where the
// placeholder was (escaped in HTML), at most two are replaced, other parts
// keep their bytes.
func TestReplaceUnsubscribeURL(t *testing.T) {
	escaped := "https://petrel.test/unsubscribe/abc?x=1&amp;y=2"
	for _, c := range []struct {
		name      string
		raw       string
		want      []string // decoded text leaves, in order
		untouched bool
	}{
		{name: "no placeholder", raw: "From: a@b.c\r\n\r\nhello\r\n", want: []string{"hello\r\n"}, untouched: true},
		{name: "plain non-MIME", raw: "From: a@b.c\r\n\r\nx {{amazonSESUnsubscribeUrl}} y\r\n", want: []string{"x " + testUnsubURL + " y\r\n"}},
		{name: "html escaped", raw: "From: a@b.c\r\nContent-Type: text/html\r\n\r\n<a href=\"{{amazonSESUnsubscribeUrl}}\">u</a>",
			want: []string{"<a href=\"" + escaped + "\">u</a>"}},
		{name: "qp soft break", raw: "From: a@b.c\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{{amazonSES=\r\nUnsubscribeUrl}}=3D",
			want: []string{testUnsubURL + "="}},
		{name: "qp encoded braces", raw: "From: a@b.c\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n=7B=7BamazonSESUnsubscribeUrl=7D=7D",
			want: []string{testUnsubURL}},
		{name: "third left", raw: "From: a@b.c\r\n\r\n{{amazonSESUnsubscribeUrl}}{{amazonSESUnsubscribeUrl}}{{amazonSESUnsubscribeUrl}}",
			want: []string{testUnsubURL + testUnsubURL + UnsubscribePlaceholder}},
		{name: "other type", raw: "From: a@b.c\r\nContent-Type: text/calendar\r\n\r\n{{amazonSESUnsubscribeUrl}}",
			want: []string{UnsubscribePlaceholder}, untouched: true},
		{name: "rfc822 enclosed", raw: "From: a@b.c\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.z\r\n\r\n{{amazonSESUnsubscribeUrl}}",
			untouched: true},
		{name: "signed", raw: "From: a@b.c\r\nContent-Type: multipart/signed; boundary=s\r\n\r\n--s\r\n\r\n{{amazonSESUnsubscribeUrl}}\r\n--s--\r\n",
			untouched: true},
		// The part would need quoted-printable and a charset, but its
		// Content-Type has no room for one within a line: left as it is.
		{name: "no room for a charset", raw: "From: a@b.c\r\nContent-Type: text/plain;\r\n a=" + strings.Repeat("k", 995) + "\r\n\r\n\xc3\xa9" + lineOf(988, "") + "\r\n",
			untouched: true},
		{name: "unknown cte", raw: "From: a@b.c\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n{{amazonSESUnsubscribeUrl}}",
			untouched: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			before := m.Bytes()
			ReplaceUnsubscribeURL(m, testUnsubURL)
			after := m.Bytes()
			if c.untouched {
				if !bytes.Equal(before, after) {
					t.Fatalf("changed:\n%s", after)
				}
				return
			}
			got := decodeLeaves(t, after)
			if len(got) != len(c.want) {
				t.Fatalf("%d leaves, want %d", len(got), len(c.want))
			}
			for i, l := range got {
				if l.content != c.want[i] {
					t.Errorf("leaf %d = %q, want %q", i, l.content, c.want[i])
				}
			}
		})
	}
}

// TestReplaceUnsubscribeURLKeepsOtherBytes: in a multipart message only
// the part with the placeholder changes.
func TestReplaceUnsubscribeURLKeepsOtherBytes(t *testing.T) {
	raw := unsubMessages[2].raw // nested-attachment
	m, _ := Parse([]byte(raw))
	ReplaceUnsubscribeURL(m, testUnsubURL)
	want := strings.Replace(raw, "Unsubscribe: "+UnsubscribePlaceholder, "Unsubscribe: "+testUnsubURL, 1)
	if got := string(m.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseListManagementOptions(t *testing.T) {
	for _, c := range []struct {
		in          string
		list, topic string
		bad         bool
	}{
		{in: "Newsletter", list: "Newsletter"},
		{in: "Newsletter; topic=Sports", list: "Newsletter", topic: "Sports"},
		{in: "  Newsletter ;  TOPIC = Sports ; ", list: "Newsletter", topic: "Sports"},
		{in: "Newsletter;topic=Sports", list: "Newsletter", topic: "Sports"},
		{in: "", bad: true},
		{in: "; topic=Sports", bad: true},
		{in: "Newsletter; topic=", bad: true},
		{in: "Newsletter; topicName=Sports", bad: true},
		{in: "Newsletter; topic=A; topic=B", bad: true},
		{in: "News letter", bad: true},
		{in: "contactListName=Newsletter", bad: true},
		{in: "Newsletter; Sports", bad: true},
	} {
		o, err := ParseListManagementOptions(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: parsed as %+v", c.in, o)
			}
			continue
		}
		if err != nil || o.ContactList != c.list || o.Topic != c.topic {
			t.Errorf("%q = %+v, %v; want %q, %q", c.in, o, err, c.list, c.topic)
		}
	}
}

// FuzzReplaceUnsubscribeURL: replacing never panics; the result parses;
// the URL occurs at most twice more than before; a message without any
// text part content that could hold the placeholder is unchanged; a
// second pass over the result with the placeholder gone changes nothing.
func FuzzReplaceUnsubscribeURL(f *testing.F) {
	for _, c := range unsubMessages {
		f.Add([]byte(c.raw))
	}
	f.Add([]byte("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n{{amazonSESUnsubscribeUrl}}\r\n--b"))
	f.Add([]byte("From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!"))
	f.Add([]byte("From: a@b.c\r\n\r\n" + lineOf(990, "") + "\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(NormalizeLineEndings(raw))
		if err != nil {
			return
		}
		const url = "https://u.test/unsubscribe/zz"
		before := m.Bytes()
		n := ReplaceUnsubscribeURL(m, url)
		after := m.Bytes()
		if n < 0 || n > 2 {
			t.Fatalf("replaced %d", n)
		}
		if n == 0 && !bytes.Equal(before, after) {
			t.Fatal("changed without replacing")
		}
		if _, err := Parse(after); err != nil {
			t.Fatalf("result does not parse: %v", err)
		}
		if !bytes.Contains(before, []byte(url)) && n == 0 && bytes.Contains(after, []byte(url)) {
			t.Fatal("URL appeared")
		}
		if !longLine(before) && longLine(after) {
			t.Fatal("a line over 998 octets appeared")
		}
	})
}

// FuzzParseListManagementOptions: parsing never panics; what parses
// formats back to a value that parses the same.
func FuzzParseListManagementOptions(f *testing.F) {
	f.Add("Newsletter; topic=Sports")
	f.Add("a;;topic=b;")
	f.Add("x; TOPIC=y; z=w")
	f.Fuzz(func(t *testing.T, v string) {
		o, err := ParseListManagementOptions(v)
		if err != nil {
			return
		}
		s := o.ContactList
		if o.Topic != "" {
			s += "; topic=" + o.Topic
		}
		o2, err := ParseListManagementOptions(s)
		if err != nil || o2 != o {
			t.Fatalf("%q → %+v → %q → %+v, %v", v, o, s, o2, err)
		}
	})
}
