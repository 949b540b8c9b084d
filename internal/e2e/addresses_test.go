package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// injecting is a recipient whose local part, written unquoted, would end
// RCPT TO and add an ESMTP parameter (issue 10, finding 6).
const injecting = `"a> NOTIFY=NEVER"@dest.test`

// TestQuotedLocalPartStaysQuoted: a recipient with a quoted local part,
// accepted by the API, reaches the next hop still quoted — the fake MX sees
// the literal command line RCPT TO:<"a> NOTIFY=NEVER"@dest.test> and no
// NOTIFY parameter — whether it came from Destination (Simple or Raw
// content) or from a Raw message's To header.
func TestQuotedLocalPartStaysQuoted(t *testing.T) {
	raw := "From: sender@example.com\r\nTo: " + injecting + "\r\nSubject: q\r\n\r\nbody\r\n"
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("dest.test", "127.0.0.3", 10)
			for _, c := range []struct {
				name string
				in   *sesv2.SendEmailInput
			}{
				{"simple", simple("sender@example.com", injecting)},
				{"raw with Destination", &sesv2.SendEmailInput{Destination: &types.Destination{ToAddresses: []string{injecting}},
					Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}}},
				{"raw, To header", &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}}},
			} {
				before := len(mx.Commands())
				out, err := e.ses.SendEmail(t.Context(), c.in)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				evs := e.events(*out.MessageId, 10*time.Second, finalCount(1))
				if count(evs, event.Delivery) != 1 {
					t.Fatalf("%s: events %v, want a Delivery; %s", c.name, kinds(evs), evs[len(evs)-1].Detail)
				}
				var rcpts []string
				for _, l := range mx.Commands()[before:] {
					if strings.HasPrefix(l, "RCPT") {
						rcpts = append(rcpts, l)
					}
				}
				if want := "RCPT TO:<" + injecting + ">"; len(rcpts) != 1 || rcpts[0] != want {
					t.Fatalf("%s: MX received %q, want exactly %q", c.name, rcpts, want)
				}
				var mo event.Mail
				json.Unmarshal(evs[0].Mail, &mo)
				if d := find(evs, event.Delivery, ""); len(mo.Destination) != 1 || mo.Destination[0] != injecting || d.Recipient != injecting {
					t.Fatalf("%s: mail.destination %q, Delivery recipient %q; want %q", c.name, mo.Destination, d.Recipient, injecting)
				}
			}
			// The Simple message's To header carries the quoted form too.
			if m := mx.Messages(); len(m) != 3 || !bytes.Contains(m[0].Data, []byte("To: "+injecting+"\r\n")) {
				t.Fatalf("delivered Simple message:\n%s", m[0].Data)
			}
		})
	}
}

// TestAddressRefusals: addresses that are not RFC 5321/5322 mailboxes, or
// that cannot be written safely, are refused with BadRequestException
// (API) or 553 (SMTP); unverified Sender headers with MessageRejected / 554.
func TestAddressRefusals(t *testing.T) {
	e := start(t, "sqlite", nil)
	mx := e.mx("dest.test", "127.0.0.3", 10)

	t.Run("API", func(t *testing.T) {
		sender := "From: sender@example.com\r\nSender: ceo@victim.test\r\nTo: a@dest.test\r\nSubject: s\r\n\r\nbody\r\n"
		cases := []struct {
			name    string
			in      *sesv2.SendEmailInput
			code    string
			message string // substring
		}{
			{"unverified Sender, Raw", &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(sender)}}},
				"MessageRejected", "Email address is not verified. The following identities failed the check in region US-EAST-1: ceo@victim.test"},
			{"unverified Sender, Raw with Destination", &sesv2.SendEmailInput{Destination: &types.Destination{ToAddresses: []string{"a@dest.test"}},
				Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(sender)}}},
				"MessageRejected", "ceo@victim.test"},
			{"unverified Return-Path, Raw", &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{
				Data: []byte("From: sender@example.com\r\nReturn-Path: <r@victim.test>\r\nTo: a@dest.test\r\n\r\nbody\r\n")}}},
				"MessageRejected", "r@victim.test"},
			{"control character in a quoted local part", simple("sender@example.com", "\"a\x01b\"@dest.test"), "BadRequestException", "Destination.ToAddresses[0]"},
			{"address literal", simple("sender@example.com", "a@[127.0.0.3]"), "BadRequestException", "Destination.ToAddresses[0]"},
			{"double @", simple("sender@example.com", "bad@@dest.test"), "BadRequestException", "Destination.ToAddresses[0]"},
		}
		for _, c := range cases {
			_, err := e.ses.SendEmail(t.Context(), c.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != c.code || !strings.Contains(ae.ErrorMessage(), c.message) {
				t.Errorf("%s: got %v; want %s containing %q", c.name, err, c.code, c.message)
			}
		}
	})

	t.Run("SMTP", func(t *testing.T) {
		c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		k := e.d.Credentials
		if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, "us-east-1"))); err != nil {
			t.Fatal(err)
		}
		for _, from := range []string{"bad@@example.com", "a..b@example.com", ".a@example.com", "a@[127.0.0.1]"} {
			if err := c.Mail(from, nil); !isReply(err, 553, "5.1.7") {
				t.Errorf("MAIL FROM:<%s>: %v, want 553 5.1.7", from, err)
			}
		}
		// A path go-smtp cannot parse at all is a syntax error (RFC 5321 §4.2.3).
		if err := c.Mail(`"unbalanced@example.com`, nil); !isReply(err, 501, "") {
			t.Errorf("MAIL FROM with an unbalanced quote: %v, want 501", err)
		}
		if err := c.Mail("sender@example.com", nil); err != nil {
			t.Fatal(err)
		}
		// go-smtp hands Petrel the local part unquoted; one that is not a
		// Dot-string then is refused, never written unquoted.
		for _, to := range []string{injecting, `"a\"b"@dest.test`, `"a b"@dest.test`, "a..b@dest.test", "bad@@dest.test"} {
			if err := c.Rcpt(to, nil); !isReply(err, 553, "5.1.3") {
				t.Errorf("RCPT TO:<%s>: %v, want 553 5.1.3", to, err)
			}
		}
		if err := c.Rcpt(`"a.b"@dest.test`, nil); err != nil {
			t.Fatalf(`RCPT TO:<"a.b"@dest.test> (a quoted Dot-string): %v`, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("From: sender@example.com\r\nSender: ceo@victim.test\r\nTo: a.b@dest.test\r\n\r\nx\r\n"))
		if err := w.Close(); !isReply(err, 554, "") || !strings.Contains(err.Error(), "ceo@victim.test") {
			t.Errorf("DATA with an unverified Sender: %v, want 554 naming ceo@victim.test", err)
		}
		if n := len(mx.Commands()); n != 0 {
			t.Errorf("MX received %q; nothing should have been sent", mx.Commands())
		}
	})
}

func isReply(err error, code int, enhanced string) bool {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code {
		return false
	}
	return enhanced == "" || fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2]) == enhanced
}
