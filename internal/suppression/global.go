package suppression

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/address"
)

// GlobalConfig sets how long a hard bounce keeps an address on the global
// list (../shared/spec/ses.md §6.1: "added for a short period, re-added
// for longer periods on repeat hard bounces, max 14 days").
type GlobalConfig struct {
	// Initial is how long the first hard bounce lists the address.
	Initial time.Duration
	// Max bounds every listing: each repeat hard bounce doubles the
	// previous listing's length, up to Max.
	Max time.Duration
	// Memory is how long after its last hard bounce an address's history
	// is remembered: a hard bounce later than that starts again at Initial.
	Memory time.Duration
}

// Defaults and limits of GlobalConfig.
const (
	DefaultGlobalInitial = 24 * time.Hour
	DefaultGlobalMax     = 14 * 24 * time.Hour // SES: "up to 14 days"
	DefaultGlobalMemory  = 90 * 24 * time.Hour
	MinGlobalInitial     = time.Minute
	MaxGlobalMax         = 365 * 24 * time.Hour
)

// DefaultGlobalConfig is 24 h, doubling to at most 14 days, history kept
// 90 days.
func DefaultGlobalConfig() GlobalConfig {
	return GlobalConfig{Initial: DefaultGlobalInitial, Max: DefaultGlobalMax, Memory: DefaultGlobalMemory}
}

// Validate checks MinGlobalInitial ≤ Initial ≤ Max ≤ MaxGlobalMax and that
// Memory is at least Max, naming the settings at fault.
func (c GlobalConfig) Validate() error {
	switch {
	case c.Initial < MinGlobalInitial:
		return fmt.Errorf("global-suppression-initial: must be at least %s", MinGlobalInitial)
	case c.Max < c.Initial:
		return errors.New("global-suppression-initial, global-suppression-max: need initial <= max")
	case c.Max > MaxGlobalMax:
		return fmt.Errorf("global-suppression-max: must be at most %s", MaxGlobalMax)
	case c.Memory < c.Max:
		return errors.New("global suppression memory: must be at least global-suppression-max")
	}
	return nil
}

// SetGlobalConfig sets how long hard bounces list addresses globally from
// now on (entries already listed keep their expiry). It returns c's
// Validate error and then changes nothing. Call it before the List is in
// use.
func (l *List) SetGlobalConfig(c GlobalConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.global = c
	return nil
}

// GlobalConfig returns the List's global-list durations.
func (l *List) GlobalConfig() GlobalConfig { return l.global }

// GlobalEntry is one address on the global suppression list, which every
// account of this Petrel shares (../shared/spec/ses.md §6.1). SES lets no
// customer read it; Petrel shows it to the operator only.
type GlobalEntry struct {
	Address address.Address
	// First is the first hard bounce of the current streak, LastUpdate the
	// latest; Bounces counts the streak's hard bounces.
	First, LastUpdate time.Time
	Expires           time.Time // when the listing lifts
	Bounces           int
	// Account and MessageID name the latest hard bounce's message ("" for
	// an operator's addition); Cause says in words what listed it.
	Account, MessageID, Cause string
}

const globalColumns = "email, first_ms, updated_ms, expires_ms, bounces, account, message_id, cause"

// listing returns how long the n-th hard bounce of a streak (n ≥ 1) lists
// an address: Initial·2^(n-1), at most Max.
func (c GlobalConfig) listing(n int) time.Duration {
	d := c.Initial
	for i := 1; i < n && d < c.Max; i++ {
		d *= 2
	}
	return min(d, c.Max)
}

// GlobalPutTx records, in tx, a hard bounce of a (the account's message
// messageID) at now, and returns the address's listing: the first hard
// bounce lists it for Initial, each repeat while listed or within Memory of
// the previous one for twice as long as the last, never past Max (SES
// §6.1). cause says what bounced ("bounce rule user-unknown: …").
func (l *List) GlobalPutTx(tx *sql.Tx, a address.Address, account, messageID, cause string, now time.Time) (GlobalEntry, error) {
	var (
		email                     string
		first, updated, expires   int64
		bounces                   int
		oldAcct, oldMsg, oldCause string
	)
	err := tx.QueryRow(l.db.Rebind("SELECT "+globalColumns+" FROM global_suppressions WHERE address = ?"), a.Key()).
		Scan(&email, &first, &updated, &expires, &bounces, &oldAcct, &oldMsg, &oldCause)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		bounces = 0
	case err != nil:
		return GlobalEntry{}, err
	case expires <= now.UnixMilli() && now.Sub(time.UnixMilli(updated)) > l.global.Memory:
		bounces = 0 // forgotten: a new streak
	}
	if bounces == 0 {
		first = now.UnixMilli()
	}
	e := GlobalEntry{Address: a, First: time.UnixMilli(first), LastUpdate: now, Bounces: bounces + 1,
		Account: account, MessageID: messageID, Cause: cause}
	e.Expires = now.Add(l.global.listing(e.Bounces))
	l.pf.add(pfKey{"", a.Key()})
	_, err = tx.Exec(l.db.Rebind(`INSERT INTO global_suppressions (address, `+globalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (address) DO UPDATE SET email = excluded.email, first_ms = excluded.first_ms, updated_ms = excluded.updated_ms,
			expires_ms = excluded.expires_ms, bounces = excluded.bounces, account = excluded.account,
			message_id = excluded.message_id, cause = excluded.cause`),
		a.Key(), a.Email(), first, now.UnixMilli(), e.Expires.UnixMilli(), e.Bounces, account, messageID, cause)
	return e, err
}

// GlobalAdd lists a globally until now+d, as the operator's decision
// (petrel suppression global add): it counts as no hard bounce, and
// replaces any listing. d is more than 0 and at most MaxGlobalMax (365
// days), else an error; GlobalConfig.Max (the daemon's
// --global-suppression-max) bounds automatic listings only.
func (l *List) GlobalAdd(ctx context.Context, a address.Address, d time.Duration, cause string) error {
	if d <= 0 || d > MaxGlobalMax {
		return fmt.Errorf("a global listing lasts more than 0 and at most %s, not %s", days(MaxGlobalMax), d)
	}
	now := l.now()
	l.pf.add(pfKey{"", a.Key()})
	_, err := l.db.ExecContext(ctx, l.db.Rebind(`INSERT INTO global_suppressions (address, `+globalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (address) DO UPDATE SET email = excluded.email, updated_ms = excluded.updated_ms,
			expires_ms = excluded.expires_ms, account = excluded.account, message_id = excluded.message_id, cause = excluded.cause`),
		a.Key(), a.Email(), now.UnixMilli(), now.UnixMilli(), now.Add(d).UnixMilli(), 0, "", "", cause)
	return err
}

// GlobalGet returns a's listing, or ErrNotFound when a is not listed now
// (never, or its listing has lifted).
func (l *List) GlobalGet(ctx context.Context, a address.Address) (GlobalEntry, error) {
	row := l.db.QueryRowContext(ctx, l.db.Rebind("SELECT "+globalColumns+" FROM global_suppressions WHERE address = ? AND expires_ms > ?"),
		a.Key(), l.now().UnixMilli())
	e, err := scanGlobal(row)
	if errors.Is(err, sql.ErrNoRows) {
		return GlobalEntry{}, ErrNotFound
	}
	return e, err
}

// GlobalDelete removes a from the global list, history included (its next
// hard bounce starts at Initial), or returns ErrNotFound when there is no
// row for it.
func (l *List) GlobalDelete(ctx context.Context, a address.Address) error {
	res, err := l.db.ExecContext(ctx, l.db.Rebind("DELETE FROM global_suppressions WHERE address = ?"), a.Key())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// GlobalList returns up to limit (1–1000) addresses listed now, in address
// order after the address key after ("" for the first page), and the key to
// pass for the next page ("" when this is the last).
func (l *List) GlobalList(ctx context.Context, after string, limit int) ([]GlobalEntry, string, error) {
	limit = max(1, min(limit, 1000))
	out, more, err := queryPage(ctx, l.db, "SELECT "+globalColumns+" FROM global_suppressions WHERE address > ? AND expires_ms > ? ORDER BY address",
		[]any{after, l.now().UnixMilli()}, limit, scanGlobal)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = out[len(out)-1].Address.Key()
	}
	return out, next, nil
}

func scanGlobal(r scanner) (GlobalEntry, error) {
	var (
		email                   string
		first, updated, expires int64
		e                       GlobalEntry
	)
	if err := r.Scan(&email, &first, &updated, &expires, &e.Bounces, &e.Account, &e.MessageID, &e.Cause); err != nil {
		return GlobalEntry{}, err
	}
	a, err := address.Parse(email)
	if err != nil {
		return GlobalEntry{}, fmt.Errorf("stored globally suppressed address %q: %w", email, err)
	}
	e.Address, e.First, e.LastUpdate, e.Expires = a, time.UnixMilli(first), time.UnixMilli(updated), time.UnixMilli(expires)
	return e, nil
}
