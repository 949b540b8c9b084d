package e2e

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestReturnPath drives bounce intelligence end to end: messages Petrel
// delivered come back as a DSN, a delay notice, an ARF complaint to the
// feedback mailbox and an auto-reply, each sent over SMTP to the inbound
// receiver, and each becomes its SES event on the original message. An
// operator rule added at run time (file edited, SIGHUP) changes how the next
// bounce is classified.
func TestReturnPath(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			rulesFile := filepath.Join(t.TempDir(), "rules.toml")
			if err := os.WriteFile(rulesFile, []byte("# no rules of our own yet\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e := start(t, backend, func(c *config.Config) { c.BounceRules = rulesFile })
			mx := e.mx("far.test", "127.0.0.3", 10)

			ids := map[string]string{}
			for _, to := range []string{"gone@far.test", "retired@far.test", "slow@far.test", "away@far.test"} {
				out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", to))
				if err != nil {
					t.Fatal(err)
				}
				ids[to] = *out.MessageId
				e.events(ids[to], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Delivery) == 1 })
			}
			delivered := map[string]mxMessage{}
			for _, m := range mx.Messages() {
				delivered[m.To[0]] = mxMessage{returnPath: m.From, data: m.Data}
			}
			inbound := e.d.Addr("inbound")

			// Unknown recipients at the return path are refused at RCPT.
			if err := sendInbound(inbound, "", "nobody@petrel.test", []byte("Subject: x\r\n\r\nx\r\n")); err == nil || !strings.Contains(err.Error(), "550") {
				t.Errorf("RCPT to an unknown return-path address: %v, want 550", err)
			}

			// 1. A DSN with an answer the built-in rules call a policy rejection.
			const diag = "smtp; 550 5.0.0 Mailbox decommissioned by policy R-17"
			dsn := buildDSN("gone@far.test", delivered["gone@far.test"], "failed", "5.0.0", diag)
			if err := sendInbound(inbound, "", delivered["gone@far.test"].returnPath, dsn); err != nil {
				t.Fatal(err)
			}
			evs := e.events(ids["gone@far.test"], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			b := detail[event.BounceDetail](t, *find(evs, event.Bounce, "gone@far.test"))
			if b.BounceType != "Transient" || b.Reason != "policy-rejected" || b.Rule != "policy-rejected" ||
				len(b.BouncedRecipients) != 1 || b.BouncedRecipients[0].EmailAddress != "gone@far.test" ||
				b.BouncedRecipients[0].Status != "5.0.0" || b.BouncedRecipients[0].DiagnosticCode != diag ||
				b.ReportingMTA != "dns; mx.far.test" {
				t.Errorf("asynchronous bounce = %+v", b)
			}

			// 2. The operator teaches Petrel that wording, and reloads (SIGHUP).
			rule := `[[rule]]
name = "far-decommissioned"
text = 'mailbox decommissioned'
bounce-type = "Permanent"
bounce-sub-type = "NoEmail"
reason = "user-unknown"
`
			if err := os.WriteFile(rulesFile, []byte(rule), 0o644); err != nil {
				t.Fatal(err)
			}
			if st, err := daemon.RequestRulesReload(e.cfg, 5*time.Second); err != nil || st.Error != "" || st.PID != os.Getpid() {
				t.Fatalf("reload after SIGHUP: %+v, %v", st, err)
			}
			if _, ok := e.d.BounceRules().Rule("far-decommissioned"); !ok {
				t.Fatal("the operator's rule is not in force after the reload")
			}
			dsn = buildDSN("retired@far.test", delivered["retired@far.test"], "failed", "5.0.0", diag)
			if err := sendInbound(inbound, "", delivered["retired@far.test"].returnPath, dsn); err != nil {
				t.Fatal(err)
			}
			evs = e.events(ids["retired@far.test"], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Bounce) == 1 })
			b = detail[event.BounceDetail](t, *find(evs, event.Bounce, "retired@far.test"))
			if b.BounceType != "Permanent" || b.BounceSubType != "NoEmail" || b.Rule != "far-decommissioned" {
				t.Errorf("bounce after the operator's rule = %+v, want Permanent/NoEmail by far-decommissioned", b)
			}
			// A broken file is refused, says why in the status file the CLI
			// reads, and leaves the operator's rule in force.
			if err := os.WriteFile(rulesFile, []byte("[[rule]]\nname = \"broken\"\ntext = '('\nbounce-type = \"Permanent\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if st, err := daemon.RequestRulesReload(e.cfg, 5*time.Second); err != nil || !strings.Contains(st.Error, "rule 1 (broken)") || st.File != rulesFile {
				t.Errorf("reload of a broken file: %+v, %v", st, err)
			}
			if _, ok := e.d.BounceRules().Rule("far-decommissioned"); !ok {
				t.Error("a broken rule file replaced the rules in force")
			}
			// The same bytes delivered again do not make a second event.
			if err := sendInbound(inbound, "", delivered["retired@far.test"].returnPath, dsn); err != nil {
				t.Fatal(err)
			}

			// 3. A delay notice is a DeliveryDelay, not a bounce.
			dsn = buildDSN("slow@far.test", delivered["slow@far.test"], "delayed", "4.4.7", "smtp; 451 4.4.1 Connection timed out")
			if err := sendInbound(inbound, "", delivered["slow@far.test"].returnPath, dsn); err != nil {
				t.Fatal(err)
			}
			evs = e.events(ids["slow@far.test"], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.DeliveryDelay) == 1 })
			if count(evs, event.Bounce) != 0 {
				t.Errorf("a delay notice produced a bounce: %v", kinds(evs))
			}
			dd := detail[event.DeliveryDelayDetail](t, *find(evs, event.DeliveryDelay, "slow@far.test"))
			if dd.DelayType != "TransientCommunicationFailure" || dd.DelayedRecipients[0].Status != "4.4.7" || dd.ExpirationTime != "2026-11-25T10:00:00.000Z" {
				t.Errorf("delay = %+v", dd)
			}

			// 4. An ARF complaint to the feedback mailbox, tied to the message
			// by the signed X-Petrel-Feedback token of the attached original,
			// as the recipient's provider received it (no VERP). The same
			// report without the token — only the Message-ID, which every
			// recipient sees — is a forgery as far as Petrel can tell: kept
			// as unattributed, no event.
			orig := delivered["away@far.test"].data
			parsed, err := mail.ReadMessage(bytes.NewReader(orig))
			if err != nil {
				t.Fatal(err)
			}
			if id, err := bounce.ParseFeedbackToken(parsed.Header.Get(bounce.FeedbackHeader), bounce.FeedbackKey(verpKey(t, e.cfg))); err != nil || id != ids["away@far.test"] {
				t.Fatalf("delivered message's %s = %q: %q, %v", bounce.FeedbackHeader, parsed.Header.Get(bounce.FeedbackHeader), id, err)
			}
			if err := sendInbound(inbound, "fbl@isp.test", "abuse@petrel.test", buildARF(withoutHeader(orig, bounce.FeedbackHeader))); err != nil {
				t.Fatal(err)
			}
			arf := buildARF(orig)
			if err := sendInbound(inbound, "fbl@isp.test", "fbl@petrel.test", arf); err != nil {
				t.Fatal(err)
			}
			evs = e.events(ids["away@far.test"], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.Complaint) >= 1 })
			if n := count(evs, event.Complaint); n != 1 {
				t.Errorf("complaints after a forged and a real report: %d, want 1", n)
			}
			c := detail[event.ComplaintDetail](t, *find(evs, event.Complaint, "away@far.test"))
			if c.ComplaintFeedbackType != "abuse" || c.UserAgent != "ISPFeedback/1.0" || c.ComplainedRecipients[0].EmailAddress != "away@far.test" ||
				c.ArrivalDate != "2026-11-22T10:00:00.000Z" {
				t.Errorf("complaint = %+v", c)
			}

			// 5. An out-of-office reply is recorded, never counted as a bounce.
			ooo := fmt.Appendf(nil, "From: Away <away@far.test>\r\nTo: %s\r\nSubject: Automatic reply: Hello\r\nAuto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n",
				delivered["away@far.test"].returnPath)
			if err := sendInbound(inbound, "", delivered["away@far.test"].returnPath, ooo); err != nil {
				t.Fatal(err)
			}
			evs = e.events(ids["away@far.test"], 10*time.Second, func(evs []event.Event) bool { return count(evs, event.AutoResponse) == 1 })
			if count(evs, event.Bounce) != 0 {
				t.Errorf("auto-reply counted as a bounce: %v", kinds(evs))
			}

			// 6. A report Petrel cannot tie to any message is kept and counted.
			stray := buildDSN("who@else.test", mxMessage{data: []byte("Message-ID: <not-ours@else.test>\r\n\r\nx\r\n")}, "failed", "5.1.1", "smtp; 550 5.1.1 unknown")
			if err := sendInbound(inbound, "", "postmaster@petrel.test", stray); err != nil {
				t.Fatal(err)
			}
			db := e.d.Services().DB
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM inbound_messages WHERE state = 'unattributed'").Scan(&n); err != nil || n != 2 {
				t.Errorf("unattributed messages = %d (%v), want 2 (the forged complaint and the stray DSN)", n, err)
			}
			if err := db.QueryRow("SELECT COUNT(*) FROM inbound_messages WHERE state = 'duplicate'").Scan(&n); err != nil || n != 1 {
				t.Errorf("duplicate messages = %d (%v), want 1", n, err)
			}
			evs = e.events(ids["retired@far.test"], time.Second, func([]event.Event) bool { return true })
			if count(evs, event.Bounce) != 1 {
				t.Errorf("a DSN delivered twice made %d bounces", count(evs, event.Bounce))
			}
		})
	}
}

// verpKey reads the data directory's VERP secret, from which the feedback
// token key is derived.
func verpKey(t *testing.T, cfg config.Config) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "verp.key"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// withoutHeader returns msg without the header field name (and its
// continuation lines).
func withoutHeader(msg []byte, name string) []byte {
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var out bytes.Buffer
	skip := false
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !skip {
				out.Write(line)
				out.WriteString("\r\n")
			}
			continue
		}
		n, _, _ := bytes.Cut(line, []byte(":"))
		if skip = strings.EqualFold(string(n), name); !skip {
			out.Write(line)
			out.WriteString("\r\n")
		}
	}
	out.WriteString("\r\n")
	out.Write(body)
	return out.Bytes()
}

type mxMessage struct {
	returnPath string
	data       []byte
}

// sendInbound sends raw to the inbound receiver as a remote MTA would.
func sendInbound(addr, from, to string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// buildDSN writes an RFC 3464 report as Postfix does, with the original
// message's headers attached.
func buildDSN(rcpt string, orig mxMessage, action, status, diag string) []byte {
	headers, _, _ := bytes.Cut(orig.data, []byte("\r\n\r\n"))
	subject := "Undelivered Mail Returned to Sender"
	if action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: MAILER-DAEMON@mx.far.test (Mail Delivery System)\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n", orig.returnPath, subject)
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\r\n\r\n")
	fmt.Fprintf(&b, "--B1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n<%s>: %s\r\n\r\n", rcpt, diag)
	fmt.Fprintf(&b, "--B1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.test\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\nDiagnostic-Code: %s\r\n", rcpt, action, status, diag)
	if action == "delayed" {
		b.WriteString("Will-Retry-Until: Wed, 25 Nov 2026 10:00:00 +0000\r\n")
	}
	fmt.Fprintf(&b, "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n%s\r\n\r\n--B1--\r\n", headers)
	return b.Bytes()
}

// buildARF writes an RFC 5965 feedback report that names no recipient and
// attaches the original message.
func buildARF(orig []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: fbl@isp.test\r\nTo: fbl@petrel.test\r\nSubject: Abuse report\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=feedback-report; boundary=\"F1\"\r\n\r\n")
	b.WriteString("--F1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n")
	b.WriteString("--F1\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ISPFeedback/1.0\r\nVersion: 1\r\nArrival-Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n")
	fmt.Fprintf(&b, "--F1\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--F1--\r\n", orig)
	return b.Bytes()
}
