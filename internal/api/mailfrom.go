package api

import (
	"context"
	"errors"

	"github.com/petrelmail/petrel/internal/identity"
)

// putMailFromAttributes is PutEmailIdentityMailFromAttributes (PUT
// /v2/email/identities/{EmailIdentity}/mail-from, ../shared/spec/ses.md
// §1.7): body {"MailFromDomain": "bounce.example.com", "BehaviorOnMxFailure":
// "USE_DEFAULT_VALUE"|"REJECT_MESSAGE"}, both optional; an absent or empty
// MailFromDomain disables custom MAIL FROM, an absent BehaviorOnMxFailure
// is USE_DEFAULT_VALUE. Errors: NotFoundException (no such identity of the
// caller's account), BadRequestException (a domain that is not a valid
// name or not a proper subdomain of the identity's domain, an unknown
// behaviour). Putting the same domain again restarts a FAILED check
// (PENDING, a new 72-hour window). Answers {}.
func (s *Server) putMailFromAttributes(ctx context.Context, c *call) (any, error) {
	var in struct{ MailFromDomain, BehaviorOnMxFailure *string }
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	var domain, behavior string
	if in.MailFromDomain != nil {
		domain = *in.MailFromDomain
	}
	if in.BehaviorOnMxFailure != nil {
		behavior = *in.BehaviorOnMxFailure
	}
	name := c.r.PathValue("EmailIdentity")
	err := s.Identities.PutMailFrom(ctx, c.account, name, domain, behavior)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil, notFound("Email identity %s does not exist.", name)
	case errors.Is(err, identity.ErrInvalidMailFrom):
		return nil, badRequest("%s", err.Error())
	case err != nil:
		return nil, err
	}
	// A new domain's records, or the restarted ones of a FAILED domain,
	// are checked from now, as CreateEmailIdentity's are.
	if err := s.Identities.StartVerification(ctx, c.account, name); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// mailFromAttributesOf is GetEmailIdentity's MailFromAttributes for
// account's identity name: its MAIL FROM domain ("" when none, the member
// then omitted), status and behaviour as the store has them now.
func (s *Server) mailFromAttributesOf(ctx context.Context, account, name string) (mailFromAttributes, error) {
	m, err := s.Identities.GetMailFrom(ctx, account, name)
	return mailFromAttributes{MailFromDomain: m.Domain, MailFromDomainStatus: m.Status, BehaviorOnMxFailure: m.Behavior}, err
}
