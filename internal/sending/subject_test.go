package sending

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/template"
)

// FuzzSubjectAsTestRender (breaker17 #8): whatever the template's Subject
// and the data, the Subject a send builds is the one
// TestRenderEmailTemplate (template.RenderMIME) shows — one rule for
// rendered Subjects, line breaks from the data included.
func FuzzSubjectAsTestRender(f *testing.F) {
	f.Add("S {{s}}", `{"s":"a\r\nBcc: evil@x.com"}`)
	f.Add("S {{s}}", `{"s":"a\rb\nc\u0000d ✓"}`)
	f.Add("line\r\nbreak {{s}}", `{"s":""}`)
	to, _ := address.Parse("jo@example.net")
	s := &Sender{}
	f.Fuzz(func(t *testing.T, subject, data string) {
		mime, err := template.RenderMIME("T", template.Content{Subject: subject, Text: "t"}, data, time.Unix(0, 0))
		if err != nil {
			return
		}
		c := &Content{From: "me@example.com", To: []address.Address{to},
			Template: &Template{Inline: &template.Content{Subject: subject, Text: "t"}, Data: data}}
		raw, failed, err := s.build(context.Background(), account.Account{}, c, 1)
		if err != nil || failed != nil {
			t.Fatalf("TestRender renders %q with %q, the send does not: %v %v", subject, data, err, failed)
		}
		sent, err := message.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		shown, err := message.Parse([]byte(mime))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(sent.Values("Subject"), "|"), strings.Join(shown.Values("Subject"), "|"); got != want {
			t.Fatalf("sent Subject %q, TestRender shows %q", got, want)
		}
	})
}
