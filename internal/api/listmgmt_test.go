package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendEmailListManagementOptions: SendEmail's ListManagementOptions
// through the official SDK. ContactListName must not be empty
// (BadRequestException; the SDK itself refuses a missing one); a list or topic the account does not have is
// NotFoundException; a known one is accepted and the stored message has
// SES's List-Unsubscribe fields for the recipient.
func TestSendEmailListManagementOptions(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, ten, _ := startAPIOn(t, backend, 0, "acme", "beta")
			ctx := t.Context()
			if err := s.Contacts.CreateList(ctx, "acme", contacts.List{Name: "news",
				Topics: []contacts.Topic{{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			s.Sender.Lists = &sending.Lists{Contacts: s.Contacts, Key: contacts.TokenKey([]byte("k")), PublicURL: "https://petrel.test", Domain: "petrel.test"}
			send := func(who, list, topic string) (*sesv2.SendEmailOutput, error) {
				lm := &types.ListManagementOptions{ContactListName: aws.String(list)}
				if topic != "" {
					lm.TopicName = aws.String(topic)
				}
				return sesClient(srv.URL, ten[who], 1).SendEmail(ctx, &sesv2.SendEmailInput{
					FromEmailAddress: aws.String("sender@" + who + ".example"),
					Destination:      &types.Destination{ToAddresses: []string{"rcpt@" + who + ".example"}},
					Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
						Body: &types.Body{Text: &types.Content{Data: aws.String("Bye: {{amazonSESUnsubscribeUrl}}")}}}},
					ListManagementOptions: lm,
				})
			}
			for _, c := range []struct {
				name, who, list, topic string
				code, text             string
			}{
				{"empty list name", "acme", "", "", "BadRequestException", "ContactListName is required"},
				{"unknown list", "acme", "other", "", "NotFoundException", "List with name other does not exist."},
				{"unknown topic", "acme", "news", "cycling", "NotFoundException", "Topic cycling does not exist in contact list news."},
				{"another account's list", "beta", "news", "", "NotFoundException", "List with name news does not exist."},
			} {
				_, err := send(c.who, c.list, c.topic)
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != c.code || !strings.Contains(ae.ErrorMessage(), c.text) {
					t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.text)
				}
			}
			out, err := send("acme", "news", "sports")
			if err != nil {
				t.Fatal(err)
			}
			body, err := s.Spool.Body(ctx, *out.MessageId)
			if err != nil {
				t.Fatal(err)
			}
			m, err := message.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			want := contacts.Token{Account: "acme", List: "news", Topic: "sports", Email: "rcpt@acme.example", MessageID: *out.MessageId}
			if lu, _ := contacts.Headers(want, contacts.TokenKey([]byte("k")), "https://petrel.test", "petrel.test"); m.Get("List-Unsubscribe") != lu {
				t.Errorf("List-Unsubscribe %q, want %q", m.Get("List-Unsubscribe"), lu)
			}
			if strings.Contains(string(body), "amazonSESUnsubscribeUrl") {
				t.Errorf("placeholder left:\n%s", body)
			}
		})
	}
}
