// Package sending is the accept path shared by the SESv2 API and SMTP
// submission. Given an authenticated account and a message, Send:
//
//  1. checks the account may send, and has room in its sending quota
//     (quota.Quota.Check; *ThrottledError otherwise, before the message is
//     read);
//  2. checks every sender identity (From, Sender and Return-Path headers,
//     envelope MAIL FROM) is a verified identity of the account, or one whose
//     owner's policies let the account use it (sending authorisation,
//     delegate.go) (SES: MessageRejected otherwise);
//  3. checks the recipients (1 to 50, valid syntax) and, for an account in
//     the sandbox, that each is covered by a verified identity of the
//     account or is a mailbox simulator address (SES §8.5: MessageRejected
//     listing the others with any unverified sender); then picks the
//     return-path domain: the envelope sender's identity's custom MAIL FROM
//     domain once verified, else the default, or a refusal under
//     REJECT_MESSAGE (mailfrom.go, *MailFromNotVerifiedError);
//  4. builds the message when it comes as Simple or Template content
//     (content.go: SES's rules for both; a template is rendered here, and
//     one that cannot be rendered is accepted but only recorded, with a
//     Rendering Failure event, never queued); parses the message, rejects
//     duplicate singleton headers, and prepares
//     it as SES does (X-SES-* read and stripped, Message-ID and Date set),
//     adding the signed X-Petrel-Feedback token that ties reports sent to
//     the feedback mailboxes to it;
//  5. resolves the message's configuration set: the API's
//     ConfigurationSetName, else the X-SES-CONFIGURATION-SET header field,
//     else the default set of the identity that authorised From. A named
//     set the account does not have is refused (*ConfigSetNotFoundError),
//     one whose sending is paused too (*ConfigSetPausedError), and so is
//     an account or set that reputation enforcement paused
//     (*EnforcementPausedError, Sender.Enforcement); a set's MaxDeliverySeconds replaces the
//     deployment's delivery deadline and its TlsPolicy REQUIRE is copied onto
//     every queue entry (../shared/spec/ses.md §1.8, §7);
//  6. DKIM-signs it with the From domain's key, when it has one (a key that
//     cannot be loaded or cannot sign is Petrel's failure, not the
//     message's: *InternalError, which the edges answer as temporary);
//  7. checks the recipients against the suppression lists
//     (suppression.List.Check): a suppressed recipient gets no queue entry
//     but a Bounce event (Permanent / OnAccountSuppressionList or
//     Suppressed), and the call still succeeds (SES §6.1) — so does a
//     recipient who unsubscribed from the contact list the message is sent
//     for (list management, listmgmt.go); then admits the
//     recipients sent against the quota (quota.Quota.Admit: all against
//     the rate, all but simulator addresses against the 24-hour quota), or
//     refuses the message (*ThrottledError);
//  8. stores body, one queue entry per other recipient, the Send event and
//     the suppressed recipients' Bounce events in one group-committed
//     transaction, with the quota's usage (quota.Quota.RecordTx), and
//     returns only when it is on disk (when it is not stored, the quota
//     admission is released);
//  9. hands the new queue entries, with the body, to the delivery workers in
//     memory, so the first attempt starts at once and reads nothing back
//     (when the workers are backlogged the entries are stored unleased and
//     the queue poller takes them in turn).
//
// Steps 1-7 are prepare (no writes), steps 8-9 commit. SendBulk (bulk.go,
// SESv2 SendBulkEmail) prepares one message per entry and commits all of
// a call's messages in one group-committed transaction.
package sending

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// Config holds the accept path's settings.
type Config struct {
	// MessageIDDomain is the right-hand side of the Message-ID header
	// field Petrel writes, <messageID@MessageIDDomain> (RFC 5322 §3.6.4).
	MessageIDDomain string
	Region          string        // for ARNs and error texts
	NodeID          string        // lease owner of new queue entries
	MaxDelivery     time.Duration // delivery deadline after acceptance
	MaxRecipients   int           // per message (SES: 50)
	MaxSize         int           // bytes (SES v2/SMTP: 40 MB)
	LeaseFor        time.Duration // lease on entries handed straight to delivery
	// Feedback returns the header field {name, value} added to every
	// message that ties a complaint or bounce sent to a feedback mailbox to
	// it (the signed X-Petrel-Feedback token, bounce.FeedbackToken; wired by
	// daemon); nil adds none.
	Feedback func(messageID string) [2]string
}

// Sender accepts messages.
type Sender struct {
	cfg        Config
	accounts   *account.Service
	identities *identity.Service
	configsets *configset.Service
	queue      *queue.Queue
	spool      *spool.Spool
	events     *event.Log
	batch      *store.Batcher

	// Delivery takes freshly stored entries in memory. Wired by daemon; when
	// nil, entries are stored unleased for any node's poller.
	Delivery Handoff
	// Suppression is checked before storing (suppression.List.Check);
	// wired by daemon; nil: no recipient is suppressed.
	Suppression *suppression.List
	// Quota enforces the accounts' sending quotas (package quota); wired by
	// daemon; nil: no quota is enforced (the sandbox's recipient rule
	// still is).
	Quota *quota.Quota
	// Templates holds the accounts' email templates for Template content
	// (content.go); wired by daemon; nil: every TemplateName and
	// TemplateArn is not found.
	Templates *template.Service
	// Enforcement refuses the mail of an account or configuration set
	// whose sending reputation enforcement paused (package reputation);
	// wired by daemon; nil: none is.
	Enforcement Enforcement
	// Lists enables list management (listmgmt.go); wired by daemon; nil:
	// a message sent with list management is refused (*ListNotFoundError).
	Lists *Lists
	// Budget is the memory budget SendBulk charges its prepared messages
	// to (bulk.go); wired by daemon with the API's and SMTP's; nil: none.
	Budget Budget

	maxBulkBytes int64 // MaxBulkBytes, lowered by tests
}

// Enforcement tells whether reputation enforcement paused an account's
// sending (set "") or one of its configuration sets'.
type Enforcement interface {
	Paused(ctx context.Context, account, set string) (bool, error)
}

// Handoff is the delivery side of acceptance (package delivery).
type Handoff interface {
	// Room reports whether n more entries can be taken in memory now; when
	// not, they are stored unleased and the queue poller takes them later.
	Room(n int) bool
	// Handoff takes entries stored leased to this node; false means they
	// could not be taken, and their leases are released.
	Handoff([]*queue.Entry) bool
	// Kick tells the queue poller there is work in the database.
	Kick()
}

// New returns a Sender. configsets resolves the configuration sets
// messages name.
func New(cfg Config, accounts *account.Service, identities *identity.Service, configsets *configset.Service, q *queue.Queue,
	sp *spool.Spool, events *event.Log, batch *store.Batcher) *Sender {
	return &Sender{cfg: cfg, accounts: accounts, identities: identities, configsets: configsets, queue: q, spool: sp, events: events, batch: batch,
		maxBulkBytes: MaxBulkBytes}
}

// Request is one message to accept.
type Request struct {
	Account   string
	Caller    string // access key id, for mail.callerIdentity
	SourceIP  string
	Operation string           // "SendEmail", "SendRawEmail" (SMTP) — the ses:operation tag
	MailFrom  *address.Address // envelope sender given by the client (SMTP MAIL FROM, API FromEmailAddress of Raw content); nil: the From header's address
	// Source is mail.source as SES reports it: the API's FromEmailAddress as
	// the caller wrote it, display name included ("Sender Name
	// <sender@example.com>", ../shared/spec/ses.md §4.2); "" reports the
	// envelope sender's address (SMTP MAIL FROM, or From for Raw content
	// sent without FromEmailAddress).
	Source     string
	Recipients []address.Address // envelope recipients
	Raw        []byte            // the message; line endings are normalised here
	Tags       [][2]string       // API EmailTags; when set, X-SES-MESSAGE-TAGS is ignored (SES: no merge)
	ConfigSet  string            // API ConfigurationSetName; overrides X-SES-CONFIGURATION-SET
	// FromArn and FeedbackArn are the API's FromEmailAddressIdentityArn and
	// FeedbackForwardingEmailAddressIdentityArn, FeedbackAddress its
	// FeedbackForwardingEmailAddress (v1 ReturnPath; nil: none): sending
	// authorisation, delegate.go. FromArn overrides the X-SES-SOURCE-ARN and
	// X-SES-FROM-ARN header fields, FeedbackArn X-SES-RETURN-PATH-ARN.
	// FeedbackAddress must be covered by a verified identity of the account
	// (or, under FeedbackArn, the owner's), as the From address
	// (*UnverifiedError), and is recorded with the message: feedback
	// forwarding emails the message's bounces and complaints to it
	// (spool.Message.FeedbackAddress, publish.FeedbackAddress).
	FromArn, FeedbackArn string
	FeedbackAddress      *address.Address
	// ListManagement is the API's ListManagementOptions (nil: none); it
	// overrides the X-SES-LIST-MANAGEMENT-OPTIONS header field (listmgmt.go).
	ListManagement *ListManagement

	// Content, when set, is the message to build instead of Raw (Simple
	// or Template content, content.go); MailFrom is then nil and Source
	// the From address.
	Content *Content

	// RawScratch gives Raw up to Send, which then builds the prepared
	// message in Raw's backing array (up to its capacity) instead of a
	// copy (message.Message.Scratch): set when Raw is a buffer nothing else
	// reads, such as a request body.
	RawScratch bool
}

// Errors the edges translate to SES's replies.
var (
	ErrSendingPaused = errors.New("sending paused for this account")
	ErrNoRecipients  = errors.New("message has no recipients")
)

// UnverifiedError lists sender identities that are not verified.
type UnverifiedError struct {
	Identities []string
	Region     string

	recipientsOnly bool // every sender identity passed: only sandbox recipients failed
}

func (e *UnverifiedError) Error() string {
	return "Email address is not verified. The following identities failed the check in region " +
		strings.ToUpper(e.Region) + ": " + strings.Join(e.Identities, ", ")
}

// ThrottledError is a message over the account's sending quota: its
// sending rate, or (Daily) its 24-hour quota (SES: TooManyRequestsException
// "Maximum sending rate exceeded." / "Daily message quota exceeded.", SMTP
// 454 4.7.0 Throttling failure; ../shared/spec/ses.md §1.14, §3.4). The
// client may retry later; nothing was stored and no quota consumed.
type ThrottledError struct{ Daily bool }

func (e *ThrottledError) Error() string {
	if e.Daily {
		return "Daily message quota exceeded."
	}
	return "Maximum sending rate exceeded."
}

// throttled maps a quota refusal to *ThrottledError, and a store failure
// to *StorageError.
func throttled(err error) error {
	switch {
	case errors.Is(err, quota.ErrDaily):
		return &ThrottledError{Daily: true}
	case errors.Is(err, quota.ErrRate):
		return &ThrottledError{}
	}
	return &StorageError{err}
}

// RejectedError is content SES refuses (MessageRejected / 554 Transaction failed).
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return e.Reason }

// TooLargeError reports a message over the size limit (SES: "Message is too long.").
type TooLargeError struct{ Size, Max int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("Message length is more than %d bytes long: '%d'.", e.Max, e.Size)
}

// TooManyRecipientsError reports more recipients than allowed.
type TooManyRecipientsError struct{ Max int }

func (e *TooManyRecipientsError) Error() string {
	return fmt.Sprintf("Recipient count exceeds %d.", e.Max)
}

// StorageError wraps a failure of the store (reading an account's or
// identity's state, or storing the message); nothing of the message is
// kept and the client should retry (API 503 ServiceUnavailable, SMTP 451).
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storing message: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// ConfigSetNotFoundError reports a configuration set the sending account
// does not have (SES: NotFoundException "Configuration set <name> does not
// exist."). Name is the set as the message named it; another account's set
// of that name is not found either.
type ConfigSetNotFoundError struct{ Name string }

func (e *ConfigSetNotFoundError) Error() string {
	return "Configuration set " + e.Name + " does not exist."
}

// ConfigSetPausedError reports a configuration set whose sending is
// disabled (SES: SendingOptions.SendingEnabled false; the API answers
// SendingPausedException).
type ConfigSetPausedError struct{ Name string }

func (e *ConfigSetPausedError) Error() string {
	return "Sending is currently paused for configuration set " + e.Name + "."
}

// EnforcementPausedError reports sending paused by reputation enforcement
// (EnforcementStatus SHUTDOWN, ../shared/spec/ses.md §8.3): of the account
// when ConfigurationSet is "", else of that configuration set. Only the
// operator lifts it; the tenant's own sending switch does not.
type EnforcementPausedError struct{ ConfigurationSet string }

func (e *EnforcementPausedError) Error() string {
	if e.ConfigurationSet != "" {
		return "Sending paused for configuration set " + e.ConfigurationSet + "."
	}
	return "Sending paused for this account."
}

// InternalError is Petrel's own failure to prepare an acceptable message:
// the DKIM key of Identity cannot be loaded or cannot sign, or the event's
// mail object cannot be encoded. Nothing is kept; the message is not at
// fault, so the edges answer as temporary (API 500 InternalFailure, SMTP
// 451 4.3.0) and log it at Error with the identity for the operator.
type InternalError struct {
	Op       string // what failed: "loading DKIM key", "DKIM signing", "encoding mail object"
	Identity string // the identity concerned (the signing domain, or the From address)
	Err      error
}

func (e *InternalError) Error() string { return e.Op + " for " + e.Identity + ": " + e.Err.Error() }
func (e *InternalError) Unwrap() error { return e.Err }

// Send accepts a message and returns its SES message ID once it is durable.
// Errors: ErrSendingPaused, ErrNoRecipients, *UnverifiedError,
// *RejectedError, *TooLargeError, *TooManyRecipientsError,
// *ConfigSetNotFoundError, *ConfigSetPausedError, *EnforcementPausedError,
// *ListNotFoundError (list management, listmgmt.go), *MailFromNotVerifiedError (the message's or account's fault: permanent), *ThrottledError (over the
// quota: retry later), *StorageError and *InternalError (Petrel's:
// temporary), or ctx's error when ctx ended before the message
// was handed to the store. In every error case nothing was stored; once
// handed to the store, Send waits for the commit whatever ctx does, so a
// message is never stored but reported failed for a cancelled ctx.
//
// Send is prepare (steps 1-7) then commit (steps 8-9) of one message;
// SendBulk prepares many and commits them together.
func (s *Sender) Send(ctx context.Context, req Request) (string, error) {
	if err := req.check(); err != nil {
		return "", err
	}
	p, err := s.prepare(ctx, req)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		p.admitted.Release()
		return "", err
	}
	if err := s.commit(ctx, []*prepared{p}); err != nil {
		return "", err
	}
	return p.id, nil
}

// check applies the rules on the caller's own fields, the same for
// SendEmail and SendBulkEmail (SendBulk checks them once per call):
// EmailTags and the ConfigurationSetName's syntax; Source and Content's
// From (FromEmailAddress) are trimmed of surrounding white space. Errors:
// *ContentError.
func (req *Request) check() error {
	req.Source = strings.TrimSpace(req.Source)
	if req.Content != nil {
		req.Content.From = strings.TrimSpace(req.Content.From)
	}
	if err := CheckTags("EmailTags", req.Tags); err != nil {
		return err
	}
	return CheckConfigSetName(req.ConfigSet)
}

// prepared is one message ready to store: everything the accept path
// checks and computes before the store (steps 1-7), with its quota
// admission held until commit records or releases it.
type prepared struct {
	id       string
	account  string
	now      time.Time
	msg      *spool.Message
	entries  []*queue.Entry   // one per recipient sent to; none: the body is released at once
	admitted *quota.Admission // nil: nothing admitted (no quota, or unlimited)
	send     event.SendDetail // its Send event, stored first
	events   []pendingEvent   // its other events, in the order stored
	lists    *listPlan        // list management (listmgmt.go); nil: none
}

// pendingEvent is an event of a prepared message: its recipient ("" for
// the whole message) and per-type object.
type pendingEvent struct {
	rcpt   string
	detail event.Detail
}

// prepare runs steps 1-7 of Send for req: every check, the prepared and
// signed body, its queue entries and events, and its quota admission
// (released again on every error). It reads only cached state and the
// suppression lists, and writes nothing. Errors: Send's, but not ctx's.
func (s *Sender) prepare(ctx context.Context, req Request) (*prepared, error) {
	acct, err := s.accounts.Cached(ctx, req.Account)
	if err != nil {
		return nil, &StorageError{err}
	}
	var renderFailure *template.RenderError // the template could not be rendered: accepted, not sent
	if req.Content != nil {
		if req.Raw, renderFailure, err = s.build(ctx, acct, req.Content, len(req.Recipients)); err != nil {
			return nil, err
		}
		req.RawScratch = true
	}
	if !acct.SendingEnabled {
		return nil, ErrSendingPaused
	}
	limits := quota.Limits{Account: acct.Name, Max24HourSend: acct.Max24HourSend, MaxSendRate: acct.MaxSendRate}
	if s.Quota != nil {
		daily := false // whether a recipient may count towards the 24-hour quota
		for _, r := range req.Recipients {
			daily = daily || !simulator.Is(r.Domain)
		}
		if err := s.Quota.Check(ctx, limits, daily); err != nil {
			return nil, throttled(err)
		}
	}
	var raw []byte
	if req.RawScratch {
		raw = message.NormalizeLineEndingsInPlace(req.Raw)
	} else {
		raw = message.NormalizeLineEndings(req.Raw)
	}
	if len(raw) > s.cfg.MaxSize {
		return nil, &TooLargeError{Size: len(raw), Max: s.cfg.MaxSize}
	}
	msg, err := message.Parse(raw)
	if err != nil {
		return nil, &RejectedError{"Transaction failed: " + err.Error()}
	}
	msg.Scratch = req.RawScratch
	if err := msg.CheckDuplicates(); err != nil {
		return nil, &RejectedError{"Transaction failed: " + err.Error()}
	}
	if err := msg.CheckEncoding(); err != nil {
		return nil, &RejectedError{"Transaction failed: " + err.Error()}
	}
	from, err := address.Parse(msg.Get("From"))
	if err != nil {
		return nil, &RejectedError{"Illegal address: the From header is missing or invalid."}
	}
	mailFrom := from
	if req.MailFrom != nil {
		mailFrom = *req.MailFrom
	}
	arns := messageARNs(req, msg)
	senders, err := headerSenders(msg, arns)
	if err != nil {
		return nil, err
	}
	src, authErr := s.authorize(ctx, acct, req, arns, from, mailFrom, senders)
	var unverified *UnverifiedError
	if authErr != nil && !errors.As(authErr, &unverified) {
		return nil, authErr
	}
	rcpts, err := s.recipients(req.Recipients)
	if err != nil {
		if authErr != nil {
			return nil, authErr
		}
		return nil, err
	}
	if src.sandboxed {
		acct.ProductionAccessEnabled = false // delegate.go
	}
	facts, err := s.recipientFacts(ctx, acct, rcpts, unverified)
	if err != nil {
		return nil, err
	}
	// The custom MAIL FROM is that of the account owning the identity that
	// authorised the envelope sender: the owner's, for a delegated send.
	rpOwner := src.mailFromOwner
	if rpOwner == "" {
		rpOwner = req.Account
	}
	rpDomain, err := s.returnPathDomain(ctx, rpOwner, mailFrom) // custom MAIL FROM (mailfrom.go)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	id := event.NewID(now)
	var lists *listPlan
	if renderFailure == nil {
		// A message that failed to render is never sent: like the
		// suppression lists, list management is not consulted (no Bounce
		// events, no links), and it is stored with its Send and Rendering
		// Failure events only.
		if lists, err = s.listManagement(ctx, req, msg, rcpts, id, now); err != nil { // listmgmt.go
			return nil, err
		}
	}
	var add [][2]string
	if s.cfg.Feedback != nil {
		add = append(add, s.cfg.Feedback(id))
	}
	add = append(add, lists.headers()...)
	prep, err := message.Prepare(msg, id, s.cfg.MessageIDDomain, now, add...)
	if err != nil {
		return nil, &RejectedError{err.Error()}
	}
	set, err := s.configSet(ctx, req, prep, from)
	if err != nil {
		return nil, err
	}
	if err := s.enforced(ctx, req.Account, set.Name); err != nil {
		return nil, err
	}
	var suppressed []suppression.Suppressed
	if s.Suppression != nil && renderFailure == nil {
		// The configuration set's suppression override, when it has one,
		// decides over the account's policy (SES §6.1).
		if suppressed, err = s.Suppression.Check(ctx, req.Account, set.Suppression, rcpts); err != nil {
			return nil, &StorageError{err}
		}
	}
	suppressed = lists.withUnsubscribed(suppressed)
	for _, sp := range suppressed {
		// Account (or configuration set) list: not sent, does not count
		// (SES §8.1); global list: counts.
		if sp.Bounce.BounceSubType == bounce.OnAccountSuppressionList && facts[sp.Index].Excluded != event.ExcludedSimulator {
			facts[sp.Index].Excluded = event.ExcludedSuppressed
		}
	}
	// Recipients count against the rate, simulator ones included, and
	// against the 24-hour quota all but simulator ones (SES §5, §8.5);
	// account-suppressed ones, never sent, against neither; globally
	// suppressed ones against both (the account tried to mail them).
	sent, counted := 0, 0
	for _, f := range facts {
		if f.Excluded != event.ExcludedSuppressed {
			sent++
		}
		if f.Excluded == "" || f.Excluded == event.ExcludedVerified {
			counted++
		}
	}
	var admitted *quota.Admission
	if s.Quota != nil {
		if admitted, err = s.Quota.Admit(ctx, limits, sent, counted); err != nil {
			return nil, throttled(err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			admitted.Release()
		}
	}()
	switch {
	case renderFailure != nil:
		// Never sent: nothing to sign, and the mail object has no header
		// fields (SES's Rendering Failure events have no "headers" and no
		// "commonHeaders": event.Mail omits nil and zero ones).
		prep.Headers, prep.Common = nil, message.CommonHeaders{}
	case prep.Headers == nil:
		// A first field of 10 KB or more: "headers": [], truncated.
		prep.Headers = []message.Header{}
	}
	// DKIM-sign once, before storing: every recipient and retry sends the
	// same signed bytes (SES signs with the From domain's key).
	if renderFailure == nil {
		sg, err := s.identities.Signer(ctx, src.owner, from)
		if err != nil {
			return nil, &InternalError{Op: "loading DKIM key", Identity: from.Domain, Err: err}
		}
		if sg != nil {
			if prep.Body, err = sg.SignInPlace(prep.Body); err != nil {
				return nil, &InternalError{Op: "DKIM signing", Identity: sg.Domain, Err: err}
			}
		}
	}
	mailJSON, err := event.Encode(s.mailObject(req, acct, id, now, mailFrom, src, rcpts, prep, set.Name))
	if err != nil {
		return nil, &InternalError{Op: "encoding mail object", Identity: from.Email(), Err: err}
	}
	sm := &spool.Message{ID: id, Account: req.Account, Created: now, MailFrom: mailFrom.Email(), Mail: mailJSON, Body: prep.Body}
	if req.FeedbackAddress != nil {
		sm.FeedbackAddress = req.FeedbackAddress.Email()
	}
	maxDelivery := s.cfg.MaxDelivery
	if d := set.MaxDelivery(); d > 0 {
		maxDelivery = d
	}
	// Entry IDs keep the recipient's index in mail.destination (the VERP
	// return path names it), suppressed recipients included.
	entries := make([]*queue.Entry, 0, len(rcpts)-len(suppressed))
	skip := make(map[int]bool, len(suppressed))
	for _, sp := range suppressed {
		skip[sp.Index] = true
	}
	for i, r := range rcpts {
		if skip[i] || renderFailure != nil {
			continue
		}
		entries = append(entries, &queue.Entry{ID: id + "/" + strconv.Itoa(i), MessageID: id, Account: req.Account, Rcpt: r.Email(),
			Domain: r.Domain, Created: now, NextAttempt: now, Deadline: now.Add(maxDelivery),
			ConfigurationSet: set.Name, TLSRequired: set.TLSRequired(), ReturnPathDomain: rpDomain, Body: prep.Body})
	}
	var events []pendingEvent // after Send: none for most messages
	for _, sp := range suppressed {
		b := sp.Bounce
		b.ReportingMTA = "dns; " + s.cfg.MessageIDDomain
		events = append(events, pendingEvent{rcpts[sp.Index].Email(), b})
	}
	if renderFailure != nil {
		events = append(events, pendingEvent{"", event.RenderingFailureDetail{TemplateName: renderFailure.TemplateName, ErrorMessage: renderFailure.Message}})
	}
	ok = true
	return &prepared{id: id, account: req.Account, now: now, msg: sm, entries: entries, admitted: admitted,
		send: event.SendDetail{ConfigurationSet: set.Name, Identity: src.identity, Recipients: facts}, events: events, lists: lists}, nil
}

// commit runs steps 8-9 of Send for ps, in one group-committed
// transaction: each message's body, queue entries, quota usage and events
// (a message without entries has its body released at once); then it
// hands the entries to the delivery workers, or kicks the poller. Every
// admission is recorded, or released when the transaction fails
// (*StorageError: nothing of ps is stored). It waits for the commit
// whatever ctx does once the batcher has taken the transaction.
func (s *Sender) commit(ctx context.Context, ps []*prepared) error {
	var entries []*queue.Entry
	if len(ps) == 1 {
		entries = ps[0].entries
	} else {
		for _, p := range ps {
			entries = append(entries, p.entries...)
		}
	}
	handoff := s.Delivery != nil && len(entries) > 0 && s.Delivery.Room(len(entries))
	var leaseUntil time.Time // zero: unleased, for the poller
	if handoff {
		leaseUntil = time.Now().Add(s.cfg.LeaseFor)
	}
	err := s.batch.Do(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if err := s.storeTx(tx, p, leaseUntil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, p := range ps {
			p.admitted.Release()
		}
		return &StorageError{err}
	}
	switch {
	case handoff && !s.Delivery.Handoff(entries):
		s.release(entries)
	case !handoff && s.Delivery != nil && len(entries) > 0:
		s.Delivery.Kick() // stored unleased: the poller takes them when there is room
	}
	return nil
}

// storeTx stores one prepared message in tx: body, queue entries leased to
// this node until leaseUntil (zero: unleased), quota usage, events and
// the unsubscribe behind its mailto: address (list management).
func (s *Sender) storeTx(tx *sql.Tx, p *prepared, leaseUntil time.Time) error {
	if err := s.spool.PutTx(tx, p.msg); err != nil {
		return err
	}
	for _, e := range p.entries {
		if err := s.queue.InsertTx(tx, e, s.cfg.NodeID, leaseUntil); err != nil {
			return err
		}
	}
	if s.Quota != nil {
		if err := s.Quota.RecordTx(tx, p.admitted); err != nil {
			return err
		}
	}
	if err := s.events.AddTx(tx, p.id, p.account, "", p.now, p.send); err != nil {
		return err
	}
	for _, ev := range p.events {
		if err := s.events.AddTx(tx, p.id, p.account, ev.rcpt, p.now, ev.detail); err != nil {
			return err
		}
	}
	if len(p.entries) == 0 {
		// No recipient is sent to: nothing will read the body, nor use
		// its mailto: address.
		return s.spool.ReleaseBodyTx(tx, p.id, s.queue.PendingTx)
	}
	return s.mailtoTx(tx, p.lists, p.now)
}

// configSet returns the configuration set the message is sent with: the
// one req names (API ConfigurationSetName), else the one its
// X-SES-CONFIGURATION-SET header field names (read by message.Prepare), else
// the default set of the identity that authorised from (the From address:
// the address identity's, else its domain's, else a parent domain's;
// identity.Service.DefaultConfigurationSet), else none — the zero
// ConfigurationSet (no name, default deadline, TLS optional). Every lookup
// is cached (configset.Service.Cached, the identities' cached settings):
// while the caches are fresh a message without a named set costs a few map
// reads and no store access. Errors: *ConfigSetNotFoundError when the
// account has no set of the name the request or header gives,
// *ConfigSetPausedError when the set's sending is disabled, *StorageError
// when a lookup failed. An identity default naming a set deleted since is
// ignored (the message is sent without a set), so that a stale default
// never stops an identity's mail.
func (s *Sender) configSet(ctx context.Context, req Request, p *message.Prepared, from address.Address) (configset.ConfigurationSet, error) {
	name := req.ConfigSet
	if name == "" {
		name = strings.TrimSpace(p.ConfigurationSet)
	}
	byDefault := false
	if name == "" {
		def, err := s.identities.DefaultConfigurationSet(ctx, req.Account, from)
		if err != nil {
			return configset.ConfigurationSet{}, &StorageError{err}
		}
		if def == "" {
			return configset.ConfigurationSet{}, nil
		}
		name, byDefault = def, true
	}
	if configset.ValidateName(name) != nil {
		// No set can have this name (a header field's value is not checked
		// before): not found, without a lookup.
		return configset.ConfigurationSet{}, &ConfigSetNotFoundError{Name: name}
	}
	set, err := s.configsets.Cached(ctx, req.Account, name)
	switch {
	case errors.Is(err, configset.ErrNotFound) && byDefault:
		return configset.ConfigurationSet{}, nil
	case errors.Is(err, configset.ErrNotFound):
		return set, &ConfigSetNotFoundError{Name: name}
	case err != nil:
		return set, &StorageError{err}
	case !set.SendingEnabled:
		return set, &ConfigSetPausedError{Name: name}
	}
	return set, nil
}

// enforced returns *EnforcementPausedError when reputation enforcement
// paused account's sending, or its set's (set "": none).
func (s *Sender) enforced(ctx context.Context, account, set string) error {
	if s.Enforcement == nil {
		return nil
	}
	scopes := []string{""}
	if set != "" {
		scopes = append(scopes, set)
	}
	for _, sc := range scopes {
		paused, err := s.Enforcement.Paused(ctx, account, sc)
		if err != nil {
			return &StorageError{err}
		}
		if paused {
			return &EnforcementPausedError{ConfigurationSet: sc}
		}
	}
	return nil
}

// release gives up this node's leases on entries it could not start, so the
// poller (here or on another node) picks them up.
func (s *Sender) release(entries []*queue.Entry) {
	s.batch.Do(context.Background(), func(tx *sql.Tx) error {
		for _, e := range entries {
			if err := s.queue.ReleaseTx(tx, e.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// recipientFacts says of each recipient why it does not count towards the
// quota and reputation (event.SendRecipient): a mailbox simulator address,
// or one covered by a verified identity of the account (identity.Authorizing).
// For an account in the sandbox every other recipient is refused: the
// *UnverifiedError lists them after the senders of unverified, if any (SES
// §8.5). unverified, when not nil, is the senders' failure, returned
// whatever the recipients.
func (s *Sender) recipientFacts(ctx context.Context, acct account.Account, rcpts []address.Address, unverified *UnverifiedError) ([]event.SendRecipient, error) {
	facts := make([]event.SendRecipient, len(rcpts))
	var failed []string
	for i, r := range rcpts {
		facts[i].Address = r.Email()
		if simulator.Is(r.Domain) {
			facts[i].Excluded = event.ExcludedSimulator
			continue
		}
		id, err := s.identities.Authorizing(ctx, acct.Name, r)
		if err != nil {
			return nil, &StorageError{err}
		}
		switch {
		case id != "":
			facts[i].Excluded = event.ExcludedVerified
		case !acct.ProductionAccessEnabled:
			failed = append(failed, r.Email())
		}
	}
	if unverified == nil && len(failed) > 0 {
		unverified = &UnverifiedError{Region: s.cfg.Region, recipientsOnly: true}
	}
	if unverified != nil {
		unverified.Identities = append(unverified.Identities, failed...)
		return nil, unverified
	}
	return facts, nil
}

// headerSenders returns the addresses of the Sender and Return-Path header
// fields (RFC 5322 §3.6.2, §3.6.7), each at most once (CheckDuplicates), in
// that order, with the ARN that covers each (arns.from, arns.returnPath); a Return-Path of "<>" names no identity. A field that does not
// hold one valid mailbox is refused (*RejectedError).
func headerSenders(msg *message.Message, arns senderARNs) ([]senderAddr, error) {
	var out []senderAddr
	for _, h := range []string{"Sender", "Return-Path"} {
		vs := msg.Values(h)
		if len(vs) == 0 || h == "Return-Path" && strings.TrimSpace(vs[0]) == "<>" {
			continue
		}
		a, err := address.Parse(vs[0])
		if err != nil {
			return nil, &RejectedError{"Illegal address: the " + h + " header is invalid."}
		}
		covering := arns.from
		if h == "Return-Path" {
			covering = arns.returnPath
		}
		out = append(out, senderAddr{a, covering})
	}
	return out, nil
}

func (s *Sender) recipients(in []address.Address) ([]address.Address, error) {
	seen := map[string]bool{}
	var out []address.Address
	for _, a := range in {
		if seen[a.Key()] {
			continue
		}
		seen[a.Key()] = true
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	if len(out) > s.cfg.MaxRecipients {
		return nil, &TooManyRecipientsError{Max: s.cfg.MaxRecipients}
	}
	return out, nil
}

func (s *Sender) mailObject(req Request, acct account.Account, id string, now time.Time, mailFrom address.Address,
	src source, rcpts []address.Address, p *message.Prepared, configSet string) event.Mail {
	dest := make([]string, len(rcpts))
	for i, r := range rcpts {
		dest[i] = r.Email()
	}
	tags := map[string][]string{
		"ses:operation":       {req.Operation},
		"ses:from-domain":     {mailFrom.Domain},
		"ses:caller-identity": {req.Caller},
	}
	if req.SourceIP != "" {
		tags["ses:source-ip"] = []string{req.SourceIP}
	}
	if configSet != "" {
		tags["ses:configuration-set"] = []string{configSet}
	}
	custom := p.Tags
	if len(req.Tags) > 0 {
		custom = req.Tags
	}
	for _, kv := range custom {
		tags[kv[0]] = append(tags[kv[0]], kv[1])
	}
	source := req.Source
	if source == "" {
		source = mailFrom.Email()
	}
	return event.Mail{
		Timestamp:        event.Timestamp(now),
		MessageID:        id,
		Source:           source,
		SourceArn:        fmt.Sprintf("arn:aws:ses:%s:%s:identity/%s", s.cfg.Region, src.ownerID, src.identity),
		SourceIP:         req.SourceIP,
		SendingAccountID: acct.SendingAccountID,
		CallerIdentity:   req.Caller,
		Destination:      dest,
		HeadersTruncated: p.HeadersTruncated,
		Headers:          p.Headers,
		CommonHeaders:    p.Common,
		Tags:             tags,
	}
}
