package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/template"
)

// v1SendAPI is an API whose account "acme" (verified domain acme.example)
// has the template "Welcome" and the configuration set "cs", with its
// v1 client.
type v1SendAPI struct {
	srv *httptest.Server
	s   *Server
	ses *ses.Client
	ten tenant
}

func startV1Send(t *testing.T, backend string) v1SendAPI {
	t.Helper()
	srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme")
	ctx := t.Context()
	s.Templates = template.New(db)
	s.Sender.Templates = s.Templates
	if err := s.Templates.Create(ctx, "acme", template.Template{Name: "Welcome", Content: template.Content{
		Subject: "Hi {{name}}", Text: "Dear {{name}}, welcome.", HTML: "<p>Dear {{name}}</p>"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "acme", Name: "cs", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	return v1SendAPI{srv, s, v1Client(srv.URL, tenants["acme"]), tenants["acme"]}
}

// mailTag is the first value of tag name in message id's mail object.
func mailTag(t *testing.T, s *Server, id, name string) string {
	t.Helper()
	if v := mailOf(t, s, id).Tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// TestV1SendingActions: SendEmail, SendRawEmail, SendTemplatedEmail and
// SendBulkTemplatedEmail through aws-sdk-go-v2's ses client — each answers
// its MessageId (or statuses), stores the message with v1's parameters
// mapped (mail.source as given, destinations, Reply-To, tags, the
// configuration set) and the action's name as ses:operation.
func TestV1SendingActions(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := startV1Send(t, backend)
			ctx := t.Context()
			s := api.s
			body := func(id string) string {
				t.Helper()
				b, err := s.Spool.Body(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}

			out, err := api.ses.SendEmail(ctx, &ses.SendEmailInput{
				Source: aws.String("Acme News <news@acme.example>"),
				Destination: &types.Destination{ToAddresses: []string{"jo@acme.example"}, CcAddresses: []string{"cc@acme.example"},
					BccAddresses: []string{"bcc@acme.example"}},
				Message: &types.Message{Subject: &types.Content{Data: aws.String("Grüße"), Charset: aws.String("UTF-8")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("plain text")}, Html: &types.Content{Data: aws.String("<b>html</b>")}}},
				ReplyToAddresses:     []string{"reply@acme.example"},
				ReturnPath:           aws.String("bounces@acme.example"),
				Tags:                 []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}},
				ConfigurationSetName: aws.String("cs"),
			})
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(out.MessageId)
			m := mailOf(t, s, id)
			if m.Source != "Acme News <news@acme.example>" || len(m.Destination) != 3 || mailTag(t, s, id, "campaign") != "spring" ||
				mailTag(t, s, id, "ses:operation") != "SendEmail" || mailTag(t, s, id, "ses:configuration-set") != "cs" ||
				m.CommonHeaders.Subject != "Grüße" {
				t.Errorf("SendEmail: mail object %+v", m)
			}
			if b := body(id); !strings.Contains(b, "Reply-To: reply@acme.example") || !strings.Contains(b, "plain text") ||
				!strings.Contains(b, "<b>html</b>") || strings.Contains(b, "bcc@") {
				t.Errorf("SendEmail: stored message\n%s", b)
			}

			// SendRawEmail: Source and Destinations as given; without them
			// the From header and To/Cc/Bcc header fields; X-SES-* fields
			// apply and are removed; a message over several base64 chunks.
			big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n", 200)
			raw := "From: Raw <raw@acme.example>\r\nTo: jo@acme.example\r\nBcc: hidden@acme.example\r\nSubject: raw\r\n" +
				"X-SES-CONFIGURATION-SET: cs\r\nX-SES-MESSAGE-TAGS: tier=gold\r\n\r\n" + big
			rout, err := api.ses.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &types.RawMessage{Data: []byte(raw)}})
			if err != nil {
				t.Fatal(err)
			}
			id = aws.ToString(rout.MessageId)
			m = mailOf(t, s, id)
			if len(m.Destination) != 2 || m.Source != "raw@acme.example" || mailTag(t, s, id, "tier") != "gold" ||
				mailTag(t, s, id, "ses:configuration-set") != "cs" || mailTag(t, s, id, "ses:operation") != "SendRawEmail" {
				t.Errorf("SendRawEmail from headers: mail object %+v", m)
			}
			if b := body(id); !strings.HasSuffix(b, big) || strings.Contains(b, "X-SES-") || strings.Contains(b, "hidden@") {
				t.Errorf("SendRawEmail: stored message lost or kept something:\n%.400s", b)
			}
			rout, err = api.ses.SendRawEmail(ctx, &ses.SendRawEmailInput{Source: aws.String("bounce@acme.example"),
				Destinations: []string{"other@acme.example"}, RawMessage: &types.RawMessage{Data: []byte(raw)},
				Tags: []types.MessageTag{{Name: aws.String("api"), Value: aws.String("yes")}}, ConfigurationSetName: aws.String("cs")})
			if err != nil {
				t.Fatal(err)
			}
			id = aws.ToString(rout.MessageId)
			if m = mailOf(t, s, id); len(m.Destination) != 1 || m.Destination[0] != "other@acme.example" || m.Source != "bounce@acme.example" ||
				mailTag(t, s, id, "api") != "yes" || mailTag(t, s, id, "tier") != "" {
				t.Errorf("SendRawEmail with Source, Destinations, Tags: mail object %+v", m)
			}
			// A hand-made request whose base64 has line breaks (older
			// clients) decodes as well.
			enc := base64.StdEncoding.EncodeToString([]byte(raw))
			var wrapped strings.Builder
			for i := 0; i < len(enc); i += 76 {
				wrapped.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
			}
			status, b := v1Post(t, api.srv, api.ten, "ses", url.Values{"Action": {"SendRawEmail"}, "Version": {V1Version},
				"RawMessage.Data": {wrapped.String()}})
			if status != 200 || !bytes.Contains(b, []byte("<SendRawEmailResult><MessageId>")) {
				t.Errorf("SendRawEmail with wrapped base64: %d %s", status, b)
			}

			tout, err := api.ses.SendTemplatedEmail(ctx, &ses.SendTemplatedEmailInput{Source: aws.String("news@acme.example"),
				Destination: &types.Destination{ToAddresses: []string{"jo@acme.example"}}, Template: aws.String("Welcome"),
				TemplateData: aws.String(`{"name":"Jo"}`), Tags: []types.MessageTag{{Name: aws.String("t"), Value: aws.String("1")}}})
			if err != nil {
				t.Fatal(err)
			}
			id = aws.ToString(tout.MessageId)
			if m = mailOf(t, s, id); m.CommonHeaders.Subject != "Hi Jo" || mailTag(t, s, id, "ses:operation") != "SendTemplatedEmail" ||
				mailTag(t, s, id, "t") != "1" {
				t.Errorf("SendTemplatedEmail: mail object %+v", m)
			}
			if k := kinds(t, s, id); k != "Send" {
				t.Errorf("SendTemplatedEmail: events %s", k)
			}

			bout, err := api.ses.SendBulkTemplatedEmail(ctx, &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@acme.example"),
				Template: aws.String("Welcome"), DefaultTemplateData: aws.String(`{"name":"all"}`),
				DefaultTags: []types.MessageTag{{Name: aws.String("d"), Value: aws.String("x")}},
				Destinations: []types.BulkEmailDestination{
					{Destination: &types.Destination{ToAddresses: []string{"a@acme.example"}}, ReplacementTemplateData: aws.String(`{"name":"Ann"}`),
						ReplacementTags: []types.MessageTag{{Name: aws.String("d"), Value: aws.String("y")}}},
					{Destination: &types.Destination{ToAddresses: []string{"b@acme.example"}}},
					{Destination: &types.Destination{ToAddresses: []string{"c@acme.example"}}, ReplacementTemplateData: aws.String(`[1]`)},
				}})
			if err != nil {
				t.Fatal(err)
			}
			if len(bout.Status) != 3 || bout.Status[0].Status != types.BulkEmailStatusSuccess || bout.Status[1].Status != types.BulkEmailStatusSuccess ||
				bout.Status[2].Status != types.BulkEmailStatusInvalidParameterValue || aws.ToString(bout.Status[2].Error) == "" ||
				bout.Status[2].MessageId != nil {
				t.Fatalf("SendBulkTemplatedEmail: %+v", bout.Status)
			}
			a, b0 := aws.ToString(bout.Status[0].MessageId), aws.ToString(bout.Status[1].MessageId)
			if mailOf(t, s, a).CommonHeaders.Subject != "Hi Ann" || mailOf(t, s, b0).CommonHeaders.Subject != "Hi all" ||
				mailTag(t, s, a, "d") != "y" || mailTag(t, s, b0, "d") != "x" || mailTag(t, s, a, "ses:operation") != "SendBulkTemplatedEmail" {
				t.Errorf("SendBulkTemplatedEmail: mail objects %+v %+v", mailOf(t, s, a), mailOf(t, s, b0))
			}
		})
	}
}

// v1Pauses is reputation enforcement pausing the accounts or sets named
// ("account/" or "account/set").
type v1Pauses map[string]bool

func (p v1Pauses) Paused(_ context.Context, account, set string) (bool, error) {
	return p[account+"/"+set], nil
}

// TestV1SendingErrors: each action's refusals in SES v1's codes and words,
// through the SDK.
func TestV1SendingErrors(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := startV1Send(t, backend)
			ctx := t.Context()
			s := api.s
			dest := &types.Destination{ToAddresses: []string{"jo@acme.example"}}
			msg := &types.Message{Subject: &types.Content{Data: aws.String("s")}, Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}
			sendEmail := func(f func(*ses.SendEmailInput)) error {
				in := &ses.SendEmailInput{Source: aws.String("news@acme.example"), Destination: dest, Message: msg}
				f(in)
				_, err := api.ses.SendEmail(ctx, in)
				return err
			}
			sendRaw := func(raw string, f func(*ses.SendRawEmailInput)) error {
				in := &ses.SendRawEmailInput{RawMessage: &types.RawMessage{Data: []byte(raw)}}
				f(in)
				_, err := api.ses.SendRawEmail(ctx, in)
				return err
			}
			sendTemplated := func(f func(*ses.SendTemplatedEmailInput)) error {
				in := &ses.SendTemplatedEmailInput{Source: aws.String("news@acme.example"), Destination: dest, Template: aws.String("Welcome"),
					TemplateData: aws.String(`{"name":"x"}`)}
				f(in)
				_, err := api.ses.SendTemplatedEmail(ctx, in)
				return err
			}
			sendBulk := func(f func(*ses.SendBulkTemplatedEmailInput)) error {
				in := &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@acme.example"), Template: aws.String("Welcome"),
					DefaultTemplateData: aws.String(`{}`), Destinations: []types.BulkEmailDestination{{Destination: dest}}}
				f(in)
				_, err := api.ses.SendBulkTemplatedEmail(ctx, in)
				return err
			}
			const rawOK = "From: news@acme.example\r\nTo: jo@acme.example\r\nSubject: s\r\n\r\nb\r\n"
			const unverified = "Email address is not verified. The following identities failed the check in region US-EAST-1: news@elsewhere.test"
			cases := []struct {
				name, code, msg string
				err             func() error
			}{
				{"SendEmail unverified Source", "MessageRejected", unverified,
					func() error {
						return sendEmail(func(in *ses.SendEmailInput) { in.Source = aws.String("news@elsewhere.test") })
					}},
				{"SendRawEmail unverified From", "MessageRejected", unverified,
					func() error {
						return sendRaw(strings.Replace(rawOK, "news@acme.example", "news@elsewhere.test", 1), func(*ses.SendRawEmailInput) {})
					}},
				{"SendRawEmail bad From header", "MessageRejected", "Illegal address",
					func() error {
						return sendRaw(strings.Replace(rawOK, "news@acme.example", "not an address", 1), func(*ses.SendRawEmailInput) {})
					}},
				{"SendTemplatedEmail unverified Source", "MessageRejected", unverified,
					func() error {
						return sendTemplated(func(in *ses.SendTemplatedEmailInput) { in.Source = aws.String("news@elsewhere.test") })
					}},
				{"SendBulkTemplatedEmail unverified Source", "MessageRejected", unverified,
					func() error {
						return sendBulk(func(in *ses.SendBulkTemplatedEmailInput) { in.Source = aws.String("news@elsewhere.test") })
					}},
				// ReturnPath (the feedback address) is a sender identity:
				// verified, as Source is.
				{"SendEmail unverified ReturnPath", "MessageRejected", "failed the check in region US-EAST-1: fb@elsewhere.test",
					func() error {
						return sendEmail(func(in *ses.SendEmailInput) { in.ReturnPath = aws.String("fb@elsewhere.test") })
					}},
				{"SendTemplatedEmail unverified ReturnPath", "MessageRejected", "failed the check in region US-EAST-1: fb@elsewhere.test",
					func() error {
						return sendTemplated(func(in *ses.SendTemplatedEmailInput) { in.ReturnPath = aws.String("fb@elsewhere.test") })
					}},
				{"SendBulkTemplatedEmail unverified ReturnPath", "MessageRejected", "failed the check in region US-EAST-1: fb@elsewhere.test",
					func() error {
						return sendBulk(func(in *ses.SendBulkTemplatedEmailInput) { in.ReturnPath = aws.String("fb@elsewhere.test") })
					}},
				{"SendEmail bad ReturnPath", "InvalidParameterValue", "FeedbackForwardingEmailAddress",
					func() error {
						return sendEmail(func(in *ses.SendEmailInput) { in.ReturnPath = aws.String("not an address") })
					}},
				{"SendEmail bad recipient", "InvalidParameterValue", "Destination.ToAddresses[0]",
					func() error {
						return sendEmail(func(in *ses.SendEmailInput) { in.Destination = &types.Destination{ToAddresses: []string{"jo@"}} })
					}},
				{"SendEmail no such set", "ConfigurationSetDoesNotExist", "nope",
					func() error {
						return sendEmail(func(in *ses.SendEmailInput) { in.ConfigurationSetName = aws.String("nope") })
					}},
				{"SendRawEmail no such set", "ConfigurationSetDoesNotExist", "nope",
					func() error {
						return sendRaw(rawOK, func(in *ses.SendRawEmailInput) { in.ConfigurationSetName = aws.String("nope") })
					}},
				{"SendRawEmail no such set in X-SES-CONFIGURATION-SET", "ConfigurationSetDoesNotExist", "nope",
					func() error {
						return sendRaw("X-SES-CONFIGURATION-SET: nope\r\n"+rawOK, func(*ses.SendRawEmailInput) {})
					}},
				{"SendTemplatedEmail no such set", "ConfigurationSetDoesNotExist", "nope",
					func() error {
						return sendTemplated(func(in *ses.SendTemplatedEmailInput) { in.ConfigurationSetName = aws.String("nope") })
					}},
				{"SendBulkTemplatedEmail no such set", "ConfigurationSetDoesNotExist", "nope",
					func() error {
						return sendBulk(func(in *ses.SendBulkTemplatedEmailInput) { in.ConfigurationSetName = aws.String("nope") })
					}},
				{"SendTemplatedEmail no such template", "TemplateDoesNotExist", "nope",
					func() error {
						return sendTemplated(func(in *ses.SendTemplatedEmailInput) { in.Template = aws.String("nope") })
					}},
				{"SendBulkTemplatedEmail no such template", "TemplateDoesNotExist", "nope",
					func() error {
						return sendBulk(func(in *ses.SendBulkTemplatedEmailInput) { in.Template = aws.String("nope") })
					}},
				{"SendRawEmail different FromArn and SourceArn", "InvalidParameterValue", "FromArn and SourceArn",
					func() error {
						return sendRaw(rawOK, func(in *ses.SendRawEmailInput) {
							in.FromArn = aws.String("arn:aws:ses:us-east-1:123456789012:identity/a.example")
							in.SourceArn = aws.String("arn:aws:ses:us-east-1:123456789012:identity/b.example")
						})
					}},
			}
			for _, c := range cases {
				if code, m := v1Code(c.err()); code != c.code || !strings.Contains(m, c.msg) {
					t.Errorf("%s: %s %q, want %s %q", c.name, code, m, c.code, c.msg)
				}
			}

			// Pauses: the configuration set's (by its owner or by
			// enforcement) is ConfigurationSetSendingPausedException, the
			// tenant's own AccountSendingPausedException, enforcement's of
			// the account MessageRejected in SES's words.
			withSet := func(in *ses.SendEmailInput) { in.ConfigurationSetName = aws.String("cs") }
			if err := s.ConfigSets.PutSendingOptions(ctx, "acme", "cs", false); err != nil {
				t.Fatal(err)
			}
			if code, _ := v1Code(sendEmail(withSet)); code != "ConfigurationSetSendingPausedException" {
				t.Errorf("paused set: %v", sendEmail(withSet))
			}
			if code, _ := v1Code(sendBulk(func(in *ses.SendBulkTemplatedEmailInput) { in.ConfigurationSetName = aws.String("cs") })); code != "ConfigurationSetSendingPausedException" {
				t.Errorf("bulk, paused set: %s", code)
			}
			if err := s.ConfigSets.PutSendingOptions(ctx, "acme", "cs", true); err != nil {
				t.Fatal(err)
			}
			pauses := v1Pauses{"acme/cs": true}
			s.Sender.Enforcement = pauses
			if code, _ := v1Code(sendEmail(withSet)); code != "ConfigurationSetSendingPausedException" {
				t.Errorf("set paused by enforcement: %v", sendEmail(withSet))
			}
			pauses["acme/"] = true
			if code, m := v1Code(sendEmail(func(*ses.SendEmailInput) {})); code != "MessageRejected" || !strings.HasPrefix(m, "Sending paused for this account.") {
				t.Errorf("account paused by enforcement: %s %q", code, m)
			}
			s.Sender.Enforcement = nil
			if err := s.Accounts.SetSendingEnabled(ctx, "acme", false); err != nil {
				t.Fatal(err)
			}
			for name, err := range map[string]error{"SendEmail": sendEmail(func(*ses.SendEmailInput) {}),
				"SendRawEmail": sendRaw(rawOK, func(*ses.SendRawEmailInput) {}), "SendTemplatedEmail": sendTemplated(func(*ses.SendTemplatedEmailInput) {}),
				"SendBulkTemplatedEmail": sendBulk(func(*ses.SendBulkTemplatedEmailInput) {})} {
				if code, _ := v1Code(err); code != "AccountSendingPausedException" {
					t.Errorf("%s, account paused: %v", name, err)
				}
			}
			if err := s.Accounts.SetSendingEnabled(ctx, "acme", true); err != nil {
				t.Fatal(err)
			}

			// A custom MAIL FROM domain not verified under REJECT_MESSAGE.
			if err := s.Identities.PutMailFrom(ctx, "acme", "acme.example", "bounce.acme.example", identity.RejectMessage); err != nil {
				t.Fatal(err)
			}
			if code, _ := v1Code(sendEmail(func(*ses.SendEmailInput) {})); code != "MailFromDomainNotVerifiedException" {
				t.Errorf("MAIL FROM not verified: %v", sendEmail(func(*ses.SendEmailInput) {}))
			}
			out, err := api.ses.SendBulkTemplatedEmail(ctx, &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@acme.example"),
				Template: aws.String("Welcome"), DefaultTemplateData: aws.String(`{}`), Destinations: []types.BulkEmailDestination{{Destination: dest}}})
			if code, _ := v1Code(err); code != "MailFromDomainNotVerifiedException" {
				t.Errorf("bulk, MAIL FROM not verified: %+v %v", out, err)
			}
			if err := s.Identities.PutMailFrom(ctx, "acme", "acme.example", "", identity.UseDefaultValue); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestV1SendingThrottled: an account over its sending rate and its daily
// quota gets Throttling in SES v1's words; SendBulkTemplatedEmail's
// destinations past the quota are AccountDailyQuotaExceeded.
func TestV1SendingThrottled(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			var mu sync.Mutex
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			q := quota.New(db, quota.Config{Node: "test", Now: clock})
			s.Sender.Quota, s.Quota = q, q
			s.Templates = template.New(db)
			s.Sender.Templates = s.Templates
			if err := s.Templates.Create(ctx, "acme", template.Template{Name: "T", Content: template.Content{Subject: "s", Text: "t"}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Accounts.SetQuota(ctx, "acme", account.Quota{Max24HourSend: 3, MaxSendRate: 1}); err != nil {
				t.Fatal(err)
			}
			c := v1Client(srv.URL, tenants["acme"])
			send := func() error {
				_, err := c.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String("news@acme.example"),
					Destination: &types.Destination{ToAddresses: []string{"jo@acme.example"}},
					Message:     &types.Message{Subject: &types.Content{Data: aws.String("s")}, Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}})
				return err
			}
			if err := send(); err != nil {
				t.Fatal(err)
			}
			if e := fmtCode(send()); e != "Throttling: Maximum sending rate exceeded." {
				t.Errorf("second message in the second: %q", e)
			}
			advance(time.Second)
			if err := send(); err != nil {
				t.Fatal(err)
			}
			advance(time.Second)
			out, err := c.SendBulkTemplatedEmail(ctx, &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@acme.example"),
				Template: aws.String("T"), DefaultTemplateData: aws.String(`{}`), Destinations: []types.BulkEmailDestination{
					{Destination: &types.Destination{ToAddresses: []string{"a@acme.example"}}},
					{Destination: &types.Destination{ToAddresses: []string{"b@acme.example"}}},
				}})
			if err != nil || len(out.Status) != 2 || out.Status[0].Status != types.BulkEmailStatusSuccess ||
				out.Status[1].Status != types.BulkEmailStatusAccountThrottled && out.Status[1].Status != types.BulkEmailStatusAccountDailyQuotaExceeded {
				t.Fatalf("bulk at the quota: %+v %v", out, err)
			}
			advance(time.Second)
			if err := s.Accounts.SetQuota(ctx, "acme", account.Quota{Max24HourSend: 3, MaxSendRate: 10}); err != nil {
				t.Fatal(err)
			}
			if e := fmtCode(send()); e != "Throttling: Daily message quota exceeded." {
				t.Errorf("over the daily quota: %q", e)
			}
			out, err = c.SendBulkTemplatedEmail(ctx, &ses.SendBulkTemplatedEmailInput{Source: aws.String("news@acme.example"),
				Template: aws.String("T"), DefaultTemplateData: aws.String(`{}`), Destinations: []types.BulkEmailDestination{
					{Destination: &types.Destination{ToAddresses: []string{"a@acme.example"}}}}})
			if err != nil || len(out.Status) != 1 || out.Status[0].Status != types.BulkEmailStatusAccountDailyQuotaExceeded ||
				aws.ToString(out.Status[0].Error) != "Daily message quota exceeded." {
				t.Errorf("bulk over the daily quota: %+v %v", out, err)
			}
		})
	}
}

// TestV1BulkStatusNames: every v2 BulkEmailStatus the SDK knows has its v1
// name, which the v1 SDK knows.
func TestV1BulkStatusNames(t *testing.T) {
	v1 := map[string]bool{}
	for _, v := range types.BulkEmailStatus("").Values() {
		v1[string(v)] = true
	}
	if len(v1BulkStatuses) != len(v1) {
		t.Errorf("%d v1 statuses mapped, the v1 model has %d", len(v1BulkStatuses), len(v1))
	}
	v2s := map[string]bool{}
	for _, v := range sesv2types.BulkEmailStatus("").Values() {
		v2s[string(v)] = true
	}
	for v2, name := range v1BulkStatuses {
		if !v1[name] || !v2s[string(v2)] {
			t.Errorf("%s → %s: not a v2 and a v1 BulkEmailStatus", v2, name)
		}
	}
}

// benchmarkRaw sends a 256 KiB raw message per iteration through the
// server's handler (no network), the request built and signed with the
// timer stopped: what is measured — time, bytes and allocations — is the
// server's cost of one message, from the body's admission to its commit.
func benchmarkRaw(b *testing.B, request func(raw []byte) (path, contentType string, body []byte)) {
	_, s, tenants, _ := startAPIOn(b, "sqlite", 1<<30, "acme")
	h := s.Guard(s.Handler())
	ten := tenants["acme"]
	raw := []byte("From: news@acme.example\r\nTo: jo@acme.example\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 76)+"\r\n", 256<<10/78))
	path, ctype, body := request(raw)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if err := v4.NewSigner().SignHTTP(b.Context(), ten.creds, req, sha256Hex(body), "ses", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkV2SendEmailRaw is v2 SendEmail with Raw content (JSON body).
func BenchmarkV2SendEmailRaw(b *testing.B) {
	benchmarkRaw(b, func(raw []byte) (string, string, []byte) {
		body, _ := json.Marshal(map[string]any{"FromEmailAddress": "news@acme.example",
			"Destination": map[string]any{"ToAddresses": []string{"jo@acme.example"}},
			"Content":     map[string]any{"Raw": map[string]any{"Data": raw}}})
		return "/v2/email/outbound-emails", "application/json", body
	})
}

// BenchmarkV1SendRawEmail is v1 SendRawEmail of the same message (form
// body, as aws-sdk-go-v2's service/ses sends it).
func BenchmarkV1SendRawEmail(b *testing.B) {
	benchmarkRaw(b, func(raw []byte) (string, string, []byte) {
		form := url.Values{"Action": {"SendRawEmail"}, "Version": {V1Version}, "Source": {"news@acme.example"},
			"Destinations.member.1": {"jo@acme.example"}, "RawMessage.Data": {base64.StdEncoding.EncodeToString(raw)}}
		return "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(form.Encode())
	})
}

// TestV1RawMessageData: RawMessage.Data that is missing or not base64 —
// also where a chunk of decodeBase64InPlace ends in padding — is refused
// before anything is sent; base64 over several chunks decodes whole.
func TestV1RawMessageData(t *testing.T) {
	api := startV1Send(t, "sqlite")
	msg := "From: news@acme.example\r\nTo: jo@acme.example\r\nSubject: s\r\n\r\n" + strings.Repeat(strings.Repeat("y", 70)+"\r\n", 130)
	enc := base64.StdEncoding.EncodeToString([]byte(msg))
	padded := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", 3070))) // 4096 characters, the last "="
	for _, c := range []struct {
		name, data, code string
	}{
		{"whole", enc, ""},
		{"missing", "", "ValidationError"},
		{"not base64", "!!!" + enc, "InvalidParameterValue"},
		{"padding inside a chunk", "QQ==" + enc, "InvalidParameterValue"},
		{"padding at a chunk's end", padded + enc, "InvalidParameterValue"},
		{"truncated", enc[:len(enc)-1], "InvalidParameterValue"},
	} {
		status, b := v1Post(t, api.srv, api.ten, "ses", url.Values{"Action": {"SendRawEmail"}, "RawMessage.Data": {c.data}})
		switch {
		case c.code == "" && status != 200:
			t.Errorf("%s: %d %s", c.name, status, b)
		case c.code != "" && (status != 400 || parseV1Error(t, b).Error.Code != c.code):
			t.Errorf("%s: %d %s, want %s", c.name, status, b, c.code)
		}
	}
}
