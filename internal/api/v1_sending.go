package api

// The SES v1 API's sending actions (../shared/spec/ses.md §2.2): SendEmail,
// SendRawEmail, SendTemplatedEmail and SendBulkTemplatedEmail. Each builds
// the SESv2 request of the same message from its v1 parameters and runs it
// through the v2 API's own path — send (send.go) for the first three,
// sendBulk (bulk.go) for the last — so every SES rule (identities, quotas,
// recipients, configuration sets, templates, X-SES-* header fields of raw
// messages) is applied once, by package sending. What is v1's own here:
//
//   - the parameters' names and shapes (Source, Destination, Message,
//     ReturnPath, SourceArn/FromArn/ReturnPathArn, Tags, Template,
//     Destinations.member.N…) and the ses:operation tag, the action's name;
//   - RawMessage.Data is decoded where awsquery.Parse left it, in the
//     request body's own memory (decodeBase64Bytes), as v2 decodes
//     Content.Raw.Data into its JSON body: one copy of the message;
//   - the errors' v1 codes (v1SendError, then v1Error) and the bulk
//     statuses' v1 names (v1BulkStatus).

import (
	"cmp"
	"context"
	"errors"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/sending"
)

// v1SendingActions are the SES v1 API's sending actions (v1.go).
func (s *Server) v1SendingActions() map[string]v1Action {
	return map[string]v1Action{
		"SendEmail":              {fn: s.v1SendEmail},
		"SendRawEmail":           {fn: s.v1SendRawEmail},
		"SendTemplatedEmail":     {fn: s.v1SendTemplatedEmail},
		"SendBulkTemplatedEmail": {fn: s.v1SendBulkTemplatedEmail},
	}
}

// v1MessageIDResult is SendEmailResult, SendRawEmailResult and
// SendTemplatedEmailResult: <MessageId>.
type v1MessageIDResult struct {
	MessageId string
}

// v1SendBulkResult is SendBulkTemplatedEmailResult: one
// BulkEmailDestinationStatus per destination, in order.
type v1SendBulkResult struct {
	Status []v1BulkDestinationStatus `xml:"Status>member"`
}

// v1BulkDestinationStatus is BulkEmailDestinationStatus: MessageId when
// Status is Success, Error otherwise.
type v1BulkDestinationStatus struct {
	Status    string
	Error     string `xml:",omitempty"`
	MessageId string `xml:",omitempty"`
}

// v1SendEmail is SendEmail: Source (required; mail.source as given),
// Destination{To,Cc,Bcc}Addresses, Message{Subject, Body{Text, Html}}
// (each {Data, Charset}), ReplyToAddresses, ReturnPath (v2
// FeedbackForwardingEmailAddress), SourceArn (v2
// FromEmailAddressIdentityArn), ReturnPathArn (v2
// FeedbackForwardingEmailAddressIdentityArn), Tags, ConfigurationSetName
// → MessageId. It is v2 SendEmail with Simple content.
func (s *Server) v1SendEmail(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	in, err := v1SendInput(q, "SourceArn")
	if err != nil {
		return nil, err
	}
	if in.FromEmailAddress == nil {
		return nil, v1Missing("Source")
	}
	m := q.Sub("Message")
	simple := &simpleContent{Subject: v1Text(m, "Subject")}
	if m.HasSub("Body") {
		simple.Body = &struct {
			Text *textContent
			Html *textContent
		}{v1Text(m, "Body.Text"), v1Text(m, "Body.Html")}
	}
	in.Content = &emailContent{Simple: simple}
	return s.v1Send(ctx, c, in, "SendEmail")
}

// v1SendRawEmail is SendRawEmail: RawMessage.Data (required; base64 of the
// whole message), Source (optional: the envelope sender and mail.source,
// else the From header's address), Destinations (optional: the envelope
// recipients, else the To, Cc and Bcc header fields'), FromArn and
// SourceArn (v2 FromEmailAddressIdentityArn: Petrel authorises From and
// Source with one ARN, so two different ones are refused), ReturnPathArn,
// Tags, ConfigurationSetName → MessageId. X-SES-* header fields are read
// and removed by package sending, as for v2 Raw content and SMTP. It is v2
// SendEmail with Raw content.
func (s *Server) v1SendRawEmail(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	in, err := v1SendInput(q, "")
	if err != nil {
		return nil, err
	}
	from, src := q.Get("FromArn"), q.Get("SourceArn")
	if from != "" && src != "" && from != src {
		return nil, v1Invalid("FromArn and SourceArn name different identities: Petrel authorises the From address and the Source with one identity, give one of them.")
	}
	if arn := cmp.Or(src, from); arn != "" {
		in.FromEmailAddressIdentityArn = &arn
	}
	rcpts, err := q.List("Destinations")
	if err != nil {
		return nil, err
	}
	if len(rcpts) > 0 {
		in.Destination = &destination{ToAddresses: rcpts}
	}
	// A large RawMessage.Data lies, percent-decoded, in the request body's
	// own memory (awsquery.Parse): the message is decoded there, as v2
	// decodes into its JSON body, and send normalises and prepares it
	// there, so the request holds one copy of it.
	data := q.Bytes("RawMessage.Data")
	if len(data) == 0 {
		return nil, v1Missing("RawMessage.Data")
	}
	raw, err := decodeBase64Bytes(data)
	if err != nil {
		return nil, v1Invalid("RawMessage.Data is not valid base64: %v.", err)
	}
	if len(raw) == 0 {
		return nil, v1Missing("RawMessage.Data")
	}
	in.Content = &emailContent{Raw: &rawMessage{Data: &rawData{b: raw}}}
	return s.v1Send(ctx, c, in, "SendRawEmail")
}

// v1SendTemplatedEmail is SendTemplatedEmail: SendEmail's parameters but
// Message, and Template (a template's name) or TemplateArn, TemplateData
// (JSON) → MessageId; a template that does not exist is
// TemplateDoesNotExist. It is v2 SendEmail with Template content.
func (s *Server) v1SendTemplatedEmail(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	in, err := v1SendInput(q, "SourceArn")
	if err != nil {
		return nil, err
	}
	if in.FromEmailAddress == nil {
		return nil, v1Missing("Source")
	}
	if q.Get("Template") == "" && q.Get("TemplateArn") == "" {
		return nil, v1Missing("Template")
	}
	in.Content = &emailContent{Template: &templateInput{TemplateName: v1Opt(q, "Template"), TemplateArn: v1Opt(q, "TemplateArn"),
		TemplateData: v1Opt(q, "TemplateData")}}
	return s.v1Send(ctx, c, in, "SendTemplatedEmail")
}

// v1SendBulkTemplatedEmail is SendBulkTemplatedEmail: Source, SourceArn,
// ReplyToAddresses, ReturnPath, ReturnPathArn, ConfigurationSetName,
// DefaultTags, Template or TemplateArn, DefaultTemplateData, and
// Destinations.member.N.{Destination, ReplacementTags,
// ReplacementTemplateData} → Status.member.N.{Status, Error, MessageId},
// one per destination in order. It is v2 SendBulkEmail (its rules: 1 to 50
// destinations, per-entry statuses, one commit), its BulkEmailStatus
// values renamed as v1's (v1BulkStatus).
func (s *Server) v1SendBulkTemplatedEmail(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	if q.Get("Source") == "" {
		return nil, v1Missing("Source")
	}
	if q.Get("Template") == "" && q.Get("TemplateArn") == "" {
		return nil, v1Missing("Template")
	}
	one, err := v1SendInput(q, "SourceArn")
	if err != nil {
		return nil, err
	}
	in := sendBulkEmailInput{FromEmailAddress: one.FromEmailAddress, FromEmailAddressIdentityArn: one.FromEmailAddressIdentityArn,
		ReplyToAddresses: one.ReplyToAddresses, FeedbackForwardingEmailAddress: one.FeedbackForwardingEmailAddress,
		FeedbackForwardingEmailAddressIdentityArn: one.FeedbackForwardingEmailAddressIdentityArn,
		ConfigurationSetName:                      one.ConfigurationSetName,
		DefaultContent: &struct{ Template *templateInput }{&templateInput{TemplateName: v1Opt(q, "Template"),
			TemplateArn: v1Opt(q, "TemplateArn"), TemplateData: v1Opt(q, "DefaultTemplateData")}}}
	if in.DefaultEmailTags, err = v1Tags(q, "DefaultTags"); err != nil {
		return nil, err
	}
	dests, err := q.Members("Destinations")
	if err != nil {
		return nil, err
	}
	for _, d := range dests {
		var e bulkEmailEntry
		if e.Destination, err = v1Destination(d, "Destination"); err != nil {
			return nil, err
		}
		if e.ReplacementTags, err = v1Tags(d, "ReplacementTags"); err != nil {
			return nil, err
		}
		if d.Has("ReplacementTemplateData") {
			e.ReplacementEmailContent = &replacementEmailContent{
				ReplacementTemplate: &struct{ ReplacementTemplateData *string }{v1Opt(d, "ReplacementTemplateData")}}
		}
		in.BulkEmailEntries = append(in.BulkEmailEntries, e)
	}
	results, err := s.sendBulk(ctx, c, &in, "SendBulkTemplatedEmail")
	if err != nil {
		return nil, v1SendError(err)
	}
	out := v1SendBulkResult{Status: make([]v1BulkDestinationStatus, len(results))}
	for i, r := range results {
		out.Status[i] = v1BulkDestinationStatus{Status: v1BulkStatus(r.Status), Error: r.Error, MessageId: r.MessageID}
	}
	return out, nil
}

// v1Send sends in through send (send.go) as op and answers its MessageId.
func (s *Server) v1Send(ctx context.Context, c *call, in *sendEmailInput, op string) (any, error) {
	id, err := s.send(ctx, c, in, op)
	if err != nil {
		return nil, v1SendError(err)
	}
	return v1MessageIDResult{MessageId: id}, nil
}

// v1SendInput decodes the parameters the single-message actions share into
// the v2 request: Source, Destination, ReplyToAddresses, ReturnPath,
// arnParam (SourceArn; "": the caller decodes its own), ReturnPathArn,
// Tags, ConfigurationSetName.
func v1SendInput(q *awsquery.Request, arnParam string) (*sendEmailInput, error) {
	in := &sendEmailInput{FromEmailAddress: v1Opt(q, "Source"), FeedbackForwardingEmailAddress: v1Opt(q, "ReturnPath"),
		FeedbackForwardingEmailAddressIdentityArn: v1Opt(q, "ReturnPathArn"), ConfigurationSetName: v1Opt(q, "ConfigurationSetName")}
	if arnParam != "" {
		in.FromEmailAddressIdentityArn = v1Opt(q, arnParam)
	}
	var err error
	if in.Destination, err = v1Destination(q, "Destination"); err != nil {
		return nil, err
	}
	if in.ReplyToAddresses, err = q.List("ReplyToAddresses"); err != nil {
		return nil, err
	}
	if in.EmailTags, err = v1Tags(q, "Tags"); err != nil {
		return nil, err
	}
	return in, nil
}

// v1Opt is parameter name, nil when absent (as an absent JSON member).
func v1Opt(q *awsquery.Request, name string) *string {
	if !q.Has(name) {
		return nil
	}
	v := q.Get(name)
	return &v
}

// v1Text is the Content structure under prefix ({Data, Charset}), nil
// without Data.
func v1Text(q *awsquery.Request, prefix string) *textContent {
	if !q.Has(prefix + ".Data") {
		return nil
	}
	return &textContent{Data: v1Opt(q, prefix+".Data"), Charset: v1Opt(q, prefix+".Charset")}
}

// v1Destination is the Destination structure under prefix, nil when none
// of its parameters is given.
func v1Destination(q *awsquery.Request, prefix string) (*destination, error) {
	if !q.HasSub(prefix) {
		return nil, nil
	}
	d := q.Sub(prefix)
	var out destination
	var err error
	for _, f := range []struct {
		name string
		list *[]string
	}{{"ToAddresses", &out.ToAddresses}, {"CcAddresses", &out.CcAddresses}, {"BccAddresses", &out.BccAddresses}} {
		if *f.list, err = d.List(f.name); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// v1Tags is the MessageTag list name (name.member.N.{Name, Value}).
func v1Tags(q *awsquery.Request, name string) ([]struct{ Name, Value string }, error) {
	ms, err := q.Members(name)
	if err != nil {
		return nil, err
	}
	var out []struct{ Name, Value string }
	for _, m := range ms {
		out = append(out, struct{ Name, Value string }{m.Get("Name"), m.Get("Value")})
	}
	return out, nil
}

// v1BulkStatuses are SESv2's BulkEmailStatus values by their v1
// BulkEmailStatus names (the botocore models of ses 2010-12-01 and sesv2
// 2019-09-27 list the same fourteen statuses).
var v1BulkStatuses = map[sending.BulkStatus]string{
	sending.BulkSuccess:             "Success",
	sending.BulkMessageRejected:     "MessageRejected",
	sending.BulkMailFromNotVerified: "MailFromDomainNotVerified",
	sending.BulkConfigSetNotFound:   "ConfigurationSetDoesNotExist",
	"TEMPLATE_NOT_FOUND":            "TemplateDoesNotExist",
	sending.BulkAccountSuspended:    "AccountSuspended",
	sending.BulkAccountThrottled:    "AccountThrottled",
	sending.BulkDailyQuotaExceeded:  "AccountDailyQuotaExceeded",
	"INVALID_SENDING_POOL_NAME":     "InvalidSendingPoolName",
	"ACCOUNT_SENDING_PAUSED":        "AccountSendingPaused",
	sending.BulkConfigSetPaused:     "ConfigurationSetSendingPaused",
	sending.BulkInvalidParameter:    "InvalidParameterValue",
	sending.BulkTransientFailure:    "TransientFailure",
	sending.BulkFailed:              "Failed",
}

// v1BulkStatus is the v1 name of BulkEmailStatus st ("Failed" for one it
// does not know).
func v1BulkStatus(st sending.BulkStatus) string {
	if v, ok := v1BulkStatuses[st]; ok {
		return v
	}
	return "Failed"
}

// v1SendError gives the accept path's errors whose v1 code is not the
// renamed v2 one (v1Error) their v1 code, with the v2 message (sendError):
// a missing configuration set is ConfigurationSetDoesNotExist and a
// missing template TemplateDoesNotExist (v2: NotFoundException for both);
// a paused configuration set, by its owner or by enforcement, is
// ConfigurationSetSendingPausedException and an account paused by
// enforcement MessageRejected "Sending paused for this account. …"
// (../shared/spec/ses.md §2.1; v2: SendingPausedException for all three).
// The tenant's own pause stays AccountSendingPausedException (v1Error);
// the quotas are Throttling "Maximum sending rate exceeded." and "Daily
// message quota exceeded." (v1Error, from TooManyRequestsException).
func v1SendError(err error) error {
	var noSet *sending.ConfigSetNotFoundError
	var noTemplate *sending.TemplateNotFoundError
	var pausedSet *sending.ConfigSetPausedError
	var enforced *sending.EnforcementPausedError
	var code string
	switch {
	case errors.As(err, &noSet):
		code = "ConfigurationSetDoesNotExist"
	case errors.As(err, &noTemplate):
		code = "TemplateDoesNotExist"
	case errors.As(err, &pausedSet), errors.As(err, &enforced) && enforced.ConfigurationSet != "":
		code = "ConfigurationSetSendingPausedException"
	case errors.As(err, &enforced):
		code = "MessageRejected"
	default:
		return err
	}
	return &awsquery.Error{Type: awsquery.Sender, Code: code, Status: 400, Message: sendError(err).Message}
}
