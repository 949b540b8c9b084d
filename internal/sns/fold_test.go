package sns_test

import (
	"bytes"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/notify"
)

// runes returns the first n characters of s repeated.
func runes(s string, n int) string {
	r := []rune(strings.Repeat(s, n))
	return string(r[:n])
}

// checkSystemMail asserts that msg is what sending.Sender.SendSystemMail
// accepts (the parser it uses, message.Parse after NormalizeLineEndings,
// and message.Prepare), that every header line is folded within 78
// characters (RFC 5322 §2.1.1) unless it is one word that cannot fold, that every encoded-word is within 75
// (RFC 2047 §2) and decodes alone (no character split between words), and
// that net/mail reads back the From display name and address and the
// Subject.
func checkSystemMail(t *testing.T, label string, msg []byte, name, subject string) {
	t.Helper()
	m, err := message.Parse(message.NormalizeLineEndings(msg))
	if err != nil {
		t.Fatalf("%s: SendSystemMail's parser refuses the message: %v", label, err)
	}
	if _, err := message.Prepare(m, "0000000000000000-00000000-0000-0000-0000-000000000000-000000", "petrel.test", time.Now()); err != nil {
		t.Fatalf("%s: message.Prepare: %v", label, err)
	}
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		// Longer than 78 only for one ASCII word that cannot fold (a
		// 100-character DisplayName without blanks); never past 998.
		if len(line) > 998 || len(line) > 78 && (len(strings.Fields(line)) > 2 || encodedWordRE.MatchString(line)) {
			t.Errorf("%s: header line of %d characters: %q", label, len(line), line)
		}
		for _, w := range encodedWordRE.FindAllString(line, -1) {
			if len(w) > 75 {
				t.Errorf("%s: encoded-word of %d characters: %s", label, len(w), w)
			}
			d, err := new(mime.WordDecoder).Decode(w)
			if err != nil || !utf8.ValidString(d) {
				t.Errorf("%s: encoded-word %s does not decode alone to whole characters: %q %v", label, w, d, err)
			}
		}
	}
	pm, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("%s: net/mail: %v", label, err)
	}
	from, err := pm.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != name || from[0].Address != "no-reply@petrel.test" {
		t.Errorf("%s: From %q → %v %v, want %q <no-reply@petrel.test>", label, pm.Header.Get("From"), from, err, name)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject")); err != nil || got != subject {
		t.Errorf("%s: Subject %q → %q %v, want %q", label, pm.Header.Get("Subject"), got, err, subject)
	}
}

// TestLongDisplayNameEmails: a topic DisplayName of 100 CJK characters or
// 100 emoji (the most SNS allows) gives confirmation and notification
// emails that SendSystemMail accepts: Subject and From are folded, their
// encoded-words split on character boundaries. Before the fix the Subject
// was one line of over 1000 characters, refused as malformed, and the
// subscription could never be confirmed.
func TestLongDisplayNameEmails(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	linkRE := regexp.MustCompile(`https?://\S+`)
	for i, name := range []string{
		runes("日本語の通知", 100),
		runes("😀", 100),
		runes("é", 100),
		runes("Ops team ", 100),
		runes("x", 100),
	} {
		topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("long" + string(rune('a'+i))),
			Attributes: map[string]string{"DisplayName": name}})).TopicArn
		for _, proto := range []string{"email", "email-json"} {
			rcpt := proto + "@example.com"
			if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String(proto), Endpoint: &rcpt}); err != nil {
				t.Fatal(err)
			}
			j := <-e.deliv.emails
			if j.Channel != notify.Email || j.Kind != "SubscriptionConfirmation" {
				t.Fatalf("job %+v", j)
			}
			checkSystemMail(t, proto+" confirmation "+name, j.Body, name, name+" - Subscription Confirmation")
			_, text := decodeEmail(t, j)
			link := linkRE.FindString(text)
			if proto == "email-json" {
				link = verifyIndependently(t, []byte(text))["SubscribeURL"]
			}
			resp, err := http.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", link, resp.StatusCode)
			}
		}
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			j := <-e.deliv.emails
			checkSystemMail(t, j.Rcpt+" notification "+name, j.Body, name, name+" Notification Message")
		}
	}
}
