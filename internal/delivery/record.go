package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/smtpreply"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Attempt results, the "outcome" of the per-attempt log line.
const (
	resultDelivered = "delivered" // 2xx: Delivery event, entry retired
	resultBounced   = "bounced"   // 5xx, or retries ran out: Bounce event, entry retired
	resultDeferred  = "deferred"  // temporary failure: DeliveryDelay event, retried at next_attempt
)

// record stores the outcome of an attempt: event plus queue change, in one
// group-committed transaction (see save), and logs the attempt. Every
// outcome passes through here, so this is where the reply text becomes one
// line (oneLine): the texts Petrel builds from Go errors (DNS, connect, TLS,
// I/O) and the receivers' own go into diagnosticCode, smtpResponse and the
// queue's last error only as single lines without control characters.
func (d *Deliverer) record(e *queue.Entry, o outcome, now time.Time) {
	o.reply.Text = oneLine(o.reply.Text)
	if o.reply.Code == 0 {
		o.reply = smtpreply.Reply{Code: 451, Enhanced: "4.0.0", Text: "Unknown delivery failure"}
	}
	r := o.reply
	var fn func(tx *sql.Tx) error
	var next time.Time
	result := resultBounced
	switch {
	case r.Positive():
		result = resultDelivered
		fn = d.finish(e, event.DeliveryDetail{
			Timestamp: event.Timestamp(now), ProcessingTimeMillis: now.Sub(e.Created).Milliseconds(),
			Recipients: []string{e.Rcpt}, SMTPResponse: r.String(), ReportingMTA: d.cfg.Hostname, RemoteMtaIP: o.remoteIP,
			Attempts: e.Attempts + 1})
	case r.Permanent():
		// A 5xx is final for this message, whatever the verdict: Transient
		// means the address is good but the receiver refused this mail
		// (policy, content, reputation), so it is not suppressed.
		fn = d.finish(e, d.bounceDetail(e, d.verdict(e, o), r, o.remoteIP, now))
	case !now.Before(e.Deadline):
		// Retries ran out: the last answer decides the type, and an answer
		// the rules call Permanent (a 4.1.1, say) is reported as such; the
		// status and diagnostic are SES's expiry (expired).
		v := d.verdict(e, o)
		if v.Type != bounce.Permanent {
			v.Type = bounce.Transient
			if v.SubType == bounce.Undetermined || v.SubType == "" {
				v.SubType = bounce.General
			}
		}
		fn = d.finish(e, d.bounceDetail(e, v, expired(e, r), o.remoteIP, now))
	default:
		result = resultDeferred
		attempts := e.Attempts + 1
		next = now.Add(d.backoff(attempts))
		if next.After(e.Deadline) {
			next = e.Deadline
		}
		delay := event.DeliveryDelayDetail{
			Timestamp: event.Timestamp(now), DelayType: bounce.DelayType(r, d.verdict(e, o)), ExpirationTime: event.Timestamp(e.Deadline),
			DelayedRecipients: []event.DelayedRecipient{{EmailAddress: e.Rcpt, Status: r.Status(), DiagnosticCode: "smtp; " + r.String()}},
			ReportingMTA:      o.remoteIP,
		}
		fn = func(tx *sql.Tx) error {
			if err := d.events.AddTx(tx, e.MessageID, e.Account, e.Rcpt, now, delay); err != nil {
				return err
			}
			return d.queue.RescheduleTx(tx, e.ID, attempts, next, r.String())
		}
	}
	d.logAttempt(e, o, result, next, now)
	d.save(e, fn, result == resultDeferred)
}

// expired is the reply recorded for an entry whose retries ran out, in the
// words of SES's own expiry bounces (Status 4.4.7, RFC 3463 delivery time
// expired): "554 4.4.7 Message expired: unable to deliver in 840
// minutes.<421 4.4.2 Connection timed out>", the minutes counted from
// acceptance to the deadline, then the last answer in angle brackets.
func expired(e *queue.Entry, last smtpreply.Reply) smtpreply.Reply {
	minutes := int64(e.Deadline.Sub(e.Created).Round(time.Minute) / time.Minute)
	return smtpreply.Reply{Code: 554, Enhanced: "4.4.7",
		Text: fmt.Sprintf("Message expired: unable to deliver in %d minutes.<%s>", minutes, last)}
}

// oneLine makes s fit on one line of an event or a log: line breaks (a
// joined error's "\n", a bare CR) become "; ", every other control
// character a space, and invalid UTF-8 U+FFFD.
func oneLine(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	breakRun := false
	for _, c := range s {
		switch {
		case c == '\r' || c == '\n':
			if !breakRun {
				b.WriteString("; ")
			}
			breakRun = true
			continue
		case unicode.IsControl(c):
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
		breakRun = false
	}
	return strings.Trim(b.String(), " ;")
}

// logAttempt writes the Debug line of one attempt. Per-message history is
// in the event log; this line is for an operator following a destination's
// conversations, so it costs nothing when Debug is off.
func (d *Deliverer) logAttempt(e *queue.Entry, o outcome, result string, next, now time.Time) {
	ctx := context.Background()
	if !d.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var ms int64
	if !o.start.IsZero() {
		ms = now.Sub(o.start).Milliseconds()
	}
	attrs := []slog.Attr{
		slog.String("message_id", e.MessageID),
		slog.String("rcpt", e.Rcpt),
		slog.String("site", d.siteName(e)),
		slog.String("remote_ip", o.remoteIP),
		slog.Bool("tls", o.tls),
		slog.String("command", o.command),
		slog.Int("code", o.reply.Code),
		slog.String("enhanced", o.reply.Enhanced),
		slog.String("text", o.reply.Text),
		slog.Int64("duration_ms", ms),
		slog.Int("attempt", e.Attempts+1),
		slog.String("outcome", result),
	}
	if result == resultDeferred {
		attrs = append(attrs, slog.Time("next_attempt", next))
	}
	d.log.LogAttrs(ctx, slog.LevelDebug, "delivery attempt", attrs...)
}

// verdict classifies an attempt's answer: Petrel's own decision when the
// attempt carries one, else the bounce rules in force.
func (d *Deliverer) verdict(e *queue.Entry, o outcome) bounce.Verdict {
	if o.verdict != nil {
		return *o.verdict
	}
	a := bounce.AnswerOf(o.reply)
	a.Command = o.command
	a.Domain = e.Domain
	return d.cfg.Rules.Classify(a)
}

// save group-commits the record of an attempt without waiting for it: the
// worker goes on to its next entry. Should the record be lost (crash before
// the commit, or a failed transaction), the entry stays leased and is tried
// again after the lease or at restart — delivery is at-least-once.
func (d *Deliverer) save(e *queue.Entry, fn func(*sql.Tx) error, retry bool) {
	err := d.batch.Submit(fn, func(err error) {
		if err != nil {
			d.log.Error("recording delivery outcome", "message_id", e.MessageID, "rcpt", e.Rcpt, "err", err)
		}
		if retry {
			d.Kick() // the poller's next wake-up may now be earlier
		}
	})
	if err != nil {
		d.log.Error("recording delivery outcome", "message_id", e.MessageID, "rcpt", e.Rcpt, "err", err)
	}
}

func (d *Deliverer) bounceDetail(e *queue.Entry, v bounce.Verdict, r smtpreply.Reply, remoteIP string, now time.Time) event.BounceDetail {
	return event.BounceDetail{
		BounceType: v.Type, BounceSubType: v.SubType, Reason: v.Reason, Rule: v.Rule,
		BouncedRecipients: []event.BouncedRecipient{{EmailAddress: e.Rcpt, Action: "failed", Status: r.Status(), DiagnosticCode: "smtp; " + r.String()}},
		Timestamp:         event.Timestamp(now), FeedbackID: event.NewID(now), RemoteMtaIP: remoteIP, ReportingMTA: "dsn; " + d.cfg.Hostname,
		Attempts: e.Attempts + 1, ProcessingTimeMillis: now.Sub(e.Created).Milliseconds(),
	}
}

// finish returns the transaction that records a final event and retires e.
func (d *Deliverer) finish(e *queue.Entry, detail event.Detail) func(*sql.Tx) error {
	now := time.Now()
	override := d.override(e, detail)
	return func(tx *sql.Tx) error {
		if err := d.events.AddTx(tx, e.MessageID, e.Account, e.Rcpt, now, detail); err != nil {
			return err
		}
		if err := d.observe(tx, e, detail, override, false, now); err != nil {
			return err
		}
		return d.retire(tx, e)
	}
}

// observe hands a recorded outcome of e to the suppression lists, in the
// transaction that records it, with the suppression override of e's
// configuration set (nil: the account's policy decides).
func (d *Deliverer) observe(tx *sql.Tx, e *queue.Entry, detail event.Detail, override *suppression.Policy, simulated bool, now time.Time) error {
	if d.Suppression == nil || e.System {
		// System mail (feedback reports to the customer's own Return-Path)
		// never adds the customer's addresses to their suppression list.
		return nil
	}
	return d.Suppression.ObserveTx(tx, suppression.Observation{Account: e.Account, MessageID: e.MessageID, Recipient: e.Rcpt,
		Detail: detail, Override: override, Simulated: simulated, Now: now})
}

// override is the suppression override of e's configuration set, for an
// outcome the suppression lists act on (a Bounce or Complaint), read
// before the recording transaction (from the configset cache). A set that
// cannot be read is logged and the account's policy decides: the outcome
// is recorded all the same.
func (d *Deliverer) override(e *queue.Entry, detail event.Detail) *suppression.Policy {
	if e.ConfigurationSet == "" || d.ConfigSets == nil || d.Suppression == nil {
		return nil
	}
	if k := detail.Kind(); k != event.Bounce && k != event.Complaint {
		return nil
	}
	p, err := d.ConfigSets.SuppressionOverride(context.Background(), e.Account, e.ConfigurationSet)
	if err != nil {
		d.log.Error("reading the configuration set's suppression override; the account's policy decides",
			"message_id", e.MessageID, "configuration_set", e.ConfigurationSet, "err", err)
	}
	return p
}

// retire deletes e's queue entry in tx, and its message's body when e was
// the last entry of the message.
func (d *Deliverer) retire(tx *sql.Tx, e *queue.Entry) error {
	if err := d.queue.DeleteTx(tx, e.ID); err != nil {
		return err
	}
	return d.spool.ReleaseBodyTx(tx, e.MessageID, d.queue.PendingTx)
}

// recordSimulated stores the events SES produces for a simulator recipient.
func (d *Deliverer) recordSimulated(e *queue.Entry, o simulator.Outcome, now time.Time) {
	ts := event.Timestamp(now)
	fn := func(tx *sql.Tx) error {
		if o.Delivered {
			if err := d.events.AddTx(tx, e.MessageID, e.Account, e.Rcpt, now, event.DeliveryDetail{
				Timestamp: ts, ProcessingTimeMillis: now.Sub(e.Created).Milliseconds(), Recipients: []string{e.Rcpt},
				SMTPResponse: simulator.SMTPResponse, ReportingMTA: d.cfg.Hostname, Attempts: e.Attempts + 1}); err != nil {
				return err
			}
		}
		if b := o.Bounce; b != nil {
			bd := event.BounceDetail{
				BounceType: b.Type, BounceSubType: b.SubType,
				BouncedRecipients: []event.BouncedRecipient{{EmailAddress: e.Rcpt, Action: b.Action, Status: b.Status, DiagnosticCode: b.Diagnostic}},
				Timestamp:         ts, FeedbackID: event.NewID(now), ReportingMTA: reportingMTA(b, d.cfg.Hostname),
				Attempts: e.Attempts + 1, ProcessingTimeMillis: now.Sub(e.Created).Milliseconds()}
			if err := d.events.AddTx(tx, e.MessageID, e.Account, e.Rcpt, now, bd); err != nil {
				return err
			}
			if err := d.observe(tx, e, bd, nil, true, now); err != nil {
				return err
			}
		}
		if c := o.Complaint; c != nil {
			cd := event.ComplaintDetail{
				ComplainedRecipients: []event.Recipient{{EmailAddress: e.Rcpt}}, Timestamp: ts, FeedbackID: event.NewID(now),
				UserAgent: c.UserAgent, ComplaintFeedbackType: c.FeedbackType, ArrivalDate: ts}
			if err := d.events.AddTx(tx, e.MessageID, e.Account, e.Rcpt, now, cd); err != nil {
				return err
			}
			if err := d.observe(tx, e, cd, nil, true, now); err != nil {
				return err
			}
		}
		return d.retire(tx, e)
	}
	d.save(e, fn, false)
}

func reportingMTA(b *simulator.Bounce, host string) string {
	if b.Action == "" {
		return ""
	}
	return "dsn; " + host
}

// backoff is the delay before attempt n+1: RetryBase·2^(n-1), at most
// RetryMax, with ±20 % jitter so retries of one outage spread out.
func (d *Deliverer) backoff(n int) time.Duration {
	b := float64(d.cfg.RetryBase) * math.Pow(2, float64(n-1))
	if b > float64(d.cfg.RetryMax) {
		b = float64(d.cfg.RetryMax)
	}
	return time.Duration(b * (0.8 + 0.4*mrand.Float64()))
}
