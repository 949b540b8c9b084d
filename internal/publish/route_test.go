package publish_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/publish"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

const acct = "acme"

// destinations, identities and topics stand in for the configset,
// identity and sns services (built on other branches) behind publish's
// interfaces: in-memory settings, and topics that record what was
// published to them.
type destinations map[string][]configset.EventDestination // by set

func (d destinations) EventDestinations(_ context.Context, account, set string) ([]configset.EventDestination, error) {
	return d[set], nil
}
func (d destinations) HasNotifications(_ context.Context, account string) bool { return len(d) > 0 }

type identities map[string]identity.NotificationAttributes

func (i identities) NotificationAttributes(_ context.Context, account, name string) (identity.NotificationAttributes, error) {
	a, ok := i[name]
	if !ok {
		return identity.NotificationAttributes{}, fmt.Errorf("%s: %w", name, identity.ErrNotFound)
	}
	return a, nil
}
func (i identities) HasNotificationTopics(_ context.Context, account string) bool { return len(i) > 0 }

type published struct{ arn, message, attrs string }

type topics struct {
	mu  sync.Mutex
	got []published
}

func (t *topics) PublishJobs(_ context.Context, account, arn, subject, message string, attrs map[string]string) ([]notify.Job, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, _ := json.Marshal(attrs)
	t.got = append(t.got, published{arn, message, string(a)})
	return []notify.Job{{ID: fmt.Sprint(len(t.got)), Account: account, Target: "sns:" + arn, Channel: notify.SNSHTTP, Body: []byte(message)}}, nil
}

func (t *topics) SubscriptionPending(context.Context, string, string) (bool, bool, error) {
	return true, false, nil
}

// env is a real SQLite store with the accept path, the spool and a
// deliverer relaying to a test MX.
type env struct {
	t      *testing.T
	db     *store.DB
	sender *sending.Sender
	spool  *spool.Spool
	events *event.Log
	mx     *mxtest.Server
	supp   *suppression.List
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := store.OpenTest(t, "sqlite")
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accts.CreateWith(ctx, acct, account.CreateOptions{Production: true}); err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, accts)
	if _, err := ids.Create(ctx, acct, "example.com", true); err != nil {
		t.Fatal(err)
	}
	mx := mxtest.Start(t, "127.0.0.1", 0)
	batch := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	q, sp, ev := queue.New(db), spool.New(db), event.NewLog(db)
	supp := suppression.New(db, nil)
	d, err := delivery.New(delivery.Config{Hostname: "petrel.test", NodeID: "n1", RelayHost: mx.Addr,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond}, q, sp, ev, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Suppression = supp
	s := sending.New(sending.Config{MessageIDDomain: "petrel.test", Region: "us-east-1", NodeID: "n1",
		MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
		accts, ids, configset.New(db), q, sp, ev, batch)
	s.Delivery, s.Suppression = d, supp
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("delivery Run: %v", err)
		}
	})
	return &env{t: t, db: db, sender: s, spool: sp, events: ev, mx: mx, supp: supp}
}

// send accepts a message through the real accept path (SMTP-style: the
// envelope MAIL FROM given) and returns its ID.
func (e *env) send(mailFrom, from, rcpt, extra string) string {
	e.t.Helper()
	mf, _ := address.Parse(mailFrom)
	r, _ := address.Parse(rcpt)
	raw := "From: " + from + "\r\nTo: " + rcpt + "\r\nSubject: Order 42\r\nMessage-ID: <orig-42@example.com>\r\n" + extra + "\r\nHello\r\n"
	id, err := e.sender.Send(e.t.Context(), sending.Request{Account: acct, Caller: "AKID", SourceIP: "127.0.0.9", Operation: "SendRawEmail",
		MailFrom: &mf, Recipients: []address.Address{r}, Raw: []byte(raw)})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitEvent polls the event log (deadline 10 s) for an event of kind of message id.
func (e *env) waitEvent(id string, kind event.Kind) event.Event {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := e.events.List(e.t.Context(), event.Filter{MessageID: id, Kind: kind})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) > 0 {
			return evs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("no %s event for %s", kind, id)
	return event.Event{}
}

// TestRouteReadsSpool: Route reads the mail object (with its tags, set
// and identity) from the spool record of a message accepted through the
// real accept path, and renders each target in its format.
func TestRouteReadsSpool(t *testing.T) {
	e := newEnv(t)
	id := e.send("bounces@example.com", "News <news@example.com>", "jane@far.test", "")
	sendEv := e.waitEvent(id, event.Send)
	env, err := e.spool.Envelope(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	// The message has no configuration set: only the identity's settings
	// and forwarding apply. Give it a set through the mail object instead,
	// with AddTest-style events (e.Mail set).
	rawMail := env.Mail
	if env.MailFrom != "bounces@example.com" {
		t.Fatalf("spool mail_from = %q", env.MailFrom)
	}
	var m event.Mail
	json.Unmarshal(rawMail, &m)
	m.Tags["ses:configuration-set"] = []string{"Marketing"}
	withSet, _ := event.Encode(m)

	tp := &topics{}
	dests := destinations{"Marketing": {{Name: "all", Enabled: true, MatchingEventTypes: []string{"SEND", "BOUNCE", "DELIVERY"},
		SnsTopicArn: "arn:aws:sns:us-east-1:1:events"}, {Name: "hook", Enabled: true, MatchingEventTypes: []string{"SEND"},
		WebhookURL: "https://hooks.example/ses", WebhookSecrets: []string{"whsec_x"}}}}
	ids := identities{"example.com": {BounceTopic: "arn:aws:sns:us-east-1:1:bounces", HeadersInBounce: false, ForwardingEnabled: true}}
	r := publish.New(publish.Config{Hostname: "petrel.test"}, e.spool, dests, ids, tp)

	// Send of the stored message (no set in its own mail object): nothing.
	if jobs, err := r.Route(t.Context(), sendEv); err != nil || len(jobs) != 0 {
		t.Errorf("Route(Send without set) = %v, %v", jobs, err)
	}
	// Send with the set: SNS destination + webhook, event-publishing JSON.
	ev := sendEv
	ev.Mail = withSet
	jobs, err := r.Route(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Channel != notify.SNSHTTP || jobs[1].Channel != notify.Webhook ||
		jobs[1].Target != "webhook:acme/Marketing/hook" || jobs[1].URL != "https://hooks.example/ses" || jobs[1].Kind != "Send" {
		t.Fatalf("jobs = %+v", jobs)
	}
	var body struct {
		EventType string     `json:"eventType"`
		Mail      event.Mail `json:"mail"`
	}
	if err := json.Unmarshal(jobs[1].Body, &body); err != nil || body.EventType != "Send" || body.Mail.MessageID != id ||
		body.Mail.Tags["ses:configuration-set"][0] != "Marketing" || len(body.Mail.Headers) == 0 {
		t.Errorf("webhook body %s (%v)", jobs[1].Body, err)
	}
	if len(tp.got) != 1 || tp.got[0].attrs != `{"eventType":"Send"}` || !strings.HasPrefix(tp.got[0].message, `{"eventType":"Send","mail":{`) {
		t.Errorf("published %+v", tp.got)
	}

	// A bounce, read from the spool: identity topic (older format, no
	// headers) and the forwarded DSN to the envelope sender.
	tp.got = nil
	bounce := event.Event{Kind: event.Bounce, MessageID: id, Account: acct, Recipient: "jane@far.test", Time: time.Now(),
		Detail: mustEncode(t, event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", Timestamp: event.Timestamp(time.Now()),
			FeedbackID: "fb-1", BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "jane@far.test", Action: "failed", Status: "5.1.1",
				DiagnosticCode: "smtp; 550 5.1.1 unknown"}}})}
	jobs, err = r.Route(t.Context(), bounce)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[1].Channel != notify.Email || jobs[1].Rcpt != "bounces@example.com" || jobs[1].MailFrom != "" ||
		jobs[1].Target != "email:bounces@example.com" {
		t.Fatalf("bounce jobs = %+v", jobs)
	}
	if len(tp.got) != 1 || tp.got[0].arn != "arn:aws:sns:us-east-1:1:bounces" || tp.got[0].attrs != `{"notificationType":"Bounce"}` ||
		!strings.HasPrefix(tp.got[0].message, `{"notificationType":"Bounce","bounce":{`) || strings.Contains(tp.got[0].message, `"headers"`) ||
		strings.Contains(tp.got[0].message, `"tags"`) {
		t.Errorf("identity notification %+v", tp.got)
	}
	if !strings.Contains(string(jobs[1].Body), "Final-Recipient: rfc822; jane@far.test") {
		t.Errorf("DSN:\n%s", jobs[1].Body)
	}

	// A message whose record is gone: no jobs, no error.
	gone := bounce
	gone.MessageID = "0100000000000000-gone-000000"
	if jobs, err := r.Route(t.Context(), gone); err != nil || len(jobs) != 0 {
		t.Errorf("Route(gone) = %v, %v", jobs, err)
	}
}

// TestFeedbackReachesSender is the email-forwarding scenario over
// real SMTP: a message from an identity without topics bounces; the
// bounce, routed, is a feedback email that SendSystemMail queues and
// delivery hands to the sender's MX with MAIL FROM:<>. The feedback
// email's own events route nowhere (no loops), and when it bounces in its
// turn nothing is added to the suppression list.
func TestFeedbackReachesSender(t *testing.T) {
	e := newEnv(t)
	e.mx.Rcpt = func(rcpt string, _ int) error {
		if rcpt == "jane@far.test" || rcpt == "gone@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
		}
		return nil
	}
	r := publish.New(publish.Config{Hostname: "petrel.test"}, e.spool, destinations{}, identities{}, &topics{})
	id := e.send("bounces@example.com", "News <news@example.com>", "jane@far.test", "")
	b := e.waitEvent(id, event.Bounce)
	if !r.Wants(acct, event.Bounce) {
		t.Fatal("Wants(Bounce) = false")
	}
	jobs, err := r.Route(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Channel != notify.Email || jobs[0].Rcpt != "bounces@example.com" {
		t.Fatalf("jobs = %+v", jobs)
	}
	// notify's delivery worker does this with the Email job.
	var mailer notify.Mailer = e.sender
	if err := mailer.SendSystemMail(t.Context(), jobs[0].Account, jobs[0].MailFrom, jobs[0].Rcpt, jobs[0].Body); err != nil {
		t.Fatal(err)
	}
	var got mxtest.Message
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		i := slices.IndexFunc(e.mx.Messages(), func(m mxtest.Message) bool { return slices.Contains(m.To, "bounces@example.com") })
		if i >= 0 {
			got = e.mx.Messages()[i]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.Data == nil {
		t.Fatalf("no feedback email at the MX; commands: %q", e.mx.Commands())
	}
	if got.From != "" {
		t.Errorf("MAIL FROM = <%s>, want <>", got.From)
	}
	if !slices.Contains(e.mx.Commands(), "MAIL FROM:<>") && !slices.ContainsFunc(e.mx.Commands(), func(c string) bool { return strings.HasPrefix(c, "MAIL FROM:<>") }) {
		t.Errorf("no MAIL FROM:<> in %q", e.mx.Commands())
	}
	data := string(got.Data)
	for _, want := range []string{"From: MAILER-DAEMON@petrel.test", "Subject: Delivery Status Notification (Failure)",
		"report-type=delivery-status", "Final-Recipient: rfc822; jane@far.test", "Status: 5.1.1", "Message-ID: <orig-42@example.com>"} {
		if !strings.Contains(data, want) {
			t.Errorf("feedback email lacks %q:\n%s", want, data)
		}
	}

	// The feedback email's own Delivery event routes nowhere.
	// (It is recorded by a group commit after the MX answered: poll.)
	var sys []event.Event
	for deadline := time.Now().Add(10 * time.Second); len(sys) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if sys, err = e.events.List(t.Context(), event.Filter{Account: acct, Kind: event.Delivery}); err != nil {
			t.Fatal(err)
		}
	}
	if len(sys) != 1 {
		t.Fatalf("delivery events %v", sys)
	}
	if jobs, err := r.Route(t.Context(), sys[0]); err != nil || len(jobs) != 0 {
		t.Errorf("Route(system mail's Delivery) = %+v, %v", jobs, err)
	}

	// A feedback email that bounces: no report about the report, and the
	// address is not suppressed.
	if err := e.sender.SendSystemMail(t.Context(), acct, "", "gone@example.com", jobs0(t, r, e, b)); err != nil {
		t.Fatal(err)
	}
	var sb event.Event
	deadline = time.Now().Add(10 * time.Second)
	for sb.ID == 0 && time.Now().Before(deadline) {
		evs, _ := e.events.List(t.Context(), event.Filter{Account: acct, Kind: event.Bounce})
		for _, ev := range evs {
			if ev.Recipient == "gone@example.com" {
				sb = ev
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sb.ID == 0 {
		t.Fatal("no bounce of the system mail")
	}
	if jobs, err := r.Route(t.Context(), sb); err != nil || len(jobs) != 0 {
		t.Errorf("Route(system mail's Bounce) = %+v, %v", jobs, err)
	}
	gone, _ := address.Parse("gone@example.com")
	if s, err := e.supp.Check(t.Context(), acct, nil, []address.Address{gone}); err != nil || len(s) != 0 {
		t.Errorf("system mail bounce suppressed the address: %+v, %v", s, err)
	}
	jane, _ := address.Parse("jane@far.test")
	if s, _ := e.supp.Check(t.Context(), acct, nil, []address.Address{jane}); len(s) != 1 {
		t.Errorf("the customer's own hard bounce was not suppressed (control): %+v", s)
	}
}

// jobs0 is the body of the feedback email routed for b.
func jobs0(t *testing.T, r *publish.Router, e *env, b event.Event) []byte {
	t.Helper()
	jobs, err := r.Route(t.Context(), b)
	if err != nil || len(jobs) == 0 {
		t.Fatalf("Route = %v, %v", jobs, err)
	}
	return jobs[0].Body
}

func mustEncode(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := event.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var errNoTopic = errors.New("topic not found")

// failingTopics refuses every topic: gone ones with errNoTopic, others
// with a storage error.
type failingTopics struct{ gone string }

func (f failingTopics) PublishJobs(_ context.Context, _, arn, _, _ string, _ map[string]string) ([]notify.Job, error) {
	if arn == f.gone {
		return nil, fmt.Errorf("%s: %w", arn, errNoTopic)
	}
	return nil, errors.New("database is locked")
}

func (failingTopics) SubscriptionPending(context.Context, string, string) (bool, bool, error) {
	return true, false, nil
}

// TestRoutePublishErrors: a deleted topic is skipped (the other targets
// still get their jobs) when Config.TopicGone recognises the error; any
// other PublishJobs error fails Route, so the engine retries the event.
// The event carries its mail object (AddTest): no spool record needed.
func TestRoutePublishErrors(t *testing.T) {
	mail := mustEncode(t, event.Mail{MessageID: "m-test", Source: "Ops <ops@example.com>",
		SourceArn: "arn:aws:ses:us-east-1:1:identity/example.com", Destination: []string{"r@example.net"},
		Tags: map[string][]string{"ses:configuration-set": {"S"}}})
	bounce := event.Event{Kind: event.Bounce, MessageID: "m-test", Account: acct, Mail: mail, Time: time.Now(),
		Detail: mustEncode(t, event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", FeedbackID: "f",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "r@example.net"}}})}
	dests := destinations{"S": {{Name: "gone", Enabled: true, MatchingEventTypes: []string{"BOUNCE"}, SnsTopicArn: "arn:gone"}}}
	gone := func(err error) bool { return errors.Is(err, errNoTopic) }

	r := publish.New(publish.Config{Hostname: "petrel.test", TopicGone: gone}, nil, dests, identities{}, failingTopics{gone: "arn:gone"})
	jobs, err := r.Route(t.Context(), bounce)
	if err != nil || len(jobs) != 1 || jobs[0].Channel != notify.Email || jobs[0].Rcpt != "ops@example.com" {
		t.Errorf("deleted topic: Route = %+v, %v; want only the feedback email to ops@example.com", jobs, err)
	}
	r = publish.New(publish.Config{Hostname: "petrel.test"}, nil, dests, identities{}, failingTopics{gone: "arn:gone"})
	if _, err := r.Route(t.Context(), bounce); !errors.Is(err, errNoTopic) {
		t.Errorf("without TopicGone: Route error = %v, want the topic's", err)
	}
	r = publish.New(publish.Config{Hostname: "petrel.test", TopicGone: gone}, nil, dests, identities{}, failingTopics{})
	if _, err := r.Route(t.Context(), bounce); err == nil {
		t.Error("storage error: Route succeeded, want an error (retry)")
	}
}

// BenchmarkRoute is the fan-out cost of one event read from a real SQLite
// spool: a Send to an SNS destination and a webhook (event JSON), and a
// Bounce to the identity topic and feedback forwarding (notification JSON
// and a DSN).
func BenchmarkRoute(b *testing.B) {
	db := store.OpenTest(b, "sqlite")
	sp := spool.New(db)
	m := event.Mail{Timestamp: event.Timestamp(time.Now()), MessageID: "m1", Source: "news@example.com",
		SourceArn: "arn:aws:ses:us-east-1:1:identity/example.com", SendingAccountID: "1", Destination: []string{"r@example.net"},
		Tags: map[string][]string{"ses:configuration-set": {"S"}, "ses:operation": {"SendEmail"}}}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"} {
		m.Headers = append(m.Headers, message.Header{Name: h, Value: "value of " + h})
	}
	raw, _ := event.Encode(m)
	err := db.Tx(b.Context(), func(tx *sql.Tx) error {
		return sp.PutTx(tx, &spool.Message{ID: "m1", Account: acct, Created: time.Now(), MailFrom: "news@example.com", Mail: raw, Body: []byte("x")})
	})
	if err != nil {
		b.Fatal(err)
	}
	dests := destinations{"S": {{Name: "sns", Enabled: true, MatchingEventTypes: []string{"SEND"}, SnsTopicArn: "arn:t"},
		{Name: "hook", Enabled: true, MatchingEventTypes: []string{"SEND"}, WebhookURL: "https://h.example/", WebhookSecrets: []string{"s"}}}}
	ids := identities{"example.com": {BounceTopic: "arn:b", ForwardingEnabled: true}}
	r := publish.New(publish.Config{Hostname: "petrel.test"}, sp, dests, ids, &discardTopics{})
	for _, c := range []struct {
		name string
		e    event.Event
	}{
		{"Send", event.Event{Kind: event.Send, MessageID: "m1", Account: acct, Detail: json.RawMessage(`{}`)}},
		{"Bounce", event.Event{Kind: event.Bounce, MessageID: "m1", Account: acct, Time: time.Now(), Detail: json.RawMessage(
			`{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"r@example.net","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 unknown"}],"timestamp":"2026-01-01T00:00:00.000Z","feedbackId":"f1"}`)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jobs, err := r.Route(b.Context(), c.e)
				if err != nil || len(jobs) != 2 {
					b.Fatalf("Route = %d jobs, %v", len(jobs), err)
				}
			}
		})
	}
}

// discardTopics returns one job per publish and keeps nothing.
type discardTopics struct{}

func (discardTopics) PublishJobs(_ context.Context, account, arn, _, message string, _ map[string]string) ([]notify.Job, error) {
	return []notify.Job{{Account: account, Target: "sns:" + arn, Body: []byte(message)}}, nil
}

func (discardTopics) SubscriptionPending(context.Context, string, string) (bool, bool, error) {
	return true, false, nil
}
