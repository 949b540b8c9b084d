package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/sesarn"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Configuration sets (SES v2, ../shared/spec/ses.md §1.8) and the tags of
// configuration sets (TagResource, UntagResource, ListTagsForResource;
// §11.3). Every operation acts on the caller's account only: another
// account's set, by name or by ARN, is NotFoundException with the same
// message as a set that does not exist.

// Wire shapes (SES's, members as the model names them).

type deliveryOptionsJSON struct {
	TlsPolicy          *string `json:"TlsPolicy,omitempty"`
	SendingPoolName    *string `json:"SendingPoolName,omitempty"`
	MaxDeliverySeconds *int64  `json:"MaxDeliverySeconds,omitempty"`
}

type reputationOptionsJSON struct {
	ReputationMetricsEnabled *bool    `json:"ReputationMetricsEnabled,omitempty"`
	LastFreshStart           *float64 `json:"LastFreshStart,omitempty"` // epoch seconds
}

type sendingOptionsJSON struct {
	SendingEnabled *bool `json:"SendingEnabled,omitempty"`
}

type trackingOptionsJSON struct {
	CustomRedirectDomain *string `json:"CustomRedirectDomain,omitempty"`
	HttpsPolicy          *string `json:"HttpsPolicy,omitempty"`
}

// suppressionOptionsJSON is SES's SuppressionOptions plus Petrel's member
// SoftBouncePolicy (docs/configuration-sets.md). SuppressedReasons absent
// or null: no override; []: suppression disabled for the set.
type suppressionOptionsJSON struct {
	SuppressedReasons *[]string                   `json:"SuppressedReasons"`
	SuppressionScope  *string                     `json:"SuppressionScope,omitempty"`
	ValidationOptions json.RawMessage             `json:"ValidationOptions,omitempty"`
	SoftBouncePolicy  *suppression.SoftBounceJSON `json:"SoftBouncePolicy,omitempty"`
}

type configSetOutput struct {
	ConfigurationSetName string
	DeliveryOptions      deliveryOptionsJSON
	ReputationOptions    reputationOptionsJSON
	SendingOptions       sendingOptionsJSON
	SuppressionOptions   *suppressionOptionsJSON     `json:",omitempty"`
	TrackingOptions      *trackingOptionsJSON        `json:",omitempty"`
	VdmOptions           *configset.VdmOptions       `json:",omitempty"`
	ArchivingOptions     *configset.ArchivingOptions `json:",omitempty"`
	Tags                 []tag
}

// configSetError maps configset's errors for the set name to SES's.
func configSetError(name string, err error) error {
	switch {
	case errors.Is(err, configset.ErrNotFound):
		return errNoConfigSet(name)
	case errors.Is(err, configset.ErrExists):
		return &Error{Code: "AlreadyExistsException", Status: 400, Message: "Configuration set " + name + " already exists."}
	case errors.Is(err, configset.ErrLimit):
		return &Error{Code: "LimitExceededException", Status: 400,
			Message: "The account already has " + strconv.Itoa(configset.MaxPerAccount) + " configuration sets, the most it may have."}
	case errors.Is(err, configset.ErrInvalid):
		return badRequest("%s.", err.Error())
	}
	return err
}

func errNoConfigSet(name string) *Error {
	return notFound("Configuration set %s does not exist.", name)
}

// pathConfigSet is the {ConfigurationSetName} of the path, checked.
func pathConfigSet(c *call) (string, error) {
	name := c.r.PathValue("ConfigurationSetName")
	if err := configset.ValidateName(name); err != nil {
		return "", badRequest("%s.", err.Error())
	}
	return name, nil
}

// parseSuppressionOptions reads a SuppressionOptions: nil for no override
// (SuppressedReasons absent or null), an empty policy for suppression
// disabled, else the reasons and the optional SoftBouncePolicy.
func parseSuppressionOptions(in *suppressionOptionsJSON) (*suppression.Policy, error) {
	if in == nil {
		return nil, nil
	}
	if in.SuppressionScope != nil && *in.SuppressionScope != "ACCOUNT" {
		return nil, badRequest("SuppressionScope %q is not supported: Petrel has account suppression lists only (ACCOUNT).", *in.SuppressionScope)
	}
	if len(in.ValidationOptions) > 0 && string(in.ValidationOptions) != "null" {
		return nil, badRequest("ValidationOptions is not supported: Petrel does not validate addresses before sending.")
	}
	if in.SuppressedReasons == nil {
		if in.SoftBouncePolicy != nil {
			return nil, badRequest("SoftBouncePolicy needs SuppressedReasons: without them the set has no suppression override.")
		}
		return nil, nil
	}
	p := &suppression.Policy{Reasons: []suppression.Reason{}}
	for _, r := range *in.SuppressedReasons {
		reason, err := suppression.ParseReason(r)
		if err != nil {
			return nil, badRequest("SuppressedReasons: %v.", err)
		}
		if !slices.Contains(p.Reasons, reason) {
			p.Reasons = append(p.Reasons, reason)
		}
	}
	if in.SoftBouncePolicy != nil {
		if !p.Has(suppression.Bounce) {
			return nil, badRequest("SoftBouncePolicy needs BOUNCE among the SuppressedReasons: the entries it makes are BOUNCE entries.")
		}
		sb, err := in.SoftBouncePolicy.Policy()
		if err != nil {
			return nil, badRequest("SoftBouncePolicy: %v.", err)
		}
		p.SoftBounce = &sb
	}
	return p, nil
}

func suppressionOptionsOut(p *suppression.Policy) *suppressionOptionsJSON {
	if p == nil {
		return nil
	}
	reasons := make([]string, len(p.Reasons))
	for i, r := range p.Reasons {
		reasons[i] = string(r)
	}
	out := &suppressionOptionsJSON{SuppressedReasons: &reasons}
	if p.SoftBounce != nil {
		j := p.SoftBounce.JSON()
		out.SoftBouncePolicy = &j
	}
	return out
}

// deliveryOptionsIn reads a DeliveryOptions; a TlsPolicy given as "" is
// not one of the enum's values, and a MaxDeliverySeconds given as 0 is out
// of range (configset reads both as "not set").
func deliveryOptionsIn(in *deliveryOptionsJSON) (configset.DeliveryOptions, error) {
	var d configset.DeliveryOptions
	if in == nil {
		return d, nil
	}
	if in.TlsPolicy != nil {
		if *in.TlsPolicy == "" {
			return d, badRequest("TlsPolicy \"\" is not one of REQUIRE, OPTIONAL.")
		}
		d.TlsPolicy = *in.TlsPolicy
	}
	if in.SendingPoolName != nil {
		d.SendingPoolName = *in.SendingPoolName
	}
	if in.MaxDeliverySeconds != nil {
		if *in.MaxDeliverySeconds == 0 {
			return d, badRequest("MaxDeliverySeconds 0 is out of range (%d-%d).", configset.MinMaxDeliverySeconds, configset.MaxMaxDeliverySeconds)
		}
		d.MaxDeliverySeconds = *in.MaxDeliverySeconds
	}
	return d, nil
}

// trackingOptionsIn reads a TrackingOptions; an HttpsPolicy given as "" is
// not one of the enum's values (configset reads it as "not set").
func trackingOptionsIn(in *trackingOptionsJSON) (configset.TrackingOptions, error) {
	var t configset.TrackingOptions
	if in == nil {
		return t, nil
	}
	if in.CustomRedirectDomain != nil {
		t.CustomRedirectDomain = *in.CustomRedirectDomain
	}
	if in.HttpsPolicy != nil {
		if *in.HttpsPolicy == "" {
			return t, badRequest("HttpsPolicy \"\" is not one of REQUIRE, REQUIRE_OPEN_ONLY, OPTIONAL.")
		}
		t.HttpsPolicy = *in.HttpsPolicy
	}
	return t, nil
}

// vdmOptionsJSON is SES's VdmOptions as received: members Petrel does not
// know are dropped when decoding; the rest is checked by configset.
type vdmOptionsJSON struct {
	DashboardOptions *struct{ EngagementMetrics *string }
	GuardianOptions  *struct{ OptimizedSharedDelivery *string }
}

// vdmOptionsIn reads a VdmOptions (nil: none); a FeatureStatus given as ""
// is not one of the enum's values.
func vdmOptionsIn(in *vdmOptionsJSON) (*configset.VdmOptions, error) {
	if in == nil {
		return nil, nil
	}
	v := &configset.VdmOptions{}
	if d := in.DashboardOptions; d != nil {
		v.DashboardOptions = &configset.DashboardOptions{}
		if d.EngagementMetrics != nil {
			if *d.EngagementMetrics == "" {
				return nil, badRequest("VdmOptions.DashboardOptions.EngagementMetrics \"\" is not one of ENABLED, DISABLED.")
			}
			v.DashboardOptions.EngagementMetrics = *d.EngagementMetrics
		}
	}
	if g := in.GuardianOptions; g != nil {
		v.GuardianOptions = &configset.GuardianOptions{}
		if g.OptimizedSharedDelivery != nil {
			if *g.OptimizedSharedDelivery == "" {
				return nil, badRequest("VdmOptions.GuardianOptions.OptimizedSharedDelivery \"\" is not one of ENABLED, DISABLED.")
			}
			v.GuardianOptions.OptimizedSharedDelivery = *g.OptimizedSharedDelivery
		}
	}
	return v, nil
}

// archivingOptionsIn is the ArchivingOptions for an ArchiveArn (absent or
// empty: none); configset checks that it is an ARN.
func archivingOptionsIn(arn *string) *configset.ArchivingOptions {
	if arn == nil || *arn == "" {
		return nil
	}
	return &configset.ArchivingOptions{ArchiveArn: *arn}
}

// lastFreshStartIn reads LastFreshStart, epoch seconds: after the epoch
// and not in the future (configset.FreshStartSkew allowed); else
// BadRequestException, before converting a value time.Time cannot hold.
func lastFreshStartIn(sec float64, now time.Time) (time.Time, error) {
	if math.IsNaN(sec) || sec <= 0 || sec > float64(now.Add(configset.FreshStartSkew).Unix()) {
		return time.Time{}, badRequest("LastFreshStart %g is out of range (epoch seconds after 1970-01-01, not in the future).", sec)
	}
	return epochTime(sec), nil
}

func tagsIn(in []tag) []configset.Tag {
	out := make([]configset.Tag, len(in))
	for i, t := range in {
		out[i] = configset.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func tagsOut(in []configset.Tag) []tag {
	out := make([]tag, len(in))
	for i, t := range in {
		out[i] = tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// createConfigSet is CreateConfigurationSet (§1.8). Options not given take
// SES's defaults: sending enabled (when SendingOptions is absent), TlsPolicy
// OPTIONAL, no suppression override.
func (s *Server) createConfigSet(ctx context.Context, c *call) (any, error) {
	var in struct {
		ConfigurationSetName *string
		TrackingOptions      *trackingOptionsJSON
		DeliveryOptions      *deliveryOptionsJSON
		ReputationOptions    *reputationOptionsJSON
		SendingOptions       *sendingOptionsJSON
		Tags                 []tag
		SuppressionOptions   *suppressionOptionsJSON
		VdmOptions           *vdmOptionsJSON
		ArchivingOptions     *struct{ ArchiveArn *string }
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.ConfigurationSetName == nil {
		return nil, badRequest("ConfigurationSetName is required.")
	}
	cs := configset.ConfigurationSet{Account: c.account, Name: *in.ConfigurationSetName, SendingEnabled: true, Tags: tagsIn(in.Tags)}
	var err error
	if cs.Tracking, err = trackingOptionsIn(in.TrackingOptions); err != nil {
		return nil, err
	}
	if cs.Vdm, err = vdmOptionsIn(in.VdmOptions); err != nil {
		return nil, err
	}
	if cs.Delivery, err = deliveryOptionsIn(in.DeliveryOptions); err != nil {
		return nil, err
	}
	if o := in.SendingOptions; o != nil {
		// The model's default for SendingEnabled is false, and the SDKs
		// leave a member at its default out: SendingOptions without it is
		// false. Without SendingOptions the set sends (SES).
		cs.SendingEnabled = o.SendingEnabled != nil && *o.SendingEnabled
	}
	if o := in.ReputationOptions; o != nil {
		cs.Reputation.ReputationMetricsEnabled = o.ReputationMetricsEnabled != nil && *o.ReputationMetricsEnabled
		if o.LastFreshStart != nil {
			if cs.Reputation.LastFreshStart, err = lastFreshStartIn(*o.LastFreshStart, time.Now()); err != nil {
				return nil, err
			}
		}
	}
	if cs.Suppression, err = parseSuppressionOptions(in.SuppressionOptions); err != nil {
		return nil, err
	}
	if in.ArchivingOptions != nil {
		cs.Archiving = archivingOptionsIn(in.ArchivingOptions.ArchiveArn)
	}
	if err := s.ConfigSets.Create(ctx, cs); err != nil {
		return nil, configSetError(cs.Name, err)
	}
	return struct{}{}, nil
}

func epochTime(sec float64) time.Time {
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9))
}

// getConfigSet is GetConfigurationSet (§1.8): every option in SES's shape;
// SuppressionOptions only when the set overrides the account's policy,
// TrackingOptions only when set.
func (s *Server) getConfigSet(ctx context.Context, c *call) (any, error) {
	name, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	cs, err := s.ConfigSets.Get(ctx, c.account, name)
	if err != nil {
		return nil, configSetError(name, err)
	}
	tls := cs.Delivery.TlsPolicy
	out := configSetOutput{
		ConfigurationSetName: cs.Name,
		DeliveryOptions:      deliveryOptionsJSON{TlsPolicy: &tls},
		ReputationOptions:    reputationOptionsJSON{ReputationMetricsEnabled: &cs.Reputation.ReputationMetricsEnabled},
		SendingOptions:       sendingOptionsJSON{SendingEnabled: &cs.SendingEnabled},
		SuppressionOptions:   suppressionOptionsOut(cs.Suppression),
		VdmOptions:           cs.Vdm,
		ArchivingOptions:     cs.Archiving,
		Tags:                 tagsOut(cs.Tags),
	}
	if cs.Delivery.SendingPoolName != "" {
		out.DeliveryOptions.SendingPoolName = &cs.Delivery.SendingPoolName
	}
	if cs.Delivery.MaxDeliverySeconds != 0 {
		out.DeliveryOptions.MaxDeliverySeconds = &cs.Delivery.MaxDeliverySeconds
	}
	fresh := cs.Reputation.LastFreshStart
	if s.Reputation != nil {
		// The operator's resume of the set is its latest fresh start.
		resumed, err := s.Reputation.FreshStart(ctx, c.account, name)
		if err != nil {
			return nil, err
		}
		if resumed.After(fresh) {
			fresh = resumed
		}
	}
	if !fresh.IsZero() {
		f := float64(fresh.UnixMilli()) / 1000
		out.ReputationOptions.LastFreshStart = &f
	}
	if t := cs.Tracking; t != (configset.TrackingOptions{}) {
		out.TrackingOptions = &trackingOptionsJSON{}
		if t.CustomRedirectDomain != "" {
			out.TrackingOptions.CustomRedirectDomain = &t.CustomRedirectDomain
		}
		if t.HttpsPolicy != "" {
			out.TrackingOptions.HttpsPolicy = &t.HttpsPolicy
		}
	}
	return out, nil
}

// listConfigSetsInput is ListConfigurationSetsRequest.
type listConfigSetsInput struct {
	Filter    map[string]string // ConfigurationSetFilter: CONFIGURATION_SET_NAME_CONTAINS → substring
	NextToken *string
	PageSize  *int // 0-1000; 0 or absent: 100 (pageSize)
}

// listConfigSetsQuery is ListConfigurationSets as boto3, the AWS CLI and
// older SDKs send it: GET /v2/email/configuration-sets, NextToken and
// PageSize in the query string.
func (s *Server) listConfigSetsQuery(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	var in listConfigSetsInput
	var err error
	if in.NextToken, in.PageSize, err = pageQuery(q); err != nil {
		return nil, err
	}
	return s.listConfigSets(ctx, c.account, in)
}

// listConfigSetsBody is ListConfigurationSets as the SDKs generated from
// the model with the filter send it (aws-sdk-go-v2 service/sesv2 v1.79.7
// does): POST /v2/email/list-configuration-sets, the members in a JSON
// body, which may be empty.
func (s *Server) listConfigSetsBody(ctx context.Context, c *call) (any, error) {
	var in listConfigSetsInput
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	return s.listConfigSets(ctx, c.account, in)
}

// listConfigSetsOutput is ListConfigurationSetsResponse.
type listConfigSetsOutput struct {
	ConfigurationSets []string
	NextToken         string `json:",omitempty"`
}

// configSetTokenPrefix marks ListConfigurationSets' NextToken: the name of
// the last set of the page before, after this prefix, base64url (RFC 4648
// §5, unpadded). A token without it was not issued here.
const configSetTokenPrefix = "cs1:"

// listConfigSets is ListConfigurationSets (§1.8): the account's set names
// in name order, PageSize (default 100) at a time, those whose name
// contains the CONFIGURATION_SET_NAME_CONTAINS filter (in any case) only.
// A bad PageSize, filter key or NextToken is BadRequestException (the
// operation's model has no InvalidNextTokenException).
func (s *Server) listConfigSets(ctx context.Context, account string, in listConfigSetsInput) (any, error) {
	size, err := pageSize(in.PageSize)
	if err != nil {
		return nil, err
	}
	contains := ""
	for _, k := range slices.Sorted(maps.Keys(in.Filter)) {
		if k != "CONFIGURATION_SET_NAME_CONTAINS" {
			return nil, badRequest("Filter key %q is not supported: use CONFIGURATION_SET_NAME_CONTAINS.", k)
		}
		contains = strings.ToLower(strings.TrimSpace(in.Filter[k]))
	}
	after := ""
	if in.NextToken != nil && *in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || !strings.HasPrefix(string(b), configSetTokenPrefix) {
			return nil, badRequest("NextToken is not valid.")
		}
		after = strings.TrimPrefix(string(b), configSetTokenPrefix)
	}
	batch := size + 1
	if contains != "" {
		batch = max(batch, 500)
	}
	out := listConfigSetsOutput{ConfigurationSets: []string{}}
	for {
		names, err := s.ConfigSets.List(ctx, account, after, batch)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !strings.Contains(strings.ToLower(n), contains) {
				continue
			}
			if len(out.ConfigurationSets) == size {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(configSetTokenPrefix + out.ConfigurationSets[size-1]))
				return out, nil
			}
			out.ConfigurationSets = append(out.ConfigurationSets, n)
		}
		if len(names) < batch {
			return out, nil
		}
		after = names[len(names)-1]
	}
}

// deleteConfigSet is DeleteConfigurationSet (§1.8).
func (s *Server) deleteConfigSet(ctx context.Context, c *call) (any, error) {
	name, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	if err := s.ConfigSets.Delete(ctx, c.account, name); err != nil {
		return nil, configSetError(name, err)
	}
	return struct{}{}, nil
}

// putConfigSetOption is the frame of the PutConfigurationSet*Options
// operations: the path's set name, the body decoded into in, then put.
func putConfigSetOption[T any](ctx context.Context, c *call, put func(name string, in *T) error) (any, error) {
	name, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	in := new(T)
	if err := decodeOptional(c.body, in); err != nil {
		return nil, err
	}
	if err := put(name, in); err != nil {
		return nil, configSetError(name, err)
	}
	return struct{}{}, nil
}

// putConfigSetDelivery is PutConfigurationSetDeliveryOptions: replaces
// TlsPolicy (absent: OPTIONAL), SendingPoolName and MaxDeliverySeconds
// (absent: the deployment's delivery deadline; else 300–50400).
func (s *Server) putConfigSetDelivery(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *deliveryOptionsJSON) error {
		d, err := deliveryOptionsIn(in)
		if err != nil {
			return err
		}
		return s.ConfigSets.PutDeliveryOptions(ctx, c.account, name, d)
	})
}

// putConfigSetSending is PutConfigurationSetSendingOptions (SendingEnabled
// absent: false, as the model's default).
func (s *Server) putConfigSetSending(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *sendingOptionsJSON) error {
		return s.ConfigSets.PutSendingOptions(ctx, c.account, name, in.SendingEnabled != nil && *in.SendingEnabled)
	})
}

// putConfigSetReputation is PutConfigurationSetReputationOptions.
func (s *Server) putConfigSetReputation(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *reputationOptionsJSON) error {
		return s.ConfigSets.PutReputationOptions(ctx, c.account, name, in.ReputationMetricsEnabled != nil && *in.ReputationMetricsEnabled)
	})
}

// putConfigSetSuppression is PutConfigurationSetSuppressionOptions:
// SuppressedReasons absent or null removes the set's override, [] disables
// suppression for the set, else the set's own reasons, with Petrel's
// SoftBouncePolicy member optionally.
func (s *Server) putConfigSetSuppression(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *suppressionOptionsJSON) error {
		p, err := parseSuppressionOptions(in)
		if err != nil {
			return err
		}
		return s.ConfigSets.PutSuppressionOptions(ctx, c.account, name, p)
	})
}

// putConfigSetTracking is PutConfigurationSetTrackingOptions.
func (s *Server) putConfigSetTracking(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *trackingOptionsJSON) error {
		t, err := trackingOptionsIn(in)
		if err != nil {
			return err
		}
		return s.ConfigSets.PutTrackingOptions(ctx, c.account, name, t)
	})
}

// putConfigSetVdm is PutConfigurationSetVdmOptions: VdmOptions in SES's
// shape, stored in its canonical form (unknown members dropped; absent or
// null: none); a FeatureStatus not ENABLED or DISABLED is
// BadRequestException naming the member.
func (s *Server) putConfigSetVdm(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *struct{ VdmOptions *vdmOptionsJSON }) error {
		v, err := vdmOptionsIn(in.VdmOptions)
		if err != nil {
			return err
		}
		return s.ConfigSets.PutVdmOptions(ctx, c.account, name, v)
	})
}

// putConfigSetArchiving is PutConfigurationSetArchivingOptions: ArchiveArn,
// an ARN, is stored (absent or empty: none).
func (s *Server) putConfigSetArchiving(ctx context.Context, c *call) (any, error) {
	return putConfigSetOption(ctx, c, func(name string, in *struct{ ArchiveArn *string }) error {
		return s.ConfigSets.PutArchivingOptions(ctx, c.account, name, archivingOptionsIn(in.ArchiveArn))
	})
}

// configSetARN resolves a ResourceArn naming one of the caller's
// configuration sets, arn:aws:ses:REGION:ACCOUNT:configuration-set/NAME,
// to the set's name. Another account's or region's ARN is
// NotFoundException, worded as for a set that does not exist; an ARN of
// another resource type is BadRequestException.
func (s *Server) configSetARN(ctx context.Context, account, arn string) (string, error) {
	a, ok := sesarn.Parse(arn)
	if !ok {
		return "", badRequest("ResourceArn %q is not an Amazon SES ARN (arn:aws:ses:REGION:ACCOUNT:TYPE/NAME).", arn)
	}
	name := a.Name
	if a.Type != "configuration-set" {
		return "", badRequest("ResourceArn %q: Petrel tags configuration sets, identities, contact lists and templates only (arn:aws:ses:REGION:ACCOUNT:configuration-set/NAME, …:identity/NAME, …:contact-list/NAME, …:template/NAME).", arn)
	}
	if err := configset.ValidateName(name); err != nil {
		return "", badRequest("ResourceArn: %s.", err.Error())
	}
	acct, err := s.Accounts.Get(ctx, account)
	if err != nil {
		return "", err
	}
	if !a.Of(s.Region, acct.SendingAccountID) {
		return "", errNoConfigSet(name)
	}
	return name, nil
}

// tagResource is TagResource (§11.3) for configuration sets: adds Tags,
// replacing the values of keys the set has; at most 50 tags per set.
func (s *Server) tagResource(ctx context.Context, c *call) (any, error) {
	var in struct {
		ResourceArn *string
		Tags        []tag
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.ResourceArn == nil {
		return nil, badRequest("ResourceArn is required.")
	}
	if len(in.Tags) == 0 {
		return nil, badRequest("Tags is required.")
	}
	if id, ok, err := s.taggedIdentity(ctx, c.account, *in.ResourceArn); ok {
		if err != nil {
			return nil, err
		}
		return s.tagIdentity(ctx, c.account, id, in.Tags)
	}
	if name, ok, err := s.taggedContactList(ctx, c.account, *in.ResourceArn); ok {
		if err != nil {
			return nil, err
		}
		return s.tagContactList(ctx, c.account, name, in.Tags)
	}
	if name, ok, err := s.taggedTemplate(ctx, c.account, *in.ResourceArn); ok {
		if err != nil {
			return nil, err
		}
		return s.tagTemplate(ctx, c.account, name, in.Tags)
	}
	name, err := s.configSetARN(ctx, c.account, *in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := s.ConfigSets.Tag(ctx, c.account, name, tagsIn(in.Tags)); err != nil {
		return nil, configSetError(name, err)
	}
	return struct{}{}, nil
}

// untagResource is UntagResource: DELETE /v2/email/tags?ResourceArn=…
// &TagKeys=…&TagKeys=…; keys the set does not have are ignored.
// pairTags checks tags as SES does (resourcetag.Validate: key, value,
// duplicates, at most 50) and converts them to the {key, value} pairs
// email templates and contact lists keep.
func pairTags(in []tag) ([][2]string, error) {
	if err := resourcetag.Validate(tagsIn(in)); err != nil {
		return nil, badRequest("Tags: %s.", err.Error())
	}
	out := make([][2]string, len(in))
	for i, t := range in {
		out[i] = [2]string{t.Key, t.Value}
	}
	return out, nil
}

func pairTagsOut(in [][2]string) []tag {
	out := make([]tag, len(in))
	for i, t := range in {
		out[i] = tag{Key: t[0], Value: t[1]}
	}
	return out
}

func (s *Server) untagResource(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	keys := q["TagKeys"]
	if !q.Has("ResourceArn") {
		return nil, badRequest("ResourceArn is required.")
	}
	if len(keys) == 0 {
		return nil, badRequest("TagKeys is required.")
	}
	for _, k := range keys {
		if err := resourcetag.ValidateKey(k); err != nil {
			return nil, badRequest("TagKeys: %s.", err.Error())
		}
	}
	if id, ok, err := s.taggedIdentity(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.untagIdentity(ctx, c.account, id, keys)
	}
	if name, ok, err := s.taggedContactList(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.untagContactList(ctx, c.account, name, keys)
	}
	if name, ok, err := s.taggedTemplate(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.untagTemplate(ctx, c.account, name, keys)
	}
	name, err := s.configSetARN(ctx, c.account, q.Get("ResourceArn"))
	if err != nil {
		return nil, err
	}
	if err := s.ConfigSets.Untag(ctx, c.account, name, keys); err != nil {
		return nil, configSetError(name, err)
	}
	return struct{}{}, nil
}

// listTagsForResource is ListTagsForResource: GET
// /v2/email/tags?ResourceArn=… → {"Tags": [{"Key","Value"}…]}.
func (s *Server) listTagsForResource(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	if !q.Has("ResourceArn") {
		return nil, badRequest("ResourceArn is required.")
	}
	if id, ok, err := s.taggedIdentity(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.listIdentityTags(ctx, c.account, id)
	}
	if name, ok, err := s.taggedContactList(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.listContactListTags(ctx, c.account, name)
	}
	if name, ok, err := s.taggedTemplate(ctx, c.account, q.Get("ResourceArn")); ok {
		if err != nil {
			return nil, err
		}
		return s.listTemplateTags(ctx, c.account, name)
	}
	name, err := s.configSetARN(ctx, c.account, q.Get("ResourceArn"))
	if err != nil {
		return nil, err
	}
	cs, err := s.ConfigSets.Get(ctx, c.account, name)
	if err != nil {
		return nil, configSetError(name, err)
	}
	return struct{ Tags []tag }{tagsOut(cs.Tags)}, nil
}
