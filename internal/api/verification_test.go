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

// TestVerificationThroughSDK (issue 16): through aws-sdk-go-v2, a domain
// created with CreateEmailIdentity starts PENDING (DKIM too) and not
// verified for sending; after the checker finds nothing, GetEmailIdentity
// says why (VerificationInfo.ErrorType, LastCheckedTimestamp, the zone's
// SOARecord); once its DKIM record is published, SUCCESS everywhere
// (ListEmailIdentities and its VERIFICATION_STATUS filter included); a
// SERVFAIL is TEMPORARY_FAILURE / DNS_SERVER_ERROR; with a CNAME zone,
// DkimAttributes.SigningHostedZone names it, and a TXT-style record
// becomes TEMPORARY_FAILURE, still verified for the grace period.
func TestVerificationThroughSDK(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			dns := dnstest.New(t)
			var now time.Time
			c := &identity.Checker{S: s.Identities, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				Now: func() time.Time { return now }}
			dns.SOA("verify.example", "ns1.verify.example", "hostmaster.verify.example", 7)

			created, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("verify.example")})
			if err != nil {
				t.Fatal(err)
			}
			if created.VerifiedForSendingStatus || created.DkimAttributes.Status != types.DkimStatusPending {
				t.Fatalf("created: verified %v, DKIM %s", created.VerifiedForSendingStatus, created.DkimAttributes.Status)
			}
			// The records exist, PENDING and due, from the creation on.
			d, _, err := s.Identities.GetDKIM(ctx, "acme", "verify.example")
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Identities.RecordStatus(ctx, "acme", "verify.example", identity.PurposeDKIM, identity.DKIMRecordName(d.Selector, "verify.example"))
			if err != nil || r.Status != identity.StatusPending || r.NextCheck.After(time.Now()) {
				t.Fatalf("DKIM record after CreateEmailIdentity: %+v, %v", r, err)
			}
			// The checker's clock: a whole second after the records started.
			now = time.Now().Add(time.Second).Truncate(time.Second)
			get := func() *sesv2.GetEmailIdentityOutput {
				t.Helper()
				out, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("verify.example")})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			if g := get(); g.VerificationStatus != types.VerificationStatusPending || g.VerificationInfo != nil {
				t.Fatalf("before any check: %s, %+v", g.VerificationStatus, g.VerificationInfo)
			}

			if _, err := c.CheckDue(ctx); err != nil {
				t.Fatal(err)
			}
			g := get()
			vi := g.VerificationInfo
			if g.VerificationStatus != types.VerificationStatusPending || vi == nil || vi.ErrorType != types.VerificationErrorHostNotFound ||
				vi.LastCheckedTimestamp == nil || !vi.LastCheckedTimestamp.Equal(now) || vi.LastSuccessTimestamp != nil ||
				vi.SOARecord == nil || aws.ToString(vi.SOARecord.PrimaryNameServer) != "ns1.verify.example" ||
				aws.ToString(vi.SOARecord.AdminEmail) != "hostmaster.verify.example" || vi.SOARecord.SerialNumber != 7 {
				t.Fatalf("after a check: %s %+v", g.VerificationStatus, vi)
			}

			dns.TXT(identity.DKIMRecordName(d.Selector, "verify.example"), d.Record)
			now = now.Add(5 * time.Minute)
			if _, err := c.CheckDue(ctx); err != nil {
				t.Fatal(err)
			}
			g = get()
			vi = g.VerificationInfo
			if g.VerificationStatus != types.VerificationStatusSuccess || !g.VerifiedForSendingStatus || g.DkimAttributes.Status != types.DkimStatusSuccess ||
				vi.ErrorType != "" || vi.LastSuccessTimestamp == nil || !vi.LastSuccessTimestamp.Equal(now) || g.DkimAttributes.SigningHostedZone != nil {
				t.Fatalf("published: %s verified %v DKIM %s %+v", g.VerificationStatus, g.VerifiedForSendingStatus, g.DkimAttributes.Status, vi)
			}
			list, err := ses.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{Filter: map[string]string{"VERIFICATION_STATUS": "SUCCESS", "IDENTITY_NAME_CONTAINS": "verify"}})
			if err != nil || len(list.EmailIdentities) != 1 || !list.EmailIdentities[0].SendingEnabled || list.EmailIdentities[0].VerificationStatus != types.VerificationStatusSuccess {
				t.Fatalf("ListEmailIdentities: %+v, %v", list, err)
			}

			s.Identities.DKIMCNAMEZone = "dkim.petrel.test"
			if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("flaky.example")}); err != nil {
				t.Fatal(err)
			}
			flaky, _, _ := s.Identities.GetDKIM(ctx, "acme", "flaky.example")
			dns.Fail(identity.DKIMRecordName(flaky.Selector, "flaky.example"), dnstest.ServFail)
			dns.Fail(identity.TokenRecordName("flaky.example"), dnstest.ServFail)
			if _, err := c.CheckDue(ctx); err != nil {
				t.Fatal(err)
			}
			f, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("flaky.example")})
			if err != nil {
				t.Fatal(err)
			}
			if f.VerificationStatus != types.VerificationStatusTemporaryFailure || f.VerificationInfo.ErrorType != types.VerificationErrorDnsServerError ||
				f.DkimAttributes.Status != types.DkimStatusTemporaryFailure || aws.ToString(f.DkimAttributes.SigningHostedZone) != "dkim.petrel.test" {
				t.Fatalf("SERVFAIL: %s %+v DKIM %s zone %v", f.VerificationStatus, f.VerificationInfo, f.DkimAttributes.Status, f.DkimAttributes.SigningHostedZone)
			}
			// verify.example's TXT record is not the CNAME the zone now
			// wants: flagged, and still sending through the grace period.
			list, err = ses.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{Filter: map[string]string{"VERIFICATION_STATUS": "TEMPORARY_FAILURE"}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, id := range list.EmailIdentities {
				got[aws.ToString(id.IdentityName)] = id.SendingEnabled
			}
			if len(got) != 2 || got["flaky.example"] || !got["verify.example"] {
				t.Fatalf("ListEmailIdentities TEMPORARY_FAILURE: name → SendingEnabled %v", got)
			}
		})
	}
}
