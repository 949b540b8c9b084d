package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/awsquery"
)

// The SES v1 API's configuration-set actions (../shared/spec/ses.md §1.8,
// §2; the model's ConfigurationSet, EventDestination, TrackingOptions,
// DeliveryOptions and ReputationOptions shapes). Each runs the v2 handler
// of the same operation (viaV2), so a set is the same object through
// either API; v1 spells some values differently, translated both ways:
//
//   - EventType: v1 lower camel (send, renderingFailure, deliveryDelay, …),
//     v2 upper snake (SEND, RENDERING_FAILURE, DELIVERY_DELAY, …);
//   - TlsPolicy: v1 Require | Optional, v2 REQUIRE | OPTIONAL;
//   - DimensionValueSource: v1 messageTag | emailHeader | linkTag, v2
//     MESSAGE_TAG | EMAIL_HEADER | LINK_TAG;
//   - SNSDestination.TopicARN is v2's SnsDestination.TopicArn,
//     KinesisFirehoseDestination.IAMRoleARN/DeliveryStreamARN v2's
//     IamRoleArn/DeliveryStreamArn.
//
// v1 errors: ConfigurationSetDoesNotExist, ConfigurationSetAlreadyExists,
// InvalidConfigurationSet (a bad name at creation), LimitExceeded,
// EventDestinationDoesNotExist, EventDestinationAlreadyExists,
// InvalidSNSDestination / InvalidCloudWatchDestination /
// InvalidFirehoseDestination (what v2 refuses about that destination
// kind: Petrel publishes to its own SNS topics and webhooks only),
// TrackingOptionsAlreadyExistsException,
// TrackingOptionsDoesNotExistException, InvalidTrackingOptions,
// InvalidDeliveryOptions; anything else v2 refuses is
// InvalidParameterValue.

// v1ConfigSetActions are the SES v1 API's configsets actions (v1.go).
func (s *Server) v1ConfigSetActions() map[string]v1Action {
	set := func(fn func(ctx context.Context, c *call, q *awsquery.Request) (any, error)) v1Action {
		return v1Action{fn: fn, notFound: "ConfigurationSetDoesNotExist", exists: "ConfigurationSetAlreadyExists"}
	}
	return map[string]v1Action{
		"CreateConfigurationSet":                         set(s.v1CreateConfigSet),
		"DeleteConfigurationSet":                         set(s.v1DeleteConfigSet),
		"DescribeConfigurationSet":                       set(s.v1DescribeConfigSet),
		"ListConfigurationSets":                          set(s.v1ListConfigSets),
		"CreateConfigurationSetEventDestination":         set(s.v1CreateEventDestination),
		"UpdateConfigurationSetEventDestination":         set(s.v1UpdateEventDestination),
		"DeleteConfigurationSetEventDestination":         set(s.v1DeleteEventDestination),
		"CreateConfigurationSetTrackingOptions":          set(s.v1CreateTrackingOptions),
		"UpdateConfigurationSetTrackingOptions":          set(s.v1UpdateTrackingOptions),
		"DeleteConfigurationSetTrackingOptions":          set(s.v1DeleteTrackingOptions),
		"UpdateConfigurationSetSendingEnabled":           set(s.v1UpdateConfigSetSendingEnabled),
		"UpdateConfigurationSetReputationMetricsEnabled": set(s.v1UpdateConfigSetReputationMetrics),
		"PutConfigurationSetDeliveryOptions":             set(s.v1PutConfigSetDeliveryOptions),
	}
}

// XML shapes (the v1 model's).

// v1ConfigSetXML is ConfigurationSet.
type v1ConfigSetXML struct {
	Name string
}

// v1ConfigSetsXML is a list of ConfigurationSet, written even when empty.
type v1ConfigSetsXML struct {
	Member []v1ConfigSetXML `xml:"member"`
}

// v1EventDestinationXML is EventDestination. WebhookDestination{Url} is
// Petrel's extension (docs/configuration-sets.md): the SDKs skip the
// element, which they do not know.
type v1EventDestinationXML struct {
	Name               string
	Enabled            bool
	MatchingEventTypes []string `xml:"MatchingEventTypes>member"`
	SNSDestination     *struct {
		TopicARN string
	} `xml:",omitempty"`
	WebhookDestination *struct {
		Url string
	} `xml:",omitempty"`
}

// v1EventDestinationsXML is a list of EventDestination, written even when
// empty.
type v1EventDestinationsXML struct {
	Member []v1EventDestinationXML `xml:"member"`
}

// v1DescribeConfigSetResult is DescribeConfigurationSetResult: the
// ConfigurationSet and the attributes asked for.
type v1DescribeConfigSetResult struct {
	ConfigurationSet  v1ConfigSetXML
	EventDestinations *v1EventDestinationsXML `xml:",omitempty"`
	TrackingOptions   *struct {
		CustomRedirectDomain string `xml:",omitempty"`
	} `xml:",omitempty"`
	DeliveryOptions *struct {
		TlsPolicy string
	} `xml:",omitempty"`
	ReputationOptions *struct {
		SendingEnabled           bool
		ReputationMetricsEnabled bool
		LastFreshStart           *time.Time `xml:",omitempty"`
	} `xml:",omitempty"`
}

// v1ListConfigSetsResult is ListConfigurationSetsResult.
type v1ListConfigSetsResult struct {
	ConfigurationSets v1ConfigSetsXML
	NextToken         string `xml:",omitempty"`
}

// v1EventTypes maps v1's EventType values to v2's.
var v1EventTypes = map[string]string{
	"send": "SEND", "reject": "REJECT", "bounce": "BOUNCE", "complaint": "COMPLAINT", "delivery": "DELIVERY",
	"open": "OPEN", "click": "CLICK", "renderingFailure": "RENDERING_FAILURE", "deliveryDelay": "DELIVERY_DELAY",
	"subscription": "SUBSCRIPTION",
}

// v1DimensionSources maps v1's DimensionValueSource values to v2's.
var v1DimensionSources = map[string]string{"messageTag": "MESSAGE_TAG", "emailHeader": "EMAIL_HEADER", "linkTag": "LINK_TAG"}

// v1TlsPolicies maps v1's TlsPolicy values to v2's.
var v1TlsPolicies = map[string]string{"Require": "REQUIRE", "Optional": "OPTIONAL"}

// v1Key returns the key of m whose value is v, else v itself.
func v1Key(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return v
}

// v1SetName is the required ConfigurationSetName.
func v1SetName(q *awsquery.Request) (string, error) {
	return q.Required("ConfigurationSetName", v1Missing)
}

// v1SetPath is the v2 request path of set name.
func v1SetPath(name string) map[string]string {
	return map[string]string{"ConfigurationSetName": name}
}

// v1Recode renames the v2 error err to the v1 code when its v2 code is
// v2code; else err unchanged.
func v1Recode(err error, v2code, code string) error {
	var e *Error
	if errors.As(err, &e) && e.Code == v2code {
		return &awsquery.Error{Type: awsquery.Sender, Code: code, Status: 400, Message: e.Message}
	}
	return err
}

// v1CreateConfigSet is CreateConfigurationSet (ConfigurationSet.Name): v2
// CreateConfigurationSet with the name only (SES's defaults: sending
// enabled, TlsPolicy Optional). A bad name is InvalidConfigurationSet.
func (s *Server) v1CreateConfigSet(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := q.Required("ConfigurationSet.Name", v1Missing)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.createConfigSet, v2Request{Body: map[string]string{"ConfigurationSetName": name}})
	if err != nil {
		return nil, v1Recode(err, "BadRequestException", "InvalidConfigurationSet")
	}
	return nil, nil
}

// v1DeleteConfigSet is DeleteConfigurationSet: v2 DeleteConfigurationSet.
func (s *Server) v1DeleteConfigSet(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.deleteConfigSet, v2Request{Path: v1SetPath(name)})
	return nil, err
}

// v1GetConfigSet is v2 GetConfigurationSet's answer for set name.
func (s *Server) v1GetConfigSet(ctx context.Context, c *call, name string) (configSetOutput, error) {
	out, err := s.viaV2(ctx, c, s.getConfigSet, v2Request{Path: v1SetPath(name)})
	if err != nil {
		return configSetOutput{}, err
	}
	return out.(configSetOutput), nil
}

// v1DescribeConfigSet is DescribeConfigurationSet: the set's Name and the
// ConfigurationSetAttributeNames asked for — eventDestinations (v2
// GetConfigurationSetEventDestinations), trackingOptions (absent when the
// set has none), deliveryOptions and reputationOptions (v2
// GetConfigurationSet; SendingEnabled is v2's SendingOptions).
func (s *Server) v1DescribeConfigSet(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	name, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	attrs, err := q.List("ConfigurationSetAttributeNames")
	if err != nil {
		return nil, v1Invalid("ConfigurationSetAttributeNames: %v", err)
	}
	for _, a := range attrs {
		if !slices.Contains([]string{"eventDestinations", "trackingOptions", "deliveryOptions", "reputationOptions"}, a) {
			return nil, v1Invalid("ConfigurationSetAttributeNames: %q is not one of eventDestinations, trackingOptions, deliveryOptions, reputationOptions.", a)
		}
	}
	cs, err := s.v1GetConfigSet(ctx, c, name)
	if err != nil {
		return nil, err
	}
	out := v1DescribeConfigSetResult{ConfigurationSet: v1ConfigSetXML{Name: cs.ConfigurationSetName}}
	if slices.Contains(attrs, "eventDestinations") {
		got, err := s.viaV2(ctx, c, s.getEventDestinations, v2Request{Path: v1SetPath(name)})
		if err != nil {
			return nil, err
		}
		out.EventDestinations = &v1EventDestinationsXML{Member: []v1EventDestinationXML{}}
		for _, d := range got.(getEventDestinationsOutput).EventDestinations {
			x := v1EventDestinationXML{Name: d.Name, Enabled: d.Enabled, MatchingEventTypes: make([]string, len(d.MatchingEventTypes))}
			for i, t := range d.MatchingEventTypes {
				x.MatchingEventTypes[i] = v1Key(v1EventTypes, t)
			}
			if d.SnsDestination != nil && d.SnsDestination.TopicArn != nil {
				x.SNSDestination = &struct{ TopicARN string }{*d.SnsDestination.TopicArn}
			}
			if d.WebhookDestination != nil && d.WebhookDestination.Url != nil {
				x.WebhookDestination = &struct{ Url string }{*d.WebhookDestination.Url}
			}
			out.EventDestinations.Member = append(out.EventDestinations.Member, x)
		}
	}
	if t := cs.TrackingOptions; t != nil && slices.Contains(attrs, "trackingOptions") {
		out.TrackingOptions = &struct {
			CustomRedirectDomain string `xml:",omitempty"`
		}{}
		if t.CustomRedirectDomain != nil {
			out.TrackingOptions.CustomRedirectDomain = *t.CustomRedirectDomain
		}
	}
	if slices.Contains(attrs, "deliveryOptions") {
		tls := "OPTIONAL"
		if p := cs.DeliveryOptions.TlsPolicy; p != nil && *p != "" {
			tls = *p
		}
		out.DeliveryOptions = &struct{ TlsPolicy string }{v1Key(v1TlsPolicies, tls)}
	}
	if slices.Contains(attrs, "reputationOptions") {
		r := cs.ReputationOptions
		out.ReputationOptions = &struct {
			SendingEnabled           bool
			ReputationMetricsEnabled bool
			LastFreshStart           *time.Time `xml:",omitempty"`
		}{
			SendingEnabled:           cs.SendingOptions.SendingEnabled != nil && *cs.SendingOptions.SendingEnabled,
			ReputationMetricsEnabled: r.ReputationMetricsEnabled != nil && *r.ReputationMetricsEnabled,
		}
		if r.LastFreshStart != nil {
			// v2's value is milliseconds over 1000.
			t := time.UnixMilli(int64(math.Round(*r.LastFreshStart * 1000))).UTC()
			out.ReputationOptions.LastFreshStart = &t
		}
	}
	return out, nil
}

// v1ListConfigSets is ListConfigurationSets: MaxItems (v2's PageSize,
// same range and default) set names at a time, in name order; NextToken
// is v2's.
func (s *Server) v1ListConfigSets(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	var in listConfigSetsInput
	if q.Has("MaxItems") {
		n, err := strconv.Atoi(q.Get("MaxItems"))
		if err != nil {
			return nil, v1Invalid("MaxItems %q is not an integer.", q.Get("MaxItems"))
		}
		in.PageSize = &n
	}
	if q.Has("NextToken") {
		tok := q.Get("NextToken")
		in.NextToken = &tok
	}
	got, err := s.listConfigSets(ctx, c.account, in)
	if err == errPageSize {
		return nil, v1Invalid("%s", strings.Replace(errPageSize.Message, "PageSize", "MaxItems", 1))
	}
	if err != nil {
		return nil, err
	}
	list := got.(listConfigSetsOutput)
	out := v1ListConfigSetsResult{ConfigurationSets: v1ConfigSetsXML{Member: make([]v1ConfigSetXML, len(list.ConfigurationSets))}, NextToken: list.NextToken}
	for i, n := range list.ConfigurationSets {
		out.ConfigurationSets.Member[i].Name = n
	}
	return out, nil
}

// v1DestinationDef reads the v1 EventDestination of q as v2's
// EventDestinationDefinition, and its Name. An event type or dimension
// value source v1 does not name is refused here (v2 spells them
// otherwise); a destination kind is passed on for v2 to judge.
func v1DestinationDef(q *awsquery.Request) (string, *eventDestinationDefinitionJSON, error) {
	if !q.HasSub("EventDestination") {
		return "", nil, v1Missing("EventDestination")
	}
	e := q.Sub("EventDestination")
	name, err := e.Required("Name", func(string) error { return v1Missing("EventDestination.Name") })
	if err != nil {
		return "", nil, err
	}
	enabled, err := e.Bool("Enabled", false, func(string) error { return v1Invalid("EventDestination.Enabled must be true or false.") })
	if err != nil {
		return "", nil, err
	}
	types, err := e.List("MatchingEventTypes")
	if err != nil {
		return "", nil, v1Invalid("EventDestination.MatchingEventTypes: %v", err)
	}
	def := &eventDestinationDefinitionJSON{Enabled: &enabled}
	for _, t := range types {
		v2, ok := v1EventTypes[t]
		if !ok {
			return "", nil, v1Invalid("EventDestination.MatchingEventTypes: %q is not one of send, reject, bounce, complaint, delivery, open, click, renderingFailure, deliveryDelay, subscription.", t)
		}
		def.MatchingEventTypes = append(def.MatchingEventTypes, v2)
	}
	if e.HasSub("SNSDestination") {
		arn := e.Sub("SNSDestination").Get("TopicARN")
		def.SnsDestination = &snsDestinationJSON{TopicArn: &arn}
	}
	if e.HasSub("CloudWatchDestination") {
		dims, err := e.Sub("CloudWatchDestination").Members("DimensionConfigurations")
		if err != nil {
			return "", nil, &awsquery.Error{Type: awsquery.Sender, Code: "InvalidCloudWatchDestination", Status: 400,
				Message: "CloudWatchDestination.DimensionConfigurations: " + err.Error()}
		}
		type dim struct{ DimensionName, DimensionValueSource, DefaultDimensionValue string }
		cw := struct{ DimensionConfigurations []dim }{[]dim{}}
		for _, d := range dims {
			src := d.Get("DimensionValueSource")
			if v2, ok := v1DimensionSources[src]; ok {
				src = v2
			}
			cw.DimensionConfigurations = append(cw.DimensionConfigurations, dim{d.Get("DimensionName"), src, d.Get("DefaultDimensionValue")})
		}
		def.CloudWatchDestination, _ = json.Marshal(cw)
	}
	if e.HasSub("KinesisFirehoseDestination") {
		k := e.Sub("KinesisFirehoseDestination")
		def.KinesisFirehoseDestination, _ = json.Marshal(map[string]string{"IamRoleArn": k.Get("IAMRoleARN"), "DeliveryStreamArn": k.Get("DeliveryStreamARN")})
	}
	return name, def, nil
}

// v1DestinationError renames v2's refusals of an event destination
// (destinationRefusal) to v1's codes: EventDestinationAlreadyExists,
// EventDestinationDoesNotExist, InvalidSNSDestination,
// InvalidCloudWatchDestination, InvalidFirehoseDestination.
func v1DestinationError(err error) error {
	var r *destinationRefusal
	if !errors.As(err, &r) {
		return err
	}
	code := ""
	switch r.member {
	case "":
		code = map[string]string{"AlreadyExistsException": "EventDestinationAlreadyExists", "NotFoundException": "EventDestinationDoesNotExist"}[r.err.Code]
	case "SnsDestination":
		code = "InvalidSNSDestination"
	case "CloudWatchDestination":
		code = "InvalidCloudWatchDestination"
	case "KinesisFirehoseDestination":
		code = "InvalidFirehoseDestination"
	}
	if code == "" {
		return err
	}
	return &awsquery.Error{Type: awsquery.Sender, Code: code, Status: 400, Message: r.err.Message}
}

// v1CreateEventDestination is CreateConfigurationSetEventDestination: v2
// CreateConfigurationSetEventDestination with the definition translated.
func (s *Server) v1CreateEventDestination(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	name, def, err := v1DestinationDef(q)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.createEventDestination, v2Request{Path: v1SetPath(set),
		Body: struct {
			EventDestinationName string
			EventDestination     *eventDestinationDefinitionJSON
		}{name, def}})
	if err != nil {
		return nil, v1DestinationError(err)
	}
	return nil, nil
}

// v1UpdateEventDestination is UpdateConfigurationSetEventDestination: v2
// UpdateConfigurationSetEventDestination of EventDestination.Name.
func (s *Server) v1UpdateEventDestination(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	name, def, err := v1DestinationDef(q)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.updateEventDestination, v2Request{
		Path: map[string]string{"ConfigurationSetName": set, "EventDestinationName": name},
		Body: struct {
			EventDestination *eventDestinationDefinitionJSON
		}{def}})
	if err != nil {
		return nil, v1DestinationError(err)
	}
	return nil, nil
}

// v1DeleteEventDestination is DeleteConfigurationSetEventDestination.
func (s *Server) v1DeleteEventDestination(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	name, err := q.Required("EventDestinationName", v1Missing)
	if err != nil {
		return nil, err
	}
	_, err = s.viaV2(ctx, c, s.deleteEventDestination, v2Request{Path: map[string]string{"ConfigurationSetName": set, "EventDestinationName": name}})
	if err != nil {
		return nil, v1DestinationError(err)
	}
	return nil, nil
}

// v1TrackingOptions is the set's tracking options (nil: none) and the
// CustomRedirectDomain of q's TrackingOptions (required by Create and
// Update: Petrel keeps v1 tracking options only with a domain).
func (s *Server) v1TrackingOptions(ctx context.Context, c *call, q *awsquery.Request, needDomain bool) (set string, has *trackingOptionsJSON, domain string, err error) {
	if set, err = v1SetName(q); err != nil {
		return
	}
	if needDomain {
		if domain = q.Get("TrackingOptions.CustomRedirectDomain"); domain == "" {
			err = &awsquery.Error{Type: awsquery.Sender, Code: "InvalidTrackingOptions", Status: 400,
				Message: "TrackingOptions.CustomRedirectDomain is required: Petrel keeps tracking options with a domain only (DeleteConfigurationSetTrackingOptions removes them)."}
			return
		}
	}
	cs, err := s.v1GetConfigSet(ctx, c, set)
	return set, cs.TrackingOptions, domain, err
}

// v1PutTracking is v2 PutConfigurationSetTrackingOptions of set with t; a
// refusal of t is InvalidTrackingOptions.
func (s *Server) v1PutTracking(ctx context.Context, c *call, set string, t trackingOptionsJSON) error {
	_, err := s.viaV2(ctx, c, s.putConfigSetTracking, v2Request{Path: v1SetPath(set), Body: t})
	return v1Recode(err, "BadRequestException", "InvalidTrackingOptions")
}

// v1CreateTrackingOptions is CreateConfigurationSetTrackingOptions:
// TrackingOptionsAlreadyExistsException when the set has tracking options
// (v1's or v2's), else v2 PutConfigurationSetTrackingOptions of
// CustomRedirectDomain.
func (s *Server) v1CreateTrackingOptions(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, has, domain, err := s.v1TrackingOptions(ctx, c, q, true)
	if err != nil {
		return nil, err
	}
	if has != nil {
		return nil, &awsquery.Error{Type: awsquery.Sender, Code: "TrackingOptionsAlreadyExistsException", Status: 400,
			Message: "Configuration set " + set + " already has tracking options."}
	}
	return nil, s.v1PutTracking(ctx, c, set, trackingOptionsJSON{CustomRedirectDomain: &domain})
}

// errNoTrackingOptions is TrackingOptionsDoesNotExistException for set.
func errNoTrackingOptions(set string) error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "TrackingOptionsDoesNotExistException", Status: 400,
		Message: "Configuration set " + set + " has no tracking options."}
}

// v1UpdateTrackingOptions is UpdateConfigurationSetTrackingOptions:
// TrackingOptionsDoesNotExistException when the set has none, else its
// CustomRedirectDomain replaced (v2's HttpsPolicy, which v1 does not
// know, kept).
func (s *Server) v1UpdateTrackingOptions(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, has, domain, err := s.v1TrackingOptions(ctx, c, q, true)
	if err != nil {
		return nil, err
	}
	if has == nil {
		return nil, errNoTrackingOptions(set)
	}
	return nil, s.v1PutTracking(ctx, c, set, trackingOptionsJSON{CustomRedirectDomain: &domain, HttpsPolicy: has.HttpsPolicy})
}

// v1DeleteTrackingOptions is DeleteConfigurationSetTrackingOptions:
// TrackingOptionsDoesNotExistException when the set has none, else v2
// PutConfigurationSetTrackingOptions without options.
func (s *Server) v1DeleteTrackingOptions(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, has, _, err := s.v1TrackingOptions(ctx, c, q, false)
	if err != nil {
		return nil, err
	}
	if has == nil {
		return nil, errNoTrackingOptions(set)
	}
	return nil, s.v1PutTracking(ctx, c, set, trackingOptionsJSON{})
}

// v1UpdateConfigSetSendingEnabled is UpdateConfigurationSetSendingEnabled:
// v2 PutConfigurationSetSendingOptions. Its response has no Result.
func (s *Server) v1UpdateConfigSetSendingEnabled(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	return s.v1PutSetSwitch(ctx, c, q, s.putConfigSetSending, func(on *bool) any { return sendingOptionsJSON{SendingEnabled: on} })
}

// v1UpdateConfigSetReputationMetrics is
// UpdateConfigurationSetReputationMetricsEnabled: v2
// PutConfigurationSetReputationOptions. Its response has no Result.
func (s *Server) v1UpdateConfigSetReputationMetrics(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	return s.v1PutSetSwitch(ctx, c, q, s.putConfigSetReputation, func(on *bool) any { return reputationOptionsJSON{ReputationMetricsEnabled: on} })
}

// v1PutSetSwitch puts the required boolean Enabled of the set
// ConfigurationSetName with the v2 handler put, its body made by body.
func (s *Server) v1PutSetSwitch(ctx context.Context, c *call, q *awsquery.Request, put handler, body func(*bool) any) (any, error) {
	set, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	on, err := v1RequiredBool(q, "Enabled")
	if err != nil {
		return nil, err
	}
	if _, err := s.viaV2(ctx, c, put, v2Request{Path: v1SetPath(set), Body: body(&on)}); err != nil {
		return nil, err
	}
	return v1NoResult{}, nil
}

// v1PutConfigSetDeliveryOptions is PutConfigurationSetDeliveryOptions:
// DeliveryOptions.TlsPolicy Require or Optional (absent: Optional), put
// with v2 PutConfigurationSetDeliveryOptions; v2's SendingPoolName and
// MaxDeliverySeconds, which v1 does not know, are kept. Another TlsPolicy
// is InvalidDeliveryOptions.
func (s *Server) v1PutConfigSetDeliveryOptions(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	set, err := v1SetName(q)
	if err != nil {
		return nil, err
	}
	var tls *string
	if q.Has("DeliveryOptions.TlsPolicy") {
		v, ok := v1TlsPolicies[q.Get("DeliveryOptions.TlsPolicy")]
		if !ok {
			return nil, &awsquery.Error{Type: awsquery.Sender, Code: "InvalidDeliveryOptions", Status: 400,
				Message: "DeliveryOptions.TlsPolicy " + strconv.Quote(q.Get("DeliveryOptions.TlsPolicy")) + " is not one of Require, Optional."}
		}
		tls = &v
	}
	cs, err := s.v1GetConfigSet(ctx, c, set)
	if err != nil {
		return nil, err
	}
	d := cs.DeliveryOptions
	d.TlsPolicy = tls
	_, err = s.viaV2(ctx, c, s.putConfigSetDelivery, v2Request{Path: v1SetPath(set), Body: d})
	return nil, v1Recode(err, "BadRequestException", "InvalidDeliveryOptions")
}
