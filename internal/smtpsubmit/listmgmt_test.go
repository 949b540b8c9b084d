package smtpsubmit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestListManagementHeader: over SMTP, X-SES-LIST-MANAGEMENT-OPTIONS names
// the contact list (and topic) a message is sent for. An unknown list or
// topic is refused with 554 and the reason, a malformed value with 554
// 5.6.0; a known one is accepted and the message gets its
// List-Unsubscribe fields (List-Unsubscribe first), the header field
// itself removed.
func TestListManagementHeader(t *testing.T) {
	cases := []struct {
		name, value string
		reply       string // "" for 250
		extra       string // further header fields
	}{
		{"unknown list", "nosuch", "554 5.6.0 Transaction failed: List with name nosuch does not exist.", ""},
		{"unknown topic", "news; topic=cycling", "554 5.6.0 Transaction failed: Topic cycling does not exist in contact list news.", ""},
		{"malformed", "news; subject=x", "554 5.6.0 Invalid X-SES-LIST-MANAGEMENT-OPTIONS header 'news; subject=x': expected 'contactListName' or 'contactListName; topic=topicName', names of 1-64 letters, digits, '_' and '-'.", ""},
		// A name that no list or topic can have (CreateContactList's
		// syntax) is a malformed field, not an unknown list.
		{"list name syntax", "news,weekly", "554 5.6.0 Invalid X-SES-LIST-MANAGEMENT-OPTIONS header 'news,weekly': expected 'contactListName' or 'contactListName; topic=topicName', names of 1-64 letters, digits, '_' and '-'.", ""},
		{"topic name syntax", "news; topic=sp.orts", "554 5.6.0 Invalid X-SES-LIST-MANAGEMENT-OPTIONS header 'news; topic=sp.orts': expected 'contactListName' or 'contactListName; topic=topicName', names of 1-64 letters, digits, '_' and '-'.", ""},
		// A second field is refused, not ignored; so is a second field of
		// every other single-valued X-SES-* field.
		{"two fields", "news", "554 5.6.0 Transaction failed: Duplicate header 'X-SES-LIST-MANAGEMENT-OPTIONS'.", "X-SES-LIST-MANAGEMENT-OPTIONS: nosuch\r\n"},
		{"two configuration sets", "news", "554 5.6.0 Transaction failed: Duplicate header 'x-ses-configuration-set'.",
			"X-SES-CONFIGURATION-SET: a\r\nx-ses-configuration-set: b\r\n"},
		{"two source ARNs", "news", "554 5.6.0 Transaction failed: Duplicate header 'X-SES-SOURCE-ARN'.",
			"X-SES-SOURCE-ARN: arn:aws:ses:us-east-1:123456789012:identity/example.com\r\nX-SES-SOURCE-ARN: arn:aws:ses:us-east-1:123456789012:identity/example.com\r\n"},
		{"two From ARNs", "news", "554 5.6.0 Transaction failed: Duplicate header 'X-SES-FROM-ARN'.", "X-SES-FROM-ARN: a\r\nX-SES-FROM-ARN: a\r\n"},
		{"two Return-Path ARNs", "news", "554 5.6.0 Transaction failed: Duplicate header 'X-SES-RETURN-PATH-ARN'.", "X-SES-RETURN-PATH-ARN: a\r\nX-SES-RETURN-PATH-ARN: a\r\n"},
		{"two To fields", "news", "554 5.6.0 Transaction failed: Duplicate header 'To'.", "To: success@simulator.amazonses.com\r\n"},
		{"multipart base64", "news", "554 5.6.0 Transaction failed: Content-Transfer-Encoding 'base64' is not allowed on a multipart entity: it must be 7bit, 8bit or binary (RFC 2045 section 6.4).",
			"Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n"},
		// X-SES-MESSAGE-TAGS may repeat (merged).
		{"two tag fields", "news", "", "X-SES-MESSAGE-TAGS: a=1\r\nX-SES-MESSAGE-TAGS: b=2\r\n"},
		{"topic", "news; topic=sports", "", ""},
		{"list", "news", "", ""},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ts := startServer(t, serverOpts{policy: testPolicy(), backend: backend})
			ctx := t.Context()
			cs := contacts.New(ts.db, nil)
			if err := cs.CreateList(ctx, "acme", contacts.List{Name: "news",
				Topics: []contacts.Topic{{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			ts.be.Sender.Lists = &sending.Lists{Contacts: cs, Key: contacts.TokenKey([]byte("k")), PublicURL: "https://petrel.test", Domain: "petrel.test"}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					cl := ts.secure(t, "127.0.0.2")
					cl.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
					code, msg := cl.Send("From: sender@example.com\r\nTo: success@simulator.amazonses.com\r\nX-SES-LIST-MANAGEMENT-OPTIONS: " +
						c.value + "\r\n" + c.extra + "Subject: hi\r\n\r\nhello\r\n")
					got := fmt.Sprintf("%d %s", code, msg)
					if c.reply != "" {
						if got != c.reply {
							t.Fatalf("end of data: %q, want %q", got, c.reply)
						}
						return
					}
					if code != 250 {
						t.Fatalf("end of data: %q", got)
					}
					id := strings.Fields(msg)[len(strings.Fields(msg))-1]
					body, err := spool.New(ts.db).Body(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					m, err := message.Parse(body)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(m.Get("List-Unsubscribe"), "<https://petrel.test/unsubscribe/") ||
						m.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || m.Get("X-SES-LIST-MANAGEMENT-OPTIONS") != "" ||
						!strings.HasPrefix(string(body), "List-Unsubscribe: ") {
						t.Errorf("stored message (%s):\n%s", msg, body)
					}
				})
			}
		})
	}
}
