package api

import (
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/template"
)

// startTemplateAPI is startAPIOn with the template service.
func startTemplateAPI(t *testing.T, backend string) (*sesv2.Client, *sesv2.Client, *Server, func(method, path, body string) (int, string, string)) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	raw := func(method, path, body string) (int, string, string) {
		status, code, out := signedCall(t, srv, tenants["acme"], method, path, []byte(body))
		return status, code, string(out)
	}
	return sesClient(srv.URL, tenants["acme"], 1), sesClient(srv.URL, tenants["other"], 1), s, raw
}

func testTemplateARN(t *testing.T, s *Server, account, name string) string {
	t.Helper()
	a, err := s.Accounts.Get(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	return template.ARN("us-east-1", a.SendingAccountID, name)
}

// TestEmailTemplates (issue 17): every template operation through
// aws-sdk-go-v2 service/sesv2 on both stores.
func TestEmailTemplates(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testEmailTemplates(t, backend) })
	}
}

func testEmailTemplates(t *testing.T, backend string) {
	ses, other, s, _ := startTemplateAPI(t, backend)
	ctx := t.Context()
	content := &types.EmailTemplateContent{
		Subject: aws.String("Greetings, {{name}}!"),
		Text:    aws.String("Dear {{name}},\r\nYour favorite animal is {{favoriteanimal}}."),
		Html:    aws.String("<h1>Hello {{name}},</h1><p>Your favorite animal is {{favoriteanimal}}.</p>"),
	}
	if _, err := ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("MyTemplate"), TemplateContent: content,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := ses.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("MyTemplate")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.TemplateName) != "MyTemplate" || aws.ToString(got.TemplateContent.Subject) != *content.Subject ||
		aws.ToString(got.TemplateContent.Text) != *content.Text || aws.ToString(got.TemplateContent.Html) != *content.Html ||
		len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "env" {
		t.Fatalf("GetEmailTemplate: %+v", got)
	}
	// Another account does not see it.
	if _, err := other.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("MyTemplate")}); errCode(err) != "NotFoundException" {
		t.Fatalf("other account: %v", err)
	}

	r, err := ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("MyTemplate"),
		TemplateData: aws.String(`{"name":"Jane <jane@x>","favoriteanimal":"alligator"}`)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(aws.ToString(r.RenderedTemplate)))
	if err != nil {
		t.Fatalf("RenderedTemplate is not a message: %v\n%s", err, aws.ToString(r.RenderedTemplate))
	}
	if m.Header.Get("Subject") != "Greetings, Jane <jane@x>!" || m.Header.Get("MIME-Version") != "1.0" || m.Header.Get("From") != "" ||
		!strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/alternative") {
		t.Fatalf("rendered headers: %v", m.Header)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Fatalf("Date: %v", err)
	}
	rendered := aws.ToString(r.RenderedTemplate)
	for _, want := range []string{"Your favorite animal is alligator.", "<h1>Hello Jane <jane@x>,</h1>"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("RenderedTemplate lacks %q:\n%s", want, rendered)
		}
	}

	// A missing attribute is BadRequestException with SES's message.
	_, err = ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("MyTemplate"), TemplateData: aws.String(`{"name":"J"}`)})
	if errCode(err) != "BadRequestException" || !strings.Contains(err.Error(), "Attribute 'favoriteanimal' is not present in the rendering data.") {
		t.Fatalf("missing attribute: %v", err)
	}
	for _, data := range []string{`[]`, `nope`, `"s"`} {
		_, err = ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("MyTemplate"), TemplateData: aws.String(data)})
		if errCode(err) != "BadRequestException" {
			t.Fatalf("data %q: %v", data, err)
		}
	}
	_, err = ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("Nope"), TemplateData: aws.String(`{}`)})
	if errCode(err) != "NotFoundException" {
		t.Fatalf("render missing template: %v", err)
	}

	// Update replaces the content, TestRender sees it at once.
	if _, err := ses.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("MyTemplate"),
		TemplateContent: &types.EmailTemplateContent{Subject: aws.String("New {{x}}"), Html: aws.String("<p>{{x}}</p>")}}); err != nil {
		t.Fatal(err)
	}
	r, err = ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("MyTemplate"), TemplateData: aws.String(`{"x":"é"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := mail.ReadMessage(strings.NewReader(aws.ToString(r.RenderedTemplate))); err != nil || !strings.HasPrefix(m.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("after update: %v %v", err, aws.ToString(r.RenderedTemplate))
	}
	got, _ = ses.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("MyTemplate")})
	if got.TemplateContent.Text != nil || len(got.Tags) != 1 {
		t.Fatalf("after update: %+v", got.TemplateContent)
	}

	// Tags by ARN.
	arn := testTemplateARN(t, s, "acme", "MyTemplate")
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("mail")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "mail" {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	for _, bad := range []string{testTemplateARN(t, s, "other", "MyTemplate"), testTemplateARN(t, s, "acme", "Nope")} {
		if _, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(bad)}); errCode(err) != "NotFoundException" {
			t.Errorf("tags of %s: %v", bad, err)
		}
	}

	// List pages in name order.
	for i := range 5 {
		if _, err := ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String(fmt.Sprintf("t%d", 4-i)),
			TemplateContent: &types.EmailTemplateContent{Subject: aws.String("s")}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := ses.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.TemplatesMetadata {
			if m.CreatedTimestamp == nil || time.Since(*m.CreatedTimestamp) > time.Hour {
				t.Errorf("CreatedTimestamp of %s: %v", aws.ToString(m.TemplateName), m.CreatedTimestamp)
			}
			names = append(names, aws.ToString(m.TemplateName))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if want := []string{"MyTemplate", "t0", "t1", "t2", "t3", "t4"}; !slices.Equal(names, want) {
		t.Fatalf("listed %v, want %v", names, want)
	}

	// Delete.
	if _, err := ses.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("MyTemplate")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("MyTemplate")}); errCode(err) != "NotFoundException" {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := ses.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("MyTemplate")}); errCode(err) != "NotFoundException" {
		t.Fatalf("delete twice: %v", err)
	}
}

// TestEmailTemplateErrors: SES's errors for bad input.
func TestEmailTemplateErrors(t *testing.T) {
	ses, _, s, raw := startTemplateAPI(t, "sqlite")
	ctx := t.Context()
	s.Templates.Limit = 2
	sub := &types.EmailTemplateContent{Subject: aws.String("s")}
	create := func(name *string, c *types.EmailTemplateContent) error {
		_, err := ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: name, TemplateContent: c})
		return err
	}
	if err := create(aws.String("a"), sub); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"bad name", create(aws.String("bad.name"), sub), "BadRequestException", "TemplateName"},
		{"long name", create(aws.String(strings.Repeat("n", 65)), sub), "BadRequestException", "TemplateName"},
		{"too large", create(aws.String("big"), &types.EmailTemplateContent{Text: aws.String(strings.Repeat("x", template.MaxSize)), Subject: aws.String("s")}), "BadRequestException", "512000"},
		{"syntax", create(aws.String("syn"), &types.EmailTemplateContent{Html: aws.String("{{#if a}}x")}), "BadRequestException", "Html"},
		{"unsupported helper", create(aws.String("syn"), &types.EmailTemplateContent{Text: aws.String("{{format a}}")}), "BadRequestException", "not supported"},
		{"duplicate", create(aws.String("a"), sub), "AlreadyExistsException", ""},
		{"bad tags", func() error {
			_, err := ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("x"), TemplateContent: sub,
				Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("")}}})
			return err
		}(), "BadRequestException", "Tags"},
		{"get missing", func() error {
			_, err := ses.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("nope")})
			return err
		}(), "NotFoundException", "Template nope does not exist."},
		{"update missing", func() error {
			_, err := ses.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("nope"), TemplateContent: sub})
			return err
		}(), "NotFoundException", ""},
		{"update bad syntax", func() error {
			_, err := ses.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String("a"), TemplateContent: &types.EmailTemplateContent{Subject: aws.String("{{")}})
			return err
		}(), "BadRequestException", "Subject"},
		{"render data too long", func() error {
			_, err := ses.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{TemplateName: aws.String("a"),
				TemplateData: aws.String(`{"a":"` + strings.Repeat("x", template.MaxDataLen) + `"}`)})
			return err
		}(), "BadRequestException", "262144"},
		{"bad NextToken", func() error {
			_, err := ses.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{NextToken: aws.String("!!")})
			return err
		}(), "BadRequestException", "NextToken"},
		{"PageSize 0", func() error {
			_, err := ses.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(0)})
			return err
		}(), "BadRequestException", "PageSize"},
		{"PageSize 101", func() error {
			_, err := ses.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(101)})
			return err
		}(), "BadRequestException", "PageSize"},
	} {
		if errCode(c.err) != c.code || !strings.Contains(c.err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %s containing %q", c.name, c.err, c.code, c.msg)
		}
	}
	if err := create(aws.String("b"), sub); err != nil {
		t.Fatal(err)
	}
	err := create(aws.String("c"), sub)
	if errCode(err) != "LimitExceededException" {
		t.Fatalf("over the limit: %v", err)
	}
	// Members the SDK insists on, sent without it.
	for _, c := range []struct{ method, path, body, msg string }{
		{"POST", "/v2/email/templates", `{"TemplateContent":{"Subject":"s"}}`, "TemplateName is required."},
		{"POST", "/v2/email/templates", `{"TemplateName":"x"}`, "TemplateContent is required."},
		{"PUT", "/v2/email/templates/a", `{}`, "TemplateContent is required."},
		{"POST", "/v2/email/templates/a/render", `{}`, "TemplateData is required."},
		{"GET", "/v2/email/templates/bad.name", ``, "TemplateName"},
		{"GET", "/v2/email/templates?PageSize=x", ``, "PageSize"},
	} {
		status, code, body := raw(c.method, c.path, c.body)
		if status != http.StatusBadRequest || code != "BadRequestException" || !strings.Contains(body, c.msg) {
			t.Errorf("%s %s %s: %d %s %s", c.method, c.path, c.body, status, code, body)
		}
	}
	if _, err := ses.ListEmailTemplates(ctx, &sesv2.ListEmailTemplatesInput{PageSize: aws.Int32(100)}); err != nil {
		t.Fatalf("PageSize 100: %v", err)
	}
}
