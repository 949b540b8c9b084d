package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/store"
)

// TestMailFromCause: the refusal's cause names the actual state of each
// failing record — not yet checked, MX at the wrong host (INVALID_VALUE,
// with what was found), SPF missing (TYPE_NOT_FOUND), SERVFAIL
// before any success (TEMPORARY_FAILURE, DNS_SERVER_ERROR) — never a
// blanket "not found".
func TestMailFromCause(t *testing.T) {
	e := newCheckerEnv(t, store.Backends()[0], "")
	e.c.MailFrom = MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}
	e.domain("example.com")
	if err := e.s.SetVerified(e.ctx, "a", "example.com", true); err != nil {
		t.Fatal(err)
	}
	const mf = "bounce.example.com"
	if err := e.s.PutMailFrom(e.ctx, "a", "example.com", mf, RejectMessage); err != nil {
		t.Fatal(err)
	}
	cause := func(want ...string) {
		t.Helper()
		c, err := e.s.MailFromCause(e.ctx, "a", "example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(c, w) {
				t.Fatalf("cause %q lacks %q", c, w)
			}
		}
	}
	cause("not been checked yet")

	e.dns.Fail(mf, dnstest.ServFail)
	e.checkDue()
	cause("MX record at bounce.example.com is TEMPORARY_FAILURE (DNS_SERVER_ERROR")
	e.dns.Fail(mf, dnstest.Healthy)

	e.dns.MX(mf, 10, "mx.elsewhere.test")
	e.advance(10 * time.Minute)
	cause("MX record at bounce.example.com is PENDING (INVALID_VALUE", "mx.elsewhere.test",
		"SPF record at bounce.example.com is PENDING (TYPE_NOT_FOUND")
}
