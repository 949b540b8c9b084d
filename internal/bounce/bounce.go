// Package bounce turns a failed SMTP answer into SES's bounce vocabulary
// (bounceType / bounceSubType, and the DeliveryDelay delayType), and encodes
// the VERP return path that lets a later asynchronous bounce be tied back to
// its message and recipient.
//
// Classification here is the small table the core delivery path needs
// (../shared/spec/ses.md §4.3): 5xx is Permanent, 4xx is Transient once
// retries are exhausted, and the enhanced status code picks the subtype.
// Unknown answers are never treated as permanent.
package bounce

import (
	"strings"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// SES bounce types.
const (
	Permanent    = "Permanent"
	Transient    = "Transient"
	Undetermined = "Undetermined"
)

// SES bounce subtypes.
const (
	General                  = "General"
	NoEmail                  = "NoEmail"
	Suppressed               = "Suppressed"
	OnAccountSuppressionList = "OnAccountSuppressionList"
	MailboxFull              = "MailboxFull"
	MessageTooLarge          = "MessageTooLarge"
	ContentRejected          = "ContentRejected"
	AttachmentRejected       = "AttachmentRejected"
)

// Class is the SES classification of a failure.
type Class struct {
	Type    string
	SubType string
}

// Classify maps a reply to SES's bounce type and subtype.
func Classify(r smtpreply.Reply) Class {
	st := r.Enhanced
	switch {
	case r.Permanent():
		switch {
		case st == "5.1.1" || st == "5.1.10" || st == "5.1.0" || st == "5.1.2" || st == "5.1.6":
			return Class{Permanent, NoEmail}
		default:
			return Class{Permanent, General}
		}
	case r.Temporary():
		switch {
		case strings.HasSuffix(st, ".2.2"):
			return Class{Transient, MailboxFull}
		case strings.HasSuffix(st, ".3.4") || strings.HasSuffix(st, ".2.3"):
			return Class{Transient, MessageTooLarge}
		case strings.HasSuffix(st, ".7.1") && strings.Contains(strings.ToLower(r.Text), "content"):
			return Class{Transient, ContentRejected}
		}
		return Class{Transient, General}
	}
	return Class{Undetermined, Undetermined}
}

// SES DeliveryDelay delayType values (§4.6).
const (
	DelayInternalFailure        = "InternalFailure"
	DelayGeneral                = "General"
	DelayMailboxFull            = "MailboxFull"
	DelaySpamDetected           = "SpamDetected"
	DelayRecipientServerError   = "RecipientServerError"
	DelayIPFailure              = "IPFailure"
	DelayTransientCommunication = "TransientCommunicationFailure"
	DelayUndetermined           = "Undetermined"
)

// DelayType maps a temporary failure reply to the DeliveryDelay delayType.
// Replies Petrel synthesises for connection and DNS failures carry 4.4.x.
func DelayType(r smtpreply.Reply) string {
	st := r.Enhanced
	text := strings.ToLower(r.Text)
	switch {
	case strings.HasSuffix(st, ".2.2"):
		return DelayMailboxFull
	case strings.HasPrefix(st, "4.4."):
		return DelayTransientCommunication
	case strings.Contains(text, "spam"):
		return DelaySpamDetected
	case strings.HasPrefix(st, "4.7."):
		return DelayIPFailure
	case r.Code == 421 || r.Code == 451 || r.Code == 452 || strings.HasPrefix(st, "4.3."):
		return DelayRecipientServerError
	case r.Temporary():
		return DelayGeneral
	}
	return DelayUndetermined
}
