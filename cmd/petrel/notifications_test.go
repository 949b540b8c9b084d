package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/notify"
)

type captureRouter struct {
	url    string
	events chan event.Event
}

func (r captureRouter) Route(ctx context.Context, e event.Event) ([]notify.Job, error) {
	r.events <- e
	return []notify.Job{{ID: "job-" + e.MessageID, Account: e.Account, Target: "webhook:" + e.Account + "/cs1/hook", Channel: notify.Webhook,
		Kind: string(e.Kind), URL: r.url, Body: []byte(`{}`), Secrets: []string{"whsec_x"}}}, nil
}

// TestNotificationsCommands: test queues a sample event carrying its mail
// object (configuration set, identity); a daemon-side engine routes it, the
// endpoint answers 410 so it is a dead letter; list and dead-letters show
// it; replay makes it pending again.
func TestNotificationsCommands(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	for _, a := range []string{"default", "acme"} {
		if _, err := svc.Accounts.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Identities.Create(t.Context(), "acme", "example.org", true); err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfigSets.Create(t.Context(), configset.ConfigurationSet{Account: "acme", Name: "cs1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := notificationsCmd(t.Context(), append(args, "--data-dir", dir), &out)
		return out.String(), err
	}

	out, err := run("test", "--account", "acme", "--event-type", "BOUNCE", "--configuration-set", "cs1", "--from", "example.org")
	if err != nil || !strings.Contains(out, "queued a test Bounce event") {
		t.Fatalf("test: %q, %v", out, err)
	}
	if out, err := run("list"); err != nil || !strings.Contains(out, "outbox: 1 event(s)") {
		t.Fatalf("list: %q, %v", out, err)
	}

	// The daemon's side: an engine routes and attempts it.
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	svc = openServices(t, dir)
	router := captureRouter{url: gone.URL, events: make(chan event.Event, 1)}
	eng := notify.New(svc.DB, notify.Config{}, router, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	var ev event.Event
	select {
	case ev = <-router.events:
	case <-time.After(30 * time.Second):
		t.Fatal("the test event was not routed")
	}
	var mail event.Mail
	if err := json.Unmarshal(ev.Mail, &mail); err != nil {
		t.Fatalf("mail object %s: %v", ev.Mail, err)
	}
	var bounce event.BounceDetail
	json.Unmarshal(ev.Detail, &bounce)
	if ev.Kind != event.Bounce || ev.Account != "acme" || mail.Tags["ses:configuration-set"][0] != "cs1" ||
		!strings.HasSuffix(mail.SourceArn, ":identity/example.org") || mail.Source != "notifications-test@example.org" ||
		mail.MessageID != ev.MessageID || bounce.BounceType != "Permanent" {
		t.Fatalf("routed %+v with mail %+v", ev, mail)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		dead, err := eng.DeadLetters(t.Context(), "acme", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
	}
	cancel()
	<-done
	svc.Close()

	id := "job-" + ev.MessageID
	out, err = run("dead-letters", "--account", "acme")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "410") {
		t.Fatalf("dead-letters: %q, %v", out, err)
	}
	if out, err := run("dead-letters", "--account", "default"); err != nil || !strings.Contains(out, "no dead letters") {
		t.Fatalf("dead-letters of default: %q, %v", out, err)
	}
	out, err = run("list", "--account", "acme")
	if err != nil || !strings.Contains(out, "webhook:acme/cs1/hook") || !strings.Contains(out, "410") {
		t.Fatalf("list: %q, %v", out, err)
	}
	if out, err := run("replay", "--account", "acme", "no-such-id"); err == nil || out != "" {
		t.Errorf("replay of an unknown ID: printed %q, error %v; want nothing printed and an error", out, err)
	}
	if out, err := run("replay", "--account", "acme", id); err != nil || !strings.Contains(out, "replayed 1") {
		t.Fatalf("replay: %q, %v", out, err)
	}
	if out, err := run("dead-letters"); err != nil || !strings.Contains(out, "no dead letters") {
		t.Fatalf("dead-letters after replay: %q, %v", out, err)
	}
}

func TestNotificationsUsage(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), "default"); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	for _, args := range [][]string{
		{},
		{"frob"},
		{"replay"},                      // neither IDs nor --all
		{"replay", "--all", "x"},        // both
		{"test"},                        // no account
		{"test", "--account", "nobody"}, // unknown account
		{"test", "--account", "default", "--event-type", "OPEN"},
		{"list", "extra"},
	} {
		var out bytes.Buffer
		if err := notificationsCmd(t.Context(), append(args, "--data-dir", dir), &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestNotificationsRefusals: arguments the breaker found accepted are
// refused with a clear message, and nothing is queued or printed.
func TestNotificationsRefusals(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accounts.Create(t.Context(), "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(t.Context(), "acme", "example.org", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(t.Context(), "other", "other.example", true); err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfigSets.Create(t.Context(), configset.ConfigurationSet{Account: "acme", Name: "cs1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"account is a flag", []string{"list", "--account", "--data-dir", dir}, "--account needs an account name"},
		{"limit -1", []string{"dead-letters", "--limit", "-1", "--data-dir", dir}, "must be 1–"},
		{"limit 0", []string{"dead-letters", "--limit", "0", "--data-dir", dir}, "must be 1–"},
		{"limit too large", []string{"dead-letters", "--limit", "100001", "--data-dir", dir}, "must be 1–"},
		{"replay unknown id", []string{"replay", "nonexistent-id", "--data-dir", dir}, "none of the IDs given is a dead letter"},
		{"test unknown set", []string{"test", "--account", "acme", "--configuration-set", "nosuch", "--data-dir", dir}, "--configuration-set nosuch"},
		{"test set of another account", []string{"test", "--account", "other", "--configuration-set", "cs1", "--data-dir", dir}, "--configuration-set cs1"},
		{"test unknown identity", []string{"test", "--account", "acme", "--from", "nobody@nowhere.example", "--data-dir", dir}, "not an identity of account acme"},
		{"test identity of another account", []string{"test", "--account", "acme", "--from", "other.example", "--data-dir", dir}, "not an identity of account acme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := notificationsCmd(t.Context(), tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
	// Nothing was queued; an address of an account's domain identity is
	// accepted.
	var out bytes.Buffer
	if err := notificationsCmd(t.Context(), []string{"list", "--data-dir", dir}, &out); err != nil || !strings.Contains(out.String(), "outbox: 0 event(s)") {
		t.Fatalf("list: %q, %v", out.String(), err)
	}
	if err := notificationsCmd(t.Context(), []string{"test", "--account", "acme", "--from", "news@example.org", "--configuration-set", "cs1", "--data-dir", dir}, &out); err != nil {
		t.Fatalf("test from an address of the account's domain: %v", err)
	}
}

type failingRouter struct{}

func (failingRouter) Route(ctx context.Context, e event.Event) ([]notify.Job, error) {
	return nil, errors.New("routing broke: no such table")
}

// TestNotificationsOutboxFailing: an event whose routing fails is shown by
// list with its last error; once it has failed for the retry period it is
// listed by dead-letters, and replay takes it back.
func TestNotificationsOutboxFailing(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	var shift atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	eng := notify.New(svc.DB, notify.Config{Now: now, RetryPeriod: time.Minute}, failingRouter{}, nil)
	if err := eng.AddTest(t.Context(), event.Event{Kind: event.Bounce, MessageID: "m1", Account: "acme", Time: time.Now(), Detail: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	run := func(args ...string) string {
		var out bytes.Buffer
		if err := notificationsCmd(t.Context(), append(args, "--data-dir", dir), &out); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return out.String()
	}
	waitOut := func(want string, args ...string) string {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			out := run(args...)
			if strings.Contains(out, want) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q: %q, want %q in it", args, out, want)
			}
			shift.Add(int64(30 * time.Second)) // the routing retries come due
			eng.Kick()
		}
	}
	out := waitOut("retry at", "list", "--account", "acme")
	if !strings.Contains(out, "routing broke: no such table") || !strings.Contains(out, "m1") {
		t.Fatalf("list: %q", out)
	}
	out = waitOut("(routing)", "dead-letters", "--account", "acme")
	if !strings.Contains(out, notify.OutboxIDPrefix) || !strings.Contains(out, "routing broke") {
		t.Fatalf("dead-letters: %q", out)
	}
	cancel()
	<-done
	svc.Close()
	if out := run("replay", "--all", "--account", "acme"); !strings.Contains(out, "replayed 1") {
		t.Fatalf("replay: %q", out)
	}
	if out := run("dead-letters", "--account", "acme"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("dead-letters after replay: %q", out)
	}
}

// TestNotificationsTestSender: the sample message of "notifications test"
// is sent from one of the account's own identities, so that a feedback
// email it causes can only go to the tenant's own domain: without --from,
// the first verified identity (an unverified one sorting first is
// skipped); with none verified, BOUNCE and COMPLAINT are refused (nothing
// queued) and other types use a placeholder sender, which no feedback
// email is ever sent to.
func TestNotificationsTestSender(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	for _, a := range []string{"acme", "bare"} {
		if _, err := svc.Accounts.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []struct {
		acct, name string
		verified   bool
	}{{"acme", "a-unverified.example", false}, {"acme", "b.example", true}, {"acme", "c.example", true}, {"bare", "pending.example", false}} {
		if _, err := svc.Identities.Create(t.Context(), id.acct, id.name, id.verified); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	run := func(args ...string) error {
		var out bytes.Buffer
		return notificationsCmd(t.Context(), append(args, "--data-dir", dir), &out)
	}
	// The sources of the queued sample messages, oldest first.
	sources := func() []string {
		t.Helper()
		svc := openServices(t, dir)
		defer svc.Close()
		rows, err := svc.DB.QueryContext(t.Context(), "SELECT mail FROM notify_outbox ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			var m event.Mail
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Source)
		}
		return out
	}

	for _, k := range []string{"BOUNCE", "COMPLAINT"} {
		if err := run("test", "--account", "acme", "--event-type", k); err != nil {
			t.Fatalf("%s without --from: %v", k, err)
		}
	}
	if err := run("test", "--account", "acme", "--event-type", "BOUNCE", "--from", "ops@c.example"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"BOUNCE", "COMPLAINT"} {
		err := run("test", "--account", "bare", "--event-type", k)
		if err == nil || !strings.Contains(err.Error(), "has no verified identity") {
			t.Errorf("%s for an account without a verified identity: %v; want a refusal", k, err)
		}
	}
	if err := run("test", "--account", "bare", "--event-type", "DELIVERY"); err != nil {
		t.Fatalf("DELIVERY for an account without a verified identity: %v", err)
	}
	want := []string{"notifications-test@b.example", "notifications-test@b.example", "ops@c.example", "notifications-test@example.com"}
	if got := sources(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sample senders %q, want %q", got, want)
	}
}
