package e2e

import (
	"bytes"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestListManagementQuotedLocalPart (breaker17 #5): a recipient with '<'
// and '>' in a quoted local part, which SendEmail accepts, can use the
// links its message carries: the one-click POST from the delivered
// List-Unsubscribe unsubscribes it (200, not 503 "try again" forever), as
// does the mailto: address (250, not 451); the next send to it is bounced
// naming the whole list.
func TestListManagementQuotedLocalPart(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.PublicURL = "https://petrel.test" })
			ctx := t.Context()
			mx := e.mx("far.test", "127.0.0.3", 10)
			svc := e.d.Services()
			cs := contacts.New(svc.DB, nil)
			if err := cs.CreateList(ctx, "default", contacts.List{Name: "news", Topics: []contacts.Topic{
				{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			send := func(to, topic string) string {
				t.Helper()
				in := &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@example.com"),
					Destination: &types.Destination{ToAddresses: []string{to}},
					Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("Weekly")},
						Body: &types.Body{Text: &types.Content{Data: aws.String("Unsubscribe: {{amazonSESUnsubscribeUrl}}")}}}},
					ListManagementOptions: &types.ListManagementOptions{ContactListName: aws.String("news")}}
				if topic != "" {
					in.ListManagementOptions.TopicName = aws.String(topic)
				}
				out, err := e.ses.SendEmail(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				return *out.MessageId
			}
			links := func(id string) (url, mailto string) {
				t.Helper()
				e.events(id, 10*time.Second, finalCount(1))
				for _, m := range mx.Messages() {
					if bytes.Contains(m.Data, []byte(id)) {
						hdr, err := mail.ReadMessage(bytes.NewReader(m.Data))
						if err != nil {
							t.Fatal(err)
						}
						lu := regexp.MustCompile(`^<https://petrel\.test(/unsubscribe/[a-z2-7]+)>, <mailto:(u-[a-z2-7]+@[^?]+)\?`).FindStringSubmatch(hdr.Header.Get("List-Unsubscribe"))
						if lu == nil {
							t.Fatalf("List-Unsubscribe %q", hdr.Header.Get("List-Unsubscribe"))
						}
						return "http://" + e.d.Addr("http") + lu[1], lu[2]
					}
				}
				t.Fatalf("message %s not at the MX", id)
				return "", ""
			}

			const one, two = `"<script>alert(1)</script>"@far.test`, `"a<b>"@far.test`
			url, _ := links(send(one, "sports"))
			resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("one-click for %s: %d", one, resp.StatusCode)
			}
			if c, err := cs.GetContact(ctx, "default", "news", one); err != nil || len(c.TopicPreferences) != 1 || c.TopicPreferences[0].Status != contacts.OptOut {
				t.Errorf("%s after one-click: %+v, %v", one, c, err)
			}

			_, mailto := links(send(two, ""))
			c, err := smtp.Dial(e.d.Addr("inbound"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SendMail("x@far.test", []string{mailto}, strings.NewReader("Subject: unsubscribe\r\n\r\n\r\n")); err != nil {
				t.Fatalf("mailto: unsubscribe for %s: %v", two, err)
			}
			if c, err := cs.GetContact(ctx, "default", "news", two); err != nil || !c.UnsubscribeAll {
				t.Errorf("%s after mailto: %+v, %v", two, c, err)
			}
			again := send(two, "sports")
			evs := e.events(again, 10*time.Second, finalCount(1))
			if b := find(evs, event.Bounce, two); b == nil || !strings.Contains(string(b.Detail), "unsubscribed from the contact list news.") {
				t.Errorf("send after the mailto: %v %+v", kinds(evs), b)
			}
		})
	}
}
