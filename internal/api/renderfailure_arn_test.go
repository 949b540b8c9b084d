package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/sesarn"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/template"
)

// TestRenderingFailureMailObject (breaker 17 #4): a templated send whose
// data lacks an attribute is accepted; GetMessageInsights still shows the
// sender (FromEmailAddress), the destination and the empty subject, and the
// stored mail object — the one its events are published with — has headersTruncated but no
// "headers" or "commonHeaders" (SES's Rendering Failure example), while a
// rendered message's keeps both.
func TestRenderingFailureMailObject(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := sandyAPI(t, backend)
			ses, s := api.ses, api.s
			ctx := t.Context()
			send := func(data string) string {
				out, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("News <news@sandy.example>"),
					Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}},
					Content:     &types.EmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(data)}}})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.MessageId)
			}
			failed, sent := send(`{}`), send(`{"name":"Jo"}`)
			if k := kinds(t, s, failed); k != "Send,Rendering Failure" {
				t.Fatalf("events %s, want a rendering failure", k)
			}
			ins, err := ses.GetMessageInsights(ctx, &sesv2.GetMessageInsightsInput{MessageId: aws.String(failed)})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(ins.FromEmailAddress); got != "News <news@sandy.example>" {
				t.Errorf("insights FromEmailAddress %q, want the sender", got)
			}
			if aws.ToString(ins.Subject) != "" || len(ins.Insights) != 1 || aws.ToString(ins.Insights[0].Destination) != "jo@sandy.example" {
				t.Errorf("insights subject %q, %d destinations", aws.ToString(ins.Subject), len(ins.Insights))
			}
			for id, want := range map[string]bool{failed: false, sent: true} {
				_, raw, err := s.Spool.Mail(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				_, h := m["headers"]
				_, ch := m["commonHeaders"]
				if h != want || ch != want || !bytes.Equal(m["headersTruncated"], []byte("false")) {
					t.Errorf("rendered %v: mail object %s: want headers and commonHeaders %v, headersTruncated false", want, raw, want)
				}
			}
		})
	}
}

// TestTemplateArnRegion (breaker 17 #6): a TemplateArn of another region
// names none of the sender's templates — SendEmail answers
// NotFoundException as ListTagsForResource does for the same ARN — and one
// of Petrel's region works for both.
func TestTemplateArnRegion(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := sandyAPI(t, backend)
			ses, s := api.ses, api.s
			ctx := t.Context()
			a, err := s.Accounts.Get(ctx, "sandy")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				region, code string
			}{{"us-east-1", ""}, {"eu-west-1", "NotFoundException"}} {
				arn := template.ARN(c.region, a.SendingAccountID, "Welcome")
				_, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
					Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}},
					Content:     &types.EmailContent{Template: &types.Template{TemplateArn: aws.String(arn), TemplateData: aws.String(`{"name":"Jo"}`)}}})
				if errCode(err) != c.code {
					t.Errorf("SendEmail with %s: %v, want %q", arn, err, c.code)
				}
				// The same rule for every resource the tag operations name.
				for _, arn := range []string{arn, sesarn.Format(c.region, a.SendingAccountID, "identity", "sandy.example")} {
					_, err = ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
					if errCode(err) != c.code {
						t.Errorf("ListTagsForResource %s: %v, want %q", arn, err, c.code)
					}
				}
			}
		})
	}
}
