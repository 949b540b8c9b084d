// Package publish decides where each SES event goes and renders it there:
// it is the notify.Router of package notify's engine.
//
// For one event (an outbox row), Route:
//  1. reads the message's mail object (event.Event.Mail when the row carries
//     one, else the spool record) and, from it, the configuration set
//     (mail.tags "ses:configuration-set") and the sending identity (the
//     name after ":identity/" in mail.sourceArn);
//  2. asks plan — a pure function of the event type, the set's event
//     destinations, the identity's notification attributes and the
//     feedback address — for the targets (../shared/spec/ses.md §4.1):
//     a) every enabled event destination of the set whose
//     MatchingEventTypes has the event's type: its SNS topic or Petrel
//     webhook gets the event-publishing JSON (eventType, the full mail
//     object with tags, the per-type object: event.Event.MarshalJSON);
//     b) the identity's Bounce, Complaint or Delivery topic gets SES's
//     older notification JSON (notificationType, mail without tags,
//     headers only when HeadersIn<Type> is on);
//     c) bounces and complaints are emailed to the sender (feedback
//     forwarding) when the identity's forwarding is on — the default —
//     or when neither (a) nor (b) covers that type, since SES always has
//     a bounce and complaint mechanism (a topic that does not exist covers
//     nothing; a deleted configuration set is none);
//  3. renders each target's notify.Job: SNS jobs through Topics.PublishJobs
//     (message attributes eventType or notificationType, for filter
//     policies), webhooks as notify.Webhook jobs, feedback as a DSN
//     (RFC 3464) or ARF report (RFC 5965) email from the null reverse-path.
//
// Refresh brings a queued job up to date with its endpoint before each
// attempt (notify.Config.Refresh).
//
// Events of Petrel's own system mail (mail.tags "ses:operation" is
// sending.SystemOperation) produce no jobs, so a report about a report is
// never sent.
package publish

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
)

// Destinations are the configuration sets' event destinations
// (configset.Service).
type Destinations interface {
	// EventDestinations returns the set's destinations (cached: it runs
	// once per routed event).
	EventDestinations(ctx context.Context, account, set string) ([]configset.EventDestination, error)
	// HasNotifications reports, from a cache, whether account has any
	// enabled event destination.
	HasNotifications(ctx context.Context, account string) bool
}

// Identities are the identities' notification settings (identity.Service).
type Identities interface {
	// NotificationAttributes returns the identity's settings;
	// identity.ErrNotFound is taken as the defaults (no topics, forwarding on).
	NotificationAttributes(ctx context.Context, account, name string) (identity.NotificationAttributes, error)
	// HasNotificationTopics reports, from a cache, whether any identity of
	// account has a notification topic.
	HasNotificationTopics(ctx context.Context, account string) bool
}

// Topics turns a message published to a topic into the jobs of its
// confirmed subscriptions (sns.Service).
type Topics interface {
	// PublishJobs returns the jobs of message published to account's
	// topic; an error that Config.TopicGone recognises means the topic does
	// not exist (deleted, never created, or another account's).
	PublishJobs(ctx context.Context, account, topicArn, subject, message string, attrs map[string]string) ([]notify.Job, error)
	// SubscriptionPending reports whether account's subscription
	// subscriptionArn still exists and whether it is still pending
	// confirmation, for Refresh.
	SubscriptionPending(ctx context.Context, account, subscriptionArn string) (exists, pending bool, err error)
}

// Spool reads a message's record (spool.Spool).
type Spool interface {
	Envelope(ctx context.Context, id string) (spool.Envelope, error)
}

// Config holds the router's settings.
type Config struct {
	// Hostname names Petrel in feedback emails: From
	// MAILER-DAEMON@Hostname (bounces) and complaints@Hostname
	// (complaints), and their Reporting-MTA.
	Hostname string
	// TopicGone, when set, reports a PublishJobs error that means the
	// topic does not exist (sns.ErrTopicNotFound: deleted, never created,
	// or another account's): that target is skipped, as SES drops
	// notifications to a deleted topic, and it does not count as covering
	// the event, so a bounce or complaint left uncovered is emailed to the
	// sender even with forwarding off (§4.1). Any other error fails the
	// Route, and the engine retries the event.
	TopicGone func(error) bool
}

// Router implements notify.Router. Nil Destinations, Identities or Topics
// stand for none configured.
type Router struct {
	cfg    Config
	spool  Spool
	dests  Destinations
	ids    Identities
	topics Topics
}

// New returns a Router.
func New(cfg Config, sp Spool, dests Destinations, ids Identities, topics Topics) *Router {
	return &Router{cfg: cfg, spool: sp, dests: dests, ids: ids, topics: topics}
}

// Wants reports whether an event of kind for account may produce any
// notification, so that notify.Engine writes its outbox row; it runs in
// the event's own transaction on the send and delivery paths, so it reads
// only caches. Bounce and Complaint: always (feedback forwarding is on by
// default and SES always has a bounce and complaint mechanism). Delivery:
// when the account has event destinations or identity topics. Send,
// Reject, DeliveryDelay, Subscription, Rendering Failure: when it has event destinations. AutoResponse
// (Petrel's own type, which no SES EventType matches): never.
func (r *Router) Wants(account string, kind event.Kind) bool {
	switch kind {
	case event.Bounce, event.Complaint:
		return true
	case event.Delivery:
		return r.hasDestinations(account) || r.ids != nil && r.ids.HasNotificationTopics(context.Background(), account)
	case event.Send, event.Reject, event.DeliveryDelay, event.Subscription, event.RenderingFailure:
		return r.hasDestinations(account)
	}
	return false
}

func (r *Router) hasDestinations(account string) bool {
	return r.dests != nil && r.dests.HasNotifications(context.Background(), account)
}

// mailObject is what Route reads of a mail object.
type mailObject struct {
	event.Mail
	raw      json.RawMessage
	mailFrom string // the envelope sender from the spool record; "" when the event carried the mail object
	feedback string // the feedback address from the spool record ("" for none, or when the event carried the mail object)
}

// Route returns the jobs event e produces (none for an event nobody
// listens to, for a message whose record is gone, and for Petrel's system
// mail). A configuration set that no longer exists counts as none (the
// message is treated as sent without a set: configuration-sets.md); a
// topic that does not exist (Config.TopicGone) is skipped and covers
// nothing, so Plan is asked again without it and a bounce or complaint
// that then reaches no topic and no destination is emailed to the sender.
// Errors are the lookups' and PublishJobs's: the engine retries.
func (r *Router) Route(ctx context.Context, e event.Event) ([]notify.Job, error) {
	m, ok, err := r.mail(ctx, e)
	if err != nil || !ok {
		return nil, err
	}
	set := firstTag(m.Tags, "ses:configuration-set")
	if firstTag(m.Tags, "ses:operation") == sending.SystemOperation {
		// Petrel's own mail (feedback emails, SNS email notifications)
		// notifies nobody: no loops.
		return nil, nil
	}
	in := Input{Kind: e.Kind, Attributes: identity.NotificationAttributes{ForwardingEnabled: true}}
	if set != "" && r.dests != nil {
		in.Destinations, err = r.dests.EventDestinations(ctx, e.Account, set)
		switch {
		case errors.Is(err, configset.ErrNotFound):
			in.Destinations = nil
		case err != nil:
			return nil, fmt.Errorf("event destinations of %s: %w", set, err)
		}
	}
	if id := identityOf(m.SourceArn); id != "" && r.ids != nil && hasIdentityChannel(e.Kind) {
		a, err := r.ids.NotificationAttributes(ctx, e.Account, id)
		switch {
		case errors.Is(err, identity.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("notification attributes of %s: %w", id, err)
		default:
			in.Attributes = a
		}
	}
	if e.Kind == event.Bounce || e.Kind == event.Complaint {
		in.FeedbackTo = FeedbackAddress(m.feedback, m.mailFrom, m.Mail)
	}
	// Each pass renders the plan's targets; a topic found gone is taken
	// out of the input and the plan made again (at most once more per
	// gone topic; the targets already rendered are kept).
	done := map[string][]notify.Job{} // by targetKey
	gone := map[string]bool{}         // topic ARNs that do not exist
	for {
		var jobs []notify.Job
		again := false
		for _, t := range Plan(in) {
			k := targetKey(t)
			js, ok := done[k]
			if !ok {
				js, err = r.render(ctx, e, m, set, t)
				if errors.Is(err, errTopicGone) {
					gone[t.TopicArn] = true
					again = true
					continue
				}
				if err != nil {
					return nil, err
				}
				done[k] = js
			}
			jobs = append(jobs, js...)
		}
		if !again {
			return jobs, nil
		}
		in = withoutTopics(in, gone)
	}
}

// errTopicGone is render's answer for a target whose topic does not exist.
var errTopicGone = errors.New("topic does not exist")

// targetKey identifies a target within one Route.
func targetKey(t Target) string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s", t.Kind, t.Destination, t.TopicArn, t.Rcpt)
}

// withoutTopics is in without the topics in gone: SNS event destinations
// publishing to one lose their topic (a destination left with nothing is
// no destination), and the identity's topics naming one are cleared.
// Forwarding stays as it was set: a bounce or complaint that is then
// covered by nothing is forwarded by Plan's rule.
func withoutTopics(in Input, gone map[string]bool) Input {
	var ds []configset.EventDestination
	for _, d := range in.Destinations {
		if gone[d.SnsTopicArn] {
			d.SnsTopicArn = ""
		}
		if d.SnsTopicArn != "" || d.WebhookURL != "" {
			ds = append(ds, d)
		}
	}
	in.Destinations = ds
	a := &in.Attributes
	for _, t := range []*string{&a.BounceTopic, &a.ComplaintTopic, &a.DeliveryTopic} {
		if gone[*t] {
			*t = ""
		}
	}
	return in
}

// mail returns e's mail object: e.Mail, else the spool record's. ok is
// false when the message has no record any more.
func (r *Router) mail(ctx context.Context, e event.Event) (mailObject, bool, error) {
	m := mailObject{raw: e.Mail}
	if len(m.raw) == 0 {
		env, err := r.spool.Envelope(ctx, e.MessageID)
		if errors.Is(err, spool.ErrNotFound) {
			return m, false, nil
		}
		if err != nil {
			return m, false, err
		}
		m.raw, m.mailFrom, m.feedback = env.Mail, env.MailFrom, env.FeedbackAddress
	}
	if err := json.Unmarshal(m.raw, &m.Mail); err != nil {
		return m, false, fmt.Errorf("mail object of %s: %w", e.MessageID, err)
	}
	return m, true, nil
}

func (r *Router) render(ctx context.Context, e event.Event, m mailObject, set string, t Target) ([]notify.Job, error) {
	switch t.Kind {
	case TargetSNS, TargetWebhook:
		body, err := event.Event{Kind: e.Kind, Detail: e.Detail, Mail: m.raw}.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if t.Kind == TargetWebhook {
			return []notify.Job{{ID: newJobID(), Account: e.Account, Target: "webhook:" + e.Account + "/" + set + "/" + t.Destination,
				Channel: notify.Webhook, Kind: string(e.Kind), URL: t.URL, Body: body, Secrets: t.Secrets}}, nil
		}
		return r.publish(ctx, e.Account, t.TopicArn, body, map[string]string{"eventType": string(e.Kind)})
	case TargetIdentityTopic:
		body, err := NotificationJSON(e.Kind, e.Detail, m.Mail, t.Headers)
		if err != nil {
			return nil, err
		}
		return r.publish(ctx, e.Account, t.TopicArn, body, map[string]string{"notificationType": string(e.Kind)})
	case TargetFeedback:
		msg, err := r.feedback(e, m, t.Rcpt)
		if err != nil || msg == nil {
			return nil, err
		}
		return []notify.Job{{ID: newJobID(), Account: e.Account, Target: "email:" + t.Rcpt, Channel: notify.Email,
			Kind: string(e.Kind), Body: msg, MailFrom: "", Rcpt: t.Rcpt}}, nil
	}
	return nil, fmt.Errorf("unknown target kind %d", t.Kind)
}

func (r *Router) publish(ctx context.Context, account, arn string, body []byte, attrs map[string]string) ([]notify.Job, error) {
	if r.topics == nil {
		return nil, nil
	}
	jobs, err := r.topics.PublishJobs(ctx, account, arn, "", string(body), attrs)
	if err != nil {
		if r.cfg.TopicGone != nil && r.cfg.TopicGone(err) {
			return nil, errTopicGone
		}
		return nil, fmt.Errorf("publishing to %s: %w", arn, err)
	}
	return jobs, nil
}

func (r *Router) feedback(e event.Event, m mailObject, rcpt string) ([]byte, error) {
	fb := Feedback{Hostname: r.cfg.Hostname, To: rcpt, MailFrom: m.mailFrom, Mail: m.Mail, Time: e.Time}
	if fb.MailFrom == "" {
		fb.MailFrom = addressOf(m.Source)
	}
	switch e.Kind {
	case event.Bounce:
		var d event.BounceDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return nil, fmt.Errorf("bounce of %s: %w", e.MessageID, err)
		}
		return fb.DSN(d), nil
	case event.Complaint:
		var d event.ComplaintDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return nil, fmt.Errorf("complaint of %s: %w", e.MessageID, err)
		}
		return fb.ARF(d), nil
	}
	return nil, nil
}

// TargetKind is what kind of endpoint a Target is.
type TargetKind int

const (
	TargetSNS           TargetKind = iota + 1 // an event destination's SNS topic: event-publishing JSON
	TargetWebhook                             // an event destination's Petrel webhook: event-publishing JSON
	TargetIdentityTopic                       // an identity's notification topic: notificationType JSON
	TargetFeedback                            // feedback forwarding: a DSN or ARF email
)

// Target is one place an event goes.
type Target struct {
	Kind        TargetKind
	Destination string   // event destination name (SNS, Webhook)
	TopicArn    string   // SNS, IdentityTopic
	URL         string   // Webhook
	Secrets     []string // Webhook
	Headers     bool     // IdentityTopic: include headers and commonHeaders
	Rcpt        string   // Feedback: where the report goes
}

// Input is what Plan decides from.
type Input struct {
	Kind         event.Kind
	Destinations []configset.EventDestination // of the message's configuration set
	Attributes   identity.NotificationAttributes
	FeedbackTo   string // Bounce, Complaint: the feedback address ("" = none known)
}

// Plan is the routing decision, a pure function (../shared/spec/ses.md
// §4.1): the targets of an event, in order — event destinations (in the
// set's order), the identity topic, feedback forwarding. See the package
// comment for the rules.
func Plan(in Input) []Target {
	var out []Target
	apiType := EventType(in.Kind)
	for _, d := range in.Destinations {
		if !d.Enabled || apiType == "" || !slices.Contains(d.MatchingEventTypes, apiType) {
			continue
		}
		if d.SnsTopicArn != "" {
			out = append(out, Target{Kind: TargetSNS, Destination: d.Name, TopicArn: d.SnsTopicArn})
		}
		if d.WebhookURL != "" {
			out = append(out, Target{Kind: TargetWebhook, Destination: d.Name, URL: d.WebhookURL, Secrets: d.WebhookSecrets})
		}
	}
	published := len(out) > 0
	a := in.Attributes
	topic, headers := "", false
	switch in.Kind {
	case event.Bounce:
		topic, headers = a.BounceTopic, a.HeadersInBounce
	case event.Complaint:
		topic, headers = a.ComplaintTopic, a.HeadersInComplaint
	case event.Delivery:
		topic, headers = a.DeliveryTopic, a.HeadersInDelivery
	}
	if topic != "" {
		out = append(out, Target{Kind: TargetIdentityTopic, TopicArn: topic, Headers: headers})
	}
	if (in.Kind == event.Bounce || in.Kind == event.Complaint) && in.FeedbackTo != "" &&
		(a.ForwardingEnabled || !published && topic == "") {
		out = append(out, Target{Kind: TargetFeedback, Rcpt: in.FeedbackTo})
	}
	return out
}

// EventType is the SES API EventType (MatchingEventTypes) of an eventType:
// SEND, REJECT, BOUNCE, COMPLAINT, DELIVERY, DELIVERY_DELAY, SUBSCRIPTION,
// RENDERING_FAILURE; "" for
// Petrel's AutoResponse, which no destination can match.
func EventType(k event.Kind) string {
	switch k {
	case event.Send:
		return "SEND"
	case event.Reject:
		return "REJECT"
	case event.Bounce:
		return "BOUNCE"
	case event.Complaint:
		return "COMPLAINT"
	case event.Delivery:
		return "DELIVERY"
	case event.DeliveryDelay:
		return "DELIVERY_DELAY"
	case event.Subscription:
		return "SUBSCRIPTION"
	case event.RenderingFailure:
		return "RENDERING_FAILURE"
	}
	return ""
}

// FeedbackAddress is where feedback forwarding sends a message's bounce and
// complaint reports (../shared/spec/ses.md §4.1): the feedback address the
// message was sent with, feedback (the API's FeedbackForwardingEmailAddress,
// v1 ReturnPath; "" for none), else its envelope sender mailFrom (SMTP MAIL
// FROM; the API's FromEmailAddress), except that a Return-Path header field
// takes precedence when the envelope sender is merely the From address
// (SendRawEmail without Source: Return-Path, else From); with no envelope
// sender recorded, mail.source. Every one of these was checked to be
// covered by a verified identity when the message was accepted. "" when
// none is a usable address.
func FeedbackAddress(feedback, mailFrom string, mail event.Mail) string {
	if a := addressOf(feedback); a != "" {
		return a
	}
	from := addressOf(firstOf(mail.CommonHeaders.From))
	if rp := addressOf(mail.CommonHeaders.ReturnPath); rp != "" && (mailFrom == "" || strings.EqualFold(mailFrom, from)) {
		return rp
	}
	if a := addressOf(mailFrom); a != "" {
		return a
	}
	if a := addressOf(mail.Source); a != "" {
		return a
	}
	return from
}

// hasIdentityChannel: only these types have identity topics or feedback.
func hasIdentityChannel(k event.Kind) bool {
	return k == event.Bounce || k == event.Complaint || k == event.Delivery
}

// identityOf is the identity name in an SES identity ARN
// (arn:aws:ses:<region>:<account>:identity/<name>).
func identityOf(arn string) string {
	_, name, ok := strings.Cut(arn, ":identity/")
	if !ok {
		return ""
	}
	return name
}

func firstTag(tags map[string][]string, name string) string {
	return firstOf(tags[name])
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// addressOf is the address in s ("Name <a@b>", "<a@b>", "a@b"), or "".
func addressOf(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s == "<>" {
		return ""
	}
	a, err := address.Parse(s)
	if err != nil {
		return ""
	}
	return a.Email()
}

// newJobID is a random UUID (version 4): the job's stable ID, chosen once
// at fan-out (one transaction), so every attempt and replay carries it.
func newJobID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// rfc5322Date formats t for a Date or Arrival-Date field.
func rfc5322Date(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }
