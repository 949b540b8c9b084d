package api

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// TestTemplateDataOneObject: TemplateData must be exactly one JSON object
// wherever it is given — TestRenderEmailTemplate, SendEmail, SendBulkEmail's
// default and replacement data: a JSON object followed by anything (not
// only a second JSON value) is refused, nothing sent; white space around it
// is fine.
func TestTemplateDataOneObject(t *testing.T) {
	api := sandyAPI(t, "sqlite")
	ses := api.ses
	ctx := t.Context()
	bulk := func(def, repl string) (*sesv2.SendBulkEmailOutput, error) {
		e := types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{"a@sandy.example"}}}
		if repl != "" {
			e.ReplacementEmailContent = &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(repl)}}
		}
		return ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
			DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(def)}},
			BulkEmailEntries: []types.BulkEmailEntry{e}})
	}
	for _, c := range []struct {
		data string
		ok   bool
	}{
		{`{"name":"x"} trailing`, false},
		{`{"name":"x"}x`, false},
		{`{"name":"x"} ]]] garbage`, false},
		{"{\"name\":\"x\"} \x00", false},
		{`{"name":"x"} 1`, false},
		{" {\"name\":\"x\"}\r\n", true},
	} {
		want := "BadRequestException"
		if c.ok {
			want = ""
		}
		_, err := ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("Welcome"), TemplateData: aws.String(c.data)})
		if errCode(err) != want {
			t.Errorf("TestRenderEmailTemplate %q: %v, want %q", c.data, err, want)
		}
		_, err = ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
			Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}},
			Content:     &types.EmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(c.data)}}})
		if errCode(err) != want {
			t.Errorf("SendEmail %q: %v, want %q", c.data, err, want)
		}
		if _, err := bulk(c.data, ""); errCode(err) != want {
			t.Errorf("SendBulkEmail default %q: %v, want %q", c.data, err, want)
		}
		out, err := bulk(`{"name":"d"}`, c.data)
		wantStatus := types.BulkEmailStatusInvalidParameter
		if c.ok {
			wantStatus = types.BulkEmailStatusSuccess
		}
		if err != nil || len(out.BulkEmailEntryResults) != 1 || out.BulkEmailEntryResults[0].Status != wantStatus {
			var got []types.BulkEmailStatus
			for _, r := range out.BulkEmailEntryResults {
				got = append(got, r.Status)
			}
			t.Errorf("SendBulkEmail replacement %q: %v, %v, want %s", c.data, got, err, wantStatus)
		}
	}
}
