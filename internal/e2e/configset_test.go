package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

// TestConfigurationSetTLSRequired: a message sent with a configuration set
// whose TlsPolicy is REQUIRE (MaxDeliverySeconds 300, SES's least) is
// delivered over STARTTLS to the recipient whose MX offers it, and never
// to the one whose MX does not: that recipient gets DeliveryDelay events
// (421 4.7.4) whose expirationTime is 300 s after acceptance, no
// transaction reaches its MX, and when the deadline passes it bounces
// Transient with SES's expiry diagnostic. The five minutes are not waited
// for: once the delays are seen, the entry's deadline is moved near in the
// store, as if they had passed.
func TestConfigurationSetTLSRequired(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			plainMX := e.mx("plain.test", "127.0.0.3", 10) // no STARTTLS
			tlsMX := mxtest.StartTLS(t, "127.0.0.4", e.port)
			e.dns.MX("secure.test", 10, "mx-secure.test")
			e.dns.A("mx-secure.test", "127.0.0.4")
			_, err := e.ses.CreateConfigurationSet(t.Context(), &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("tls-only"),
				DeliveryOptions: &types.DeliveryOptions{TlsPolicy: types.TlsPolicyRequire, MaxDeliverySeconds: aws.Int64(300)}})
			if err != nil {
				t.Fatal(err)
			}
			in := simple("sender@example.com", "a@plain.test", "b@secure.test")
			in.ConfigurationSetName = aws.String("tls-only")
			out, err := e.ses.SendEmail(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			id := *out.MessageId
			evs := e.events(id, 10*time.Second, func(evs []event.Event) bool {
				return find(evs, event.Delivery, "b@secure.test") != nil && count(evs, event.DeliveryDelay) >= 2
			})
			if m := tlsMX.Messages(); len(m) != 1 || !m[0].TLS {
				t.Fatalf("STARTTLS MX received %+v, want one message over TLS", m)
			}
			var mail event.Mail
			if err := json.Unmarshal(evs[0].Mail, &mail); err != nil {
				t.Fatal(err)
			}
			if got := mail.Tags["ses:configuration-set"]; len(got) != 1 || got[0] != "tls-only" {
				t.Errorf("tag ses:configuration-set %q, want [tls-only]", got)
			}
			accepted, err := time.Parse(event.TimeFormat, mail.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			d := detail[event.DeliveryDelayDetail](t, *find(evs, event.DeliveryDelay, "a@plain.test"))
			r := d.DelayedRecipients[0]
			if r.Status != "4.7.4" || !strings.Contains(r.DiagnosticCode, "421 4.7.4 TLS is required by the configuration set, but host 127.0.0.3 did not offer STARTTLS") {
				t.Errorf("delayed recipient %+v, want 4.7.4 TLS is required", r)
			}
			if exp, err := time.Parse(event.TimeFormat, d.ExpirationTime); err != nil || exp.Sub(accepted) != 300*time.Second {
				t.Errorf("expirationTime %s (%v), want 300 s after acceptance at %s", d.ExpirationTime, err, mail.Timestamp)
			}

			db := e.d.Services().DB
			if _, err := db.ExecContext(t.Context(), db.Rebind("UPDATE queue SET deadline_ms = ? WHERE message_id = ?"),
				time.Now().Add(300*time.Millisecond).UnixMilli(), id); err != nil {
				t.Fatal(err)
			}
			evs = e.events(id, 10*time.Second, finalCount(2))
			b := detail[event.BounceDetail](t, *find(evs, event.Bounce, "a@plain.test"))
			br := b.BouncedRecipients[0]
			if b.BounceType != bounce.Transient || br.Status != "4.4.7" || !strings.Contains(br.DiagnosticCode, "Message expired") ||
				!strings.Contains(br.DiagnosticCode, "<421 4.7.4 TLS is required by the configuration set") {
				t.Errorf("bounce %s %+v, want Transient 4.4.7 expiry after 421 4.7.4", b.BounceType, br)
			}
			if cmds := plainMX.Commands(); len(cmds) != 0 {
				t.Errorf("MX without STARTTLS received %q, want no transaction", cmds)
			}
			if n := len(plainMX.Messages()); n != 0 {
				t.Errorf("MX without STARTTLS received %d messages, want none", n)
			}
		})
	}
}
