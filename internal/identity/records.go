package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Purposes of the DNS records an identity publishes (identity_records.purpose).
const (
	PurposeDKIM        = "DKIM"         // <selector>._domainkey.<domain>: the public key of a DKIM key
	PurposeDomainToken = "DOMAIN_TOKEN" // _amazonses.<domain> TXT <verification token> (SES v1, §9.2)
	PurposeMailFromMX  = "MAIL_FROM_MX"
	PurposeMailFromSPF = "MAIL_FROM_SPF"
)

// Record states (SES VerificationStatus, DkimStatus, MailFromDomainStatus).
const (
	StatusPending          = "PENDING"
	StatusSuccess          = "SUCCESS"
	StatusFailed           = "FAILED"
	StatusTemporaryFailure = "TEMPORARY_FAILURE"
	StatusNotStarted       = "NOT_STARTED" // no record to check (API only; never stored)
)

// SES VerificationInfo.ErrorType values the checker records.
const (
	ErrorDNSServer   = "DNS_SERVER_ERROR" // SERVFAIL or no answer
	ErrorHostMissing = "HOST_NOT_FOUND"   // NXDOMAIN
	ErrorTypeMissing = "TYPE_NOT_FOUND"   // the name has no record of the type
	ErrorBadValue    = "INVALID_VALUE"    // the record is there with another value
	ErrorService     = "SERVICE_ERROR"    // Petrel's own failure (the key could not be opened)
)

// SOARecord is SES's VerificationInfo.SOARecord: the SOA of the zone that
// holds a record, as last seen.
type SOARecord struct {
	PrimaryNameServer string `json:"PrimaryNameServer"`
	AdminEmail        string `json:"AdminEmail"` // the SOA RNAME, as in DNS (hostmaster.example.com)
	SerialNumber      int64  `json:"SerialNumber"`
}

// Record is the verification state of one DNS record an identity
// publishes (table identity_records). Times are zero when never.
type Record struct {
	Account, Identity string
	Purpose           string // PurposeDKIM, …
	Name              string // the FQDN queried, lower case, no trailing dot
	Type              string // the record type to publish at Name: TXT, CNAME or MX
	Status            string // StatusPending, StatusSuccess, StatusFailed, StatusTemporaryFailure
	Started           time.Time
	LastChecked       time.Time
	LastSuccess       time.Time
	MissingSince      time.Time // after a success: first seen missing or wrong (never set by SERVFAIL, a timeout or Petrel's own failure)
	NextCheck         time.Time // when the checker looks next (a FAILED record: every Checker.FailedRecheck)
	ErrorType         string    // SES ErrorType of the last check ('' after a success; DNS_SERVER_ERROR or SERVICE_ERROR on a SUCCESS record whose last lookup failed)
	Expected          string    // the value to publish
	Found             string    // what DNS returned at the last check
	Detail            string    // the last check's explanation in words
	SOA               *SOARecord
}

const recordColumns = "account, identity, purpose, name, rtype, status, started_ms, last_checked_ms, last_success_ms, missing_since_ms, next_check_ms, error_type, expected, found, detail, soa"

func scanRecord(r scanner) (Record, error) {
	var rec Record
	var started, checked, success, missing, next int64
	var soa string
	err := r.Scan(&rec.Account, &rec.Identity, &rec.Purpose, &rec.Name, &rec.Type, &rec.Status, &started, &checked, &success, &missing, &next,
		&rec.ErrorType, &rec.Expected, &rec.Found, &rec.Detail, &soa)
	rec.Started, rec.LastChecked, rec.LastSuccess, rec.MissingSince, rec.NextCheck = msTime(started), msTime(checked), msTime(success), msTime(missing), msTime(next)
	if soa != "" {
		rec.SOA = new(SOARecord)
		if json.Unmarshal([]byte(soa), rec.SOA) != nil {
			rec.SOA = nil
		}
	}
	return rec, err
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func timeMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Records returns the verification records of an identity, by purpose then
// name; none when the checker has not seen the identity yet (ErrNotFound
// only when the identity does not exist).
func (s *Service) Records(ctx context.Context, account, name string) ([]Record, error) {
	id, err := s.Get(ctx, account, name)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+recordColumns+" FROM identity_records WHERE account = ? AND identity = ? ORDER BY purpose, name"), account, id.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordStatus returns the state of one record of an identity — purpose
// and the FQDN queried (DKIMRecordName for a DKIM key). ErrNotFound when the
// checker has no such record (yet: a key or setting added since its last
// pass counts as PENDING until then).
func (s *Service) RecordStatus(ctx context.Context, account, identity, purpose, name string) (Record, error) {
	n, _, err := Normalize(identity)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", identity, ErrNotFound)
	}
	row := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+recordColumns+" FROM identity_records WHERE account = ? AND identity = ? AND purpose = ? AND name = ?"), account, n, purpose, name)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%s record %s of %s: %w", purpose, name, n, ErrNotFound)
	}
	return r, err
}

// DKIMRecordName is where the public key of selector is looked up
// (RFC 6376 §3.6.2.1): <selector>._domainkey.<domain>.
func DKIMRecordName(selector, domain string) string { return selector + "._domainkey." + domain }

// TokenRecordName is where a domain's verification token is published
// (SES v1 VerifyDomainIdentity): _amazonses.<domain>.
func TokenRecordName(domain string) string { return "_amazonses." + domain }

// newDomainToken returns a fresh `_amazonses` verification token: 32 random bytes, base64,
// as SES's VerificationToken looks.
func newDomainToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// VerificationToken returns a domain identity's `_amazonses` TXT token,
// generating it for a domain created before tokens existed.
func (s *Service) VerificationToken(ctx context.Context, account, domain string) (string, error) {
	id, err := s.Get(ctx, account, domain)
	if err != nil {
		return "", err
	}
	if id.Kind != Domain {
		return "", fmt.Errorf("%s: %w", id.Name, ErrNotDomain)
	}
	return s.tokenOf(ctx, account, id.Name)
}

func (s *Service) tokenOf(ctx context.Context, account, domain string) (string, error) {
	q := s.db.Rebind("SELECT verification_token FROM identities WHERE account = ? AND name = ?")
	var tok string
	if err := s.db.QueryRowContext(ctx, q, account, domain).Scan(&tok); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("%s: %w", domain, ErrNotFound)
		}
		return "", err
	}
	if tok != "" {
		return tok, nil
	}
	// Another process may generate one at the same time: the first wins.
	if _, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE identities SET verification_token = ? WHERE account = ? AND name = ? AND verification_token = ''"), newDomainToken(), account, domain); err != nil {
		return "", err
	}
	err := s.db.QueryRowContext(ctx, q, account, domain).Scan(&tok)
	return tok, err
}

// recomputeVerifiedTx sets identities.verified of a domain identity from
// its vouch and records: verified when vouched, or when a record of a
// verifying kind (DKIM, token) is SUCCESS or in its grace period. It reports whether the flag
// changed (the caller then forgets the account after the commit). An
// address identity is left alone: its flag is the vouch's or the
// verification link's.
func recomputeVerifiedTx(db *store.DB, tx *sql.Tx, account, name string) (bool, error) {
	var kind string
	var vouched, verified int
	err := tx.QueryRow(db.Rebind("SELECT kind, vouched, verified FROM identities WHERE account = ? AND name = ?"), account, name).Scan(&kind, &vouched, &verified)
	if errors.Is(err, sql.ErrNoRows) || kind != string(Domain) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	purposes := verifyingPurposes()
	args := []any{account, name}
	for _, p := range purposes {
		args = append(args, p)
	}
	args = append(args, StatusSuccess, StatusTemporaryFailure)
	var n int
	if err := tx.QueryRow(db.Rebind(`SELECT COUNT(*) FROM identity_records WHERE account = ? AND identity = ? AND purpose IN (`+store.Placeholders(len(purposes))+`)
		AND (status = ? OR (status = ? AND missing_since_ms > 0))`), args...).Scan(&n); err != nil {
		return false, err
	}
	want := boolInt(vouched != 0 || n > 0)
	if want == verified {
		return false, nil
	}
	return true, db.ExecTx(tx, "UPDATE identities SET verified = ? WHERE account = ? AND name = ?", want, account, name)
}

// cnameStyle reports whether a key of origin is published as a CNAME to
// the operator's zone (--dkim-cname-zone; Easy DKIM keys only, BYODKIM
// keys are the operator's TXT records).
func (s *Service) cnameStyle(origin string) bool {
	return s.DKIMCNAMEZone != "" && origin == OriginEasy
}

// SigningHostedZone is SES's DkimAttributes.SigningHostedZone for a key of
// origin: the CNAME zone when its records are CNAMEs, else "".
func (s *Service) SigningHostedZone(origin string) string {
	if s.cnameStyle(origin) {
		return s.DKIMCNAMEZone
	}
	return ""
}

// DKIMStatus is SES's DkimAttributes.Status of a domain's key: its DKIM
// record's state, PENDING until the checker has seen the key.
func (s *Service) DKIMStatus(ctx context.Context, account, domain, selector string) (string, error) {
	r, err := s.RecordStatus(ctx, account, domain, PurposeDKIM, DKIMRecordName(selector, domain))
	if errors.Is(err, ErrNotFound) {
		return StatusPending, nil
	}
	return r.Status, err
}

// Verification is an identity's verification as SES reports it
// (GetEmailIdentity VerificationStatus and VerificationInfo).
type Verification struct {
	Status      string    // SUCCESS, PENDING, FAILED or TEMPORARY_FAILURE
	LastChecked time.Time // zero: never checked
	LastSuccess time.Time // zero: never found
	ErrorType   string    // of the last failed check ('' when none)
	SOA         *SOARecord
}

// Verifications returns the verification of each of ids (of account), by
// name. An identity the operator vouched for, or an address verified
// otherwise, is SUCCESS. A domain is SUCCESS when a DKIM or token record
// is; else TEMPORARY_FAILURE when one is (within the window, or within the
// grace after a success, when the domain is still verified); else PENDING
// when one is or the checker has not seen the domain yet; else FAILED.
func (s *Service) Verifications(ctx context.Context, account string, ids []Identity) (map[string]Verification, error) {
	out := make(map[string]Verification, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	names := make([]any, 0, len(ids)+1)
	names = append(names, account)
	for _, id := range ids {
		names = append(names, id.Name)
	}
	in := " AND identity IN (" + store.Placeholders(len(ids)) + ")"
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT name FROM identities WHERE account = ? AND vouched = 1 AND name IN ("+store.Placeholders(len(ids))+")"), names...)
	if err != nil {
		return nil, err
	}
	vouched, err := store.StringSet(rows)
	if err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, s.db.Rebind("SELECT "+recordColumns+" FROM identity_records WHERE account = ?"+in+" ORDER BY purpose, name"), names...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := map[string][]Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if src, ok := sourceOf(r.Purpose); ok && src.verifies {
			recs[r.Identity] = append(recs[r.Identity], r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		out[id.Name] = summarize(id, vouched[id.Name], recs[id.Name])
	}
	return out, nil
}

func summarize(id Identity, vouched bool, recs []Record) Verification {
	var v Verification
	var errFailing, errSucceeded string // ErrorType of the first record not SUCCESS, of the first SUCCESS one whose last lookup failed
	has := map[string]bool{}
	for _, r := range recs {
		has[r.Status] = true
		if r.LastChecked.After(v.LastChecked) {
			v.LastChecked = r.LastChecked
		}
		if r.LastSuccess.After(v.LastSuccess) {
			v.LastSuccess = r.LastSuccess
		}
		if v.SOA == nil {
			v.SOA = r.SOA
		}
		if r.Status != StatusSuccess && errFailing == "" {
			errFailing = r.ErrorType
		}
		if r.Status == StatusSuccess && errSucceeded == "" {
			errSucceeded = r.ErrorType
		}
	}
	v.ErrorType = errFailing
	switch {
	case vouched || id.Kind != Domain && id.Verified:
		v.Status = StatusSuccess
	case id.Kind != Domain:
		v.Status = StatusPending
	case has[StatusSuccess]:
		v.Status = StatusSuccess
	case has[StatusTemporaryFailure]:
		v.Status = StatusTemporaryFailure
	case has[StatusPending] || len(recs) == 0:
		v.Status = StatusPending
	default:
		v.Status = StatusFailed
	}
	if v.Status == StatusSuccess && !vouched {
		// Verified: a failing record beside a found one is no error of
		// the identity, but a lookup of the found one that failed (DNS
		// did not answer) is shown.
		v.ErrorType = errSucceeded
	}
	return v
}

// RestartVerification starts the check of a domain's FAILED verifying
// records (DKIM keys, the `_amazonses` token) again: PENDING from now,
// with a new 72-hour window, due at once (SES v1: calling
// VerifyDomainIdentity or VerifyDomainDkim again restarts a failed
// verification). Records in any other state are left alone; an address
// identity has none. Errors: ErrNotFound.
func (s *Service) RestartVerification(ctx context.Context, account, name string, now time.Time) error {
	id, err := s.Get(ctx, account, name)
	if err != nil {
		return err
	}
	purposes := verifyingPurposes()
	ms := now.UnixMilli()
	args := []any{StatusPending, ms, ms, account, id.Name}
	for _, p := range purposes {
		args = append(args, p)
	}
	args = append(args, StatusFailed)
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`UPDATE identity_records SET status = ?, started_ms = ?, missing_since_ms = 0, next_check_ms = ?
		WHERE account = ? AND identity = ? AND purpose IN (`+store.Placeholders(len(purposes))+`) AND status = ?`), args...)
	return err
}
