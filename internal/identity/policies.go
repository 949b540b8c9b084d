package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/address"
)

// Errors of the policy and tag operations (SES v2: AlreadyExistsException,
// NotFoundException, LimitExceededException).
var (
	ErrPolicyExists   = errors.New("policy already exists")
	ErrPolicyNotFound = errors.New("policy not found")
	ErrPolicyLimit    = errors.New("too many policies")
	ErrTagLimit       = errors.New("too many tags")
)

// MaxTags is the number of tags an identity may carry (SES: 50 per
// resource, ../shared/spec/ses.md §11.3).
const MaxTags = 50

// An identity's resource tags are Tags (verification_templates.go) too;
// their keys and values are checked by the caller (resourcetag.Validate).

// identityTx resolves name to the stored identity of account in tx:
// ErrNotFound when the account has none of that name.
func (s *Service) identityTx(tx *sql.Tx, account, name string) (string, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	var c int
	if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM identities WHERE account = ? AND name = ?"), account, n).Scan(&c); err != nil {
		return "", err
	}
	if c == 0 {
		return "", fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return n, nil
}

// CreatePolicy attaches p, named policyName, to identity name of account
// (CreateEmailIdentityPolicy; p from ParsePolicy). Errors: ErrNotFound (no
// such identity), ErrPolicyExists, ErrPolicyLimit (the identity has
// MaxPoliciesPerIdent already), *PolicyError for an invalid name.
func (s *Service) CreatePolicy(ctx context.Context, account, name, policyName string, p *Policy) error {
	if !ValidPolicyName(policyName) {
		return policyErr("policy name %q: use 1-64 letters, digits, '-' and '_'.", policyName)
	}
	defer s.forget(account)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		return s.insertPolicyTx(tx, account, n, policyName, p)
	})
}

// insertPolicyTx adds policy policyName to identity n (normalised) in tx:
// ErrPolicyExists when it has one of that name, ErrPolicyLimit when it has
// MaxPoliciesPerIdent already.
func (s *Service) insertPolicyTx(tx *sql.Tx, account, n, policyName string, p *Policy) error {
	var have, same int
	if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM identity_policies WHERE account = ? AND identity = ?"),
		policyName, account, n).Scan(&have, &same); err != nil {
		return err
	}
	switch {
	case same > 0:
		return fmt.Errorf("%s on %s: %w", policyName, n, ErrPolicyExists)
	case have >= MaxPoliciesPerIdent:
		return fmt.Errorf("%s has %d policies: %w", n, have, ErrPolicyLimit)
	}
	now := time.Now().UnixMilli()
	return s.db.ExecTx(tx, "INSERT INTO identity_policies (account, identity, name, document, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
		account, n, policyName, p.Document, now, now)
}

// updatePolicyTx replaces the document of identity n's policy policyName
// in tx; found is false when n has no policy of that name.
func (s *Service) updatePolicyTx(tx *sql.Tx, account, n, policyName string, p *Policy) (found bool, err error) {
	res, err := tx.Exec(s.db.Rebind("UPDATE identity_policies SET document = ?, updated_ms = ? WHERE account = ? AND identity = ? AND name = ?"),
		p.Document, time.Now().UnixMilli(), account, n, policyName)
	if err != nil {
		return false, err
	}
	c, _ := res.RowsAffected()
	return c > 0, nil
}

// UpdatePolicy replaces the document of an existing policy
// (UpdateEmailIdentityPolicy). Errors: ErrNotFound, ErrPolicyNotFound.
func (s *Service) UpdatePolicy(ctx context.Context, account, name, policyName string, p *Policy) error {
	defer s.forget(account)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		found, err := s.updatePolicyTx(tx, account, n, policyName, p)
		if err == nil && !found {
			err = fmt.Errorf("%s on %s: %w", policyName, n, ErrPolicyNotFound)
		}
		return err
	})
}

// PutPolicy replaces the document of identity name's policy policyName,
// or attaches p under that name when the identity has none (SES v1
// PutIdentityPolicy: create or replace). Errors: ErrNotFound,
// ErrPolicyLimit (a new policy on an identity that has
// MaxPoliciesPerIdent), *PolicyError for an invalid name.
func (s *Service) PutPolicy(ctx context.Context, account, name, policyName string, p *Policy) error {
	if !ValidPolicyName(policyName) {
		return policyErr("policy name %q: use 1-64 letters, digits, '-' and '_'.", policyName)
	}
	defer s.forget(account)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		found, err := s.updatePolicyTx(tx, account, n, policyName, p)
		if err != nil || found {
			return err
		}
		return s.insertPolicyTx(tx, account, n, policyName, p)
	})
}

// DeletePolicy removes a policy (DeleteEmailIdentityPolicy); deleting a
// policy the identity does not have succeeds, as in SES. Errors:
// ErrNotFound (no such identity).
func (s *Service) DeletePolicy(ctx context.Context, account, name, policyName string) error {
	defer s.forget(account)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		return s.db.ExecTx(tx, "DELETE FROM identity_policies WHERE account = ? AND identity = ? AND name = ?", account, n, policyName)
	})
}

// Policies returns the policies of identity name, name → document
// (GetEmailIdentityPolicies, GetEmailIdentity.Policies). Errors:
// ErrNotFound.
func (s *Service) Policies(ctx context.Context, account, name string) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		rows, err := tx.Query(s.db.Rebind("SELECT name, document FROM identity_policies WHERE account = ? AND identity = ? ORDER BY name"), account, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			out[k] = v
		}
		return rows.Err()
	})
	return out, err
}

// BrokenPolicyError is a stored policy of an identity that no longer
// parses against the identity's ARN (it did when stored: the deployment's
// region or the parser changed). The accept path treats it as a Deny of
// every delegated send under the identity (fail closed) until the owner
// replaces or deletes it.
type BrokenPolicyError struct {
	Identity string // the identity's normalised name
	Policy   string // the policy's name
	Err      error  // ParsePolicy's error
}

func (e *BrokenPolicyError) Error() string {
	return "stored policy " + e.Policy + " of identity " + e.Identity + " no longer parses (delegated sending under it is refused until it is replaced or deleted): " + e.Err.Error()
}

func (e *BrokenPolicyError) Unwrap() error { return e.Err }

// cachedPolicies is SendingPolicies' answer for one identity of an account,
// kept for verifiedTTL (forget drops it).
type cachedPolicies struct {
	id       Identity
	policies []*Policy
	err      error // ErrNotFound, *BrokenPolicyError or nil
	prefix   string
	loaded   time.Time
}

// SendingPolicies returns, for the accept path, identity name of account
// with its policies, each parsed against the identity's ARN, arnPrefix +
// its normalised name (arnPrefix: arn:aws:ses:REGION:ACCOUNTID:identity/).
// A stored document that no longer parses (it did when stored) makes it
// return the identity with a *BrokenPolicyError: the caller refuses the
// send, as for a Deny. Answers (not-found ones included) are cached per
// (account, identity) for verifiedTTL: a change made through this Service
// applies to the next message, one made by another process (the CLI,
// another node) within 5 s. Errors: ErrNotFound, *BrokenPolicyError,
// storage errors.
func (s *Service) SendingPolicies(ctx context.Context, account, name, arnPrefix string) (Identity, []*Policy, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	s.mu.Lock()
	c, ok := s.policies[account][n]
	changes := s.changes
	s.mu.Unlock()
	if ok && c.prefix == arnPrefix && time.Since(c.loaded) < verifiedTTL {
		return c.id, c.policies, c.err
	}
	c = cachedPolicies{prefix: arnPrefix, loaded: time.Now()}
	c.id, c.policies, c.err = s.loadSendingPolicies(ctx, account, n, arnPrefix)
	var broken *BrokenPolicyError
	if c.err != nil && !errors.Is(c.err, ErrNotFound) && !errors.As(c.err, &broken) {
		return c.id, nil, c.err // storage: not cached
	}
	s.mu.Lock()
	if s.changes == changes {
		if s.policies == nil {
			s.policies = map[string]map[string]cachedPolicies{}
		}
		if s.policies[account] == nil {
			s.policies[account] = map[string]cachedPolicies{}
		}
		s.policies[account][n] = c
	}
	s.mu.Unlock()
	return c.id, c.policies, c.err
}

func (s *Service) loadSendingPolicies(ctx context.Context, account, n, arnPrefix string) (Identity, []*Policy, error) {
	id, err := s.Get(ctx, account, n)
	if err != nil {
		return id, nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT name, document FROM identity_policies WHERE account = ? AND identity = ? ORDER BY name"), account, id.Name)
	if err != nil {
		return id, nil, err
	}
	defer rows.Close()
	var out []*Policy
	var broken error
	for rows.Next() {
		var k, doc string
		if err := rows.Scan(&k, &doc); err != nil {
			return id, nil, err
		}
		p, err := ParsePolicy(doc, arnPrefix+id.Name)
		if err != nil {
			if broken == nil {
				broken = &BrokenPolicyError{Identity: id.Name, Policy: k, Err: err}
			}
			continue
		}
		p.Name = k
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return id, nil, err
	}
	if broken != nil {
		return id, nil, broken
	}
	return id, out, nil
}

// Tags returns the tags of identity name, by key. Errors: ErrNotFound.
func (s *Service) Tags(ctx context.Context, account, name string) ([]Tag, error) {
	out := []Tag{}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		out, err = s.tagsTx(tx, account, n)
		return err
	})
	return out, err
}

func (s *Service) tagsTx(tx *sql.Tx, account, n string) ([]Tag, error) {
	rows, err := tx.Query(s.db.Rebind("SELECT tag_key, tag_value FROM identity_tags WHERE account = ? AND identity = ? ORDER BY tag_key"), account, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Tag adds tags to identity name, replacing the values of keys it has
// (TagResource, CreateEmailIdentity.Tags). Errors: ErrNotFound, ErrTagLimit
// when the identity would have more than MaxTags.
func (s *Service) Tag(ctx context.Context, account, name string, tags []Tag) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		have, err := s.tagsTx(tx, account, n)
		if err != nil {
			return err
		}
		keys := map[string]bool{}
		for _, t := range have {
			keys[t.Key] = true
		}
		for _, t := range tags {
			if keys[t.Key] {
				if err := s.db.ExecTx(tx, "UPDATE identity_tags SET tag_value = ? WHERE account = ? AND identity = ? AND tag_key = ?", t.Value, account, n, t.Key); err != nil {
					return err
				}
				continue
			}
			keys[t.Key] = true
			if err := s.db.ExecTx(tx, "INSERT INTO identity_tags (account, identity, tag_key, tag_value) VALUES (?, ?, ?, ?)", account, n, t.Key, t.Value); err != nil {
				return err
			}
		}
		if len(keys) > MaxTags {
			return fmt.Errorf("%s would have %d tags (at most %d): %w", n, len(keys), MaxTags, ErrTagLimit)
		}
		return nil
	})
}

// Untag removes the tags of keys from identity name; keys it does not have
// are ignored (UntagResource). Errors: ErrNotFound.
func (s *Service) Untag(ctx context.Context, account, name string, keys []string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err := s.identityTx(tx, account, name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := s.db.ExecTx(tx, "DELETE FROM identity_tags WHERE account = ? AND identity = ? AND tag_key = ?", account, n, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// deletePoliciesAndTagsTx removes identity n's policies and tags (Delete).
func (s *Service) deletePoliciesAndTagsTx(tx *sql.Tx, account, n string) error {
	if err := s.db.ExecTx(tx, "DELETE FROM identity_policies WHERE account = ? AND identity = ?", account, n); err != nil {
		return err
	}
	return s.db.ExecTx(tx, "DELETE FROM identity_tags WHERE account = ? AND identity = ?", account, n)
}

// Covers reports whether identity name (normalised) covers address a: it
// is the address itself, its domain, or a parent domain (as Authorizing).
func Covers(name string, a address.Address) bool {
	for n := range covering(a) {
		if n == name {
			return true
		}
	}
	return false
}
