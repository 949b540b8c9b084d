package sending

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/template"
)

// BulkRequest is SESv2 SendBulkEmail (../shared/spec/ses.md §1.4): one
// template sent to up to 50 destinations, each its own message.
type BulkRequest struct {
	Account  string
	Caller   string // access key id, for mail.callerIdentity
	SourceIP string
	// From is FromEmailAddress as the caller wrote it (mail.source).
	From    string
	ReplyTo []string
	// FromArn, FeedbackArn and FeedbackAddress are as in Request.
	FromArn, FeedbackArn string
	FeedbackAddress      *address.Address
	DefaultTags          [][2]string // DefaultEmailTags
	// Template is DefaultContent.Template: the template every entry is
	// rendered from, with its default TemplateData, header fields and
	// attachments.
	Template  Template
	ConfigSet string // ConfigurationSetName
	Entries   []BulkEntry
}

// BulkEntry is SESv2 BulkEmailEntry.
type BulkEntry struct {
	To, Cc, Bcc []address.Address // Destination
	// Tags is ReplacementTags: a tag of the same name replaces the
	// default one, the others are added.
	Tags [][2]string
	// Data is ReplacementEmailContent.ReplacementTemplate.
	// ReplacementTemplateData; "" or an empty JSON object: the default
	// TemplateData (SES).
	Data string
	// Headers is ReplacementHeaders: a header field of the same name
	// (case-insensitive) replaces the template's, the others are added.
	Headers [][2]string
}

// BulkStatus is SES's BulkEmailStatus.
type BulkStatus string

// BulkEmailStatus values Petrel answers (SES also has
// INVALID_SENDING_POOL_NAME, which Petrel, without sending pools, never
// answers).
const (
	BulkSuccess              BulkStatus = "SUCCESS"
	BulkMessageRejected      BulkStatus = "MESSAGE_REJECTED"
	BulkMailFromNotVerified  BulkStatus = "MAIL_FROM_DOMAIN_NOT_VERIFIED"
	BulkConfigSetNotFound    BulkStatus = "CONFIGURATION_SET_NOT_FOUND"
	BulkTemplateNotFound     BulkStatus = "TEMPLATE_NOT_FOUND"
	BulkAccountSuspended     BulkStatus = "ACCOUNT_SUSPENDED"
	BulkAccountThrottled     BulkStatus = "ACCOUNT_THROTTLED"
	BulkDailyQuotaExceeded   BulkStatus = "ACCOUNT_DAILY_QUOTA_EXCEEDED"
	BulkAccountSendingPaused BulkStatus = "ACCOUNT_SENDING_PAUSED"
	BulkConfigSetPaused      BulkStatus = "CONFIGURATION_SET_SENDING_PAUSED"
	BulkInvalidParameter     BulkStatus = "INVALID_PARAMETER"
	BulkTransientFailure     BulkStatus = "TRANSIENT_FAILURE"
	BulkFailed               BulkStatus = "FAILED"
)

// BulkResult is SES's BulkEmailEntryResult: MessageID is set when Status
// is SUCCESS, Error otherwise.
type BulkResult struct {
	Status    BulkStatus
	Error     string
	MessageID string
}

// SendBulk accepts one message per entry of r, rendered from r.Template
// with the entry's data, and returns one result per entry, in order. Each
// accepted entry is a message of its own (its message ID, Send event,
// queue entries, quota admission, suppression check: Send's steps 1-7),
// and all of them are stored in ONE group-committed transaction (steps
// 8-9 once per call), so a call of 50 entries costs one commit.
//
// What fails the whole call, as SendEmail's error, and stores nothing:
// ErrSendingPaused; the template not found (*TemplateNotFoundError) or
// its default TemplateData not a JSON object (*ContentError); a failure
// of the store (*StorageError) or of ctx; and the first entry's failure
// when it does not depend on the entry: an unverified sender identity
// (*UnverifiedError naming a sender), *MailFromNotVerifiedError,
// *ConfigSetNotFoundError, *ConfigSetPausedError, *EnforcementPausedError,
// *NotAuthorizedError, *InvalidARNError. Every other failure is the
// entry's status (BulkStatusOf), and the other entries are still sent: an
// entry over the sending quota (ACCOUNT_THROTTLED,
// ACCOUNT_DAILY_QUOTA_EXCEEDED), with an unverified recipient in the
// sandbox (MESSAGE_REJECTED), with replacement data that is not a JSON
// object (INVALID_PARAMETER). A template that cannot be rendered with an
// entry's data is SUCCESS, as in SES: the message is accepted and its
// Rendering Failure event recorded. A suppressed recipient is SUCCESS
// with a Bounce event, as for SendEmail.
func (s *Sender) SendBulk(ctx context.Context, r BulkRequest) ([]BulkResult, error) {
	acct, err := s.accounts.Cached(ctx, r.Account)
	if err != nil {
		return nil, &StorageError{err}
	}
	if !acct.SendingEnabled {
		return nil, ErrSendingPaused
	}
	rt, err := s.resolveTemplate(ctx, acct, &r.Template)
	if err != nil {
		return nil, err
	}
	defaultData := r.Template.Data
	if defaultData == "" {
		defaultData = "{}"
	}
	var dataErr *template.DataError
	if _, err := template.Render(rt.name, template.Content{}, defaultData); errors.As(err, &dataErr) {
		return nil, &ContentError{Msg: "DefaultContent.Template.TemplateData: " + dataErr.Msg}
	}
	results := make([]BulkResult, len(r.Entries))
	ps := make([]*prepared, 0, len(r.Entries))
	index := make([]int, 0, len(r.Entries)) // the entry of each of ps
	release := func() {
		for _, p := range ps {
			p.admitted.Release()
		}
	}
	for i, e := range r.Entries {
		if err := ctx.Err(); err != nil {
			release()
			return nil, err
		}
		req := Request{Account: r.Account, Caller: r.Caller, SourceIP: r.SourceIP, Operation: "SendBulkEmail", Source: r.From,
			Tags: mergePairs(r.DefaultTags, e.Tags, false), ConfigSet: r.ConfigSet,
			FromArn: r.FromArn, FeedbackArn: r.FeedbackArn, FeedbackAddress: r.FeedbackAddress}
		req.Recipients = append(append(append(req.Recipients, e.To...), e.Cc...), e.Bcc...)
		data := e.Data
		if emptyObject(data) {
			data = defaultData
		}
		req.Content = &Content{From: r.From, To: e.To, Cc: e.Cc, ReplyTo: r.ReplyTo, Template: &Template{resolved: &rt, Data: data,
			Headers: mergePairs(r.Template.Headers, e.Headers, true), Attachments: r.Template.Attachments}}
		p, err := s.prepare(ctx, req)
		if err != nil {
			if i == 0 && callLevel(err) {
				return nil, err
			}
			status := BulkStatusOf(err)
			if status == BulkFailed && ctx.Err() != nil {
				release()
				return nil, ctx.Err()
			}
			results[i] = BulkResult{Status: status, Error: err.Error()}
			continue
		}
		ps = append(ps, p)
		index = append(index, i)
	}
	if len(ps) > 0 {
		if err := ctx.Err(); err != nil {
			release()
			return nil, err
		}
		if err := s.commit(ctx, ps); err != nil {
			return nil, err
		}
	}
	for k, p := range ps {
		results[index[k]] = BulkResult{Status: BulkSuccess, MessageID: p.id}
	}
	return results, nil
}

// callLevel reports whether err, an entry's failure, would be every
// entry's: it does not depend on the entry's destination or data.
func callLevel(err error) bool {
	var unv *UnverifiedError
	var mf *MailFromNotVerifiedError
	var noSet *ConfigSetNotFoundError
	var pausedSet *ConfigSetPausedError
	var enforced *EnforcementPausedError
	var denied *NotAuthorizedError
	var badARN *InvalidARNError
	switch {
	case errors.As(err, &unv):
		return !unv.recipientsOnly
	case errors.Is(err, ErrSendingPaused), errors.As(err, &mf), errors.As(err, &noSet), errors.As(err, &pausedSet),
		errors.As(err, &enforced), errors.As(err, &denied), errors.As(err, &badARN):
		return true
	}
	return false
}

// BulkStatusOf is the BulkEmailStatus of an entry Send's steps refused
// with err (a nil err is SUCCESS; an unknown error FAILED).
func BulkStatusOf(err error) BulkStatus {
	var unv *UnverifiedError
	var rej *RejectedError
	var large *TooLargeError
	var many *TooManyRecipientsError
	var mf *MailFromNotVerifiedError
	var noSet *ConfigSetNotFoundError
	var pausedSet *ConfigSetPausedError
	var enforced *EnforcementPausedError
	var throttled *ThrottledError
	var content *ContentError
	var noTemplate *TemplateNotFoundError
	var denied *NotAuthorizedError
	var badARN *InvalidARNError
	var st *StorageError
	var internal *InternalError
	var noList *ListNotFoundError
	switch {
	case err == nil:
		return BulkSuccess
	case errors.As(err, &throttled) && throttled.Daily:
		return BulkDailyQuotaExceeded
	case errors.As(err, &throttled):
		return BulkAccountThrottled
	case errors.As(err, &unv), errors.As(err, &rej), errors.As(err, &large), errors.As(err, &denied):
		return BulkMessageRejected
	case errors.As(err, &many), errors.Is(err, ErrNoRecipients), errors.As(err, &content), errors.As(err, &badARN), errors.As(err, &noList):
		return BulkInvalidParameter
	case errors.As(err, &mf):
		return BulkMailFromNotVerified
	case errors.As(err, &noSet):
		return BulkConfigSetNotFound
	case errors.As(err, &pausedSet):
		return BulkConfigSetPaused
	case errors.As(err, &enforced) && enforced.ConfigurationSet != "":
		return BulkConfigSetPaused
	case errors.As(err, &enforced):
		return BulkAccountSuspended
	case errors.Is(err, ErrSendingPaused):
		return BulkAccountSendingPaused
	case errors.As(err, &noTemplate):
		return BulkTemplateNotFound
	case errors.As(err, &st), errors.As(err, &internal):
		return BulkTransientFailure
	}
	return BulkFailed
}

// emptyObject reports whether data is "" or an empty JSON object.
func emptyObject(data string) bool {
	if data == "" {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(data), &m) == nil && m != nil && len(m) == 0
}

// mergePairs is base with over applied: a pair of over replaces base's
// pairs of the same name (foldCase: compared case-insensitively, as header
// field names are), the others are added after base's.
func mergePairs(base, over [][2]string, foldCase bool) [][2]string {
	if len(over) == 0 {
		return base
	}
	same := func(a, b string) bool {
		if foldCase {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	out := make([][2]string, 0, len(base)+len(over))
	for _, b := range base {
		replaced := false
		for _, o := range over {
			replaced = replaced || same(b[0], o[0])
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return append(out, over...)
}
