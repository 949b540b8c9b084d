package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/petrelmail/petrel/internal/sesarn"
	"github.com/petrelmail/petrel/internal/template"
)

// Email templates (../shared/spec/ses.md §1.11): CreateEmailTemplate,
// GetEmailTemplate, ListEmailTemplates, UpdateEmailTemplate,
// DeleteEmailTemplate, TestRenderEmailTemplate, and the tags of
// arn:aws:ses:REGION:ACCOUNTID:template/NAME (TagResource, UntagResource,
// ListTagsForResource). Stored by package template.

// maxTemplateBody is the largest request body of the template operations:
// 500 KB of content (or 262,144 characters of TemplateData) JSON-escaped,
// where a character may take six bytes (\u00XX).
const maxTemplateBody = 4 << 20

// templateContent is SES's EmailTemplateContent.
type templateContent struct {
	Subject *string `json:",omitempty"`
	Text    *string `json:",omitempty"`
	Html    *string `json:",omitempty"`
}

func (c *templateContent) in() template.Content {
	var out template.Content
	if c.Subject != nil {
		out.Subject = *c.Subject
	}
	if c.Text != nil {
		out.Text = *c.Text
	}
	if c.Html != nil {
		out.HTML = *c.Html
	}
	return out
}

func contentOut(c template.Content) templateContent {
	var out templateContent
	if c.Subject != "" {
		out.Subject = &c.Subject
	}
	if c.Text != "" {
		out.Text = &c.Text
	}
	if c.HTML != "" {
		out.Html = &c.HTML
	}
	return out
}

// emailTemplateError maps package template's errors to SES's, each with
// its SES v1 code (v1CodeAs): TemplateDoesNotExist, InvalidTemplate (content
// or name refused when stored), MissingRenderingAttribute (a render
// missing an attribute) and InvalidRenderingParameter (other render
// failures, TemplateData that is not a JSON object).
func emailTemplateError(name string, err error) error {
	var (
		ie *template.InvalidError
		le *template.LimitError
		re *template.RenderError
		de *template.DataError
	)
	switch {
	case errors.Is(err, template.ErrNotFound):
		return v1CodeAs("TemplateDoesNotExist", notFound("Template %s does not exist.", name))
	case errors.Is(err, template.ErrAlreadyExists):
		return &Error{Code: "AlreadyExistsException", Status: 400, Message: "Template " + name + " already exists."}
	case errors.As(err, &le):
		return &Error{Code: "LimitExceededException", Status: 400, Message: le.Msg}
	case errors.As(err, &ie):
		return v1CodeAs("InvalidTemplate", badRequest("%s", ie.Msg))
	case errors.As(err, &re):
		if re.Attribute != "" {
			return v1CodeAs("MissingRenderingAttribute", badRequest("%s", re.Message))
		}
		return v1CodeAs("InvalidRenderingParameter", badRequest("%s", re.Message))
	case errors.As(err, &de):
		return v1CodeAs("InvalidRenderingParameter", badRequest("%s", de.Msg))
	}
	return err
}

// pathTemplate is the {TemplateName} of the path, checked.
func pathTemplate(c *call) (string, error) {
	name := c.r.PathValue("TemplateName")
	if err := template.ValidateName(name); err != nil {
		return "", badRequest("%s", err)
	}
	return name, nil
}

// createTemplate is CreateEmailTemplate: POST /v2/email/templates
// {TemplateName, TemplateContent{Subject, Text, Html}, Tags}. The content
// is checked when stored: more than 500 KB, or syntax that does not parse,
// is BadRequestException naming the part and the problem.
func (s *Server) createTemplate(ctx context.Context, c *call) (any, error) {
	var in struct {
		TemplateName    *string
		TemplateContent *templateContent
		Tags            []tag
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.TemplateName == nil {
		return nil, badRequest("TemplateName is required.")
	}
	if in.TemplateContent == nil {
		return nil, badRequest("TemplateContent is required.")
	}
	tags, err := pairTags(in.Tags)
	if err != nil {
		return nil, err
	}
	err = s.Templates.Create(ctx, c.account, template.Template{Name: *in.TemplateName, Content: in.TemplateContent.in(), Tags: tags})
	if err != nil {
		return nil, emailTemplateError(*in.TemplateName, err)
	}
	return struct{}{}, nil
}

// getTemplate is GetEmailTemplate → {TemplateName, TemplateContent, Tags}
// (empty parts left out).
func (s *Server) getTemplate(ctx context.Context, c *call) (any, error) {
	name, err := pathTemplate(c)
	if err != nil {
		return nil, err
	}
	t, err := s.Templates.Load(ctx, c.account, name)
	if err != nil {
		return nil, emailTemplateError(name, err)
	}
	return getTemplateOutput{t.Name, contentOut(t.Content), pairTagsOut(t.Tags)}, nil
}

// getTemplateOutput is GetEmailTemplate's response.
type getTemplateOutput struct {
	TemplateName    string
	TemplateContent templateContent
	Tags            []tag
}

// templateTokenPrefix marks ListEmailTemplates' NextToken: the base64 of
// it and the last name listed.
const templateTokenPrefix = "tpl:"

// listTemplates is ListEmailTemplates: GET /v2/email/templates?PageSize=
// &NextToken= → {TemplatesMetadata: [{TemplateName, CreatedTimestamp}],
// NextToken}, in name order. PageSize is 1–100 (absent: 100); a bad
// PageSize or NextToken is BadRequestException.
func (s *Server) listTemplates(ctx context.Context, c *call) (any, error) {
	token, size, err := pageQuery(c.r.URL.Query())
	if err != nil {
		return nil, badRequest("PageSize must be an integer between 1 and 100.")
	}
	n := 100
	if size != nil {
		if *size < 1 || *size > 100 {
			return nil, badRequest("PageSize must be an integer between 1 and 100.")
		}
		n = *size
	}
	after := ""
	if token != nil {
		b, err := base64.RawURLEncoding.DecodeString(*token)
		if err != nil || !bytes.HasPrefix(b, []byte(templateTokenPrefix)) || template.ValidateName(string(b[len(templateTokenPrefix):])) != nil {
			return nil, badRequest("NextToken is not valid.")
		}
		after = string(b[len(templateTokenPrefix):])
	}
	list, err := s.Templates.List(ctx, c.account, after, n+1)
	if err != nil {
		return nil, err
	}
	out := listTemplatesOutput{TemplatesMetadata: []templateMetadata{}}
	for i, m := range list {
		if i == n {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(templateTokenPrefix + list[n-1].Name))
			break
		}
		out.TemplatesMetadata = append(out.TemplatesMetadata, templateMetadata{m.Name, epochSeconds(m.Created), m.Created})
	}
	return out, nil
}

// listTemplatesOutput is ListEmailTemplates' response.
type listTemplatesOutput struct {
	TemplatesMetadata []templateMetadata
	NextToken         string `json:",omitempty"`
}

// templateMetadata is SES's EmailTemplateMetadata; created is
// CreatedTimestamp as a time (for v1's ListTemplates).
type templateMetadata struct {
	TemplateName     string
	CreatedTimestamp float64
	created          time.Time
}

// updateTemplate is UpdateEmailTemplate: PUT /v2/email/templates/{TemplateName}
// {TemplateContent}, checked as CreateEmailTemplate's; the tags stay.
func (s *Server) updateTemplate(ctx context.Context, c *call) (any, error) {
	name, err := pathTemplate(c)
	if err != nil {
		return nil, err
	}
	var in struct{ TemplateContent *templateContent }
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.TemplateContent == nil {
		return nil, badRequest("TemplateContent is required.")
	}
	if err := s.Templates.Update(ctx, c.account, name, in.TemplateContent.in()); err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{}{}, nil
}

// deleteTemplate is DeleteEmailTemplate.
func (s *Server) deleteTemplate(ctx context.Context, c *call) (any, error) {
	name, err := pathTemplate(c)
	if err != nil {
		return nil, err
	}
	if err := s.Templates.Delete(ctx, c.account, name); err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{}{}, nil
}

// testRenderTemplate is TestRenderEmailTemplate: POST
// /v2/email/templates/{TemplateName}/render {TemplateData} →
// {RenderedTemplate}, the MIME message SES would send without its
// envelope: Date, Subject, MIME-Version and the rendered Text and Html
// (multipart/alternative when both), as message.BuildSimple writes them;
// no From or To, which the template does not know. TemplateData that is
// not a JSON object, or a render failure ("Attribute 'x' is not present in
// the rendering data."), is BadRequestException with SES's message.
func (s *Server) testRenderTemplate(ctx context.Context, c *call) (any, error) {
	name, err := pathTemplate(c)
	if err != nil {
		return nil, err
	}
	var in struct{ TemplateData *string }
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.TemplateData == nil {
		return nil, badRequest("TemplateData is required.")
	}
	t, err := s.Templates.Get(ctx, c.account, name)
	if err != nil {
		return nil, emailTemplateError(name, err)
	}
	mime, err := template.RenderMIME(t.Name, t.Content, *in.TemplateData, time.Now())
	if err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{ RenderedTemplate string }{mime}, nil
}

// taggedTemplate resolves a ResourceArn naming one of the caller's
// templates, arn:aws:ses:REGION:ACCOUNT:template/NAME, to its name; ok is
// false when arn names no template (another resource type). Another
// account's or region's ARN, or a template the caller does not have, is
// NotFoundException.
func (s *Server) taggedTemplate(ctx context.Context, account, arn string) (name string, ok bool, err error) {
	if a, ok := sesarn.Parse(arn); !ok || a.Type != "template" {
		return "", false, nil
	}
	a, err := template.ParseARN(arn)
	if err != nil {
		return "", true, emailTemplateError("", err)
	}
	acct, err := s.Accounts.Cached(ctx, account)
	if err != nil {
		return "", true, err
	}
	if !a.Of(s.Region, acct.SendingAccountID) {
		return "", true, notFound("Template %s does not exist.", a.Name)
	}
	return a.Name, true, nil
}

// tagTemplate, untagTemplate and listTemplateTags are TagResource,
// UntagResource and ListTagsForResource for a template.
func (s *Server) tagTemplate(ctx context.Context, account, name string, in []tag) (any, error) {
	tags, err := pairTags(in)
	if err != nil {
		return nil, err
	}
	if err := s.Templates.Tag(ctx, account, name, tags); err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{}{}, nil
}

func (s *Server) untagTemplate(ctx context.Context, account, name string, keys []string) (any, error) {
	if err := s.Templates.Untag(ctx, account, name, keys); err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{}{}, nil
}

func (s *Server) listTemplateTags(ctx context.Context, account, name string) (any, error) {
	t, err := s.Templates.Load(ctx, account, name)
	if err != nil {
		return nil, emailTemplateError(name, err)
	}
	return struct{ Tags []tag }{pairTagsOut(t.Tags)}, nil
}
