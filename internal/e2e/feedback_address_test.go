package e2e

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	awssestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

// TestFeedbackForwardingAddress: a message sent with a feedback address
// (v2 FeedbackForwardingEmailAddress, v1 ReturnPath) from an identity with
// no topics and no event destinations bounces at the mailbox simulator →
// the bounce report goes to the feedback address, not to the sender
// (../shared/spec/ses.md §4.1: "SendEmail → ReturnPath else Source"), for
// every send action of both APIs, a bulk call's address for each entry. A
// feedback address no verified identity covers is refused as an unverified
// From is (MessageRejected), and nothing is sent.
func TestFeedbackForwardingAddress(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e, _ := startNotify(t, backend)
			ctx := t.Context()
			for _, d := range []string{"plain.test", "fb.test"} {
				if _, err := e.d.Services().Identities.Create(ctx, "default", d, true); err != nil {
					t.Fatal(err)
				}
			}
			home := e.mx("plain.test", "127.0.0.4", 10)
			fbmx := e.mx("fb.test", "127.0.0.5", 10)
			k := e.d.Credentials
			v1 := awsses.New(awsses.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
				Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
			if _, err := e.ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("Hello"),
				TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Hello {{name}}"), Text: aws.String("Dear {{name}}.")}}); err != nil {
				t.Fatal(err)
			}
			const from, rcpt = "Sender <sender@plain.test>", "bounce@simulator.amazonses.com"
			v1Body := &awssestypes.Message{Subject: &awssestypes.Content{Data: aws.String("s")}, Body: &awssestypes.Body{Text: &awssestypes.Content{Data: aws.String("b")}}}
			v1Dest := &awssestypes.Destination{ToAddresses: []string{rcpt}}
			sends := []struct {
				name string
				send func(feedback string) ([]string, error) // the message IDs
			}{
				{"v2 SendEmail", func(fb string) ([]string, error) {
					in := simple(from, rcpt)
					in.FeedbackForwardingEmailAddress = aws.String(fb)
					out, err := e.ses.SendEmail(ctx, in)
					if err != nil {
						return nil, err
					}
					return []string{*out.MessageId}, nil
				}},
				{"v2 SendBulkEmail", func(fb string) ([]string, error) {
					entry := types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{rcpt}}}
					out, err := e.ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String(from),
						FeedbackForwardingEmailAddress: aws.String(fb),
						DefaultContent:                 &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Hello"), TemplateData: aws.String(`{"name":"all"}`)}},
						BulkEmailEntries:               []types.BulkEmailEntry{entry, entry}})
					if err != nil {
						return nil, err
					}
					var ids []string
					for _, r := range out.BulkEmailEntryResults {
						if r.Status != types.BulkEmailStatusSuccess {
							return nil, errors.New(string(r.Status) + ": " + aws.ToString(r.Error))
						}
						ids = append(ids, aws.ToString(r.MessageId))
					}
					return ids, nil
				}},
				{"v1 SendEmail", func(fb string) ([]string, error) {
					out, err := v1.SendEmail(ctx, &awsses.SendEmailInput{Source: aws.String(from), ReturnPath: aws.String(fb),
						Destination: v1Dest, Message: v1Body})
					if err != nil {
						return nil, err
					}
					return []string{*out.MessageId}, nil
				}},
				{"v1 SendTemplatedEmail", func(fb string) ([]string, error) {
					out, err := v1.SendTemplatedEmail(ctx, &awsses.SendTemplatedEmailInput{Source: aws.String(from), ReturnPath: aws.String(fb),
						Destination: v1Dest, Template: aws.String("Hello"), TemplateData: aws.String(`{"name":"you"}`)})
					if err != nil {
						return nil, err
					}
					return []string{*out.MessageId}, nil
				}},
				{"v1 SendBulkTemplatedEmail", func(fb string) ([]string, error) {
					d := awssestypes.BulkEmailDestination{Destination: v1Dest}
					out, err := v1.SendBulkTemplatedEmail(ctx, &awsses.SendBulkTemplatedEmailInput{Source: aws.String(from), ReturnPath: aws.String(fb),
						Template: aws.String("Hello"), DefaultTemplateData: aws.String(`{"name":"all"}`), Destinations: []awssestypes.BulkEmailDestination{d, d}})
					if err != nil {
						return nil, err
					}
					var ids []string
					for _, s := range out.Status {
						if s.Status != awssestypes.BulkEmailStatusSuccess {
							return nil, errors.New(string(s.Status) + ": " + aws.ToString(s.Error))
						}
						ids = append(ids, aws.ToString(s.MessageId))
					}
					return ids, nil
				}},
			}
			// Refused first: nothing of them may reach an MX.
			for _, s := range sends {
				ids, err := s.send("fb@unverified.test")
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != "MessageRejected" {
					t.Errorf("%s with an unverified feedback address = %v, %v; want MessageRejected", s.name, ids, err)
				}
			}
			want := map[string]string{} // message ID → its feedback address
			for i, s := range sends {
				fb := "fb" + string(rune('a'+i)) + "@fb.test"
				ids, err := s.send(fb)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				for _, id := range ids {
					want[id] = fb
					e.events(id, 20*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
				}
			}
			pollUntil(t, 20*time.Second, "the feedback emails at the feedback addresses' MX", func() bool { return len(fbmx.Messages()) >= len(want) })
			got := fbmx.Messages()
			if len(got) != len(want) {
				t.Fatalf("%d messages at the feedback addresses' MX, want %d", len(got), len(want))
			}
			for id, fb := range want {
				i := slices.IndexFunc(got, func(m mxtest.Message) bool {
					return slices.Equal(m.To, []string{fb}) && bytes.Contains(m.Data, []byte(id))
				})
				if i < 0 {
					t.Errorf("no feedback email to %s about %s", fb, id)
					continue
				}
				checkFeedbackDSN(t, got[i], fb, rcpt, id)
			}
			if n := len(home.Messages()); n != 0 {
				t.Errorf("%d feedback emails at the sender's MX, want none", n)
			}
		})
	}
}
