package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/store"
)

// Sealer encrypts private keys at rest (package account, with the data-dir key).
type Sealer interface {
	Seal(plain []byte, binding string) []byte
	Open(sealed []byte, binding string) ([]byte, error)
}

// DKIM origins, as SES's SigningAttributesOrigin.
const (
	OriginEasy     = "AWS_SES"  // key generated here
	OriginExternal = "EXTERNAL" // BYODKIM: key supplied by the operator
)

// DKIM key states (table dkim_keys, migration 026): ACTIVE signs; NEXT is
// published and waits for its DNS record to verify before it takes over;
// RETIRING no longer signs but its record stays published through the
// overlap, after which the key is deleted (rotation.go).
const (
	StateActive   = "ACTIVE"
	StateNext     = "NEXT"
	StateRetiring = "RETIRING"
)

// Why a key was made (dkim_keys.reason).
const (
	ReasonCreate    = "CREATE"     // the identity's first key
	ReasonRotate    = "ROTATE"     // petrel identity dkim rotate, or the schedule
	ReasonKeyLength = "KEY_LENGTH" // a NextSigningKeyLength change (once per 24 h, as SES)
	ReasonBYODKIM   = "BYODKIM"    // an operator's key
	ReasonEasy      = "EASY"       // back to Easy DKIM from BYODKIM
)

// DKIM describes one signing key of a domain identity.
type DKIM struct {
	Selector       string
	Algorithm      dkim.Algorithm
	Origin         string
	SigningEnabled bool
	Record         string // the TXT record to publish at Selector._domainkey.<domain>
	Created        time.Time
	State          string    // StateActive, StateNext or StateRetiring
	StateSince     time.Time // when the key entered State
	Reason         string    // Reason*
	RetireAt       time.Time // RETIRING: when the key is deleted and its record may be removed; zero otherwise
}

// ErrNotDomain is returned for DKIM on an address identity.
var ErrNotDomain = errors.New("DKIM keys belong to domain identities")

// ErrSameSelector is returned for a new key whose selector is one the
// identity already publishes: both keys must be published side by side
// during the switch, so they need different selectors.
var ErrSameSelector = errors.New("the selector is already in use by a key of this identity; a new key needs a new selector so that both records can be published during the switch")

// dkimTTL bounds how long a cached signing key is used after a change made by
// another process.
const dkimTTL = 5 * time.Second

// GenerateDKIM gives a domain identity a new Easy DKIM key: its first key
// signs at once; otherwise the new key becomes the NEXT key (replacing a
// NEXT key not yet promoted) and takes over once its record verifies
// (rotation.go), the current key signing until then.
func (s *Service) GenerateDKIM(ctx context.Context, account, domain string, alg dkim.Algorithm) (DKIM, error) {
	return s.generateDKIM(ctx, account, domain, alg, "", time.Now(), nil)
}

func (s *Service) generateDKIM(ctx context.Context, account, domain string, alg dkim.Algorithm, reason string, at time.Time, pre func(keySet) error) (DKIM, error) {
	key, err := dkim.Generate(alg)
	if err != nil {
		return DKIM{}, err
	}
	return s.putDKIM(ctx, account, domain, newSelector(), OriginEasy, reason, key, at, pre)
}

// PutDKIMKey installs an operator's key (BYODKIM) under selector, as
// GenerateDKIM installs a generated one (ACTIVE when it is the identity's
// first key, NEXT otherwise).
func (s *Service) PutDKIMKey(ctx context.Context, account, domain, selector string, privateKey []byte) (DKIM, error) {
	if !selectorOK(selector) {
		return DKIM{}, fmt.Errorf("DomainSigningSelector %q: use 1-63 letters, digits and inner hyphens", selector)
	}
	key, err := dkim.ParsePrivateKey(privateKey)
	if err != nil {
		return DKIM{}, err
	}
	return s.putDKIM(ctx, account, domain, selector, OriginExternal, ReasonBYODKIM, key, time.Now(), nil)
}

// ErrConcurrentChange is returned when another request or node changed the
// identity's DKIM keys at the same moment and the store refused the second
// change (the one-ACTIVE-one-NEXT index): the first change stands; look at
// the keys again and retry if still wanted.
var ErrConcurrentChange = errors.New("the identity's DKIM keys were changed concurrently; the other change stands, retry if still needed")

// keySet is what putDKIM's precondition sees, read under the identity's
// lock: the ACTIVE and NEXT keys (nil when absent) and when the key length
// last changed (zero: never).
type keySet struct {
	active, next  *keyRow
	lengthChanged time.Time
}

// upcoming is the key that will sign next: NEXT, else ACTIVE (nil: none).
func (k keySet) upcoming() *keyRow {
	if k.next != nil {
		return k.next
	}
	return k.active
}

// lockIdentity locks the identity row until tx ends (PostgreSQL: FOR
// UPDATE; SQLite's BEGIN IMMEDIATE already serialises writers), so that
// changes to one identity's keys run one after the other on every node,
// and returns when its key length last changed. ErrNotFound when the
// identity does not exist.
func (s *Service) lockIdentity(tx *sql.Tx, account, name string) (time.Time, error) {
	q := "SELECT dkim_length_changed_ms FROM identities WHERE account = ? AND name = ?"
	if s.db.Dialect == store.Postgres {
		q += " FOR UPDATE"
	}
	var ms int64
	err := tx.QueryRow(s.db.Rebind(q), account, name).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil || ms == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// putDKIM stores key: ACTIVE when the identity has no ACTIVE key (nothing
// signs yet, so nothing can lapse), else NEXT, replacing any NEXT key. An
// empty reason means CREATE for a first key and ROTATE otherwise; a
// KEY_LENGTH key records at as the identity's key length change. pre, when
// not nil, sees the identity's keys under its lock and may refuse (its
// error is returned, nothing changes). ErrConcurrentChange when a writer
// that did not take the lock got there first.
func (s *Service) putDKIM(ctx context.Context, account, domain, selector, origin, reason string, key crypto.Signer, at time.Time, pre func(keySet) error) (DKIM, error) {
	id, err := s.Get(ctx, account, domain)
	if err != nil {
		return DKIM{}, err
	}
	if id.Kind != Domain {
		return DKIM{}, fmt.Errorf("%s: %w", id.Name, ErrNotDomain)
	}
	der, err := dkim.MarshalPrivateKey(key)
	if err != nil {
		return DKIM{}, err
	}
	rec, err := dkim.Record(key)
	if err != nil {
		return DKIM{}, err
	}
	d := DKIM{Selector: selector, Algorithm: dkim.AlgorithmOf(key), Origin: origin, SigningEnabled: true, Record: rec,
		Created: at, StateSince: at, Reason: reason}
	sealed := s.sealer.Seal(der, dkimBinding(account, id.Name))
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var ks keySet
		var err error
		if ks.lengthChanged, err = s.lockIdentity(tx, account, id.Name); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.db.Rebind("SELECT selector, state, signing_enabled, origin, algorithm FROM dkim_keys WHERE account = ? AND identity = ?"), account, id.Name)
		if err != nil {
			return err
		}
		for rows.Next() {
			k := keyRow{account: account, identity: id.Name}
			var enabled int
			if err := rows.Scan(&k.selector, &k.state, &enabled, &k.origin, &k.algorithm); err != nil {
				rows.Close()
				return err
			}
			switch k.state {
			case StateActive:
				ks.active, d.SigningEnabled = &k, enabled != 0
			case StateNext:
				ks.next = &k
			}
			if k.selector == selector && k.state != StateNext {
				rows.Close()
				return fmt.Errorf("selector %q of %s: %w", selector, id.Name, ErrSameSelector)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if pre != nil {
			if err := pre(ks); err != nil {
				return err
			}
		}
		d.State = StateNext
		if ks.active == nil {
			d.State = StateActive
		}
		if d.Reason == "" {
			d.Reason = ReasonRotate
			if ks.active == nil {
				d.Reason = ReasonCreate
			}
		}
		if d.Reason == ReasonKeyLength {
			if err := s.db.ExecTx(tx, "UPDATE identities SET dkim_length_changed_ms = ? WHERE account = ? AND name = ?", at.UnixMilli(), account, id.Name); err != nil {
				return err
			}
		}
		if err := s.db.ExecTx(tx, "DELETE FROM dkim_keys WHERE account = ? AND identity = ? AND state = ?", account, id.Name, StateNext); err != nil {
			return err
		}
		return s.db.ExecTx(tx, "INSERT INTO dkim_keys (account, identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms, state, state_since_ms, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			account, id.Name, selector, string(d.Algorithm), origin, sealed, boolInt(d.SigningEnabled), at.UnixMilli(), d.State, at.UnixMilli(), d.Reason)
	})
	s.forget(account)
	if store.IsUniqueViolation(err) {
		return DKIM{}, fmt.Errorf("%s: %w", id.Name, ErrConcurrentChange)
	}
	return d, err
}

// SetDKIMSigning turns signing with the identity's keys on or off (SES:
// PutEmailIdentityDkimAttributes SigningEnabled).
func (s *Service) SetDKIMSigning(ctx context.Context, account, domain string, enabled bool) error {
	n, _, err := Normalize(domain)
	if err != nil {
		return fmt.Errorf("%s: %w", domain, ErrNotFound)
	}
	// Under the identity's lock, so that a promotion running meanwhile
	// (which copies the setting to the new key) sees this change.
	var res sql.Result
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockIdentity(tx, account, n); err != nil {
			return err
		}
		var err error
		res, err = tx.ExecContext(ctx, s.db.Rebind("UPDATE dkim_keys SET signing_enabled = ? WHERE account = ? AND identity = ?"), boolInt(enabled), account, n)
		return err
	})
	s.forget(account)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s has no DKIM key: %w", n, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("%s has no DKIM key: %w", n, ErrNotFound)
	}
	return nil
}

// GetDKIM returns the identity's ACTIVE key, the one that signs; ok is
// false when it has none.
func (s *Service) GetDKIM(ctx context.Context, account, name string) (d DKIM, ok bool, err error) {
	keys, err := s.DKIMKeys(ctx, account, name)
	if err != nil {
		return d, false, err
	}
	for _, k := range keys {
		if k.State == StateActive {
			return k, true, nil
		}
	}
	return d, false, nil
}

// DKIMKeys returns every key of the identity (ACTIVE, then NEXT, then
// RETIRING), each with the record to publish; none for an unknown name.
func (s *Service) DKIMKeys(ctx context.Context, account, name string) ([]DKIM, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT selector, algorithm, origin, key_sealed, signing_enabled, created_ms, state, state_since_ms, reason, retire_ms FROM dkim_keys WHERE account = ? AND identity = ?"), account, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DKIM
	for rows.Next() {
		var d DKIM
		var sealed []byte
		var alg string
		var enabled int
		var created, since, retire int64
		if err := rows.Scan(&d.Selector, &alg, &d.Origin, &sealed, &enabled, &created, &d.State, &since, &d.Reason, &retire); err != nil {
			return nil, err
		}
		key, err := s.openKey(account, n, sealed)
		if err != nil {
			return nil, err
		}
		d.Algorithm, d.SigningEnabled, d.Created, d.StateSince = dkim.Algorithm(alg), enabled != 0, time.UnixMilli(created), time.UnixMilli(since)
		if retire > 0 {
			d.RetireAt = time.UnixMilli(retire)
		}
		if d.Record, err = dkim.Record(key); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	order := map[string]int{StateActive: 0, StateNext: 1, StateRetiring: 2}
	slices.SortStableFunc(out, func(a, b DKIM) int { return order[a.State] - order[b.State] })
	return out, nil
}

func (s *Service) openKey(account, name string, sealed []byte) (crypto.Signer, error) {
	der, err := s.sealer.Open(sealed, dkimBinding(account, name))
	if err != nil {
		return nil, fmt.Errorf("opening DKIM key of %s (wrong key file?): %w", name, err)
	}
	return dkim.ParsePrivateKey(der)
}

// Signer returns the DKIM signer for mail from a — the ACTIVE key of its
// domain or of the nearest parent domain (never a public suffix: parents)
// whose key may sign — or nil when there is none. A key may sign when
// signing is enabled and either its DNS record (identity_records, purpose
// DKIM, <selector>._domainkey.<domain>) is SUCCESS or in its grace period
// (TEMPORARY_FAILURE after a success: InGrace), or the domain identity is
// vouched by the operator (SetVerified, --verified: the operator vouches
// for its DNS too). So a key whose record is PENDING, FAILED or not yet
// seen by the checker never signs: its signature would fail at every
// receiver (SES signs only once DkimAttributes.Status is SUCCESS).
//
// Per message this costs nothing beyond a map lookup per parent domain:
// the rule is applied when the account's signers are loaded (one query,
// cached for dkimTTL), and the cache is dropped when a key, a vouch or a
// DKIM record's state changes (forget; Checker.checkOne). A promotion
// (rotation.go) swaps the ACTIVE key in one transaction, so a send sees the
// old key or the new one, never none; the NEXT key is promoted only once
// its record is SUCCESS, so the new ACTIVE key passes this rule at once.
func (s *Service) Signer(ctx context.Context, account string, a address.Address) (*dkim.Signer, error) {
	signers, err := s.signers(ctx, account)
	if err != nil {
		return nil, err
	}
	for d := range parents(a.Domain) {
		if sg := signers[d]; sg != nil {
			return sg, nil
		}
	}
	return nil, nil
}

// KeyFor returns the key Signer would sign mail from a with if its rule
// allowed: the ACTIVE key with signing enabled of a's domain or of the
// nearest parent domain (parents), and that domain; ok is false when there
// is none. For reports (the DMARC readiness of petrel identity check),
// which say why such a key does not count; not for the send path.
func (s *Service) KeyFor(ctx context.Context, account string, a address.Address) (domain string, d DKIM, ok bool, err error) {
	for dom := range parents(a.Domain) {
		d, ok, err := s.GetDKIM(ctx, account, dom)
		if err != nil {
			return "", DKIM{}, false, err
		}
		if ok && d.SigningEnabled {
			return dom, d, true, nil
		}
	}
	return "", DKIM{}, false, nil
}

// signingKeysQuery selects the account's keys that may sign (Signer): the
// ACTIVE, enabled keys whose DKIM record is SUCCESS or in its grace period,
// or whose domain identity is vouched. The record's name is
// DKIMRecordName(selector, identity), built in SQL (|| concatenates in both
// SQLite and PostgreSQL).
const signingKeysQuery = `SELECT k.identity, k.selector, k.key_sealed FROM dkim_keys k
	JOIN identities i ON i.account = k.account AND i.name = k.identity
	LEFT JOIN identity_records r ON r.account = k.account AND r.identity = k.identity AND r.purpose = ?
		AND r.name = k.selector || '._domainkey.' || k.identity
	WHERE k.account = ? AND k.signing_enabled = 1 AND k.state = ?
		AND (i.vouched = 1 OR r.status = ? OR (r.status = ? AND r.missing_since_ms > 0))`

func (s *Service) signers(ctx context.Context, account string) (map[string]*dkim.Signer, error) {
	s.mu.Lock()
	c, ok := s.dkim[account]
	changes := s.changes
	s.mu.Unlock()
	if ok && time.Since(c.loaded) < dkimTTL {
		return c.signers, nil
	}
	loaded := time.Now()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(signingKeysQuery), PurposeDKIM, account, StateActive, StatusSuccess, StatusTemporaryFailure)
	if err != nil {
		return nil, fmt.Errorf("loading DKIM keys: %w", err)
	}
	defer rows.Close()
	out := map[string]*dkim.Signer{}
	for rows.Next() {
		var name, selector string
		var sealed []byte
		if err := rows.Scan(&name, &selector, &sealed); err != nil {
			return nil, err
		}
		key, err := s.openKey(account, name, sealed)
		if err != nil {
			return nil, err
		}
		out[name] = &dkim.Signer{Domain: name, Selector: selector, Key: key}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.changes == changes {
		s.dkim[account] = cachedSigners{signers: out, loaded: loaded}
	}
	s.mu.Unlock()
	return out, nil
}

type cachedSigners struct {
	signers map[string]*dkim.Signer
	loaded  time.Time
}

func dkimBinding(account, name string) string { return "dkim:" + account + ":" + name }

// newSelector returns a random selector token, as SES's Easy DKIM tokens are.
func newSelector() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "p" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// selectorOK checks SES's DomainSigningSelector pattern.
func selectorOK(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
