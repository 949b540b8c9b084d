package bounce

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestNeverFailedRecipients: addresses a notice names that are not the
// failed recipient — the original's sender in a quoted or summarised header
// field (From:, Sender:, Reply-To:, Envelope-From:), and help addresses in
// prose ("please contact <…>") — are never reported as failed (issue 12,
// kind 5).
func TestNeverFailedRecipients(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"sms-gateway-details", []string{"5550100@sms.gateway.test"}},
		{"postfix-contact-prose", []string{"olga@rcpt.test"}},
		{"list-quoted-headers", []string{"peter@rcpt.test"}},
		{"lotus-original-sender", []string{"quinn@notes.corp.test"}},
	}
	for _, c := range cases {
		raw, err := os.ReadFile("testdata/never-failed/" + c.file + ".eml")
		if err != nil {
			t.Fatal(err)
		}
		rep := Parse(raw)
		var got []string
		for _, r := range rep.Recipients {
			got = append(got, strings.ToLower(r.EmailAddress))
		}
		if rep.Kind != KindBounce || !slices.Equal(got, c.want) {
			t.Errorf("%s: kind %s recipients %v, want bounce %v", c.file, rep.Kind, got, c.want)
		}
	}
}
