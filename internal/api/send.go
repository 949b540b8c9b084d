package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/sending"
)

// SESv2 SendEmailRequest (../shared/spec/ses.md §1.3).
type sendEmailInput struct {
	FromEmailAddress               *string
	Destination                    *destination
	ReplyToAddresses               []string
	FeedbackForwardingEmailAddress *string
	// Sending authorisation (§1.3, §11.6; package sending, delegate.go).
	FromEmailAddressIdentityArn               *string
	FeedbackForwardingEmailAddressIdentityArn *string
	Content                                   *emailContent
	EmailTags                                 []struct{ Name, Value string }
	ConfigurationSetName                      *string
	ListManagementOptions                     *listManagementOptions
}

// emailContent is SESv2 EmailContent: exactly one of its members.
type emailContent struct {
	Simple   *simpleContent
	Raw      *rawMessage
	Template *templateInput
}

// rawMessage is SESv2 RawMessage.
type rawMessage struct{ Data *rawData }

type destination struct {
	ToAddresses, CcAddresses, BccAddresses []string
}

type textContent struct {
	Data    *string
	Charset *string
}

type simpleContent struct {
	Subject *textContent
	Body    *struct {
		Text *textContent
		Html *textContent
	}
	Headers     []nameValue
	Attachments []attachment
}

// templateInput is SESv2 Template (../shared/spec/ses.md §1.3).
type templateInput struct {
	TemplateName    *string
	TemplateArn     *string
	TemplateContent *templateContent
	TemplateData    *string
	Headers         []nameValue
	Attachments     []attachment
}

type nameValue struct{ Name, Value string }

// attachment is SESv2 Attachment.
type attachment struct {
	RawContent              *string
	FileName                *string
	ContentDisposition      string
	ContentDescription      string
	ContentId               string
	ContentTransferEncoding string
	ContentType             string
}

// sendEmail is SESv2 SendEmail: the JSON request decoded (Content.Raw.Data
// in place, rawData), then send.
func (s *Server) sendEmail(ctx context.Context, c *call) (any, error) {
	var in sendEmailInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	id, err := s.send(ctx, c, &in, "SendEmail")
	if err != nil {
		return nil, err
	}
	return sendEmailOutput{MessageId: id}, nil
}

// send sends the decoded SendEmail request in in the name of c and returns
// the message ID: the one path of v2 SendEmail and of v1 SendEmail,
// SendRawEmail and SendTemplatedEmail (v1_sending.go), which build in from
// their own parameters. op is the ses:operation tag (and the action
// sending authorisation checks: "ses:"+op). Raw content's Data must be a
// buffer nothing else reads: its line endings are made CRLF in place and
// Send may build the prepared message in it. Errors: BadRequestException
// for shapes, else Send's (sendError maps them).
func (s *Server) send(ctx context.Context, c *call, in *sendEmailInput, op string) (string, error) {
	if in.Content == nil {
		return "", badRequest("Content is required.")
	}
	kinds := 0
	for _, set := range []bool{in.Content.Simple != nil, in.Content.Raw != nil, in.Content.Template != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return "", badRequest("Content must contain exactly one of Simple, Raw or Template.")
	}
	req := sending.Request{Account: c.account, Caller: c.keyID, SourceIP: c.sourceIP, Operation: op,
		Tags: tagPairs(in.EmailTags), ConfigSet: strOr(in.ConfigurationSetName)}
	lm, err := in.ListManagementOptions.request() // listmgmt.go
	if err != nil {
		return "", err
	}
	req.ListManagement = lm
	rcpts, err := destinationAddresses(in.Destination)
	if err != nil {
		return "", err
	}
	req.Recipients = rcpts
	req.FromArn, req.FeedbackArn = strOr(in.FromEmailAddressIdentityArn), strOr(in.FeedbackForwardingEmailAddressIdentityArn)
	// The feedback address is where feedback forwarding emails bounces
	// and complaints, and a sender identity Send checks: one that does
	// not parse is refused, not ignored ("" is none).
	if fb := strOr(in.FeedbackForwardingEmailAddress); strings.TrimSpace(fb) != "" {
		a, err := address.Parse(fb)
		if err != nil {
			return "", badRequest("FeedbackForwardingEmailAddress: %v.", err)
		}
		req.FeedbackAddress = &a
	}
	// mail.source is FromEmailAddress as given, display name and all
	// (SES; ../shared/spec/ses.md §4.2); Send trims it.
	req.Source = strOr(in.FromEmailAddress)

	if raw := in.Content.Raw; raw != nil {
		if raw.Data == nil || len(raw.Data.b) == 0 && raw.Data.err == nil {
			return "", badRequest("Content.Raw.Data is required.")
		}
		if raw.Data.err != nil {
			return "", badRequest("Content.Raw.Data is not valid base64: %v.", raw.Data.err)
		}
		// data lies in the request body (v2: rawData; v1: RawMessage.Data,
		// decoded into the body), which nothing reads any more: its line
		// endings are made CRLF there, and Send may build the prepared
		// message there too.
		data := message.NormalizeLineEndingsInPlace(raw.Data.b)
		req.Raw, req.RawScratch = data, true
		if in.FromEmailAddress != nil {
			a, err := address.Parse(*in.FromEmailAddress)
			if err != nil {
				return "", badRequest("FromEmailAddress: %v.", err)
			}
			req.MailFrom = &a
		}
		if in.Destination == nil {
			if req.Recipients, err = headerRecipients(data); err != nil {
				return "", err
			}
		}
	} else if req.Content, err = buildContent(in); err != nil {
		return "", err
	}
	return s.Sender.Send(ctx, req)
}

// rawData is Content.Raw.Data, base64 in a JSON string. It is decoded in
// place, into the request body's own bytes: a 40 MB message arrives as
// about 54 MB of JSON, and neither the string nor the decoded message is
// copied out of it (json.Unmarshal hands UnmarshalJSON a sub-slice of its
// input, and Decode writes behind where it reads).
type rawData struct {
	b   []byte // the message, within the request body
	err error  // why the string is not valid base64 (reported as BadRequest)
}

// UnmarshalJSON decodes the JSON string item (RFC 8259 §7) as standard
// base64 (RFC 4648 §4). A string with escapes (never sent by the AWS SDKs
// or CLI) is unquoted into a copy first.
func (d *rawData) UnmarshalJSON(item []byte) error {
	if string(item) == "null" {
		return nil
	}
	if len(item) < 2 || item[0] != '"' {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string]()}
	}
	src := item[1 : len(item)-1]
	if bytes.IndexByte(src, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			return err
		}
		d.b, d.err = base64.StdEncoding.DecodeString(s)
		return nil
	}
	d.b, d.err = decodeBase64InPlace(item, src)
	return nil
}

// decodeBase64InPlace decodes src into dst, which starts at or before src
// in the same array: each chunk is decoded to a small buffer, then copied
// to where the decoded bytes go, which never passes where the next chunk
// is read (3 bytes are written for every 4 read).
func decodeBase64InPlace(dst, src []byte) ([]byte, error) {
	const chunk = 4 << 10 // base64 characters per step: whole quanta
	var tmp [chunk / 4 * 3]byte
	n := 0
	for off := 0; off < len(src); off += chunk {
		if end := off + chunk; end < len(src) && src[end-1] == '=' {
			return nil, base64.CorruptInputError(end - 1) // padding before the end
		}
		m, err := base64.StdEncoding.Decode(tmp[:], src[off:min(off+chunk, len(src))])
		if err != nil {
			var ce base64.CorruptInputError
			if errors.As(err, &ce) {
				return nil, base64.CorruptInputError(int64(off) + int64(ce))
			}
			return nil, err
		}
		n += copy(dst[n:], tmp[:m])
	}
	return dst[:n], nil
}

// decodeBase64Bytes decodes b, standard base64 (RFC 4648 §4) such as a v1
// Query parameter's value, in place: the message takes b's own memory
// (decodeBase64InPlace), never a copy. Line breaks (older clients wrap
// base64), which Go's decoder skips but which would split a quantum across
// decodeBase64InPlace's chunks, are removed first, in place too.
func decodeBase64Bytes(b []byte) ([]byte, error) {
	if bytes.ContainsAny(b, "\r\n") {
		n := 0
		for _, c := range b {
			if c != '\r' && c != '\n' {
				b[n] = c
				n++
			}
		}
		b = b[:n]
	}
	return decodeBase64InPlace(b, b)
}

func destinationAddresses(d *destination) ([]address.Address, error) {
	if d == nil {
		return nil, nil
	}
	var out []address.Address
	for _, f := range []struct {
		name string
		list []string
	}{{"ToAddresses", d.ToAddresses}, {"CcAddresses", d.CcAddresses}, {"BccAddresses", d.BccAddresses}} {
		as, err := addressList("Destination."+f.name, f.list)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

// headerRecipients takes the envelope recipients of a Raw message sent
// without Destination from its To, Cc and Bcc headers (as SendRawEmail does).
func headerRecipients(data []byte) ([]address.Address, error) {
	m, err := message.Parse(message.NormalizeLineEndings(data))
	if err != nil {
		return nil, &Error{Code: "MessageRejected", Status: 400, Message: "Transaction failed: " + err.Error()}
	}
	var out []address.Address
	for _, h := range []string{"To", "Cc", "Bcc"} {
		for _, v := range m.Values(h) {
			list, err := address.ParseList(v)
			if err != nil {
				return nil, badRequest("%s header: %v.", h, err)
			}
			out = append(out, list...)
		}
	}
	return out, nil
}

// buildContent decodes Simple or Template content for sending.Content,
// which applies SES's rules to it (shapes and base64 only are checked
// here).
func buildContent(in *sendEmailInput) (*sending.Content, error) {
	c := &sending.Content{From: strOr(in.FromEmailAddress), ReplyTo: in.ReplyToAddresses}
	if d := in.Destination; d != nil {
		// Parsed by destinationAddresses already.
		for _, a := range d.ToAddresses {
			p, _ := address.Parse(a)
			c.To = append(c.To, p)
		}
		for _, a := range d.CcAddresses {
			p, _ := address.Parse(a)
			c.Cc = append(c.Cc, p)
		}
	}
	if sm := in.Content.Simple; sm != nil {
		s := &sending.Simple{Headers: headerPairs(sm.Headers)}
		if sm.Subject != nil && sm.Subject.Data != nil {
			s.Subject = &sending.Text{Data: *sm.Subject.Data, Charset: strOr(sm.Subject.Charset)}
		}
		if sm.Body != nil {
			s.Text, s.HTML = text(sm.Body.Text), text(sm.Body.Html)
		}
		var err error
		if s.Attachments, err = attachments("Content.Simple", sm.Attachments); err != nil {
			return nil, err
		}
		c.Simple = s
		return c, nil
	}
	tc := in.Content.Template
	t, err := templateFrom("Content.Template", tc)
	if err != nil {
		return nil, err
	}
	c.Template = t
	return c, nil
}

// templateFrom decodes Template content (field names it in errors).
func templateFrom(field string, tc *templateInput) (*sending.Template, error) {
	t := &sending.Template{Name: strOr(tc.TemplateName), Arn: strOr(tc.TemplateArn), Data: strOr(tc.TemplateData),
		Headers: headerPairs(tc.Headers)}
	if ic := tc.TemplateContent; ic != nil {
		inline := ic.in()
		t.Inline = &inline
	}
	var err error
	if t.Attachments, err = attachments(field, tc.Attachments); err != nil {
		return nil, err
	}
	return t, nil
}

func text(t *textContent) *sending.Text {
	if t == nil || t.Data == nil {
		return nil
	}
	return &sending.Text{Data: *t.Data, Charset: strOr(t.Charset)}
}

func headerPairs(hs []nameValue) [][2]string {
	var out [][2]string
	for _, h := range hs {
		out = append(out, [2]string{h.Name, h.Value})
	}
	return out
}

// attachments decodes Attachments' base64 RawContent.
func attachments(field string, in []attachment) ([]sending.Attachment, error) {
	var out []sending.Attachment
	for i, a := range in {
		if a.FileName == nil || *a.FileName == "" || a.RawContent == nil {
			return nil, badRequest("%s.Attachments[%d]: FileName and RawContent are required.", field, i)
		}
		data, err := base64.StdEncoding.DecodeString(*a.RawContent)
		if err != nil {
			return nil, badRequest("%s.Attachments[%d].RawContent is not valid base64.", field, i)
		}
		out = append(out, sending.Attachment{Content: data, FileName: *a.FileName, Disposition: a.ContentDisposition,
			Description: a.ContentDescription, ContentID: a.ContentId, TransferEncoding: a.ContentTransferEncoding, ContentType: a.ContentType})
	}
	return out, nil
}

// strOr is *p, or "" for nil.
func strOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
