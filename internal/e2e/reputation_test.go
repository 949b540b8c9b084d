package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/reputation"
	"github.com/petrelmail/petrel/internal/store"
)

// TestReputationPause is issue 15's scenario: an account sends 1,000
// messages of which 12 % go to addresses the MX rejects with 550 5.1.1,
// plus mailbox-simulator traffic that does not count, and is paused by
// itself once its bounce rate reaches 10 % with the minimum volume
// (1,000 here) reached: the API and SMTP refuse its next message,
// GetAccount says SHUTDOWN, and the operator's resume lets it send again.
func TestReputationPause(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.ReputationMinVolume, c.Metrics = 1000, "127.0.0.1:0" })
			ctx := context.Background()
			mx := e.mx("rcpt.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, _ int) error {
				if strings.HasPrefix(rcpt, "bad") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				}
				return nil
			}
			// The account's contact address gets the notifications.
			contact := e.mx("contact.test", "127.0.0.5", 10)
			if _, err := e.ses.PutAccountDetails(ctx, &sesv2.PutAccountDetailsInput{MailType: types.MailTypeTransactional,
				WebsiteURL: aws.String("https://example.com"), AdditionalContactEmailAddresses: []string{"ops@contact.test"}}); err != nil {
				t.Fatal(err)
			}
			// The simulator's bounces are forwarded to the sender (feedback
			// emails): give its domain an MX.
			e.mx("example.com", "127.0.0.4", 10)
			// Simulator traffic first: 100 hard bounces and 100 deliveries
			// that count for nothing (§8.1).
			var sim []string
			for i := range 200 {
				to := "success@simulator.amazonses.com"
				if i%2 == 0 {
					to = "bounce@simulator.amazonses.com"
				}
				sim = append(sim, to)
			}
			e.sendAll(t, sim)
			// 1,000 messages, every eighth-or-so to a rejected address: 120.
			var rcpts []string
			for i := range 1000 {
				if i%25 < 3 {
					rcpts = append(rcpts, "bad"+itoa(i)+"@rcpt.test")
				} else {
					rcpts = append(rcpts, "good"+itoa(i)+"@rcpt.test")
				}
			}
			e.sendAll(t, rcpts)

			// The pause comes by itself (Run's evaluations).
			deadline := time.Now().Add(60 * time.Second)
			for {
				out, err := e.ses.GetAccount(ctx, &sesv2.GetAccountInput{})
				if err != nil {
					t.Fatal(err)
				}
				if *out.EnforcementStatus == "SHUTDOWN" {
					if !out.SendingEnabled {
						t.Fatal("SendingEnabled false: the pause is reputation's, not the tenant's switch")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not paused; EnforcementStatus %s", *out.EnforcementStatus)
				}
				time.Sleep(50 * time.Millisecond)
			}

			// The events: 120 hard bounces, 880 deliveries, and the
			// simulator's own.
			var evs []event.Event
			for deadline := time.Now().Add(60 * time.Second); ; {
				var err error
				if evs, err = e.allEvents(); err != nil {
					t.Fatal(err)
				}
				if count(evs, event.Delivery)+count(evs, event.Bounce) >= 1300 { // and the simulator's 100 bounces forwarded
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("deliveries not finished: %d deliveries, %d bounces", count(evs, event.Delivery), count(evs, event.Bounce))
				}
				time.Sleep(50 * time.Millisecond)
			}
			bad, good := 0, 0
			for _, ev := range evs {
				if ev.Kind == event.Delivery && strings.HasPrefix(ev.Recipient, "good") {
					good++
				}
				if ev.Kind == event.Bounce && strings.HasPrefix(ev.Recipient, "bad") {
					b := detail[event.BounceDetail](t, ev)
					if b.BounceType != "Permanent" || !strings.Contains(b.BouncedRecipients[0].DiagnosticCode, "550 5.1.1") {
						t.Fatalf("bounce %+v", b)
					}
					bad++
				}
			}
			if bad != 120 || good != 880 || count(evs, event.Send) != 1200 {
				t.Fatalf("%d hard bounces from the MX, %d deliveries to it, %d sends", bad, good, count(evs, event.Send))
			}
			rep := e.d.Services().Reputation
			if err := rep.Evaluate(ctx, "default"); err != nil {
				t.Fatal(err)
			}
			r, err := rep.Get(ctx, "default", "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != reputation.Shutdown || r.Sends != 1000 || r.HardBounces != 120 || !r.Enforced {
				t.Fatalf("reputation %s %+v (the simulator's traffic must not count)", r.Status, r.Figures)
			}
			h, err := rep.History(ctx, "default", 10)
			if err != nil || len(h) == 0 || h[0].To != reputation.Shutdown || h[0].Sends < 1000 || h[0].BounceRate() < 0.10 {
				t.Fatalf("history %+v, %v", h, err)
			}

			// The contact address was told, by email from postmaster@ with the
			// null reverse path.
			notified := func(subject string) {
				t.Helper()
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					for _, m := range contact.Messages() {
						if m.From == "" && strings.Contains(string(m.Data), "Subject: "+subject+"\r\n") &&
							strings.Contains(string(m.Data), "From: postmaster@petrel.test\r\n") {
							return
						}
					}
					if time.Now().After(deadline) {
						t.Fatalf("no email %q to the contact address; it has %d", subject, len(contact.Messages()))
					}
				}
			}
			notified("Sending paused for account default")

			// /metrics shows it.
			m := scrape(t, "http://"+e.d.Addr("metrics")+"/metrics")
			if m[`petrel_account_enforcement_status{account="default",status="SHUTDOWN"}`] != 1 ||
				m[`petrel_account_enforcement_status{account="default",status="HEALTHY"}`] != 0 || m[`petrel_account_bounce_rate{account="default"}`] != 0.12 {
				t.Fatalf("/metrics: status %v, bounce rate %v", m[`petrel_account_enforcement_status{account="default",status="SHUTDOWN"}`],
					m[`petrel_account_bounce_rate{account="default"}`])
			}

			// The API refuses the next message.
			_, err = e.ses.SendEmail(ctx, simple("sender@example.com", "good-after@rcpt.test"))
			var paused *types.SendingPausedException
			if !errors.As(err, &paused) || paused.ErrorMessage() != "Sending paused for this account. For more information, please check the inbox of the email address associated with your AWS account." {
				t.Fatalf("SendEmail while paused: %v", err)
			}
			// The tenant's own switch does not lift it (SES: "cannot be used to
			// resume sending that AWS paused").
			if _, err := e.ses.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			if _, err = e.ses.SendEmail(ctx, simple("sender@example.com", "good-after@rcpt.test")); !errors.As(err, &paused) {
				t.Fatalf("SendEmail after the tenant's PutAccountSendingAttributes: %v", err)
			}
			// So does SMTP.
			c := e.smtpClient(t)
			serr := smtpSend(c, "good-after@rcpt.test")
			var se *smtp.SMTPError
			if !errors.As(serr, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || se.Message != "Message rejected: Sending paused for this account." {
				t.Fatalf("SMTP while paused: %v", serr)
			}

			// The operator resumes it.
			from, err := rep.Resume(ctx, "default", "")
			if err != nil || from != reputation.Shutdown {
				t.Fatalf("Resume = %s, %v", from, err)
			}
			out, err := e.ses.GetAccount(ctx, &sesv2.GetAccountInput{})
			if err != nil || *out.EnforcementStatus != "HEALTHY" {
				t.Fatalf("after resume: %v %v", out.EnforcementStatus, err)
			}
			if _, err := e.ses.SendEmail(ctx, simple("sender@example.com", "good-after@rcpt.test")); err != nil {
				t.Fatalf("SendEmail after resume: %v", err)
			}
			if err := smtpSend(c, "good-after2@rcpt.test"); err != nil {
				t.Fatalf("SMTP after resume: %v", err)
			}
			notified("Sending resumed for account default")
		})
	}
}

// sendAll sends one message to each of rcpts through the API, 16 at a
// time; every send must be accepted.
func (e *env) sendAll(t *testing.T, rcpts []string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(rcpts) {
					return
				}
				if _, err := e.ses.SendEmail(context.Background(), simple("sender@example.com", rcpts[i])); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// allEvents returns every event of the default account.
func (e *env) allEvents() ([]event.Event, error) {
	var out []event.Event
	var after int64
	for {
		page, err := e.d.Services().Events.List(context.Background(), event.Filter{Account: "default", AfterID: after})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// smtpClient is an authenticated SMTP submission session of the default
// account.
func (e *env) smtpClient(t *testing.T) *smtp.Client {
	t.Helper()
	k := e.d.Credentials
	c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, "us-east-1"))); err != nil {
		t.Fatal(err)
	}
	return c
}

// smtpSend sends one message to rcpt on c; the error is the server's reply.
func smtpSend(c *smtp.Client, rcpt string) error { return smtpSendHeader(c, rcpt, "") }

// smtpSendHeader is smtpSend of a message with the header fields hdr too
// (CRLF-terminated lines).
func smtpSendHeader(c *smtp.Client, rcpt, hdr string) error {
	if err := c.Mail("sender@example.com", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write([]byte("From: sender@example.com\r\nTo: " + rcpt + "\r\n" + hdr + "Subject: hi\r\n\r\nhello\r\n"))
	return w.Close()
}

// TestReputationConfigurationSetPause: a configuration set with reputation
// metrics enabled is paused by its own bounce rate while the account and
// its other mail go on; the operator's resume of the set gives it a fresh
// start (GetConfigurationSet LastFreshStart).
func TestReputationConfigurationSetPause(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.ReputationMinVolume = 40 })
			ctx := context.Background()
			mx := e.mx("rcpt.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, _ int) error {
				if strings.HasPrefix(rcpt, "bad") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				}
				return nil
			}
			for _, name := range []string{"news", "other"} {
				if _, err := e.ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(name),
					ReputationOptions: &types.ReputationOptions{ReputationMetricsEnabled: name == "news"}}); err != nil {
					t.Fatal(err)
				}
			}
			// 80 good messages without the set, then 40 with it, 5 of them
			// rejected: 12.5 % for the set (paused once its 40 are sent),
			// 4.2 % for the account (HEALTHY).
			for i := range 120 {
				in := simple("sender@example.com", "good"+itoa(i)+"@rcpt.test")
				if i >= 80 {
					in.ConfigurationSetName = aws.String("news")
					if i%8 == 0 {
						in.Destination.ToAddresses = []string{"bad" + itoa(i) + "@rcpt.test"}
					}
				}
				if _, err := e.ses.SendEmail(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			rep := e.d.Services().Reputation
			deadline := time.Now().Add(60 * time.Second)
			for {
				paused, err := rep.Paused(ctx, "default", "news")
				if err != nil {
					t.Fatal(err)
				}
				if paused {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("set not paused")
				}
				time.Sleep(50 * time.Millisecond)
			}
			in := simple("sender@example.com", "good-after@rcpt.test")
			in.ConfigurationSetName = aws.String("news")
			_, err := e.ses.SendEmail(ctx, in)
			var paused *types.SendingPausedException
			if !errors.As(err, &paused) || !strings.HasPrefix(paused.ErrorMessage(), "Sending paused for configuration set news.") {
				t.Fatalf("SendEmail with the paused set: %v", err)
			}
			c := e.smtpClient(t)
			serr := smtpSendHeader(c, "good-after@rcpt.test", "X-SES-CONFIGURATION-SET: news\r\n")
			var se *smtp.SMTPError
			if !errors.As(serr, &se) || se.Code != 554 || se.Message != "Message rejected: Sending paused for configuration set news." {
				t.Fatalf("SMTP with the paused set: %v", serr)
			}
			// The account and its other sets send.
			for _, set := range []string{"", "other"} {
				in := simple("sender@example.com", "good-after@rcpt.test")
				if set != "" {
					in.ConfigurationSetName = aws.String(set)
				}
				if _, err := e.ses.SendEmail(ctx, in); err != nil {
					t.Fatalf("set %q: %v", set, err)
				}
			}
			out, err := e.ses.GetAccount(ctx, &sesv2.GetAccountInput{})
			if err != nil || *out.EnforcementStatus != "HEALTHY" {
				t.Fatalf("account: %v %v", out.EnforcementStatus, err)
			}
			if _, err := rep.Resume(ctx, "default", "news"); err != nil {
				t.Fatal(err)
			}
			cs, err := e.ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("news")})
			if err != nil || cs.ReputationOptions.LastFreshStart == nil || time.Since(*cs.ReputationOptions.LastFreshStart) > time.Minute {
				t.Fatalf("GetConfigurationSet after resume: %+v %v", cs.ReputationOptions, err)
			}
			if err := smtpSendHeader(c, "good-after@rcpt.test", "X-SES-CONFIGURATION-SET: news\r\n"); err != nil {
				t.Fatalf("SMTP with the set after resume: %v", err)
			}
		})
	}
}

// TestWarmUp: a healthy production account that used 80 % of its daily
// quota gets it ×1.5 (and its rate) by itself, once per interval, as
// GetAccount shows; the change is in the account's reputation history.
func TestWarmUp(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			ctx := context.Background()
			e.mx("rcpt.test", "127.0.0.3", 10)
			svc := e.d.Services()
			if _, err := svc.Accounts.CreateWith(ctx, "grow", account.CreateOptions{Production: true}); err != nil {
				t.Fatal(err)
			}
			if err := svc.Accounts.SetQuota(ctx, "grow", account.Quota{Max24HourSend: 10, MaxSendRate: 100}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Identities.Create(ctx, "grow", "example.com", true); err != nil {
				t.Fatal(err)
			}
			k, err := svc.Accounts.CreateKey(ctx, "grow")
			if err != nil {
				t.Fatal(err)
			}
			ses := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
				Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
			quota := func() *types.SendQuota {
				out, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{})
				if err != nil {
					t.Fatal(err)
				}
				return out.SendQuota
			}
			for i := range 8 {
				if _, err := ses.SendEmail(ctx, simple("sender@example.com", "r"+itoa(i)+"@rcpt.test")); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for q := quota(); q.Max24HourSend != 15; q = quota() {
				if q.Max24HourSend != 10 || time.Now().After(deadline) {
					t.Fatalf("quota %+v, want Max24HourSend 15 by itself", q)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if q := quota(); q.MaxSendRate != 150 || q.SentLast24Hours != 8 {
				t.Fatalf("quota after growth %+v", q)
			}
			// Once per interval: another evaluation changes nothing.
			if err := svc.Reputation.Evaluate(ctx, "grow"); err != nil {
				t.Fatal(err)
			}
			if q := quota(); q.Max24HourSend != 15 {
				t.Fatalf("grown twice: %+v", q)
			}
			h, err := svc.Reputation.History(ctx, "grow", 10)
			if err != nil || len(h) != 1 || h[0].Kind != "quota" || h[0].OldMax24HourSend != 10 || h[0].NewMax24HourSend != 15 ||
				h[0].OldMaxSendRate != 100 || h[0].NewMaxSendRate != 150 {
				t.Fatalf("history %+v, %v", h, err)
			}
		})
	}
}
