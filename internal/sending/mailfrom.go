package sending

import (
	"context"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/identity"
)

// MailFromNotVerifiedError refuses a message whose sender's identity has a
// custom MAIL FROM domain that is not verified (status other than SUCCESS)
// with BehaviorOnMxFailure REJECT_MESSAGE (SES: MailFromDomainNotVerified,
// ../shared/spec/ses.md §1.7, §1.14; API MailFromDomainNotVerifiedException
// HTTP 400, SMTP 554 5.7.1). Nothing is stored.
type MailFromNotVerifiedError struct {
	Domain   string // the MAIL FROM domain
	Identity string // the identity it belongs to
	Status   string // its MailFromDomainStatus
	Cause    string // why, from its records' last checks (identity.Service.MailFromCause); "" if unknown
}

// Error starts with SES's words ("Mail FROM domain is not verified", SES
// developer guide, email sending errors) and says which domain, its
// status and the actual cause (each failing record's status, ErrorType
// and what the check found).
func (e *MailFromNotVerifiedError) Error() string {
	cause := ""
	if e.Cause != "" {
		cause = " (" + e.Cause + ")"
	}
	return "Mail FROM domain is not verified. The MAIL FROM domain " + e.Domain + " of identity " + e.Identity +
		" is " + e.Status + cause + " and its BehaviorOnMxFailure is REJECT_MESSAGE."
}

// returnPathDomain decides the domain of the VERP return paths of a
// message whose envelope sender is a (the Source: SMTP MAIL FROM, API
// FromEmailAddress, else From): the custom MAIL FROM domain of the most
// specific verified identity of account covering a that has one — account
// is the one owning the identity that authorised a, the identity owner's
// for a delegated send (SES: the delegate sends under the owner's
// identity, MAIL FROM settings included)
// (identity.Service.MailFromFor), when its status is SUCCESS; "" — the
// deployment's return-path domain — when it has none, or when it is not
// verified and its BehaviorOnMxFailure is USE_DEFAULT_VALUE; with
// REJECT_MESSAGE, *MailFromNotVerifiedError. Cached: a few map reads per
// message while the identity caches are fresh.
func (s *Sender) returnPathDomain(ctx context.Context, account string, a address.Address) (string, error) {
	m, id, ok, err := s.identities.MailFromFor(ctx, account, a)
	switch {
	case err != nil:
		return "", &StorageError{err}
	case !ok:
		return "", nil
	case m.Status == identity.StatusSuccess:
		return m.Domain, nil
	case m.Behavior == identity.RejectMessage:
		// Refused: one more query, for the cause, on this path only.
		cause, err := s.identities.MailFromCause(ctx, account, id)
		if err != nil {
			return "", &StorageError{err}
		}
		return "", &MailFromNotVerifiedError{Domain: m.Domain, Identity: id, Status: m.Status, Cause: cause}
	}
	return "", nil
}
