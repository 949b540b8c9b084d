package sending

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/template"
)

// Content is a message Send builds from parts rather than receives whole:
// SESv2 EmailContent Simple or Template (../shared/spec/ses.md §1.3), and
// the SES v1 SendEmail and SendTemplatedEmail. Exactly one of Simple and
// Template is set. The message is built with message.BuildSimple: From,
// To, Cc and Reply-To header fields, the subject, text and HTML parts, the
// caller's header fields and attachments.
type Content struct {
	From    string            // FromEmailAddress as the caller wrote it (required)
	To, Cc  []address.Address // Destination's ToAddresses and CcAddresses (BccAddresses are envelope only)
	ReplyTo []string          // ReplyToAddresses as written
	// Simple is SESv2 Content.Simple.
	Simple *Simple
	// Template is SESv2 Content.Template.
	Template *Template
}

// Text is a Subject, Text or Html part of Simple content: its Data and
// Charset ("" means UTF-8). The part is written in its Charset (the
// Subject as RFC 2047 encoded-words when not ASCII) and labelled with it;
// a charset Petrel does not know is passed through as the label, the
// text left in UTF-8; a character the charset cannot represent is a
// *ContentError.
type Text struct{ Data, Charset string }

// Simple is SESv2 Content.Simple (Message): Subject (required), and Text
// or Html or both.
type Simple struct {
	Subject     *Text
	Text, HTML  *Text
	Headers     [][2]string // 0-15 {Name, Value}
	Attachments []Attachment
}

// Attachment is SESv2 Attachment; Content is RawContent decoded.
type Attachment struct {
	Content          []byte
	FileName         string // required
	Disposition      string // ATTACHMENT (default) | INLINE
	Description      string
	ContentID        string
	TransferEncoding string // BASE64 (default) | QUOTED_PRINTABLE | SEVEN_BIT
	ContentType      string
}

// Template is SESv2 Content.Template: the template by TemplateName,
// TemplateArn (arn:aws:ses:REGION:ACCOUNTID:template/NAME, of the sending
// account in Petrel's region) or inline TemplateContent (exactly one), rendered with
// TemplateData (a JSON object; "" is {}), with the caller's header fields
// and attachments. Rendering happens at acceptance (template.Render).
type Template struct {
	Name        string
	Arn         string
	Inline      *template.Content
	Data        string
	Headers     [][2]string // 0-15 {Name, Value}
	Attachments []Attachment

	resolved *resolvedTemplate // SendBulk's default template, looked up once per call
	// room, when > 0, is what is left of SendBulk's per-call limit
	// (callMax bytes): rendering stops once its output would not fit,
	// and the entry is refused as too large for the call.
	room    int
	callMax int64
	field   string // the member in error texts: "Content.Template." or "DefaultContent.Template."
}

// resolvedTemplate is a template looked up: its name ("" for inline
// content) and content.
type resolvedTemplate struct {
	name    string
	content template.Content
}

// ContentError is content SES refuses before accepting the message
// (BadRequestException with the message): a missing or malformed part,
// header field or attachment, or TemplateData that is not a JSON object.
type ContentError struct{ Msg string }

func (e *ContentError) Error() string { return e.Msg }

func contentErrorf(format string, args ...any) error {
	return &ContentError{Msg: fmt.Sprintf(format, args...)}
}

// TemplateNotFoundError is a TemplateName or TemplateArn the sending
// account has no template of (SES: NotFoundException "Template NAME does
// not exist.").
type TemplateNotFoundError struct{ Name string }

func (e *TemplateNotFoundError) Error() string { return "Template " + e.Name + " does not exist." }

// MaxContentHeaders is the most header fields Simple or Template content
// (or a bulk entry's ReplacementHeaders) may add (SES: 15).
const MaxContentHeaders = 15

var (
	headerNameRE  = regexp.MustCompile(`^[!-9;-@A-~]{1,126}$`)
	headerValueRE = regexp.MustCompile(`^[ -~]{1,995}$`)
)

// CheckHeaders checks header fields of content (field names the member
// in errors, e.g. "Content.Simple.Headers"): at most MaxContentHeaders,
// each Name 1-126 printable ASCII characters but ':', each Value 1-995
// printable ASCII characters, Name and Value together at most 996
// (../shared/spec/ses.md §1.3), and no Name a field the message builder
// writes itself (message.BuiltField: the MIME fields of the body it
// builds) nor a recipient field: To and Cc are written from Destination,
// and a caller's would name someone other than the message's recipients
// (a second To, a Cc who never gets the message), a Bcc field would show
// the blind copies to everyone. Errors: *ContentError.
func CheckHeaders(field string, hs [][2]string) error {
	if len(hs) > MaxContentHeaders {
		return contentErrorf("%s: at most %d headers are allowed.", field, MaxContentHeaders)
	}
	for i, h := range hs {
		if !headerNameRE.MatchString(h[0]) {
			return contentErrorf("%s[%d].Name %q is not a valid header name.", field, i, h[0])
		}
		if message.BuiltField(h[0]) {
			return contentErrorf("%s[%d].Name: %v", field, i, &message.BuiltFieldError{Name: h[0]})
		}
		if recipientField(h[0]) {
			return contentErrorf("%s[%d].Name: header '%s' cannot be set: Petrel writes To and Cc from Destination (and no Bcc field).", field, i, h[0])
		}
		if !headerValueRE.MatchString(h[1]) || len(h[0])+len(h[1]) > 996 {
			return contentErrorf("%s[%d].Value must be 1-995 printable ASCII characters.", field, i)
		}
	}
	return nil
}

// recipientField reports To, Cc and Bcc (case-insensitive), the fields
// content Headers may not carry (CheckHeaders).
func recipientField(name string) bool {
	return strings.EqualFold(name, "To") || strings.EqualFold(name, "Cc") || strings.EqualFold(name, "Bcc")
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// CheckTags checks message tags given by the caller (field names the
// member in errors, e.g. "EmailTags"): Name and Value of ASCII letters,
// digits, '_' and '-', 1-256 characters each (../shared/spec/ses.md
// §11.3). Errors: *ContentError.
func CheckTags(field string, tags [][2]string) error {
	for i, t := range tags {
		if !tagRE.MatchString(t[0]) || !tagRE.MatchString(t[1]) {
			return contentErrorf("%s[%d]: Name and Value may contain only ASCII letters, digits, '_' and '-' (1-256 characters).", field, i)
		}
	}
	return nil
}

// CheckConfigSetName checks a ConfigurationSetName given by the caller
// ("" is none): 1-64 ASCII letters, digits, '_' and '-'
// (configset.ValidateName). Errors: *ContentError.
func CheckConfigSetName(name string) error {
	if name != "" && configset.ValidateName(name) != nil {
		return contentErrorf("ConfigurationSetName %q is not a valid configuration set name.", name)
	}
	return nil
}

// check applies the rules every built message follows, before anything is
// looked up: From and at least one recipient, Reply-To addresses, the
// Simple parts, header fields and attachments. rcpts is the envelope
// recipient count. Errors: *ContentError.
func (c *Content) check(rcpts int) (from address.Address, err error) {
	kind := "Simple"
	if c.Template != nil {
		kind = "Template"
	}
	if c.From == "" {
		return from, contentErrorf("FromEmailAddress is required when sending %s content.", kind)
	}
	if from, err = address.Parse(c.From); err != nil {
		return from, contentErrorf("FromEmailAddress: %v.", err)
	}
	if rcpts == 0 {
		return from, contentErrorf("Destination must contain at least one address when sending %s content.", kind)
	}
	var hs [][2]string
	var atts []Attachment
	if sm := c.Simple; sm != nil {
		if sm.Subject == nil {
			return from, contentErrorf("Content.Simple.Subject is required.")
		}
		if strings.ContainsAny(sm.Subject.Data, "\r\n\x00") {
			return from, contentErrorf("Content.Simple.Subject.Data must not contain line breaks or NUL.")
		}
		if sm.Text == nil && sm.HTML == nil {
			return from, contentErrorf("Content.Simple.Body must contain Text or Html.")
		}
		for _, p := range []struct {
			name string
			t    *Text
		}{{"Subject", sm.Subject}, {"Body.Text", sm.Text}, {"Body.Html", sm.HTML}} {
			if p.t != nil && p.t.Charset != "" && !validCharset(p.t.Charset) {
				return from, contentErrorf("Content.Simple.%s.Charset %q is not a charset name (RFC 2978: 1 to 40 letters, digits and !#$%%&'+-^_`{}~).", p.name, p.t.Charset)
			}
		}
		hs, atts = sm.Headers, sm.Attachments
	} else {
		t := c.Template
		n := 0
		for _, set := range []bool{t.Name != "", t.Arn != "", t.Inline != nil} {
			if set {
				n++
			}
		}
		if n != 1 && t.resolved == nil {
			return from, contentErrorf("Content.Template must contain exactly one of TemplateName, TemplateArn or TemplateContent.")
		}
		hs, atts = t.Headers, t.Attachments
	}
	for i, a := range c.ReplyTo {
		if _, err := address.Parse(a); err != nil {
			return from, contentErrorf("ReplyToAddresses[%d]: %v.", i, err)
		}
	}
	if err := CheckHeaders("Content."+kind+".Headers", hs); err != nil {
		return from, err
	}
	for i, a := range atts {
		if a.FileName == "" {
			return from, contentErrorf("Content.%s.Attachments[%d]: FileName and RawContent are required.", kind, i)
		}
		if strings.ContainsAny(a.FileName+a.ContentType+a.ContentID+a.Description, "\r\n\x00\"") {
			return from, contentErrorf("Content.%s.Attachments[%d]: fields must not contain line breaks, quotes or NUL.", kind, i)
		}
	}
	return from, nil
}

// build returns the message c describes. A template that cannot be
// rendered with its data does not fail: the message is built from the
// template's content as stored (so that every check of the accept path
// still applies to it) and the *template.RenderError is returned beside
// it, for Send to record as a Rendering Failure instead of sending.
// Errors: *ContentError, *TemplateNotFoundError, *StorageError.
func (s *Sender) build(ctx context.Context, acct account.Account, c *Content, rcpts int) ([]byte, *template.RenderError, error) {
	from, err := c.check(rcpts)
	if err != nil {
		return nil, nil, err
	}
	b := message.Simple{From: from.String()}
	for _, a := range c.To {
		b.To = append(b.To, a.String())
	}
	for _, a := range c.Cc {
		b.Cc = append(b.Cc, a.String())
	}
	for _, a := range c.ReplyTo {
		p, _ := address.Parse(a)
		b.ReplyTo = append(b.ReplyTo, p.String())
	}
	var hs [][2]string
	var atts []Attachment
	var failed *template.RenderError
	if sm := c.Simple; sm != nil {
		// Each part in its own Charset, the Subject's as RFC 2047
		// encoded-words in its Charset when not ASCII (message.BuildSimple).
		b.Subject, b.SubjectCharset = sm.Subject.Data, charset(sm.Subject.Charset)
		if t := sm.Text; t != nil {
			b.Text, b.TextCharset = t.Data, charset(t.Charset)
		}
		if h := sm.HTML; h != nil {
			b.HTML, b.HTMLCharset = h.Data, charset(h.Charset)
		}
		hs, atts = sm.Headers, sm.Attachments
	} else {
		t := c.Template
		rt, err := s.resolveTemplate(ctx, acct, t)
		if err != nil {
			return nil, nil, err
		}
		data := t.Data
		if emptyData(data) {
			data = "{}"
		}
		limit := template.MaxRenderedSize
		if t.room > 0 {
			limit = t.room
		}
		out, err := template.RenderWithin(rt.name, rt.content, data, limit)
		var dataErr *template.DataError
		var full *template.OutputLimitError
		switch {
		case errors.As(err, &dataErr):
			return nil, nil, &ContentError{Msg: dataErr.Msg}
		case errors.As(err, &full):
			return nil, nil, &RejectedError{Reason: errBulkTooLarge(t.callMax)}
		case errors.As(err, &failed):
			out = rt.content
		case err != nil:
			return nil, nil, err
		}
		// A rendered value never breaks the Subject header field.
		b.Subject = template.SubjectLine(out.Subject)
		b.Text, b.HTML, b.Charset = out.Text, out.HTML, "UTF-8"
		hs, atts = t.Headers, t.Attachments
	}
	b.Headers = hs
	for _, a := range atts {
		b.Attachments = append(b.Attachments, message.Attachment{Content: a.Content, FileName: a.FileName, ContentType: a.ContentType,
			Disposition: a.Disposition, ContentID: a.ContentID, Description: a.Description, Encoding: a.TransferEncoding})
	}
	raw, err := message.BuildSimple(b)
	if err != nil {
		return nil, nil, &ContentError{Msg: err.Error()}
	}
	return raw, failed, nil
}

// resolveTemplate looks t up: its inline content (checked as a stored
// template is: template.ValidateContent), or the account's stored
// template of its name or ARN (an ARN of another account or region names no
// template of the sender's). Errors: *ContentError (inline content over
// template.MaxSize or not valid syntax, a malformed ARN),
// *TemplateNotFoundError, *StorageError.
func (s *Sender) resolveTemplate(ctx context.Context, acct account.Account, t *Template) (resolvedTemplate, error) {
	if t.resolved != nil {
		return *t.resolved, nil
	}
	if t.Inline != nil {
		// Inline content follows the rules of a stored template (size,
		// syntax), checked here rather than failing at rendering.
		if err := template.ValidateContent(*t.Inline); err != nil {
			field := t.field
			if field == "" {
				field = "Content.Template."
			}
			return resolvedTemplate{}, &ContentError{Msg: field + "TemplateContent: " + err.Error()}
		}
		return resolvedTemplate{content: *t.Inline}, nil
	}
	name := t.Name
	if t.Arn != "" {
		a, err := template.ParseARN(t.Arn)
		if err != nil {
			return resolvedTemplate{}, &ContentError{Msg: err.Error()}
		}
		if !a.Of(s.cfg.Region, acct.SendingAccountID) {
			// Another account's or region's: none of the sender's
			// (sesarn's one rule, as TagResource's).
			return resolvedTemplate{}, &TemplateNotFoundError{Name: a.Name}
		}
		name = a.Name
	}
	if s.Templates == nil || template.ValidateName(name) != nil {
		return resolvedTemplate{}, &TemplateNotFoundError{Name: name}
	}
	tm, err := s.Templates.Get(ctx, acct.Name, name)
	switch {
	case errors.Is(err, template.ErrNotFound):
		return resolvedTemplate{}, &TemplateNotFoundError{Name: name}
	case err != nil:
		return resolvedTemplate{}, &StorageError{err}
	}
	return resolvedTemplate{name: tm.Name, content: tm.Content}, nil
}

// charset is a part's Charset as given (check refused any that is not a
// charset name); "" is UTF-8.
func charset(c string) string {
	if c == "" {
		return "UTF-8"
	}
	return c
}

// validCharset reports an RFC 2978 §2.3 mime-charset: 1 to 40 of
// letters, digits and !#$%&'+-^_`{}~ — what a MIME charset parameter
// holds as a token and an RFC 2047 encoded-word as its charset.
func validCharset(c string) bool {
	if len(c) == 0 || len(c) > 40 {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'+-^_`{}~", b) >= 0) {
			return false
		}
	}
	return true
}
