package e2e

import (
	"bytes"
	"net/mail"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendBulkEmailDelivers (issue 17): a template created through the
// API and sent with SendBulkEmail by the daemon reaches the MX once per
// entry, rendered with that entry's data (the daemon's send path shares
// the API's template service); an entry whose data lacks an attribute is
// accepted with a Rendering Failure event and never reaches the MX.
func TestSendBulkEmailDelivers(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			ctx := t.Context()
			if _, err := e.ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("Hello"),
				TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Hello {{name}}"), Text: aws.String("Dear {{name}}.")}}); err != nil {
				t.Fatal(err)
			}
			entry := func(to, data string) types.BulkEmailEntry {
				return types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{to}},
					ReplacementEmailContent: &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(data)}}}
			}
			out, err := e.ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("sender@example.com"),
				DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Hello"), TemplateData: aws.String(`{"name":"all"}`)}},
				BulkEmailEntries: []types.BulkEmailEntry{entry("a@one.test", `{"name":"Ann"}`), entry("b@one.test", `{}`), entry("c@one.test", `{"x":1}`)}})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i, r := range out.BulkEmailEntryResults {
				if r.Status != types.BulkEmailStatusSuccess {
					t.Fatalf("entry %d: %s %s", i, r.Status, aws.ToString(r.Error))
				}
				ids = append(ids, aws.ToString(r.MessageId))
			}
			for _, id := range ids[:2] {
				if evs := e.events(id, 10*time.Second, finalCount(1)); count(evs, event.Delivery) != 1 {
					t.Fatalf("message %s: events %v, want Send + Delivery", id, kinds(evs))
				}
			}
			evs := e.events(ids[2], 10*time.Second, func(evs []event.Event) bool { return len(evs) >= 2 })
			if k := kinds(evs); len(k) != 2 || k[0] != event.Send || k[1] != event.RenderingFailure {
				t.Fatalf("rendering failure: events %v", k)
			}
			subjects := map[string]string{}
			for _, m := range mx.Messages() {
				msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
				if err != nil {
					t.Fatal(err)
				}
				subjects[m.To[0]] = msg.Header.Get("Subject")
			}
			if len(subjects) != 2 || subjects["a@one.test"] != "Hello Ann" || subjects["b@one.test"] != "Hello all" {
				t.Fatalf("the MX received %v, want a@ 'Hello Ann' and b@ 'Hello all' only", subjects)
			}
		})
	}
}
