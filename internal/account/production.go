package account

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

// Details is what the account told about its sending in its last
// production-access request (SES PutAccountDetails, GetAccount.Details;
// ../shared/spec/ses.md §1.10). The zero value: never asked.
type Details struct {
	MailType                        string // MARKETING or TRANSACTIONAL
	WebsiteURL                      string
	ContactLanguage                 string // EN, JA or ""
	UseCaseDescription              string
	AdditionalContactEmailAddresses []string
	Review                          ReviewDetails
}

// ReviewDetails is the state of the last production-access request.
type ReviewDetails struct {
	Status    string // "" (none), ReviewPending, ReviewGranted or ReviewDenied
	CaseID    string // 10 digits, new with each request
	Requested time.Time
	Decided   time.Time // zero while pending
}

// Review statuses (SES ReviewDetails.Status).
const (
	ReviewPending = "PENDING"
	ReviewGranted = "GRANTED"
	ReviewDenied  = "DENIED"
)

// DetailsRequest is a PutAccountDetails request (SES §1.10).
type DetailsRequest struct {
	MailType                        string // required: MARKETING or TRANSACTIONAL
	WebsiteURL                      string // required, 1–1000 characters
	ContactLanguage                 string // EN, JA or "" (not given)
	UseCaseDescription              string // at most 5000 characters
	AdditionalContactEmailAddresses []string
	// ProductionAccessEnabled true asks for production access (a review,
	// PENDING until the operator decides); false records the details only.
	ProductionAccessEnabled bool
}

// ErrReviewPending is returned by PutDetails while a production-access
// request awaits the operator's decision (SES: ConflictException).
var ErrReviewPending = errors.New("a production access request for this account is already under review")

// ErrNothingToDeny is returned by DecideProduction for a denial of an
// account that has production access and no pending request: a denial
// would show DENIED next to production access.
var ErrNothingToDeny = errors.New("the account has production access and no pending request to deny")

// InvalidError is a request a method refuses as SES does (the API answers
// BadRequestException with its text).
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error { return &InvalidError{fmt.Sprintf(format, args...)} }

// Validate checks r as SES does (lengths in characters, as SES counts them).
func (r DetailsRequest) Validate() error {
	switch {
	case r.MailType == "":
		return invalid("MailType is required.")
	case r.MailType != "MARKETING" && r.MailType != "TRANSACTIONAL":
		return invalid("MailType must be MARKETING or TRANSACTIONAL.")
	case r.WebsiteURL == "":
		return invalid("WebsiteURL is required.")
	case utf8.RuneCountInString(r.WebsiteURL) > 1000:
		return invalid("WebsiteURL must be at most 1000 characters long.")
	case r.ContactLanguage != "" && r.ContactLanguage != "EN" && r.ContactLanguage != "JA":
		return invalid("ContactLanguage must be EN or JA.")
	case utf8.RuneCountInString(r.UseCaseDescription) > 5000:
		return invalid("UseCaseDescription must be at most 5000 characters long.")
	case r.AdditionalContactEmailAddresses != nil && len(r.AdditionalContactEmailAddresses) == 0,
		len(r.AdditionalContactEmailAddresses) > 4:
		return invalid("AdditionalContactEmailAddresses must hold 1 to 4 addresses.")
	}
	for _, a := range r.AdditionalContactEmailAddresses {
		// Petrel sends its notices about the account there: exactly a
		// mailbox (ParseMailbox) that it can send to (Parse, as recipients
		// are checked: no single-label domain, no address literal).
		if _, err := address.ParseMailbox(a); err != nil {
			return invalid("Invalid email address in AdditionalContactEmailAddresses: %s.", a)
		}
		if _, err := address.Parse(a); err != nil {
			return invalid("Invalid email address in AdditionalContactEmailAddresses: %s.", a)
		}
	}
	return nil
}

// PutDetails records an account's details (SES PutAccountDetails). With
// ProductionAccessEnabled, an account in the sandbox gets a new review:
// status PENDING and a new case id, until DecideProduction; an account that
// already has production access only has its details recorded. Errors:
// *InvalidError, ErrReviewPending while a review is pending, ErrNotFound.
func (s *Service) PutDetails(ctx context.Context, name string, r DetailsRequest) (Account, error) {
	if err := r.Validate(); err != nil {
		return Account{}, err
	}
	contacts := r.AdditionalContactEmailAddresses
	if contacts == nil {
		contacts = []string{}
	}
	cj, err := json.Marshal(contacts)
	if err != nil {
		return Account{}, err
	}
	now := s.now()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		a, err := s.getTx(tx, name)
		if err != nil {
			return err
		}
		if a.Details.Review.Status == ReviewPending {
			return ErrReviewPending
		}
		set := "mail_type = ?, website_url = ?, contact_language = ?, use_case = ?, contact_addresses = ?"
		args := []any{r.MailType, r.WebsiteURL, r.ContactLanguage, r.UseCaseDescription, string(cj)}
		if r.ProductionAccessEnabled && !a.ProductionAccessEnabled {
			set += ", review_status = ?, review_case_id = ?, review_requested_ms = ?, review_decided_ms = 0"
			args = append(args, ReviewPending, randomDigits(10), now.UnixMilli())
		}
		return s.db.ExecTx(tx, "UPDATE accounts SET "+set+" WHERE name = ?", append(args, name)...)
	})
	s.forget(name)
	if err != nil {
		return Account{}, err
	}
	return s.Get(ctx, name)
}

// DecideProduction is the operator's decision on production access
// (petrel account production NAME --grant|--deny). Granted: the account
// leaves the sandbox with ProductionQuota (a larger quota it already has is
// kept) and the review is GRANTED. Denied: the review is DENIED and the
// account stays as it is. A decision without a request opens and decides a
// review at once, except a denial of an account already in production
// (ErrNothingToDeny). Errors: ErrNotFound, ErrNothingToDeny.
func (s *Service) DecideProduction(ctx context.Context, name string, grant bool) (Account, error) {
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		a, err := s.getTx(tx, name)
		if err != nil {
			return err
		}
		rv := a.Details.Review
		if !grant && rv.Status != ReviewPending && a.ProductionAccessEnabled {
			return ErrNothingToDeny
		}
		if rv.Status != ReviewPending {
			rv.CaseID, rv.Requested = randomDigits(10), now
		}
		if !grant {
			return s.db.ExecTx(tx, "UPDATE accounts SET review_status = ?, review_case_id = ?, review_requested_ms = ?, review_decided_ms = ? WHERE name = ?",
				ReviewDenied, rv.CaseID, rv.Requested.UnixMilli(), now.UnixMilli(), name)
		}
		q := a.Quota
		if !a.ProductionAccessEnabled {
			q = larger(a.Quota, s.ProductionQuota)
		}
		return s.db.ExecTx(tx, "UPDATE accounts SET production_access = 1, max_24h_send = ?, max_send_rate = ?, review_status = ?, review_case_id = ?, review_requested_ms = ?, review_decided_ms = ? WHERE name = ?",
			q.Max24HourSend, q.MaxSendRate, ReviewGranted, rv.CaseID, rv.Requested.UnixMilli(), now.UnixMilli(), name)
	})
	s.forget(name)
	if err != nil {
		return Account{}, err
	}
	return s.Get(ctx, name)
}

// larger returns, figure by figure, the larger of two quotas (-1,
// unlimited, is the largest).
func larger(a, b Quota) Quota {
	if a.Max24HourSend >= 0 && (b.Max24HourSend < 0 || b.Max24HourSend > a.Max24HourSend) {
		a.Max24HourSend = b.Max24HourSend
	}
	if a.MaxSendRate >= 0 && (b.MaxSendRate < 0 || b.MaxSendRate > a.MaxSendRate) {
		a.MaxSendRate = b.MaxSendRate
	}
	return a
}

// Validate checks a quota: Max24HourSend -1 or at least 0, MaxSendRate -1
// or a finite number above 0.
func (q Quota) Validate() error {
	if q.Max24HourSend < -1 {
		return invalid("Max24HourSend must be -1 (unlimited) or at least 0, not %d.", q.Max24HourSend)
	}
	if q.MaxSendRate != -1 && (math.IsNaN(q.MaxSendRate) || math.IsInf(q.MaxSendRate, 0) || q.MaxSendRate <= 0) {
		return invalid("MaxSendRate must be -1 (unlimited) or above 0, not %v.", q.MaxSendRate)
	}
	return nil
}

// SetQuota sets an account's sending quota (the operator's petrel account
// quota; the reputation warm-up). It takes effect on this node at once and
// on the others within their cache's age (5 s). Errors: *InvalidError,
// ErrNotFound.
func (s *Service) SetQuota(ctx context.Context, name string, q Quota) error {
	if err := q.Validate(); err != nil {
		return err
	}
	return s.update(ctx, name, "max_24h_send = ?, max_send_rate = ?", q.Max24HourSend, q.MaxSendRate)
}

// SetSendingEnabled pauses (false) or resumes (true) an account's sending
// (SES PutAccountSendingAttributes: the tenant's own switch; it does not
// lift an enforcement pause, which package reputation keeps). Errors:
// ErrNotFound.
func (s *Service) SetSendingEnabled(ctx context.Context, name string, enabled bool) error {
	return s.update(ctx, name, "sending_enabled = ?", boolInt(enabled))
}

func (s *Service) update(ctx context.Context, name, set string, args ...any) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(s.db.Rebind("UPDATE accounts SET "+set+" WHERE name = ?"), append(args, name)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %q: %w", name, ErrNotFound)
		}
		return nil
	})
	s.forget(name)
	return err
}

func (s *Service) getTx(tx *sql.Tx, name string) (Account, error) {
	q := "SELECT " + accountColumns + " FROM accounts WHERE name = ?"
	if s.db.Dialect == store.Postgres {
		// Locked until tx ends: a concurrent PutDetails or DecideProduction
		// waits and then sees this one's result (SQLite's write transactions
		// are serial already).
		q += " FOR UPDATE"
	}
	a, err := scanAccount(tx.QueryRow(s.db.Rebind(q), name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	return a, err
}
