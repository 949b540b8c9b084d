package identity

import (
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSignerWaitsForDKIMRecord: a key signs only while its DKIM record is
// SUCCESS or in its grace period, or while the operator vouches for the
// domain. The domain verified by its `_amazonses` token alone (DKIM
// PENDING) does not sign; SUCCESS signs; the record removed signs through
// the grace, then FAILED stops signing; a vouch signs whatever the record
// says; a subdomain's mail follows its parent's key. Each transition is
// seen at once: the checker drops the cached signers.
func TestSignerWaitsForDKIMRecord(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			d := e.domain("flap.test")
			name := DKIMRecordName(d.Selector, "flap.test")
			tok, err := e.s.VerificationToken(e.ctx, "a", "flap.test")
			if err != nil {
				t.Fatal(err)
			}
			signs := func(domain string, want bool) {
				t.Helper()
				sg, err := e.s.Signer(e.ctx, "a", address.Address{Local: "x", Domain: domain})
				if err != nil {
					t.Fatal(err)
				}
				if (sg != nil) != want || sg != nil && (sg.Domain != "flap.test" || sg.Selector != d.Selector) {
					t.Fatalf("at %s: Signer(x@%s) = %+v, want signing %v", e.now, domain, sg, want)
				}
			}
			signs("flap.test", false) // not yet checked

			e.dns.TXT(TokenRecordName("flap.test"), tok)
			e.checkDue()
			e.wantVerified("flap.test", true)
			e.wantRecord("flap.test", PurposeDKIM, name, StatusPending, ErrorHostMissing)
			signs("flap.test", false)
			signs("mail.flap.test", false)

			e.dns.TXT(name, d.Record)
			e.advance(10 * time.Minute)
			e.wantRecord("flap.test", PurposeDKIM, name, StatusSuccess, "")
			signs("flap.test", true)
			signs("mail.flap.test", true)

			// Removed: signs through the grace, then not once FAILED.
			e.dns.Remove(name)
			e.advance(24 * time.Hour)
			e.wantRecord("flap.test", PurposeDKIM, name, StatusTemporaryFailure, ErrorHostMissing)
			signs("flap.test", true)
			e.advance(72 * time.Hour)
			e.wantRecord("flap.test", PurposeDKIM, name, StatusFailed, ErrorHostMissing)
			e.wantVerified("flap.test", true) // the token still verifies the domain
			signs("flap.test", false)

			// The operator's vouch covers the DNS too: it signs while FAILED.
			if err := e.s.SetVerified(e.ctx, "a", "flap.test", true); err != nil {
				t.Fatal(err)
			}
			signs("flap.test", true)
			if err := e.s.SetVerified(e.ctx, "a", "flap.test", false); err != nil {
				t.Fatal(err)
			}
			signs("flap.test", false)

			// Restarted and found: signs again.
			e.dns.TXT(name, d.Record)
			if _, err := e.c.Check(e.ctx, "a", "flap.test"); err != nil {
				t.Fatal(err)
			}
			signs("flap.test", true)
		})
	}
}
