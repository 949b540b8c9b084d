package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
)

// Custom MAIL FROM (SES PutEmailIdentityMailFromAttributes,
// ../shared/spec/ses.md §1.7, §9.3): an identity may name a subdomain of
// its domain (bounce.example.com for example.com or for
// user@example.com) as the domain of its mail's envelope sender, so that
// SPF is checked against, and aligns with, the From domain for DMARC. The
// subdomain must publish exactly one MX, naming Petrel's return-path host,
// and an SPF record authorising Petrel (EvaluateMailFromMX,
// EvaluateMailFromSPF). Until both are found (status SUCCESS) the
// identity's mail goes out with the default return-path domain
// (USE_DEFAULT_VALUE) or is refused (REJECT_MESSAGE), as SES does.

// BehaviorOnMxFailure values (SES v2).
const (
	UseDefaultValue = "USE_DEFAULT_VALUE"
	RejectMessage   = "REJECT_MESSAGE"
)

// MailFrom is an identity's custom MAIL FROM setting.
type MailFrom struct {
	Domain   string // lower-case A-labels; "" = custom MAIL FROM disabled
	Behavior string // UseDefaultValue or RejectMessage
	Status   string // StatusPending, StatusSuccess, StatusFailed or StatusTemporaryFailure
}

// ErrInvalidMailFrom reports MAIL FROM attributes SES would refuse (v2:
// BadRequestException); the error's message says why.
var ErrInvalidMailFrom = errors.New("invalid MAIL FROM attributes")

type mailFromError struct{ msg string }

func (e *mailFromError) Error() string        { return e.msg }
func (e *mailFromError) Is(target error) bool { return target == ErrInvalidMailFrom }

// mailFromTTL bounds how old the cached MAIL FROM settings the send path
// reads (MailFromFor) may be: changes made through this Service apply at
// once, others' (the verification engine of another node, the CLI) within it.
const mailFromTTL = 5 * time.Second

// cachedMailFrom is the MAIL FROM settings of an account's identities that
// have a MAIL FROM domain, by identity name.
type cachedMailFrom struct {
	byName map[string]MailFrom
	loaded time.Time
}

// CheckMailFromDomain validates domain as the MAIL FROM domain of the
// identity named identityName (normalised, of kind kind) and returns it in
// lower-case A-labels: a valid DNS name (address.Domain) that is a proper
// subdomain of the identity's domain — the domain itself for a domain
// identity, the address's domain for an address identity. Errors wrap
// ErrInvalidMailFrom.
func CheckMailFromDomain(identityName string, kind Kind, domain string) (string, error) {
	d, err := address.Domain(domain)
	if err != nil {
		return "", &mailFromError{fmt.Sprintf("MailFromDomain %q is not a valid domain name: %v.", domain, strings.TrimPrefix(err.Error(), address.ErrInvalid.Error()+": "))}
	}
	parent := identityName
	if kind == EmailAddress {
		_, parent, _ = strings.Cut(identityName, "@")
	}
	if d == parent {
		return "", &mailFromError{fmt.Sprintf("MailFromDomain %s must be a subdomain of %s, not %s itself.", d, parent, parent)}
	}
	if !strings.HasSuffix(d, "."+parent) {
		return "", &mailFromError{fmt.Sprintf("MailFromDomain %s is not a subdomain of %s.", d, parent)}
	}
	return d, nil
}

// PutMailFrom sets the custom MAIL FROM domain and BehaviorOnMxFailure of
// account's identity name (SES PutEmailIdentityMailFromAttributes). domain
// "" disables custom MAIL FROM (the behaviour is kept); behavior "" means
// UseDefaultValue, SES's default. A new domain starts PENDING; the same
// domain keeps its status, except that a FAILED one starts again: its
// FAILED MX and SPF records become PENDING, due now, with a new 72-hour
// window (SES: putting the attributes again restarts the check), and the
// status PENDING. The caller then calls StartVerification, so that the
// records of a new domain are known to the checker at once. Errors:
// ErrNotFound (no such identity of the account), ErrInvalidMailFrom.
func (s *Service) PutMailFrom(ctx context.Context, account, name, domain, behavior string) error {
	id, err := s.Get(ctx, account, name)
	if err != nil {
		return err
	}
	switch behavior {
	case "":
		behavior = UseDefaultValue
	case UseDefaultValue, RejectMessage:
	default:
		return &mailFromError{fmt.Sprintf("BehaviorOnMxFailure %q must be %s or %s.", behavior, UseDefaultValue, RejectMessage)}
	}
	if domain != "" {
		if domain, err = CheckMailFromDomain(id.Name, id.Kind, domain); err != nil {
			return err
		}
	}
	now := time.Now().UnixMilli()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRow(s.db.Rebind("SELECT domain FROM identity_mail_from WHERE account = ? AND identity = ?"), account, id.Name).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return s.db.ExecTx(tx, "INSERT INTO identity_mail_from (account, identity, domain, behavior, status, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
				account, id.Name, domain, behavior, StatusPending, now)
		case err != nil:
			return err
		case old == domain:
			if err := s.db.ExecTx(tx, "UPDATE identity_mail_from SET behavior = ?, updated_ms = ? WHERE account = ? AND identity = ?",
				behavior, now, account, id.Name); err != nil || domain == "" {
				return err
			}
			return s.restartMailFromTx(tx, account, id.Name, domain, now)
		}
		return s.db.ExecTx(tx, "UPDATE identity_mail_from SET domain = ?, behavior = ?, status = ?, updated_ms = ? WHERE account = ? AND identity = ?",
			domain, behavior, StatusPending, now, account, id.Name)
	})
	s.forget(account)
	return err
}

// restartMailFromTx starts the check of a FAILED MAIL FROM domain again
// (PutMailFrom with the same domain): its FAILED records PENDING from now
// and due, and the identity's MAIL FROM status PENDING when it was FAILED.
func (s *Service) restartMailFromTx(tx *sql.Tx, account, identity, domain string, now int64) error {
	if err := s.db.ExecTx(tx, `UPDATE identity_records SET status = ?, started_ms = ?, missing_since_ms = 0, next_check_ms = ?
		WHERE account = ? AND identity = ? AND name = ? AND purpose IN (?, ?) AND status = ?`,
		StatusPending, now, now, account, identity, domain, PurposeMailFromMX, PurposeMailFromSPF, StatusFailed); err != nil {
		return err
	}
	return s.db.ExecTx(tx, "UPDATE identity_mail_from SET status = ? WHERE account = ? AND identity = ? AND status = ?",
		StatusPending, account, identity, StatusFailed)
}

// GetMailFrom returns the MAIL FROM setting of account's identity name as
// the store has it now; an identity never given one has no domain,
// UseDefaultValue and StatusPending. Errors: ErrNotFound.
func (s *Service) GetMailFrom(ctx context.Context, account, name string) (MailFrom, error) {
	id, err := s.Get(ctx, account, name)
	if err != nil {
		return MailFrom{}, err
	}
	m := MailFrom{Behavior: UseDefaultValue, Status: StatusPending}
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT domain, behavior, status FROM identity_mail_from WHERE account = ? AND identity = ?"), account, id.Name).
		Scan(&m.Domain, &m.Behavior, &m.Status)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return m, err
}

// MailFromFor returns the custom MAIL FROM setting that applies to mail
// whose envelope sender is a, and the identity it belongs to: that of the
// most specific verified identity of account covering a (the address, its
// domain, a parent domain) with a MAIL FROM domain set; ok is false when
// none has one. It runs on every message: it reads the account's settings
// cached for mailFromTTL, and an account without any custom MAIL FROM
// costs one map lookup.
func (s *Service) MailFromFor(ctx context.Context, account string, a address.Address) (m MailFrom, identity string, ok bool, err error) {
	all, err := s.mailFroms(ctx, account)
	if err != nil || len(all) == 0 {
		return MailFrom{}, "", false, err
	}
	verified, err := s.verifiedSet(ctx, account)
	if err != nil {
		return MailFrom{}, "", false, err
	}
	for n := range covering(a) {
		if m, ok := all[n]; ok && verified[n] {
			return m, n, true, nil
		}
	}
	return MailFrom{}, "", false, nil
}

func (s *Service) mailFroms(ctx context.Context, account string) (map[string]MailFrom, error) {
	s.mu.Lock()
	c, ok := s.mailFrom[account]
	changes := s.changes
	s.mu.Unlock()
	if ok && time.Since(c.loaded) < mailFromTTL {
		return c.byName, nil
	}
	loaded := time.Now()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT identity, domain, behavior, status FROM identity_mail_from WHERE account = ? AND domain <> ''"), account)
	if err != nil {
		return nil, fmt.Errorf("loading MAIL FROM domains: %w", err)
	}
	defer rows.Close()
	out := map[string]MailFrom{}
	for rows.Next() {
		var n string
		var m MailFrom
		if err := rows.Scan(&n, &m.Domain, &m.Behavior, &m.Status); err != nil {
			return nil, err
		}
		out[n] = m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.changes == changes {
		if s.mailFrom == nil {
			s.mailFrom = map[string]cachedMailFrom{}
		}
		s.mailFrom[account] = cachedMailFrom{byName: out, loaded: loaded}
	}
	s.mu.Unlock()
	return out, nil
}
