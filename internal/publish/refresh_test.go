package publish_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/publish"
	"github.com/petrelmail/petrel/internal/sns"
)

// subscriptions answers SubscriptionPending from a map (true: confirmed,
// false: pending); an ARN in fail answers an error (the store could not
// say).
type subscriptions struct {
	liveTopics
	subs map[string]bool
	fail string
}

var errStore = errors.New("database is locked")

func (s subscriptions) SubscriptionPending(_ context.Context, account, arn string) (exists, pending bool, err error) {
	if arn == s.fail {
		return false, false, errStore
	}
	confirmed, ok := s.subs[arn]
	if account != acct || !ok {
		return false, false, nil
	}
	return true, !confirmed, nil
}

// TestRefresh: a queued job is attempted as its endpoint is now. Webhook
// jobs take the destination's current URL and secrets (after a rotation
// both), and are dropped when the set or destination is gone, disabled or
// no longer a webhook, when the destination no longer matches the job's
// event type (MatchingEventTypes changed in place), and when the
// destination was deleted and re-created under the same names (alone or
// with its set) — the job was made for another destination; SNS jobs are
// dropped when their subscription is gone (pending ones are kept), and a
// SubscriptionConfirmation once its subscription is confirmed; feedback
// emails are unchanged; a failed
// lookup is an error (retry later). Destinations are stored through the
// real configuration set service.
func snsJobOf(arn string, ch notify.Channel) notify.Job {
	return notify.Job{ID: "j", Account: acct, Target: "sns:" + arn, Channel: ch, Kind: "Notification", URL: "https://sub.example/",
		Body: []byte(`{}`), Rcpt: "sub@example.com"}
}

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
	for _, s := range []string{"S", "Gone", "Again"} {
		mustDo(sets.Create(ctx, configset.ConfigurationSet{Account: acct, Name: s, SendingEnabled: true}))
	}
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("hook", "https://hooks.example/v1", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("rotated", "https://hooks.example/rotated", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("off", "https://hooks.example/off", false)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("now-sns", "https://hooks.example/was", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("removed", "https://hooks.example/removed", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "Gone", hook("hook", "https://hooks.example/gone", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("retyped", "https://hooks.example/retyped", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("recreated", "https://hooks.example/recreated", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", hook("rotated-twice", "https://hooks.example/rotated-twice", true)))
	mustDo(sets.CreateEventDestination(ctx, acct, "Again", hook("hook", "https://hooks.example/again", true)))
	// The secrets each destination had when the jobs were made.
	made := map[string][]string{}
	for _, s := range []string{"S", "Gone", "Again"} {
		ds, err := sets.GetEventDestinations(ctx, acct, s)
		mustDo(err)
		for _, d := range ds {
			made[s+"/"+d.Name] = d.WebhookSecrets
		}
	}
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
	// Types changed in place; a destination deleted and re-created with
	// the same names, matching other types (and the same ones); a set
	// deleted and re-created with the same names.
	mustDo(sets.UpdateEventDestination(ctx, acct, "S", configset.EventDestination{Name: "retyped", Enabled: true,
		MatchingEventTypes: []string{"DELIVERY"}, WebhookURL: "https://hooks.example/retyped"}))
	mustDo(sets.DeleteEventDestination(ctx, acct, "S", "recreated"))
	mustDo(sets.CreateEventDestination(ctx, acct, "S", configset.EventDestination{Name: "recreated", Enabled: true,
		MatchingEventTypes: []string{"BOUNCE", "DELIVERY"}, WebhookURL: "https://hooks.example/new-owner"}))
	// Rotated twice since the job was made: the job's secret is gone, but
	// the destination is the same one.
	for range 2 {
		_, err := sets.RotateWebhookSecret(ctx, acct, "S", "rotated-twice")
		mustDo(err)
	}
	mustDo(sets.Delete(ctx, acct, "Again"))
	mustDo(sets.Create(ctx, configset.ConfigurationSet{Account: acct, Name: "Again", SendingEnabled: true}))
	mustDo(sets.CreateEventDestination(ctx, acct, "Again", hook("hook", "https://hooks.example/again-new", true)))
	current, err := sets.GetEventDestinations(ctx, acct, "S")
	mustDo(err)
	secretsOf := func(name string) []string {
		i := slices.IndexFunc(current, func(d configset.EventDestination) bool { return d.Name == name })
		return current[i].WebhookSecrets
	}
	if s := secretsOf("rotated-twice"); len(s) != 2 || slices.Contains(s, made["S/rotated-twice"][0]) {
		t.Fatalf("rotated twice: secrets %q, want two, neither the one the job was made with", s)
	}
	if s := secretsOf("rotated"); len(s) != 2 || s[0] != newSecret {
		t.Fatalf("rotated secrets %q, want the new one then the previous one", s)
	}

	const subArn = "arn:aws:sns:us-east-1:1:t:0f4f0a3e-0000-4000-8000-000000000001"
	topics := subscriptions{subs: map[string]bool{subArn: true, subArn + "-pending": false}, fail: subArn + "-fail"}
	r := publish.New(publish.Config{Hostname: "petrel.test"}, nil, sets, sv.ids, topics)

	webhookKind := func(target, kind string) notify.Job {
		secrets := made[target]
		if secrets == nil {
			secrets = []string{"whsec_stale"}
		}
		return notify.Job{ID: "j", Account: acct, Target: "webhook:" + acct + "/" + target, Channel: notify.Webhook, Kind: kind,
			URL: "https://hooks.example/stale", Body: []byte(`{}`), Secrets: slices.Clone(secrets)}
	}
	webhook := func(target string) notify.Job { return webhookKind(target, "Bounce") }
	confirmation := func(arn string) notify.Job {
		j := snsJobOf(arn, notify.SNSHTTP)
		j.Kind = sns.TypeSubscriptionConfirmation
		return j
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
		{"webhook: MatchingEventTypes changed in place, type no longer matched", webhook("S/retyped"), false, nil, "", nil, false},
		{"webhook: MatchingEventTypes changed in place, type matched", webhookKind("S/retyped", "Delivery"), true, nil,
			"https://hooks.example/retyped", made["S/retyped"], false},
		{"webhook: destination re-created, type not matched", webhookKind("S/recreated", "Send"), false, nil, "", nil, false},
		{"webhook: destination re-created, type matched", webhook("S/recreated"), false, nil, "", nil, false},
		{"webhook: set and destination re-created", webhook("Again/hook"), false, nil, "", nil, false},
		{"webhook: secret rotated twice since (the same destination)", webhook("S/rotated-twice"), true, nil,
			"https://hooks.example/rotated-twice", secretsOf("rotated-twice"), false},
		{"webhook: not a target Route writes", notify.Job{ID: "j", Account: acct, Target: "webhook:other/S/hook", Channel: notify.Webhook,
			URL: "https://x.example/"}, true, nil, "", nil, true},
		{"sns http: subscription exists", snsJobOf(subArn, notify.SNSHTTP), true, nil, "", nil, true},
		{"sns http: pending subscription exists (confirmation kept)", snsJobOf(subArn+"-pending", notify.SNSHTTP), true, nil, "", nil, true},
		{"sns http: unsubscribed or topic deleted", snsJobOf(subArn+"-gone", notify.SNSHTTP), false, nil, "", nil, false},
		{"sns email: unsubscribed", snsJobOf(subArn+"-gone", notify.Email), false, nil, "", nil, false},
		{"sns email: subscription exists", snsJobOf(subArn, notify.Email), true, nil, "", nil, true},
		{"sns: lookup failed", snsJobOf(subArn+"-fail", notify.SNSHTTP), false, errStore, "", nil, false},
		{"sns: confirmation of a pending subscription", confirmation(subArn + "-pending"), true, nil, "", nil, true},
		{"sns: confirmation of a subscription confirmed meanwhile", confirmation(subArn), false, nil, "", nil, false},
		{"sns: confirmation of a subscription gone", confirmation(subArn + "-gone"), false, nil, "", nil, false},
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
	for _, j := range []notify.Job{webhook("S/hook"), snsJobOf(subArn+"-gone", notify.SNSHTTP)} {
		if got, ok, err := r.Refresh(ctx, j); !ok || err != nil || got.URL != j.URL {
			t.Errorf("no services: Refresh(%s) = %+v, %v, %v; want unchanged", j.Target, got, ok, err)
		}
	}
}
