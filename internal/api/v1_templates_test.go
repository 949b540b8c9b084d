package api

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/petrelmail/petrel/internal/store"
)

// v1WantCode fails t unless err carries the v1 code code.
func v1WantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got, msg := v1Code(err); got != code {
		t.Errorf("%s: %v (%s: %s); want %s", what, err, got, msg, code)
	}
}

// v1TplSandbox creates the sandboxed account name (not production, domain
// name.example verified) and returns its tenant.
func v1TplSandbox(t *testing.T, s *Server, name string) tenant {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Accounts.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	key, err := s.Accounts.CreateKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identities.Create(ctx, name, name+".example", true); err != nil {
		t.Fatal(err)
	}
	return tenant{name, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}
}

// TestV1EmailTemplates: CreateTemplate, GetTemplate, ListTemplates
// (MaxItems, default 10, paging), UpdateTemplate, TestRenderTemplate and
// DeleteTemplate through aws-sdk-go-v2 service/ses on both stores, with
// SES v1's error codes: AlreadyExists, TemplateDoesNotExist,
// InvalidTemplate, MissingRenderingAttribute, InvalidRenderingParameter;
// another tenant sees none of it; an empty list is still an element.
func TestV1EmailTemplates(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			acme, other := v1Client(srv.URL, tenants["acme"]), v1Client(srv.URL, tenants["other"])
			start := time.Now().Add(-time.Second)

			create := func(tpl types.Template) error {
				_, err := acme.CreateTemplate(ctx, &ses.CreateTemplateInput{Template: &tpl})
				return err
			}
			welcome := types.Template{TemplateName: aws.String("welcome"), SubjectPart: aws.String("Hi {{name}}"),
				TextPart: aws.String("Dear {{name}},\nwelcome."), HtmlPart: aws.String("<p>Dear {{name}}</p>")}
			if err := create(welcome); err != nil {
				t.Fatal(err)
			}
			if err := create(types.Template{TemplateName: aws.String("plain"), SubjectPart: aws.String("s"), TextPart: aws.String("t")}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				tpl  types.Template
				code string
			}{
				{"duplicate", welcome, "AlreadyExists"},
				{"syntax", types.Template{TemplateName: aws.String("broken"), SubjectPart: aws.String("{{#if x}}open")}, "InvalidTemplate"},
				{"too large", types.Template{TemplateName: aws.String("big"), TextPart: aws.String(strings.Repeat("x", 600<<10))}, "InvalidTemplate"},
				{"bad name", types.Template{TemplateName: aws.String("a b"), TextPart: aws.String("x")}, "InvalidTemplate"},
			} {
				v1WantCode(t, "CreateTemplate "+c.name, create(c.tpl), c.code)
			}

			got, err := acme.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")})
			if err != nil || got.Template == nil || aws.ToString(got.Template.TemplateName) != "welcome" ||
				aws.ToString(got.Template.SubjectPart) != "Hi {{name}}" || aws.ToString(got.Template.TextPart) != "Dear {{name}},\nwelcome." ||
				aws.ToString(got.Template.HtmlPart) != "<p>Dear {{name}}</p>" {
				t.Fatalf("GetTemplate = %+v, %v", got, err)
			}
			if got, err := acme.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("plain")}); err != nil || got.Template.HtmlPart != nil {
				t.Errorf("GetTemplate(plain) = %+v, %v; want no HtmlPart", got, err)
			}
			_, err = acme.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("nope")})
			v1WantCode(t, "GetTemplate(nope)", err, "TemplateDoesNotExist")
			_, err = other.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")})
			v1WantCode(t, "another tenant's GetTemplate", err, "TemplateDoesNotExist")

			// Paging: 12 templates in all; 10 a page by default.
			for i := range 10 {
				if err := create(types.Template{TemplateName: aws.String(fmt.Sprintf("t%02d", i)), TextPart: aws.String("x")}); err != nil {
					t.Fatal(err)
				}
			}
			list := func(max *int32) ([]string, int) {
				t.Helper()
				var names []string
				pages := 0
				in := &ses.ListTemplatesInput{MaxItems: max}
				for {
					out, err := acme.ListTemplates(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					for _, m := range out.TemplatesMetadata {
						if m.CreatedTimestamp == nil || m.CreatedTimestamp.Before(start) || m.CreatedTimestamp.After(time.Now()) {
							t.Errorf("%s: CreatedTimestamp %v", aws.ToString(m.Name), m.CreatedTimestamp)
						}
						names = append(names, aws.ToString(m.Name))
					}
					if out.NextToken == nil {
						return names, pages
					}
					in.NextToken = out.NextToken
				}
			}
			for _, c := range []struct {
				max   *int32
				pages int
			}{{nil, 2}, {aws.Int32(5), 3}, {aws.Int32(12), 1}, {aws.Int32(1000), 1}} {
				names, pages := list(c.max)
				if len(names) != 12 || pages != c.pages || names[0] != "plain" || names[1] != "t00" || names[11] != "welcome" {
					t.Errorf("MaxItems %v: %d pages %v; want 12 names in %d pages", aws.ToInt32(c.max), pages, names, c.pages)
				}
			}
			if out, err := acme.ListTemplates(ctx, &ses.ListTemplatesInput{}); err != nil || len(out.TemplatesMetadata) != 10 || out.NextToken == nil {
				t.Errorf("default page: %+v, %v", out, err)
			}
			_, err = acme.ListTemplates(ctx, &ses.ListTemplatesInput{MaxItems: aws.Int32(0)})
			v1WantCode(t, "MaxItems 0", err, "InvalidParameterValue")
			_, err = acme.ListTemplates(ctx, &ses.ListTemplatesInput{NextToken: aws.String("garbage!")})
			v1WantCode(t, "bad NextToken", err, "InvalidParameterValue")
			if out, err := other.ListTemplates(ctx, &ses.ListTemplatesInput{}); err != nil || len(out.TemplatesMetadata) != 0 || out.NextToken != nil {
				t.Errorf("another tenant's list: %+v, %v", out, err)
			}
			status, body := v1Post(t, srv, tenants["other"], "ses", url.Values{"Action": {"ListTemplates"}, "Version": {V1Version}})
			if status != 200 || !strings.Contains(string(body), "<ListTemplatesResult><TemplatesMetadata></TemplatesMetadata></ListTemplatesResult>") {
				t.Errorf("empty ListTemplates: %d %s", status, body)
			}

			// UpdateTemplate replaces every part.
			if _, err := acme.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("welcome"),
				SubjectPart: aws.String("Hello {{name}}"), HtmlPart: aws.String("<b>{{name}}</b>")}}); err != nil {
				t.Fatal(err)
			}
			if got, err := acme.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")}); err != nil ||
				aws.ToString(got.Template.SubjectPart) != "Hello {{name}}" || got.Template.TextPart != nil || aws.ToString(got.Template.HtmlPart) != "<b>{{name}}</b>" {
				t.Errorf("after UpdateTemplate: %+v, %v", got, err)
			}
			_, err = acme.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("nope"), TextPart: aws.String("x")}})
			v1WantCode(t, "UpdateTemplate(nope)", err, "TemplateDoesNotExist")
			_, err = acme.UpdateTemplate(ctx, &ses.UpdateTemplateInput{Template: &types.Template{TemplateName: aws.String("welcome"), TextPart: aws.String("{{/if}}")}})
			v1WantCode(t, "UpdateTemplate with bad syntax", err, "InvalidTemplate")

			// TestRenderTemplate.
			r, err := acme.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String("welcome"), TemplateData: aws.String(`{"name":"Jane"}`)})
			if err != nil || !strings.Contains(aws.ToString(r.RenderedTemplate), "Subject: Hello Jane\r\n") ||
				!strings.Contains(aws.ToString(r.RenderedTemplate), "<b>Jane</b>") {
				t.Errorf("TestRenderTemplate = %+v, %v", r, err)
			}
			for _, c := range []struct{ name, tpl, data, code, msg string }{
				{"missing attribute", "welcome", `{"other":"x"}`, "MissingRenderingAttribute", "Attribute 'name' is not present in the rendering data."},
				{"not JSON", "welcome", `name=Jane`, "InvalidRenderingParameter", "TemplateData is not valid JSON"},
				{"not an object", "welcome", `["Jane"]`, "InvalidRenderingParameter", "TemplateData must be a JSON object."},
				{"no template", "nope", `{}`, "TemplateDoesNotExist", "Template nope does not exist."},
			} {
				_, err := acme.TestRenderTemplate(ctx, &ses.TestRenderTemplateInput{TemplateName: aws.String(c.tpl), TemplateData: aws.String(c.data)})
				if code, msg := v1Code(err); code != c.code || !strings.Contains(msg, c.msg) {
					t.Errorf("TestRenderTemplate %s: %v; want %s %q", c.name, err, c.code, c.msg)
				}
			}

			// DeleteTemplate; deleting what is not there succeeds (SES v1
			// names no error for it).
			for range 2 {
				if _, err := acme.DeleteTemplate(ctx, &ses.DeleteTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
					t.Fatalf("DeleteTemplate: %v", err)
				}
			}
			_, err = acme.GetTemplate(ctx, &ses.GetTemplateInput{TemplateName: aws.String("welcome")})
			v1WantCode(t, "GetTemplate after DeleteTemplate", err, "TemplateDoesNotExist")
			status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetTemplate"}, "Version": {V1Version}})
			if e := parseV1Error(t, body); status != 400 || e.Error.Code != "ValidationError" {
				t.Errorf("GetTemplate without TemplateName: %d %s", status, body)
			}
		})
	}
}

// TestV1CustomVerificationTemplates: the custom verification email
// template actions and SendCustomVerificationEmail through aws-sdk-go-v2
// service/ses on both stores: the v2 rules (From verified, content
// checked, production access) answered with SES v1's codes; a partial
// UpdateCustomVerificationEmailTemplate keeps the members it does not
// give; MaxResults pages; the email goes out with the template's subject
// and a link.
func TestV1CustomVerificationTemplates(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _, _ := startVerificationAPI(t, backend)
			ctx := t.Context()
			acme, other := v1Client(srv.URL, tenants["acme"]), v1Client(srv.URL, tenants["other"])
			good := func(name string) *ses.CreateCustomVerificationEmailTemplateInput {
				return &ses.CreateCustomVerificationEmailTemplateInput{TemplateName: aws.String(name), FromEmailAddress: aws.String("hello@acme.example"),
					TemplateSubject: aws.String("Please confirm"), TemplateContent: aws.String("<html><body><h1>Welcome to Acme</h1></body></html>"),
					SuccessRedirectionURL: aws.String("https://acme.example/ok"), FailureRedirectionURL: aws.String("https://acme.example/fail")}
			}
			for _, name := range []string{"welcome", "b", "c"} {
				if _, err := acme.CreateCustomVerificationEmailTemplate(ctx, good(name)); err != nil {
					t.Fatal(err)
				}
			}
			bad := func(change func(*ses.CreateCustomVerificationEmailTemplateInput)) *ses.CreateCustomVerificationEmailTemplateInput {
				in := good("d")
				change(in)
				return in
			}
			for _, c := range []struct {
				name string
				in   *ses.CreateCustomVerificationEmailTemplateInput
				code string
			}{
				{"duplicate", good("welcome"), "CustomVerificationEmailTemplateAlreadyExists"},
				{"unverified From", bad(func(in *ses.CreateCustomVerificationEmailTemplateInput) {
					in.FromEmailAddress = aws.String("x@stranger.test")
				}),
					"FromEmailAddressNotVerified"},
				{"script", bad(func(in *ses.CreateCustomVerificationEmailTemplateInput) {
					in.TemplateContent = aws.String("<p>hi</p><script>steal()</script>")
				}), "CustomVerificationEmailInvalidContent"},
				{"bad redirect", bad(func(in *ses.CreateCustomVerificationEmailTemplateInput) {
					in.SuccessRedirectionURL = aws.String("javascript:alert(1)")
				}), "CustomVerificationEmailInvalidContent"},
			} {
				_, err := acme.CreateCustomVerificationEmailTemplate(ctx, c.in)
				v1WantCode(t, "Create "+c.name, err, c.code)
			}
			status, body := v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"CreateCustomVerificationEmailTemplate"}, "TemplateName": {"x"},
				"FromEmailAddress": {"hello@acme.example"}, "TemplateSubject": {"s"}, "SuccessRedirectionURL": {"https://a.example/"},
				"FailureRedirectionURL": {"https://a.example/"}})
			if e := parseV1Error(t, body); status != 400 || e.Error.Code != "InvalidParameterValue" || !strings.Contains(e.Error.Message, "TemplateContent is required") {
				t.Errorf("no TemplateContent: %d %s", status, body)
			}

			got, err := acme.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
			if err != nil || aws.ToString(got.TemplateName) != "welcome" || aws.ToString(got.FromEmailAddress) != "hello@acme.example" ||
				aws.ToString(got.TemplateSubject) != "Please confirm" || !strings.Contains(aws.ToString(got.TemplateContent), "Welcome to Acme") ||
				aws.ToString(got.SuccessRedirectionURL) != "https://acme.example/ok" || aws.ToString(got.FailureRedirectionURL) != "https://acme.example/fail" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			_, err = other.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
			v1WantCode(t, "another tenant's Get", err, "CustomVerificationEmailTemplateDoesNotExist")

			var names []string
			pages := 0
			for in := (&ses.ListCustomVerificationEmailTemplatesInput{MaxResults: aws.Int32(2)}); ; pages++ {
				out, err := acme.ListCustomVerificationEmailTemplates(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range out.CustomVerificationEmailTemplates {
					if aws.ToString(m.FromEmailAddress) != "hello@acme.example" || aws.ToString(m.TemplateSubject) != "Please confirm" ||
						aws.ToString(m.SuccessRedirectionURL) != "https://acme.example/ok" || aws.ToString(m.FailureRedirectionURL) != "https://acme.example/fail" {
						t.Errorf("listed %+v", m)
					}
					names = append(names, aws.ToString(m.TemplateName))
				}
				if in.NextToken = out.NextToken; in.NextToken == nil {
					pages++
					break
				}
			}
			if strings.Join(names, ",") != "b,c,welcome" || pages != 2 {
				t.Errorf("listed %v in %d pages", names, pages)
			}
			// SES: MaxResults outside 1-50 lists up to 50.
			if out, err := acme.ListCustomVerificationEmailTemplates(ctx, &ses.ListCustomVerificationEmailTemplatesInput{MaxResults: aws.Int32(0)}); err != nil ||
				len(out.CustomVerificationEmailTemplates) != 3 || out.NextToken != nil {
				t.Errorf("MaxResults 0: %+v, %v", out, err)
			}
			if out, err := other.ListCustomVerificationEmailTemplates(ctx, &ses.ListCustomVerificationEmailTemplatesInput{}); err != nil ||
				len(out.CustomVerificationEmailTemplates) != 0 {
				t.Errorf("another tenant's list: %+v, %v", out, err)
			}

			// A partial update keeps the other members.
			if _, err := acme.UpdateCustomVerificationEmailTemplate(ctx, &ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"),
				TemplateSubject: aws.String("Confirm your Acme address"), SuccessRedirectionURL: aws.String("https://acme.example/ok2")}); err != nil {
				t.Fatal(err)
			}
			got, err = acme.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
			if err != nil || aws.ToString(got.TemplateSubject) != "Confirm your Acme address" || aws.ToString(got.SuccessRedirectionURL) != "https://acme.example/ok2" ||
				!strings.Contains(aws.ToString(got.TemplateContent), "Welcome to Acme") || aws.ToString(got.FailureRedirectionURL) != "https://acme.example/fail" {
				t.Errorf("after a partial update: %+v, %v", got, err)
			}
			for _, c := range []struct {
				name string
				in   *ses.UpdateCustomVerificationEmailTemplateInput
				code string
			}{
				{"no template", &ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("nope"), TemplateSubject: aws.String("x")},
					"CustomVerificationEmailTemplateDoesNotExist"},
				{"unverified From", &ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), FromEmailAddress: aws.String("x@stranger.test")},
					"FromEmailAddressNotVerified"},
				{"onclick", &ses.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), TemplateContent: aws.String(`<a href="x" onclick="y">z</a>`)},
					"CustomVerificationEmailInvalidContent"},
			} {
				_, err := acme.UpdateCustomVerificationEmailTemplate(ctx, c.in)
				v1WantCode(t, "Update "+c.name, err, c.code)
			}

			// SendCustomVerificationEmail.
			for _, c := range []struct {
				name string
				in   *ses.SendCustomVerificationEmailInput
				code string
			}{
				{"no template", &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"), TemplateName: aws.String("nope")},
					"CustomVerificationEmailTemplateDoesNotExist"},
				{"no such set", &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"), TemplateName: aws.String("welcome"),
					ConfigurationSetName: aws.String("nope")}, "ConfigurationSetDoesNotExist"},
				{"not an address", &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String("user.test"), TemplateName: aws.String("welcome")},
					"InvalidParameterValue"},
			} {
				_, err := acme.SendCustomVerificationEmail(ctx, c.in)
				v1WantCode(t, "Send "+c.name, err, c.code)
			}
			sent, err := acme.SendCustomVerificationEmail(ctx, &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"),
				TemplateName: aws.String("welcome")})
			if err != nil || aws.ToString(sent.MessageId) == "" {
				t.Fatalf("SendCustomVerificationEmail = %+v, %v", sent, err)
			}
			msg, err := s.Spool.Body(ctx, aws.ToString(sent.MessageId))
			if err != nil {
				t.Fatal(err)
			}
			if flat := strings.ReplaceAll(string(msg), "=\r\n", ""); !strings.Contains(flat, "Subject: Confirm your Acme address") ||
				!strings.Contains(flat, "Welcome to Acme") {
				t.Errorf("the email is not the template's:\n%s", msg)
			}
			linkIn(t, string(msg))

			sandy := v1TplSandbox(t, s, "sandy")
			sc := v1Client(srv.URL, sandy)
			in := good("w")
			in.FromEmailAddress = aws.String("hi@sandy.example")
			if _, err := sc.CreateCustomVerificationEmailTemplate(ctx, in); err != nil {
				t.Fatal(err)
			}
			_, err = sc.SendCustomVerificationEmail(ctx, &ses.SendCustomVerificationEmailInput{EmailAddress: aws.String("x@user.test"), TemplateName: aws.String("w")})
			v1WantCode(t, "sandbox Send", err, "ProductionAccessNotGranted")

			// Delete; deleting what is not there succeeds (SES v1 names no
			// error for it).
			for range 2 {
				if _, err := acme.DeleteCustomVerificationEmailTemplate(ctx, &ses.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			}
			_, err = acme.GetCustomVerificationEmailTemplate(ctx, &ses.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
			v1WantCode(t, "Get after Delete", err, "CustomVerificationEmailTemplateDoesNotExist")
		})
	}
}
