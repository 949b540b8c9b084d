// Package bounce is Petrel's bounce intelligence: it reads what comes back
// about a message and says what it means in SES's vocabulary.
//
//   - Parse reads a message that arrived at the return path — an RFC 3464
//     DSN, an RFC 5965 feedback report, an Amazon SES notification, an RFC
//     3834 auto-reply, or a bounce in an MTA's or provider's own prose — into
//     a Report: its kind, and the recipients with action, status, diagnostic.
//   - A RuleSet classifies each failed answer (a synchronous SMTP reply or a
//     DSN recipient) into bounceType / bounceSubType plus a finer reason. The
//     rules are data: rules.toml is embedded, and an operator's file adds to
//     or overrides it; a Classifier swaps rule sets atomically on reload.
//   - ReturnPath / ParseReturnPath encode the VERP address that ties a later
//     bounce to its message and recipient; FeedbackToken / ParseFeedbackToken
//     the signed X-Petrel-Feedback header that ties a report sent to a
//     feedback mailbox to its message. Parse extracts both kinds of proof
//     from the returned original (Original.ReturnPath, Original.FeedbackToken)
//     but verifies neither; a quoted Message-ID (Original.PetrelID) is no
//     proof at all.
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

// DelayType maps a temporary failure to the DeliveryDelay delayType, from
// the verdict's reason where it names one and the reply otherwise. Replies
// Petrel synthesises for connection and DNS failures carry 4.4.x.
func DelayType(r smtpreply.Reply, v Verdict) string {
	switch v.Reason {
	case ReasonMailboxFull:
		return DelayMailboxFull
	case ReasonSpamBlocked, ReasonVirusDetected, ReasonContentRejected:
		return DelaySpamDetected
	case ReasonReputation, ReasonAuthFailure, ReasonIPBlocklisted, ReasonHELORejected:
		return DelayIPFailure
	case ReasonNetworkError:
		return DelayTransientCommunication
	case ReasonRateLimited, ReasonSystemError:
		return DelayRecipientServerError
	}
	st := r.Enhanced
	switch {
	case strings.HasSuffix(st, ".2.2"):
		return DelayMailboxFull
	case strings.HasPrefix(st, "4.4."):
		return DelayTransientCommunication
	case strings.HasPrefix(st, "4.7."):
		return DelayIPFailure
	case r.Code == 421 || r.Code == 451 || r.Code == 452 || strings.HasPrefix(st, "4.3."):
		return DelayRecipientServerError
	case r.Temporary():
		return DelayGeneral
	}
	return DelayUndetermined
}
