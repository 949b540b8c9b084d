package configset

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/store"
)

// newDestService is a Service over db with the data-dir sealer of package
// account, a clock the test moves, and the set "s1" of account "a".
func newDestService(t *testing.T, db *store.DB) (*Service, *time.Time) {
	t.Helper()
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	s := New(db)
	s.SetSealer(accts)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	if err := s.Create(t.Context(), ConfigurationSet{Account: "a", Name: "s1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	return s, &now
}

var secretRE = regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`)

const topic = "arn:aws:sns:us-east-1:123456789012:events"

// TestEventDestinations: each operation on both stores — create, read
// back, update, delete — with SES's errors: the set missing, a name taken,
// the 10-per-set limit, a destination missing. A webhook gets a generated
// secret, kept sealed (the stored bytes do not contain it), kept across a
// URL change, dropped when the destination becomes SNS, renewed when it
// becomes a webhook again. Deleting the set deletes its destinations.
func TestEventDestinations(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newDestService(t, db)
		sns := EventDestination{Name: "to-sns", Enabled: true, MatchingEventTypes: []string{"BOUNCE", "COMPLAINT"}, SnsTopicArn: topic}
		hook := EventDestination{Name: "hook", MatchingEventTypes: EventTypes, WebhookURL: "https://hooks.example/petrel"}
		for _, d := range []EventDestination{sns, hook} {
			if err := s.CreateEventDestination(ctx, "a", "s1", d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetEventDestinations(ctx, "a", "s1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Name != "hook" || !reflect.DeepEqual(got[1], sns) {
			t.Fatalf("destinations %+v", got)
		}
		secrets := got[0].WebhookSecrets
		if len(secrets) != 1 || !secretRE.MatchString(secrets[0]) {
			t.Fatalf("webhook secrets %q, want one whsec_ secret", secrets)
		}
		got[0].WebhookSecrets = nil
		if !reflect.DeepEqual(got[0], hook) {
			t.Errorf("webhook destination %+v, want %+v", got[0], hook)
		}
		var sealed []byte
		if err := db.QueryRowContext(ctx, "SELECT secret_sealed FROM configuration_set_event_destinations WHERE name = 'hook'").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if len(sealed) == 0 || bytes.Contains(sealed, []byte(secrets[0][len(WebhookSecretPrefix):])) {
			t.Errorf("stored secret %q is not sealed", sealed)
		}

		for _, tc := range []struct {
			name string
			err  error
			do   func() error
		}{
			{"create in a missing set", ErrNotFound, func() error { return s.CreateEventDestination(ctx, "a", "nope", sns) }},
			{"create in another account's set", ErrNotFound, func() error { return s.CreateEventDestination(ctx, "b", "s1", sns) }},
			{"create a taken name", ErrEventDestinationExists, func() error { return s.CreateEventDestination(ctx, "a", "s1", sns) }},
			{"update a missing destination", ErrEventDestinationNotFound, func() error {
				d := sns
				d.Name = "nope"
				return s.UpdateEventDestination(ctx, "a", "s1", d)
			}},
			{"update in a missing set", ErrNotFound, func() error { return s.UpdateEventDestination(ctx, "a", "nope", sns) }},
			{"delete a missing destination", ErrEventDestinationNotFound, func() error { return s.DeleteEventDestination(ctx, "a", "s1", "nope") }},
			{"delete in a missing set", ErrNotFound, func() error { return s.DeleteEventDestination(ctx, "a", "nope", "to-sns") }},
			{"rotate an SNS destination", ErrInvalid, func() error { _, err := s.RotateWebhookSecret(ctx, "a", "s1", "to-sns"); return err }},
			{"rotate a missing destination", ErrEventDestinationNotFound, func() error { _, err := s.RotateWebhookSecret(ctx, "a", "s1", "nope"); return err }},
			{"get a missing set", ErrNotFound, func() error { _, err := s.GetEventDestinations(ctx, "a", "nope"); return err }},
		} {
			if err := tc.do(); !errors.Is(err, tc.err) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			}
		}

		// A new URL keeps the secret.
		hook.WebhookURL = "https://hooks.example/v2"
		hook.Enabled = true
		if err := s.UpdateEventDestination(ctx, "a", "s1", hook); err != nil {
			t.Fatal(err)
		}
		if d := find(t, s, "hook"); d.WebhookURL != hook.WebhookURL || !d.Enabled || !reflect.DeepEqual(d.WebhookSecrets, secrets) {
			t.Errorf("after a URL change: %+v, want the URL changed and secrets %q kept", d, secrets)
		}
		// Becoming SNS drops it; becoming a webhook again makes a new one.
		hook.WebhookURL, hook.SnsTopicArn = "", topic
		if err := s.UpdateEventDestination(ctx, "a", "s1", hook); err != nil {
			t.Fatal(err)
		}
		if d := find(t, s, "hook"); d.SnsTopicArn != topic || d.WebhookURL != "" || d.WebhookSecrets != nil {
			t.Errorf("after becoming SNS: %+v", d)
		}
		hook.WebhookURL, hook.SnsTopicArn = "https://hooks.example/v3", ""
		if err := s.UpdateEventDestination(ctx, "a", "s1", hook); err != nil {
			t.Fatal(err)
		}
		if d := find(t, s, "hook"); len(d.WebhookSecrets) != 1 || d.WebhookSecrets[0] == secrets[0] || !secretRE.MatchString(d.WebhookSecrets[0]) {
			t.Errorf("after becoming a webhook again: secrets %q, want one new secret", d.WebhookSecrets)
		}

		// SES's limit: 10 destinations per set.
		for i := 2; i < MaxEventDestinations; i++ {
			d := sns
			d.Name = "d" + strconv.Itoa(i)
			if err := s.CreateEventDestination(ctx, "a", "s1", d); err != nil {
				t.Fatal(err)
			}
		}
		d := sns
		d.Name = "eleventh"
		if err := s.CreateEventDestination(ctx, "a", "s1", d); !errors.Is(err, ErrEventDestinationLimit) {
			t.Errorf("11th destination: err = %v, want ErrEventDestinationLimit", err)
		}

		if err := s.DeleteEventDestination(ctx, "a", "s1", "to-sns"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetEventDestinations(ctx, "a", "s1"); err != nil {
			t.Fatal(err)
		}
		if got := len(mustGet(t, s)); got != MaxEventDestinations-1 {
			t.Errorf("%d destinations after a delete, want %d", got, MaxEventDestinations-1)
		}
		if err := s.Delete(ctx, "a", "s1"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM configuration_set_event_destinations").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d destination rows left after deleting the set (err %v)", n, err)
		}
		// A set made again under the name starts with none.
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "s1", SendingEnabled: true}); err != nil {
			t.Fatal(err)
		}
		if ds, err := s.EventDestinations(ctx, "a", "s1"); err != nil || len(ds) != 0 {
			t.Errorf("re-created set: destinations %+v, err %v", ds, err)
		}
	})
}

func mustGet(t *testing.T, s *Service) []EventDestination {
	t.Helper()
	ds, err := s.GetEventDestinations(t.Context(), "a", "s1")
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func find(t *testing.T, s *Service, name string) EventDestination {
	t.Helper()
	for _, d := range mustGet(t, s) {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no destination %s", name)
	return EventDestination{}
}

// TestWebhookSecretRotation: after a rotation the new secret signs first
// and the previous one is still offered, until WebhookSecretOverlap has
// passed (simulated clock); a second rotation within the overlap drops
// the oldest. Both stores.
func TestWebhookSecretRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, now := newDestService(t, db)
		if err := s.CreateEventDestination(ctx, "a", "s1", EventDestination{Name: "hook", Enabled: true,
			MatchingEventTypes: []string{"DELIVERY"}, WebhookURL: "https://hooks.example/"}); err != nil {
			t.Fatal(err)
		}
		first := find(t, s, "hook").WebhookSecrets
		second, err := s.RotateWebhookSecret(ctx, "a", "s1", "hook")
		if err != nil {
			t.Fatal(err)
		}
		if got := find(t, s, "hook").WebhookSecrets; !reflect.DeepEqual(got, []string{second, first[0]}) {
			t.Errorf("after a rotation: %q, want [new old]", got)
		}
		*now = now.Add(WebhookSecretOverlap - time.Second)
		if got := find(t, s, "hook").WebhookSecrets; len(got) != 2 {
			t.Errorf("a second before the overlap ends: %q, want both", got)
		}
		third, err := s.RotateWebhookSecret(ctx, "a", "s1", "hook")
		if err != nil {
			t.Fatal(err)
		}
		if got := find(t, s, "hook").WebhookSecrets; !reflect.DeepEqual(got, []string{third, second}) {
			t.Errorf("after a second rotation: %q, want [third second]", got)
		}
		*now = now.Add(WebhookSecretOverlap)
		if got := find(t, s, "hook").WebhookSecrets; !reflect.DeepEqual(got, []string{third}) {
			t.Errorf("after the overlap: %q, want the newest only", got)
		}
	})
}

// TestEventDestinationsCached: EventDestinations and HasNotifications
// answer from the cache for CacheTTL (a row removed behind the Service's
// back is still seen), a change through the Service at once; an account
// with only disabled destinations has none to notify.
func TestEventDestinationsCached(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, now := newDestService(t, db)
		if s.HasNotifications(ctx, "a") {
			t.Error("HasNotifications with no destination")
		}
		off := EventDestination{Name: "off", MatchingEventTypes: []string{"SEND"}, SnsTopicArn: topic}
		if err := s.CreateEventDestination(ctx, "a", "s1", off); err != nil {
			t.Fatal(err)
		}
		if s.HasNotifications(ctx, "a") {
			t.Error("HasNotifications with only a disabled destination")
		}
		off.Enabled = true
		if err := s.UpdateEventDestination(ctx, "a", "s1", off); err != nil {
			t.Fatal(err)
		}
		if !s.HasNotifications(ctx, "a") || s.HasNotifications(ctx, "b") {
			t.Error("HasNotifications: want true for a, false for b")
		}
		ds, err := s.EventDestinations(ctx, "a", "s1")
		if err != nil || len(ds) != 1 || !ds[0].Enabled {
			t.Fatalf("EventDestinations %+v, %v", ds, err)
		}
		if _, err := db.ExecContext(ctx, "DELETE FROM configuration_set_event_destinations"); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(CacheTTL - time.Millisecond)
		if ds, err := s.EventDestinations(ctx, "a", "s1"); err != nil || len(ds) != 1 || !s.HasNotifications(ctx, "a") {
			t.Errorf("within CacheTTL: %+v, %v; want the cached answer", ds, err)
		}
		*now = now.Add(time.Millisecond)
		if ds, err := s.EventDestinations(ctx, "a", "s1"); err != nil || len(ds) != 0 || s.HasNotifications(ctx, "a") {
			t.Errorf("after CacheTTL: %+v, %v; want the store's answer (none)", ds, err)
		}
		if err := s.CreateEventDestination(ctx, "a", "s1", off); err != nil {
			t.Fatal(err)
		}
		if ds, _ := s.EventDestinations(ctx, "a", "s1"); len(ds) != 1 || !s.HasNotifications(ctx, "a") {
			t.Errorf("a change through the Service is not seen at once: %+v", ds)
		}
		if _, err := s.EventDestinations(ctx, "a", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing set: %v", err)
		}
	})
}

// TestEventDestinationValidate: what Validate refuses, each with a
// message naming the member (SES: BadRequestException).
func TestEventDestinationValidate(t *testing.T) {
	ok := EventDestination{Name: "d", MatchingEventTypes: []string{"SEND"}, SnsTopicArn: topic}
	for _, tc := range []struct {
		name string
		edit func(d *EventDestination)
		want string // in the message; "" = valid
	}{
		{"valid SNS", func(d *EventDestination) {}, ""},
		{"valid webhook", func(d *EventDestination) { d.SnsTopicArn, d.WebhookURL = "", "http://hooks.example:8080/x?y=1" }, ""},
		{"every event type", func(d *EventDestination) { d.MatchingEventTypes = EventTypes }, ""},
		{"empty name", func(d *EventDestination) { d.Name = "" }, "EventDestinationName"},
		{"long name", func(d *EventDestination) { d.Name = strings.Repeat("a", 65) }, "EventDestinationName"},
		{"name with a dot", func(d *EventDestination) { d.Name = "a.b" }, "EventDestinationName"},
		{"no event types", func(d *EventDestination) { d.MatchingEventTypes = nil }, "MatchingEventTypes"},
		{"lower-case type", func(d *EventDestination) { d.MatchingEventTypes = []string{"send"} }, "MatchingEventTypes"},
		{"unknown type", func(d *EventDestination) { d.MatchingEventTypes = []string{"RENDERING FAILURE"} }, "MatchingEventTypes"},
		{"type twice", func(d *EventDestination) { d.MatchingEventTypes = []string{"SEND", "SEND"} }, "twice"},
		{"no destination", func(d *EventDestination) { d.SnsTopicArn = "" }, "needs a destination"},
		{"two destinations", func(d *EventDestination) { d.WebhookURL = "https://x.example/" }, "not both"},
		{"not an SNS ARN", func(d *EventDestination) { d.SnsTopicArn = "arn:aws:sqs:us-east-1:1:q" }, "SnsDestination.TopicArn"},
		{"ARN with a space", func(d *EventDestination) { d.SnsTopicArn = "arn:aws:sns:us-east-1:1:a b" }, "SnsDestination.TopicArn"},
		{"webhook ftp", func(d *EventDestination) { d.SnsTopicArn, d.WebhookURL = "", "ftp://x.example/" }, "http or https"},
		{"webhook relative", func(d *EventDestination) { d.SnsTopicArn, d.WebhookURL = "", "/hook" }, "http or https"},
		{"webhook userinfo", func(d *EventDestination) { d.SnsTopicArn, d.WebhookURL = "", "https://u:p@x.example/" }, "user information"},
		{"webhook fragment", func(d *EventDestination) { d.SnsTopicArn, d.WebhookURL = "", "https://x.example/#f" }, "fragment"},
		{"webhook too long", func(d *EventDestination) {
			d.SnsTopicArn, d.WebhookURL = "", "https://x.example/"+strings.Repeat("a", MaxWebhookURLLen)
		}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			d.MatchingEventTypes = append([]string(nil), ok.MatchingEventTypes...)
			tc.edit(&d)
			err := d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// TestWebhookWithoutSealer: a Service without a Sealer refuses webhook
// destinations rather than store a secret in the clear.
func TestWebhookWithoutSealer(t *testing.T) {
	db := store.OpenTest(t, "sqlite")
	s := New(db)
	ctx := context.Background()
	if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "s1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	err := s.CreateEventDestination(ctx, "a", "s1", EventDestination{Name: "h", MatchingEventTypes: []string{"SEND"}, WebhookURL: "https://x.example/"})
	if !errors.Is(err, ErrNoSealer) {
		t.Errorf("err = %v, want ErrNoSealer", err)
	}
}

// FuzzValidateWebhookURL: ValidateWebhookURL never panics, and a URL it
// accepts is an absolute http(s) URL without user information.
func FuzzValidateWebhookURL(f *testing.F) {
	for _, s := range []string{"https://x.example/", "http://127.0.0.1:8080/h", "ftp://x", "https://u@x/", "https://x/#f", "%", "http://[::1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if ValidateWebhookURL(raw) != nil {
			return
		}
		lower := strings.ToLower(raw)
		if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") || strings.Contains(raw, "#") || len(raw) > MaxWebhookURLLen {
			t.Errorf("accepted %q", raw)
		}
	})
}
