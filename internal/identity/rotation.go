package identity

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/store"
)

// DKIM key rotation (issue 16, SES §1.6). A new key never signs before its
// record is seen in DNS, and an old key's record stays valid for the
// overlap after it stops signing:
//
//  1. a NEXT key with a new selector is made (Rotate, the schedule, or a
//     change of signing attributes) and must be published alongside the
//     ACTIVE one;
//  2. once the DNS checker (Checker) reports its record SUCCESS
//     (nextVerified, the one promotion decision), one
//     transaction makes it ACTIVE and the old key RETIRING — a send signs
//     with one or the other, never with none;
//  3. Overlap after that, the RETIRING key is deleted: its record may then
//     be removed (it leaves DkimAttributes.Tokens and petrel identity dkim).

// DefaultDKIMOverlap is how long a retired key's record stays valid:
// longer than any message spends in queues (a message is signed once, when
// accepted, and retried for up to --max-delivery-time or its configuration
// set's MaxDeliverySeconds, at most 14 hours; the configuration insists
// that --dkim-overlap exceed both) and than receivers cache key records.
const DefaultDKIMOverlap = 7 * 24 * time.Hour

// keyLengthInterval is SES's limit on NextSigningKeyLength changes: at most
// one per day.
const keyLengthInterval = 24 * time.Hour

// Errors of the signing-attribute changes (PutEmailIdentityDkimSigningAttributes).
var (
	ErrKeyLengthUnchanged = errors.New("the key length is unchanged")
	ErrKeyLengthTooSoon   = errors.New("the key length can be changed at most once every 24 hours")
	ErrNoDKIM             = errors.New("the identity has no DKIM key")
	ErrExternalRotate     = errors.New("a BYODKIM key is rotated by supplying a new key and selector")
)

// errRotating is the schedule's precondition failing: the key it saw
// ACTIVE is no longer ACTIVE, or a NEXT key exists — another node (or a
// request) started the rotation first.
var errRotating = errors.New("a rotation is already under way")

// Rotate makes a NEXT Easy DKIM key for a domain identity, of alg or, when
// alg is "", of the algorithm of the key that will sign next (the NEXT key
// when there is one, so that a pending NextSigningKeyLength change
// survives, else the ACTIVE key). It replaces a NEXT key not yet promoted.
// A BYODKIM identity is rotated with PutDKIMKey instead.
func (s *Service) Rotate(ctx context.Context, account, domain string, alg dkim.Algorithm, at time.Time) (DKIM, error) {
	return s.rotate(ctx, account, domain, alg, at, nil)
}

func (s *Service) rotate(ctx context.Context, account, domain string, alg dkim.Algorithm, at time.Time, pre func(keySet) error) (DKIM, error) {
	keys, err := s.DKIMKeys(ctx, account, domain)
	if err != nil {
		return DKIM{}, err
	}
	var upcoming *DKIM
	for i := range keys {
		if keys[i].State == StateNext || keys[i].State == StateActive && upcoming == nil {
			upcoming = &keys[i]
		}
	}
	if upcoming == nil {
		if _, err := s.Get(ctx, account, domain); err != nil {
			return DKIM{}, err
		}
		return DKIM{}, fmt.Errorf("%s: %w", domain, ErrNoDKIM)
	}
	if upcoming.Origin == OriginExternal && alg == "" {
		return DKIM{}, fmt.Errorf("%s: %w", domain, ErrExternalRotate)
	}
	if alg == "" {
		alg = upcoming.Algorithm
	}
	return s.generateDKIM(ctx, account, domain, alg, ReasonRotate, at, pre)
}

// SetEasyDKIM is PutEmailIdentityDkimSigningAttributes with origin AWS_SES:
// from BYODKIM back to Easy DKIM (a new key of alg, RSA_2048_BIT when ""),
// or, for an Easy DKIM identity, a key length change (alg must differ from
// the length of the key that will sign next, and such a change is allowed
// once per 24 hours, as SES, counted from the identity's last change,
// whatever became of the key it made). Either way the new key is NEXT
// until its record verifies; the current key signs meanwhile.
func (s *Service) SetEasyDKIM(ctx context.Context, account, domain string, alg dkim.Algorithm, at time.Time) (DKIM, error) {
	keys, err := s.DKIMKeys(ctx, account, domain)
	if err != nil {
		return DKIM{}, err
	}
	var active, next *DKIM
	for i := range keys {
		switch keys[i].State {
		case StateActive:
			active = &keys[i]
		case StateNext:
			next = &keys[i]
		}
	}
	easy := active != nil && active.Origin == OriginEasy && (next == nil || next.Origin == OriginEasy)
	if !easy {
		if alg == "" {
			alg = dkim.RSA2048
		}
		return s.generateDKIM(ctx, account, domain, alg, ReasonEasy, at, nil)
	}
	upcoming := active
	if next != nil {
		upcoming = next
	}
	if alg == "" || alg == upcoming.Algorithm {
		return DKIM{}, fmt.Errorf("%s: NextSigningKeyLength is already %s: %w", domain, upcoming.Algorithm, ErrKeyLengthUnchanged)
	}
	// Checked again under the identity's lock: the key made meanwhile by
	// another request may have this length already, or have been the change.
	return s.generateDKIM(ctx, account, domain, alg, ReasonKeyLength, at, func(ks keySet) error {
		if u := ks.upcoming(); u != nil && dkim.Algorithm(u.algorithm) == alg {
			return fmt.Errorf("%s: NextSigningKeyLength is already %s: %w", domain, alg, ErrKeyLengthUnchanged)
		}
		if last := ks.lengthChanged; !last.IsZero() && at.Sub(last) < keyLengthInterval {
			return fmt.Errorf("%s: last changed %s, next change allowed after %s: %w", domain,
				last.UTC().Format(time.RFC3339), last.Add(keyLengthInterval).UTC().Format(time.RFC3339), ErrKeyLengthTooSoon)
		}
		return nil
	})
}

// Rotator promotes verified NEXT keys, retires old ones after the overlap,
// and, when Interval is set, starts a rotation for every Easy DKIM key that
// has signed for Interval. The daemon calls Step periodically; tests call it
// with their own clock.
type Rotator struct {
	Identities *Service
	Now        func() time.Time
	Overlap    time.Duration // how long a RETIRING key's record stays published; DefaultDKIMOverlap when 0
	Interval   time.Duration // automatic rotation period; 0 = off
	Log        *slog.Logger
}

// keyRow is one dkim_keys row as the rotator reads it.
type keyRow struct {
	account, identity, selector, state, origin, algorithm string
	since, retire                                         int64
}

// Step runs one pass: promotions, deletions of expired RETIRING keys,
// scheduled rotations. It returns the first error after trying every key.
func (r *Rotator) Step(ctx context.Context) error {
	s := r.Identities
	now := r.Now()
	overlap := r.Overlap
	if overlap <= 0 {
		overlap = DefaultDKIMOverlap
	}
	rows, err := s.db.QueryContext(ctx, "SELECT account, identity, selector, state, origin, algorithm, state_since_ms, retire_ms FROM dkim_keys")
	if err != nil {
		return err
	}
	var keys []keyRow
	for rows.Next() {
		var k keyRow
		if err := rows.Scan(&k.account, &k.identity, &k.selector, &k.state, &k.origin, &k.algorithm, &k.since, &k.retire); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	hasNext := map[[2]string]bool{}
	for _, k := range keys {
		if k.state == StateNext {
			hasNext[[2]string{k.account, k.identity}] = true
		}
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, k := range keys {
		switch {
		case k.state == StateNext:
			ok, err := s.nextVerified(ctx, k.account, k.identity, k.selector)
			if err != nil {
				keep(fmt.Errorf("checking the DKIM record of %s (selector %s): %w", k.identity, k.selector, err))
				continue
			}
			if ok {
				keep(r.promote(ctx, k, now, overlap))
			}
		case k.state == StateRetiring && now.UnixMilli() >= k.retire:
			keep(r.delete(ctx, k))
		case k.state == StateActive && r.Interval > 0 && k.origin == OriginEasy && !hasNext[[2]string{k.account, k.identity}] &&
			now.Sub(time.UnixMilli(k.since)) >= r.Interval:
			// Only if k still signs and no rotation is under way: two
			// nodes' schedules start one rotation, not one each.
			d, err := s.rotate(ctx, k.account, k.identity, "", now, func(ks keySet) error {
				if ks.next != nil || ks.active == nil || ks.active.selector != k.selector {
					return errRotating
				}
				return nil
			})
			switch {
			case err == nil:
				r.log().Info("DKIM rotation started: publish the new record alongside the current one", "account", k.account,
					"identity", k.identity, "name", d.Selector+"._domainkey."+k.identity, "record", d.Record)
			case errors.Is(err, errRotating), errors.Is(err, ErrConcurrentChange), errors.Is(err, ErrNotFound):
				// Another node started it, or the identity is gone.
			default:
				keep(err)
			}
		}
	}
	return first
}

// nextVerified is the DNS checker's verdict on the key's record
// (<selector>._domainkey.<domain>, purpose DKIM): true when SUCCESS. A key
// the checker has not looked at yet is not verified.
func (s *Service) nextVerified(ctx context.Context, account, domain, selector string) (bool, error) {
	r, err := s.RecordStatus(ctx, account, domain, PurposeDKIM, DKIMRecordName(selector, domain))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && r.Status == StatusSuccess, err
}

// promote makes k ACTIVE and the identity's ACTIVE key RETIRING until
// now+overlap, in one transaction under the identity's lock, and only if k
// is still NEXT: when another node promoted it first, or a request
// replaced it by another NEXT key since Step read it, nothing changes (the
// identity keeps exactly one ACTIVE key throughout). The new key keeps the
// identity's signing switch as it is (read before any change; a disabled
// identity stays disabled).
func (r *Rotator) promote(ctx context.Context, k keyRow, now time.Time, overlap time.Duration) error {
	s := r.Identities
	promoted := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockIdentity(tx, k.account, k.identity); err != nil {
			return err
		}
		// The switch: the ACTIVE key's, else k's own (an identity whose
		// ACTIVE key is gone keeps what k was given).
		var enabled int
		err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT signing_enabled FROM dkim_keys WHERE account = ? AND identity = ? AND state IN (?, ?) ORDER BY CASE WHEN state = ? THEN 0 ELSE 1 END LIMIT 1"),
			k.account, k.identity, StateActive, StateNext, StateActive).Scan(&enabled)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no ACTIVE or NEXT key any more: nothing to promote
		}
		if err != nil {
			return err
		}
		// The old key retires first (the unique index allows one ACTIVE
		// key at a time, checked per statement); if k is then not NEXT,
		// the transaction rolls back and the old key still signs.
		if err := s.db.ExecTx(tx, "UPDATE dkim_keys SET state = ?, state_since_ms = ?, retire_ms = ? WHERE account = ? AND identity = ? AND state = ? AND selector <> ?",
			StateRetiring, now.UnixMilli(), now.Add(overlap).UnixMilli(), k.account, k.identity, StateActive, k.selector); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE dkim_keys SET state = ?, state_since_ms = ?, signing_enabled = ? WHERE account = ? AND identity = ? AND selector = ? AND state = ?"),
			StateActive, now.UnixMilli(), enabled, k.account, k.identity, k.selector, StateNext)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return cmp.Or(err, errNotNext)
		}
		promoted = true
		return nil
	})
	s.forget(k.account)
	if errors.Is(err, errNotNext) || errors.Is(err, ErrNotFound) || store.IsUniqueViolation(err) {
		return nil // promoted or replaced by someone else, or the identity is gone
	}
	if err == nil && promoted {
		r.log().Info("DKIM key promoted: its record verified and it now signs; keep the old record published through the overlap",
			"account", k.account, "identity", k.identity, "selector", k.selector)
	}
	return err
}

// errNotNext rolls back a promotion whose key is no longer NEXT.
var errNotNext = errors.New("the key is no longer NEXT")

func (r *Rotator) delete(ctx context.Context, k keyRow) error {
	s := r.Identities
	_, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM dkim_keys WHERE account = ? AND identity = ? AND selector = ? AND state = ?"),
		k.account, k.identity, k.selector, StateRetiring)
	s.forget(k.account)
	if err == nil {
		r.log().Info("DKIM key retired: its record may now be removed from DNS", "account", k.account, "identity", k.identity,
			"name", k.selector+"._domainkey."+k.identity)
	}
	return err
}

func (r *Rotator) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Run calls Step every period until ctx ends, logging its errors.
func (r *Rotator) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := r.Step(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("DKIM rotation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
