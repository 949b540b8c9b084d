package api

// The SES v1 API's sending authorisation policy and identity notification
// actions (../shared/spec/ses.md §2.4, §4.1; docs/ses-v1.md):
//
//   - PutIdentityPolicy {Identity, PolicyName, Policy} creates or replaces
//     a policy (v2 has Create and Update; writePolicy holds both's rules);
//     an invalid document is InvalidPolicy. GetIdentityPolicies {Identity,
//     PolicyNames.member.N} → Policies (name → JSON; names the identity
//     does not have are left out), ListIdentityPolicies {Identity} →
//     PolicyNames, DeleteIdentityPolicy {Identity, PolicyName} run the v2
//     handlers (viaV2).
//   - SetIdentityNotificationTopic {Identity, NotificationType
//     Bounce|Complaint|Delivery, SnsTopic}: SnsTopic absent (or empty)
//     clears the topic; a topic that is not an SNS topic ARN, or not one of
//     the caller's Petrel topics (Server.Topics), is InvalidParameterValue.
//     SetIdentityHeadersInNotificationsEnabled {Identity, NotificationType,
//     Enabled}, SetIdentityFeedbackForwardingEnabled {Identity,
//     ForwardingEnabled} (v1's rule: disabling needs both a Bounce and a
//     Complaint topic, else InvalidParameterValue), and
//     GetIdentityNotificationAttributes {Identities.member.N} → the
//     settings of each identity the caller has (others are left out), by
//     the name as given. These are the identity service's functions the
//     `petrel identity notifications` CLI calls; SES v2 has none of them
//     except forwarding (PutEmailIdentityFeedbackAttributes, whose rule lets
//     forwarding be turned off whatever the topics).
//
// Identity may be a name or the identity's ARN
// (arn:aws:ses:REGION:ACCOUNT:identity/NAME); an identity the caller does
// not have is InvalidParameterValue, as in SES.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/identity"
)

// v1MaxPolicyNames and v1MaxNotificationIdentities are the most names one
// GetIdentityPolicies and one GetIdentityNotificationAttributes may ask
// for (SES: 20 policies — all an identity may have —, 100 identities).
const (
	v1MaxPolicyNames            = identity.MaxPoliciesPerIdent
	v1MaxNotificationIdentities = 100
)

// v1NotificationActions are the SES v1 API's identity policy and
// notification actions (v1.go).
func (s *Server) v1NotificationActions() map[string]v1Action {
	return map[string]v1Action{
		"PutIdentityPolicy":                        {fn: s.v1PutIdentityPolicy},
		"GetIdentityPolicies":                      {fn: s.v1GetIdentityPolicies},
		"ListIdentityPolicies":                     {fn: s.v1ListIdentityPolicies},
		"DeleteIdentityPolicy":                     {fn: s.v1DeleteIdentityPolicy},
		"SetIdentityNotificationTopic":             {fn: s.v1SetIdentityNotificationTopic},
		"SetIdentityHeadersInNotificationsEnabled": {fn: s.v1SetIdentityHeadersInNotificationsEnabled},
		"SetIdentityFeedbackForwardingEnabled":     {fn: s.v1SetIdentityFeedbackForwardingEnabled},
		"GetIdentityNotificationAttributes":        {fn: s.v1GetIdentityNotificationAttributes},
	}
}

// v1IdentityName resolves an Identity parameter: a name as it is, an
// identity ARN of the caller's (taggedIdentity) to its name. Another ARN,
// or an identity ARN the caller has no identity for, is an error
// (InvalidParameterValue on the wire).
func (s *Server) v1IdentityName(ctx context.Context, c *call, v string) (string, error) {
	if !strings.HasPrefix(v, "arn:") {
		return v, nil
	}
	name, ok, err := s.taggedIdentity(ctx, c.account, v)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", v1Invalid("Identity %s is not an identity ARN (arn:aws:ses:REGION:ACCOUNT:identity/NAME).", v)
	}
	return name, nil
}

// v1Identity is the request's required Identity, resolved (v1IdentityName).
func (s *Server) v1Identity(ctx context.Context, c *call, q *awsquery.Request) (string, error) {
	v, err := q.Required("Identity", v1Missing)
	if err != nil {
		return "", err
	}
	return s.v1IdentityName(ctx, c, v)
}

// v1PutIdentityPolicy is PutIdentityPolicy: create or replace.
func (s *Server) v1PutIdentityPolicy(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	policyName, err := q.Required("PolicyName", v1Missing)
	if err != nil {
		return nil, err
	}
	doc, err := q.Required("Policy", v1Missing)
	if err != nil {
		return nil, err
	}
	if err := s.writePolicy(ctx, c.account, name, policyName, doc, policyPut); err != nil {
		return nil, policyError(name, policyName, err)
	}
	return nil, nil
}

// v1Policies returns the policies of the request's Identity, through the
// v2 handler GetEmailIdentityPolicies.
func (s *Server) v1Policies(ctx context.Context, c *call, q *awsquery.Request) (map[string]string, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	out, err := s.viaV2(ctx, c, s.getIdentityPolicies, v2Request{Path: map[string]string{"EmailIdentity": name}})
	if err != nil {
		return nil, err
	}
	return out.(identityPolicies).Policies, nil
}

// v1PolicyMap is SES v1's PolicyMap: <entry><key>name</key><value>JSON</value></entry>…
// (an element even when empty: Policies is required).
type v1PolicyMap struct {
	Entries []awsquery.Entry `xml:"entry"`
}

type v1GetIdentityPoliciesResult struct {
	Policies v1PolicyMap
}

// v1GetIdentityPolicies is GetIdentityPolicies: the policies of
// PolicyNames (at most 20) the identity has.
func (s *Server) v1GetIdentityPolicies(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	names, err := q.List("PolicyNames")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 && !q.Has("PolicyNames") {
		return nil, v1Missing("PolicyNames")
	}
	if len(names) > v1MaxPolicyNames {
		return nil, v1Invalid("PolicyNames has %d names: at most %d may be asked for at a time.", len(names), v1MaxPolicyNames)
	}
	for _, n := range names {
		if !identity.ValidPolicyName(n) {
			return nil, v1Invalid("PolicyName %q is not valid: use 1-64 letters, digits, '-' and '_'.", n)
		}
	}
	ps, err := s.v1Policies(ctx, c, q)
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for _, n := range names {
		if doc, ok := ps[n]; ok {
			want[n] = doc
		}
	}
	return v1GetIdentityPoliciesResult{v1PolicyMap{awsquery.Entries(want)}}, nil
}

// v1Members is a v1 list of strings: <member>…</member>… (an element even
// when empty).
type v1Members struct {
	Member []string `xml:"member"`
}

type v1ListIdentityPoliciesResult struct {
	PolicyNames v1Members
}

// v1ListIdentityPolicies is ListIdentityPolicies: the identity's policy
// names, sorted.
func (s *Server) v1ListIdentityPolicies(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	ps, err := s.v1Policies(ctx, c, q)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	slices.Sort(names)
	return v1ListIdentityPoliciesResult{v1Members{names}}, nil
}

// v1DeleteIdentityPolicy is DeleteIdentityPolicy, through the v2 handler
// (a policy the identity does not have is no error).
func (s *Server) v1DeleteIdentityPolicy(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	policyName, err := q.Required("PolicyName", v1Missing)
	if err != nil {
		return nil, err
	}
	if _, err := s.viaV2(ctx, c, s.deleteIdentityPolicy, v2Request{Path: map[string]string{"EmailIdentity": name, "PolicyName": policyName}}); err != nil {
		return nil, err
	}
	return nil, nil
}

// v1NotificationType is the request's required NotificationType
// (Bounce, Complaint or Delivery).
func v1NotificationType(q *awsquery.Request) (string, error) {
	t, err := q.Required("NotificationType", v1Missing)
	if err != nil {
		return "", err
	}
	switch t {
	case identity.Bounce, identity.Complaint, identity.Delivery:
		return t, nil
	}
	return "", v1Invalid("NotificationType %q is not one of Bounce, Complaint, Delivery.", t)
}

// v1SetIdentityNotificationTopic is SetIdentityNotificationTopic.
func (s *Server) v1SetIdentityNotificationTopic(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	kind, err := v1NotificationType(q)
	if err != nil {
		return nil, err
	}
	topic := q.Get("SnsTopic")
	if topic != "" {
		if err := identity.ValidateTopicArn(topic); err != nil {
			return nil, v1Invalid("SnsTopic: %v.", err)
		}
		if err := s.checkTopic(ctx, c.account, "SnsTopic", topic); err != nil {
			return nil, err
		}
	}
	if err := s.Identities.SetNotificationTopic(ctx, c.account, name, kind, topic); err != nil {
		return nil, identityError(name, err)
	}
	return nil, nil
}

// v1SetIdentityHeadersInNotificationsEnabled is
// SetIdentityHeadersInNotificationsEnabled.
func (s *Server) v1SetIdentityHeadersInNotificationsEnabled(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	kind, err := v1NotificationType(q)
	if err != nil {
		return nil, err
	}
	on, err := v1RequiredBool(q, "Enabled")
	if err != nil {
		return nil, err
	}
	if err := s.Identities.SetHeadersInNotifications(ctx, c.account, name, kind, on); err != nil {
		return nil, identityError(name, err)
	}
	return nil, nil
}

// v1SetIdentityFeedbackForwardingEnabled is
// SetIdentityFeedbackForwardingEnabled, with SES v1's rule
// (identity.Service.SetFeedbackForwarding).
func (s *Server) v1SetIdentityFeedbackForwardingEnabled(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := s.v1Identity(ctx, c, q)
	if err != nil {
		return nil, err
	}
	on, err := v1RequiredBool(q, "ForwardingEnabled")
	if err != nil {
		return nil, err
	}
	if err := s.Identities.SetFeedbackForwarding(ctx, c.account, name, on); err != nil {
		return nil, identityError(name, err)
	}
	return nil, nil
}

// v1IdentityNotificationAttributes is SES's IdentityNotificationAttributes:
// a topic is left out when none is set.
type v1IdentityNotificationAttributes struct {
	BounceTopic                            string `xml:",omitempty"`
	ComplaintTopic                         string `xml:",omitempty"`
	DeliveryTopic                          string `xml:",omitempty"`
	ForwardingEnabled                      bool
	HeadersInBounceNotificationsEnabled    bool
	HeadersInComplaintNotificationsEnabled bool
	HeadersInDeliveryNotificationsEnabled  bool
}

type v1NotificationAttributesEntry struct {
	Key   string                           `xml:"key"`
	Value v1IdentityNotificationAttributes `xml:"value"`
}

type v1GetIdentityNotificationAttributesResult struct {
	NotificationAttributes struct {
		Entries []v1NotificationAttributesEntry `xml:"entry"`
	}
}

// v1GetIdentityNotificationAttributes is GetIdentityNotificationAttributes:
// the settings of each of Identities (at most 100; names or ARNs) the
// caller has, keyed by the identity as given; the others are left out.
func (s *Server) v1GetIdentityNotificationAttributes(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	ids, err := q.List("Identities")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 && !q.Has("Identities") {
		return nil, v1Missing("Identities")
	}
	if len(ids) > v1MaxNotificationIdentities {
		return nil, v1Invalid("Identities has %d identities: at most %d may be asked for at a time.", len(ids), v1MaxNotificationIdentities)
	}
	// Each identity as given → its name (ARNs resolved); those that
	// name none of the caller's identities are left out.
	names := map[string]string{}
	var given []string
	for _, id := range ids {
		if _, dup := names[id]; dup {
			continue
		}
		name, err := s.v1IdentityName(ctx, c, id)
		if err != nil {
			if v1Unknown(err) {
				continue
			}
			return nil, err
		}
		names[id] = name
		given = append(given, id)
	}
	byName, err := s.Identities.NotificationSettingsOf(ctx, c.account, slices.Collect(maps.Values(names)))
	if err != nil {
		return nil, err
	}
	var out v1GetIdentityNotificationAttributesResult
	for _, id := range given {
		a, ok := byName[names[id]]
		if !ok {
			continue
		}
		out.NotificationAttributes.Entries = append(out.NotificationAttributes.Entries, v1NotificationAttributesEntry{Key: id, Value: v1IdentityNotificationAttributes{
			BounceTopic: a.BounceTopic, ComplaintTopic: a.ComplaintTopic, DeliveryTopic: a.DeliveryTopic,
			ForwardingEnabled:                   a.ForwardingEnabled,
			HeadersInBounceNotificationsEnabled: a.HeadersInBounce, HeadersInComplaintNotificationsEnabled: a.HeadersInComplaint,
			HeadersInDeliveryNotificationsEnabled: a.HeadersInDelivery,
		}})
	}
	return out, nil
}

// v1Unknown reports whether err says an identity name or ARN names none
// of the caller's identities (v1IdentityName's refusals).
func v1Unknown(err error) bool {
	var e *Error
	var qe *awsquery.Error
	return errors.As(err, &e) && e.Code == "NotFoundException" || errors.As(err, &qe) && qe.Code == "InvalidParameterValue"
}
