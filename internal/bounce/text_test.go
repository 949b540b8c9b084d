package bounce

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestNeverFailedRecipients: addresses a notice names that are not the
// failed recipient — the original's sender in a quoted or summarised header
// field (From:, Sender:, Reply-To:, Envelope-From:), help addresses in
// prose ("please contact <…>"), greetings ("Dear …,"), the notice's summary
// of the original's addressees ("The original message was addressed to:"),
// Message-IDs in prose ("Your message <…>") and example addresses ("e.g.
// …", "such as …") — are never reported as failed (issue 12, kind 5).
func TestNeverFailedRecipients(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"sms-gateway-details", []string{"5550100@sms.gateway.test"}},
		{"postfix-contact-prose", []string{"olga@rcpt.test"}},
		{"list-quoted-headers", []string{"peter@rcpt.test"}},
		{"lotus-original-sender", []string{"quinn@notes.corp.test"}},
		{"greeting-dear", []string{"kai@isp.test"}},
		{"sendmail-addressed-to-summary", []string{"max@summary.test"}},
		{"messageid-prose", []string{"omar@corp.test"}},
		{"example-prose", []string{"pia@webhost.test"}},
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
