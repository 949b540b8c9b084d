// Package identity owns the sending identities of each account — email
// addresses and domains — and answers the question every send asks: may this
// account send as this address?
//
// An address may be used when the address itself is a verified identity of
// the account, or when its domain or a parent domain is (SES: a verified
// domain covers its subdomains). A domain is verified when its DNS records
// say so (Checker, verify.go) or the operator vouches for it (SetVerified).
// Domain identities carry a DKIM key (dkim.go) that signs their mail.
package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
	"golang.org/x/net/publicsuffix"
)

// Kind is the SES IdentityType.
type Kind string

const (
	EmailAddress Kind = "EMAIL_ADDRESS"
	Domain       Kind = "DOMAIN"
)

// Identity is one email address or domain of an account.
type Identity struct {
	Account  string
	Name     string // normalised (Normalize): domain in lower-case A-labels; address as local@domain, local part as given
	Kind     Kind
	Verified bool
	Created  time.Time
}

var (
	ErrExists   = errors.New("identity already exists")
	ErrNotFound = errors.New("identity not found")

	// ErrPublicSuffix: a domain identity may not be a public suffix
	// (co.uk, github.io: it would cover every domain registered under it)
	// nor have an all-numeric top-level label (1.2.3.4 is an IP address,
	// not a domain). Wraps address.ErrInvalid.
	ErrPublicSuffix = fmt.Errorf("%w: a public suffix (such as co.uk or github.io), an all-numeric top-level domain or a single-label name cannot be a domain identity", address.ErrInvalid)
)

// Service stores identities.
type Service struct {
	db     *store.DB
	sealer Sealer

	// DKIMCNAMEZone (--dkim-cname-zone), when set, is the zone the
	// operator serves Easy DKIM keys from: each selector is published as
	// <selector>._domainkey.<domain> CNAME <selector>.<zone> (SES's
	// SigningHostedZone). Empty: TXT records with the key. Set before use.
	DKIMCNAMEZone string

	mu       sync.Mutex
	verified map[string]verifiedSet               // account → its verified identities, for Authorizing
	dkim     map[string]cachedSigners             // account → DKIM signers by domain, for Signer
	notif    map[string]accountSettings           // account → its identities' notification settings (notifications.go)
	mailFrom map[string]cachedMailFrom            // account → its identities' custom MAIL FROM settings (mailfrom.go)
	policies map[string]map[string]cachedPolicies // account → identity → its parsed policies (policies.go)
	changes  int                                  // bumped by forget, so a load racing a change is not cached
}

type verifiedSet struct {
	names  map[string]bool
	loaded time.Time
}

// verifiedTTL bounds how long Authorizing works from a cached set: changes
// made by this process apply at once, those of another process (the CLI,
// another node) within verifiedTTL.
const verifiedTTL = 5 * time.Second

// New returns a Service; sealer protects DKIM private keys at rest.
func New(db *store.DB, sealer Sealer) *Service {
	return &Service{db: db, sealer: sealer, verified: map[string]verifiedSet{}, dkim: map[string]cachedSigners{}}
}

// forget drops the cached verified set of account after a change.
func (s *Service) forget(account string) {
	s.mu.Lock()
	delete(s.verified, account)
	delete(s.dkim, account)
	delete(s.notif, account)
	delete(s.mailFrom, account)
	delete(s.policies, account)
	s.changes++
	s.mu.Unlock()
}

// Normalize validates an identity name and returns its canonical form and
// kind. A domain (bücher.example or xn--bcher-kva.example) becomes its
// lower-case A-labels (address.Domain), so that either spelling names one
// identity and matches addresses in either. An address becomes its
// unquoted local part, "@", and the domain so converted: the local part,
// UTF-8 or not (RFC 6531), is compared byte for byte, ASCII case included,
// as Authorizing does. Normalize accepts its own output (a local part
// that needs quoting, "<b>"@example.com → <b>@example.com, is taken
// unquoted too), so a stored name given back (Get, Delete, the policy
// operations) names the same identity. Errors wrap address.ErrInvalid.
func Normalize(name string) (string, Kind, error) {
	if strings.Contains(name, "@") {
		a, err := address.ParsePath(name)
		if err != nil {
			var again error
			if a, again = address.ParsePath(AddressOf(name).Email()); again != nil {
				return "", "", err
			}
		}
		return a.Local + "@" + a.Domain, EmailAddress, nil
	}
	d, err := address.Domain(name)
	if err != nil {
		return "", "", err
	}
	return d, Domain, nil
}

// AddressOf is the address an email-address identity's normalised name
// (Normalize: the local part unquoted) stands for, to mail it: its
// Email() quotes the local part again where RFC 5321 needs it
// ("<form action=x>"@example.com).
func AddressOf(name string) address.Address {
	i := strings.LastIndexByte(name, '@')
	return address.Address{Local: name[:i], Domain: name[i+1:]}
}

// Create adds an identity to account; verified is the operator's vouch
// (SetVerified). A domain gets its verification token.
func (s *Service) Create(ctx context.Context, account, name string, verified bool) (Identity, error) {
	n, kind, err := Normalize(name)
	if err != nil {
		return Identity{}, err
	}
	if kind == Domain && !registrable(n) {
		return Identity{}, fmt.Errorf("%w: %q", ErrPublicSuffix, n)
	}
	id := Identity{Account: account, Name: n, Kind: kind, Verified: verified, Created: time.Now()}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var c int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM identities WHERE account = ? AND name = ?"), account, n).Scan(&c); err != nil {
			return err
		}
		if c > 0 {
			return fmt.Errorf("%s: %w", n, ErrExists)
		}
		token := ""
		if kind == Domain {
			token = newDomainToken()
		}
		return s.db.ExecTx(tx, "INSERT INTO identities (account, name, kind, verified, vouched, verification_token, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
			account, n, string(kind), boolInt(verified), boolInt(verified), token, id.Created.UnixMilli())
	})
	s.forget(account)
	return id, err
}

// SetVerified records the operator's vouch for an existing identity
// (petrel identity verify, add --verified): vouched, it is verified
// whatever DNS says. Withdrawn, a domain is verified only if its records
// say so (Checker); an address is no longer verified.
func (s *Service) SetVerified(ctx context.Context, account, name string, verified bool) error {
	n, _, err := Normalize(name)
	if err != nil {
		return err
	}
	var res sql.Result
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.Exec(s.db.Rebind("UPDATE identities SET vouched = ?, verified = ? WHERE account = ? AND name = ?"), boolInt(verified), boolInt(verified), account, n)
		if err != nil || verified {
			return err
		}
		_, err = recomputeVerifiedTx(s.db, tx, account, n)
		return err
	})
	if err != nil {
		return err
	}
	s.forget(account)
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return nil
}

// Get returns one identity.
func (s *Service) Get(ctx context.Context, account, name string) (Identity, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	row := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT account, name, kind, verified, created_ms FROM identities WHERE account = ? AND name = ?"), account, n)
	id, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return id, fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return id, err
}

// List returns up to limit identities of account whose name sorts after
// `after`, in name order.
func (s *Service) List(ctx context.Context, account, after string, limit int) ([]Identity, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(
		"SELECT account, name, kind, verified, created_ms FROM identities WHERE account = ? AND name > ? ORDER BY name LIMIT ?"),
		account, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Identity
	for rows.Next() {
		id, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Delete removes an identity.
func (s *Service) Delete(ctx context.Context, account, name string) error {
	n, _, err := Normalize(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	var res sql.Result
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The identity row first, as DKIM key changes lock it (dkim.go):
		// one lock order on every path, so no deadlock on PostgreSQL.
		if _, err := s.lockIdentity(tx, account, n); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := s.db.ExecTx(tx, "DELETE FROM dkim_keys WHERE account = ? AND identity = ?", account, n); err != nil {
			return err
		}
		if err := s.db.ExecTx(tx, "DELETE FROM identity_mail_from WHERE account = ? AND identity = ?", account, n); err != nil {
			return err
		}
		if err := s.db.ExecTx(tx, "DELETE FROM identity_records WHERE account = ? AND identity = ?", account, n); err != nil {
			return err
		}
		if err := s.deletePoliciesAndTagsTx(tx, account, n); err != nil {
			return err
		}
		if err := s.deleteLinksTx(tx, account, n); err != nil {
			return err
		}
		var err error
		res, err = tx.Exec(s.db.Rebind("DELETE FROM identities WHERE account = ? AND name = ?"), account, n)
		return err
	})
	if err != nil {
		return err
	}
	s.forget(account)
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return nil
}

// Authorizing returns the verified identity of account that covers a — the
// address itself, its domain, or a parent domain, the most specific first —
// or "" when none does. It runs on every message, so it works from the
// account's verified set, cached for verifiedTTL.
func (s *Service) Authorizing(ctx context.Context, account string, a address.Address) (string, error) {
	names, err := s.verifiedSet(ctx, account)
	if err != nil {
		return "", err
	}
	for n := range covering(a) {
		if names[n] {
			return n, nil
		}
	}
	return "", nil
}

// covering yields the identity names that may cover a, most specific
// first: the address itself, then its domain and each parent domain
// (parents: SES, a verified domain covers its subdomains).
func covering(a address.Address) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(a.Local + "@" + a.Domain) {
			return
		}
		for d := range parents(a.Domain) {
			if !yield(d) {
				return
			}
		}
	}
}

// parents yields domain (lower-case A-labels) and each of its parent
// domains, most specific first, stopping before the public suffix
// (golang.org/x/net/publicsuffix, ICANN and private sections; an unlisted
// TLD is its own suffix): a domain identity covers its subdomains, but
// nothing ever covers every domain under co.uk or github.io. A domain that
// is itself a public suffix yields nothing.
func parents(domain string) iter.Seq[string] {
	return func(yield func(string) bool) {
		suffix, _ := publicsuffix.PublicSuffix(domain)
		for d := domain; len(d) > len(suffix); {
			if !yield(d) {
				return
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				return
			}
			d = d[i+1:]
		}
	}
}

// registrable reports whether domain (lower-case A-labels) may be a domain
// identity: not a public suffix (nor a single label, which is its own
// suffix) and not under an all-numeric top-level label.
func registrable(domain string) bool {
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	if strings.Trim(tld, "0123456789") == "" {
		return false
	}
	suffix, _ := publicsuffix.PublicSuffix(domain)
	return len(domain) > len(suffix)
}

func (s *Service) verifiedSet(ctx context.Context, account string) (map[string]bool, error) {
	s.mu.Lock()
	v, ok := s.verified[account]
	changes := s.changes
	s.mu.Unlock()
	if ok && time.Since(v.loaded) < verifiedTTL {
		return v.names, nil
	}
	loaded := time.Now()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT name FROM identities WHERE account = ? AND verified = 1"), account)
	if err != nil {
		return nil, fmt.Errorf("checking sender identity: %w", err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.changes == changes {
		s.verified[account] = verifiedSet{names: names, loaded: loaded}
	}
	s.mu.Unlock()
	return names, nil
}

type scanner interface{ Scan(...any) error }

func scan(r scanner) (Identity, error) {
	var id Identity
	var kind string
	var verified int
	var created int64
	err := r.Scan(&id.Account, &id.Name, &kind, &verified, &created)
	id.Kind, id.Verified, id.Created = Kind(kind), verified != 0, time.UnixMilli(created)
	return id, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
