package api

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// TestMailFromRestart: through aws-sdk-go-v2, a MAIL FROM domain with two
// MX records is FAILED; once DNS is fixed, PutEmailIdentityMailFromAttributes
// with the same domain starts the check again (PENDING, its records due
// now with a new window) and the checker's next pass makes it SUCCESS.
func TestMailFromRestart(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			dns := dnstest.New(t)
			var now time.Time
			c := &identity.Checker{S: s.Identities, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				Now: func() time.Time { return now }, MailFrom: identity.MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}}
			if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
				t.Fatal(err)
			}
			const mf = "bounce.example.com"
			dns.MX(mf, 10, "feedback.petrel.test")
			dns.MX(mf, 20, "backup.example.com")
			dns.TXT(mf, "v=spf1 include:petrel.test ~all")
			put := func() {
				t.Helper()
				if _, err := ses.PutEmailIdentityMailFromAttributes(ctx, &sesv2.PutEmailIdentityMailFromAttributesInput{
					EmailIdentity: aws.String("example.com"), MailFromDomain: aws.String(mf), BehaviorOnMxFailure: types.BehaviorOnMxFailureRejectMessage}); err != nil {
					t.Fatal(err)
				}
			}
			status := func(want types.MailFromDomainStatus) {
				t.Helper()
				g, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.com")})
				if err != nil {
					t.Fatal(err)
				}
				if g.MailFromAttributes.MailFromDomainStatus != want {
					t.Fatalf("MailFromDomainStatus %s, want %s", g.MailFromAttributes.MailFromDomainStatus, want)
				}
			}
			check := func() {
				t.Helper()
				now = time.Now().Add(time.Second)
				if _, err := c.CheckDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			put()
			// The records are known at once (StartVerification), due now.
			if r, err := s.Identities.RecordStatus(ctx, "acme", "example.com", identity.PurposeMailFromMX, mf); err != nil || r.Status != identity.StatusPending {
				t.Fatalf("MX record after the put: %+v, %v", r, err)
			}
			check()
			status(types.MailFromDomainStatusFailed)
			failed, _ := s.Identities.RecordStatus(ctx, "acme", "example.com", identity.PurposeMailFromMX, mf)

			dns.Remove(mf)
			dns.MX(mf, 10, "feedback.petrel.test")
			dns.TXT(mf, "v=spf1 include:petrel.test ~all")
			put()
			status(types.MailFromDomainStatusPending)
			r, err := s.Identities.RecordStatus(ctx, "acme", "example.com", identity.PurposeMailFromMX, mf)
			if err != nil || r.Status != identity.StatusPending || !r.Started.After(failed.Started) || r.NextCheck.After(time.Now()) {
				t.Fatalf("MX record after putting the domain again: %+v, %v", r, err)
			}
			check()
			status(types.MailFromDomainStatusSuccess)
		})
	}
}
