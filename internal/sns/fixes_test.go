package sns_test

import (
	"bytes"
	"mime"
	"net/mail"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/notify"
)

// encodedWordRE matches an RFC 2047 encoded-word.
var encodedWordRE = regexp.MustCompile(`=\?[^?]*\?[bBqQ]\?[^?]*\?=`)

// pythonAddresses returns what Python's email parser (policy default)
// reads in a message's From: header, one "name|address" per line; ok is
// false when python3 is not installed.
func pythonAddresses(t *testing.T, msg []byte) (lines []string, ok bool) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, false
	}
	cmd := exec.Command(py, "-c", `
import sys, email, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
for a in m['From'].addresses:
    print(a.display_name + "|" + a.addr_spec)
`)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python email parser: %v", err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), true
}

// TestDisplayNameFromHeader: whatever a topic's DisplayName holds, the
// From: of the mail Petrel sends names exactly one mailbox, Petrel's own
// no-reply address, with the display name intact — as net/mail and
// Python's email parser read it; encoded-words carry no raw '"'.
func TestDisplayNameFromHeader(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	for i, name := range []string{
		`Support <support@bank.example>, "x" =`,
		`Zoë "the boss" <boss@bank.example>, other@bank.example`,
		`back\slash "quote`,
		`日本語, <x@y.example>; =?utf-8?q?x?=`,
		strings.Repeat("é\"", 50),
		`Plain Name`,
	} {
		topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("dn" + string(rune('a'+i)))})).TopicArn
		if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic,
			AttributeName: aws.String("DisplayName"), AttributeValue: aws.String(name)}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"), Endpoint: aws.String("rcpt@example.com")}); err != nil {
			t.Fatal(err)
		}
		j := <-e.deliv.emails
		if j.Channel != notify.Email {
			t.Fatalf("job %+v", j)
		}
		m, err := mail.ReadMessage(bytes.NewReader(j.Body))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		from := m.Header.Get("From")
		list, err := mail.ParseAddressList(from)
		if err != nil || len(list) != 1 {
			t.Fatalf("%q: From: %s → %v %v, want exactly one address", name, from, list, err)
		}
		if list[0].Address != "no-reply@petrel.test" || list[0].Name != name {
			t.Errorf("%q: From: %s → name %q address %q", name, from, list[0].Name, list[0].Address)
		}
		for _, w := range encodedWordRE.FindAllString(from, -1) {
			if strings.ContainsAny(w, `"(),<>@;:\[]`) {
				t.Errorf("%q: encoded-word %s holds a character RFC 2047 §5(3) forbids in a phrase", name, w)
			}
		}
		if py, ok := pythonAddresses(t, j.Body); ok {
			// Python keeps the folding space between two adjacent
			// encoded-words (RFC 2047 §6.2 says to drop it), so a long
			// non-ASCII name may read with extra spaces there: compare
			// without spaces. What matters is one mailbox, Petrel's.
			nospace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
			if len(py) != 1 || nospace(py[0]) != nospace(name+"|no-reply@petrel.test") {
				t.Errorf("%q: Python's email parser reads From: %s as %q", name, from, py)
			}
		}
		// The default subject carries the name too: still one decodable line.
		if subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || !strings.HasPrefix(subj, name) {
			t.Errorf("%q: Subject %q (%v)", name, m.Header.Get("Subject"), err)
		}
	}
}

// TestDisplayNameValidation: DisplayName is at most 100 characters and
// holds no control character (InvalidParameter, as SNS).
func TestDisplayNameValidation(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("t")})).TopicArn
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{strings.Repeat("é", 100), true},
		{strings.Repeat("a", 101), false},
		{"a\rb", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\x1bb", false},
	} {
		_, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic,
			AttributeName: aws.String("DisplayName"), AttributeValue: aws.String(tc.name)})
		want := "InvalidParameter"
		if tc.ok {
			want = ""
		}
		wantCode(t, "DisplayName "+strings.ToValidUTF8(tc.name[:min(len(tc.name), 12)], "?"), err, want)
		_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("c"), Attributes: map[string]string{"DisplayName": tc.name}})
		wantCode(t, "CreateTopic DisplayName", err, want)
		if tc.ok {
			c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(strings.TrimSuffix(topic, ":t") + ":c")})
		}
	}
}
