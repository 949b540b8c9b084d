package publish_test

import (
	"testing"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/publish"
)

// wantsRouter is a router over real configuration set and identity
// services (SQLite): account "acme" has nothing configured, "hooked" has an
// event destination, "topical" an identity with a Bounce topic.
func wantsRouter(t testing.TB) *publish.Router {
	sv := newServices(t)
	ctx := t.Context()
	for _, a := range []string{"hooked", "topical"} {
		if _, err := sv.accts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := sv.sets.Create(ctx, configset.ConfigurationSet{Account: "hooked", Name: "cs", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := sv.sets.CreateEventDestination(ctx, "hooked", "cs", configset.EventDestination{Name: "d", Enabled: true,
		MatchingEventTypes: []string{"SEND"}, SnsTopicArn: "arn:aws:sns:us-east-1:1:t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.ids.Create(ctx, "topical", "topical.example", true); err != nil {
		t.Fatal(err)
	}
	if err := sv.ids.SetNotificationTopic(ctx, "topical", "topical.example", identity.Bounce, "arn:aws:sns:us-east-1:1:t"); err != nil {
		t.Fatal(err)
	}
	return publish.New(publish.Config{}, nil, sv.sets, sv.ids, nil)
}

// TestWants: which event types write an outbox row, with and without
// anything configured.
func TestWants(t *testing.T) {
	r := wantsRouter(t)
	bare := publish.New(publish.Config{}, nil, nil, nil, nil)
	for _, c := range []struct {
		account string
		kind    event.Kind
		want    bool
	}{
		{"acme", event.Bounce, true}, {"acme", event.Complaint, true}, {"acme", event.Delivery, false},
		{"acme", event.Send, false}, {"acme", event.DeliveryDelay, false}, {"acme", event.Reject, false},
		{"hooked", event.Send, true}, {"hooked", event.Delivery, true}, {"hooked", event.DeliveryDelay, true},
		{"hooked", event.Reject, true}, {"hooked", event.AutoResponse, false},
		{"hooked", event.Subscription, true}, {"acme", event.Subscription, false},
		{"hooked", event.Reject, true}, {"hooked", event.AutoResponse, false}, {"hooked", event.RenderingFailure, true},
		{"acme", event.RenderingFailure, false},
		{"topical", event.Delivery, true}, {"topical", event.Send, false}, {"topical", event.DeliveryDelay, false},
	} {
		if got := r.Wants(c.account, c.kind); got != c.want {
			t.Errorf("Wants(%s, %s) = %v, want %v", c.account, c.kind, got, c.want)
		}
	}
	if !bare.Wants("x", event.Bounce) || bare.Wants("x", event.Delivery) {
		t.Error("a router without services wants Bounce only")
	}
}

// BenchmarkWants is the per-event cost of Wants on the send path (it runs
// in the event's transaction): one or two reads of the services' caches
// (the first call of each account loads them).
func BenchmarkWants(b *testing.B) {
	r := wantsRouter(b)
	for _, c := range []struct {
		name, account string
		kind          event.Kind
	}{{"Send-unconfigured", "acme", event.Send}, {"Delivery-unconfigured", "acme", event.Delivery},
		{"Send-configured", "hooked", event.Send}, {"Bounce", "acme", event.Bounce}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Wants(c.account, c.kind)
			}
		})
	}
}
