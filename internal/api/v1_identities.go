package api

// The SES v1 identity actions (../shared/spec/ses.md §2.4, §9; botocore's
// model ses/2010-12-01): verification of addresses and domains, the
// identity list, DKIM and custom MAIL FROM. Each runs what the v2 API
// runs — CreateEmailIdentity, DeleteEmailIdentity,
// PutEmailIdentityDkimAttributes, PutEmailIdentityDkimSigningAttributes,
// PutEmailIdentityMailFromAttributes through viaV2; ListEmailIdentities
// (listIdentities), GetEmailIdentity's parts (dkimAttributes,
// mailFromAttributesOf, identity.Verifications) directly — and only
// differs where SES v1 does:
//
//   - VerifyEmailIdentity, VerifyEmailAddress, VerifyDomainIdentity and
//     VerifyDomainDkim are idempotent: an identity that exists is verified
//     again (an unverified address gets a new verification email, a
//     domain's FAILED records start a new 72-hour window) where v2's
//     CreateEmailIdentity answers AlreadyExistsException;
//   - DeleteIdentity and DeleteVerifiedEmailAddress of an identity the
//     account does not have succeed;
//   - the Get…Attributes actions take up to 100 identities and leave out
//     the ones the account does not have;
//   - enums are SES v1's: VerificationStatus Pending, Success, Failed,
//     TemporaryFailure, NotStarted; BehaviorOnMXFailure UseDefaultValue,
//     RejectMessage.

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/identity"
)

// v1IdentityActions are the SES v1 API's identities actions (v1.go).
func (s *Server) v1IdentityActions() map[string]v1Action {
	return map[string]v1Action{
		"VerifyEmailIdentity": {fn: s.v1VerifyEmailIdentity},
		"VerifyEmailAddress": {fn: func(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
			if _, err := s.v1VerifyEmailIdentity(ctx, c, q); err != nil {
				return nil, err
			}
			return v1NoResult{}, nil
		}},
		"VerifyDomainIdentity":                {fn: s.v1VerifyDomainIdentity},
		"VerifyDomainDkim":                    {fn: s.v1VerifyDomainDkim},
		"ListIdentities":                      {fn: s.v1ListIdentities},
		"ListVerifiedEmailAddresses":          {fn: s.v1ListVerifiedEmailAddresses},
		"DeleteIdentity":                      {fn: s.v1DeleteIdentity},
		"DeleteVerifiedEmailAddress":          {fn: s.v1DeleteVerifiedEmailAddress},
		"GetIdentityVerificationAttributes":   {fn: s.v1GetIdentityVerificationAttributes},
		"GetIdentityDkimAttributes":           {fn: s.v1GetIdentityDkimAttributes},
		"SetIdentityDkimEnabled":              {fn: s.v1SetIdentityDkimEnabled},
		"GetIdentityMailFromDomainAttributes": {fn: s.v1GetIdentityMailFromDomainAttributes},
		"SetIdentityMailFromDomain":           {fn: s.v1SetIdentityMailFromDomain},
	}
}

// v1MaxIdentities is how many identities one Get…Attributes call may name
// (SES: up to 100 at a time).
const v1MaxIdentities = 100

// v1VerificationStatus is SES v1's VerificationStatus (and
// CustomMailFromStatus) of Petrel's (identity.Status…).
var v1VerificationStatus = map[string]string{
	identity.StatusPending:          "Pending",
	identity.StatusSuccess:          "Success",
	identity.StatusFailed:           "Failed",
	identity.StatusTemporaryFailure: "TemporaryFailure",
	identity.StatusNotStarted:       "NotStarted",
}

// v1BehaviorOnMXFailure is SES v1's BehaviorOnMXFailure of v2's
// BehaviorOnMxFailure.
var v1BehaviorOnMXFailure = map[string]string{
	identity.UseDefaultValue: "UseDefaultValue",
	identity.RejectMessage:   "RejectMessage",
}

// XML results (botocore's model, ses/2010-12-01). A list or map the model
// requires is written even when empty (<Identities/>), as SES does: boto3
// leaves an absent one out of the response dict.

type v1IdentityList struct {
	Members []string `xml:"member"`
}

type verifyDomainIdentityResult struct {
	VerificationToken string `xml:"VerificationToken"`
}

type verifyDomainDkimResult struct {
	DkimTokens v1IdentityList `xml:"DkimTokens"`
}

type listIdentitiesResult struct {
	Identities v1IdentityList `xml:"Identities"`
	NextToken  string         `xml:"NextToken,omitempty"`
}

type listVerifiedEmailAddressesResult struct {
	VerifiedEmailAddresses v1IdentityList `xml:"VerifiedEmailAddresses"`
}

// identityVerificationAttributes is IdentityVerificationAttributes:
// VerificationToken for a domain only.
type identityVerificationAttributes struct {
	VerificationStatus string `xml:"VerificationStatus"`
	VerificationToken  string `xml:"VerificationToken,omitempty"`
}

type getIdentityVerificationAttributesResult struct {
	VerificationAttributes struct {
		Entries []struct {
			Key   string                         `xml:"key"`
			Value identityVerificationAttributes `xml:"value"`
		} `xml:"entry"`
	} `xml:"VerificationAttributes"`
}

// identityDkimAttributes is IdentityDkimAttributes: DkimTokens are the
// selectors whose records must be published (left out without a key, as
// SES does).
type identityDkimAttributes struct {
	DkimEnabled            bool            `xml:"DkimEnabled"`
	DkimVerificationStatus string          `xml:"DkimVerificationStatus"`
	DkimTokens             *v1IdentityList `xml:"DkimTokens"` // nil: left out
}

type getIdentityDkimAttributesResult struct {
	DkimAttributes struct {
		Entries []struct {
			Key   string                 `xml:"key"`
			Value identityDkimAttributes `xml:"value"`
		} `xml:"entry"`
	} `xml:"DkimAttributes"`
}

// identityMailFromDomainAttributes is IdentityMailFromDomainAttributes:
// MailFromDomain and MailFromDomainStatus are left out when the identity
// has no custom MAIL FROM domain.
type identityMailFromDomainAttributes struct {
	MailFromDomain       string `xml:"MailFromDomain,omitempty"`
	MailFromDomainStatus string `xml:"MailFromDomainStatus,omitempty"`
	BehaviorOnMXFailure  string `xml:"BehaviorOnMXFailure"`
}

type getIdentityMailFromDomainAttributesResult struct {
	MailFromDomainAttributes struct {
		Entries []struct {
			Key   string                           `xml:"key"`
			Value identityMailFromDomainAttributes `xml:"value"`
		} `xml:"entry"`
	} `xml:"MailFromDomainAttributes"`
}

// v1IdentityName checks that value, the v1 parameter param, names an
// identity of kind (identity.Normalize), and returns the normalised name.
// Otherwise InvalidParameterValue.
func v1IdentityName(param, value string, kind identity.Kind) (string, error) {
	n, k, err := identity.Normalize(value)
	switch {
	case err != nil && kind == identity.Domain:
		return "", v1Invalid("%s %q is not a valid domain: %v.", param, value, err)
	case err != nil:
		return "", v1Invalid("%s %q is not a valid email address: %v.", param, value, err)
	case k != kind && kind == identity.Domain:
		return "", v1Invalid("%s %q is an email address, not a domain.", param, value)
	case k != kind:
		return "", v1Invalid("%s %q is a domain, not an email address.", param, value)
	}
	return n, nil
}

// hasV2Code reports whether err is the v2 API's error code.
func hasV2Code(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// v1VerifyEmailIdentity is VerifyEmailIdentity (and VerifyEmailAddress):
// EmailAddress (required) becomes an address identity as
// CreateEmailIdentity makes it, which sends it the verification email;
// for an address the account already has, the email is sent again unless
// it is verified (resendAddressVerification). Errors:
// InvalidParameterValue (not an email address), Throttling (too many
// verification emails).
func (s *Server) v1VerifyEmailIdentity(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	addr, err := q.Required("EmailAddress", v1Missing)
	if err != nil {
		return nil, err
	}
	if _, err := v1IdentityName("EmailAddress", addr, identity.EmailAddress); err != nil {
		return nil, err
	}
	// An address the account has is not offered to CreateEmailIdentity,
	// which would count a verification email against the limit before
	// finding it exists; one created meanwhile is resent to all the same.
	_, err = s.Identities.Get(ctx, c.account, addr)
	switch {
	case err == nil:
		err = s.resendAddressVerification(ctx, c.account, addr)
	case errors.Is(err, identity.ErrNotFound):
		_, err = s.viaV2(ctx, c, s.createIdentity, v2Request{Body: map[string]string{"EmailIdentity": addr}})
		if hasV2Code(err, "AlreadyExistsException") {
			err = s.resendAddressVerification(ctx, c.account, addr)
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// v1VerifyDomain makes domain an identity of c's account as
// CreateEmailIdentity does (an Easy DKIM key, its records PENDING), or,
// when the account has it already, starts its FAILED records again
// (identity.RestartVerification).
func (s *Server) v1VerifyDomain(ctx context.Context, c *call, domain string) error {
	_, err := s.viaV2(ctx, c, s.createIdentity, v2Request{Body: map[string]string{"EmailIdentity": domain}})
	if !hasV2Code(err, "AlreadyExistsException") {
		return err
	}
	err = s.Identities.RestartVerification(ctx, c.account, domain, time.Now())
	if err == nil {
		err = s.Identities.StartVerification(ctx, c.account, domain)
	}
	if errors.Is(err, identity.ErrNotFound) { // deleted meanwhile
		return notFound("Domain %s does not exist.", domain)
	}
	return err
}

// v1VerifyDomainIdentity is VerifyDomainIdentity: Domain (required)
// becomes a domain identity (v1VerifyDomain); the result is its
// VerificationToken, to publish as `_amazonses.<domain> TXT "<token>"` —
// the domain is verified when that record or a DKIM record is found
// (identity.Checker). Errors: InvalidParameterValue (not a domain, or a
// public suffix).
func (s *Server) v1VerifyDomainIdentity(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	domain, err := q.Required("Domain", v1Missing)
	if err != nil {
		return nil, err
	}
	name, err := v1IdentityName("Domain", domain, identity.Domain)
	if err != nil {
		return nil, err
	}
	if err := s.v1VerifyDomain(ctx, c, domain); err != nil {
		return nil, err
	}
	tok, err := s.Identities.VerificationToken(ctx, c.account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Domain %s does not exist.", domain)
	}
	if err != nil {
		return nil, err
	}
	return verifyDomainIdentityResult{VerificationToken: tok}, nil
}

// v1VerifyDomainDkim is VerifyDomainDkim: Domain (required) becomes a
// domain identity if it is not one (v1VerifyDomain; SES does so too), and
// the result is its DkimTokens, the selectors of its DKIM keys as
// PutEmailIdentityDkimSigningAttributes reports them: each is published as
// <token>._domainkey.<domain> (a CNAME to <token>.<SigningHostedZone> with
// --dkim-cname-zone, else the TXT record `petrel identity dkim` prints).
// A domain without a key gets an Easy DKIM key (SigningAttributesOrigin
// AWS_SES); a BYODKIM key is kept. Errors: InvalidParameterValue.
func (s *Server) v1VerifyDomainDkim(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	domain, err := q.Required("Domain", v1Missing)
	if err != nil {
		return nil, err
	}
	name, err := v1IdentityName("Domain", domain, identity.Domain)
	if err != nil {
		return nil, err
	}
	if err := s.v1VerifyDomain(ctx, c, domain); err != nil {
		return nil, err
	}
	_, ok, err := s.Identities.GetDKIM(ctx, c.account, name)
	if err != nil {
		return nil, err
	}
	var out any
	if ok {
		out, err = s.signingOutput(ctx, c.account, name)
	} else {
		out, err = s.viaV2(ctx, c, s.putDkimSigningAttributes, v2Request{Path: map[string]string{"EmailIdentity": name},
			Body: map[string]string{"SigningAttributesOrigin": identity.OriginEasy}})
	}
	if err != nil {
		return nil, err
	}
	return verifyDomainDkimResult{DkimTokens: v1IdentityList{out.(putDkimSigningAttributesOutput).DkimTokens}}, nil
}

// v1ListIdentities is ListIdentities: ListEmailIdentities with
// IdentityType (EmailAddress or Domain) as its IDENTITY_TYPE filter,
// MaxItems as PageSize (0-1000, 0 or absent: 100) and NextToken; the
// result is the names, in name order.
func (s *Server) v1ListIdentities(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	in := listEmailIdentitiesInput{Filter: map[string]string{}}
	switch t := q.Get("IdentityType"); t {
	case "":
	case "EmailAddress":
		in.Filter["IDENTITY_TYPE"] = string(identity.EmailAddress)
	case "Domain":
		in.Filter["IDENTITY_TYPE"] = string(identity.Domain)
	default:
		return nil, v1Invalid("IdentityType %q must be EmailAddress or Domain.", t)
	}
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, v1Invalid("MaxItems must be an integer between 0 and 1000.")
		}
		in.PageSize = &n
	}
	if v := q.Get("NextToken"); v != "" {
		in.NextToken = &v
	}
	res, err := s.listIdentities(ctx, c.account, in)
	if errors.Is(err, errPageSize) {
		return nil, v1Invalid("MaxItems must be an integer between 0 and 1000.")
	}
	if err != nil {
		return nil, err
	}
	page := res.(listEmailIdentitiesOutput)
	out := listIdentitiesResult{Identities: v1IdentityList{Members: []string{}}, NextToken: page.NextToken}
	for _, id := range page.EmailIdentities {
		out.Identities.Members = append(out.Identities.Members, id.IdentityName)
	}
	return out, nil
}

// v1ListVerifiedEmailAddresses is ListVerifiedEmailAddresses (legacy):
// every address identity whose VerificationStatus is SUCCESS, in name
// order, on one page (ListEmailIdentities filtered, read to its end).
func (s *Server) v1ListVerifiedEmailAddresses(ctx context.Context, c *call, _ *awsquery.Request) (any, error) {
	size := 1000
	in := listEmailIdentitiesInput{PageSize: &size,
		Filter: map[string]string{"IDENTITY_TYPE": string(identity.EmailAddress), "VERIFICATION_STATUS": identity.StatusSuccess}}
	out := listVerifiedEmailAddressesResult{VerifiedEmailAddresses: v1IdentityList{Members: []string{}}}
	for {
		res, err := s.listIdentities(ctx, c.account, in)
		if err != nil {
			return nil, err
		}
		page := res.(listEmailIdentitiesOutput)
		for _, id := range page.EmailIdentities {
			out.VerifiedEmailAddresses.Members = append(out.VerifiedEmailAddresses.Members, id.IdentityName)
		}
		if page.NextToken == "" {
			return out, nil
		}
		in.NextToken = &page.NextToken
	}
}

// v1Delete is DeleteEmailIdentity of name; an identity the account does
// not have is no error (SES v1).
func (s *Server) v1Delete(ctx context.Context, c *call, name string) error {
	_, err := s.viaV2(ctx, c, s.deleteIdentity, v2Request{Path: map[string]string{"EmailIdentity": name}})
	if hasV2Code(err, "NotFoundException") {
		return nil
	}
	return err
}

// v1DeleteIdentity is DeleteIdentity: Identity (required, an address or
// a domain) is deleted with its keys, settings and policies. Errors:
// InvalidParameterValue (not an address or domain).
func (s *Server) v1DeleteIdentity(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("Identity", v1Missing)
	if err != nil {
		return nil, err
	}
	if _, _, err := identity.Normalize(name); err != nil {
		return nil, v1Invalid("Identity %q is not a valid email address or domain: %v.", name, err)
	}
	return nil, s.v1Delete(ctx, c, name)
}

// v1DeleteVerifiedEmailAddress is DeleteVerifiedEmailAddress (legacy):
// DeleteIdentity of an address; no Result element. Errors:
// InvalidParameterValue (not an email address).
func (s *Server) v1DeleteVerifiedEmailAddress(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	addr, err := q.Required("EmailAddress", v1Missing)
	if err != nil {
		return nil, err
	}
	if _, err := v1IdentityName("EmailAddress", addr, identity.EmailAddress); err != nil {
		return nil, err
	}
	if err := s.v1Delete(ctx, c, addr); err != nil {
		return nil, err
	}
	return v1NoResult{}, nil
}

// v1Identities reads Identities.member.N of a Get…Attributes action (up
// to v1MaxIdentities) and returns those the account has, with each the
// name as the caller gave it (the key of the result's map); a name given
// twice counts once, and names that are not identities of the account —
// not even valid names — are left out, as SES leaves them out.
func (s *Server) v1Identities(ctx context.Context, account string, q *awsquery.Request) ([]identity.Identity, []string, error) {
	names, err := q.List("Identities")
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 && !q.Has("Identities") {
		return nil, nil, v1Missing("identities")
	}
	if len(names) > v1MaxIdentities {
		return nil, nil, v1Invalid("Identities names %d identities; at most %d may be given.", len(names), v1MaxIdentities)
	}
	var ids []identity.Identity
	var asked []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		id, err := s.Identities.Get(ctx, account, n)
		if errors.Is(err, identity.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ids, asked = append(ids, id), append(asked, n)
	}
	return ids, asked, nil
}

// v1GetIdentityVerificationAttributes is GetIdentityVerificationAttributes:
// for each of Identities the account has, its VerificationStatus (as
// GetEmailIdentity's) and, for a domain, its VerificationToken.
func (s *Server) v1GetIdentityVerificationAttributes(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	ids, asked, err := s.v1Identities(ctx, c.account, q)
	if err != nil {
		return nil, err
	}
	vs, err := s.Identities.Verifications(ctx, c.account, ids)
	if err != nil {
		return nil, err
	}
	var out getIdentityVerificationAttributesResult
	for i, id := range ids {
		a := identityVerificationAttributes{VerificationStatus: v1VerificationStatus[vs[id.Name].Status]}
		if id.Kind == identity.Domain {
			if a.VerificationToken, err = s.Identities.VerificationToken(ctx, c.account, id.Name); errors.Is(err, identity.ErrNotFound) {
				continue // deleted meanwhile
			} else if err != nil {
				return nil, err
			}
		}
		out.VerificationAttributes.Entries = append(out.VerificationAttributes.Entries, struct {
			Key   string                         `xml:"key"`
			Value identityVerificationAttributes `xml:"value"`
		}{asked[i], a})
	}
	return out, nil
}

// v1GetIdentityDkimAttributes is GetIdentityDkimAttributes: for each of
// Identities the account has, GetEmailIdentity's DkimAttributes
// (dkimAttributes; an address shows its domain's key): DkimEnabled is
// SigningEnabled, DkimVerificationStatus the key record's status,
// DkimTokens its selectors.
func (s *Server) v1GetIdentityDkimAttributes(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	ids, asked, err := s.v1Identities(ctx, c.account, q)
	if err != nil {
		return nil, err
	}
	var out getIdentityDkimAttributesResult
	for i, id := range ids {
		d, err := s.dkimAttributes(ctx, c.account, id)
		if err != nil {
			return nil, err
		}
		a := identityDkimAttributes{DkimEnabled: d.SigningEnabled, DkimVerificationStatus: v1VerificationStatus[d.Status]}
		if len(d.Tokens) > 0 {
			a.DkimTokens = &v1IdentityList{d.Tokens}
		}
		out.DkimAttributes.Entries = append(out.DkimAttributes.Entries, struct {
			Key   string                 `xml:"key"`
			Value identityDkimAttributes `xml:"value"`
		}{asked[i], a})
	}
	return out, nil
}

// v1SetIdentityDkimEnabled is SetIdentityDkimEnabled:
// PutEmailIdentityDkimAttributes of Identity (required) with
// SigningEnabled DkimEnabled (required, true or false). Errors:
// InvalidParameterValue (an identity the account does not have, or one
// without a DKIM key of its own: an address uses its domain's).
func (s *Server) v1SetIdentityDkimEnabled(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("Identity", v1Missing)
	if err != nil {
		return nil, err
	}
	enabled, err := v1RequiredBool(q, "DkimEnabled")
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.putDkimAttributes, v2Request{Path: map[string]string{"EmailIdentity": name},
		Body: map[string]bool{"SigningEnabled": enabled}})
	return nil, err
}

// v1GetIdentityMailFromDomainAttributes is
// GetIdentityMailFromDomainAttributes: for each of Identities the account
// has, GetEmailIdentity's MailFromAttributes (mailFromAttributesOf) in v1's
// enums.
func (s *Server) v1GetIdentityMailFromDomainAttributes(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	ids, asked, err := s.v1Identities(ctx, c.account, q)
	if err != nil {
		return nil, err
	}
	var out getIdentityMailFromDomainAttributesResult
	for i, id := range ids {
		m, err := s.mailFromAttributesOf(ctx, c.account, id.Name)
		if errors.Is(err, identity.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		a := identityMailFromDomainAttributes{BehaviorOnMXFailure: v1BehaviorOnMXFailure[m.BehaviorOnMxFailure]}
		if m.MailFromDomain != "" {
			a.MailFromDomain, a.MailFromDomainStatus = m.MailFromDomain, v1VerificationStatus[m.MailFromDomainStatus]
		}
		out.MailFromDomainAttributes.Entries = append(out.MailFromDomainAttributes.Entries, struct {
			Key   string                           `xml:"key"`
			Value identityMailFromDomainAttributes `xml:"value"`
		}{asked[i], a})
	}
	return out, nil
}

// v1SetIdentityMailFromDomain is SetIdentityMailFromDomain:
// PutEmailIdentityMailFromAttributes of Identity (required) with
// MailFromDomain (absent or empty: custom MAIL FROM off) and
// BehaviorOnMXFailure UseDefaultValue (the default) or RejectMessage.
// Errors: InvalidParameterValue (an identity the account does not have, a
// domain that is not a proper subdomain of the identity's, another
// behaviour).
func (s *Server) v1SetIdentityMailFromDomain(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("Identity", v1Missing)
	if err != nil {
		return nil, err
	}
	body := map[string]string{}
	if q.Has("MailFromDomain") {
		body["MailFromDomain"] = q.Get("MailFromDomain")
	}
	switch b := q.Get("BehaviorOnMXFailure"); b {
	case "":
	case "UseDefaultValue":
		body["BehaviorOnMxFailure"] = identity.UseDefaultValue
	case "RejectMessage":
		body["BehaviorOnMxFailure"] = identity.RejectMessage
	default:
		return nil, v1Invalid("BehaviorOnMXFailure %q must be UseDefaultValue or RejectMessage.", b)
	}
	_, err = s.viaV2(ctx, c, s.putMailFromAttributes, v2Request{Path: map[string]string{"EmailIdentity": name}, Body: body})
	return nil, err
}
