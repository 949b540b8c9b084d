package suppression

import (
	"context"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// The diagnosticCode of the bounces Petrel records for suppressed
// recipients, in SES's words (its Permanent/OnAccountSuppressionList and
// Permanent/Suppressed bounces).
const (
	AccountListDiagnostic = "Amazon SES did not send the message to this address because it is on the suppression list for your account. " +
		"For more information about removing addresses from the suppression list, see the Amazon SES Developer Guide at " +
		"https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html"
	GlobalListDiagnostic = "Amazon SES has suppressed sending to this address because it has a recent history of bouncing as an invalid address. " +
		"For more information about how to remove an address from the suppression list, see the Amazon SES Developer Guide: " +
		"http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html"
)

// The Verdict.Rule of those bounces (Petrel's "rule" field; their reason
// is bounce.ReasonSuppressed).
const (
	RuleAccountList = "account-suppression-list"
	RuleGlobalList  = "global-suppression-list"
)

// Suppressed is a recipient Check found suppressed: its index in the
// recipients given, and the Bounce event to record for it instead of
// sending (ReportingMTA left for the caller to fill).
type Suppressed struct {
	Index  int
	Bounce event.BounceDetail
}

// Check says which of rcpts must not be sent to, for account sending with
// the configuration set policy override (nil: none), at the List's clock
// (../shared/spec/ses.md §6.1, precedence configuration set > account >
// global):
//
//   - when the effective policy's Reasons are non-empty (the account list is
//     in use), a recipient is suppressed when the account list holds it,
//     unexpired, with one of those reasons — bounce Permanent /
//     OnAccountSuppressionList — and otherwise is sent, even when globally
//     listed (the account list overrides the global one);
//   - when they are empty (the list is disabled for the account or by the
//     override), a recipient on the global list is suppressed — bounce
//     Permanent / Suppressed.
//
// It costs one prepared query for all recipients (the account's entries and its
// attributes together), and one more of the global list only when the
// account list is not in use. Each bounce has action "failed", status
// "5.1.1" and SES's diagnosticCode.
func (l *List) Check(ctx context.Context, account string, override *Policy, rcpts []address.Address) ([]Suppressed, error) {
	if len(rcpts) == 0 {
		return nil, nil
	}
	// Almost always no recipient can be listed: the prefilter says so
	// without reading the database.
	keys := make([]pfKey, 0, 2*len(rcpts))
	for _, r := range rcpts {
		k := r.Key()
		keys = append(keys, pfKey{account, k}, pfKey{"", k})
	}
	if maybe, ok := l.pf.maybe(time.Now(), keys...); ok && !maybe {
		return nil, nil
	}
	now := l.now()
	args := make([]any, 0, len(rcpts)+2)
	args = append(args, account)
	for _, r := range rcpts {
		args = append(args, r.Key())
	}
	// The attributes come back as a row with address '' (no address has an
	// empty key): reason holds the policy's reasons.
	q := "SELECT address, reason, expires_ms FROM suppressed_destinations WHERE account = ? AND address IN (" + store.Placeholders(len(rcpts)) + ")"
	if override == nil {
		q += " UNION ALL SELECT '', reasons, 0 FROM suppression_attributes WHERE account = ?"
		args = append(args, account)
	}
	// Prepared: at most two statements per recipient count (50 by SES's
	// limit), each parsed once per connection.
	st, err := l.db.Prepared(q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	held := map[string]Reason{}
	attrs, haveAttrs := "", false
	for rows.Next() {
		var key, reason string
		var expires int64
		if err := rows.Scan(&key, &reason, &expires); err != nil {
			rows.Close()
			return nil, err
		}
		switch {
		case key == "":
			attrs, haveAttrs = reason, true
		case expires == 0 || expires > now.UnixMilli():
			held[key] = Reason(reason)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var reasons []Reason
	switch {
	case override != nil:
		reasons = override.Reasons
	case haveAttrs:
		p, err := DecodePolicy(attrs, "")
		if err != nil {
			return nil, err
		}
		reasons = p.Reasons
	default:
		reasons = DefaultPolicy().Reasons
	}
	var out []Suppressed
	if len(reasons) > 0 {
		for i, r := range rcpts {
			if reason, ok := held[r.Key()]; ok && slices.Contains(reasons, reason) {
				out = append(out, suppressed(i, r, bounce.OnAccountSuppressionList, RuleAccountList, AccountListDiagnostic, now))
			}
		}
		return out, nil
	}
	if st, err = l.db.Prepared("SELECT address FROM global_suppressions WHERE address IN (" + store.Placeholders(len(rcpts)) + ") AND expires_ms > ?"); err != nil {
		return nil, err
	}
	rows, err = st.QueryContext(ctx, append(args[1:1+len(rcpts):1+len(rcpts)], now.UnixMilli())...)
	if err != nil {
		return nil, err
	}
	listed, err := store.StringSet(rows)
	if err != nil {
		return nil, err
	}
	for i, r := range rcpts {
		if listed[r.Key()] {
			out = append(out, suppressed(i, r, bounce.Suppressed, RuleGlobalList, GlobalListDiagnostic, now))
		}
	}
	return out, nil
}

func suppressed(i int, r address.Address, subType, rule, diagnostic string, now time.Time) Suppressed {
	return Suppressed{Index: i, Bounce: event.BounceDetail{
		BounceType: bounce.Permanent, BounceSubType: subType,
		BouncedRecipients: []event.BouncedRecipient{{EmailAddress: r.Email(), Action: "failed", Status: "5.1.1", DiagnosticCode: diagnostic}},
		Timestamp:         event.Timestamp(now), FeedbackID: event.NewID(now), Reason: bounce.ReasonSuppressed, Rule: rule,
	}}
}
