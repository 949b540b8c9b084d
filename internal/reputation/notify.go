package reputation

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// announce tells the operator (a log line at Warn) and the account's
// contacts (an email each, through Mailer) of a status change of cur's
// scope to to. A contact list that cannot be read or an email that cannot
// be queued is logged; the change stands.
func (s *Service) announce(ctx context.Context, cur Report, to Status, f Figures, cause string) {
	attrs := []any{"account", cur.Account, "configuration_set", cur.ConfigurationSet, "from", string(cur.Status), "to", string(to), "cause", cause}
	if cause != "resume" {
		attrs = append(attrs, "bounce_rate", f.BounceRate(), "complaint_rate", f.ComplaintRate(),
			"window_start", f.WindowStart.UTC().Format(time.RFC3339), "sends", f.Sends, "hard_bounces", f.HardBounces,
			"feedback_sends", f.FeedbackSends, "complaints", f.Complaints, "enforced", f.Enforced)
	}
	s.log().Warn("reputation status changed", attrs...)
	if s.Contacts == nil || s.Mailer == nil || s.cfg.From == "" {
		return
	}
	rcpts, err := s.Contacts(ctx, cur.Account)
	if err != nil {
		s.log().Error("reading the account's contact addresses for a reputation notification", "account", cur.Account, "err", err)
		return
	}
	for _, r := range rcpts {
		msg := s.notification(cur, to, f, cause, r)
		// The null reverse-path: a notification that cannot be delivered
		// is never reported back (RFC 5321 §4.5.5).
		if err := s.Mailer.SendSystemMail(ctx, cur.Account, "", r, msg); err != nil {
			s.log().Error("queueing a reputation notification", "account", cur.Account, "rcpt", r, "err", err)
		}
	}
}

// notification is the email telling rcpt of a status change.
func (s *Service) notification(cur Report, to Status, f Figures, cause, rcpt string) []byte {
	what := "account " + cur.Account
	if cur.ConfigurationSet != "" {
		what = "configuration set " + cur.ConfigurationSet + " of account " + cur.Account
	}
	var subject, lead string
	switch {
	case to == Shutdown:
		subject = "Sending paused for " + what
		lead = "Sending for " + what + " has been paused because its bounce or complaint rate reached the pause threshold.\n" +
			"Messages sent with it are refused (SendingPausedException, SMTP 554) until the operator resumes it."
	case to == Probation:
		subject = "Sending for " + what + " is under review"
		lead = "The bounce or complaint rate of " + what + " reached the review threshold.\n" +
			"If it reaches the pause threshold, sending will be paused."
	case cause == "resume":
		subject = "Sending resumed for " + what
		lead = "The operator resumed sending for " + what + ". Its rates start afresh: only mail sent from now on counts."
	default:
		subject = "Sending for " + what + " is healthy again"
		lead = "The bounce and complaint rates of " + what + " are below the review thresholds again."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n", s.cfg.From, rcpt, subject)
	b.WriteString(strings.ReplaceAll(lead, "\n", "\r\n") + "\r\n\r\n")
	fmt.Fprintf(&b, "Status: %s -> %s\r\n", cur.Status, to)
	if cause != "resume" {
		fmt.Fprintf(&b, "Bounce rate: %s (%d hard bounces of %d sends; review at %s, pause at %s)\r\n",
			Percent(f.BounceRate()), f.HardBounces, f.Sends, Percent(s.cfg.BounceReview), Percent(s.cfg.BouncePause))
		fmt.Fprintf(&b, "Complaint rate: %s (%d complaints of %d sends to ISPs that report them; review at %s, pause at %s)\r\n",
			Percent(f.ComplaintRate()), f.Complaints, f.FeedbackSends, Percent(s.cfg.ComplaintReview), Percent(s.cfg.ComplaintPause))
		fmt.Fprintf(&b, "Window: since %s\r\n", f.WindowStart.UTC().Format(time.RFC3339))
	}
	return []byte(b.String())
}

// Percent renders a rate as a percentage with up to three decimals
// ("10.2%", "0.1%").
func Percent(r float64) string {
	s := fmt.Sprintf("%.3f", r*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
