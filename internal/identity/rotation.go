package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/petrelmail/petrel/internal/dkim"
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
// longer than any message spends in queues (SES retries for up to 14 hours,
// Petrel's queue for its --max-age) and than receivers cache key records.
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

// Rotate makes a NEXT Easy DKIM key for a domain identity, of alg or, when
// alg is "", of the ACTIVE key's algorithm. It replaces a NEXT key not yet
// promoted. A BYODKIM identity is rotated with PutDKIMKey instead.
func (s *Service) Rotate(ctx context.Context, account, domain string, alg dkim.Algorithm, at time.Time) (DKIM, error) {
	cur, ok, err := s.GetDKIM(ctx, account, domain)
	if err != nil {
		return DKIM{}, err
	}
	if !ok {
		if _, err := s.Get(ctx, account, domain); err != nil {
			return DKIM{}, err
		}
		return DKIM{}, fmt.Errorf("%s: %w", domain, ErrNoDKIM)
	}
	if cur.Origin == OriginExternal && alg == "" {
		return DKIM{}, fmt.Errorf("%s: %w", domain, ErrExternalRotate)
	}
	if alg == "" {
		alg = cur.Algorithm
	}
	return s.generateDKIM(ctx, account, domain, alg, ReasonRotate, at)
}

// SetEasyDKIM is PutEmailIdentityDkimSigningAttributes with origin AWS_SES:
// from BYODKIM back to Easy DKIM (a new key of alg, RSA_2048_BIT when ""),
// or, for an Easy DKIM identity, a key length change (alg must differ from
// the length of the key that will sign next, and such a change is allowed
// once per 24 hours, as SES). Either way the new key is NEXT until its
// record verifies; the current key signs meanwhile.
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
		return s.generateDKIM(ctx, account, domain, alg, ReasonEasy, at)
	}
	upcoming := active
	if next != nil {
		upcoming = next
	}
	if alg == "" || alg == upcoming.Algorithm {
		return DKIM{}, fmt.Errorf("%s: NextSigningKeyLength is already %s: %w", domain, upcoming.Algorithm, ErrKeyLengthUnchanged)
	}
	for _, k := range keys {
		if k.Reason == ReasonKeyLength && at.Sub(k.Created) < keyLengthInterval {
			return DKIM{}, fmt.Errorf("%s: last changed %s, next change allowed after %s: %w", domain,
				k.Created.UTC().Format(time.RFC3339), k.Created.Add(keyLengthInterval).UTC().Format(time.RFC3339), ErrKeyLengthTooSoon)
		}
	}
	return s.generateDKIM(ctx, account, domain, alg, ReasonKeyLength, at)
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
			d, err := s.Rotate(ctx, k.account, k.identity, "", now)
			if err == nil {
				r.log().Info("DKIM rotation started: publish the new record alongside the current one", "account", k.account,
					"identity", k.identity, "name", d.Selector+"._domainkey."+k.identity, "record", d.Record)
			}
			keep(err)
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
// now+overlap, in one transaction; the new key keeps the identity's signing
// switch.
func (r *Rotator) promote(ctx context.Context, k keyRow, now time.Time, overlap time.Duration) error {
	s := r.Identities
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var enabled int
		err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT signing_enabled FROM dkim_keys WHERE account = ? AND identity = ? AND state = ?"), k.account, k.identity, StateActive).Scan(&enabled)
		if errors.Is(err, sql.ErrNoRows) {
			enabled = 1
		} else if err != nil {
			return err
		}
		if err := s.db.ExecTx(tx, "UPDATE dkim_keys SET state = ?, state_since_ms = ?, retire_ms = ? WHERE account = ? AND identity = ? AND state = ?",
			StateRetiring, now.UnixMilli(), now.Add(overlap).UnixMilli(), k.account, k.identity, StateActive); err != nil {
			return err
		}
		return s.db.ExecTx(tx, "UPDATE dkim_keys SET state = ?, state_since_ms = ?, signing_enabled = ? WHERE account = ? AND identity = ? AND selector = ? AND state = ?",
			StateActive, now.UnixMilli(), enabled, k.account, k.identity, k.selector, StateNext)
	})
	s.forget(k.account)
	if err == nil {
		r.log().Info("DKIM key promoted: its record verified and it now signs; keep the old record published through the overlap",
			"account", k.account, "identity", k.identity, "selector", k.selector)
	}
	return err
}

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
