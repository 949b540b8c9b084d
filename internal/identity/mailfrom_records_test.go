package identity

import (
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCheckerMailFrom: the MX and SPF records of a custom MAIL FROM domain
// through the engine, with the real DNS server and the test's clock —
// absent, MX at another host, MX without SPF, both (SUCCESS: the send
// path's status follows), SERVFAIL after success (TEMPORARY_FAILURE), and
// a second MX (FAILED at once for a new domain); a changed domain starts
// PENDING again.
func TestCheckerMailFrom(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			e.c.MailFrom = MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}
			e.domain("example.com")
			if err := e.s.SetVerified(e.ctx, "a", "example.com", true); err != nil {
				t.Fatal(err)
			}
			if err := e.s.PutMailFrom(e.ctx, "a", "example.com", "bounce.example.com", RejectMessage); err != nil {
				t.Fatal(err)
			}
			const mf = "bounce.example.com"
			status := func(want string) {
				t.Helper()
				m, err := e.s.GetMailFrom(e.ctx, "a", "example.com")
				if err != nil || m.Status != want {
					t.Fatalf("at %s: MailFromDomainStatus %s, %v; want %s", e.now, m.Status, err, want)
				}
				got, _, _, _ := e.s.MailFromFor(e.ctx, "a", address.Address{Local: "x", Domain: "example.com"})
				if got.Status != want {
					t.Fatalf("send path sees %s, want %s", got.Status, want)
				}
			}
			e.checkDue()
			e.wantRecord("example.com", PurposeMailFromMX, mf, StatusPending, ErrorHostMissing)
			e.wantRecord("example.com", PurposeMailFromSPF, mf, StatusPending, ErrorHostMissing)
			status(StatusPending)

			e.dns.MX(mf, 10, "mx.elsewhere.test")
			e.advance(5 * time.Minute)
			r := e.wantRecord("example.com", PurposeMailFromMX, mf, StatusPending, ErrorBadValue)
			if r.Expected != "bounce.example.com. MX 10 feedback.petrel.test." || r.Found != "bounce.example.com. MX 10 mx.elsewhere.test." {
				t.Fatalf("record %+v", r)
			}

			e.dns.Remove(mf)
			e.dns.MX(mf, 10, "feedback.petrel.test")
			e.advance(5 * time.Minute)
			e.wantRecord("example.com", PurposeMailFromMX, mf, StatusSuccess, "")
			e.wantRecord("example.com", PurposeMailFromSPF, mf, StatusPending, ErrorTypeMissing)
			status(StatusPending)

			e.dns.TXT(mf, "v=spf1 include:petrel.test ~all")
			e.advance(5 * time.Minute)
			e.wantRecord("example.com", PurposeMailFromSPF, mf, StatusSuccess, "")
			status(StatusSuccess)

			// SERVFAIL after a success says nothing about the records: the
			// MAIL FROM stays SUCCESS (REJECT_MESSAGE keeps sending).
			e.dns.Fail(mf, dnstest.ServFail)
			e.advance(24 * time.Hour)
			e.wantRecord("example.com", PurposeMailFromMX, mf, StatusSuccess, ErrorDNSServer)
			status(StatusSuccess)
			e.dns.Fail(mf, dnstest.Healthy)
			e.advance(time.Hour)
			e.wantRecord("example.com", PurposeMailFromMX, mf, StatusSuccess, "")
			status(StatusSuccess)

			// A new domain starts over; two MX records fail it at once.
			const mf2 = "mf.example.com"
			e.dns.MX(mf2, 10, "feedback.petrel.test")
			e.dns.MX(mf2, 20, "backup.example.com")
			e.dns.TXT(mf2, "v=spf1 include:petrel.test ~all")
			if err := e.s.PutMailFrom(e.ctx, "a", "example.com", mf2, RejectMessage); err != nil {
				t.Fatal(err)
			}
			status(StatusPending)
			e.checkDue()
			r = e.wantRecord("example.com", PurposeMailFromMX, mf2, StatusFailed, ErrorBadValue)
			if r.Detail == "" || !r.NextCheck.Equal(e.now.Add(24*time.Hour)) {
				t.Fatalf("record %+v", r)
			}
			status(StatusFailed)
			if recs, _ := e.s.Records(e.ctx, "a", "example.com"); len(recs) != 4 { // DKIM, token, MX, SPF of mf2
				t.Errorf("records %+v", recs)
			}
		})
	}
}
