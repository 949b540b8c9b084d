package sending

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
)

// SystemOperation is the "ses:operation" tag of Petrel's own mail (feedback
// forwarding reports, SNS email notifications) in its mail object. Its
// events are recognisable by it: package publish routes none of them, so a
// report about a report is never sent (no loops).
const SystemOperation = "PetrelSystemMail"

// SendSystemMail queues Petrel's own message msg (a complete RFC 5322
// message, CRLF or LF line endings) from mailFrom to rcpt, for delivery
// through the normal delivery path, and returns once it is durable (group
// commit, fsync). It implements notify.Mailer.
//
// mailFrom is the envelope sender as given, without VERP: "" is the null
// reverse-path <> (RFC 5321 §4.5.5; DSNs and feedback reports, RFC 3464
// §2, RFC 5965 §3), so a failure to deliver it is never reported back to
// anyone. The message gets Petrel's Message-ID and Date (message.Prepare),
// is not DKIM-signed, is not checked against identities or sending limits,
// and records no Send event. A rcpt that account may not be sent to by its
// suppression lists (Sender.Suppression: the account list, else the
// global one, as suppression.List.Check decides with no configuration set
// override) is skipped: nothing is stored, nothing is sent, the skip is
// logged at Info (slog's default logger) and the answer is nil, as for a
// message sent. Its delivery outcomes are
// recorded as events of account (mail.tags "ses:operation" is
// SystemOperation) but never change the suppression lists
// (queue.Entry.System). Errors: *RejectedError for an invalid rcpt,
// mailFrom or message; *StorageError when it could not be stored.
func (s *Sender) SendSystemMail(ctx context.Context, account, mailFrom, rcpt string, msg []byte) error {
	to, err := address.Parse(rcpt)
	if err != nil {
		return &RejectedError{"system mail recipient " + rcpt + ": " + err.Error()}
	}
	if mailFrom != "" {
		if _, err := address.Parse(mailFrom); err != nil {
			return &RejectedError{"system mail sender " + mailFrom + ": " + err.Error()}
		}
	}
	m, err := message.Parse(message.NormalizeLineEndings(msg))
	if err != nil {
		return &RejectedError{"system mail: " + err.Error()}
	}
	if s.Suppression != nil {
		suppressed, err := s.Suppression.Check(ctx, account, nil, []address.Address{to})
		if err != nil {
			return &StorageError{fmt.Errorf("system mail to %s: suppression check: %w", rcpt, err)}
		}
		if len(suppressed) > 0 {
			slog.InfoContext(ctx, "system mail not sent: recipient suppressed", "component", "sending", "account", account,
				"rcpt", to.Email(), "reason", suppressed[0].Bounce.BounceSubType)
			return nil
		}
	}
	now := time.Now()
	id := event.NewID(now)
	prep, err := message.Prepare(m, id, s.cfg.MessageIDDomain, now)
	if err != nil {
		return &RejectedError{"system mail: " + err.Error()}
	}
	var sendingAccountID string
	if acct, err := s.accounts.Cached(ctx, account); err == nil {
		sendingAccountID = acct.SendingAccountID
	}
	mail, err := event.Encode(event.Mail{
		Timestamp:        event.Timestamp(now),
		MessageID:        id,
		Source:           mailFrom,
		SendingAccountID: sendingAccountID,
		Destination:      []string{to.Email()},
		HeadersTruncated: prep.HeadersTruncated,
		Headers:          prep.Headers,
		CommonHeaders:    prep.Common,
		Tags:             map[string][]string{"ses:operation": {SystemOperation}},
	})
	if err != nil {
		return &InternalError{Op: "encoding mail object", Identity: rcpt, Err: err}
	}
	sm := &spool.Message{ID: id, Account: account, Created: now, MailFrom: mailFrom, Mail: mail, Body: prep.Body}
	e := &queue.Entry{ID: id + "/0", MessageID: id, Account: account, Rcpt: to.Email(), Domain: to.Domain,
		Created: now, NextAttempt: now, Deadline: now.Add(s.cfg.MaxDelivery), System: true, MailFrom: mailFrom, Body: prep.Body}
	handoff := s.Delivery != nil && s.Delivery.Room(1)
	var leaseUntil time.Time
	if handoff {
		leaseUntil = now.Add(s.cfg.LeaseFor)
	}
	err = s.batch.Do(ctx, func(tx *sql.Tx) error {
		if err := s.spool.PutTx(tx, sm); err != nil {
			return err
		}
		return s.queue.InsertTx(tx, e, s.cfg.NodeID, leaseUntil)
	})
	if err != nil {
		return &StorageError{fmt.Errorf("system mail to %s: %w", rcpt, err)}
	}
	switch {
	case handoff && !s.Delivery.Handoff([]*queue.Entry{e}):
		s.release([]*queue.Entry{e})
	case !handoff && s.Delivery != nil:
		s.Delivery.Kick()
	}
	return nil
}
