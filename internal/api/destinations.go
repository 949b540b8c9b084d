package api

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/identity"
)

// Event destinations of configuration sets (SES v2
// Create/Get/Update/DeleteConfigurationSetEventDestination,
// ../shared/spec/ses.md §1.8) and the identity settings that decide where
// an identity's feedback goes (PutEmailIdentityFeedbackAttributes,
// PutEmailIdentityConfigurationSetAttributes; §1.5, §4.1).
//
// Destination kinds: SnsDestination (a Petrel topic, which must exist and
// belong to the caller's account: Server.Topics) and Petrel's extension
// WebhookDestination {"Url": "https://…"} (docs/configuration-sets.md),
// whose URL must pass the SSRF guard (Server.URLs). Get returns a
// webhook's SigningSecrets, newest first (two during a rotation); an
// Update whose WebhookDestination has "RotateSigningSecret": true makes a
// new secret, the previous one staying valid for 24 hours. The AWS SDKs
// ignore the member WebhookDestination in Get's answer (members they do
// not know are skipped), so a client that knows only SES's shapes reads
// the other destinations unharmed. EventBridge, Kinesis Firehose,
// CloudWatch and Pinpoint destinations are BadRequestException.

// TopicChecker answers whether an SNS topic exists (package sns).
type TopicChecker interface {
	// TopicExists returns nil when arn is a topic of account, else an
	// error saying why not.
	TopicExists(ctx context.Context, account, arn string) error
}

// URLChecker is the SSRF guard (package egress).
type URLChecker interface {
	// CheckURL returns nil when raw may be notified, else an error saying
	// why not.
	CheckURL(ctx context.Context, raw string) error
}

// Wire shapes.

type snsDestinationJSON struct {
	TopicArn *string `json:"TopicArn,omitempty"`
}

// webhookDestinationJSON is Petrel's WebhookDestination: Url in requests
// and answers, SigningSecrets in answers only, RotateSigningSecret in
// Update requests only.
type webhookDestinationJSON struct {
	RotateSigningSecret *bool    `json:"RotateSigningSecret,omitempty"`
	SigningSecrets      []string `json:"SigningSecrets,omitempty"`
	Url                 *string  `json:"Url,omitempty"`
}

// eventDestinationDefinitionJSON is SES's EventDestinationDefinition plus
// WebhookDestination; the kinds Petrel does not serve are kept raw, to be
// named in the refusal.
type eventDestinationDefinitionJSON struct {
	Enabled                    *bool
	MatchingEventTypes         []string
	SnsDestination             *snsDestinationJSON
	WebhookDestination         *webhookDestinationJSON
	EventBridgeDestination     json.RawMessage
	KinesisFirehoseDestination json.RawMessage
	CloudWatchDestination      json.RawMessage
	PinpointDestination        json.RawMessage
}

// eventDestinationJSON is SES's EventDestination (Get's answer), members
// in name order.
type eventDestinationJSON struct {
	Enabled            bool                    `json:"Enabled"`
	MatchingEventTypes []string                `json:"MatchingEventTypes"`
	Name               string                  `json:"Name"`
	SnsDestination     *snsDestinationJSON     `json:"SnsDestination,omitempty"`
	WebhookDestination *webhookDestinationJSON `json:"WebhookDestination,omitempty"`
}

// getEventDestinationsOutput is GetConfigurationSetEventDestinationsResponse.
type getEventDestinationsOutput struct {
	EventDestinations []eventDestinationJSON `json:"EventDestinations"`
}

// destinationRefusal is a refusal that concerns an event destination
// rather than its configuration set: member is the destination kind
// refused (SnsDestination, CloudWatchDestination,
// KinesisFirehoseDestination, …), or "" when it is the destination's name
// (it exists already, it does not exist). The v2 API answers the *Error
// inside; the v1 API names its error after member (InvalidSNSDestination,
// EventDestinationDoesNotExist, …; v1_configsets.go).
type destinationRefusal struct {
	err    *Error
	member string
}

func (e *destinationRefusal) Error() string { return e.err.Error() }
func (e *destinationRefusal) Unwrap() error { return e.err }

// refuseDestination is err, about the destination's member.
func refuseDestination(member string, err *Error) error {
	return &destinationRefusal{err: err, member: member}
}

// definitionIn reads an EventDestinationDefinition named name; rotate is
// its WebhookDestination.RotateSigningSecret. A refusal of a destination
// kind is a destinationRefusal naming it.
func definitionIn(name string, in *eventDestinationDefinitionJSON) (d configset.EventDestination, rotate bool, err error) {
	if in == nil {
		return d, false, badRequest("EventDestination is required.")
	}
	for _, k := range []struct {
		member string
		raw    json.RawMessage
	}{
		{"EventBridgeDestination", in.EventBridgeDestination},
		{"KinesisFirehoseDestination", in.KinesisFirehoseDestination},
		{"CloudWatchDestination", in.CloudWatchDestination},
		{"PinpointDestination", in.PinpointDestination},
	} {
		if len(k.raw) > 0 && string(k.raw) != "null" {
			return d, false, refuseDestination(k.member, badRequest("%s is not supported by Petrel: use SnsDestination (a Petrel SNS topic) or WebhookDestination (an HTTPS endpoint; see docs/configuration-sets.md).", k.member))
		}
	}
	d = configset.EventDestination{Name: name, Enabled: in.Enabled != nil && *in.Enabled, MatchingEventTypes: in.MatchingEventTypes}
	if sd := in.SnsDestination; sd != nil {
		if sd.TopicArn == nil || *sd.TopicArn == "" {
			return d, false, refuseDestination("SnsDestination", badRequest("SnsDestination.TopicArn is required."))
		}
		d.SnsTopicArn = *sd.TopicArn
	}
	if wd := in.WebhookDestination; wd != nil {
		if wd.Url == nil || *wd.Url == "" {
			return d, false, refuseDestination("WebhookDestination", badRequest("WebhookDestination.Url is required."))
		}
		if wd.SigningSecrets != nil {
			return d, false, refuseDestination("WebhookDestination", badRequest("WebhookDestination.SigningSecrets cannot be given: Petrel generates the secrets (rotate with RotateSigningSecret)."))
		}
		d.WebhookURL = *wd.Url
		rotate = wd.RotateSigningSecret != nil && *wd.RotateSigningSecret
	}
	if err := d.Validate(); err != nil {
		return d, false, badRequest("%s.", err.Error())
	}
	return d, rotate, nil
}

// checkTopic asks package sns whether arn is a topic of account: a
// BadRequestException naming member when it is not, or when this Petrel
// serves no SNS topics; the context's error when it ended.
func (s *Server) checkTopic(ctx context.Context, account, member, arn string) error {
	if s.Topics == nil {
		return badRequest("%s cannot be set: this Petrel serves no SNS topics.", member)
	}
	if err := s.Topics.TopicExists(ctx, account, arn); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return badRequest("%s %s is not a topic of this account: %v.", member, arn, err)
	}
	return nil
}

// checkDestination asks package sns whether d's topic is the caller's,
// and the SSRF guard whether d's webhook URL may be notified.
func (s *Server) checkDestination(ctx context.Context, account string, d configset.EventDestination) error {
	switch {
	case d.SnsTopicArn != "":
		if err := s.checkTopic(ctx, account, "SnsDestination.TopicArn", d.SnsTopicArn); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return refuseDestination("SnsDestination", e)
			}
			return err
		}
	case d.WebhookURL != "":
		if s.URLs == nil {
			return refuseDestination("WebhookDestination", badRequest("WebhookDestination is not available: this Petrel has no egress guard configured."))
		}
		if err := s.URLs.CheckURL(ctx, d.WebhookURL); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return refuseDestination("WebhookDestination", badRequest("WebhookDestination.Url is refused: %v.", err))
		}
	}
	return nil
}

// destinationError maps configset's event destination errors to SES's.
func destinationError(set, name string, err error) error {
	switch {
	case errors.Is(err, configset.ErrEventDestinationExists):
		return refuseDestination("", &Error{Code: "AlreadyExistsException", Status: 400,
			Message: "Event destination " + name + " already exists in configuration set " + set + "."})
	case errors.Is(err, configset.ErrEventDestinationNotFound):
		return refuseDestination("", notFound("Event destination %s does not exist in configuration set %s.", name, set))
	case errors.Is(err, configset.ErrEventDestinationLimit):
		return &Error{Code: "LimitExceededException", Status: 400,
			Message: "Configuration set " + set + " already has " + strconv.Itoa(configset.MaxEventDestinations) + " event destinations, the most it may have."}
	}
	return configSetError(set, err)
}

// pathEventDestination is the {EventDestinationName} of the path, checked.
func pathEventDestination(c *call) (string, error) {
	name := c.r.PathValue("EventDestinationName")
	if err := configset.ValidateEventDestinationName(name); err != nil {
		return "", badRequest("%s.", err.Error())
	}
	return name, nil
}

// createEventDestination is CreateConfigurationSetEventDestination.
func (s *Server) createEventDestination(ctx context.Context, c *call) (any, error) {
	set, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	var in struct {
		EventDestinationName *string
		EventDestination     *eventDestinationDefinitionJSON
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.EventDestinationName == nil {
		return nil, badRequest("EventDestinationName is required.")
	}
	name := *in.EventDestinationName
	d, rotate, err := definitionIn(name, in.EventDestination)
	if err != nil {
		return nil, err
	}
	if rotate {
		return nil, badRequest("RotateSigningSecret applies to UpdateConfigurationSetEventDestination: a new destination gets a new secret.")
	}
	if err := s.checkDestination(ctx, c.account, d); err != nil {
		return nil, err
	}
	if err := s.ConfigSets.CreateEventDestination(ctx, c.account, set, d); err != nil {
		return nil, destinationError(set, name, err)
	}
	return struct{}{}, nil
}

// getEventDestinations is GetConfigurationSetEventDestinations.
func (s *Server) getEventDestinations(ctx context.Context, c *call) (any, error) {
	set, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	ds, err := s.ConfigSets.GetEventDestinations(ctx, c.account, set)
	if err != nil {
		return nil, configSetError(set, err)
	}
	out := getEventDestinationsOutput{EventDestinations: make([]eventDestinationJSON, 0, len(ds))}
	for _, d := range ds {
		e := eventDestinationJSON{Name: d.Name, Enabled: d.Enabled, MatchingEventTypes: d.MatchingEventTypes}
		if d.SnsTopicArn != "" {
			e.SnsDestination = &snsDestinationJSON{TopicArn: &d.SnsTopicArn}
		}
		if d.WebhookURL != "" {
			e.WebhookDestination = &webhookDestinationJSON{Url: &d.WebhookURL, SigningSecrets: d.WebhookSecrets}
		}
		out.EventDestinations = append(out.EventDestinations, e)
	}
	return out, nil
}

// updateEventDestination is UpdateConfigurationSetEventDestination.
func (s *Server) updateEventDestination(ctx context.Context, c *call) (any, error) {
	set, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	name, err := pathEventDestination(c)
	if err != nil {
		return nil, err
	}
	var in struct {
		EventDestination *eventDestinationDefinitionJSON
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	d, rotate, err := definitionIn(name, in.EventDestination)
	if err != nil {
		return nil, err
	}
	if err := s.checkDestination(ctx, c.account, d); err != nil {
		return nil, err
	}
	if err := s.ConfigSets.UpdateEventDestination(ctx, c.account, set, d); err != nil {
		return nil, destinationError(set, name, err)
	}
	if rotate {
		if _, err := s.ConfigSets.RotateWebhookSecret(ctx, c.account, set, name); err != nil {
			return nil, destinationError(set, name, err)
		}
	}
	return struct{}{}, nil
}

// deleteEventDestination is DeleteConfigurationSetEventDestination.
func (s *Server) deleteEventDestination(ctx context.Context, c *call) (any, error) {
	set, err := pathConfigSet(c)
	if err != nil {
		return nil, err
	}
	name, err := pathEventDestination(c)
	if err != nil {
		return nil, err
	}
	if err := s.ConfigSets.DeleteEventDestination(ctx, c.account, set, name); err != nil {
		return nil, destinationError(set, name, err)
	}
	return struct{}{}, nil
}

// identityError maps identity's errors for the identity name to SES's.
func identityError(name string, err error) error {
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return notFound("Email identity %s does not exist.", name)
	case errors.Is(err, identity.ErrInvalidSetting):
		return badRequest("%s.", err.Error())
	}
	return err
}

// putFeedbackAttributes is PutEmailIdentityFeedbackAttributes: SES v2
// accepts turning forwarding off whatever else the identity has (a
// bounce or complaint that would reach nobody is emailed anyway, §4.1).
func (s *Server) putFeedbackAttributes(ctx context.Context, c *call) (any, error) {
	var in struct{ EmailForwardingEnabled *bool }
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	name := c.r.PathValue("EmailIdentity")
	if err := s.Identities.PutFeedbackForwarding(ctx, c.account, name, in.EmailForwardingEnabled != nil && *in.EmailForwardingEnabled); err != nil {
		return nil, identityError(name, err)
	}
	return struct{}{}, nil
}

// putIdentityConfigSet is PutEmailIdentityConfigurationSetAttributes:
// ConfigurationSetName absent or "" removes the identity's default set; a
// set the account does not have is NotFoundException.
func (s *Server) putIdentityConfigSet(ctx context.Context, c *call) (any, error) {
	var in struct{ ConfigurationSetName *string }
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	name := c.r.PathValue("EmailIdentity")
	set := ""
	if in.ConfigurationSetName != nil {
		set = *in.ConfigurationSetName
	}
	if err := s.checkIdentityConfigSet(ctx, c.account, set); err != nil {
		return nil, err
	}
	if err := s.Identities.SetConfigurationSet(ctx, c.account, name, set); err != nil {
		return nil, identityError(name, err)
	}
	return struct{}{}, nil
}

// checkIdentityConfigSet checks that set ("" = none) is a set of account.
func (s *Server) checkIdentityConfigSet(ctx context.Context, account, set string) error {
	if set == "" {
		return nil
	}
	if err := configset.ValidateName(set); err != nil {
		return badRequest("%s.", err.Error())
	}
	if _, err := s.ConfigSets.Get(ctx, account, set); err != nil {
		return configSetError(set, err)
	}
	return nil
}
