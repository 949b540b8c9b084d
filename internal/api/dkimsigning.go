package api

import (
	"context"
	"errors"
	"time"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/identity"
)

// putDkimSigningAttributesOutput is PutEmailIdentityDkimSigningAttributesResponse
// (§1.6): the state of the key that will sign next, the selectors whose
// records must be published now, and the CNAME zone for Easy DKIM keys.
type putDkimSigningAttributesOutput struct {
	DkimStatus        string   `json:"DkimStatus"`
	DkimTokens        []string `json:"DkimTokens"`
	SigningHostedZone string   `json:"SigningHostedZone,omitempty"`
}

// putDkimSigningAttributes is PutEmailIdentityDkimSigningAttributes
// (PUT /v2/email/identities/{EmailIdentity}/dkim/signing, §1.6):
//
//   - SigningAttributesOrigin EXTERNAL with DomainSigningSelector and
//     DomainSigningPrivateKey: BYODKIM, or a new BYODKIM key;
//   - AWS_SES: back to Easy DKIM from BYODKIM (a key of NextSigningKeyLength,
//     RSA_2048_BIT by default), or, for Easy DKIM, a NextSigningKeyLength
//     change (SES: at most once per 24 hours; the length the next key
//     already has is refused); AWS_SES without a length on an Easy DKIM
//     identity changes nothing.
//
// Unlike SES, which may send unsigned mail while the new key is pending,
// the new key is NEXT: the current key signs until the new record
// verifies (identity.Rotator). Errors: NotFoundException for an identity
// the account does not have; BadRequestException for an address
// identity, a missing or unknown origin, members of the other origin,
// a selector out of SES's pattern, a key that is not RSA 1024-4096 or
// Ed25519, a selector the identity already publishes, or a refused length.
func (s *Server) putDkimSigningAttributes(ctx context.Context, c *call) (any, error) {
	var in struct {
		SigningAttributesOrigin *string
		SigningAttributes       *struct {
			DomainSigningSelector   *string
			DomainSigningPrivateKey *string
			NextSigningKeyLength    *string
		}
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	name := c.r.PathValue("EmailIdentity")
	id, err := s.Identities.Get(ctx, c.account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist.", name)
	}
	if err != nil {
		return nil, err
	}
	if id.Kind != identity.Domain {
		return nil, badRequest("DKIM signing attributes can only be set for a domain identity; %s is an email address (it uses its domain's DKIM).", id.Name)
	}
	if in.SigningAttributesOrigin == nil || *in.SigningAttributesOrigin == "" {
		return nil, badRequest("SigningAttributesOrigin is required: AWS_SES or EXTERNAL.")
	}
	var sel, key, length string
	if a := in.SigningAttributes; a != nil {
		sel, key, length = deref(a.DomainSigningSelector), deref(a.DomainSigningPrivateKey), deref(a.NextSigningKeyLength)
	}
	switch *in.SigningAttributesOrigin {
	case identity.OriginExternal:
		if length != "" {
			return nil, badRequest("SigningAttributes.NextSigningKeyLength applies to Easy DKIM (SigningAttributesOrigin AWS_SES), not EXTERNAL.")
		}
		if sel == "" || key == "" {
			return nil, badRequest("SigningAttributes.DomainSigningSelector and SigningAttributes.DomainSigningPrivateKey are required when SigningAttributesOrigin is EXTERNAL.")
		}
		if !selectorRE.MatchString(sel) {
			return nil, badRequest("SigningAttributes.DomainSigningSelector %q: use 1-63 letters, digits and inner hyphens.", sel)
		}
		_, err = s.Identities.PutDKIMKey(ctx, c.account, id.Name, sel, []byte(key))
	case identity.OriginEasy:
		if sel != "" || key != "" {
			return nil, badRequest("SigningAttributes.DomainSigningSelector and DomainSigningPrivateKey apply to EXTERNAL (BYODKIM), not AWS_SES.")
		}
		alg, lerr := nextSigningKeyLength("SigningAttributes.NextSigningKeyLength", length)
		if lerr != nil {
			return nil, lerr
		}
		cur, ok, gerr := s.Identities.GetDKIM(ctx, c.account, id.Name)
		if gerr != nil {
			return nil, gerr
		}
		keys, kerr := s.Identities.DKIMKeys(ctx, c.account, id.Name)
		if kerr != nil {
			return nil, kerr
		}
		upcoming := cur
		if len(keys) > 1 && keys[1].State == identity.StateNext {
			upcoming = keys[1]
		}
		if ok && alg == "" && upcoming.Origin == identity.OriginEasy {
			return s.signingOutput(ctx, c.account, id.Name) // Easy DKIM already: nothing to change
		}
		_, err = s.Identities.SetEasyDKIM(ctx, c.account, id.Name, alg, time.Now())
	default:
		return nil, badRequest("SigningAttributesOrigin must be AWS_SES or EXTERNAL, not %q.", *in.SigningAttributesOrigin)
	}
	switch {
	case errors.Is(err, dkim.ErrBadKey):
		return nil, badRequest("SigningAttributes.DomainSigningPrivateKey: %v; give a base64-encoded PKCS #1 or PKCS #8 private key.", err)
	case errors.Is(err, identity.ErrSameSelector):
		return nil, badRequest("SigningAttributes.DomainSigningSelector %q is already in use by a key of %s: a new key needs a new selector, so that both records can be published during the switch.", sel, id.Name)
	case errors.Is(err, identity.ErrKeyLengthUnchanged), errors.Is(err, identity.ErrKeyLengthTooSoon):
		return nil, badRequest("SigningAttributes.NextSigningKeyLength: %v.", err)
	case errors.Is(err, identity.ErrNotFound):
		return nil, notFound("Email identity %s does not exist.", name)
	case err != nil:
		return nil, err
	}
	// The new key's record is checked from now (PENDING, due), as
	// CreateEmailIdentity's are.
	if err := s.Identities.StartVerification(ctx, c.account, id.Name); err != nil {
		return nil, err
	}
	return s.signingOutput(ctx, c.account, id.Name)
}

// signingOutput reports the key that will sign next (NEXT if there is one,
// else ACTIVE): its record's state and every selector to publish.
func (s *Server) signingOutput(ctx context.Context, account, domain string) (any, error) {
	keys, err := s.Identities.DKIMKeys(ctx, account, domain)
	if err != nil {
		return nil, err
	}
	out := putDkimSigningAttributesOutput{DkimStatus: "NOT_STARTED", DkimTokens: []string{}}
	if len(keys) == 0 {
		return out, nil
	}
	upcoming := keys[0]
	if len(keys) > 1 && keys[1].State == identity.StateNext {
		upcoming = keys[1]
	}
	if out.DkimStatus, err = s.Identities.DKIMStatus(ctx, account, domain, upcoming.Selector); err != nil {
		return nil, err
	}
	for _, k := range keys {
		out.DkimTokens = append(out.DkimTokens, k.Selector)
	}
	out.SigningHostedZone = s.Identities.SigningHostedZone(upcoming.Origin)
	return out, nil
}

// nextSigningKeyLength parses SES's DkimSigningKeyLength (RSA_1024_BIT or
// RSA_2048_BIT) given as member (named in the error); "" (absent) gives
// "". Anything else is BadRequestException.
func nextSigningKeyLength(member, v string) (dkim.Algorithm, error) {
	switch v {
	case "":
		return "", nil
	case string(dkim.RSA1024), string(dkim.RSA2048):
		return dkim.Algorithm(v), nil
	}
	return "", badRequest("%s must be RSA_1024_BIT or RSA_2048_BIT, not %q.", member, v)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
