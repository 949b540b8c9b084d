package api

// Email-address verification (issue 16, ../shared/spec/ses.md §9.1, §1.2):
// the verification email CreateEmailIdentity sends for an address, the
// unauthenticated page its link opens (GET /verify-email/{token}), and
// SES v2's custom verification email templates with
// SendCustomVerificationEmail.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"sync"

	"golang.org/x/time/rate"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
)

// Link page limits: each client address may open LinkRate pages a second
// (burst LinkBurst); more is answered 429. A link's token is 43
// characters: a request with a body is refused.
const (
	LinkRate  = 5
	LinkBurst = 20
)

// linkLimiter rate-limits the link page per client IP: LinkRate and
// LinkBurst unless perSecond is set.
type linkLimiter struct {
	mu               sync.Mutex
	m                map[string]*rate.Limiter
	perSecond, burst int
}

func (l *linkLimiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) > 100000 {
		l.m = map[string]*rate.Limiter{}
	}
	lim := l.m[ip]
	if lim == nil {
		lim = rate.NewLimiter(LinkRate, LinkBurst)
		if l.perSecond > 0 {
			lim = rate.NewLimiter(rate.Limit(l.perSecond), l.burst)
		}
		l.m[ip] = lim
	}
	return lim.Allow()
}

var errTooManyVerificationEmails = &Error{Code: "TooManyRequestsException", Status: 429,
	Message: fmt.Sprintf("Too many verification emails: an account may have %d sent per second (bursts of %d); retry later.",
		identity.MailsPerSecond, identity.MailBurst)}

// allowVerificationEmail is checked before an address identity is created
// (CreateEmailIdentity) and before SendCustomVerificationEmail.
func (s *Server) allowVerificationEmail(account string) error {
	if s.AddressVerifier != nil && !s.AddressVerifier.Allow(account) {
		return errTooManyVerificationEmails
	}
	return nil
}

// sendAddressVerification sends Petrel's verification email for the new
// address identity name of account (CreateEmailIdentity); nothing when no
// AddressVerifier is configured.
func (s *Server) sendAddressVerification(ctx context.Context, account, name string) error {
	if s.AddressVerifier == nil {
		return nil
	}
	return s.AddressVerifier.SendVerification(ctx, account, name)
}

// verifyEmailLink serves GET /verify-email/{token}, without SigV4: the
// token is the secret. A valid link verifies the address identity of the
// account it was issued to and answers a small page (200), or redirects
// (303) to its custom template's SuccessRedirectionURL; an unknown or
// tampered link is 404, an expired or used one 410 (or a 303 to the
// template's FailureRedirectionURL); nothing is verified then. HEAD
// answers without following the link (mail scanners probe links).
func (s *Server) verifyEmailLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", linkPageCSP)
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	switch {
	case !s.links.allow(ip):
		w.Header().Set("Retry-After", "1")
		linkPage(w, http.StatusTooManyRequests, "Too many requests", "Too many requests from your address; wait a moment and reload the page.")
		return
	case r.ContentLength != 0:
		w.Header().Set("Connection", "close")
		linkPage(w, http.StatusBadRequest, "Bad request", "A verification link takes no request body.")
		return
	case s.AddressVerifier == nil:
		http.NotFound(w, r)
		return
	}
	token := r.PathValue("token")
	if r.Method == http.MethodHead {
		if _, err := identity.ParseToken(token); err != nil {
			w.WriteHeader(http.StatusNotFound)
		}
		return
	}
	l, err := s.AddressVerifier.Follow(r.Context(), token)
	var le *identity.LinkError
	switch {
	case errors.As(err, &le):
		if le.FailureURL != "" {
			http.Redirect(w, r, le.FailureURL, http.StatusSeeOther)
			return
		}
		status := http.StatusGone
		if errors.Is(err, identity.ErrLinkUnknown) {
			status = http.StatusNotFound
		}
		linkPage(w, status, "Verification failed", le.Error()+". Nothing was verified. Ask for a new verification email.")
	case err != nil:
		s.Log.Error("following a verification link", "err", err)
		w.Header().Set("Retry-After", "1")
		linkPage(w, http.StatusServiceUnavailable, "Try again", "The verification could not be recorded; reload the page in a moment.")
	case l.SuccessURL != "":
		http.Redirect(w, r, l.SuccessURL, http.StatusSeeOther)
	default:
		region := ""
		if s.Region != "" {
			region = " in region " + s.Region
		}
		linkPage(w, http.StatusOK, "Email address verified",
			"Congratulations! You have successfully verified "+l.Address+region+". It can now be used to send email through Petrel.")
	}
}

// linkPageCSP is the verification link page's Content-Security-Policy: no
// script, image or frame, inline style only, no form submission and no
// <base> — what an injected tag could use, should text ever reach the page
// unescaped (every text is escaped by linkPage).
const linkPageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"

// linkPage writes a minimal HTML page; title and text are plain text,
// escaped here (an address identity's local part may hold <, > and
// quotes: "<form action=x>"@example.com).
func linkPage(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"+
		"<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// customTemplateInput is Create/UpdateCustomVerificationEmailTemplate's
// request body (TemplateName is in the path for Update).
type customTemplateInput struct {
	TemplateName          *string
	FromEmailAddress      *string
	TemplateSubject       *string
	TemplateContent       *string
	SuccessRedirectionURL *string
	FailureRedirectionURL *string
	Tags                  []tag
}

// template checks that every member SES requires is there.
func (in customTemplateInput) template(name string) (identity.Template, error) {
	t := identity.Template{Name: name}
	for _, m := range []struct {
		name string
		v    *string
		to   *string
	}{{"FromEmailAddress", in.FromEmailAddress, &t.FromEmailAddress}, {"TemplateSubject", in.TemplateSubject, &t.TemplateSubject},
		{"TemplateContent", in.TemplateContent, &t.TemplateContent}, {"SuccessRedirectionURL", in.SuccessRedirectionURL, &t.SuccessRedirectionURL},
		{"FailureRedirectionURL", in.FailureRedirectionURL, &t.FailureRedirectionURL}} {
		if m.v == nil {
			return t, badRequest("%s is required.", m.name)
		}
		*m.to = *m.v
	}
	for _, tg := range in.Tags {
		t.Tags = append(t.Tags, identity.Tag{Key: tg.Key, Value: tg.Value})
	}
	return t, nil
}

// checkTemplateFrom refuses a FromEmailAddress that no verified identity
// of the account covers (SES: it must be verified).
func (s *Server) checkTemplateFrom(ctx context.Context, account, from string) error {
	a, err := address.Parse(from)
	if err != nil {
		return badRequest("FromEmailAddress %q: give one email address without a display name.", from)
	}
	id, err := s.Identities.Authorizing(ctx, account, a)
	if err != nil {
		return err
	}
	if id == "" {
		return v1CodeAs("FromEmailAddressNotVerified",
			badRequest("FromEmailAddress %s is not a verified identity of this account (verify the address or its domain first).", from))
	}
	return nil
}

// templateError maps package identity's template errors to SES's, each
// with its SES v1 code (v1CodeAs).
func templateError(name string, err error) error {
	switch {
	case errors.Is(err, identity.ErrInvalidTemplate):
		return v1CodeAs("CustomVerificationEmailInvalidContent", badRequest("%s.", err.Error()))
	case errors.Is(err, identity.ErrTemplateExists):
		return v1CodeAs("CustomVerificationEmailTemplateAlreadyExists",
			&Error{Code: "AlreadyExistsException", Status: 400, Message: "Custom verification email template " + name + " already exists."})
	case errors.Is(err, identity.ErrTemplateNotFound):
		return v1CodeAs("CustomVerificationEmailTemplateDoesNotExist", notFound("Custom verification email template %s does not exist.", name))
	case errors.Is(err, identity.ErrTemplateLimit):
		return &Error{Code: "LimitExceededException", Status: 400,
			Message: fmt.Sprintf("Maximum number of custom verification email templates (%d) reached.", identity.MaxTemplates)}
	}
	return err
}

// createCustomTemplate is CreateCustomVerificationEmailTemplate.
func (s *Server) createCustomTemplate(ctx context.Context, c *call) (any, error) {
	var in customTemplateInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.TemplateName == nil {
		return nil, badRequest("TemplateName is required.")
	}
	t, err := in.template(*in.TemplateName)
	if err != nil {
		return nil, err
	}
	if err := identity.CheckTemplate(t); err != nil {
		return nil, templateError(t.Name, err)
	}
	if err := s.checkTemplateFrom(ctx, c.account, t.FromEmailAddress); err != nil {
		return nil, err
	}
	return struct{}{}, templateError(t.Name, s.Identities.CreateTemplate(ctx, c.account, t))
}

// updateCustomTemplate is UpdateCustomVerificationEmailTemplate: every
// member is replaced (all are required, as in SES's model); tags stay.
func (s *Server) updateCustomTemplate(ctx context.Context, c *call) (any, error) {
	var in customTemplateInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	name := c.r.PathValue("TemplateName")
	t, err := in.template(name)
	if err != nil {
		return nil, err
	}
	if err := identity.CheckTemplate(t); err != nil {
		return nil, templateError(name, err)
	}
	if _, err := s.Identities.GetTemplate(ctx, c.account, name); err != nil {
		return nil, templateError(name, err)
	}
	if err := s.checkTemplateFrom(ctx, c.account, t.FromEmailAddress); err != nil {
		return nil, err
	}
	return struct{}{}, templateError(name, s.Identities.UpdateTemplate(ctx, c.account, t))
}

type getCustomTemplateOutput struct {
	TemplateName          string
	FromEmailAddress      string
	TemplateSubject       string
	TemplateContent       string
	SuccessRedirectionURL string
	FailureRedirectionURL string
	Tags                  []tag
}

// getCustomTemplate is GetCustomVerificationEmailTemplate.
func (s *Server) getCustomTemplate(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("TemplateName")
	t, err := s.Identities.GetTemplate(ctx, c.account, name)
	if err != nil {
		return nil, templateError(name, err)
	}
	out := getCustomTemplateOutput{TemplateName: t.Name, FromEmailAddress: t.FromEmailAddress, TemplateSubject: t.TemplateSubject,
		TemplateContent: t.TemplateContent, SuccessRedirectionURL: t.SuccessRedirectionURL, FailureRedirectionURL: t.FailureRedirectionURL,
		Tags: []tag{}}
	for _, tg := range t.Tags {
		out.Tags = append(out.Tags, tag{Key: tg.Key, Value: tg.Value})
	}
	return out, nil
}

type customTemplateMetadata struct {
	TemplateName          string
	FromEmailAddress      string
	TemplateSubject       string
	SuccessRedirectionURL string
	FailureRedirectionURL string
}

type listCustomTemplatesOutput struct {
	CustomVerificationEmailTemplates []customTemplateMetadata
	NextToken                        string `json:",omitempty"`
}

var errTemplatePageSize = badRequest("PageSize must be an integer between 1 and 50.")

// listCustomTemplates is ListCustomVerificationEmailTemplates: the
// account's templates in name order, PageSize (1-50, default 50) at a
// time; NextToken (the last name of the page, base64url) only when more
// follow.
func (s *Server) listCustomTemplates(ctx context.Context, c *call) (any, error) {
	next, size, err := pageQuery(c.r.URL.Query())
	if err != nil {
		return nil, errTemplatePageSize
	}
	n := 50
	if size != nil {
		if *size < 1 || *size > 50 {
			return nil, errTemplatePageSize
		}
		n = *size
	}
	after := ""
	if next != nil {
		b, err := base64.RawURLEncoding.DecodeString(*next)
		if err != nil {
			return nil, &Error{Code: "BadRequestException", Status: 400, Message: "NextToken is not valid."}
		}
		after = string(b)
	}
	list, err := s.Identities.ListTemplates(ctx, c.account, after, n+1)
	if err != nil {
		return nil, err
	}
	out := listCustomTemplatesOutput{CustomVerificationEmailTemplates: []customTemplateMetadata{}}
	for i, t := range list {
		if i == n {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(list[n-1].Name))
			break
		}
		out.CustomVerificationEmailTemplates = append(out.CustomVerificationEmailTemplates, customTemplateMetadata{TemplateName: t.Name,
			FromEmailAddress: t.FromEmailAddress, TemplateSubject: t.TemplateSubject, SuccessRedirectionURL: t.SuccessRedirectionURL,
			FailureRedirectionURL: t.FailureRedirectionURL})
	}
	return out, nil
}

// deleteCustomTemplate is DeleteCustomVerificationEmailTemplate.
func (s *Server) deleteCustomTemplate(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("TemplateName")
	return struct{}{}, templateError(name, s.Identities.DeleteTemplate(ctx, c.account, name))
}

// sendCustomVerificationEmail is SendCustomVerificationEmail: the
// template's email, with a new link inserted, sent through the accept
// path as the account's own mail (Operation "SendCustomVerificationEmail":
// its From must be verified, it counts against the quota, publishes
// events through ConfigurationSetName, is DKIM-signed) → MessageId. SES
// allows it only out of the sandbox: an account without production access
// is refused (BadRequestException). The identity is created when the link
// is followed.
func (s *Server) sendCustomVerificationEmail(ctx context.Context, c *call) (any, error) {
	var in struct {
		EmailAddress         *string
		TemplateName         *string
		ConfigurationSetName *string
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.EmailAddress == nil || *in.EmailAddress == "" {
		return nil, badRequest("EmailAddress is required.")
	}
	if in.TemplateName == nil || *in.TemplateName == "" {
		return nil, badRequest("TemplateName is required.")
	}
	name, kind, err := identity.Normalize(*in.EmailAddress)
	if err != nil || kind != identity.EmailAddress {
		return nil, badRequest("EmailAddress %q is not a valid email address.", *in.EmailAddress)
	}
	rcpt := identity.AddressOf(name)
	if s.AddressVerifier == nil {
		return nil, &Error{Code: "UnknownOperationException", Status: 404, Message: "Address verification is not configured on this Petrel."}
	}
	acct, err := s.Accounts.Get(ctx, c.account)
	if err != nil {
		return nil, err
	}
	if !acct.ProductionAccessEnabled {
		return nil, v1CodeAs("ProductionAccessNotGranted",
			badRequest("Custom verification emails can only be sent by an account with production access; this account is in the sandbox."))
	}
	t, err := s.Identities.GetTemplate(ctx, c.account, *in.TemplateName)
	if err != nil {
		return nil, templateError(*in.TemplateName, err)
	}
	if err := s.allowVerificationEmail(c.account); err != nil {
		return nil, err
	}
	msg, err := s.AddressVerifier.CustomMessage(ctx, c.account, name, t)
	if err != nil {
		return nil, templateError(*in.TemplateName, err)
	}
	req := sending.Request{Account: c.account, Caller: c.keyID, SourceIP: c.sourceIP, Operation: "SendCustomVerificationEmail",
		Recipients: []address.Address{rcpt}, Raw: msg, RawScratch: true}
	if in.ConfigurationSetName != nil {
		req.ConfigSet = *in.ConfigurationSetName
	}
	id, err := s.Sender.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return struct{ MessageId string }{id}, nil
}
