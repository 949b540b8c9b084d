package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestRestartVerification: a domain whose `_amazonses` token and DKIM
// records were never published is FAILED after the window; a restart
// makes both PENDING again from then (a new window, due at once), and a
// token published afterwards verifies the domain. A SUCCESS record and
// another domain's FAILED records are left alone; an unknown identity is
// ErrNotFound.
func TestRestartVerification(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			d := e.domain("restart.example")
			e.domain("other.example")
			tokName, keyName := TokenRecordName("restart.example"), DKIMRecordName(d.Selector, "restart.example")
			e.checkDue()
			e.advance(72 * time.Hour)
			e.wantRecord("restart.example", PurposeDomainToken, tokName, StatusFailed, ErrorHostMissing)
			e.wantRecord("restart.example", PurposeDKIM, keyName, StatusFailed, ErrorHostMissing)

			if err := e.s.RestartVerification(e.ctx, "a", "RESTART.example", e.now); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{tokName, keyName} {
				r := e.record("restart.example", map[string]string{tokName: PurposeDomainToken, keyName: PurposeDKIM}[name], name)
				if r.Status != StatusPending || !r.Started.Equal(e.now) || !r.NextCheck.Equal(e.now) || !r.MissingSince.IsZero() {
					t.Fatalf("%s after the restart: %+v", name, r)
				}
			}
			e.wantRecord("other.example", PurposeDomainToken, TokenRecordName("other.example"), StatusFailed, ErrorHostMissing)

			tok, err := e.s.VerificationToken(e.ctx, "a", "restart.example")
			if err != nil {
				t.Fatal(err)
			}
			e.dns.TXT(tokName, tok)
			e.checkDue()
			e.wantRecord("restart.example", PurposeDomainToken, tokName, StatusSuccess, "")
			e.wantRecord("restart.example", PurposeDKIM, keyName, StatusPending, ErrorHostMissing)
			e.wantVerified("restart.example", true)

			// SUCCESS stays SUCCESS.
			if err := e.s.RestartVerification(e.ctx, "a", "restart.example", e.now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if r := e.record("restart.example", PurposeDomainToken, tokName); r.Status != StatusSuccess || !r.Started.Equal(e.now) {
				t.Fatalf("SUCCESS token after a restart: %+v", r)
			}
			if err := e.s.RestartVerification(e.ctx, "a", "nobody.example", e.now); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown identity: %v", err)
			}
		})
	}
}
