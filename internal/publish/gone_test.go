package publish_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/publish"
	"github.com/petrelmail/petrel/internal/sns"
	"github.com/petrelmail/petrel/internal/store"
)

// services are the real account, identity and configuration set services
// over one SQLite store, as the daemon wires them into the Router.
type services struct {
	db    *store.DB
	accts *account.Service
	ids   *identity.Service
	sets  *configset.Service
}

func newServices(t testing.TB) services {
	t.Helper()
	db := store.OpenTest(t, "sqlite")
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accts.CreateWith(t.Context(), acct, account.CreateOptions{Production: true}); err != nil {
		t.Fatal(err)
	}
	sets := configset.New(db)
	sets.SetSealer(accts)
	return services{db: db, accts: accts, ids: identity.New(db, accts), sets: sets}
}

// liveTopics has the topics in live; any other is gone, with sns's error.
// It records nothing: each publication is one job "sns:<topic>".
type liveTopics map[string]bool

func (l liveTopics) PublishJobs(_ context.Context, account, arn, _, message string, _ map[string]string) ([]notify.Job, error) {
	if !l[arn] {
		return nil, fmt.Errorf("%s: %w", arn, sns.ErrTopicNotFound)
	}
	return []notify.Job{{Account: account, Target: "sns:" + arn, Channel: notify.SNSHTTP, Body: []byte(message)}}, nil
}

func (l liveTopics) SubscriptionPending(_ context.Context, _, arn string) (bool, bool, error) {
	return l[arn], false, nil
}

// topicGone is the daemon's Config.TopicGone.
func topicGone(err error) bool { return errors.Is(err, sns.ErrTopicNotFound) }

// targets lists the jobs' targets, for comparison.
func targets(jobs []notify.Job) []string {
	out := make([]string, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.Target)
	}
	return out
}

// testEvent is an event of kind of a message sent by identity with
// configuration set set ("" none), carrying its mail object (as AddTest
// does), envelope sender ops@<identity>.
func testEvent(t *testing.T, kind event.Kind, identityName, set string) event.Event {
	t.Helper()
	tags := map[string][]string{"ses:operation": {"SendEmail"}}
	if set != "" {
		tags["ses:configuration-set"] = []string{set}
	}
	mail := mustEncode(t, event.Mail{MessageID: "m-" + identityName, Source: "ops@" + identityName,
		SourceArn: "arn:aws:ses:us-east-1:1:identity/" + identityName, Destination: []string{"r@example.net"}, Tags: tags})
	var detail any
	switch kind {
	case event.Bounce:
		detail = event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", FeedbackID: "f", Timestamp: event.Timestamp(time.Now()),
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "r@example.net", Action: "failed", Status: "5.1.1"}}}
	case event.Complaint:
		detail = event.ComplaintDetail{FeedbackID: "f", Timestamp: event.Timestamp(time.Now()),
			ComplainedRecipients: []event.Recipient{{EmailAddress: "r@example.net"}}}
	default:
		detail = struct{}{}
	}
	return event.Event{Kind: kind, MessageID: "m-" + identityName, Account: acct, Recipient: "r@example.net", Time: time.Now(),
		Mail: mail, Detail: mustEncode(t, detail)}
}

const (
	arnLiveB = "arn:aws:sns:us-east-1:1:live-bounces"
	arnLiveC = "arn:aws:sns:us-east-1:1:live-complaints"
	arnLiveE = "arn:aws:sns:us-east-1:1:live-events"
	arnGoneB = "arn:aws:sns:us-east-1:1:gone-bounces"
	arnGoneC = "arn:aws:sns:us-east-1:1:gone-complaints"
	arnGoneD = "arn:aws:sns:us-east-1:1:gone-deliveries"
	arnGoneE = "arn:aws:sns:us-east-1:1:gone-events"
)

// TestRouteGoneTopics: a topic that does not exist (deleted, never
// created, another account's) covers nothing. A bounce or complaint that
// reaches no existing identity topic and no event destination is emailed
// to the sender even with forwarding off (SES §4.1); one that reaches a
// live topic or a destination is not; forwarding on sends one email, not
// two. Settings are stored through the real identity and configuration
// set services.
func TestRouteGoneTopics(t *testing.T) {
	sv := newServices(t)
	ctx := t.Context()
	live := liveTopics{arnLiveB: true, arnLiveC: true, arnLiveE: true}
	r := publish.New(publish.Config{Hostname: "petrel.test", TopicGone: topicGone}, nil, sv.sets, sv.ids, live)

	snsDest := func(arn string) configset.EventDestination {
		return configset.EventDestination{Name: "sns", Enabled: true, MatchingEventTypes: []string{"BOUNCE", "COMPLAINT", "DELIVERY"}, SnsTopicArn: arn}
	}
	hook := configset.EventDestination{Name: "hook", Enabled: true, MatchingEventTypes: []string{"BOUNCE"}, WebhookURL: "https://hooks.example/ses"}
	cases := []struct {
		name                        string
		kind                        event.Kind
		bounceTopic, complaintTopic string
		deliveryTopic               string
		forwarding                  bool
		dests                       []configset.EventDestination // of the message's set; nil: no set
		want                        []string
	}{
		{"forwarding off, both identity topics gone: bounce emailed", event.Bounce, arnGoneB, arnGoneC, "", false, nil,
			[]string{"email:ops@c0.example"}},
		{"forwarding off, both identity topics gone: complaint emailed", event.Complaint, arnGoneB, arnGoneC, "", false, nil,
			[]string{"email:ops@c1.example"}},
		{"forwarding off, bounce topic gone, complaint topic live: bounce emailed", event.Bounce, arnGoneB, arnLiveC, "", false, nil,
			[]string{"email:ops@c2.example"}},
		{"forwarding off, bounce topic gone, complaint topic live: complaint published, not emailed", event.Complaint, arnGoneB, arnLiveC, "", false, nil,
			[]string{"sns:" + arnLiveC}},
		{"forwarding off, live identity topic: published, not emailed (control)", event.Bounce, arnLiveB, arnLiveC, "", false, nil,
			[]string{"sns:" + arnLiveB}},
		{"forwarding off, identity topic gone, live SNS destination covers it", event.Bounce, arnGoneB, arnGoneC, "", false,
			[]configset.EventDestination{snsDest(arnLiveE)}, []string{"sns:" + arnLiveE}},
		{"forwarding off, identity topic gone, destination's topic gone too: emailed", event.Bounce, arnGoneB, arnGoneC, "", false,
			[]configset.EventDestination{snsDest(arnGoneE)}, []string{"email:ops@c6.example"}},
		{"forwarding off, identity topic live, destination's topic gone: published to the identity topic only", event.Bounce, arnLiveB, arnLiveC, "", false,
			[]configset.EventDestination{snsDest(arnGoneE)}, []string{"sns:" + arnLiveB}},
		{"forwarding off, topics gone, a webhook destination covers bounces", event.Bounce, arnGoneB, arnGoneC, "", false,
			[]configset.EventDestination{snsDest(arnGoneE), hook}, []string{"webhook:" + acct + "/set8/hook"}},
		{"forwarding off, topics gone, the webhook does not match complaints: emailed", event.Complaint, arnGoneB, arnGoneC, "", false,
			[]configset.EventDestination{snsDest(arnGoneE), hook}, []string{"email:ops@c9.example"}},
		{"forwarding on, identity topic gone: one email", event.Bounce, arnGoneB, arnGoneC, "", true, nil,
			[]string{"email:ops@c10.example"}},
		{"delivery to a gone topic: nothing, no error", event.Delivery, arnLiveB, arnLiveC, arnGoneD, false,
			[]configset.EventDestination{snsDest(arnGoneE)}, []string{}},
	}
	for i, c := range cases {
		name := fmt.Sprintf("c%d.example", i)
		if _, err := sv.ids.Create(ctx, acct, name, true); err != nil {
			t.Fatal(err)
		}
		for typ, arn := range map[string]string{identity.Bounce: c.bounceTopic, identity.Complaint: c.complaintTopic, identity.Delivery: c.deliveryTopic} {
			if err := sv.ids.SetNotificationTopic(ctx, acct, name, typ, arn); err != nil {
				t.Fatal(err)
			}
		}
		if err := sv.ids.SetFeedbackForwarding(ctx, acct, name, c.forwarding); err != nil {
			t.Fatal(err)
		}
		set := ""
		if c.dests != nil {
			set = fmt.Sprintf("set%d", i)
			if err := sv.sets.Create(ctx, configset.ConfigurationSet{Account: acct, Name: set, SendingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			for _, d := range c.dests {
				if err := sv.sets.CreateEventDestination(ctx, acct, set, d); err != nil {
					t.Fatal(err)
				}
			}
		}
		jobs, err := r.Route(ctx, testEvent(t, c.kind, name, set))
		if err != nil {
			t.Errorf("%s: Route error %v", c.name, err)
			continue
		}
		if got := targets(jobs); !slices.Equal(got, c.want) {
			t.Errorf("%s: targets %q, want %q", c.name, got, c.want)
		}
		for _, j := range jobs {
			if j.Channel == notify.Email && (j.MailFrom != "" || !strings.Contains(string(j.Body), "report-type=")) {
				t.Errorf("%s: feedback job %+v is not a report from <>", c.name, j)
			}
		}
	}
}

// TestRouteGoneTopicRealSNS is TestRouteGoneTopics's first case with the
// real topics service: identity topics that were never created (sns's
// PublishJobs answers ErrTopicNotFound, as after DeleteTopic), forwarding
// off — the bounce is emailed to the sender.
func TestRouteGoneTopicRealSNS(t *testing.T) {
	sv := newServices(t)
	ctx := t.Context()
	topicsSvc, err := sns.New(sv.db, sv.accts, sv.accts, nil, nil, sns.Config{Region: "us-east-1", PublicURL: "http://127.0.0.1:1", Hostname: "petrel.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.ids.Create(ctx, acct, "example.com", true); err != nil {
		t.Fatal(err)
	}
	for typ, arn := range map[string]string{identity.Bounce: arnGoneB, identity.Complaint: arnGoneC} {
		if err := sv.ids.SetNotificationTopic(ctx, acct, "example.com", typ, arn); err != nil {
			t.Fatal(err)
		}
	}
	if err := sv.ids.SetFeedbackForwarding(ctx, acct, "example.com", false); err != nil {
		t.Fatal(err)
	}
	r := publish.New(publish.Config{Hostname: "petrel.test", TopicGone: topicGone}, nil, sv.sets, sv.ids, topicsAdapter{topicsSvc})
	for _, k := range []event.Kind{event.Bounce, event.Complaint} {
		jobs, err := r.Route(ctx, testEvent(t, k, "example.com", ""))
		if err != nil || !slices.Equal(targets(jobs), []string{"email:ops@example.com"}) {
			t.Errorf("%s: Route = %q, %v; want the feedback email to ops@example.com", k, targets(jobs), err)
		}
	}
}

// topicsAdapter is *sns.Service as publish.Topics.
type topicsAdapter struct{ *sns.Service }

// TestRouteDeletedConfigurationSet: events of a message whose
// configuration set was deleted after it was accepted are routed as if it
// had none (configuration-sets.md): no error (which would keep the event
// in the outbox for ever), the identity's topics and feedback forwarding
// still apply.
func TestRouteDeletedConfigurationSet(t *testing.T) {
	sv := newServices(t)
	ctx := t.Context()
	live := liveTopics{arnLiveB: true, arnLiveC: true, arnLiveE: true}
	r := publish.New(publish.Config{Hostname: "petrel.test", TopicGone: topicGone}, nil, sv.sets, sv.ids, live)
	if err := sv.sets.Create(ctx, configset.ConfigurationSet{Account: acct, Name: "cs3", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := sv.sets.CreateEventDestination(ctx, acct, "cs3", configset.EventDestination{Name: "all", Enabled: true,
		MatchingEventTypes: []string{"SEND", "BOUNCE", "DELIVERY"}, SnsTopicArn: arnLiveE}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"topics.example", "plain.example"} {
		if _, err := sv.ids.Create(ctx, acct, n, true); err != nil {
			t.Fatal(err)
		}
	}
	for typ, arn := range map[string]string{identity.Bounce: arnLiveB, identity.Complaint: arnLiveC, identity.Delivery: arnLiveB} {
		if err := sv.ids.SetNotificationTopic(ctx, acct, "topics.example", typ, arn); err != nil {
			t.Fatal(err)
		}
	}
	if err := sv.ids.SetFeedbackForwarding(ctx, acct, "topics.example", false); err != nil {
		t.Fatal(err)
	}
	// Before the deletion, the set's destination gets the bounce (control).
	if jobs, err := r.Route(ctx, testEvent(t, event.Bounce, "topics.example", "cs3")); err != nil ||
		!slices.Equal(targets(jobs), []string{"sns:" + arnLiveE, "sns:" + arnLiveB}) {
		t.Fatalf("before deletion: Route = %q, %v", targets(jobs), err)
	}
	if err := sv.sets.Delete(ctx, acct, "cs3"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind     event.Kind
		identity string
		want     []string
	}{
		{event.Send, "topics.example", []string{}},
		{event.Delivery, "topics.example", []string{"sns:" + arnLiveB}},
		{event.Bounce, "topics.example", []string{"sns:" + arnLiveB}},
		{event.Complaint, "topics.example", []string{"sns:" + arnLiveC}},
		{event.Bounce, "plain.example", []string{"email:ops@plain.example"}},
		{event.Delivery, "plain.example", []string{}},
	} {
		jobs, err := r.Route(ctx, testEvent(t, c.kind, c.identity, "cs3"))
		if err != nil || !slices.Equal(targets(jobs), c.want) {
			t.Errorf("%s of %s after its set was deleted: Route = %q, %v; want %q", c.kind, c.identity, targets(jobs), err, c.want)
		}
	}
}
