package identity

// Custom verification email templates (SES v2
// CreateCustomVerificationEmailTemplate and friends, ../shared/spec/ses.md
// §1.2, §9.1), stored per account in custom_verification_templates.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// Template is a custom verification email template; members as SES names
// them.
type Template struct {
	Name                  string // TemplateName
	FromEmailAddress      string // a verified identity of the account covers it; no display name
	TemplateSubject       string
	TemplateContent       string // HTML, < MaxTemplateContent bytes
	SuccessRedirectionURL string // http(s) URL the link leads to once verified
	FailureRedirectionURL string // http(s) URL the link leads to when it fails
	Tags                  []Tag
	Created               time.Time
}

// Tag is a template's tag (SES Tag).
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Limits of custom verification templates (SES).
const (
	// MaxTemplates is how many templates an account may have.
	MaxTemplates = 50
	// MaxTemplateContent bounds TemplateContent: the email must be less
	// than 10 MB.
	MaxTemplateContent = 10 << 20
	maxTags            = 50
)

var (
	ErrTemplateExists   = errors.New("custom verification email template already exists")
	ErrTemplateNotFound = errors.New("custom verification email template does not exist")
	ErrTemplateLimit    = errors.New("too many custom verification email templates")
	// ErrInvalidTemplate wraps every refusal of a template's members; the
	// message says which and why.
	ErrInvalidTemplate = errors.New("invalid custom verification email template")
)

func invalidTemplate(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidTemplate, fmt.Sprintf(format, a...))
}

var templateNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckTemplate checks t's members (not whether FromEmailAddress is
// verified: that is the caller's question, Authorizing): Name 1-64
// letters, digits, '_' or '-'; FromEmailAddress one bare address, no
// display name; a subject; content under MaxTemplateContent that
// CheckTemplateContent accepts; two absolute http(s) redirection URLs; at
// most 50 tags with keys of 1-128 and values of 0-256 characters. Errors
// wrap ErrInvalidTemplate.
func CheckTemplate(t Template) error {
	if !templateNameRE.MatchString(t.Name) {
		return invalidTemplate("TemplateName %q: use 1-64 letters, digits, '_' and '-'", t.Name)
	}
	if err := checkFromAddress(t.FromEmailAddress); err != nil {
		return err
	}
	if strings.TrimSpace(t.TemplateSubject) == "" {
		return invalidTemplate("TemplateSubject is required")
	}
	if strings.ContainsAny(t.TemplateSubject, "\r\n") {
		return invalidTemplate("TemplateSubject must be one line")
	}
	if len(t.TemplateContent) >= MaxTemplateContent {
		return invalidTemplate("TemplateContent is %d bytes: it must be less than 10 MB (%d bytes)", len(t.TemplateContent), MaxTemplateContent)
	}
	if err := CheckTemplateContent(t.TemplateContent); err != nil {
		return err
	}
	for _, u := range [][2]string{{"SuccessRedirectionURL", t.SuccessRedirectionURL}, {"FailureRedirectionURL", t.FailureRedirectionURL}} {
		if err := checkRedirect(u[0], u[1]); err != nil {
			return err
		}
	}
	if len(t.Tags) > maxTags {
		return invalidTemplate("Tags: at most %d", maxTags)
	}
	for _, tg := range t.Tags {
		if n := len([]rune(tg.Key)); n < 1 || n > 128 {
			return invalidTemplate("Tags: a Key must have 1-128 characters")
		}
		if len([]rune(tg.Value)) > 256 {
			return invalidTemplate("Tags: a Value must have at most 256 characters")
		}
	}
	return nil
}

// checkFromAddress accepts one bare address ("sender@example.com"), not
// "Name <sender@example.com>" (SES: no display name).
func checkFromAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) || strings.ContainsAny(s, "<>") {
		return invalidTemplate("FromEmailAddress %q: give one email address without a display name", s)
	}
	return nil
}

func checkRedirect(member, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 2048 {
		return invalidTemplate("%s %q: give an absolute http:// or https:// URL", member, s)
	}
	return nil
}

// forbiddenElements are HTML elements a template may not contain: they
// run code, load other documents or submit data, which mail clients do
// not honour and SES does not allow in verification email content.
var forbiddenElements = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true, "object": true, "embed": true, "applet": true,
	"form": true, "input": true, "button": true, "textarea": true, "select": true, "base": true, "meta": true, "link": true,
}

// CheckTemplateContent checks a template's HTML (tokenised as HTML5
// does, golang.org/x/net/html): it must not be empty and may not contain
// the elements in forbiddenElements, event-handler attributes (on…), or
// javascript: URLs. Errors wrap ErrInvalidTemplate, naming the first
// offence.
func CheckTemplateContent(content string) error {
	if strings.TrimSpace(content) == "" {
		return invalidTemplate("TemplateContent is required")
	}
	z := html.NewTokenizer(strings.NewReader(content))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return nil
			}
			return invalidTemplate("TemplateContent: %v", z.Err())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			if forbiddenElements[string(name)] {
				return invalidTemplate("TemplateContent may not contain <%s> elements", name)
			}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				if strings.HasPrefix(string(k), "on") {
					return invalidTemplate("TemplateContent may not contain event-handler attributes (%s)", k)
				}
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(string(v))), "javascript:") {
					return invalidTemplate("TemplateContent may not contain javascript: URLs")
				}
			}
		}
	}
}

// CreateTemplate stores account's new template t (checked with
// CheckTemplate). Errors: ErrInvalidTemplate, ErrTemplateExists,
// ErrTemplateLimit (MaxTemplates).
func (s *Service) CreateTemplate(ctx context.Context, account string, t Template) error {
	if err := CheckTemplate(t); err != nil {
		return err
	}
	tags, err := json.Marshal(nonNilTags(t.Tags))
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n, same int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM custom_verification_templates WHERE account = ?"),
			t.Name, account).Scan(&n, &same); err != nil {
			return err
		}
		if same > 0 {
			return fmt.Errorf("%s: %w", t.Name, ErrTemplateExists)
		}
		if n >= MaxTemplates {
			return fmt.Errorf("%w: an account may have %d", ErrTemplateLimit, MaxTemplates)
		}
		return s.db.ExecTx(tx, `INSERT INTO custom_verification_templates (account, name, from_address, subject, content, success_url, failure_url, tags, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, account, t.Name, t.FromEmailAddress, t.TemplateSubject, t.TemplateContent,
			t.SuccessRedirectionURL, t.FailureRedirectionURL, string(tags), time.Now().UnixMilli())
	})
}

// UpdateTemplate replaces every member of account's template t.Name but
// its tags. Errors: ErrInvalidTemplate, ErrTemplateNotFound.
func (s *Service) UpdateTemplate(ctx context.Context, account string, t Template) error {
	if err := CheckTemplate(t); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE custom_verification_templates SET from_address = ?, subject = ?, content = ?,
		success_url = ?, failure_url = ? WHERE account = ? AND name = ?`), t.FromEmailAddress, t.TemplateSubject, t.TemplateContent,
		t.SuccessRedirectionURL, t.FailureRedirectionURL, account, t.Name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", t.Name, ErrTemplateNotFound)
	}
	return nil
}

// GetTemplate returns account's template name. Errors: ErrTemplateNotFound.
func (s *Service) GetTemplate(ctx context.Context, account, name string) (Template, error) {
	row := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT name, from_address, subject, content, success_url, failure_url, tags, created_ms
		FROM custom_verification_templates WHERE account = ? AND name = ?`), account, name)
	t, err := scanTemplate(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%s: %w", name, ErrTemplateNotFound)
	}
	return t, err
}

// ListTemplates returns up to limit of account's templates whose names
// sort after `after`, in name order, without their content.
func (s *Service) ListTemplates(ctx context.Context, account, after string, limit int) ([]Template, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT name, from_address, subject, '', success_url, failure_url, tags, created_ms
		FROM custom_verification_templates WHERE account = ? AND name > ? ORDER BY name LIMIT ?`), account, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteTemplate deletes account's template name; links already sent
// from it keep working. Errors: ErrTemplateNotFound.
func (s *Service) DeleteTemplate(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM custom_verification_templates WHERE account = ? AND name = ?"), account, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, ErrTemplateNotFound)
	}
	return nil
}

func scanTemplate(r scanner, withContent bool) (Template, error) {
	var t Template
	var tags string
	var created int64
	if err := r.Scan(&t.Name, &t.FromEmailAddress, &t.TemplateSubject, &t.TemplateContent, &t.SuccessRedirectionURL,
		&t.FailureRedirectionURL, &tags, &created); err != nil {
		return t, err
	}
	t.Created = time.UnixMilli(created)
	if withContent {
		if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
			return t, fmt.Errorf("template %s: tags: %w", t.Name, err)
		}
	}
	t.Tags = nonNilTags(t.Tags)
	return t, nil
}

func nonNilTags(t []Tag) []Tag {
	if t == nil {
		return []Tag{}
	}
	return t
}
