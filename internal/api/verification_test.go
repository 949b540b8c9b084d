package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/store"
)

// systemMailbox records the verification emails an AddressVerifier
// queues.
type systemMailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (m *systemMailbox) SendSystemMail(_ context.Context, _, _, _ string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, string(msg))
	return nil
}

var verifyLinkRE = regexp.MustCompile(`(http://[^"\s<]+/verify-email/)([A-Za-z0-9_-]{43})`)

// linkIn is the verification link of msg (quoted-printable soft breaks
// removed).
func linkIn(t *testing.T, msg string) (base, token string) {
	t.Helper()
	m := verifyLinkRE.FindStringSubmatch(strings.ReplaceAll(msg, "=\r\n", ""))
	if m == nil {
		t.Fatalf("no verification link in\n%s", msg)
	}
	return m[1], m[2]
}

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, method, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func startVerificationAPI(t *testing.T, backend string) (*httptest.Server, *Server, map[string]tenant, *systemMailbox, *time.Time) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	box := &systemMailbox{}
	now := time.Now()
	s.AddressVerifier = &identity.AddressVerifier{Identities: s.Identities, Mailer: box, From: "no-reply@petrel.test", PublicURL: srv.URL,
		Region: "us-east-1"}
	s.AddressVerifier.SetClock(func() time.Time { return now })
	return srv, s, tenants, box, &now
}

// TestAddressVerificationLink: CreateEmailIdentity for an address sends
// the verification email; its link, opened without credentials, verifies
// the identity once (200, then 410); HEAD does not use it up; a tampered
// token is 404, an expired link 410, a request with a body 400; the other
// tenant's identity of the same address stays unverified; creating the
// identity again is AlreadyExistsException; deleting it kills its links.
func TestAddressVerificationLink(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, box, now := startVerificationAPI(t, backend)
			ctx := t.Context()
			acme, other := sesClient(srv.URL, tenants["acme"], 1), sesClient(srv.URL, tenants["other"], 1)
			create := func(c *sesv2.Client, name string) string {
				t.Helper()
				out, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)})
				if err != nil {
					t.Fatal(err)
				}
				if out.IdentityType != types.IdentityTypeEmailAddress || out.VerifiedForSendingStatus {
					t.Fatalf("CreateEmailIdentity = %+v", out)
				}
				box.mu.Lock()
				defer box.mu.Unlock()
				return box.msgs[len(box.msgs)-1]
			}
			verified := func(c *sesv2.Client, name string) bool {
				t.Helper()
				out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
				if err != nil {
					t.Fatal(err)
				}
				return out.VerifiedForSendingStatus
			}
			base, token := linkIn(t, create(acme, "someone@mail.test"))
			if base != srv.URL+"/verify-email/" {
				t.Fatalf("link base %q; want %q", base, srv.URL+"/verify-email/")
			}
			create(other, "someone@mail.test")
			if _, err := acme.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("someone@mail.test")}); errCode(err) != "AlreadyExistsException" {
				t.Errorf("second CreateEmailIdentity: %v", err)
			}
			if st, _, _ := get(t, http.MethodHead, base+token); st != http.StatusOK || verified(acme, "someone@mail.test") {
				t.Fatalf("HEAD: %d, verified %v", st, verified(acme, "someone@mail.test"))
			}
			tampered := []byte(token)
			tampered[0] = map[bool]byte{true: 'B', false: 'A'}[tampered[0] == 'A']
			for _, c := range []struct {
				name, url string
				status    int
				text      string
			}{
				{"tampered", base + string(tampered), 404, "not valid"},
				{"short", base + token[:20], 404, "not valid"},
				{"first", base + token, 200, "successfully verified someone@mail.test"},
				{"again", base + token, 410, "already been used"},
			} {
				st, _, body := get(t, http.MethodGet, c.url)
				if st != c.status || !strings.Contains(body, c.text) {
					t.Errorf("%s: %d %s; want %d with %q", c.name, st, body, c.status, c.text)
				}
			}
			if !verified(acme, "someone@mail.test") || verified(other, "someone@mail.test") {
				t.Fatalf("verified: acme %v, other %v", verified(acme, "someone@mail.test"), verified(other, "someone@mail.test"))
			}
			_, late := linkIn(t, create(acme, "late@mail.test"))
			*now = now.Add(identity.LinkTTL)
			if st, _, body := get(t, http.MethodGet, base+late); st != http.StatusGone || !strings.Contains(body, "expired") || verified(acme, "late@mail.test") {
				t.Errorf("expired: %d %s", st, body)
			}
			_, gone := linkIn(t, create(acme, "gone@mail.test"))
			if _, err := acme.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("gone@mail.test")}); err != nil {
				t.Fatal(err)
			}
			if st, _, _ := get(t, http.MethodGet, base+gone); st != http.StatusNotFound {
				t.Errorf("link of a deleted identity: %d", st)
			}
			req, _ := http.NewRequest(http.MethodGet, base+token, strings.NewReader("x"))
			if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET with a body: %v %v", resp, err)
			}
		})
	}
}

// goodTemplateInput is a valid CreateCustomVerificationEmailTemplate of
// the tenant acme (acme.example is verified).
func goodTemplateInput(name string) *sesv2.CreateCustomVerificationEmailTemplateInput {
	return &sesv2.CreateCustomVerificationEmailTemplateInput{TemplateName: aws.String(name), FromEmailAddress: aws.String("hello@acme.example"),
		TemplateSubject: aws.String("Please confirm"), TemplateContent: aws.String("<html><body><h1>Welcome to Acme</h1></body></html>"),
		SuccessRedirectionURL: aws.String("https://acme.example/ok"), FailureRedirectionURL: aws.String("https://acme.example/fail"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("growth")}}}
}

// TestCustomVerificationTemplatesSDK: every custom verification template
// operation through aws-sdk-go-v2 service/sesv2, with SES's errors for bad
// input, and SendCustomVerificationEmail: the email goes through the
// accept path (MessageId), its link creates the identity verified and
// redirects to SuccessRedirectionURL, then to FailureRedirectionURL.
func TestCustomVerificationTemplatesSDK(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _, _ := startVerificationAPI(t, backend)
			ctx := t.Context()
			acme, other := sesClient(srv.URL, tenants["acme"], 1), sesClient(srv.URL, tenants["other"], 1)
			if _, err := acme.CreateCustomVerificationEmailTemplate(ctx, goodTemplateInput("welcome")); err != nil {
				t.Fatal(err)
			}
			bad := func(change func(*sesv2.CreateCustomVerificationEmailTemplateInput)) *sesv2.CreateCustomVerificationEmailTemplateInput {
				in := goodTemplateInput("other-name")
				change(in)
				return in
			}
			for _, c := range []struct {
				name string
				in   *sesv2.CreateCustomVerificationEmailTemplateInput
				code string
			}{
				{"duplicate", goodTemplateInput("welcome"), "AlreadyExistsException"},
				{"unverified From", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.FromEmailAddress = aws.String("hello@stranger.test")
				}), "BadRequestException"},
				{"display name", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.FromEmailAddress = aws.String("Acme <hello@acme.example>")
				}), "BadRequestException"},
				{"script", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.TemplateContent = aws.String("<p>hi</p><script>steal()</script>")
				}), "BadRequestException"},
				{"tab in a javascript: URL", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.TemplateContent = aws.String("<p>hi</p><a href=\"java\tscript:alert(1)\">x</a>")
				}), "BadRequestException"},
				{"unterminated tag", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.TemplateContent = aws.String("<p>hi</p><img src=x onerror=alert(document.domain)//")
				}), "BadRequestException"},
				{"10 MB", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.TemplateContent = aws.String(strings.Repeat("a", identity.MaxTemplateContent))
				}), "BadRequestException"},
				{"bad redirect", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) {
					in.SuccessRedirectionURL = aws.String("javascript:alert(1)")
				}), "BadRequestException"},
				{"bad name", bad(func(in *sesv2.CreateCustomVerificationEmailTemplateInput) { in.TemplateName = aws.String("a/b") }), "BadRequestException"},
			} {
				if _, err := acme.CreateCustomVerificationEmailTemplate(ctx, c.in); errCode(err) != c.code {
					t.Errorf("%s: %v; want %s", c.name, err, c.code)
				}
			}
			if st, code, body := signedCall(t, srv, tenants["acme"], "POST", "/v2/email/custom-verification-email-templates",
				[]byte(`{"TemplateName":"x","FromEmailAddress":"hello@acme.example","TemplateSubject":"s","SuccessRedirectionURL":"https://a.example/","FailureRedirectionURL":"https://a.example/"}`)); st != 400 || code != "BadRequestException" || !strings.Contains(string(body), "TemplateContent is required") {
				t.Errorf("no TemplateContent: %d %s %s", st, code, body)
			}

			got, err := acme.GetCustomVerificationEmailTemplate(ctx, &sesv2.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")})
			if err != nil || aws.ToString(got.TemplateSubject) != "Please confirm" || aws.ToString(got.FromEmailAddress) != "hello@acme.example" ||
				!strings.Contains(aws.ToString(got.TemplateContent), "Welcome to Acme") || aws.ToString(got.SuccessRedirectionURL) != "https://acme.example/ok" ||
				len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "team" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if _, err := other.GetCustomVerificationEmailTemplate(ctx, &sesv2.GetCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); errCode(err) != "NotFoundException" {
				t.Errorf("another tenant's Get: %v", err)
			}

			for i := 1; i < identity.MaxTemplates; i++ {
				if _, err := acme.CreateCustomVerificationEmailTemplate(ctx, goodTemplateInput(fmt.Sprintf("t%02d", i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := acme.CreateCustomVerificationEmailTemplate(ctx, goodTemplateInput("t99")); errCode(err) != "LimitExceededException" {
				t.Errorf("template 51: %v", err)
			}
			var names []string
			pages := 0
			for p := sesv2.NewListCustomVerificationEmailTemplatesPaginator(acme, &sesv2.ListCustomVerificationEmailTemplatesInput{PageSize: aws.Int32(20)}); p.HasMorePages(); pages++ {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range out.CustomVerificationEmailTemplates {
					names = append(names, aws.ToString(m.TemplateName))
				}
			}
			if len(names) != identity.MaxTemplates || pages != 3 || names[0] != "t01" || names[len(names)-1] != "welcome" {
				t.Errorf("listed %d templates in %d pages: %v", len(names), pages, names)
			}
			for _, size := range []int32{0, 51} {
				if _, err := acme.ListCustomVerificationEmailTemplates(ctx, &sesv2.ListCustomVerificationEmailTemplatesInput{PageSize: aws.Int32(size)}); errCode(err) != "BadRequestException" {
					t.Errorf("PageSize %d: %v", size, err)
				}
			}

			upd := &sesv2.UpdateCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome"), FromEmailAddress: aws.String("hello@acme.example"),
				TemplateSubject: aws.String("Confirm your Acme address"), TemplateContent: aws.String("<p>Confirm, please.</p>"),
				SuccessRedirectionURL: aws.String("https://acme.example/ok2"), FailureRedirectionURL: aws.String("https://acme.example/fail2")}
			if _, err := acme.UpdateCustomVerificationEmailTemplate(ctx, upd); err != nil {
				t.Fatal(err)
			}
			upd.TemplateName = aws.String("nope")
			if _, err := acme.UpdateCustomVerificationEmailTemplate(ctx, upd); errCode(err) != "NotFoundException" {
				t.Errorf("Update(nope): %v", err)
			}
			upd.TemplateName, upd.TemplateContent = aws.String("welcome"), aws.String(`<a href="x" onclick="y">z</a>`)
			if _, err := acme.UpdateCustomVerificationEmailTemplate(ctx, upd); errCode(err) != "BadRequestException" {
				t.Errorf("Update with onclick: %v", err)
			}

			// SendCustomVerificationEmail.
			for _, c := range []struct {
				name string
				in   *sesv2.SendCustomVerificationEmailInput
				code string
			}{
				{"no template", &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"), TemplateName: aws.String("nope")}, "NotFoundException"},
				{"not an address", &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String("user.test"), TemplateName: aws.String("welcome")}, "BadRequestException"},
				{"no such set", &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"), TemplateName: aws.String("welcome"),
					ConfigurationSetName: aws.String("nope")}, "NotFoundException"},
			} {
				if _, err := acme.SendCustomVerificationEmail(ctx, c.in); errCode(err) != c.code {
					t.Errorf("%s: %v; want %s", c.name, err, c.code)
				}
			}
			sent, err := acme.SendCustomVerificationEmail(ctx, &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String("new@user.test"),
				TemplateName: aws.String("welcome")})
			if err != nil || aws.ToString(sent.MessageId) == "" {
				t.Fatalf("SendCustomVerificationEmail = %+v, %v", sent, err)
			}
			body, err := s.Spool.Body(ctx, aws.ToString(sent.MessageId))
			if err != nil {
				t.Fatal(err)
			}
			flat := strings.ReplaceAll(string(body), "=\r\n", "")
			if !strings.Contains(flat, "Subject: Confirm your Acme address") || !strings.Contains(flat, "Confirm, please.") {
				t.Errorf("the email is not the template's:\n%s", body)
			}
			base, token := linkIn(t, string(body))
			if _, err := acme.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("new@user.test")}); errCode(err) != "NotFoundException" {
				t.Fatalf("the identity exists before its link is followed: %v", err)
			}
			if st, loc, _ := get(t, http.MethodGet, base+token); st != http.StatusSeeOther || loc != "https://acme.example/ok2" {
				t.Fatalf("link: %d → %q", st, loc)
			}
			id, err := acme.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("new@user.test")})
			if err != nil || !id.VerifiedForSendingStatus {
				t.Fatalf("GetEmailIdentity after the link: %+v, %v", id, err)
			}
			if st, loc, _ := get(t, http.MethodGet, base+token); st != http.StatusSeeOther || loc != "https://acme.example/fail2" {
				t.Fatalf("link again: %d → %q", st, loc)
			}
			// The sandbox: SES sends custom verification emails only for
			// accounts with production access.
			if _, err := s.Accounts.Create(ctx, "sandy"); err != nil {
				t.Fatal(err)
			}
			key, err := s.Accounts.CreateKey(ctx, "sandy")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Identities.Create(ctx, "sandy", "sandy.example", true); err != nil {
				t.Fatal(err)
			}
			sandy := sesClient(srv.URL, tenant{"sandy", aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}, 1)
			in := goodTemplateInput("w")
			in.FromEmailAddress = aws.String("hi@sandy.example")
			if _, err := sandy.CreateCustomVerificationEmailTemplate(ctx, in); err != nil {
				t.Fatal(err)
			}
			if _, err := sandy.SendCustomVerificationEmail(ctx, &sesv2.SendCustomVerificationEmailInput{EmailAddress: aws.String("x@user.test"),
				TemplateName: aws.String("w")}); errCode(err) != "BadRequestException" {
				t.Errorf("sandbox SendCustomVerificationEmail: %v", err)
			}

			if _, err := acme.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); err != nil {
				t.Fatal(err)
			}
			if _, err := acme.DeleteCustomVerificationEmailTemplate(ctx, &sesv2.DeleteCustomVerificationEmailTemplateInput{TemplateName: aws.String("welcome")}); errCode(err) != "NotFoundException" {
				t.Errorf("second Delete: %v", err)
			}
		})
	}
}

// Verification emails are limited per account (identity.MailBurst at
// once): CreateEmailIdentity of one more address is
// TooManyRequestsException, and creates nothing.
func TestVerificationEmailRate(t *testing.T) {
	srv, _, tenants, box, _ := startVerificationAPI(t, "sqlite")
	acme := sesClient(srv.URL, tenants["acme"], 1)
	var err error
	n := 0
	for ; n <= identity.MailBurst+2 && err == nil; n++ {
		_, err = acme.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(fmt.Sprintf("u%d@mail.test", n))})
	}
	if errCode(err) != "TooManyRequestsException" || len(box.msgs) < identity.MailBurst || len(box.msgs) > identity.MailBurst+2 {
		t.Fatalf("after %d creations, %d emails: %v", n, len(box.msgs), err)
	}
	last := fmt.Sprintf("u%d@mail.test", n-1)
	if _, err := acme.GetEmailIdentity(t.Context(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(last)}); errCode(err) != "NotFoundException" {
		t.Errorf("the refused identity %s exists: %v", last, err)
	}
}

// TestVerificationLinkPageEscapes: an address whose quoted local part is
// HTML ("<form action=x>"@example.com, valid in RFC 5321) appears on the
// link page as text, and the page's Content-Security-Policy forbids form
// submission and <base> besides scripts.
func TestVerificationLinkPageEscapes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, box, _ := startVerificationAPI(t, backend)
			acme := sesClient(srv.URL, tenants["acme"], 1)
			if _, err := acme.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(`"<form action=x>"@example.com`)}); err != nil {
				t.Fatal(err)
			}
			box.mu.Lock()
			msg := box.msgs[len(box.msgs)-1]
			box.mu.Unlock()
			base, token := linkIn(t, msg)
			resp, err := noRedirect.Get(base + token)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body := string(b)
			if resp.StatusCode != http.StatusOK || strings.Contains(strings.ToLower(body), "<form") || !strings.Contains(body, "&lt;form action=x&gt;@example.com") {
				t.Errorf("link page: %d\n%s", resp.StatusCode, body)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "form-action 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
				}
			}
		})
	}
}
