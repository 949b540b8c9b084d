package identity

import (
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/address"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/store"
)

const (
	bounceTopic    = "arn:aws:sns:us-east-1:123456789012:bounces"
	complaintTopic = "arn:aws:sns:us-east-1:123456789012:complaints"
)

// TestNotificationAttributes (issue 14): an identity starts with SES's
// defaults (no topics, no headers, forwarding on); each setter changes its
// setting only, on both stores; SES v1's rule refuses to turn forwarding
// off without both a Bounce and a Complaint topic, SES v2's accepts it;
// clearing a Bounce or Complaint topic turns forwarding back on; the
// default configuration set is set and cleared; an unknown identity, type
// or ARN is refused.
func TestNotificationAttributes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			if _, err := accts.Create(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			s := New(db, accts)
			if _, err := s.Create(ctx, "a", "example.com", true); err != nil {
				t.Fatal(err)
			}
			attrs := func() NotificationAttributes {
				t.Helper()
				a, err := s.NotificationAttributes(ctx, "a", "Example.COM")
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			if got := attrs(); got != (NotificationAttributes{ForwardingEnabled: true}) {
				t.Errorf("defaults %+v", got)
			}
			if s.HasNotificationTopics(ctx, "a") {
				t.Error("HasNotificationTopics with none set")
			}
			if err := s.SetFeedbackForwarding(ctx, "a", "example.com", false); !errors.Is(err, ErrForwardingNeedsTopics) || !errors.Is(err, ErrInvalidSetting) {
				t.Errorf("v1 forwarding off without topics: %v, want ErrForwardingNeedsTopics", err)
			}
			if err := s.SetNotificationTopic(ctx, "a", "example.com", Bounce, bounceTopic); err != nil {
				t.Fatal(err)
			}
			if !s.HasNotificationTopics(ctx, "a") {
				t.Error("HasNotificationTopics false with a Bounce topic")
			}
			if err := s.SetFeedbackForwarding(ctx, "a", "example.com", false); !errors.Is(err, ErrForwardingNeedsTopics) {
				t.Errorf("v1 forwarding off with a Bounce topic only: %v", err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(s.SetNotificationTopic(ctx, "a", "example.com", Complaint, complaintTopic))
			must(s.SetNotificationTopic(ctx, "a", "example.com", Delivery, bounceTopic))
			must(s.SetHeadersInNotifications(ctx, "a", "example.com", Complaint, true))
			must(s.SetFeedbackForwarding(ctx, "a", "example.com", false))
			want := NotificationAttributes{BounceTopic: bounceTopic, ComplaintTopic: complaintTopic, DeliveryTopic: bounceTopic, HeadersInComplaint: true}
			if got := attrs(); got != want {
				t.Errorf("after setting: %+v, want %+v", got, want)
			}
			must(s.SetNotificationTopic(ctx, "a", "example.com", Delivery, ""))
			if got := attrs(); got.ForwardingEnabled || got.DeliveryTopic != "" {
				t.Errorf("clearing the Delivery topic: %+v, want forwarding still off", got)
			}
			must(s.SetNotificationTopic(ctx, "a", "example.com", Complaint, ""))
			if got := attrs(); !got.ForwardingEnabled || got.ComplaintTopic != "" {
				t.Errorf("clearing the Complaint topic: %+v, want forwarding back on", got)
			}
			// v2: off whatever the topics.
			must(s.PutFeedbackForwarding(ctx, "a", "example.com", false))
			if got := attrs(); got.ForwardingEnabled {
				t.Error("v2 forwarding off not applied")
			}

			must(s.SetConfigurationSet(ctx, "a", "example.com", "set1"))
			if _, set, err := s.Settings(ctx, "a", "example.com"); err != nil || set != "set1" {
				t.Errorf("Settings set = %q, %v", set, err)
			}
			must(s.SetConfigurationSet(ctx, "a", "example.com", ""))
			if _, set, _ := s.Settings(ctx, "a", "example.com"); set != "" {
				t.Errorf("cleared set reads %q", set)
			}

			for _, tc := range []struct {
				name string
				err  error
				do   func() error
			}{
				{"unknown identity", ErrNotFound, func() error { return s.SetNotificationTopic(ctx, "a", "nope.example", Bounce, bounceTopic) }},
				{"another account's", ErrNotFound, func() error { return s.SetConfigurationSet(ctx, "b", "example.com", "x") }},
				{"unknown type", ErrInvalidSetting, func() error { return s.SetNotificationTopic(ctx, "a", "example.com", "Open", bounceTopic) }},
				{"lower-case type", ErrInvalidSetting, func() error { return s.SetHeadersInNotifications(ctx, "a", "example.com", "bounce", true) }},
				{"not an SNS ARN", ErrInvalidSetting, func() error {
					return s.SetNotificationTopic(ctx, "a", "example.com", Bounce, "arn:aws:sqs:us-east-1:1:q")
				}},
				{"attributes of unknown", ErrNotFound, func() error { _, err := s.NotificationAttributes(ctx, "a", "nope.example"); return err }},
				{"attributes of invalid name", ErrNotFound, func() error { _, err := s.NotificationAttributes(ctx, "a", "not valid"); return err }},
			} {
				if err := tc.do(); !errors.Is(err, tc.err) {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
				}
			}

			// An identity created by another Service (another node) after
			// this one cached the account is found, not "not found".
			other := New(db, accts)
			if _, err := other.Create(ctx, "a", "late.example", true); err != nil {
				t.Fatal(err)
			}
			if got, err := s.NotificationAttributes(ctx, "a", "late.example"); err != nil || !got.ForwardingEnabled {
				t.Errorf("identity created elsewhere: %+v, %v", got, err)
			}
			// Deleting an identity forgets its settings.
			must(s.Delete(ctx, "a", "example.com"))
			if _, err := s.NotificationAttributes(ctx, "a", "example.com"); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted identity: %v", err)
			}
		})
	}
}

// BenchmarkDefaultConfigurationSet: what resolving the identity default
// costs a send while the caches are fresh (no store access), for an
// account whose identities have no default (the common case) and for one
// resolved through the address identity to its domain's default.
func BenchmarkDefaultConfigurationSet(b *testing.B) {
	db := store.OpenTest(b, "sqlite")
	ctx := b.Context()
	accts, _ := account.New(db, b.TempDir()+"/k", "us-east-1")
	s := New(db, accts)
	for _, a := range []string{"plain", "defaults"} {
		if _, err := accts.Create(ctx, a); err != nil {
			b.Fatal(err)
		}
		for _, n := range []string{"example.com", "alice@example.com"} {
			if _, err := s.Create(ctx, a, n, true); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.SetConfigurationSet(ctx, "defaults", "example.com", "dom"); err != nil {
		b.Fatal(err)
	}
	from, _ := address.Parse("alice@example.com")
	for _, tc := range []struct{ account, want string }{{"plain", ""}, {"defaults", "dom"}} {
		b.Run(tc.account, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if set, err := s.DefaultConfigurationSet(ctx, tc.account, from); err != nil || set != tc.want {
					b.Fatalf("%q, %v", set, err)
				}
			}
		})
	}
}

// TestSettingsReadKeepsSendCaches: reading an identity's settings afresh
// (GetEmailIdentity, the CLI) or missing one (an event about a deleted
// identity) drops only the cached notification settings, never the
// verified set the send path authorises from.
func TestSettingsReadKeepsSendCaches(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	ctx := t.Context()
	accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
	if _, err := accts.Create(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s := New(db, accts)
	for _, n := range []string{"one.example", "two.example"} {
		if _, err := s.Create(ctx, "a", n, true); err != nil {
			t.Fatal(err)
		}
	}
	from := address.Address{Local: "x", Domain: "two.example"}
	if got, err := s.Authorizing(ctx, "a", from); err != nil || got != "two.example" {
		t.Fatalf("Authorizing = %q, %v", got, err)
	}
	// Gone from the store behind the Service's back: only a reload sees it.
	if _, err := db.ExecContext(ctx, "DELETE FROM identities WHERE name = 'two.example'"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Settings(ctx, "a", "one.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NotificationAttributes(ctx, "a", "gone.example"); err == nil {
		t.Fatal("settings of an identity that does not exist")
	}
	if got, err := s.Authorizing(ctx, "a", from); err != nil || got != "two.example" {
		t.Errorf("after settings reads, Authorizing = %q, %v: the verified set was dropped", got, err)
	}
}
