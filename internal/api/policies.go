package api

import (
	"context"
	"errors"

	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/sesarn"
)

// Sending authorisation policies (CreateEmailIdentityPolicy,
// GetEmailIdentityPolicies, UpdateEmailIdentityPolicy,
// DeleteEmailIdentityPolicy; ../shared/spec/ses.md §1.2, §11.6) and tags on
// identities (CreateEmailIdentity.Tags, TagResource, UntagResource,
// ListTagsForResource for arn:aws:ses:REGION:ACCOUNT:identity/NAME).

// identityARN is the ARN of the caller's identity name
// (arn:aws:ses:REGION:SENDINGACCOUNTID:identity/NAME), the Resource its
// policies name.
func (s *Server) identityARN(ctx context.Context, account, name string) (string, error) {
	acct, err := s.Accounts.Cached(ctx, account)
	if err != nil {
		return "", err
	}
	return sesarn.Format(s.Accounts.Region(), acct.SendingAccountID, "identity", name), nil
}

// policyError maps the identity package's policy errors to SES's (an
// invalid document: BadRequestException, v1 InvalidPolicy).
func policyError(name, policyName string, err error) error {
	var pe *identity.PolicyError
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return notFound("Email identity %s does not exist.", name)
	case errors.Is(err, identity.ErrPolicyNotFound):
		return notFound("Policy %s does not exist for email identity %s.", policyName, name)
	case errors.Is(err, identity.ErrPolicyExists):
		return &Error{Code: "AlreadyExistsException", Status: 400, Message: "Policy " + policyName + " already exists for email identity " + name + "."}
	case errors.Is(err, identity.ErrPolicyLimit):
		return &Error{Code: "LimitExceededException", Status: 400, Message: "Email identity " + name + " already has 20 policies, the most it may have."}
	case errors.As(err, &pe):
		return v1CodeAs("InvalidPolicy", badRequest("%s", pe.Error()))
	}
	return err
}

// policyWrite is what writePolicy may do with a policy name: create a new
// policy (v2 CreateEmailIdentityPolicy), replace an existing one (v2
// UpdateEmailIdentityPolicy), or either (v1 PutIdentityPolicy).
type policyWrite int

const (
	policyCreate policyWrite = iota
	policyUpdate
	policyPut
)

// writePolicy checks the policy document doc against account's identity
// name (identity.ParsePolicy: its Resource must be the identity's ARN) and
// stores it as policyName, as mode allows. The policy name's and the
// document's presence are checked here (BadRequestException); the other
// errors are the identity package's, for the caller to map (policyError).
func (s *Server) writePolicy(ctx context.Context, account, name, policyName, doc string, mode policyWrite) error {
	if !identity.ValidPolicyName(policyName) {
		return badRequest("PolicyName %q is not valid: use 1-64 letters, digits, '-' and '_'.", policyName)
	}
	if doc == "" {
		return badRequest("Policy is required.")
	}
	id, err := s.Identities.Get(ctx, account, name)
	if err != nil {
		return err
	}
	arn, err := s.identityARN(ctx, account, id.Name)
	if err != nil {
		return err
	}
	p, err := identity.ParsePolicy(doc, arn)
	if err != nil {
		return err
	}
	switch mode {
	case policyCreate:
		return s.Identities.CreatePolicy(ctx, account, id.Name, policyName, p)
	case policyUpdate:
		return s.Identities.UpdatePolicy(ctx, account, id.Name, policyName, p)
	default:
		return s.Identities.PutPolicy(ctx, account, id.Name, policyName, p)
	}
}

// putPolicy is CreateEmailIdentityPolicy (create) and
// UpdateEmailIdentityPolicy: body {"Policy": "<JSON>"}.
func (s *Server) putPolicy(ctx context.Context, c *call, mode policyWrite) (any, error) {
	var in struct{ Policy *string }
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	name, policyName := c.r.PathValue("EmailIdentity"), c.r.PathValue("PolicyName")
	doc := ""
	if in.Policy != nil {
		doc = *in.Policy
	}
	if err := s.writePolicy(ctx, c.account, name, policyName, doc, mode); err != nil {
		return nil, policyError(name, policyName, err)
	}
	return struct{}{}, nil
}

func (s *Server) createIdentityPolicy(ctx context.Context, c *call) (any, error) {
	return s.putPolicy(ctx, c, policyCreate)
}

func (s *Server) updateIdentityPolicy(ctx context.Context, c *call) (any, error) {
	return s.putPolicy(ctx, c, policyUpdate)
}

func (s *Server) deleteIdentityPolicy(ctx context.Context, c *call) (any, error) {
	name, policyName := c.r.PathValue("EmailIdentity"), c.r.PathValue("PolicyName")
	if !identity.ValidPolicyName(policyName) {
		return nil, badRequest("PolicyName %q is not valid: use 1-64 letters, digits, '-' and '_'.", policyName)
	}
	if err := s.Identities.DeletePolicy(ctx, c.account, name, policyName); err != nil {
		return nil, policyError(name, policyName, err)
	}
	return struct{}{}, nil
}

// identityPolicies is GetEmailIdentityPolicies' output.
type identityPolicies struct {
	Policies map[string]string // policy name → JSON document
}

// getIdentityPolicies is GetEmailIdentityPolicies: {"Policies": {name: JSON}}.
func (s *Server) getIdentityPolicies(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("EmailIdentity")
	ps, err := s.Identities.Policies(ctx, c.account, name)
	if err != nil {
		return nil, policyError(name, "", err)
	}
	return identityPolicies{ps}, nil
}

// identityTags checks tags as SES does (resourcetag.Validate: key,
// value, duplicates, at most 50) and converts them.
func identityTags(in []tag) ([]identity.Tag, error) {
	if err := resourcetag.Validate(tagsIn(in)); err != nil {
		return nil, badRequest("Tags: %s.", err.Error())
	}
	out := make([]identity.Tag, len(in))
	for i, t := range in {
		out[i] = identity.Tag{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

func identityTagsOut(in []identity.Tag) []tag {
	out := make([]tag, len(in))
	for i, t := range in {
		out[i] = tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// taggedIdentity resolves a ResourceArn naming one of the caller's
// identities, arn:aws:ses:REGION:ACCOUNT:identity/NAME, to the identity's
// name; ok is false when arn names no identity (another resource type).
// Another account's or region's ARN, or an identity the caller does not
// have, is NotFoundException.
func (s *Server) taggedIdentity(ctx context.Context, account, arn string) (name string, ok bool, err error) {
	a, ok := sesarn.Parse(arn)
	if !ok || a.Type != "identity" {
		return "", false, nil
	}
	name = a.Name
	acct, err := s.Accounts.Cached(ctx, account)
	if err != nil {
		return "", true, err
	}
	if !a.Of(s.Region, acct.SendingAccountID) {
		return "", true, notFound("Email identity %s does not exist.", name)
	}
	id, err := s.Identities.Get(ctx, account, name)
	if err != nil {
		return "", true, policyError(name, "", err)
	}
	return id.Name, true, nil
}

// tagIdentity, untagIdentity and listIdentityTags are TagResource,
// UntagResource and ListTagsForResource for an identity.
func (s *Server) tagIdentity(ctx context.Context, account, name string, in []tag) (any, error) {
	tags, err := identityTags(in)
	if err != nil {
		return nil, err
	}
	if err := s.Identities.Tag(ctx, account, name, tags); errors.Is(err, identity.ErrTagLimit) {
		return nil, badRequest("Tags: %s.", err.Error())
	} else if err != nil {
		return nil, policyError(name, "", err)
	}
	return struct{}{}, nil
}

func (s *Server) untagIdentity(ctx context.Context, account, name string, keys []string) (any, error) {
	if err := s.Identities.Untag(ctx, account, name, keys); err != nil {
		return nil, policyError(name, "", err)
	}
	return struct{}{}, nil
}

func (s *Server) listIdentityTags(ctx context.Context, account, name string) (any, error) {
	tags, err := s.Identities.Tags(ctx, account, name)
	if err != nil {
		return nil, policyError(name, "", err)
	}
	return struct{ Tags []tag }{identityTagsOut(tags)}, nil
}
