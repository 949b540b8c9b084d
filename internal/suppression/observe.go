package suppression

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
)

// Observation is one recorded outcome of a message for one recipient, as
// ObserveTx reads it.
type Observation struct {
	Account   string
	MessageID string
	Recipient string // the address the outcome concerns; "" adds nothing
	// Detail is the event recorded: an event.BounceDetail or an
	// event.ComplaintDetail; every other kind is ignored.
	Detail event.Detail
	// Override is the configuration set's suppression policy
	// (PutConfigurationSetSuppressionOptions); nil: the account's applies.
	Override *Policy
	// Simulated marks mailbox-simulator traffic, which never adds
	// (../shared/spec/ses.md §6.2).
	Simulated bool
	Now       time.Time
}

// ARF feedback types (RFC 5965 §7.3) that are no complaint about the
// recipient's mail: a report of an authentication failure, and a
// recipient's "this is not spam".
var notComplaints = []string{"auth-failure", "not-spam"}

// ObserveTx applies, in tx (the transaction that records the event), the
// automatic additions an outcome makes (../shared/spec/ses.md §6.2):
//
//   - a Permanent bounce lists the address on the global list (GlobalPutTx),
//     whatever the account's policy, and on the account's list with reason
//     BOUNCE (MessageId, FeedbackId and the rule in Cause) when the
//     effective policy — o.Override, else the account's attributes — has
//     BOUNCE;
//   - a complaint lists it with reason COMPLAINT when the policy has
//     COMPLAINT;
//   - a Transient bounce whose reason is about the recipient
//     (bounce.RecipientScoped, and among the policy's Reasons when it names
//     any) is counted by the policy's soft-bounce policy, when it has one
//     and BOUNCE; reaching its Count within its Window lists the address
//     with reason BOUNCE until Now+SuppressFor.
//
// An addition never weakens an entry in force (addTx): it creates one when
// none is, may make an expiring entry last longer or for good, and leaves
// an unexpired permanent entry as it is (reason, cause and message).
//
// Nothing is added for simulator traffic, an empty recipient, a verdict
// about the sender (bounce.SenderScoped) or the message or transaction
// (bounce.TransactionScoped), Petrel's own suppression bounces (subtypes
// Suppressed and OnAccountSuppressionList), or complaints whose ARF
// feedback type is auth-failure or not-spam. Every other event kind
// (Send, Delivery, DeliveryDelay …) returns at once, touching no table.
func (l *List) ObserveTx(tx *sql.Tx, o Observation) error {
	switch d := o.Detail.(type) {
	case event.BounceDetail:
		return l.observeBounce(tx, o, d)
	case event.ComplaintDetail:
		return l.observeComplaint(tx, o, d)
	}
	return nil
}

// recipient parses o.Recipient; ok is false for an empty or unparsable one
// (nothing to suppress).
func (o Observation) recipient() (address.Address, bool) {
	if o.Simulated || strings.TrimSpace(o.Recipient) == "" {
		return address.Address{}, false
	}
	a, err := address.Parse(o.Recipient)
	return a, err == nil
}

func (l *List) observeBounce(tx *sql.Tx, o Observation, d event.BounceDetail) error {
	a, ok := o.recipient()
	if !ok || d.BounceSubType == bounce.Suppressed || d.BounceSubType == bounce.OnAccountSuppressionList {
		return nil
	}
	v := bounce.Verdict{Type: d.BounceType, SubType: d.BounceSubType, Reason: d.Reason, Rule: d.Rule}
	if bounce.SenderScoped(v.Reason) || bounce.TransactionScoped(v, a.Email()) {
		return nil
	}
	switch d.BounceType {
	case bounce.Permanent:
		cause := "hard bounce: " + describe(v)
		if _, err := l.GlobalPutTx(tx, a, o.Account, o.MessageID, cause, o.Now); err != nil {
			return fmt.Errorf("global suppression list: %w", err)
		}
		p, err := l.effectiveTx(tx, o)
		if err != nil || !p.Has(Bounce) {
			return err
		}
		return l.addTx(tx, o.Account, Entry{Address: a, Reason: Bounce, LastUpdate: o.Now,
			MessageID: o.MessageID, FeedbackID: d.FeedbackID, Cause: cause})
	case bounce.Transient:
		p, err := l.effectiveTx(tx, o)
		if err != nil || p.SoftBounce == nil || !p.Has(Bounce) {
			return err
		}
		return l.softBounceTx(tx, o, a, d, *p.SoftBounce)
	}
	return nil
}

// describe names a verdict's rule and reason for an entry's Cause.
func describe(v bounce.Verdict) string {
	rule, reason := v.Rule, v.Reason
	if rule == "" {
		rule = "-"
	}
	if reason == "" {
		reason = "-"
	}
	return fmt.Sprintf("%s/%s (rule %s, reason %s)", v.Type, v.SubType, rule, reason)
}

func (l *List) observeComplaint(tx *sql.Tx, o Observation, d event.ComplaintDetail) error {
	a, ok := o.recipient()
	if !ok || d.ComplaintSubType != nil && *d.ComplaintSubType == bounce.OnAccountSuppressionList ||
		slices.Contains(notComplaints, strings.ToLower(d.ComplaintFeedbackType)) {
		return nil
	}
	p, err := l.effectiveTx(tx, o)
	if err != nil || !p.Has(Complaint) {
		return err
	}
	ft := d.ComplaintFeedbackType
	if ft == "" {
		ft = "-"
	}
	return l.addTx(tx, o.Account, Entry{Address: a, Reason: Complaint, LastUpdate: o.Now,
		MessageID: o.MessageID, FeedbackID: d.FeedbackID, Cause: "complaint (feedback type " + ft + ")"})
}

// effectiveTx is the policy in force for o: its Override, else the
// account's attributes read in tx.
func (l *List) effectiveTx(tx *sql.Tx, o Observation) (Policy, error) {
	if o.Override != nil {
		return *o.Override, nil
	}
	var reasons, soft string
	err := tx.QueryRow(l.db.Rebind("SELECT reasons, soft_bounce FROM suppression_attributes WHERE account = ?"), o.Account).Scan(&reasons, &soft)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultPolicy(), nil
	}
	if err != nil {
		return Policy{}, err
	}
	return DecodePolicy(reasons, soft)
}

// softBounceTx counts a Transient bounce of a under the soft-bounce policy
// sb: a bounce whose reason sb counts (SoftBounce.counts) is stored (soft_bounces); rows
// older than the window are dropped; when Count are within the window, a
// is listed with reason BOUNCE until Now+SuppressFor and its rows deleted.
func (l *List) softBounceTx(tx *sql.Tx, o Observation, a address.Address, d event.BounceDetail, sb SoftBounce) error {
	if !sb.counts(d.Reason) {
		return nil
	}
	key, now := a.Key(), o.Now.UnixMilli()
	since := o.Now.Add(-sb.Window).UnixMilli()
	if _, err := tx.Exec(l.db.Rebind("DELETE FROM soft_bounces WHERE account = ? AND address = ? AND at_ms <= ?"), o.Account, key, since); err != nil {
		return err
	}
	if _, err := tx.Exec(l.db.Rebind("INSERT INTO soft_bounces (account, address, at_ms, reason, message_id) VALUES (?, ?, ?, ?, ?)"),
		o.Account, key, now, d.Reason, o.MessageID); err != nil {
		return err
	}
	rows, err := tx.Query(l.db.Rebind("SELECT reason FROM soft_bounces WHERE account = ? AND address = ? AND at_ms > ? AND at_ms <= ?"),
		o.Account, key, since, now)
	if err != nil {
		return err
	}
	var reasons []string
	n := 0
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return err
		}
		n++
		if r == "" {
			r = "-"
		}
		if !slices.Contains(reasons, r) {
			reasons = append(reasons, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if n < sb.Count {
		return nil
	}
	if _, err := tx.Exec(l.db.Rebind("DELETE FROM soft_bounces WHERE account = ? AND address = ? AND at_ms <= ?"), o.Account, key, now); err != nil {
		return err
	}
	slices.Sort(reasons)
	return l.addTx(tx, o.Account, Entry{Address: a, Reason: Bounce, LastUpdate: o.Now, Expires: o.Now.Add(sb.SuppressFor),
		MessageID: o.MessageID, FeedbackID: d.FeedbackID,
		Cause: fmt.Sprintf("soft-bounce policy: %d transient bounces (%s) within %s", n, strings.Join(reasons, ", "), days(sb.Window))})
}

// days writes a whole number of days as "3d", anything else as
// time.Duration does.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
