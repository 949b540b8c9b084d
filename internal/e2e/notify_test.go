package e2e

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	awssestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/store"
)

// startNotify is start with loopback receivers allowed, and an SNS client.
// The HTTP server listens on any free port (start's ":0"): SubscribeURL and
// SigningCertURL must name the port it got.
func startNotify(t *testing.T, backend string) (*env, *awssns.Client) {
	t.Helper()
	e := start(t, backend, func(c *config.Config) {
		c.NotifyAllowNetworks = []string{"127.0.0.0/8"}
	})
	k := e.d.Credentials
	sns := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	return e, sns
}

// subscribe creates topic name and subscribes s to it over http, waiting
// for the handshake; it returns the topic ARN.
func subscribe(t *testing.T, cli *awssns.Client, s *snsSubscriber, name string, attrs map[string]string) string {
	t.Helper()
	top, err := cli.CreateTopic(t.Context(), &awssns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Subscribe(t.Context(), &awssns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(s.url)}); err != nil {
		t.Fatal(err)
	}
	s.waitConfirmed(t)
	for _, env := range s.all() {
		if env.header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
			verifySNSSignature(t, env.body)
		}
	}
	pollUntil(t, 10*time.Second, "the subscription to be confirmed", func() bool {
		out, err := cli.ListSubscriptionsByTopic(t.Context(), &awssns.ListSubscriptionsByTopicInput{TopicArn: top.TopicArn})
		return err == nil && len(out.Subscriptions) == 1 && strings.HasPrefix(aws.ToString(out.Subscriptions[0].SubscriptionArn), aws.ToString(top.TopicArn)+":")
	})
	return *top.TopicArn
}

// publishedEvent is an event as a receiver got it.
type publishedEvent struct {
	raw  []byte
	kind string
	id   string // mail.messageId
}

func parsePublished(t *testing.T, b []byte) publishedEvent {
	t.Helper()
	var v struct {
		EventType string
		Mail      struct{ MessageId string }
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("event is not JSON: %v: %s", err, b)
	}
	return publishedEvent{raw: b, kind: v.EventType, id: v.Mail.MessageId}
}

// TestNotifyEventPublishing: every event type Petrel emits — Send,
// Delivery, Bounce (550 5.1.1 at the MX), Complaint (the mailbox
// simulator), DeliveryDelay (451 then 250) — reaches both a signed
// webhook event destination and an SNS HTTP subscriber (via an
// SnsDestination) in SES's event-publishing format: the received JSON is,
// after canonical re-encoding, byte-equal to the stored event with its
// stored mail object (tags included). Webhook HMACs verify with
// notify.VerifyWebhook and with crypto/hmac; SNS signatures with the
// served certificate through crypto/x509. (Reject is not emitted by
// Petrel: no code path records it.)
func TestNotifyEventPublishing(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e, snsCli := startNotify(t, backend)
			ctx := t.Context()
			mx := e.mx("one.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				switch {
				case strings.HasPrefix(rcpt, "unknown@"):
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				case strings.HasPrefix(rcpt, "busy@") && attempt == 1:
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
				}
				return nil
			}
			// The sender's domain has a mailbox too (feedback emails go there).
			e.mx("example.com", "127.0.0.4", 10)

			sub := startSNSSubscriber(t)
			hook := startHookReceiver(t, "127.0.0.1:0")
			topic := subscribe(t, snsCli, sub, "events", nil)
			if _, err := e.ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("notify")}); err != nil {
				t.Fatal(err)
			}
			all := []types.EventType{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY"}
			if _, err := e.ses.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
				ConfigurationSetName: aws.String("notify"), EventDestinationName: aws.String("sns"),
				EventDestination: &types.EventDestinationDefinition{Enabled: true, MatchingEventTypes: all,
					SnsDestination: &types.SnsDestination{TopicArn: aws.String(topic)}},
			}); err != nil {
				t.Fatal(err)
			}
			k := e.d.Credentials
			secret := createWebhookDestination(t, "http://"+e.d.Addr("http"), k.AccessKeyID, k.SecretAccessKey, "notify", "hook", hook.URL(),
				[]string{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY"})

			want := map[string][]event.Kind{
				"ok@one.test":                       {event.Send, event.Delivery},
				"busy@one.test":                     {event.Send, event.DeliveryDelay, event.Delivery},
				"unknown@one.test":                  {event.Send, event.Bounce},
				"complaint@simulator.amazonses.com": {event.Send, event.Delivery, event.Complaint},
			}
			stored := map[string]event.Event{} // messageId|eventType → event with mail
			for to, ks := range want {
				in := simple("sender@example.com", to)
				in.ConfigurationSetName = aws.String("notify")
				out, err := e.ses.SendEmail(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				evs := e.events(*out.MessageId, 20*time.Second, func(evs []event.Event) bool {
					for _, k := range ks {
						if count(evs, k) == 0 {
							return false
						}
					}
					return true
				})
				for _, ev := range evs {
					if !slices.Contains(ks, ev.Kind) {
						t.Errorf("%s: unexpected %s event", to, ev.Kind)
					}
					if _, dup := stored[ev.MessageID+"|"+string(ev.Kind)]; dup {
						t.Errorf("%s: two %s events", to, ev.Kind)
					}
					stored[ev.MessageID+"|"+string(ev.Kind)] = ev
				}
			}
			if len(stored) != 10 {
				t.Fatalf("%d events stored, want 10", len(stored))
			}

			// Both channels get every event.
			hooks := map[string]publishedEvent{}
			snsGot := map[string]publishedEvent{}
			pollUntil(t, 30*time.Second, "every event at both receivers", func() bool {
				for _, r := range hook.requests() {
					p := parsePublished(t, r.body)
					hooks[p.id+"|"+p.kind] = p
				}
				for _, n := range sub.notifications() {
					var env struct{ Message string }
					json.Unmarshal(n.body, &env)
					p := parsePublished(t, []byte(env.Message))
					snsGot[p.id+"|"+p.kind] = p
				}
				return len(hooks) >= len(stored) && len(snsGot) >= len(stored)
			})

			kindsSeen := map[event.Kind]bool{}
			for key, ev := range stored {
				kindsSeen[ev.Kind] = true
				wantJSON, err := ev.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				// The stored mail object carries the message's tags.
				var m struct{ Tags map[string][]string }
				json.Unmarshal(ev.Mail, &m)
				if !slices.Equal(m.Tags["ses:configuration-set"], []string{"notify"}) || !slices.Equal(m.Tags["campaign"], []string{"spring"}) {
					t.Errorf("%s: stored mail tags %v", key, m.Tags)
				}
				for ch, got := range map[string]map[string]publishedEvent{"webhook": hooks, "sns": snsGot} {
					p, ok := got[key]
					if !ok {
						t.Errorf("%s: no %s notification", ch, key)
						continue
					}
					if c, w := canonical(t, p.raw), canonical(t, wantJSON); c != w {
						t.Errorf("%s %s:\n got %s\nwant %s", ch, key, c, w)
					}
					// The top level is exactly eventType, mail and the type's object.
					var top map[string]json.RawMessage
					json.Unmarshal(p.raw, &top)
					obj := map[event.Kind]string{event.Send: "send", event.Delivery: "delivery", event.Bounce: "bounce",
						event.Complaint: "complaint", event.DeliveryDelay: "deliveryDelay"}[ev.Kind]
					if len(top) != 3 || top["eventType"] == nil || top["mail"] == nil || top[obj] == nil {
						t.Errorf("%s %s: members %v", ch, key, keysOf(top))
					}
					if canonical(t, top["mail"]) != canonical(t, ev.Mail) || canonical(t, top[obj]) != canonical(t, ev.Detail) {
						t.Errorf("%s %s: mail or %s object differs from the stored one", ch, key, obj)
					}
				}
			}
			for _, k := range []event.Kind{event.Send, event.Delivery, event.Bounce, event.Complaint, event.DeliveryDelay} {
				if !kindsSeen[k] {
					t.Errorf("no %s event was produced", k)
				}
			}

			// Webhook signatures and headers.
			ids := map[string]bool{}
			for _, r := range hook.requests() {
				p := parsePublished(t, r.body)
				sig := r.header.Get("X-Petrel-Signature")
				if err := notify.VerifyWebhook(sig, r.body, secret, time.Now(), 0); err != nil {
					t.Errorf("notify.VerifyWebhook: %v", err)
				}
				if err := verifyHMACIndependently(sig, r.body, secret); err != nil {
					t.Errorf("independent HMAC check: %v", err)
				}
				if verifyHMACIndependently(sig, append(bytes.Clone(r.body), ' '), secret) == nil {
					t.Error("a changed body verifies")
				}
				if r.header.Get("X-Petrel-Event-Type") != p.kind || r.header.Get("Content-Type") != "application/json" ||
					r.header.Get("User-Agent") != "Petrel-Webhook/1" || r.header.Get("X-Petrel-Event-Id") == "" {
					t.Errorf("webhook headers %v for a %s", r.header, p.kind)
				}
				ids[r.header.Get("X-Petrel-Event-Id")] = true
			}
			if len(ids) < len(stored) {
				t.Errorf("%d distinct X-Petrel-Event-Id for %d events", len(ids), len(stored))
			}

			// SNS envelopes: signed, from the topic, the type in a message attribute.
			for _, n := range sub.notifications() {
				m := verifySNSSignature(t, n.body)
				p := parsePublished(t, []byte(m["Message"]))
				if m["Type"] != "Notification" || m["TopicArn"] != topic || !strings.Contains(m["UnsubscribeURL"], "Action=Unsubscribe") || p.kind == "" {
					t.Errorf("SNS envelope %s", n.body)
				}
				if h := n.header.Get("x-amz-sns-topic-arn"); h != topic {
					t.Errorf("x-amz-sns-topic-arn %q", h)
				}
				if h := n.header.Get("x-amz-sns-message-id"); h != m["MessageId"] {
					t.Errorf("x-amz-sns-message-id %q, envelope MessageId %q", h, m["MessageId"])
				}
			}
			t.Logf("%s: %d events, %d webhook POSTs, %d SNS notifications", backend, len(stored), len(hook.requests()), len(sub.notifications()))
		})
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestNotifyIdentityTopic: an identity with a Bounce topic
// (identity.Service.SetNotificationTopic, or the SES v1 API's
// SetIdentityNotificationTopic through aws-sdk-go-v2 service/ses) → the
// subscriber gets SES's older notification format (notificationType, mail
// without tags), and the usual consumer code — parse Message, read
// bounce.bouncedRecipients — works unchanged.
func TestNotifyIdentityTopic(t *testing.T) {
	type run struct{ backend, via string }
	var runs []run
	for _, backend := range store.Backends() {
		runs = append(runs, run{backend, "service"}, run{backend, "v1"})
	}
	for _, r := range runs {
		backend, via := r.backend, r.via
		t.Run(backend+"/"+via, func(t *testing.T) {
			e, snsCli := startNotify(t, backend)
			ctx := t.Context()
			// The identity's settings, made through the identity service
			// or through the v1 API.
			k := e.d.Credentials
			v1 := awsses.New(awsses.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
				Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
			setTopic := func(kind, topic string) error {
				if via == "v1" {
					_, err := v1.SetIdentityNotificationTopic(ctx, &awsses.SetIdentityNotificationTopicInput{Identity: aws.String("example.com"),
						NotificationType: awssestypes.NotificationType(kind), SnsTopic: aws.String(topic)})
					return err
				}
				return e.d.Services().Identities.SetNotificationTopic(ctx, "default", "example.com", kind, topic)
			}
			setHeaders := func(kind string, on bool) error {
				if via == "v1" {
					_, err := v1.SetIdentityHeadersInNotificationsEnabled(ctx, &awsses.SetIdentityHeadersInNotificationsEnabledInput{
						Identity: aws.String("example.com"), NotificationType: awssestypes.NotificationType(kind), Enabled: on})
					return err
				}
				return e.d.Services().Identities.SetHeadersInNotifications(ctx, "default", "example.com", kind, on)
			}
			mx := e.mx("one.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
			}
			e.mx("example.com", "127.0.0.4", 10)
			sub := startSNSSubscriber(t)
			topic := subscribe(t, snsCli, sub, "bounces", map[string]string{"SignatureVersion": "2"})
			if err := setTopic("Bounce", topic); err != nil {
				t.Fatal(err)
			}
			out, err := e.ses.SendEmail(ctx, simple("sender@example.com", "gone@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*out.MessageId, 20*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			pollUntil(t, 20*time.Second, "the bounce notification", func() bool { return len(sub.notifications()) >= 1 })
			n := sub.notifications()
			if len(n) != 1 {
				t.Fatalf("%d notifications, want 1 (the bounce)", len(n))
			}
			env := verifySNSSignature(t, n[0].body)

			// A consumer written the usual way.
			var msg struct {
				NotificationType string `json:"notificationType"`
				Bounce           struct {
					BounceType        string `json:"bounceType"`
					BouncedRecipients []struct {
						EmailAddress   string `json:"emailAddress"`
						Status         string `json:"status"`
						DiagnosticCode string `json:"diagnosticCode"`
					} `json:"bouncedRecipients"`
				} `json:"bounce"`
				Mail struct {
					MessageID   string   `json:"messageId"`
					Source      string   `json:"source"`
					Destination []string `json:"destination"`
				} `json:"mail"`
			}
			if err := json.Unmarshal([]byte(env["Message"]), &msg); err != nil {
				t.Fatal(err)
			}
			if msg.NotificationType != "Bounce" || msg.Bounce.BounceType != "Permanent" || len(msg.Bounce.BouncedRecipients) != 1 ||
				msg.Bounce.BouncedRecipients[0].EmailAddress != "gone@one.test" || msg.Bounce.BouncedRecipients[0].Status != "5.1.1" ||
				msg.Mail.MessageID != *out.MessageId || msg.Mail.Source != "sender@example.com" || !slices.Equal(msg.Mail.Destination, []string{"gone@one.test"}) {
				t.Errorf("notification as a consumer reads it: %+v\n%s", msg, env["Message"])
			}
			var top map[string]json.RawMessage
			json.Unmarshal([]byte(env["Message"]), &top)
			var mailObj map[string]json.RawMessage
			json.Unmarshal(top["mail"], &mailObj)
			if top["eventType"] != nil || mailObj["tags"] != nil || mailObj["headers"] != nil {
				t.Errorf("older format has eventType, tags or headers: %s", env["Message"])
			}
			if n[0].header.Get("x-amz-sns-topic-arn") != topic || env["TopicArn"] != topic || env["SignatureVersion"] != "2" {
				t.Errorf("envelope %s", n[0].body)
			}

			// HeadersInNotificationsEnabled for Bounce: the next bounce's
			// mail object carries the original headers.
			if err := setHeaders("Bounce", true); err != nil {
				t.Fatal(err)
			}
			out2, err := e.ses.SendEmail(ctx, simple("sender@example.com", "gone2@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*out2.MessageId, 20*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			pollUntil(t, 20*time.Second, "the second bounce notification", func() bool { return len(sub.notifications()) >= 2 })
			env2 := verifySNSSignature(t, sub.notifications()[1].body)
			var withHeaders struct {
				NotificationType string `json:"notificationType"`
				Mail             struct {
					MessageID     string `json:"messageId"`
					Headers       []struct{ Name, Value string }
					CommonHeaders struct {
						Subject string `json:"subject"`
					} `json:"commonHeaders"`
					Tags map[string][]string `json:"tags"`
				} `json:"mail"`
			}
			if err := json.Unmarshal([]byte(env2["Message"]), &withHeaders); err != nil {
				t.Fatal(err)
			}
			if withHeaders.NotificationType != "Bounce" || withHeaders.Mail.MessageID != *out2.MessageId || len(withHeaders.Mail.Headers) == 0 ||
				withHeaders.Mail.CommonHeaders.Subject != "Hello from Petrel" || withHeaders.Mail.Tags != nil {
				t.Errorf("bounce notification with headers on: %s", env2["Message"])
			}
		})
	}
}

// TestNotifyFeedbackEmail: a message from an identity with no topics and
// no event destinations bounces (550 5.1.1) → a bounce report (RFC 3464
// DSN) reaches the sender's mailbox at the sender domain's MX, sent with
// the null reverse-path (MAIL FROM <>).
func TestNotifyFeedbackEmail(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e, _ := startNotify(t, backend)
			ctx := t.Context()
			mx := e.mx("one.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
			}
			if _, err := e.d.Services().Identities.Create(ctx, "default", "plain.test", true); err != nil {
				t.Fatal(err)
			}
			home := e.mx("plain.test", "127.0.0.4", 10)
			out, err := e.ses.SendEmail(ctx, simple("Sender <sender@plain.test>", "nobody@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*out.MessageId, 20*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			pollUntil(t, 20*time.Second, "the feedback email at the sender's MX", func() bool { return len(home.Messages()) >= 1 })
			got := home.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages at the sender's MX, want 1", len(got))
			}
			checkFeedbackDSN(t, got[0], "sender@plain.test", "nobody@one.test", *out.MessageId)
		})
	}
}

func checkFeedbackDSN(t *testing.T, m mxtest.Message, sender, rcpt, messageID string) {
	t.Helper()
	if m.From != "" || !slices.Equal(m.To, []string{sender}) {
		t.Errorf("feedback envelope MAIL FROM <%s> RCPT %v, want <> and %s", m.From, m.To, sender)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil || !strings.HasPrefix(strings.ToLower(from.Address), "mailer-daemon@") {
		t.Errorf("From %q", msg.Header.Get("From"))
	}
	body := string(m.Data)
	for _, s := range []string{"message/delivery-status", "text/rfc822-headers", "Final-Recipient: rfc822; " + rcpt, "Status: 5.1.1", "Action: failed", messageID} {
		if !strings.Contains(body, s) {
			t.Errorf("feedback email lacks %q:\n%s", s, body)
		}
	}
}
