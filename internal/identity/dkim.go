package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
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

// DKIM describes a domain identity's signing key.
type DKIM struct {
	Selector       string
	Algorithm      dkim.Algorithm
	Origin         string
	SigningEnabled bool
	Record         string // the TXT record to publish at Selector._domainkey.<domain>
	Created        time.Time
}

// ErrNotDomain is returned for DKIM on an address identity.
var ErrNotDomain = errors.New("DKIM keys belong to domain identities")

// dkimTTL bounds how long a cached signing key is used after a change made by
// another process.
const dkimTTL = 5 * time.Second

// GenerateDKIM gives a domain identity a new Easy DKIM key (replacing any
// key it had) and enables signing.
func (s *Service) GenerateDKIM(ctx context.Context, account, domain string, alg dkim.Algorithm) (DKIM, error) {
	key, err := dkim.Generate(alg)
	if err != nil {
		return DKIM{}, err
	}
	return s.putDKIM(ctx, account, domain, newSelector(), OriginEasy, key)
}

// PutDKIMKey installs an operator's key (BYODKIM) under selector.
func (s *Service) PutDKIMKey(ctx context.Context, account, domain, selector string, privateKey []byte) (DKIM, error) {
	if !selectorOK(selector) {
		return DKIM{}, fmt.Errorf("DomainSigningSelector %q: use 1-63 letters, digits and inner hyphens", selector)
	}
	key, err := dkim.ParsePrivateKey(privateKey)
	if err != nil {
		return DKIM{}, err
	}
	return s.putDKIM(ctx, account, domain, selector, OriginExternal, key)
}

func (s *Service) putDKIM(ctx context.Context, account, domain, selector, origin string, key crypto.Signer) (DKIM, error) {
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
	d := DKIM{Selector: selector, Algorithm: dkim.AlgorithmOf(key), Origin: origin, SigningEnabled: true, Record: rec, Created: time.Now()}
	sealed := s.sealer.Seal(der, dkimBinding(account, id.Name))
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.db.ExecTx(tx, "DELETE FROM dkim_keys WHERE account = ? AND identity = ?", account, id.Name); err != nil {
			return err
		}
		return s.db.ExecTx(tx, "INSERT INTO dkim_keys (account, identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
			account, id.Name, selector, string(d.Algorithm), origin, sealed, d.Created.UnixMilli())
	})
	s.forget(account)
	return d, err
}

// SetDKIMSigning turns signing with the identity's key on or off (SES:
// PutEmailIdentityDkimAttributes SigningEnabled).
func (s *Service) SetDKIMSigning(ctx context.Context, account, domain string, enabled bool) error {
	n, _, err := Normalize(domain)
	if err != nil {
		return fmt.Errorf("%s: %w", domain, ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE dkim_keys SET signing_enabled = ? WHERE account = ? AND identity = ?"), boolInt(enabled), account, n)
	if err != nil {
		return err
	}
	s.forget(account)
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("%s has no DKIM key: %w", n, ErrNotFound)
	}
	return nil
}

// GetDKIM returns the identity's DKIM key description; ok is false when it
// has none.
func (s *Service) GetDKIM(ctx context.Context, account, name string) (d DKIM, ok bool, err error) {
	n, _, err := Normalize(name)
	if err != nil {
		return d, false, nil
	}
	var sealed []byte
	var alg string
	var enabled int
	var created int64
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT selector, algorithm, origin, key_sealed, signing_enabled, created_ms FROM dkim_keys WHERE account = ? AND identity = ?"), account, n).
		Scan(&d.Selector, &alg, &d.Origin, &sealed, &enabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	key, err := s.openKey(account, n, sealed)
	if err != nil {
		return d, false, err
	}
	d.Algorithm, d.SigningEnabled, d.Created = dkim.Algorithm(alg), enabled != 0, time.UnixMilli(created)
	d.Record, err = dkim.Record(key)
	return d, true, err
}

func (s *Service) openKey(account, name string, sealed []byte) (crypto.Signer, error) {
	der, err := s.sealer.Open(sealed, dkimBinding(account, name))
	if err != nil {
		return nil, fmt.Errorf("opening DKIM key of %s (wrong key file?): %w", name, err)
	}
	return dkim.ParsePrivateKey(der)
}

// Signer returns the DKIM signer for mail from a — the key of its domain or
// of the nearest parent domain with signing enabled — or nil when there is
// none. Keys are cached per account for dkimTTL.
func (s *Service) Signer(ctx context.Context, account string, a address.Address) (*dkim.Signer, error) {
	signers, err := s.signers(ctx, account)
	if err != nil {
		return nil, err
	}
	for d := a.Domain; ; {
		if sg := signers[d]; sg != nil {
			return sg, nil
		}
		i := strings.IndexByte(d, '.')
		if i < 0 || !strings.Contains(d[i+1:], ".") {
			return nil, nil
		}
		d = d[i+1:]
	}
}

func (s *Service) signers(ctx context.Context, account string) (map[string]*dkim.Signer, error) {
	s.mu.Lock()
	c, ok := s.dkim[account]
	changes := s.changes
	s.mu.Unlock()
	if ok && time.Since(c.loaded) < dkimTTL {
		return c.signers, nil
	}
	loaded := time.Now()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT identity, selector, key_sealed FROM dkim_keys WHERE account = ? AND signing_enabled = 1"), account)
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
