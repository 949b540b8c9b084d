// Package suppression owns the suppression lists (../shared/spec/ses.md §6):
// each account's list of addresses Petrel will not send to (SES's
// account-level suppression list, SuppressedDestination), the account's
// suppression attributes (which outcomes add an address, and Petrel's
// soft-bounce policy), and the global list shared by every account of this
// Petrel.
//
// Addresses are compared by address.Address.Key: the domain as an A-label
// (so case-insensitively, and U-labels equal their A-labels), the local part
// lower-cased in ASCII. SES documents local parts as case-sensitive but
// treats them case-insensitively in practice; Petrel does the same, so
// "Jane@Example.com" and "jane@example.com" are one entry, shown as last
// written.
package suppression

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/store"
)

// Reason is why an address is suppressed (SES: SuppressionListReason).
type Reason string

// The reasons SES defines.
const (
	Bounce    Reason = "BOUNCE"    // a hard (Permanent) bounce
	Complaint Reason = "COMPLAINT" // a complaint
)

// ErrNotFound is returned for an address that is not on the list.
var ErrNotFound = errors.New("not on the suppression list")

// ErrInvalidToken is returned by ListPage for a NextToken that does not
// decode as one of its tokens (SES: InvalidNextTokenException). Tokens are
// not signed: a hand-made one that decodes starts the listing where it
// says, within the caller's own list only.
var ErrInvalidToken = errors.New("invalid NextToken")

// ParseReason parses "BOUNCE" or "COMPLAINT" (exactly, as SES's enum).
func ParseReason(s string) (Reason, error) {
	switch r := Reason(s); r {
	case Bounce, Complaint:
		return r, nil
	}
	return "", fmt.Errorf("reason %q is not one of BOUNCE, COMPLAINT", s)
}

// Entry is one address on an account's list (SES: SuppressedDestination).
type Entry struct {
	Address    address.Address
	Reason     Reason
	LastUpdate time.Time // SES: LastUpdateTime; StartDate/EndDate filter on it
	// Expires is when the entry lifts by itself; zero: never (every entry
	// SES makes, and every entry put by hand or import).
	Expires time.Time
	// MessageID is the message whose outcome caused the entry and
	// FeedbackID that outcome's feedbackId (SES: Attributes); both "" for
	// entries put by hand or import.
	MessageID  string
	FeedbackID string
	// Cause says in words why the entry was made: "PutSuppressedDestination",
	// "import job <id>", the bounce rule and reason, the soft-bounce policy
	// (Petrel's addition to Attributes).
	Cause string
}

// Policy says which outcomes add a recipient to an account's list, for an
// account (PutAccountSuppressionAttributes) or, overriding it, for a
// configuration set (PutConfigurationSetSuppressionOptions).
type Policy struct {
	// Reasons are the SuppressedReasons: a Permanent bounce adds with
	// Bounce when Bounce is here, a complaint with Complaint. Empty: the
	// account list is not in use (nothing is added, and at sending only the
	// global list applies).
	Reasons []Reason
	// SoftBounce is Petrel's soft-bounce policy; nil: off.
	SoftBounce *SoftBounce
}

// DefaultPolicy is the policy of an account that never set one: SES enables
// BOUNCE and COMPLAINT for new accounts (../shared/spec/ses.md §6.1).
func DefaultPolicy() Policy { return Policy{Reasons: []Reason{Bounce, Complaint}} }

// Has reports whether r is among p's reasons.
func (p Policy) Has(r Reason) bool { return slices.Contains(p.Reasons, r) }

// SoftBounce is Petrel's soft-bounce policy (beyond SES): after Count
// Transient bounces of one address within Window, the address is put on the
// account list with reason BOUNCE for SuppressFor, then lifts by itself.
type SoftBounce struct {
	Count       int           // bounces that trigger, 2–100
	Window      time.Duration // over which they are counted, 1 h–90 days
	SuppressFor time.Duration // how long the entry lasts, 1 h–365 days
	// Reasons limits the bounces counted to these bounce-rule reasons
	// (docs/bounces.md, e.g. "mailbox-full"), each one of
	// bounce.RecipientScopedReasons; empty counts every Transient bounce
	// whose reason is about the recipient (bounce.RecipientScoped). A
	// bounce whose reason says nothing about the address (network-error,
	// system-error, policy-rejected, expired, other, undetermined, a
	// sender's or message's reason) is never counted.
	Reasons []string
}

// Limits of a SoftBounce policy.
const (
	MinSoftCount, MaxSoftCount     = 2, 100
	MinSoftWindow, MaxSoftWindow   = time.Hour, 90 * 24 * time.Hour
	MinSuppressFor, MaxSuppressFor = time.Hour, 365 * 24 * time.Hour
)

// Validate checks the policy's ranges and reasons, naming the first one
// out of range, and for a reason that is not a bounce-rule reason or is not
// about the recipient (bounce.RecipientScoped), the reasons that may be
// named.
func (sb SoftBounce) Validate() error {
	if err := sb.validateRanges(); err != nil {
		return err
	}
	for _, r := range sb.Reasons {
		switch {
		case !bounce.KnownReason(r):
			return fmt.Errorf("reason %q is not a bounce-rule reason: Reasons may name any of %s", r, strings.Join(bounce.RecipientScopedReasons(), ", "))
		case !bounce.RecipientScoped(r):
			return fmt.Errorf("reason %q says nothing about the recipient and is never counted: Reasons may name any of %s", r, strings.Join(bounce.RecipientScopedReasons(), ", "))
		}
	}
	return nil
}

// validateRanges checks Count, Window and SuppressFor.
func (sb SoftBounce) validateRanges() error {
	switch {
	case sb.Count < MinSoftCount || sb.Count > MaxSoftCount:
		return fmt.Errorf("BounceCount %d is out of range (%d-%d)", sb.Count, MinSoftCount, MaxSoftCount)
	case sb.Window < MinSoftWindow || sb.Window > MaxSoftWindow:
		return fmt.Errorf("WindowSeconds %d is out of range (%d-%d)", int64(sb.Window/time.Second), int64(MinSoftWindow/time.Second), int64(MaxSoftWindow/time.Second))
	case sb.SuppressFor < MinSuppressFor || sb.SuppressFor > MaxSuppressFor:
		return fmt.Errorf("SuppressSeconds %d is out of range (%d-%d)", int64(sb.SuppressFor/time.Second), int64(MinSuppressFor/time.Second), int64(MaxSuppressFor/time.Second))
	}
	return nil
}

// counts reports whether sb counts a Transient bounce of reason: one about
// the recipient (bounce.RecipientScoped), and among sb.Reasons when it
// names any. A stored policy naming another reason counts nothing for it.
func (sb SoftBounce) counts(reason string) bool {
	return bounce.RecipientScoped(reason) && (len(sb.Reasons) == 0 || slices.Contains(sb.Reasons, reason))
}

// SoftBounceJSON is the wire and storage form of a SoftBounce policy: the
// member "SoftBouncePolicy" of Petrel's extension to
// PutAccountSuppressionAttributes, GetAccount.SuppressionAttributes and the
// configuration set's SuppressionOptions (docs/suppression.md).
type SoftBounceJSON struct {
	BounceCount     int      `json:"BounceCount"`
	WindowSeconds   int64    `json:"WindowSeconds"`
	SuppressSeconds int64    `json:"SuppressSeconds"`
	Reasons         []string `json:"Reasons,omitempty"`
}

// JSON returns sb's wire form.
func (sb SoftBounce) JSON() SoftBounceJSON {
	return SoftBounceJSON{BounceCount: sb.Count, WindowSeconds: int64(sb.Window / time.Second),
		SuppressSeconds: int64(sb.SuppressFor / time.Second), Reasons: sb.Reasons}
}

// Policy returns j as a SoftBounce, validated (SoftBounce.Validate).
func (j SoftBounceJSON) Policy() (SoftBounce, error) {
	sb := j.softBounce()
	return sb, sb.Validate()
}

func (j SoftBounceJSON) softBounce() SoftBounce {
	return SoftBounce{Count: j.BounceCount, Window: time.Duration(j.WindowSeconds) * time.Second,
		SuppressFor: time.Duration(j.SuppressSeconds) * time.Second, Reasons: j.Reasons}
}

// List is the suppression store.
type List struct {
	db     *store.DB
	now    func() time.Time
	global GlobalConfig // SetGlobalConfig; DefaultGlobalConfig until then
	pf     prefilter    // RunPrefilter keeps it; until then Check reads the database
}

// New returns the List over db; now is the clock (nil: time.Now), injected
// so that expiry can be tested.
func New(db *store.DB, now func() time.Time) *List {
	if now == nil {
		now = time.Now
	}
	return &List{db: db, now: now, global: DefaultGlobalConfig()}
}

// Now is the List's clock.
func (l *List) Now() time.Time { return l.now() }

const entryColumns = "address, email, reason, updated_ms, expires_ms, message_id, feedback_id, cause"

// overwriteEntry is the upsert clause that replaces an entry of the same
// address with the one being written.
const overwriteEntry = `ON CONFLICT (account, address) DO UPDATE SET email = excluded.email, reason = excluded.reason,
	updated_ms = excluded.updated_ms, expires_ms = excluded.expires_ms, message_id = excluded.message_id,
	feedback_id = excluded.feedback_id, cause = excluded.cause`

// Put adds e to account's list, or overwrites the entry of the same
// address (SES: PutSuppressedDestination; an import's PUT). A zero
// e.LastUpdate is the List's clock's now.
func (l *List) Put(ctx context.Context, account string, e Entry) error {
	return l.db.Tx(ctx, func(tx *sql.Tx) error { return l.PutTx(tx, account, e) })
}

// PutTx is Put within tx.
func (l *List) PutTx(tx *sql.Tx, account string, e Entry) error {
	return l.upsertTx(tx, account, e, false)
}

// addTx is an automatic addition (ObserveTx) of e within tx: it creates
// the entry when none is in force (none, or one past its expiry); it turns
// an entry that expires into e when e lasts longer (a later expiry, or none);
// it never changes an unexpired permanent entry, nor shortens one. The
// condition is in the upsert itself, so concurrent nodes agree. Put and
// imports overwrite, as SES's PutSuppressedDestination does.
func (l *List) addTx(tx *sql.Tx, account string, e Entry) error {
	return l.upsertTx(tx, account, e, true)
}

// upsertTx writes e, overwriting the entry of its address — only when that
// one is weaker than e if onlyStronger (addTx's rule).
func (l *List) upsertTx(tx *sql.Tx, account string, e Entry, onlyStronger bool) error {
	if e.LastUpdate.IsZero() {
		e.LastUpdate = l.now()
	}
	l.pf.add(pfKey{account, e.Address.Key()})
	q := `INSERT INTO suppressed_destinations (account, ` + entryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ` + overwriteEntry
	args := []any{account, e.Address.Key(), e.Address.Email(), string(e.Reason), e.LastUpdate.UnixMilli(), unixMilli(e.Expires),
		e.MessageID, e.FeedbackID, e.Cause}
	if onlyStronger {
		q += `
		WHERE suppressed_destinations.expires_ms <> 0 AND (suppressed_destinations.expires_ms <= ?
			OR excluded.expires_ms = 0 OR excluded.expires_ms > suppressed_destinations.expires_ms)`
		args = append(args, e.LastUpdate.UnixMilli())
	}
	_, err := tx.Exec(l.db.Rebind(q), args...)
	return err
}

// PutMany puts entries in transactions of up to 1,000 rows, each written
// with one multi-row statement: an import of 100,000 rows is 100
// transactions. Later entries of one address win; a zero LastUpdate is
// the List's clock's now.
func (l *List) PutMany(ctx context.Context, account string, entries []Entry) error {
	const batch = 1000
	now := l.now()
	for len(entries) > 0 {
		n := min(batch, len(entries))
		chunk := dedupe(entries[:n])
		entries = entries[n:]
		keys := make([]pfKey, len(chunk))
		for i, e := range chunk {
			keys[i] = pfKey{account, e.Address.Key()}
		}
		l.pf.add(keys...)
		err := l.db.Tx(ctx, func(tx *sql.Tx) error {
			var q strings.Builder
			q.WriteString("INSERT INTO suppressed_destinations (account, " + entryColumns + ") VALUES ")
			args := make([]any, 0, 9*len(chunk))
			for i, e := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
				if e.LastUpdate.IsZero() {
					e.LastUpdate = now
				}
				args = append(args, account, e.Address.Key(), e.Address.Email(), string(e.Reason), e.LastUpdate.UnixMilli(),
					unixMilli(e.Expires), e.MessageID, e.FeedbackID, e.Cause)
			}
			q.WriteString(" " + overwriteEntry)
			_, err := tx.Exec(l.db.Rebind(q.String()), args...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dedupe keeps the last entry of each address (one statement may not
// update a row twice).
func dedupe(entries []Entry) []Entry {
	last := make(map[string]int, len(entries))
	for i, e := range entries {
		last[e.Address.Key()] = i
	}
	if len(last) == len(entries) {
		return entries
	}
	out := make([]Entry, 0, len(last))
	for i, e := range entries {
		if last[e.Address.Key()] == i {
			out = append(out, e)
		}
	}
	return out
}

// DeleteMany removes addrs from account's list, in transactions of up to
// 1,000, and returns how many were on it (an entry that had expired is
// removed but not counted: it was no longer on the list).
func (l *List) DeleteMany(ctx context.Context, account string, addrs []address.Address) (int, error) {
	const batch = 1000
	total := 0
	for len(addrs) > 0 {
		n := min(batch, len(addrs))
		args := make([]any, 0, n+2)
		args = append(args, account)
		for _, a := range addrs[:n] {
			args = append(args, a.Key())
		}
		addrs = addrs[n:]
		where := "WHERE account = ? AND address IN (" + store.Placeholders(len(args)-1) + ")"
		err := l.db.Tx(ctx, func(tx *sql.Tx) error {
			var on int
			if err := tx.QueryRow(l.db.Rebind("SELECT COUNT(*) FROM suppressed_destinations "+where+" AND (expires_ms = 0 OR expires_ms > ?)"),
				append(args, l.now().UnixMilli())...).Scan(&on); err != nil {
				return err
			}
			if _, err := tx.Exec(l.db.Rebind("DELETE FROM suppressed_destinations "+where), args...); err != nil {
				return err
			}
			total += on
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Get returns account's entry for a, or ErrNotFound (also for an entry that
// has expired).
func (l *List) Get(ctx context.Context, account string, a address.Address) (Entry, error) {
	row := l.db.QueryRowContext(ctx, l.db.Rebind("SELECT "+entryColumns+" FROM suppressed_destinations WHERE account = ? AND address = ? AND (expires_ms = 0 OR expires_ms > ?)"),
		account, a.Key(), l.now().UnixMilli())
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	return e, err
}

// Delete removes a from account's list, or returns ErrNotFound.
func (l *List) Delete(ctx context.Context, account string, a address.Address) error {
	n, err := l.DeleteMany(ctx, account, []address.Address{a})
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// Filter selects entries for List (SES: ListSuppressedDestinations).
type Filter struct {
	Reasons    []Reason  // empty: all
	Start, End time.Time // LastUpdateTime in [Start, End]; zero: unbounded
	NextToken  string    // from the previous page; "" for the first
	PageSize   int       // 1–1000; any other value is 1000
}

// MaxPageSize is the most entries ListPage returns at once.
const MaxPageSize = 1000

// ListPage returns up to f.PageSize of account's unexpired entries
// matching f, in address order, and the token of the next page ("" when
// this is the last). A token that does not decode is ErrInvalidToken.
func (l *List) ListPage(ctx context.Context, account string, f Filter) ([]Entry, string, error) {
	if f.PageSize < 1 || f.PageSize > MaxPageSize {
		f.PageSize = MaxPageSize
	}
	after := ""
	if f.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.NextToken)
		if err != nil || !strings.HasPrefix(string(b), tokenPrefix) {
			return nil, "", ErrInvalidToken
		}
		after = strings.TrimPrefix(string(b), tokenPrefix)
	}
	q := "SELECT " + entryColumns + " FROM suppressed_destinations WHERE account = ? AND address > ? AND (expires_ms = 0 OR expires_ms > ?)"
	args := []any{account, after, l.now().UnixMilli()}
	if len(f.Reasons) > 0 {
		q += " AND reason IN (" + store.Placeholders(len(f.Reasons)) + ")"
		for _, r := range f.Reasons {
			args = append(args, string(r))
		}
	}
	if !f.Start.IsZero() {
		q += " AND updated_ms >= ?"
		args = append(args, f.Start.UnixMilli())
	}
	if !f.End.IsZero() {
		q += " AND updated_ms <= ?"
		args = append(args, f.End.UnixMilli())
	}
	out, more, err := queryPage(ctx, l.db, q+" ORDER BY address", args, f.PageSize, scanEntry)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + out[len(out)-1].Address.Key()))
	}
	return out, next, nil
}

// tokenPrefix marks ListPage's page tokens: a token without it does not
// decode.
const tokenPrefix = "sd1:"

type scanner interface{ Scan(...any) error }

// queryPage runs query (a SELECT with ? placeholders and an ORDER BY, to
// which it adds LIMIT) with args, and scans up to limit rows with scan;
// more is whether there was a row after them.
func queryPage[T any](ctx context.Context, db *store.DB, query string, args []any, limit int, scan func(scanner) (T, error)) (page []T, more bool, err error) {
	rows, err := db.QueryContext(ctx, db.Rebind(query+" LIMIT ?"), append(args, limit+1)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, false, err
		}
		page = append(page, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(page) > limit {
		return page[:limit], true, nil
	}
	return page, false, nil
}

func scanEntry(r scanner) (Entry, error) {
	var (
		key, email, reason string
		updated, expires   int64
		e                  Entry
	)
	if err := r.Scan(&key, &email, &reason, &updated, &expires, &e.MessageID, &e.FeedbackID, &e.Cause); err != nil {
		return Entry{}, err
	}
	a, err := address.Parse(email)
	if err != nil {
		return Entry{}, fmt.Errorf("stored suppressed address %q: %w", email, err)
	}
	e.Address, e.Reason, e.LastUpdate = a, Reason(reason), time.UnixMilli(updated)
	if expires != 0 {
		e.Expires = time.UnixMilli(expires)
	}
	return e, nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Attributes returns account's suppression policy (DefaultPolicy when it
// never set one).
func (l *List) Attributes(ctx context.Context, account string) (Policy, error) {
	var reasons, soft string
	err := l.db.QueryRowContext(ctx, l.db.Rebind("SELECT reasons, soft_bounce FROM suppression_attributes WHERE account = ?"), account).Scan(&reasons, &soft)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultPolicy(), nil
	}
	if err != nil {
		return Policy{}, err
	}
	return DecodePolicy(reasons, soft)
}

// SetAttributes replaces account's suppression policy (SES:
// PutAccountSuppressionAttributes).
func (l *List) SetAttributes(ctx context.Context, account string, p Policy) error {
	reasons, soft, err := EncodePolicy(p)
	if err != nil {
		return err
	}
	_, err = l.db.ExecContext(ctx, l.db.Rebind(`INSERT INTO suppression_attributes (account, reasons, soft_bounce) VALUES (?, ?, ?)
		ON CONFLICT (account) DO UPDATE SET reasons = excluded.reasons, soft_bounce = excluded.soft_bounce`), account, reasons, soft)
	return err
}

// EncodePolicy gives p's stored form: reasons comma-separated, the
// soft-bounce policy as SoftBounceJSON ("" for none). Configuration sets
// store their override in it.
func EncodePolicy(p Policy) (reasons, soft string, err error) {
	rs := make([]string, len(p.Reasons))
	for i, r := range p.Reasons {
		rs[i] = string(r)
	}
	if p.SoftBounce != nil {
		b, err := json.Marshal(p.SoftBounce.JSON())
		if err != nil {
			return "", "", err
		}
		soft = string(b)
	}
	return strings.Join(rs, ","), soft, nil
}

// DecodePolicy is the inverse of EncodePolicy.
func DecodePolicy(reasons, soft string) (Policy, error) {
	var p Policy
	for _, r := range strings.Split(reasons, ",") {
		if r != "" {
			p.Reasons = append(p.Reasons, Reason(r))
		}
	}
	if soft != "" {
		var j SoftBounceJSON
		if err := json.Unmarshal([]byte(soft), &j); err != nil {
			return Policy{}, fmt.Errorf("stored soft-bounce policy: %w", err)
		}
		// Ranges only: a policy stored before its reasons were checked
		// still loads, and counts none of the reasons no longer allowed
		// (SoftBounce.counts).
		sb := j.softBounce()
		if err := sb.validateRanges(); err != nil {
			return Policy{}, fmt.Errorf("stored soft-bounce policy: %w", err)
		}
		p.SoftBounce = &sb
	}
	return p, nil
}
