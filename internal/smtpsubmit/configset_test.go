package smtpsubmit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/store"
)

// TestConfigurationSetHeader: a message submitted over SMTP with an
// X-SES-CONFIGURATION-SET header field is sent with that set of the
// authenticated account, on both stores. A set the account does not have
// (none of that name, or another account's) is refused with SES's "554
// Configuration set does not exist", a paused one with "554 Sending paused
// for this configuration set.", and nothing is stored; a set that exists is
// the ses:configuration-set tag, and its MaxDeliverySeconds and TlsPolicy
// REQUIRE are on the queue entry.
func TestConfigurationSetHeader(t *testing.T) {
	cases := []struct {
		name, user, set string // user: the account authenticating
		reply           string // the reply to the end of data; "" for 250
		deadline        time.Duration
		tls             bool
	}{
		{"unknown", "acme", "nope", "554 5.6.0 Configuration set does not exist: Configuration set nope does not exist.", 0, false},
		{"paused", "acme", "paused", "554 5.7.1 Sending paused for this configuration set.", 0, false},
		{"other account's", "beta", "secure", "554 5.6.0 Configuration set does not exist: Configuration set secure does not exist.", 0, false},
		{"REQUIRE and MaxDeliverySeconds", "acme", "secure", "", 900 * time.Second, true},
		{"defaults", "acme", "plain", "", time.Hour, false},
		{"none", "acme", "", "", time.Hour, false},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ts := startServer(t, serverOpts{policy: testPolicy(), backend: backend})
			ctx := t.Context()
			for _, c := range []configset.ConfigurationSet{
				{Account: "acme", Name: "secure", SendingEnabled: true, Delivery: configset.DeliveryOptions{TlsPolicy: configset.TLSRequire, MaxDeliverySeconds: 900}},
				{Account: "acme", Name: "plain", SendingEnabled: true},
				{Account: "acme", Name: "paused", SendingEnabled: false},
			} {
				if err := ts.configsets.Create(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ts.accts.CreateWith(ctx, "beta", account.CreateOptions{Unlimited: true}); err != nil {
				t.Fatal(err)
			}
			betaKey, err := ts.accts.CreateKey(ctx, "beta")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.ids.Create(ctx, "beta", "example.com", true); err != nil {
				t.Fatal(err)
			}
			logins := map[string][2]string{
				"acme": {ts.key.AccessKeyID, ts.pass},
				"beta": {betaKey.AccessKeyID, account.SMTPPassword(betaKey.SecretAccessKey, "us-east-1")},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					cl := ts.secure(t, "127.0.0.2")
					cl.Expect(plain(logins[c.user][0], logins[c.user][1]), 235)
					header := ""
					if c.set != "" {
						header = "X-SES-CONFIGURATION-SET: " + c.set + "\r\n"
					}
					var before int
					if err := ts.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages").Scan(&before); err != nil {
						t.Fatal(err)
					}
					code, msg := cl.Send("From: sender@example.com\r\nTo: success@simulator.amazonses.com\r\n" + header + "Subject: hi\r\n\r\nhello\r\n")
					if got := fmt.Sprintf("%d %s", code, msg); c.reply != "" {
						if got != c.reply {
							t.Fatalf("end of data: %q, want %q", got, c.reply)
						}
						var after int
						if err := ts.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages").Scan(&after); err != nil {
							t.Fatal(err)
						}
						if after != before {
							t.Errorf("%d messages stored after a refusal, want %d", after, before)
						}
						return
					} else if code != 250 {
						t.Fatalf("end of data: %q, want 250", got)
					}
					id := msg[len("Ok "):]
					var set, mailJSON string
					var tls, ms int64
					err := ts.db.QueryRowContext(ctx, ts.db.Rebind("SELECT q.configuration_set, q.tls_required, q.deadline_ms - q.created_ms, m.mail_json "+
						"FROM queue q JOIN messages m ON m.id = q.message_id WHERE q.message_id = ?"), id).Scan(&set, &tls, &ms, &mailJSON)
					if err != nil {
						t.Fatal(err)
					}
					if set != c.set || (tls != 0) != c.tls || time.Duration(ms)*time.Millisecond != c.deadline {
						t.Errorf("queue entry: set %q, tls_required %d, deadline after %v; want %q, %v, %v", set, tls, time.Duration(ms)*time.Millisecond, c.set, c.tls, c.deadline)
					}
					tag := `"ses:configuration-set":["` + c.set + `"]`
					if has := strings.Contains(mailJSON, tag); has != (c.set != "") {
						t.Errorf("mail object %s: has tag %s = %v, want %v", mailJSON, tag, has, c.set != "")
					}
				})
			}
		})
	}
}
