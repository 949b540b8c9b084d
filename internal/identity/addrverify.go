package identity

// Email-address verification (issue 16, ../shared/spec/ses.md §9.1): an
// address identity becomes verified when someone follows the link of a
// verification email sent to it. The link names a token of 256 random
// bits; only its SHA-256 is stored (table verification_links), bound to
// the account and address it was issued for. A link works once, for
// LinkTTL; deleting the identity deletes its links.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/petrelmail/petrel/internal/message"
)

// LinkTTL is how long a verification link works (SES: 24 hours).
const LinkTTL = 24 * time.Hour

// linkKeep is how long a used or expired link's row is kept, so that
// following it again says why it fails (expired, used) rather than
// "unknown".
const linkKeep = 7 * 24 * time.Hour

// LinkPath is the path prefix of verification links on the API listener:
// <public URL>/verify-email/<token>.
const LinkPath = "/verify-email/"

// tokenBytes is a link token's entropy (256 bits); tokenLen is its
// length as unpadded base64url (RFC 4648 §5).
const (
	tokenBytes = 32
	tokenLen   = 43
)

// Why a verification link does not verify (LinkError.Err).
var (
	ErrLinkUnknown = errors.New("this verification link is not valid")
	ErrLinkExpired = errors.New("this verification link has expired")
	ErrLinkUsed    = errors.New("this verification link has already been used")
	// ErrAlreadyVerified refuses to resend the verification email of an
	// address that is verified already.
	ErrAlreadyVerified = errors.New("identity is already verified")
	// ErrNotAddress refuses to send a verification email for a domain.
	ErrNotAddress = errors.New("identity is not an email address")
)

// LinkError is a link that failed; FailureURL is where its custom
// template sends the recipient ("" = Petrel's own page).
type LinkError struct {
	Err        error
	FailureURL string
}

func (e *LinkError) Error() string { return e.Err.Error() }
func (e *LinkError) Unwrap() error { return e.Err }

// Link is a verification link that was followed: the address it verified
// for account, and the custom template's SuccessRedirectionURL ("" =
// Petrel's own page).
type Link struct {
	Account, Address string
	SuccessURL       string
}

// ParseToken checks a link token's form (43 characters of unpadded
// base64url, 256 bits) and returns the hex SHA-256 stored for it. Errors:
// ErrLinkUnknown.
func ParseToken(token string) (string, error) {
	if len(token) != tokenLen {
		return "", ErrLinkUnknown
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenBytes {
		return "", ErrLinkUnknown
	}
	return hashToken(token), nil
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func newToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// linkTarget is what a link records beyond its account and address: the
// custom template it was made from and its redirection URLs.
type linkTarget struct {
	template, successURL, failureURL string
}

// issueLink stores a new link for account's address (normalised), valid
// from now for LinkTTL, and returns its token. Rows expired for linkKeep
// are pruned on the way.
func (s *Service) issueLink(ctx context.Context, account, address string, t linkTarget, now time.Time) (string, error) {
	token := newToken()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.db.ExecTx(tx, "DELETE FROM verification_links WHERE expires_ms < ?", now.Add(-linkKeep).UnixMilli()); err != nil {
			return err
		}
		return s.db.ExecTx(tx, `INSERT INTO verification_links (token_hash, account, address, template, success_url, failure_url, created_ms, expires_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(token), account, address, t.template, t.successURL, t.failureURL,
			now.UnixMilli(), now.Add(LinkTTL).UnixMilli())
	})
	return token, err
}

// FollowLink verifies the address identity the link of token was issued
// for, of exactly the account it was issued to, and uses the link up. An
// identity that does not exist is created verified when the link came
// from a custom verification template (SES: the identity is created when
// the link is followed); a link of Petrel's own email needs the identity
// (deleting it deletes its links). now is the time of the click. Errors:
// *LinkError wrapping ErrLinkUnknown (also for a token of the wrong
// form), ErrLinkExpired or ErrLinkUsed; nothing is verified then.
func (s *Service) FollowLink(ctx context.Context, token string, now time.Time) (Link, error) {
	hash, err := ParseToken(token)
	if err != nil {
		return Link{}, &LinkError{Err: err}
	}
	var l Link
	var tmpl, failureURL string
	var expires, used int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRow(s.db.Rebind(`SELECT account, address, template, success_url, failure_url, expires_ms, used_ms
			FROM verification_links WHERE token_hash = ?`), hash).Scan(&l.Account, &l.Address, &tmpl, &l.SuccessURL, &failureURL, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return &LinkError{Err: ErrLinkUnknown}
		}
		if err != nil {
			return err
		}
		switch {
		case used != 0:
			return &LinkError{Err: ErrLinkUsed, FailureURL: failureURL}
		case now.UnixMilli() >= expires:
			return &LinkError{Err: ErrLinkExpired, FailureURL: failureURL}
		}
		res, err := tx.Exec(s.db.Rebind("UPDATE verification_links SET used_ms = ? WHERE token_hash = ? AND used_ms = 0"), max(now.UnixMilli(), 1), hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &LinkError{Err: ErrLinkUsed, FailureURL: failureURL} // followed twice at once
		}
		res, err = tx.Exec(s.db.Rebind("UPDATE identities SET verified = 1 WHERE account = ? AND name = ? AND kind = ?"), l.Account, l.Address, string(EmailAddress))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		if tmpl == "" {
			return &LinkError{Err: ErrLinkUnknown, FailureURL: failureURL}
		}
		return s.db.ExecTx(tx, "INSERT INTO identities (account, name, kind, verified, created_ms) VALUES (?, ?, ?, 1, ?)",
			l.Account, l.Address, string(EmailAddress), now.UnixMilli())
	})
	if err != nil {
		return Link{}, err
	}
	s.forget(l.Account)
	return l, nil
}

// deleteLinksTx deletes the links of account's identity name (an address;
// for a domain there are none), in the transaction that deletes it.
func (s *Service) deleteLinksTx(tx *sql.Tx, account, name string) error {
	return s.db.ExecTx(tx, "DELETE FROM verification_links WHERE account = ? AND address = ?", account, name)
}

// Mailer queues Petrel's own mail (sending.Sender.SendSystemMail).
type Mailer interface {
	SendSystemMail(ctx context.Context, account, mailFrom, rcpt string, msg []byte) error
}

// AddressVerifier sends verification emails and follows their links. It
// is safe for concurrent use; set its fields before first use.
type AddressVerifier struct {
	Identities *Service
	// Mailer queues Petrel's own verification emails (system mail: not
	// counted in the account's statistics or quota, null reverse-path).
	Mailer Mailer
	// From is the From address of Petrel's own verification emails
	// (--verification-from; SES: no-reply-aws@amazon.com).
	From string
	// PublicURL is the base URL links start with (config.PublicBaseURL,
	// --public-url), without a trailing slash.
	PublicURL string
	// Region names the region in the email, as SES's does.
	Region string

	clock   atomic.Pointer[func() time.Time]
	mu      sync.Mutex
	limiter map[string]*rate.Limiter
}

// MailsPerSecond and MailBurst bound the verification emails one account
// may have sent (CreateEmailIdentity of an address,
// SendCustomVerificationEmail; SES: at most one call per second): so that
// Petrel cannot be used to mail strangers in bulk.
const (
	MailsPerSecond = 1
	MailBurst      = 10
)

// SetClock replaces the clock links are issued and followed by (tests);
// nil restores time.Now.
func (v *AddressVerifier) SetClock(now func() time.Time) {
	if now == nil {
		v.clock.Store(nil)
		return
	}
	v.clock.Store(&now)
}

// Now is the verifier's clock.
func (v *AddressVerifier) Now() time.Time {
	if f := v.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Allow reports whether account may have another verification email sent
// now (MailsPerSecond, MailBurst); it takes one from its allowance.
func (v *AddressVerifier) Allow(account string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.limiter == nil {
		v.limiter = map[string]*rate.Limiter{}
	}
	l := v.limiter[account]
	if l == nil {
		if len(v.limiter) > 100000 {
			clear(v.limiter)
		}
		l = rate.NewLimiter(MailsPerSecond, MailBurst)
		v.limiter[account] = l
	}
	return l.AllowN(time.Now(), 1)
}

// LinkURL is the URL of the link of token.
func (v *AddressVerifier) LinkURL(token string) string {
	return v.PublicURL + LinkPath + token
}

// Follow is Identities.FollowLink at the verifier's clock.
func (v *AddressVerifier) Follow(ctx context.Context, token string) (Link, error) {
	return v.Identities.FollowLink(ctx, token, v.Now())
}

// SendVerification sends Petrel's own verification email to account's
// address identity name (which must exist), with a new link; earlier
// links stay valid until they expire. Errors: ErrNotFound, ErrNotAddress,
// ErrAlreadyVerified, the Mailer's.
func (v *AddressVerifier) SendVerification(ctx context.Context, account, name string) error {
	id, err := v.Identities.Get(ctx, account, name)
	if err != nil {
		return err
	}
	if id.Kind != EmailAddress {
		return fmt.Errorf("%s: %w", id.Name, ErrNotAddress)
	}
	if id.Verified {
		return fmt.Errorf("%s: %w", id.Name, ErrAlreadyVerified)
	}
	now := v.Now()
	token, err := v.Identities.issueLink(ctx, account, id.Name, linkTarget{}, now)
	if err != nil {
		return err
	}
	to := AddressOf(id.Name).Email()
	msg, err := v.defaultMessage(to, v.LinkURL(token), now)
	if err != nil {
		return err
	}
	return v.Mailer.SendSystemMail(ctx, account, "", to, msg)
}

// VerificationSubject is the subject of Petrel's own verification email
// (SES: "Amazon Web Services – Email Address Verification Request in
// region RegionName").
func (v *AddressVerifier) VerificationSubject() string {
	s := "Petrel – Email Address Verification Request"
	if v.Region != "" {
		s += " in region " + v.Region
	}
	return s
}

// defaultMessage is Petrel's own verification email to addr: text and
// HTML parts, both with the link.
func (v *AddressVerifier) defaultMessage(addr, link string, now time.Time) ([]byte, error) {
	region := ""
	if v.Region != "" {
		region = " in region " + v.Region
	}
	text := "Dear Petrel customer,\n\n" +
		"We have received a request to authorize this email address for use with Petrel" + region + ". " +
		"If you requested this verification, please go to the following URL to confirm that you are authorized to use this email address:\n\n" +
		link + "\n\n" +
		"Your request will not be processed unless you confirm the address using this URL. This link expires 24 hours after your original verification request.\n\n" +
		"If you did NOT request to verify this email address, do not click on the link. Please note that many times, the situation isn't a phishing attempt, " +
		"but either a misunderstanding of how to use our service, or someone setting up email-sending capabilities on your behalf as part of a legitimate service, " +
		"but without prior coordination. If you are still concerned, please contact the operator of this Petrel service.\n\n" +
		"Sincerely,\n\nPetrel\n"
	esc := html.EscapeString(link)
	body := "<html><body><p>Dear Petrel customer,</p>" +
		"<p>We have received a request to authorize this email address for use with Petrel" + html.EscapeString(region) + ". " +
		"If you requested this verification, please go to the following URL to confirm that you are authorized to use this email address:</p>" +
		`<p><a href="` + esc + `">` + esc + "</a></p>" +
		"<p>Your request will not be processed unless you confirm the address using this URL. This link expires 24 hours after your original verification request.</p>" +
		"<p>If you did NOT request to verify this email address, do not click on the link. If you are concerned, please contact the operator of this Petrel service.</p>" +
		"<p>Sincerely,<br>Petrel</p></body></html>"
	return message.BuildSimple(message.Simple{
		From: v.From, To: []string{addr}, Subject: v.VerificationSubject(), Text: text, HTML: body,
		Headers: [][2]string{{"Date", now.UTC().Format(time.RFC1123Z)}, {"Auto-Submitted", "auto-generated"}},
	})
}

// disclaimer is what Petrel adds under a custom template's content, as
// SES adds its own: who asked, and what to do if it was not you.
func disclaimer(account string) string {
	return "This verification email was sent at the request of the Petrel account " + account +
		". If you did not request it, do not follow the link; nothing happens unless you do."
}

// CustomMessage issues a link for account's address (normalised by the
// caller) under custom template t and returns the email: From
// t.FromEmailAddress, Subject t.TemplateSubject, an HTML part with the
// template's content re-serialised with the link and the disclaimer
// appended to its body as elements (withLink: nothing the template ends
// with can swallow them), and a text part with the link and the
// disclaimer. Content CheckTemplateContent refuses (a template stored
// before a rule existed) is refused, wrapping ErrInvalidTemplate, before
// any link is issued. The identity itself is not created here: following
// the link creates it (SES).
func (v *AddressVerifier) CustomMessage(ctx context.Context, account, addr string, t Template) ([]byte, error) {
	if err := CheckTemplateContent(t.TemplateContent); err != nil {
		return nil, err
	}
	now := v.Now()
	token, err := v.Identities.issueLink(ctx, account, addr, linkTarget{template: t.Name, successURL: t.SuccessRedirectionURL,
		failureURL: t.FailureRedirectionURL}, now)
	if err != nil {
		return nil, err
	}
	link := v.LinkURL(token)
	content, err := withLink(t.TemplateContent, link, disclaimer(account))
	if err != nil {
		return nil, err
	}
	text := "To verify this email address, follow this link (it expires in 24 hours):\n\n" + link + "\n\n" + disclaimer(account) + "\n"
	return message.BuildSimple(message.Simple{
		From: t.FromEmailAddress, To: []string{AddressOf(addr).Email()}, Subject: t.TemplateSubject, Text: text, HTML: content,
		Headers: [][2]string{{"Date", now.UTC().Format(time.RFC1123Z)}},
	})
}

// LinkStatus is what the CLI shows of an address's verification links.
type LinkStatus struct {
	Pending int       // links neither used nor expired at the time asked
	Expires time.Time // when the last pending one expires (zero: none)
	Sent    time.Time // when the last link was issued (zero: never)
}

// Links reports account's verification links for the address identity
// name at now.
func (s *Service) Links(ctx context.Context, account, name string, now time.Time) (LinkStatus, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return LinkStatus{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	var st LinkStatus
	var expires, sent int64
	err = s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT COALESCE(SUM(CASE WHEN used_ms = 0 AND expires_ms > ? THEN 1 ELSE 0 END), 0),
		COALESCE(MAX(CASE WHEN used_ms = 0 AND expires_ms > ? THEN expires_ms ELSE 0 END), 0), COALESCE(MAX(created_ms), 0)
		FROM verification_links WHERE account = ? AND address = ?`), now.UnixMilli(), now.UnixMilli(), account, n).Scan(&st.Pending, &expires, &sent)
	if expires > 0 {
		st.Expires = time.UnixMilli(expires)
	}
	if sent > 0 {
		st.Sent = time.UnixMilli(sent)
	}
	return st, err
}
