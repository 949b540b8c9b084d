package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendEmailHeaderRules: through the SDK, content Headers (Simple and
// Template) and Raw messages follow the header rules. A Raw message's
// second To or Bcc field is refused as SES refuses its own singletons
// (MessageRejected "Duplicate header 'To'.": RFC 5322 §3.6, a deliberate
// difference from SES). Content Headers may not carry To, Cc or Bcc
// (Petrel writes the recipient fields from Destination) nor the MIME
// fields Petrel writes for the body it builds (MIME-Version, Content-Type,
// Content-Transfer-Encoding, Content-Disposition, Content-ID): both are
// BadRequestException naming the field, whatever the body's shape; a Raw multipart message with a
// Content-Transfer-Encoding other than 7bit, 8bit or binary is refused
// (MessageRejected, RFC 2045 §6.4).
func TestSendEmailHeaderRules(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := sandyAPI(t, backend)
			ses, q := api.ses, api.q
			ctx := t.Context()
			hdr := func(name, value string) []types.MessageHeader {
				return []types.MessageHeader{{Name: aws.String("X-Fine"), Value: aws.String("1")}, {Name: aws.String(name), Value: aws.String(value)}}
			}
			simple := func(hs []types.MessageHeader, html bool) *types.EmailContent {
				body := &types.Body{Text: &types.Content{Data: aws.String("text")}}
				if html {
					body.Html = &types.Content{Data: aws.String("<p>html</p>")}
				}
				return &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")}, Body: body, Headers: hs}}
			}
			tmpl := func(hs []types.MessageHeader) *types.EmailContent {
				return &types.EmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{"name":"Jo"}`), Headers: hs}}
			}
			raw := func(m string) *types.EmailContent {
				return &types.EmailContent{Raw: &types.RawMessage{Data: []byte(strings.ReplaceAll(m, "\n", "\r\n"))}}
			}
			dest := &types.Destination{ToAddresses: []string{"jo@sandy.example"}, CcAddresses: []string{"cc@sandy.example"}}
			multipart := func(cte string) *types.EmailContent {
				return raw("From: news@sandy.example\nTo: jo@sandy.example\nSubject: s\nMIME-Version: 1.0\n" +
					"Content-Type: multipart/alternative; boundary=b\nContent-Transfer-Encoding: " + cte + "\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n")
			}
			cases := []struct {
				name    string
				content *types.EmailContent
				code    string // "" accepted
				msg     string // a substring of the error message
			}{
				{"Simple, second To", simple(hdr("To", "other@sandy.example"), false), "BadRequestException", "Content.Simple.Headers[1].Name: header 'To' cannot be set: Petrel writes To and Cc from Destination"},
				{"Simple, second Cc", simple(hdr("cc", "other@sandy.example"), true), "BadRequestException", "header 'cc' cannot be set"},
				{"Simple, Bcc", simple(hdr("Bcc", "other@sandy.example"), true), "BadRequestException", "header 'Bcc' cannot be set"},
				{"Template, second To", tmpl(hdr("To", "other@sandy.example")), "BadRequestException", "Content.Template.Headers[1].Name: header 'To' cannot be set"},
				{"Simple, Content-Disposition", simple(hdr("Content-Disposition", "attachment"), true), "BadRequestException", "header 'Content-Disposition' cannot be set"},
				{"Simple, Content-ID", simple(hdr("Content-ID", "<x@y>"), false), "BadRequestException", "header 'Content-ID' cannot be set"},
				{"Raw, two To fields", raw("From: news@sandy.example\nTo: jo@sandy.example\nTo: other@sandy.example\nSubject: s\n\nhi\n"),
					"MessageRejected", "Duplicate header 'To'."},
				{"Raw, two Bcc fields", raw("From: news@sandy.example\nTo: jo@sandy.example\nBcc: a@sandy.example\nBcc: b@sandy.example\nSubject: s\n\nhi\n"),
					"MessageRejected", "Duplicate header 'Bcc'."},
				{"Simple multipart, CTE", simple(hdr("Content-Transfer-Encoding", "base64"), true), "BadRequestException", "Content.Simple.Headers[1].Name: header 'Content-Transfer-Encoding' cannot be set"},
				{"Simple text, CTE", simple(hdr("content-transfer-encoding", "7bit"), false), "BadRequestException", "header 'content-transfer-encoding' cannot be set"},
				{"Simple, Content-Type", simple(hdr("Content-Type", "text/html"), false), "BadRequestException", "header 'Content-Type' cannot be set"},
				{"Simple, MIME-Version", simple(hdr("MIME-Version", "1.0"), true), "BadRequestException", "header 'MIME-Version' cannot be set"},
				{"Template, CTE", tmpl(hdr("Content-Transfer-Encoding", "8bit")), "BadRequestException", "Content.Template.Headers[1].Name: header 'Content-Transfer-Encoding' cannot be set"},
				{"Raw multipart, base64", multipart("base64"), "MessageRejected",
					"Content-Transfer-Encoding 'base64' is not allowed on a multipart entity"},
				{"Raw multipart, 7bit", multipart("7bit"), "", ""},
				{"Simple, other headers", simple(hdr("Content-Language", "en"), true), "", ""},
			}
			for _, c := range cases {
				before, err := q.Len(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, err = ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@sandy.example"), Destination: dest, Content: c.content})
				if errCode(err) != c.code {
					t.Errorf("%s: %v, want %q", c.name, err, c.code)
					continue
				}
				var ae smithy.APIError
				if c.code != "" && (!errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), c.msg)) {
					t.Errorf("%s: %v, want a message with %q", c.name, err, c.msg)
				}
				after, err := q.Len(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if (after > before) != (c.code == "") {
					t.Errorf("%s: queue %d → %d", c.name, before, after)
				}
			}
		})
	}
}

// TestSendBulkEmailHeaderRules: a bulk entry's ReplacementHeaders follow
// the rules of SendEmail's content Headers: a To, Cc or Bcc field there
// (Petrel writes the recipient fields from the entry's Destination; a Cc
// was delivered naming someone who never got the message) or a MIME field
// is BadRequestException for the call, which stores nothing, as a bad
// ReplacementHeaders field is.
func TestSendBulkEmailHeaderRules(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := sandyAPI(t, backend)
			ctx := t.Context()
			for _, name := range []string{"To", "cc", "Bcc", "Content-Disposition"} {
				before, err := api.q.Len(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, err = api.ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
					DefaultContent: &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{"name":"Jo"}`)}},
					BulkEmailEntries: []types.BulkEmailEntry{
						{Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}}},
						{Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}},
							ReplacementHeaders: []types.MessageHeader{{Name: aws.String(name), Value: aws.String("z@sandy.example")}}},
					}})
				var ae smithy.APIError
				if errCode(err) != "BadRequestException" || !errors.As(err, &ae) ||
					!strings.Contains(ae.ErrorMessage(), "BulkEmailEntries[1].ReplacementHeaders[0].Name: header '"+name+"' cannot be set") {
					t.Errorf("ReplacementHeaders %s: %v", name, err)
				}
				if after, err := api.q.Len(ctx); err != nil || after != before {
					t.Errorf("ReplacementHeaders %s: queue %d → %d (%v)", name, before, after, err)
				}
			}
		})
	}
}
