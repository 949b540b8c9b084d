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
		// An address whose own block holds no answer while another's does
		// (the original's addressees, a quoted Cc, a forward note), and the
		// sender's key-value lines, greetings, help lines, display names
		// and bare queue IDs.
		{"summary-and-quoted-cc", []string{"ben@epsilon.test"}},
		{"kv-sender-fields", []string{"pat@vendor.test"}},
		{"attention-example-like", []string{"rick@us.test"}},
		{"french-question-help", []string{"paul@fr.test"}},
		{"message-from-sender-prose", []string{"eve@isp.test"}},
		{"display-name-address", []string{"support-queue@corp.test"}},
		{"bare-queue-ids", []string{"tom@isp.test"}},
		{"write-to-helpdesk", []string{"lou@vendor.test"}},
		{"forward-note", []string{"ivan@partner.test"}},
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

// TestNamedAsSomethingElse: the phrases that name an address as the
// sender, a help address, a greeted person, an example or a Message-ID
// keep it out of the candidates even where no other recipient's block has
// an answer to set it apart.
func TestNamedAsSomethingElse(t *testing.T) {
	for _, text := range []string{
		"Envelope sender: news@sender.test\nkim@rcpt.test: mailbox unavailable\n",
		"Reply-To on the original: news@sender.test\nkim@rcpt.test\n",
		"Your message from news@sender.test to kim@rcpt.test was returned.\n",
		"The message sent by news@sender.test to kim@rcpt.test was returned.\n",
		"Attention news@sender.test:\nkim@rcpt.test could not be reached.\n",
		"Questions? Write to help@isp.test.\nkim@rcpt.test\n",
		"Pour toute question : help@isp.test\nkim@rcpt.test\n",
		"Use the full address, like news@sender.test.\nkim@rcpt.test\n",
		"Queue ID: 4Hx2Zk0abc@mx.isp.test\nkim@rcpt.test\n",
		"Message 20261122100000.1a2b3c@mx.isp.test was returned: kim@rcpt.test\n",
		"\"news@sender.test via Desk\" <kim@rcpt.test>\n",
	} {
		if got := candidates(text, nil, ""); !slices.Equal(got, []string{"kim@rcpt.test"}) {
			t.Errorf("candidates(%q) = %v, want [kim@rcpt.test]", text, got)
		}
	}
}

// TestListThenReason: recipients listed one a line with the reason after
// the list all failed, and none is dropped for a block without an answer;
// a list followed by another recipient's own answer does not share it.
func TestListThenReason(t *testing.T) {
	text := "Delivery failed for:\n  amy@list.test\n  bo@list.test\n\nReason: 550 5.1.1 mailbox does not exist\n"
	blocks, answered := diagnostics(text, []string{"amy@list.test", "bo@list.test"})
	for i, b := range blocks {
		if !answered[i] || !strings.Contains(b, "550 5.1.1") {
			t.Errorf("recipient %d: answered=%v diagnostic %q", i, answered[i], b)
		}
	}
	text = "Original recipients:\n  amy@list.test\n  bo@list.test\n\nDelivery failed for bo@list.test: 550 5.1.1 mailbox does not exist\n"
	_, answered = diagnostics(text, []string{"amy@list.test", "bo@list.test"})
	if answered[0] || !answered[1] {
		t.Errorf("addressees then one failure: answered %v, want [false true]", answered)
	}
}
