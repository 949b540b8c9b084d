package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCustomMailFrom drives custom MAIL FROM end to end (issue 16): bad
// input through the SDK; REJECT_MESSAGE refuses sends, over the API
// (MailFromDomainNotVerifiedException) and SMTP (554 5.7.1), while the MX
// record is absent; USE_DEFAULT_VALUE falls back to the return-path
// domain; once the MX and SPF records are published and checked (real DNS
// messages, the verification engine) the status is SUCCESS, the delivered
// message's envelope sender is a VERP address at the subdomain, and a DSN
// sent there through the inbound receiver becomes the message's Bounce.
func TestCustomMailFrom(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil) // hostname, so return-path domain, petrel.test
			mx := e.mx("far.test", "127.0.0.3", 10)
			ctx := t.Context()
			checker := &identity.Checker{S: e.d.Services().Identities, DNS: &resolver.Resolver{Server: e.dns.Addr, Timeout: time.Second},
				MailFrom: identity.MailFromExpect{MXHost: "petrel.test", SPFInclude: "petrel.test"}}
			put := func(name, domain string, behavior types.BehaviorOnMxFailure) error {
				in := &sesv2.PutEmailIdentityMailFromAttributesInput{EmailIdentity: aws.String(name), BehaviorOnMxFailure: behavior}
				if domain != "" {
					in.MailFromDomain = aws.String(domain)
				}
				_, err := e.ses.PutEmailIdentityMailFromAttributes(ctx, in)
				return err
			}
			attrs := func() types.MailFromAttributes {
				t.Helper()
				out, err := e.ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.com")})
				if err != nil {
					t.Fatal(err)
				}
				return *out.MailFromAttributes
			}

			// Another account's identity is not found either.
			if _, err := e.d.Services().Accounts.Create(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.d.Services().Identities.Create(ctx, "other", "other.test", true); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name, identity, domain string
				behavior               types.BehaviorOnMxFailure
				code, message          string
			}{
				{"the domain itself", "example.com", "example.com", "", "BadRequestException", "subdomain of example.com"},
				{"not a subdomain", "example.com", "bounce.other.test", "", "BadRequestException", "not a subdomain"},
				{"bad name", "example.com", "bad_label.example.com", "", "BadRequestException", "not a valid domain"},
				{"bad behaviour", "example.com", "bounce.example.com", "SOMETIMES", "BadRequestException", "BehaviorOnMxFailure"},
				{"unknown identity", "nope.test", "bounce.nope.test", "", "NotFoundException", "nope.test"},
				{"another account's identity", "other.test", "bounce.other.test", "", "NotFoundException", "other.test"},
			} {
				err := put(c.identity, c.domain, c.behavior)
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != c.code || !strings.Contains(ae.ErrorMessage(), c.message) {
					t.Errorf("%s: %v; want %s containing %q", c.name, err, c.code, c.message)
				}
			}
			if a := attrs(); a.MailFromDomain != nil || a.BehaviorOnMxFailure != types.BehaviorOnMxFailureUseDefaultValue {
				t.Errorf("after refused changes: %+v", a)
			}

			// REJECT_MESSAGE while the MX record is absent.
			if err := put("example.com", "bounce.example.com", types.BehaviorOnMxFailureRejectMessage); err != nil {
				t.Fatal(err)
			}
			if _, err := checker.CheckDue(ctx); err != nil {
				t.Fatal(err)
			}
			if a := attrs(); aws.ToString(a.MailFromDomain) != "bounce.example.com" || a.MailFromDomainStatus != types.MailFromDomainStatusPending ||
				a.BehaviorOnMxFailure != types.BehaviorOnMxFailureRejectMessage {
				t.Errorf("pending: %+v", a)
			}
			_, err := e.ses.SendEmail(ctx, simple("sender@example.com", "a@far.test"))
			var nv *types.MailFromDomainNotVerifiedException
			if !errors.As(err, &nv) || !strings.Contains(nv.ErrorMessage(), "Mail FROM domain is not verified") {
				t.Errorf("API send under REJECT_MESSAGE: %v, want MailFromDomainNotVerifiedException", err)
			}
			if err := smtpSend(e.smtpClient(t), "a@far.test"); !isReply(err, 554, "5.7.1") || !strings.Contains(err.Error(), "bounce.example.com") {
				t.Errorf("SMTP send under REJECT_MESSAGE: %v, want 554 5.7.1 naming the domain", err)
			}
			if n := len(mx.Messages()); n != 0 {
				t.Fatalf("%d messages delivered while refusing", n)
			}

			// USE_DEFAULT_VALUE: sent, from the default return-path domain.
			if err := put("example.com", "bounce.example.com", types.BehaviorOnMxFailureUseDefaultValue); err != nil {
				t.Fatal(err)
			}
			fallback := sendAndDeliver(t, e, "b@far.test")
			if rp := envelopeOf(mx, "b@far.test"); !strings.HasPrefix(rp, "b-"+fallback+"-") || !strings.HasSuffix(rp, "@petrel.test") {
				t.Errorf("fallback MAIL FROM <%s>, want a VERP address at petrel.test", rp)
			}

			// The records published and checked: SUCCESS, and used.
			e.dns.MX("bounce.example.com", 10, "petrel.test")
			e.dns.TXT("bounce.example.com", "v=spf1 include:petrel.test ~all")
			if _, err := checker.Check(ctx, "default", "example.com"); err != nil {
				t.Fatal(err)
			}
			if a := attrs(); a.MailFromDomainStatus != types.MailFromDomainStatusSuccess {
				t.Fatalf("after publishing: %+v", a)
			}
			if err := put("example.com", "bounce.example.com", types.BehaviorOnMxFailureRejectMessage); err != nil {
				t.Fatal(err)
			}
			id := sendAndDeliver(t, e, "gone@far.test")
			rp := envelopeOf(mx, "gone@far.test")
			if !strings.HasPrefix(rp, "b-"+id+"-") || !strings.HasSuffix(rp, "@bounce.example.com") {
				t.Fatalf("MAIL FROM <%s>, want a VERP address at bounce.example.com", rp)
			}
			var data []byte
			for _, m := range mx.Messages() {
				if m.To[0] == "gone@far.test" {
					data = m.Data
				}
			}
			dsn := buildDSN("gone@far.test", mxMessage{returnPath: rp, data: data}, "failed", "5.1.1", "smtp; 550 5.1.1 user unknown")
			if err := sendInbound(e.d.Addr("inbound"), "", rp, dsn); err != nil {
				t.Fatalf("DSN to %s: %v", rp, err)
			}
			evs := e.events(id, 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			if b := detail[event.BounceDetail](t, *find(evs, event.Bounce, "gone@far.test")); b.BounceType != "Permanent" {
				t.Errorf("bounce %+v", b)
			}
		})
	}
}

// sendAndDeliver sends a message from sender@example.com to rcpt through
// the API and waits for its Delivery; it returns the message ID.
func sendAndDeliver(t *testing.T, e *env, rcpt string) string {
	t.Helper()
	out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", rcpt))
	if err != nil {
		t.Fatal(err)
	}
	e.events(*out.MessageId, 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Delivery) == 1 })
	return *out.MessageId
}

// envelopeOf returns the MAIL FROM the fake MX saw for rcpt.
func envelopeOf(mx *mxtest.Server, rcpt string) string {
	for _, m := range mx.Messages() {
		if m.To[0] == rcpt {
			return m.From
		}
	}
	return ""
}
