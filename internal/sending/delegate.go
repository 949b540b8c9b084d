package sending

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/sesarn"
)

// Sending authorisation (../shared/spec/ses.md §1.3, §3.3, §11.6): a
// delegate account sends as an identity another Petrel account owns by
// naming the identity's ARN — the API's FromEmailAddressIdentityArn and
// FeedbackForwardingEmailAddressIdentityArn, or the X-SES-SOURCE-ARN,
// X-SES-FROM-ARN and X-SES-RETURN-PATH-ARN header fields of a raw or SMTP
// message (stripped before delivery, as every X-SES-* field). The owner's
// identity must exist and be verified, must cover the address, and the
// owner's policies (identity.Evaluate) must allow the delegate's sending
// account the operation (ses:SendEmail for the API, ses:SendRawEmail for
// SMTP). Everything else is the delegate's: its sending quota, sandbox,
// reputation and configuration sets (SES: "the number of messages you send
// counts toward your sending quota"); the mail object's sourceArn is the
// owner's identity ARN, its sendingAccountId the delegate's. A message
// without an ARN is checked as before: against the sender's own verified
// identities.

// NotAuthorizedError is a delegated send the identity's policies do not
// allow, or whose identity the ARN does not name (SES: AccessDenied, "User
// `…' is not authorized to perform `ses:SendEmail' on resource `…'"; SMTP
// 554 Access denied).
type NotAuthorizedError struct {
	Principal string // arn:aws:iam::<delegate's sending account id>:root
	Action    string // ses:SendEmail, ses:SendRawEmail
	Resource  string // the identity ARN as given
	// Cause, when set, is why beyond the policies' verdict: an
	// *identity.BrokenPolicyError (a stored policy that no longer parses,
	// treated as a Deny). The operator's log carries it; the client sees
	// SES's words only.
	Cause error
}

func (e *NotAuthorizedError) Error() string {
	return "User `" + e.Principal + "' is not authorized to perform `" + e.Action + "' on resource `" + e.Resource + "'"
}

func (e *NotAuthorizedError) Unwrap() error { return e.Cause }

// InvalidARNError is an identity ARN that is not one (SES v2:
// BadRequestException; v1 InvalidParameterValue).
type InvalidARNError struct {
	Field string // FromEmailAddressIdentityArn, X-SES-SOURCE-ARN, …
	ARN   string
}

func (e *InvalidARNError) Error() string {
	return "Invalid " + e.Field + " \"" + e.ARN + "\": expected an identity ARN, arn:aws:ses:REGION:ACCOUNTID:identity/NAME."
}

// arn is an ARN with the field it came from. An inherited ARN stands in
// for a header field the message lacks (X-SES-FROM-ARN for a missing
// X-SES-SOURCE-ARN, …): it applies to an address only when its identity
// covers the address (applies), so that, say, an envelope sender of the
// delegate's own domain is still checked against the delegate's identities.
type arn struct {
	field, value string
	inherited    bool
}

// applies reports whether a is to be checked for addr: it is given, and
// not inherited or naming an identity that covers addr.
func (a arn) applies(addr address.Address) bool {
	if a.value == "" {
		return false
	}
	if !a.inherited {
		return true
	}
	id, ok := parseIdentityARN(a.value)
	if !ok {
		return true // malformed: refused as such
	}
	n, _, err := identity.Normalize(id.Name)
	return err == nil && identity.Covers(n, addr)
}

// senderARNs are the sending-authorisation ARNs of a message: from covers
// the From and Sender header fields, source the envelope sender,
// returnPath the feedback address and the Return-Path header field. The
// API's FromEmailAddressIdentityArn overrides both X-SES-SOURCE-ARN and
// X-SES-FROM-ARN (SES); X-SES-SOURCE-ARN and X-SES-FROM-ARN stand in for
// each other when alone, and either for a missing X-SES-RETURN-PATH-ARN
// (SES recommends giving the source ARN only), as inherited ARNs.
type senderARNs struct{ from, source, returnPath arn }

func messageARNs(req Request, msg *message.Message) senderARNs {
	get := func(f string) arn { return arn{field: f, value: strings.TrimSpace(msg.Get(f))} }
	inherit := func(a, from arn) arn {
		if a.value == "" && from.value != "" {
			from.inherited = true
			return from
		}
		return a
	}
	src, frm := get("X-SES-SOURCE-ARN"), get("X-SES-FROM-ARN")
	src, frm = inherit(src, frm), inherit(frm, src)
	if req.FromArn != "" {
		src = arn{field: "FromEmailAddressIdentityArn", value: req.FromArn}
		frm = src
	}
	ret := get("X-SES-RETURN-PATH-ARN")
	if req.FeedbackArn != "" {
		ret = arn{field: "FeedbackForwardingEmailAddressIdentityArn", value: req.FeedbackArn}
	}
	ret = inherit(ret, src)
	return senderARNs{from: frm, source: src, returnPath: ret}
}

// parseIdentityARN parses a sending-authorisation ARN,
// arn:aws:ses:REGION:ACCOUNTID:identity/NAME (sesarn.Parse) with a
// 12-digit account id and a name; false when v is not one. The region may
// be "*" (sesarn.AnyRegion: SES global endpoints).
func parseIdentityARN(v string) (sesarn.ARN, bool) {
	a, ok := sesarn.Parse(v)
	if !ok || a.Type != "identity" || a.Name == "" || len(a.Account) != 12 || strings.Trim(a.Account, "0123456789") != "" {
		return sesarn.ARN{}, false
	}
	return a, true
}

// source is the identity that authorised a message's From address: its
// owner's sending account id and its name (mail.sourceArn).
type source struct {
	ownerID   string
	identity  string
	owner     string // the owner's account name (the DKIM key's)
	sandboxed bool   // the owner is in the sandbox
	// mailFromOwner is the account owning the identity that authorised
	// the envelope sender (MAIL FROM): its custom MAIL FROM settings
	// decide the return path (returnPathDomain).
	mailFromOwner string
}

// policyFacts are the facts of the message the policies' conditions read.
type policyFacts struct {
	from       address.Address
	feedback   string
	recipients []string
}

// delegated checks that acct may send as addr under the identity ARN
// a.value names, and returns that identity. The owner's policies decide
// (identity.Evaluate) with SES's precedence: when the identity named is a
// domain and the owner also has the address addr as an identity, the
// address's policies take precedence over the domain's — an Allow or a
// Deny of theirs for this request is the verdict; only when none of their
// statements applies do the domain's decide (SES developer guide,
// "Creating a sending authorization policy": a domain that allows a
// delegate and an address of it that disallows it let the delegate send
// from every address of the domain but that one, and conversely). A stored
// policy that no longer parses, on either identity, refuses the send (as a
// Deny: it fails closed) and is logged. The owner's account and the
// parsed policies come from caches (account.CachedBySendingAccountID,
// identity.SendingPolicies): a change made on this node applies to the
// next message, one made elsewhere within 5 s. Errors: *InvalidARNError,
// *NotAuthorizedError, *UnverifiedError (the owner's identity is not
// verified), *StorageError.
func (s *Sender) delegated(ctx context.Context, acct account.Account, op string, a arn, addr address.Address, f policyFacts) (source, error) {
	parsed, ok := parseIdentityARN(a.value)
	if !ok {
		return source{}, &InvalidARNError{Field: a.field, ARN: a.value}
	}
	ownerID, name := parsed.Account, parsed.Name
	refuse := &NotAuthorizedError{Principal: "arn:aws:iam::" + acct.SendingAccountID + ":root", Action: "ses:" + op, Resource: a.value}
	if parsed.Region != sesarn.AnyRegion && !parsed.InRegion(s.cfg.Region) {
		return source{}, refuse // sesarn's one rule: another region's identity is none of Petrel's
	}
	owner := acct
	if ownerID != acct.SendingAccountID {
		var err error
		owner, err = s.accounts.CachedBySendingAccountID(ctx, ownerID)
		if errors.Is(err, account.ErrNotFound) {
			return source{}, refuse
		}
		if err != nil {
			return source{}, &StorageError{err}
		}
	}
	canonical := "arn:aws:ses:" + s.cfg.Region + ":" + ownerID + ":identity/"
	id, policies, err := s.identities.SendingPolicies(ctx, owner.Name, name, canonical)
	var broken *identity.BrokenPolicyError
	brokenOK := errors.As(err, &broken) && owner.Name == acct.Name // the owner's own send: policies do not apply
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return source{}, refuse
	case err != nil && !brokenOK && broken != nil:
		return source{}, s.brokenPolicy(ctx, refuse, owner.Name, broken)
	case err != nil && !brokenOK:
		return source{}, &StorageError{err}
	case !identity.Covers(id.Name, addr):
		return source{}, refuse
	case !id.Verified:
		return source{}, &UnverifiedError{Identities: []string{id.Name}, Region: s.cfg.Region}
	}
	if owner.Name != acct.Name {
		r := identity.Request{
			Principal: acct.SendingAccountID, Action: "ses:" + op, Resource: canonical + id.Name,
			FromAddress: f.from.Email(), FromDisplayName: f.from.Name, FeedbackAddress: f.feedback, Recipients: f.recipients, Now: time.Now(),
		}
		d := identity.Evaluate(policies, r)
		if id.Kind == identity.Domain {
			aid, apolicies, err := s.identities.SendingPolicies(ctx, owner.Name, addr.Local+"@"+addr.Domain, canonical)
			switch {
			case errors.Is(err, identity.ErrNotFound):
			case errors.As(err, &broken):
				return source{}, s.brokenPolicy(ctx, refuse, owner.Name, broken)
			case err != nil:
				return source{}, &StorageError{err}
			default:
				r.Resource = canonical + aid.Name
				if ad := identity.Evaluate(apolicies, r); ad != identity.NotAllowed {
					d = ad
				}
			}
		}
		if d != identity.Allowed {
			return source{}, refuse
		}
	}
	// SES: both the owner and the delegate must be out of the sandbox to
	// send to unverified addresses.
	return source{ownerID: ownerID, identity: id.Name, owner: owner.Name, sandboxed: !owner.ProductionAccessEnabled}, nil
}

// brokenPolicy logs a stored policy that no longer parses and returns
// refuse with it as the cause.
func (s *Sender) brokenPolicy(ctx context.Context, refuse *NotAuthorizedError, owner string, broken *identity.BrokenPolicyError) error {
	slog.WarnContext(ctx, "delegated send refused: "+broken.Error(), "component", "sending", "owner", owner,
		"identity", broken.Identity, "policy", broken.Policy, "principal", refuse.Principal)
	refuse.Cause = broken
	return refuse
}

// senderAddr is a sender address of a message with the sending
// authorisation ARN that covers it ("" for none).
type senderAddr struct {
	addr address.Address
	arn  arn
}

// authorize checks that every sender identity of a message — From, MAIL
// FROM (mailFrom), the Sender and Return-Path headers when present
// (senders), and the FeedbackForwardingEmailAddress (v1 ReturnPath) when
// given — is covered by a verified identity of acct or, when an ARN applies to it,
// by the identity another account lets acct use (delegated) (SES §8.5,
// §11.6). It returns the identity that covers From (mail.sourceArn), with
// the account owning the one that covers MAIL FROM, or an
// *UnverifiedError listing the addresses no verified identity covers (SES
// MessageRejected / 554), or delegated's errors.
func (s *Sender) authorize(ctx context.Context, acct account.Account, req Request, arns senderARNs, from, mailFrom address.Address, senders []senderAddr) (source, error) {
	f := policyFacts{from: from, feedback: mailFrom.Email()}
	if req.FeedbackAddress != nil {
		// The feedback address is a sender identity like the others
		// (SES: "must be either individually verified with Amazon SES,
		// or from a domain that has been verified"), covered by its ARN
		// when one applies: never a sandbox recipient.
		f.feedback = req.FeedbackAddress.Email()
		senders = append(senders, senderAddr{*req.FeedbackAddress, arns.returnPath})
	}
	for _, r := range req.Recipients {
		f.recipients = append(f.recipients, r.Email())
	}
	addrs := append([]senderAddr{{from, arns.from}, {mailFrom, arns.source}}, senders...)
	var failed []string
	var first source
	seen := map[string]source{}
	key := func(sa senderAddr) string { return sa.addr.Key() + "\x00" + sa.arn.value }
	for _, sa := range addrs {
		k := key(sa)
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = source{}
		src := source{ownerID: acct.SendingAccountID, owner: acct.Name}
		if sa.arn.applies(sa.addr) {
			var err error
			var unv *UnverifiedError
			if src, err = s.delegated(ctx, acct, req.Operation, sa.arn, sa.addr, f); errors.As(err, &unv) {
				failed = append(failed, unv.Identities...)
				continue
			} else if err != nil {
				return source{}, err
			}
		} else {
			id, err := s.identities.Authorizing(ctx, acct.Name, sa.addr)
			if err != nil {
				return source{}, &StorageError{err}
			}
			if id == "" {
				failed = append(failed, sa.addr.Email())
				continue
			}
			src.identity = id
		}
		seen[k] = src
		if first.identity == "" {
			first = src
		}
	}
	if len(failed) > 0 {
		return source{}, &UnverifiedError{Identities: failed, Region: s.cfg.Region}
	}
	first.mailFromOwner = seen[key(addrs[1])].owner
	return first, nil
}
