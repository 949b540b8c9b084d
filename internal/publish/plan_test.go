package publish

import (
	"reflect"
	"testing"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
)

// TestPlan is the routing decision of SES §4.1, case by case.
func TestPlan(t *testing.T) {
	all := []string{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK", "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION"}
	sns := configset.EventDestination{Name: "to-sns", Enabled: true, MatchingEventTypes: all, SnsTopicArn: "arn:aws:sns:us-east-1:1:events"}
	hook := configset.EventDestination{Name: "hook", Enabled: true, MatchingEventTypes: []string{"BOUNCE", "DELIVERY"},
		WebhookURL: "https://hooks.example/ses", WebhookSecrets: []string{"whsec_new", "whsec_old"}}
	off := sns
	off.Name, off.Enabled = "off", false
	deliveriesOnly := configset.EventDestination{Name: "deliveries", Enabled: true, MatchingEventTypes: []string{"DELIVERY"}, SnsTopicArn: "arn:d"}
	defaults := identity.NotificationAttributes{ForwardingEnabled: true}
	topics := identity.NotificationAttributes{BounceTopic: "arn:b", ComplaintTopic: "arn:c", DeliveryTopic: "arn:del",
		HeadersInBounce: true, ForwardingEnabled: false}
	topicsFwd := topics
	topicsFwd.ForwardingEnabled = true
	bounceOnlyNoFwd := identity.NotificationAttributes{BounceTopic: "arn:b"}

	tSNS := Target{Kind: TargetSNS, Destination: "to-sns", TopicArn: "arn:aws:sns:us-east-1:1:events"}
	tHook := Target{Kind: TargetWebhook, Destination: "hook", URL: "https://hooks.example/ses", Secrets: []string{"whsec_new", "whsec_old"}}
	tFwd := Target{Kind: TargetFeedback, Rcpt: "bounces@example.com"}

	cases := []struct {
		name string
		in   Input
		want []Target
	}{
		{"bounce, nothing configured: forwarded (default on)", Input{Kind: event.Bounce, Attributes: defaults, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"complaint, nothing configured: forwarded", Input{Kind: event.Complaint, Attributes: defaults, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"bounce, forwarding off, nothing else: still forwarded (mandatory mechanism)",
			Input{Kind: event.Bounce, Attributes: identity.NotificationAttributes{}, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"bounce, forwarding off, covered by event publishing: not forwarded",
			Input{Kind: event.Bounce, Destinations: []configset.EventDestination{sns}, FeedbackTo: "bounces@example.com"}, []Target{tSNS}},
		{"bounce, forwarding off, covered by the identity topic: not forwarded",
			Input{Kind: event.Bounce, Attributes: topics, FeedbackTo: "bounces@example.com"},
			[]Target{{Kind: TargetIdentityTopic, TopicArn: "arn:b", Headers: true}}},
		{"bounce, forwarding on, all mechanisms: all of them (SES duplicates)",
			Input{Kind: event.Bounce, Destinations: []configset.EventDestination{sns, hook, off}, Attributes: topicsFwd, FeedbackTo: "bounces@example.com"},
			[]Target{tSNS, tHook, {Kind: TargetIdentityTopic, TopicArn: "arn:b", Headers: true}, tFwd}},
		{"complaint, forwarding off, only a bounce topic: forwarded (complaints uncovered)",
			Input{Kind: event.Complaint, Attributes: bounceOnlyNoFwd, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"bounce, forwarding off, destination that matches only deliveries: forwarded",
			Input{Kind: event.Bounce, Destinations: []configset.EventDestination{deliveriesOnly}, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"bounce, forwarding off, disabled destination does not cover",
			Input{Kind: event.Bounce, Destinations: []configset.EventDestination{off}, FeedbackTo: "bounces@example.com"}, []Target{tFwd}},
		{"bounce without a feedback address: nothing to forward to", Input{Kind: event.Bounce, Attributes: defaults}, nil},
		{"delivery: identity topic without headers, never forwarded",
			Input{Kind: event.Delivery, Attributes: topicsFwd, FeedbackTo: "bounces@example.com"},
			[]Target{{Kind: TargetIdentityTopic, TopicArn: "arn:del"}}},
		{"delivery: destinations matching it", Input{Kind: event.Delivery, Destinations: []configset.EventDestination{sns, hook, deliveriesOnly}},
			[]Target{tSNS, tHook, {Kind: TargetSNS, Destination: "deliveries", TopicArn: "arn:d"}}},
		{"send: only destinations, never identity topics", Input{Kind: event.Send, Destinations: []configset.EventDestination{sns, hook}, Attributes: topicsFwd},
			[]Target{tSNS}},
		{"delivery delay: DELIVERY_DELAY", Input{Kind: event.DeliveryDelay, Destinations: []configset.EventDestination{sns, hook}}, []Target{tSNS}},
		{"subscription: SUBSCRIPTION, never identity topics or forwarding",
			Input{Kind: event.Subscription, Destinations: []configset.EventDestination{sns, hook}, Attributes: topicsFwd, FeedbackTo: "bounces@example.com"},
			[]Target{tSNS}},
		{"rendering failure: RENDERING_FAILURE", Input{Kind: event.RenderingFailure, Destinations: []configset.EventDestination{sns, hook}}, []Target{tSNS}},
		{"reject", Input{Kind: event.Reject, Destinations: []configset.EventDestination{sns}}, []Target{tSNS}},
		{"auto response: no SES type matches", Input{Kind: event.AutoResponse, Destinations: []configset.EventDestination{sns}, Attributes: topicsFwd}, nil},
		{"send without destinations: nothing", Input{Kind: event.Send, Attributes: topicsFwd}, nil},
	}
	for _, c := range cases {
		if got := Plan(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

// TestFeedbackAddress is SES's choice of where feedback goes (§4.1).
func TestFeedbackAddress(t *testing.T) {
	mail := func(source, from, returnPath string) event.Mail {
		m := event.Mail{Source: source}
		if from != "" {
			m.CommonHeaders.From = []string{from}
		}
		m.CommonHeaders.ReturnPath = returnPath
		return m
	}
	cases := []struct {
		name, feedback, mailFrom string
		mail                     event.Mail
		want                     string
	}{
		{"FeedbackForwardingEmailAddress beats Source", "fb@example.com", "news@example.com", mail("news@example.com", "news@example.com", ""), "fb@example.com"},
		{"FeedbackForwardingEmailAddress beats Return-Path header", "FB@example.com", "news@example.com", mail("news@example.com", "news@example.com", "<rp@example.com>"), "FB@example.com"},
		{"SMTP MAIL FROM", "", "bounces@example.com", mail("bounces@example.com", "News <news@example.com>", ""), "bounces@example.com"},
		{"SMTP MAIL FROM beats Return-Path header", "", "bounces@example.com", mail("bounces@example.com", "news@example.com", "<rp@example.com>"), "bounces@example.com"},
		{"no Source: Return-Path header before From", "", "news@example.com", mail("news@example.com", "News <news@example.com>", "<rp@example.com>"), "rp@example.com"},
		{"null Return-Path header is not an address", "", "news@example.com", mail("news@example.com", "news@example.com", "<>"), "news@example.com"},
		{"API FromEmailAddress with display name (mail object only)", "", "", mail("Sender Name <sender@example.com>", "sender@example.com", ""), "sender@example.com"},
		{"nothing but From", "", "", mail("", "News <News@Example.com>", ""), "News@example.com"},
		{"nothing usable", "", "", mail("", "", ""), ""},
	}
	for _, c := range cases {
		if got := FeedbackAddress(c.feedback, c.mailFrom, c.mail); got != c.want {
			t.Errorf("%s: FeedbackAddress = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestPlanWithoutGoneTopics: Plan over the input with the gone topics
// taken out (what Route does when PublishJobs says a topic does not
// exist): a gone topic covers nothing, so an otherwise uncovered bounce or
// complaint is forwarded even with forwarding off.
func TestPlanWithoutGoneTopics(t *testing.T) {
	snsDest := configset.EventDestination{Name: "sns", Enabled: true, MatchingEventTypes: []string{"BOUNCE", "COMPLAINT"}, SnsTopicArn: "arn:e"}
	hook := configset.EventDestination{Name: "hook", Enabled: true, MatchingEventTypes: []string{"BOUNCE"}, WebhookURL: "https://h.example/"}
	off := identity.NotificationAttributes{BounceTopic: "arn:b", ComplaintTopic: "arn:c"}
	fwd := Target{Kind: TargetFeedback, Rcpt: "ops@example.com"}
	cases := []struct {
		name string
		in   Input
		gone []string
		want []Target
	}{
		{"identity topic gone, nothing else: forwarded", Input{Kind: event.Bounce, Attributes: off}, []string{"arn:b"}, []Target{fwd}},
		{"the other type's topic gone: still covered", Input{Kind: event.Bounce, Attributes: off}, []string{"arn:c"},
			[]Target{{Kind: TargetIdentityTopic, TopicArn: "arn:b"}}},
		{"identity topic gone, destination covers", Input{Kind: event.Bounce, Attributes: off, Destinations: []configset.EventDestination{snsDest}},
			[]string{"arn:b"}, []Target{{Kind: TargetSNS, Destination: "sns", TopicArn: "arn:e"}}},
		{"all topics gone, webhook covers bounces", Input{Kind: event.Bounce, Attributes: off, Destinations: []configset.EventDestination{snsDest, hook}},
			[]string{"arn:b", "arn:e"}, []Target{{Kind: TargetWebhook, Destination: "hook", URL: "https://h.example/"}}},
		{"all topics gone, webhook does not match complaints: forwarded", Input{Kind: event.Complaint, Attributes: off,
			Destinations: []configset.EventDestination{snsDest, hook}}, []string{"arn:c", "arn:e"}, []Target{fwd}},
		{"delivery topic gone: nothing", Input{Kind: event.Delivery, Attributes: identity.NotificationAttributes{DeliveryTopic: "arn:d"}},
			[]string{"arn:d"}, nil},
	}
	for _, c := range cases {
		c.in.FeedbackTo = "ops@example.com"
		gone := map[string]bool{}
		for _, g := range c.gone {
			gone[g] = true
		}
		if got := Plan(withoutTopics(c.in, gone)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

// TestWebhookTarget: the parts of the webhook Targets Route writes.
func TestWebhookTarget(t *testing.T) {
	for _, c := range []struct {
		target, account, set, name string
		ok                         bool
	}{
		{"webhook:acme/S/hook", "acme", "S", "hook", true},
		{"webhook:acme/S/hook", "other", "", "", false},
		{"webhook:acme/S", "acme", "", "", false},
		{"webhook:acme//hook", "acme", "", "", false},
		{"webhook:acme/S/a/b", "acme", "", "", false},
		{"sns:arn", "acme", "", "", false},
	} {
		set, name, ok := webhookTarget(c.target, c.account)
		if set != c.set || name != c.name || ok != c.ok {
			t.Errorf("webhookTarget(%q, %q) = %q, %q, %v", c.target, c.account, set, name, ok)
		}
	}
}
