package sending

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/suppression"
)

// List management on send (../shared/spec/ses.md §11.4, §1.3
// ListManagementOptions, §3.3 X-SES-LIST-MANAGEMENT-OPTIONS;
// dg/sending-email-subscription-management, dg/sending-email-list-management):
//
//  1. the options come from Request.ListManagement (the API's
//     ListManagementOptions), else from the message's
//     X-SES-LIST-MANAGEMENT-OPTIONS header field ("LIST" or
//     "LIST; topic=TOPIC"), which Prepare strips like every X-SES-* field;
//     the names must have the syntax of contact list and topic names
//     (contacts.ValidateName), and the field may appear once
//     (message.Message.CheckDuplicates), else *RejectedError;
//  2. the list, and the topic when one is named, must exist in the sending
//     account (*ListNotFoundError otherwise: NotFoundException, SMTP 554);
//  3. every recipient that unsubscribed (contacts.Service.Unsubscribed: from
//     the whole list, or from the topic, or a non-contact under an OPT_OUT
//     topic default) gets no queue entry but a Bounce event, like a
//     recipient on the account's suppression list: the call succeeds, the
//     recipient is not sent to and counts against neither the quota nor the
//     reputation. SES documents only that it "bounces" such a send; the
//     bounce is Permanent / OnAccountSuppressionList — SES's subtype for
//     "not attempted, not counted" — with a diagnosticCode naming what the
//     contact left (the list, or the topic and its list), and Petrel's rule
//     "contact-list-unsubscribed";
//  4. a message to exactly one recipient (after duplicates are removed)
//     carries the links: List-Unsubscribe (the HTTPS one-click URL and the
//     mailto: address) and List-Unsubscribe-Post (RFC 2369, RFC 8058),
//     replacing any the caller wrote, both covered by Petrel's DKIM
//     signature (dkim signs them); and the first two
//     {{amazonSESUnsubscribeUrl}} placeholders of its text/plain and
//     text/html parts become the contact's preferences-page URL. A token
//     (contacts.Token) names the account, list, topic, recipient and
//     message; the mailto: address (given only with Lists.Domain set: the
//     inbound receiver is on) is a short code naming the message
//     (contacts.MailtoLocal), and the token it stands for is stored
//     (contacts.Service.PutMailtoTx) in the transaction that stores the
//     message, when the message has a recipient to send to — one INSERT,
//     for these messages only. A message to several recipients gets neither (SES adds them
//     only for a single recipient), nor does one that already carries a
//     DKIM-Signature: SES cannot add the links to mail its sender signed
//     (changing it would break that signature), so it is sent as it is —
//     the unsubscribed recipients are still not sent to.
//
// A message without list management pays one header lookup.

// ListManagement is SES's ListManagementOptions: the contact list (and
// optionally one of its topics) a message is sent for.
type ListManagement struct {
	ContactList string // required
	Topic       string // "": the whole list
}

// ContactLists is the send-time check of the contact lists
// (contacts.Service.Unsubscribed): for each address, whether it must not
// be sent to, and whether it left the whole list or the topic. Errors:
// contacts.ErrNotFound (no such list), *contacts.TopicNotFoundError, or
// the store's. PutMailtoTx stores the unsubscribe behind a message's
// mailto: address in the transaction that stores the message
// (contacts.Service.PutMailtoTx).
type ContactLists interface {
	Unsubscribed(ctx context.Context, account, list, topic string, emails []string) ([]contacts.Unsubscription, error)
	PutMailtoTx(tx *sql.Tx, t contacts.Token, key []byte, created time.Time) error
}

// Lists enables list management on a Sender.
type Lists struct {
	Contacts ContactLists
	// Key signs the unsubscribe tokens (contacts.TokenKey).
	Key []byte
	// PublicURL is the base URL of the unsubscribe endpoints (the API
	// listener's public URL): links are PublicURL + "/unsubscribe/TOKEN".
	PublicURL string
	// Domain is the domain of the mailto: unsubscribe address,
	// u-CODE@Domain: the return-path domain Petrel receives mail for; ""
	// (no inbound receiver) gives no mailto: address.
	Domain string
}

// ListNotFoundError reports a contact list the sending account does not
// have, or (Topic set) a topic the list does not have (SES:
// NotFoundException; SMTP 554 with the text).
type ListNotFoundError struct{ List, Topic string }

func (e *ListNotFoundError) Error() string {
	if e.Topic != "" {
		return "Topic " + e.Topic + " does not exist in contact list " + e.List + "."
	}
	return "List with name " + e.List + " does not exist."
}

// RuleContactListUnsubscribed is the Verdict.Rule (Petrel's "rule" field)
// of the bounce recorded for a recipient who unsubscribed.
const RuleContactListUnsubscribed = "contact-list-unsubscribed"

// listPlan is what list management does to one message.
type listPlan struct {
	unsubscribed []suppression.Suppressed // recipients not sent to, with their Bounce events
	add          [][2]string              // List-Unsubscribe, List-Unsubscribe-Post
	mailto       *contacts.Token          // the unsubscribe behind the mailto: address; nil: none offered
}

// listManagement applies steps 1–4 above to msg (before Prepare) for the
// message id to rcpts. It returns nil when the message is not sent with
// list management. Errors: *RejectedError (a malformed header field),
// *ListNotFoundError, *StorageError.
func (s *Sender) listManagement(ctx context.Context, req Request, msg *message.Message, rcpts []address.Address, id string, now time.Time) (*listPlan, error) {
	lm := req.ListManagement
	if lm == nil {
		v := msg.Get("X-SES-LIST-MANAGEMENT-OPTIONS")
		if v == "" {
			return nil, nil
		}
		o, err := message.ParseListManagementOptions(v)
		if err == nil {
			err = listOptionNames(v, o)
		}
		if err != nil {
			return nil, &RejectedError{err.Error()}
		}
		lm = &ListManagement{ContactList: o.ContactList, Topic: o.Topic}
	}
	if s.Lists == nil || s.Lists.Contacts == nil {
		return nil, &ListNotFoundError{List: lm.ContactList}
	}
	emails := make([]string, len(rcpts))
	for i, r := range rcpts {
		emails[i] = r.Email()
	}
	unsub, err := s.Lists.Contacts.Unsubscribed(ctx, req.Account, lm.ContactList, lm.Topic, emails)
	var tnf *contacts.TopicNotFoundError
	switch {
	case errors.Is(err, contacts.ErrNotFound):
		return nil, &ListNotFoundError{List: lm.ContactList}
	case errors.As(err, &tnf):
		return nil, &ListNotFoundError{List: lm.ContactList, Topic: lm.Topic}
	case err != nil:
		return nil, &StorageError{err}
	}
	p := &listPlan{}
	for i, u := range unsub {
		if u == contacts.Subscribed {
			continue
		}
		// Say what the contact left: the whole list (UnsubscribeAll, even
		// when the message names a topic) or the topic.
		diag := "Amazon SES did not send the message to this address because the contact unsubscribed from the contact list " + lm.ContactList + "."
		if u == contacts.UnsubscribedTopic {
			diag = "Amazon SES did not send the message to this address because the contact unsubscribed from the topic " + lm.Topic +
				" of the contact list " + lm.ContactList + "."
		}
		p.unsubscribed = append(p.unsubscribed, suppression.Suppressed{Index: i, Bounce: event.BounceDetail{
			BounceType: bounce.Permanent, BounceSubType: bounce.OnAccountSuppressionList,
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: emails[i], Action: "failed", Status: "5.1.1", DiagnosticCode: diag}},
			Timestamp:         event.Timestamp(now), FeedbackID: event.NewID(now), Reason: bounce.ReasonSuppressed, Rule: RuleContactListUnsubscribed,
		}})
	}
	if len(rcpts) != 1 || len(p.unsubscribed) == 1 || msg.Get("DKIM-Signature") != "" {
		return p, nil
	}
	t := contacts.Token{Account: req.Account, List: lm.ContactList, Topic: lm.Topic, Email: emails[0], MessageID: id}
	lu, post := contacts.Headers(t, s.Lists.Key, s.Lists.PublicURL, s.Lists.Domain)
	// Prepare puts a field the message lacks first in its header: the
	// later one goes above, so List-Unsubscribe comes before
	// List-Unsubscribe-Post, the order mailbox providers expect.
	if post != "" {
		p.add = append(p.add, [2]string{"List-Unsubscribe-Post", post})
	}
	if lu != "" {
		p.add = append(p.add, [2]string{"List-Unsubscribe", lu})
	}
	if _, ok := contacts.MailtoLocal(id, s.Lists.Key); ok && s.Lists.Domain != "" {
		p.mailto = &t
	}
	if s.Lists.PublicURL != "" {
		message.ReplaceUnsubscribeURL(msg, contacts.PageURL(t, s.Lists.Key, s.Lists.PublicURL))
	}
	return p, nil
}

// listOptionNames checks the names of the X-SES-LIST-MANAGEMENT-OPTIONS
// value v (parsed as o) with the syntax of CreateContactList's
// ContactListName and TopicName (contacts.ValidateName): a name no list or
// topic can have is a malformed header field (*message.ListOptionsError),
// not a list that does not exist.
func listOptionNames(v string, o message.ListManagementOptions) error {
	if contacts.ValidateName("ContactListName", o.ContactList) != nil ||
		o.Topic != "" && contacts.ValidateName("TopicName", o.Topic) != nil {
		return &message.ListOptionsError{Value: v}
	}
	return nil
}

// withUnsubscribed adds the plan's unsubscribed recipients to suppressed
// (the suppression lists' verdicts, which win for a recipient both name).
func (p *listPlan) withUnsubscribed(suppressed []suppression.Suppressed) []suppression.Suppressed {
	if p == nil {
		return suppressed
	}
	have := make(map[int]bool, len(suppressed))
	for _, sp := range suppressed {
		have[sp.Index] = true
	}
	for _, u := range p.unsubscribed {
		if !have[u.Index] {
			suppressed = append(suppressed, u)
		}
	}
	return suppressed
}

// mailtoTx stores the unsubscribe behind the plan's mailto: address in
// tx, the transaction storing the message accepted at now (nil plan, or
// no mailto: address: nothing).
func (s *Sender) mailtoTx(tx *sql.Tx, p *listPlan, now time.Time) error {
	if p == nil || p.mailto == nil {
		return nil
	}
	return s.Lists.Contacts.PutMailtoTx(tx, *p.mailto, s.Lists.Key, now)
}

// headers returns the header fields the plan adds (nil plan: none).
func (p *listPlan) headers() [][2]string {
	if p == nil {
		return nil
	}
	return p.add
}
