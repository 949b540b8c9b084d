package publish_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/publish"
)

// subscriptions answers SubscriptionExists from a map; an ARN in fail
// answers an error (the store could not say).
type subscriptions struct {
	liveTopics
	subs map[string]bool
	fail string
}

var errStore = errors.New("database is locked")

func (s subscriptions) SubscriptionExists(_ context.Context, account, arn string) (bool, error) {
	if arn == s.fail {
		return false, errStore
	}
	return account == acct && s.subs[arn], nil
}

// TestRefresh: a queued job is attempted as its endpoint is now. Webhook
// jobs take the destination's current URL and secrets (after a rotation
// both), and are dropped when the set or destination is gone, disabled or
// no longer a webhook; SNS jobs are dropped when their subscription is
// gone (pending ones are kept); feedback emails are unchanged; a failed
// lookup is an error (retry later). Destinations are stored through the
// real configuration set service.
func TestRefresh(t *testing.T) {
	sv := newServices(t)
	ctx := t.Context()
	sets := sv.sets
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hook := func(name, url string, enabled bool) configset.EventDestination {
		return configset.EventDestination{Name: name, Enabled: enabled, MatchingEventTypes: []string{"BOUNCE"}, WebhookURL: url}
	}
	for _, s := range []string{"S", "Gone"} {
		mustDo(sets.Create(ctx, configset.ConfigurationSet{Account: acct, Name: s, SendingEnabled: true}))
	}
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("hook", "https://hooks.example/v1", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("rotated", "https://hooks.example/rotated", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("off", "https://hooks.example/off", false)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("now-sns", "https://hooks.example/was", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("removed", "https://hooks.example/removed", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "Gone", hook("hook", "https://hooks.example/gone", true)))
	// The URL changes after the job was made (secrets kept), a secret is
	// rotated, a destination becomes an SNS one, one is deleted, a set is
	// deleted.
	mustDo(sets.UpdateEventDestination(ctx, acct, "S", hook("hook", "https://hooks.example/v2", true)))
	newSecret, err := sets.RotateWebhookSecret(ctx, acct, "S", "rotated")
	mustDo(err)
	mustDo(sets.UpdateEventDestination(ctx, acct, "S", configset.EventDestination{Name: "now-sns", Enabled: true,
		MatchingEventTypes: []string{"BOUNCE"}, SnsTopicArn: arnLiveE}))
	mustDo(sets.DeleteEventDestination(ctx, acct, "S", "removed"))
	mustDo(sets.Delete(ctx, acct, "Gone"))
	current, err := sets.GetEventDestinations(ctx, acct, "S")
	mustDo(err)
	secretsOf := func(name string) []string {
		i := slices.IndexFunc(current, func(d configset.EventDestination) bool { return d.Name == name })
		return current[i].WebhookSecrets
	}
	if s := secretsOf("rotated"); len(s) != 2 || s[0] != newSecret {
		t.Fatalf("rotated secrets %q, want the new one then the previous one", s)
	}

	const subArn = "arn:aws:sns:us-east-1:1:t:0f4f0a3e-0000-4000-8000-000000000001"
	topics := subscriptions{subs: map[string]bool{subArn: true, subArn + "-pending": true}, fail: subArn + "-fail"}
	r := publish.New(publish.Config{Hostname: "petrel.test"}, nil, sets, sv.ids, topics)

	webhook := func(target string) notify.Job {
		return notify.Job{ID: "j", Account: acct, Target: "webhook:" + acct + "/" + target, Channel: notify.Webhook, Kind: "Bounce",
			URL: "https://hooks.example/stale", Body: []byte(`{}`), Secrets: []string{"whsec_stale"}}
	}
	snsJob := func(arn string, ch notify.Channel) notify.Job {
		return notify.Job{ID: "j", Account: acct, Target: "sns:" + arn, Channel: ch, Kind: "Notification", URL: "https://sub.example/",
			Body: []byte(`{}`), Rcpt: "sub@example.com"}
	}
	feedback := notify.Job{ID: "j", Account: acct, Target: "email:ops@example.com", Channel: notify.Email, Kind: "Bounce",
		Body: []byte("report"), Rcpt: "ops@example.com"}
	cases := []struct {
		name        string
		job         notify.Job
		ok          bool
		err         error
		url         string   // want (ok only)
		secrets     []string // want (ok only)
		unchangedOK bool     // want the job as given
	}{
		{"webhook: URL changed", webhook("S/hook"), true, nil, "https://hooks.example/v2", secretsOf("hook"), false},
		{"webhook: secret rotated, both sign", webhook("S/rotated"), true, nil, "https://hooks.example/rotated", secretsOf("rotated"), false},
		{"webhook: destination disabled", webhook("S/off"), false, nil, "", nil, false},
		{"webhook: destination now an SNS one", webhook("S/now-sns"), false, nil, "", nil, false},
		{"webhook: destination deleted", webhook("S/removed"), false, nil, "", nil, false},
		{"webhook: never existed", webhook("S/nope"), false, nil, "", nil, false},
		{"webhook: configuration set deleted", webhook("Gone/hook"), false, nil, "", nil, false},
		{"webhook: not a target Route writes", notify.Job{ID: "j", Account: acct, Target: "webhook:other/S/hook", Channel: notify.Webhook,
			URL: "https://x.example/"}, true, nil, "", nil, true},
		{"sns http: subscription exists", snsJob(subArn, notify.SNSHTTP), true, nil, "", nil, true},
		{"sns http: pending subscription exists (confirmation kept)", snsJob(subArn+"-pending", notify.SNSHTTP), true, nil, "", nil, true},
		{"sns http: unsubscribed or topic deleted", snsJob(subArn+"-gone", notify.SNSHTTP), false, nil, "", nil, false},
		{"sns email: unsubscribed", snsJob(subArn+"-gone", notify.Email), false, nil, "", nil, false},
		{"sns email: subscription exists", snsJob(subArn, notify.Email), true, nil, "", nil, true},
		{"sns: lookup failed", snsJob(subArn+"-fail", notify.SNSHTTP), false, errStore, "", nil, false},
		{"feedback email: unchanged", feedback, true, nil, "", nil, true},
	}
	for _, c := range cases {
		got, ok, err := r.Refresh(ctx, c.job)
		if ok != c.ok || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: Refresh = %v, %v; want %v, %v", c.name, ok, err, c.ok, c.err)
			continue
		}
		switch {
		case !ok:
		case c.unchangedOK:
			if got.URL != c.job.URL || !slices.Equal(got.Secrets, c.job.Secrets) || got.Target != c.job.Target || string(got.Body) != string(c.job.Body) || got.Rcpt != c.job.Rcpt {
				t.Errorf("%s: job changed: %+v", c.name, got)
			}
		default:
			if got.URL != c.url || !slices.Equal(got.Secrets, c.secrets) || got.ID != c.job.ID || got.Target != c.job.Target || string(got.Body) != string(c.job.Body) {
				t.Errorf("%s: job %+v; want URL %s, secrets %q, the rest as given", c.name, got, c.url, c.secrets)
			}
		}
	}

	// A lookup of the destinations that fails is an error too: a set
	// whose destinations' secrets cannot be opened (no sealer).
	noSealer := configset.New(sv.db)
	r = publish.New(publish.Config{Hostname: "petrel.test"}, nil, noSealer, sv.ids, topics)
	if _, ok, err := r.Refresh(ctx, webhook("S/hook")); err == nil || ok {
		t.Errorf("destinations unreadable: Refresh = %v, %v; want an error", ok, err)
	}
	// Services not configured: unchanged.
	r = publish.New(publish.Config{Hostname: "petrel.test"}, nil, nil, nil, nil)
	for _, j := range []notify.Job{webhook("S/hook"), snsJob(subArn+"-gone", notify.SNSHTTP)} {
		if got, ok, err := r.Refresh(ctx, j); !ok || err != nil || got.URL != j.URL {
			t.Errorf("no services: Refresh(%s) = %+v, %v, %v; want unchanged", j.Target, got, ok, err)
		}
	}
}
