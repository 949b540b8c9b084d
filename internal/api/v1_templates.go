package api

// SES v1's template actions (API 2010-12-01, ../shared/spec/ses.md §1.11,
// §2; botocore's ses/2010-12-01 model): email templates (CreateTemplate,
// GetTemplate, ListTemplates, UpdateTemplate, DeleteTemplate,
// TestRenderTemplate) and custom verification email templates
// (Create/Get/List/Update/DeleteCustomVerificationEmailTemplate,
// SendCustomVerificationEmail). Each runs the v2 handler of its v2
// operation (viaV2): the same checks, the same store. The v2 refusals
// carry their finer v1 codes (v1CodeAs, v1.go): TemplateDoesNotExist,
// InvalidTemplate, MissingRenderingAttribute, InvalidRenderingParameter,
// CustomVerificationEmailTemplateDoesNotExist,
// CustomVerificationEmailTemplateAlreadyExists,
// CustomVerificationEmailInvalidContent, FromEmailAddressNotVerified,
// ProductionAccessNotGranted.

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/awsquery"
)

// v1TemplateActions are the SES v1 API's templates actions (v1.go).
func (s *Server) v1TemplateActions() map[string]v1Action {
	return map[string]v1Action{
		"CreateTemplate":     {fn: s.v1CreateTemplate},
		"GetTemplate":        {fn: s.v1GetTemplate},
		"ListTemplates":      {fn: s.v1ListTemplates},
		"UpdateTemplate":     {fn: s.v1UpdateTemplate},
		"DeleteTemplate":     {fn: s.v1DeleteTemplate},
		"TestRenderTemplate": {fn: s.v1TestRenderTemplate},

		"CreateCustomVerificationEmailTemplate": {fn: s.v1CreateCustomTemplate},
		"GetCustomVerificationEmailTemplate":    {fn: s.v1GetCustomTemplate},
		"ListCustomVerificationEmailTemplates":  {fn: s.v1ListCustomTemplates},
		"UpdateCustomVerificationEmailTemplate": {fn: s.v1UpdateCustomTemplate},
		"DeleteCustomVerificationEmailTemplate": {fn: s.v1DeleteCustomTemplate},
		// The template's absence has its own code (templateError); another
		// NotFoundException is the configuration set's.
		"SendCustomVerificationEmail": {fn: s.v1SendCustomVerificationEmail, notFound: "ConfigurationSetDoesNotExist"},
	}
}

// v1TplOpt is the parameter name, nil when absent (a v2 member left out).
func v1TplOpt(q *awsquery.Request, name string) *string {
	if !q.Has(name) {
		return nil
	}
	v := q.Get(name)
	return &v
}

// v1Template is SES v1's Template: the request member of CreateTemplate and
// UpdateTemplate, GetTemplate's result; an absent part is left out.
type v1Template struct {
	TemplateName string
	SubjectPart  *string `xml:",omitempty"`
	TextPart     *string `xml:",omitempty"`
	HtmlPart     *string `xml:",omitempty"`
}

// v1TemplateIn decodes Template.{TemplateName, SubjectPart, TextPart,
// HtmlPart}; TemplateName is required.
func v1TemplateIn(q *awsquery.Request) (string, *templateContent, error) {
	t := q.Sub("Template")
	name, err := t.Required("TemplateName", func(string) error { return v1Missing("template.templateName") })
	if err != nil {
		return "", nil, err
	}
	return name, &templateContent{Subject: v1TplOpt(t, "SubjectPart"), Text: v1TplOpt(t, "TextPart"), Html: v1TplOpt(t, "HtmlPart")}, nil
}

// v1CreateTemplate is CreateTemplate: Template{TemplateName (required),
// SubjectPart, TextPart, HtmlPart} → empty CreateTemplateResult
// (v2 CreateEmailTemplate). Errors: AlreadyExists, InvalidTemplate
// (content over 500 KB or not parsing, a bad name), LimitExceeded.
func (s *Server) v1CreateTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, content, err := v1TemplateIn(q)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.createTemplate, v2Request{Body: struct {
		TemplateName    string
		TemplateContent *templateContent
	}{name, content}})
	return nil, err
}

// v1GetTemplate is GetTemplate: TemplateName → Template{TemplateName,
// SubjectPart, TextPart, HtmlPart} (v2 GetEmailTemplate). Errors:
// TemplateDoesNotExist.
func (s *Server) v1GetTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("TemplateName", v1Missing)
	if err != nil {
		return nil, err
	}
	out, err := s.viaV2(ctx, c, s.getTemplate, v2Request{Path: map[string]string{"TemplateName": name}})
	if err != nil {
		return nil, err
	}
	t := out.(getTemplateOutput)
	return struct{ Template v1Template }{v1Template{TemplateName: t.TemplateName,
		SubjectPart: t.TemplateContent.Subject, TextPart: t.TemplateContent.Text, HtmlPart: t.TemplateContent.Html}}, nil
}

// v1TemplateMetadataList is ListTemplates' TemplatesMetadata, written even
// when empty.
type v1TemplateMetadataList struct {
	Member []v1TemplateMetadata `xml:"member"`
}

type v1TemplateMetadata struct {
	Name             string
	CreatedTimestamp time.Time
}

// v1ListTemplates is ListTemplates: MaxItems (1 or more; absent: 10, over
// 100: 100, as SES), NextToken → TemplatesMetadata[{Name,
// CreatedTimestamp}] in name order, NextToken when more follow (v2
// ListEmailTemplates). A MaxItems under 1 or a bad NextToken is
// InvalidParameterValue.
func (s *Server) v1ListTemplates(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	size := 10
	if q.Has("MaxItems") {
		n, err := strconv.Atoi(q.Get("MaxItems"))
		if err != nil || n < 1 {
			return nil, v1Invalid("MaxItems must be an integer of at least 1.")
		}
		size = min(n, 100)
	}
	query := url.Values{"PageSize": {strconv.Itoa(size)}}
	if q.Get("NextToken") != "" {
		query.Set("NextToken", q.Get("NextToken"))
	}
	out, err := s.viaV2(ctx, c, s.listTemplates, v2Request{Query: query})
	if err != nil {
		return nil, err
	}
	list := out.(listTemplatesOutput)
	res := struct {
		TemplatesMetadata v1TemplateMetadataList
		NextToken         string `xml:",omitempty"`
	}{NextToken: list.NextToken}
	for _, m := range list.TemplatesMetadata {
		res.TemplatesMetadata.Member = append(res.TemplatesMetadata.Member, v1TemplateMetadata{m.TemplateName, m.created.UTC()})
	}
	return res, nil
}

// v1UpdateTemplate is UpdateTemplate: Template{TemplateName, SubjectPart,
// TextPart, HtmlPart}, every part replaced (an absent part is removed) →
// empty UpdateTemplateResult (v2 UpdateEmailTemplate). Errors:
// TemplateDoesNotExist, InvalidTemplate.
func (s *Server) v1UpdateTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, content, err := v1TemplateIn(q)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.updateTemplate, v2Request{Path: map[string]string{"TemplateName": name},
		Body: struct{ TemplateContent *templateContent }{content}})
	return nil, err
}

// v1DeleteTemplate is DeleteTemplate: TemplateName → empty
// DeleteTemplateResult (v2 DeleteEmailTemplate). SES v1 names no error
// for it: deleting a template that does not exist succeeds.
func (s *Server) v1DeleteTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("TemplateName", v1Missing)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.deleteTemplate, v2Request{Path: map[string]string{"TemplateName": name}})
	if v1HasCode(err, "TemplateDoesNotExist") {
		err = nil
	}
	return nil, err
}

// v1TestRenderTemplate is TestRenderTemplate: TemplateName, TemplateData
// (a JSON object) → RenderedTemplate, the MIME message (v2
// TestRenderEmailTemplate). Errors: TemplateDoesNotExist,
// MissingRenderingAttribute ("Attribute 'x' is not present in the
// rendering data."), InvalidRenderingParameter (TemplateData not a JSON
// object or too long, another render failure).
func (s *Server) v1TestRenderTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("TemplateName", v1Missing)
	if err != nil {
		return nil, err
	}
	out, err := s.viaV2(ctx, c, s.testRenderTemplate, v2Request{Path: map[string]string{"TemplateName": name},
		Body: struct{ TemplateData *string }{v1TplOpt(q, "TemplateData")}})
	if err != nil {
		return nil, err
	}
	return out, nil // {RenderedTemplate}: the same member in v1
}

// v1CustomTemplateBody is the v2 body of Create/UpdateCustomVerification-
// EmailTemplate from v1's parameters (absent ones nil).
func v1CustomTemplateBody(q *awsquery.Request, name *string) customTemplateInput {
	return customTemplateInput{TemplateName: name, FromEmailAddress: v1TplOpt(q, "FromEmailAddress"),
		TemplateSubject: v1TplOpt(q, "TemplateSubject"), TemplateContent: v1TplOpt(q, "TemplateContent"),
		SuccessRedirectionURL: v1TplOpt(q, "SuccessRedirectionURL"), FailureRedirectionURL: v1TplOpt(q, "FailureRedirectionURL")}
}

// v1CreateCustomTemplate is CreateCustomVerificationEmailTemplate:
// TemplateName, FromEmailAddress, TemplateSubject, TemplateContent,
// SuccessRedirectionURL, FailureRedirectionURL (all required) → no result
// (v2 CreateCustomVerificationEmailTemplate). Errors:
// CustomVerificationEmailTemplateAlreadyExists,
// FromEmailAddressNotVerified, CustomVerificationEmailInvalidContent (any
// member refused), LimitExceeded, InvalidParameterValue (a member missing).
func (s *Server) v1CreateCustomTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	_, err := s.viaV2(ctx, c, s.createCustomTemplate, v2Request{Body: v1CustomTemplateBody(q, v1TplOpt(q, "TemplateName"))})
	if err != nil {
		return nil, err
	}
	return v1NoResult{}, nil
}

// v1GetCustomTemplate is GetCustomVerificationEmailTemplate: TemplateName →
// TemplateName, FromEmailAddress, TemplateSubject, TemplateContent,
// SuccessRedirectionURL, FailureRedirectionURL (v2's, without Tags).
// Errors: CustomVerificationEmailTemplateDoesNotExist.
func (s *Server) v1GetCustomTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	t, err := s.v1CustomTemplate(ctx, c, q)
	if err != nil {
		return nil, err
	}
	return struct {
		TemplateName, FromEmailAddress, TemplateSubject, TemplateContent, SuccessRedirectionURL, FailureRedirectionURL string
	}{t.TemplateName, t.FromEmailAddress, t.TemplateSubject, t.TemplateContent, t.SuccessRedirectionURL, t.FailureRedirectionURL}, nil
}

// v1CustomTemplate is the template TemplateName names (v2
// GetCustomVerificationEmailTemplate).
func (s *Server) v1CustomTemplate(ctx context.Context, c *call, q *awsquery.Request) (getCustomTemplateOutput, error) {
	name, err := q.Required("TemplateName", v1Missing)
	if err != nil {
		return getCustomTemplateOutput{}, err
	}
	out, err := s.viaV2(ctx, c, s.getCustomTemplate, v2Request{Path: map[string]string{"TemplateName": name}})
	if err != nil {
		return getCustomTemplateOutput{}, err
	}
	return out.(getCustomTemplateOutput), nil
}

// v1CustomTemplateList is ListCustomVerificationEmailTemplates'
// CustomVerificationEmailTemplates, written even when empty.
type v1CustomTemplateList struct {
	Member []customTemplateMetadata `xml:"member"`
}

// v1ListCustomTemplates is ListCustomVerificationEmailTemplates:
// MaxResults (1-50; absent or outside: 50, as SES), NextToken →
// CustomVerificationEmailTemplates[{TemplateName, FromEmailAddress,
// TemplateSubject, SuccessRedirectionURL, FailureRedirectionURL}] in name
// order, NextToken when more follow (v2's). A bad NextToken is
// InvalidParameterValue.
func (s *Server) v1ListCustomTemplates(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	size := 50
	if n, err := strconv.Atoi(q.Get("MaxResults")); err == nil && n >= 1 && n <= 50 {
		size = n
	}
	query := url.Values{"PageSize": {strconv.Itoa(size)}}
	if q.Get("NextToken") != "" {
		query.Set("NextToken", q.Get("NextToken"))
	}
	out, err := s.viaV2(ctx, c, s.listCustomTemplates, v2Request{Query: query})
	if err != nil {
		return nil, err
	}
	list := out.(listCustomTemplatesOutput)
	return struct {
		CustomVerificationEmailTemplates v1CustomTemplateList
		NextToken                        string `xml:",omitempty"`
	}{v1CustomTemplateList{list.CustomVerificationEmailTemplates}, list.NextToken}, nil
}

// v1UpdateCustomTemplate is UpdateCustomVerificationEmailTemplate:
// TemplateName (required) and any of FromEmailAddress, TemplateSubject,
// TemplateContent, SuccessRedirectionURL, FailureRedirectionURL; the
// members given replace the template's, the others stay (v1's members are
// optional, v2's required) → no result (v2
// UpdateCustomVerificationEmailTemplate). Errors:
// CustomVerificationEmailTemplateDoesNotExist, FromEmailAddressNotVerified,
// CustomVerificationEmailInvalidContent.
func (s *Server) v1UpdateCustomTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	cur, err := s.v1CustomTemplate(ctx, c, q)
	if err != nil {
		return nil, err
	}
	in := v1CustomTemplateBody(q, nil)
	for _, m := range []struct {
		in  **string
		cur string
	}{{&in.FromEmailAddress, cur.FromEmailAddress}, {&in.TemplateSubject, cur.TemplateSubject}, {&in.TemplateContent, cur.TemplateContent},
		{&in.SuccessRedirectionURL, cur.SuccessRedirectionURL}, {&in.FailureRedirectionURL, cur.FailureRedirectionURL}} {
		if *m.in == nil {
			*m.in = &m.cur
		}
	}
	_, err = s.viaV2(ctx, c, s.updateCustomTemplate, v2Request{Path: map[string]string{"TemplateName": cur.TemplateName}, Body: in})
	if err != nil {
		return nil, err
	}
	return v1NoResult{}, nil
}

// v1DeleteCustomTemplate is DeleteCustomVerificationEmailTemplate:
// TemplateName → no result (v2's). SES v1 names no error for it: deleting
// a template that does not exist succeeds.
func (s *Server) v1DeleteCustomTemplate(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("TemplateName", v1Missing)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.deleteCustomTemplate, v2Request{Path: map[string]string{"TemplateName": name}})
	if err != nil && !v1HasCode(err, "CustomVerificationEmailTemplateDoesNotExist") {
		return nil, err
	}
	return v1NoResult{}, nil
}

// v1SendCustomVerificationEmail is SendCustomVerificationEmail:
// EmailAddress, TemplateName, ConfigurationSetName → MessageId (v2's: the
// template's email with a new link, sent as the account's own mail).
// Errors: CustomVerificationEmailTemplateDoesNotExist,
// ProductionAccessNotGranted (a sandboxed account),
// ConfigurationSetDoesNotExist, MessageRejected and the accept path's
// other refusals, InvalidParameterValue (not an address).
func (s *Server) v1SendCustomVerificationEmail(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	out, err := s.viaV2(ctx, c, s.sendCustomVerificationEmail, v2Request{Body: struct {
		EmailAddress, TemplateName, ConfigurationSetName *string
	}{v1TplOpt(q, "EmailAddress"), v1TplOpt(q, "TemplateName"), v1TplOpt(q, "ConfigurationSetName")}})
	if err != nil {
		return nil, err
	}
	return out, nil // {MessageId}: the same member in v1
}
