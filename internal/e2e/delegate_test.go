package e2e

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendingAuthorizationSMTP: the default account sends over SMTP as the
// identity owner.example of another account, naming it in the
// X-SES-SOURCE-ARN header field. Without a policy the message is refused
// with SES's 554 Access denied; once the owner allows the default account's
// sending account id it is delivered — without the X-SES-SOURCE-ARN field —
// and its mail object has sourceArn = the owner's identity ARN and
// sendingAccountId = the sender's.
func TestSendingAuthorizationSMTP(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			ctx := t.Context()
			mx := e.mx("rcpt.test", "127.0.0.3", 10)
			svc := e.d.Services()
			owner, err := svc.Accounts.CreateWith(ctx, "owner", account.CreateOptions{Unlimited: true}) // out of the sandbox, as SES requires of both
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Identities.Create(ctx, "owner", "owner.example", true); err != nil {
				t.Fatal(err)
			}
			me, err := svc.Accounts.Get(ctx, "default")
			if err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:ses:us-east-1:" + owner.SendingAccountID + ":identity/owner.example"
			send := func() error {
				c := e.smtpClient(t)
				if err := c.Mail("news@owner.example", nil); err != nil {
					return err
				}
				if err := c.Rcpt("someone@rcpt.test", nil); err != nil {
					return err
				}
				w, err := c.Data()
				if err != nil {
					return err
				}
				w.Write([]byte("From: News <news@owner.example>\r\nTo: someone@rcpt.test\r\nX-SES-SOURCE-ARN: " + arn + "\r\nSubject: hi\r\n\r\nhello\r\n"))
				return w.Close()
			}
			err = send()
			want := "Access denied: User `arn:aws:iam::" + me.SendingAccountID + ":root' is not authorized to perform `ses:SendRawEmail' on resource `" + arn + "'"
			if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 || se.Message != want {
				t.Fatalf("without a policy: %v; want 554 %s", err, want)
			}

			doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + me.SendingAccountID +
				`"},"Action":"ses:SendRawEmail","Resource":"` + arn + `"}]}`
			p, err := identity.ParsePolicy(doc, arn)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Identities.CreatePolicy(ctx, "owner", "owner.example", "smtp", p); err != nil {
				t.Fatal(err)
			}
			if err := send(); err != nil {
				t.Fatalf("with a policy: %v", err)
			}
			pollUntil(t, 10*time.Second, "the delegated message at the fake MX", func() bool { return len(mx.Messages()) > 0 })
			msgs := mx.Messages()
			if len(msgs) != 1 {
				t.Fatalf("MX received %d messages", len(msgs))
			}
			if bytes.Contains(bytes.ToUpper(msgs[0].Data), []byte("X-SES-SOURCE-ARN")) || !bytes.Contains(msgs[0].Data, []byte("From: News <news@owner.example>")) {
				t.Fatalf("delivered message:\n%s", msgs[0].Data)
			}
			evs, err := svc.Events.List(ctx, event.Filter{Account: "default"})
			if err != nil {
				t.Fatal(err)
			}
			var id string
			for _, ev := range evs {
				if ev.Kind == event.Send {
					id = ev.MessageID
				}
			}
			evs = e.events(id, 10*time.Second, func(evs []event.Event) bool { return find(evs, event.Delivery, "someone@rcpt.test") != nil })
			var mail event.Mail
			if err := json.Unmarshal(evs[0].Mail, &mail); err != nil {
				t.Fatal(err)
			}
			if mail.SourceArn != arn || mail.SendingAccountID != me.SendingAccountID || !strings.Contains(mail.Source, "news@owner.example") {
				t.Fatalf("mail object: source %q sourceArn %q sendingAccountId %q; want %q, %q", mail.Source, mail.SourceArn, mail.SendingAccountID, arn, me.SendingAccountID)
			}
			if _, err := e.ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("owner.example")}); err == nil {
				t.Fatal("the delegate reads the owner's identity")
			}
		})
	}
}
