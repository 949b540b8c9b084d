package sending

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/template"
)

// BulkRequest is SESv2 SendBulkEmail (../shared/spec/ses.md §1.4): one
// template sent to up to 50 destinations, each its own message.
type BulkRequest struct {
	Account  string
	Caller   string // access key id, for mail.callerIdentity
	SourceIP string
	// Operation is the ses:operation tag (Request.Operation); "" is
	// "SendBulkEmail" (v1's SendBulkTemplatedEmail names its own).
	Operation string
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

// BulkEmailStatus values Petrel answers. SES also has
// INVALID_SENDING_POOL_NAME, which Petrel, without sending pools, never
// answers, and TEMPLATE_NOT_FOUND and ACCOUNT_SENDING_PAUSED, which
// Petrel answers for the whole call (SendBulk's errors), as they never
// depend on an entry.
const (
	BulkSuccess             BulkStatus = "SUCCESS"
	BulkMessageRejected     BulkStatus = "MESSAGE_REJECTED"
	BulkMailFromNotVerified BulkStatus = "MAIL_FROM_DOMAIN_NOT_VERIFIED"
	BulkConfigSetNotFound   BulkStatus = "CONFIGURATION_SET_NOT_FOUND"
	BulkAccountSuspended    BulkStatus = "ACCOUNT_SUSPENDED"
	BulkAccountThrottled    BulkStatus = "ACCOUNT_THROTTLED"
	BulkDailyQuotaExceeded  BulkStatus = "ACCOUNT_DAILY_QUOTA_EXCEEDED"
	BulkConfigSetPaused     BulkStatus = "CONFIGURATION_SET_SENDING_PAUSED"
	BulkInvalidParameter    BulkStatus = "INVALID_PARAMETER"
	BulkTransientFailure    BulkStatus = "TRANSIENT_FAILURE"
	BulkFailed              BulkStatus = "FAILED"
)

// BulkResult is SES's BulkEmailEntryResult: MessageID is set when Status
// is SUCCESS, Error otherwise.
type BulkResult struct {
	Status    BulkStatus
	Error     string
	MessageID string
}

// MaxBulkEntries is the most BulkEmailEntries a SendBulk call may have
// (SES: 50).
const MaxBulkEntries = 50

// MaxBulkBytes is the most bytes of prepared messages one SendBulk call
// holds in memory and writes in its one transaction: 60 MiB, one largest
// message (Config.MaxSize, 40 MB) with room to spare, or 50 messages of
// 1.2 MiB. An entry whose message would take the call past it is
// MESSAGE_REJECTED (the call is too large: send the entry in another
// call); admission.HolderFloor is as large, so a call alone can always
// reach it.
const MaxBulkBytes = 60 << 20

// Budget is the shared memory budget for message bodies
// (admission.Budget): the API charges request bodies to it per account,
// SendBulk its prepared messages.
type Budget interface {
	// TryAcquireFor takes n bytes on behalf of holder, or nothing and
	// false when they do not fit (the holder's share or the whole budget).
	TryAcquireFor(holder string, n int64) bool
	// ReleaseFor gives back n bytes taken with TryAcquireFor(holder, n).
	ReleaseFor(holder string, n int64)
}

// bulkHolder is the Budget holder SendBulk charges account's prepared
// messages to: a share of its own, beside the one the same call's request
// body is charged to (the account's), so that a call whose request body
// fills the account's share can still prepare its messages.
func bulkHolder(account string) string { return "bulk " + account }

// Entry statuses' texts for the memory limits.
const errBulkBudget = "Too many large messages are being prepared at once; retry this entry later."

func errBulkTooLarge(max int64) string {
	return fmt.Sprintf("The messages of this call would exceed %d bytes together (SendBulkEmail's limit per call); "+
		"send this entry in another call.", max)
}

// SendBulk accepts one message per entry of r, rendered from r.Template
// with the entry's data, and returns one result per entry, in order. Each
// accepted entry is a message of its own (its message ID, Send event,
// queue entries, quota admission, suppression check: Send's steps 1-7),
// and all of them are stored in ONE group-committed transaction (steps
// 8-9 once per call), so a call of 50 entries costs one commit.
//
// The steps:
//  1. the call's shapes (1 to MaxBulkEntries entries, tags, header fields,
//     configuration set name; *ContentError);
//  2. the account may send (ErrSendingPaused), the template is found
//     (*TemplateNotFoundError) and, inline, valid, its default
//     TemplateData a JSON object (*ContentError);
//  3. once, the checks that do not depend on an entry, each failing the
//     whole call with Send's error: FromEmailAddress (*ContentError), the
//     sender identities verified or authorised (*UnverifiedError,
//     *NotAuthorizedError, *InvalidARNError; a policy's conditions on the
//     recipients are checked per entry), the custom MAIL FROM
//     (*MailFromNotVerifiedError), the configuration set
//     (*ConfigSetNotFoundError, *ConfigSetPausedError) and reputation
//     enforcement (*EnforcementPausedError). The same request gets the same
//     answer whatever the order of its entries;
//  4. each entry is prepared as Send prepares a message; a failure is the
//     entry's status (BulkStatusOf) and the other entries are still sent:
//     over the sending quota (ACCOUNT_THROTTLED,
//     ACCOUNT_DAILY_QUOTA_EXCEEDED), an unverified recipient in the sandbox
//     (MESSAGE_REJECTED), replacement data that is not a JSON object
//     (INVALID_PARAMETER), and a check of step 3 that an entry's own
//     ReplacementHeaders make fail (an X-SES-CONFIGURATION-SET field, a
//     Sender field). A template that cannot be rendered with an entry's
//     data is SUCCESS, as in SES: the message is accepted and its
//     Rendering Failure event recorded. A suppressed recipient is SUCCESS
//     with a Bounce event, as for SendEmail;
//  5. each prepared message is charged to the memory budget (Sender.Budget)
//     and to the call's MaxBulkBytes: an entry past MaxBulkBytes is
//     MESSAGE_REJECTED (send it in another call; one whose attachments
//     alone would pass it is refused before it is built), an entry the
//     budget has no room for TRANSIENT_FAILURE (retry it later); its quota
//     admission is released;
//  6. all prepared messages are stored in one transaction (a failure of
//     the store is *StorageError: nothing is stored). The budget is given
//     back on every path once the call ends.
//
// ctx's error fails the call and stores nothing.
func (s *Sender) SendBulk(ctx context.Context, r BulkRequest) ([]BulkResult, error) {
	r.From = strings.TrimSpace(r.From)
	r.Operation = cmp.Or(r.Operation, "SendBulkEmail")
	if err := r.check(); err != nil {
		return nil, err
	}
	acct, err := s.accounts.Cached(ctx, r.Account)
	if err != nil {
		return nil, &StorageError{err}
	}
	if !acct.SendingEnabled {
		return nil, ErrSendingPaused
	}
	r.Template.field = "DefaultContent.Template."
	rt, err := s.resolveTemplate(ctx, acct, &r.Template)
	if err != nil {
		return nil, err
	}
	defaultData := r.Template.Data
	if emptyData(defaultData) {
		defaultData = "{}"
	}
	var dataErr *template.DataError
	if _, err := template.Render(rt.name, template.Content{}, defaultData); errors.As(err, &dataErr) {
		return nil, &ContentError{Msg: "DefaultContent.Template.TemplateData: " + dataErr.Msg}
	}
	if err := s.bulkCallChecks(ctx, acct, r); err != nil {
		return nil, err
	}
	var attached int64 // the least each message takes: its attachments
	for _, a := range r.Template.Attachments {
		attached += int64(len(a.Content))
	}
	maxBytes := cmp.Or(s.maxBulkBytes, MaxBulkBytes)
	holder := bulkHolder(r.Account)
	var held int64 // prepared bytes charged to the budget
	defer func() {
		if s.Budget != nil {
			s.Budget.ReleaseFor(holder, held)
		}
	}()
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
		if held+attached > maxBytes {
			results[i] = BulkResult{Status: BulkMessageRejected, Error: errBulkTooLarge(maxBytes)}
			continue
		}
		req := Request{Account: r.Account, Caller: r.Caller, SourceIP: r.SourceIP, Operation: r.Operation, Source: r.From,
			Tags: mergePairs(r.DefaultTags, e.Tags, false), ConfigSet: r.ConfigSet,
			FromArn: r.FromArn, FeedbackArn: r.FeedbackArn, FeedbackAddress: r.FeedbackAddress}
		req.Recipients = append(append(append(req.Recipients, e.To...), e.Cc...), e.Bcc...)
		data := e.Data
		if emptyData(data) {
			data = defaultData
		}
		// Rendering stops once the output would not fit in what is left
		// of the call's limit: an entry refused for it costs no more work
		// than that room.
		room := int(min(maxBytes-held-attached, int64(template.MaxRenderedSize)))
		req.Content = &Content{From: r.From, To: e.To, Cc: e.Cc, ReplyTo: r.ReplyTo, Template: &Template{resolved: &rt, Data: data,
			Headers: mergePairs(r.Template.Headers, e.Headers, true), Attachments: r.Template.Attachments, room: max(room, 1), callMax: maxBytes}}
		p, err := s.prepare(ctx, req)
		if err != nil {
			status := BulkStatusOf(err)
			if status == BulkFailed && ctx.Err() != nil {
				release()
				return nil, ctx.Err()
			}
			results[i] = BulkResult{Status: status, Error: err.Error()}
			continue
		}
		n := int64(len(p.msg.Body))
		switch {
		case held+n > maxBytes:
			p.admitted.Release()
			results[i] = BulkResult{Status: BulkMessageRejected, Error: errBulkTooLarge(maxBytes)}
			continue
		case s.Budget != nil && !s.Budget.TryAcquireFor(holder, n):
			p.admitted.Release()
			results[i] = BulkResult{Status: BulkTransientFailure, Error: errBulkBudget}
			continue
		}
		held += n
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

// check applies SendBulk's rules to r's shapes (step 1). Errors:
// *ContentError.
func (r *BulkRequest) check() error {
	if n := len(r.Entries); n == 0 || n > MaxBulkEntries {
		return contentErrorf("BulkEmailEntries must contain 1 to %d entries.", MaxBulkEntries)
	}
	if err := CheckTags("DefaultEmailTags", r.DefaultTags); err != nil {
		return err
	}
	if err := CheckConfigSetName(r.ConfigSet); err != nil {
		return err
	}
	for i, e := range r.Entries {
		field := "BulkEmailEntries[" + strconv.Itoa(i) + "]."
		if err := CheckTags(field+"ReplacementTags", e.Tags); err != nil {
			return err
		}
		if err := CheckHeaders(field+"ReplacementHeaders", e.Headers); err != nil {
			return err
		}
	}
	return nil
}

// bulkCallChecks runs SendBulk's step 3: the checks of Send that do not
// depend on an entry, once per call.
func (s *Sender) bulkCallChecks(ctx context.Context, acct account.Account, r BulkRequest) error {
	if r.From == "" {
		return contentErrorf("FromEmailAddress is required when sending Template content.")
	}
	from, err := address.Parse(r.From)
	if err != nil {
		return contentErrorf("FromEmailAddress: %v.", err)
	}
	req := Request{Account: r.Account, Operation: r.Operation, ConfigSet: r.ConfigSet,
		FromArn: r.FromArn, FeedbackArn: r.FeedbackArn, FeedbackAddress: r.FeedbackAddress}
	src, err := s.authorize(ctx, acct, req, messageARNs(req, &message.Message{}), from, from, nil)
	var denied *NotAuthorizedError
	switch {
	case errors.As(err, &denied):
		// A policy may name the recipients (ses:Recipients): decided per
		// entry.
		src.mailFromOwner = ""
	case err != nil:
		return err
	}
	rpOwner := src.mailFromOwner
	if rpOwner == "" {
		rpOwner = r.Account
	}
	if _, err := s.returnPathDomain(ctx, rpOwner, from); err != nil {
		return err
	}
	set, err := s.configSet(ctx, req, &message.Prepared{}, from)
	if err != nil {
		return err
	}
	return s.enforced(ctx, r.Account, set.Name)
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
	case errors.As(err, &many), errors.As(err, &content), errors.As(err, &badARN), errors.As(err, &noList):
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
	case errors.As(err, &st), errors.As(err, &internal):
		return BulkTransientFailure
	}
	return BulkFailed
}

// emptyData reports whether TemplateData (or an entry's
// ReplacementTemplateData) holds no data: "", white space only, or an
// empty JSON object. The one rule for both: such data renders as {} in
// Send, and an entry's means "the default TemplateData" in SendBulk.
func emptyData(data string) bool {
	const ws = " \t\r\n" // JSON's white space (RFC 8259 §2)
	data = strings.Trim(data, ws)
	return data == "" || len(data) >= 2 && data[0] == '{' && data[len(data)-1] == '}' && strings.Trim(data[1:len(data)-1], ws) == ""
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
