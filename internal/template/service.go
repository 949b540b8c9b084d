package template

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/sesarn"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/ttlcache"
)

// Limits of stored templates (SES's quotas).
const (
	// MaxSize is the most a template's Subject, Text and Html may hold
	// together, in bytes (SES: 500 KB per template).
	MaxSize = 500 * 1024
	// MaxPerAccount is how many templates an account may hold (SES's
	// default quota): LimitExceededException past it.
	MaxPerAccount = 10000
	// CacheTTL is how old an answer of Get may be; a change made through
	// the same Service is seen at once.
	CacheTTL = 5 * time.Second
	// MaxCacheEntries bounds Get's cache.
	MaxCacheEntries = 10000
	// MaxTags is the most tags a template may have (§11.3).
	MaxTags = resourcetag.MaxTags
)

// Template is one stored template (SES: GetEmailTemplate's output).
type Template struct {
	Name    string // SES: TemplateName
	Content Content
	Tags    [][2]string // key, value; checked by the caller (resourcetag.Validate)
	Created time.Time
	Updated time.Time
}

var (
	// ErrNotFound is a template that does not exist: NotFoundException.
	ErrNotFound = errors.New("template does not exist")
	// ErrAlreadyExists is CreateEmailTemplate of a name in use:
	// AlreadyExistsException.
	ErrAlreadyExists = errors.New("template already exists")
)

// LimitError is the account's MaxPerAccount reached:
// LimitExceededException.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// InvalidError is a name, size or syntax SES refuses: BadRequestException
// with Msg.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateName checks name against SES's TemplateName: 1–64 of
// [A-Za-z0-9_-]. Errors: *InvalidError.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return &InvalidError{Msg: "TemplateName must be 1-64 characters of A-Z, a-z, 0-9, _ and -."}
	}
	return nil
}

// ValidateContent checks c: at most MaxSize bytes in all and valid syntax
// in every part (each part is optional, as in SES's model). Errors:
// *InvalidError.
func ValidateContent(c Content) error {
	if n := len(c.Subject) + len(c.Text) + len(c.HTML); n > MaxSize {
		return &InvalidError{Msg: fmt.Sprintf("Template is %d bytes: the Subject, Text and Html parts may hold %d bytes together.", n, MaxSize)}
	}
	if err := Validate(c); err != nil {
		return &InvalidError{Msg: err.Error()}
	}
	return nil
}

// ParseARN parses a TemplateArn, arn:aws:ses:REGION:ACCOUNTID:template/NAME
// (sesarn.Parse; Name is the template's name). Whether it names a
// template of the caller's is the caller's to check, by sesarn's one rule
// (ARN.Of: Petrel's region and the caller's account). Errors:
// *InvalidError.
func ParseARN(arn string) (sesarn.ARN, error) {
	a, ok := sesarn.Parse(arn)
	if !ok || a.Type != "template" {
		return sesarn.ARN{}, &InvalidError{Msg: fmt.Sprintf("TemplateArn %q is not arn:aws:ses:REGION:ACCOUNTID:template/NAME.", arn)}
	}
	if err := ValidateName(a.Name); err != nil {
		return sesarn.ARN{}, err
	}
	return a, nil
}

// ARN is the TemplateArn of template name of the account with id
// accountID in region.
func ARN(region, accountID, name string) string {
	return sesarn.Format(region, accountID, "template", name)
}

// Service stores the templates of each account in table email_templates.
type Service struct {
	db *store.DB
	// Now is the clock (tests set it).
	Now func() time.Time
	// Limit is the most templates per account (MaxPerAccount; tests lower
	// it).
	Limit int

	cache ttlcache.Cache[key, Template] // Get
}

type key struct{ account, name string }

// New returns the Service over db.
func New(db *store.DB) *Service {
	s := &Service{db: db, Now: time.Now, Limit: MaxPerAccount}
	s.cache.TTL, s.cache.Max = CacheTTL, MaxCacheEntries
	return s
}

// Create stores t, a new template of account (SES: CreateEmailTemplate).
// Errors: *InvalidError, ErrAlreadyExists, *LimitError.
func (s *Service) Create(ctx context.Context, account string, t Template) error {
	if err := ValidateName(t.Name); err != nil {
		return err
	}
	if err := ValidateContent(t.Content); err != nil {
		return err
	}
	tags, err := resourcetag.Encode(t.Tags)
	if err != nil {
		return err
	}
	now := s.Now().UnixMilli()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if s.db.Dialect == store.Postgres {
			// Serialise Create within the account, so the count and the
			// name's absence hold until commit (SQLite's write lock does).
			if _, err := tx.Exec("SELECT pg_advisory_xact_lock(7462717, hashtext($1))", account); err != nil {
				return err
			}
		}
		var exists int
		err := tx.QueryRow(s.db.Rebind("SELECT 1 FROM email_templates WHERE account = ? AND name = ?"), account, t.Name).Scan(&exists)
		if err == nil {
			return ErrAlreadyExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM email_templates WHERE account = ?"), account).Scan(&n); err != nil {
			return err
		}
		if n >= s.Limit {
			return &LimitError{Msg: fmt.Sprintf("The account holds %d templates, the most it may.", s.Limit)}
		}
		_, err = tx.Exec(s.db.Rebind("INSERT INTO email_templates (account, name, subject, text_part, html, tags, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			account, t.Name, t.Content.Subject, t.Content.Text, t.Content.HTML, tags, now, now)
		return err
	})
	s.forget(account, t.Name)
	return err
}

// Update replaces the content of account's template name (SES:
// UpdateEmailTemplate); its tags stay. Errors: *InvalidError, ErrNotFound.
func (s *Service) Update(ctx context.Context, account, name string, c Content) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateContent(c); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE email_templates SET subject = ?, text_part = ?, html = ?, updated_ms = ? WHERE account = ? AND name = ?"),
		c.Subject, c.Text, c.HTML, s.Now().UnixMilli(), account, name)
	s.forget(account, name)
	return affected(res, err)
}

// Delete removes account's template name (SES: DeleteEmailTemplate).
// Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM email_templates WHERE account = ? AND name = ?"), account, name)
	s.forget(account, name)
	return affected(res, err)
}

// Load reads account's template name from the store, uncached (SES:
// GetEmailTemplate). Errors: ErrNotFound.
func (s *Service) Load(ctx context.Context, account, name string) (Template, error) {
	var (
		t                Template
		tags             string
		created, updated int64
	)
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT name, subject, text_part, html, tags, created_ms, updated_ms FROM email_templates WHERE account = ? AND name = ?"), account, name).
		Scan(&t.Name, &t.Content.Subject, &t.Content.Text, &t.Content.HTML, &tags, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Template{}, ErrNotFound
	}
	if err != nil {
		return Template{}, err
	}
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return Template{}, fmt.Errorf("template %s: stored tags: %w", name, err)
	}
	t.Created, t.Updated = time.UnixMilli(created), time.UnixMilli(updated)
	return t, nil
}

// Get is Load for the send path: its answer for a template that exists is
// at most CacheTTL old (a change made through this Service is seen at
// once, one made through another node's within CacheTTL); a template not
// found is looked up again on every call. The answer is shared: callers
// must not modify Tags. Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, account, name string) (Template, error) {
	return s.cache.Load(key{account, name}, s.Now(), func() (Template, error) { return s.Load(ctx, account, name) })
}

func (s *Service) forget(account, name string) { s.cache.Forget(key{account, name}) }

// Metadata is one entry of ListEmailTemplates (SES:
// EmailTemplateMetadata).
type Metadata struct {
	Name    string
	Created time.Time
}

// List returns up to limit of account's templates with names after after,
// in name order (byte order; SES: ListEmailTemplates, whose NextToken the
// API makes from the last name).
func (s *Service) List(ctx context.Context, account, after string, limit int) ([]Metadata, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT name, created_ms FROM email_templates WHERE account = ? AND name > ? ORDER BY name LIMIT ?"), account, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Metadata
	for rows.Next() {
		var m Metadata
		var created int64
		if err := rows.Scan(&m.Name, &created); err != nil {
			return nil, err
		}
		m.Created = time.UnixMilli(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Tag adds tags to account's template name, replacing the values of keys
// it has (SES: TagResource; resourcetag.Merge). Errors: ErrNotFound,
// *InvalidError (more than MaxTags in all).
func (s *Service) Tag(ctx context.Context, account, name string, tags [][2]string) error {
	return s.editTags(ctx, account, name, func(have [][2]string) ([][2]string, error) {
		out, err := resourcetag.Merge(have, tags)
		if err != nil {
			return nil, &InvalidError{Msg: fmt.Sprintf("Tags: a template may have at most %d tags.", MaxTags)}
		}
		return out, nil
	})
}

// Untag removes the tags with keys from account's template name (SES:
// UntagResource; resourcetag.Drop). Errors: ErrNotFound.
func (s *Service) Untag(ctx context.Context, account, name string, keys []string) error {
	return s.editTags(ctx, account, name, func(have [][2]string) ([][2]string, error) {
		return resourcetag.Drop(have, keys), nil
	})
}

// editTags rewrites the tags of account's template name with edit, in one
// transaction.
func (s *Service) editTags(ctx context.Context, account, name string, edit func([][2]string) ([][2]string, error)) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var tags string
		err := tx.QueryRow(s.db.Rebind("SELECT tags FROM email_templates WHERE account = ? AND name = ?"+forUpdate(s.db)), account, name).Scan(&tags)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var have [][2]string
		if err := json.Unmarshal([]byte(tags), &have); err != nil {
			return fmt.Errorf("template %s: stored tags: %w", name, err)
		}
		edited, err := edit(have)
		if err != nil {
			return err
		}
		enc, err := resourcetag.Encode(edited)
		if err != nil {
			return err
		}
		_, err = tx.Exec(s.db.Rebind("UPDATE email_templates SET tags = ? WHERE account = ? AND name = ?"), enc, account, name)
		return err
	})
	s.forget(account, name)
	return err
}

func forUpdate(db *store.DB) string {
	if db.Dialect == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
