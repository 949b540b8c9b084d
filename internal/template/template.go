// Package template holds SES email templates (SES v2 CreateEmailTemplate
// and the other template operations, ../shared/spec/ses.md §1.11) and
// renders them the way SES does.
//
// Steps: Validate checks a template's Handlebars syntax when it is stored;
// Service stores templates per account (table email_templates) with SES's
// limits; the send path reads them through Service.Get (cached at most
// CacheTTL) and renders them with Render, whose failure is SES's Rendering
// Failure; ParseARN resolves a TemplateArn.
package template

// Content is SES's EmailTemplateContent: Subject, Text and Html parts,
// each a Handlebars template ("" when absent).
type Content struct{ Subject, Text, HTML string }
