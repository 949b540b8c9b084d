package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

func simple(from string, to ...string) *sesv2.SendEmailInput {
	return &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: to},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String("Hello from Petrel")},
			Body:    &types.Body{Text: &types.Content{Data: aws.String("Hi there.\n.\nA line with a lone dot above.")}},
		}},
		EmailTags: []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
	}
}

func TestSimpleAcrossDomains(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx1 := e.mx("one.test", "127.0.0.3", 10)
			mx2 := mxtest.StartTLS(t, "127.0.0.4", e.port) // offers STARTTLS
			e.dns.MX("two.test", 10, "mx-two.test")
			e.dns.A("mx-two.test", "127.0.0.4")
			out, err := e.ses.SendEmail(t.Context(), simple("Sender <sender@example.com>", "a@one.test", "b@one.test", "c@two.test"))
			if err != nil {
				t.Fatal(err)
			}
			id := *out.MessageId
			evs := e.events(id, 10*time.Second, finalCount(3))
			if count(evs, event.Send) != 1 || count(evs, event.Delivery) != 3 || len(evs) != 4 {
				t.Fatalf("events = %v, want Send + 3 Delivery", kinds(evs))
			}
			d := detail[event.DeliveryDetail](t, *find(evs, event.Delivery, "c@two.test"))
			if d.SMTPResponse != "250 2.0.0 Ok queued as test" || d.RemoteMtaIP != "127.0.0.4" || d.ReportingMTA != "petrel.test" || d.ProcessingTimeMillis < 0 {
				t.Fatalf("delivery detail = %+v", d)
			}
			var mailObj event.Mail
			json.Unmarshal(evs[0].Mail, &mailObj)
			if mailObj.MessageID != id || len(mailObj.Destination) != 3 || mailObj.Tags["campaign"][0] != "spring" || mailObj.CommonHeaders.Subject != "Hello from Petrel" {
				t.Fatalf("mail object = %+v", mailObj)
			}
			if got := len(mx1.Messages()) + len(mx2.Messages()); got != 3 {
				t.Fatalf("MXes received %d messages, want 3", got)
			}
			m := mx2.Messages()[0]
			if !m.TLS || mx1.Messages()[0].TLS {
				t.Errorf("opportunistic STARTTLS: TLS used = %v where offered, %v where not", m.TLS, mx1.Messages()[0].TLS)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Header.Get("Message-Id") != "<"+id+"@petrel.test>" {
				t.Errorf("Message-ID = %q", msg.Header.Get("Message-Id"))
			}
			if !strings.HasPrefix(m.From, "b-"+id+"-") || !strings.HasSuffix(m.From, "@petrel.test") {
				t.Errorf("return path %q is not this message's VERP address", m.From)
			}
			if !bytes.Contains(m.Data, []byte("\r\n.\r\nA line")) {
				t.Errorf("dot line not transparent end to end:\n%s", m.Data)
			}
			// Connection reuse: a later message to one.test rides a connection
			// already open (workers keep it for IdleTime).
			before := mx1.Connections()
			out2, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", "d@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*out2.MessageId, 10*time.Second, finalCount(1))
			if mx1.Connections() != before {
				t.Errorf("one.test: %d connections after a follow-up message, want %d (reuse)", mx1.Connections(), before)
			}
			// GetMessageInsights through the SDK.
			ins, err := e.ses.GetMessageInsights(t.Context(), &sesv2.GetMessageInsightsInput{MessageId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ins.Insights) != 3 || *ins.Subject != "Hello from Petrel" || len(ins.Insights[0].Events) != 2 ||
				ins.Insights[0].Events[1].Type != types.EventTypeDelivery {
				t.Fatalf("insights = %+v", ins.Insights)
			}
		})
	}
}

func TestRawStripsSESHeadersAndBcc(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			// The header must name one of the account's sets: an unknown one
			// is refused (TestConfigurationSetTLSRequired, and the API and
			// SMTP tests of sending).
			if _, err := e.ses.CreateConfigurationSet(t.Context(), &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs-1")}); err != nil {
				t.Fatal(err)
			}
			raw := "From: sender@example.com\nTo: a@one.test\nBcc: hidden@one.test\nSubject: raw\n" +
				"X-SES-CONFIGURATION-SET: cs-1\nX-SES-MESSAGE-TAGS: tier=gold\nMessage-ID: <mine@client>\n\nbody\n.\nend\n"
			out, err := e.ses.SendEmail(t.Context(), &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}})
			if err != nil {
				t.Fatal(err)
			}
			evs := e.events(*out.MessageId, 10*time.Second, finalCount(2))
			if count(evs, event.Delivery) != 2 {
				t.Fatalf("events %v: To and Bcc should both be delivered", kinds(evs))
			}
			var mo event.Mail
			json.Unmarshal(evs[0].Mail, &mo)
			if mo.Tags["ses:configuration-set"][0] != "cs-1" || mo.Tags["tier"][0] != "gold" || mo.CommonHeaders.MessageID != "<mine@client>" {
				t.Fatalf("mail object: tags %v common %+v", mo.Tags, mo.CommonHeaders)
			}
			for _, m := range mx.Messages() {
				for _, h := range []string{"Bcc:", "X-SES-", "<mine@client>", "\n.\n"} {
					if bytes.Contains(m.Data, []byte(h)) {
						t.Errorf("delivered message contains %q:\n%s", h, m.Data)
					}
				}
				if bytes.Contains(bytes.ReplaceAll(m.Data, []byte("\r\n"), nil), []byte("\n")) {
					t.Errorf("bare LF delivered")
				}
			}
		})
	}
}

func TestSMTPSubmission(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			k := e.d.Credentials
			pass := account.SMTPPassword(k.SecretAccessKey, "us-east-1")
			tlsc := &tls.Config{InsecureSkipVerify: true}

			c, err := smtp.DialStartTLS(e.d.Addr("smtp"), tlsc)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Mail("sender@example.com", nil); err == nil || !strings.Contains(err.Error(), "530") {
				t.Fatalf("MAIL before AUTH: %v, want 530", err)
			}
			if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, "wrong")); err == nil || !strings.Contains(err.Error(), "535") {
				t.Fatalf("bad password: %v, want 535", err)
			}
			if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, pass)); err != nil {
				t.Fatal(err)
			}
			send := func(from, to, data string) (string, error) {
				if err := c.Mail(from, nil); err != nil {
					return "", err
				}
				if err := c.Rcpt(to, nil); err != nil {
					return "", err
				}
				w, err := c.Data()
				if err != nil {
					return "", err
				}
				w.Write([]byte(data))
				resp, err := w.CloseWithResponse()
				if err != nil {
					return "", err
				}
				return resp.StatusText, nil
			}
			status, err := send("sender@example.com", "a@one.test",
				"From: sender@example.com\r\nTo: a@one.test\r\nSubject: smtp\r\nX-SES-MESSAGE-TAGS: src=smtp\r\n\r\nhello\r\n")
			if err != nil {
				t.Fatal(err)
			}
			id, ok := strings.CutPrefix(status, "Ok ")
			if !ok || !strings.HasSuffix(id, "-000000") {
				t.Fatalf("final reply %q, want \"Ok <MessageId>\"", status)
			}
			e.events(id, 10*time.Second, finalCount(1))
			if n := len(mx.Messages()); n != 1 {
				t.Fatalf("MX got %d messages", n)
			}
			_, err = send("nobody@unverified.test", "a@one.test", "From: nobody@unverified.test\r\nTo: a@one.test\r\n\r\nx\r\n")
			if err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "Email address is not verified") {
				t.Fatalf("unverified sender: %v", err)
			}
			_, err = send("sender@example.com", "a@one.test", "From: sender@example.com\r\nSubject: a\r\nSubject: b\r\n\r\nx\r\n")
			if err == nil || !strings.Contains(err.Error(), "Duplicate header 'Subject'") {
				t.Fatalf("duplicate header: %v", err)
			}

			// Limits: 50 recipients, 40 MB.
			if err := c.Mail("sender@example.com", nil); err != nil {
				t.Fatal(err)
			}
			for i := range 51 {
				err := c.Rcpt("r"+itoa(i)+"@one.test", nil)
				if i < 50 && err != nil {
					t.Fatalf("RCPT %d: %v", i+1, err)
				}
				if i == 50 && (err == nil || !strings.Contains(err.Error(), "452")) {
					t.Fatalf("51st RCPT: %v, want 452", err)
				}
			}
			c.Reset()
			if err := c.Mail("sender@example.com", &smtp.MailOptions{Size: 50 << 20}); err == nil || !strings.Contains(err.Error(), "552") {
				t.Fatalf("MAIL SIZE=50MB: %v, want 552", err)
			}

			// Implicit TLS with AUTH LOGIN.
			c2, err := smtp.DialTLS(e.d.Addr("smtps"), tlsc)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			if err := c2.Auth(loginClient{k.AccessKeyID, pass}); err != nil {
				t.Fatalf("AUTH LOGIN: %v", err)
			}
			// AUTH is not offered without TLS.
			c3, err := smtp.Dial(e.d.Addr("smtp"))
			if err != nil {
				t.Fatal(err)
			}
			defer c3.Close()
			if err := c3.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c3.Extension("AUTH"); ok {
				t.Fatal("AUTH advertised before STARTTLS")
			}
		})
	}
}

// loginClient is the client side of AUTH LOGIN.
type loginClient struct{ user, pass string }

func (l loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }
func (l loginClient) Next(challenge []byte) ([]byte, error) {
	if strings.Contains(strings.ToLower(string(challenge)), "user") {
		return []byte(l.user), nil
	}
	return []byte(l.pass), nil
}

func TestDeliveryOutcomes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.MaxDeliveryTime = config.Duration(1500 * time.Millisecond) })
			mx := e.mx("one.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				switch {
				case strings.HasPrefix(rcpt, "unknown@"):
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				case strings.HasPrefix(rcpt, "busy@") && attempt == 1:
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
				case strings.HasPrefix(rcpt, "full@"):
					return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
				}
				return nil
			}
			// MX fallback: the preferred MX refuses connections.
			e.dns.MX("fallback.test", 5, "dead.test")
			e.dns.A("dead.test", "127.0.0.9")
			fb := e.mx("fallback.test", "127.0.0.5", 20)
			// No MX at all: the domain's own A record is used.
			implicit := mxtestAt(e, "127.0.0.6")
			e.dns.A("implicit.test", "127.0.0.6")
			e.dns.NullMX("nullmx.test")
			// Only refused connections.
			e.dns.MX("refused.test", 10, "dead.test")

			send := func(to string) string {
				out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", to))
				if err != nil {
					t.Fatal(err)
				}
				return *out.MessageId
			}
			cases := []struct {
				to    string
				check func(evs []event.Event)
			}{
				{"unknown@one.test", func(evs []event.Event) {
					b := detail[event.BounceDetail](t, *find(evs, event.Bounce, ""))
					if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || b.BouncedRecipients[0].Status != "5.1.1" ||
						b.BouncedRecipients[0].DiagnosticCode != "smtp; 550 5.1.1 User unknown" || b.RemoteMtaIP != "127.0.0.3" {
						t.Errorf("5xx bounce = %+v", b)
					}
					if count(evs, event.DeliveryDelay) != 0 || mx.Attempts("unknown@one.test") != 1 {
						t.Errorf("5xx was retried: %v, %d attempts", kinds(evs), mx.Attempts("unknown@one.test"))
					}
				}},
				{"busy@one.test", func(evs []event.Event) {
					if got := kinds(evs); len(got) != 3 || got[1] != event.DeliveryDelay || got[2] != event.Delivery {
						t.Errorf("4xx then 250: events %v", got)
					}
					dd := detail[event.DeliveryDelayDetail](t, *find(evs, event.DeliveryDelay, ""))
					if dd.DelayType != "RecipientServerError" || dd.DelayedRecipients[0].Status != "4.3.0" || dd.ExpirationTime == "" {
						t.Errorf("delay detail = %+v", dd)
					}
				}},
				{"x@fallback.test", func(evs []event.Event) {
					if count(evs, event.Delivery) != 1 || count(evs, event.DeliveryDelay) != 0 || len(fb.Messages()) != 1 {
						t.Errorf("MX fallback: events %v", kinds(evs))
					}
				}},
				{"x@implicit.test", func(evs []event.Event) {
					if count(evs, event.Delivery) != 1 || len(implicit.Messages()) != 1 {
						t.Errorf("implicit MX: events %v", kinds(evs))
					}
				}},
				{"x@nullmx.test", func(evs []event.Event) {
					b := detail[event.BounceDetail](t, *find(evs, event.Bounce, ""))
					if b.BounceType != "Permanent" || b.BouncedRecipients[0].Status != "5.1.10" || count(evs, event.DeliveryDelay) != 0 {
						t.Errorf("null MX: %v %+v", kinds(evs), b)
					}
				}},
				{"x@refused.test", func(evs []event.Event) {
					b := detail[event.BounceDetail](t, *find(evs, event.Bounce, ""))
					dd := detail[event.DeliveryDelayDetail](t, *find(evs, event.DeliveryDelay, ""))
					if b.BounceType != "Transient" || count(evs, event.DeliveryDelay) < 2 || dd.DelayType != "TransientCommunicationFailure" {
						t.Errorf("refused until deadline: %v %+v %+v", kinds(evs), b, dd)
					}
				}},
				{"full@one.test", func(evs []event.Event) {
					b := detail[event.BounceDetail](t, *find(evs, event.Bounce, ""))
					if b.BounceType != "Transient" || b.BounceSubType != "MailboxFull" || count(evs, event.DeliveryDelay) < 2 {
						t.Errorf("4xx until deadline: %v %+v", kinds(evs), b)
					}
				}},
				{"x@nxdomain.test", func(evs []event.Event) {
					b := detail[event.BounceDetail](t, *find(evs, event.Bounce, ""))
					if b.BounceType != "Transient" || count(evs, event.DeliveryDelay) < 1 {
						t.Errorf("NXDOMAIN is retried like SES does: %v %+v", kinds(evs), b)
					}
				}},
			}
			ids := make([]string, len(cases))
			for i, c := range cases {
				ids[i] = send(c.to)
			}
			for i, c := range cases {
				t.Run(c.to, func(t *testing.T) { c.check(e.events(ids[i], 15*time.Second, finalCount(1))) })
			}
		})
	}
}

func mxtestAt(e *env, ip string) *mxtest.Server { return mxtest.Start(e.t, ip, e.port) }

func TestSimulator(t *testing.T) {
	e := start(t, "sqlite", nil)
	cases := map[string][]event.Kind{
		"success@simulator.amazonses.com":         {event.Send, event.Delivery},
		"success+u42@simulator.amazonses.com":     {event.Send, event.Delivery},
		"bounce+label1@simulator.amazonses.com":   {event.Send, event.Bounce},
		"ooto@simulator.amazonses.com":            {event.Send, event.Delivery, event.Bounce},
		"complaint@simulator.amazonses.com":       {event.Send, event.Delivery, event.Complaint},
		"suppressionlist@simulator.amazonses.com": {event.Send, event.Bounce},
	}
	for to, want := range cases {
		out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", to))
		if err != nil {
			t.Fatal(err)
		}
		evs := e.events(*out.MessageId, 5*time.Second, func(evs []event.Event) bool { return len(evs) >= len(want) })
		got := kinds(evs)
		if len(got) != len(want) {
			t.Errorf("%s: events %v, want %v", to, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: events %v, want %v", to, got, want)
			}
		}
		switch {
		case strings.HasPrefix(to, "suppressionlist"):
			if b := detail[event.BounceDetail](t, evs[1]); b.BounceType != "Permanent" || b.BounceSubType != "Suppressed" {
				t.Errorf("suppressionlist bounce = %+v", b)
			}
		case strings.HasPrefix(to, "bounce"):
			b := detail[event.BounceDetail](t, evs[1])
			if b.BounceType != "Permanent" || b.BounceSubType != "General" || b.BouncedRecipients[0].DiagnosticCode != "smtp; 550 5.1.1 user unknown" {
				t.Errorf("bounce = %+v", b)
			}
		case strings.HasPrefix(to, "ooto"):
			if b := detail[event.BounceDetail](t, evs[2]); b.BounceType != "Transient" || b.BounceSubType != "General" {
				t.Errorf("ooto bounce = %+v", b)
			}
		case strings.HasPrefix(to, "complaint"):
			if c := detail[event.ComplaintDetail](t, evs[2]); c.ComplaintFeedbackType != "abuse" || c.ComplainedRecipients[0].EmailAddress != to {
				t.Errorf("complaint = %+v", c)
			}
		}
	}
}
