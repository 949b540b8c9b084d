package identity

import (
	"context"
	"errors"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

// mailbox records the system mail an AddressVerifier queues.
type mailbox struct {
	mu   sync.Mutex
	sent []sentMail
}

type sentMail struct{ account, mailFrom, rcpt, msg string }

func (m *mailbox) SendSystemMail(_ context.Context, account, mailFrom, rcpt string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentMail{account, mailFrom, rcpt, string(msg)})
	return nil
}

func (m *mailbox) last(t *testing.T) sentMail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		t.Fatal("no verification email sent")
	}
	return m.sent[len(m.sent)-1]
}

var linkRE = regexp.MustCompile(`/verify-email/([A-Za-z0-9_-]{43})`)

// tokenOf is the link token of a verification email (quoted-printable
// soft line breaks removed; the token's characters are never encoded).
func tokenOf(t *testing.T, msg string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(strings.ReplaceAll(msg, "=\r\n", ""))
	if m == nil {
		t.Fatalf("no verification link in\n%s", msg)
	}
	return m[1]
}

type verifierEnv struct {
	s    *Service
	v    *AddressVerifier
	mail *mailbox
	now  time.Time
}

func newVerifierEnv(t *testing.T, backend string) *verifierEnv {
	db := store.OpenTest(t, backend)
	accts, err := account.New(db, t.TempDir()+"/k", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"a", "b"} {
		if _, err := accts.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	e := &verifierEnv{s: New(db, accts), mail: &mailbox{}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.v = &AddressVerifier{Identities: e.s, Mailer: e.mail, From: "no-reply@petrel.test", PublicURL: "https://petrel.test", Region: "us-east-1"}
	e.v.SetClock(func() time.Time { return e.now })
	return e
}

func (e *verifierEnv) verified(t *testing.T, acct, name string) bool {
	t.Helper()
	a, err := address.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Authorizing(t.Context(), acct, a)
	if err != nil {
		t.Fatal(err)
	}
	return got == name
}

// The verification email: system mail from the configured sender, with
// SES's subject, text and HTML parts, both carrying the link.
func TestSendVerification(t *testing.T) {
	e := newVerifierEnv(t, "sqlite")
	ctx := t.Context()
	if _, err := e.s.Create(ctx, "a", "Someone@Example.test", false); err != nil {
		t.Fatal(err)
	}
	if err := e.v.SendVerification(ctx, "a", "Someone@example.test"); err != nil {
		t.Fatal(err)
	}
	m := e.mail.last(t)
	if m.account != "a" || m.mailFrom != "" || m.rcpt != "Someone@example.test" {
		t.Fatalf("sent %+v", m)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.msg))
	if err != nil {
		t.Fatal(err)
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || subj != "Petrel – Email Address Verification Request in region us-east-1" {
		t.Errorf("Subject %q, %v", subj, err)
	}
	for _, want := range []string{"From: no-reply@petrel.test", "text/plain", "text/html", "https://petrel.test/verify-email/"} {
		if !strings.Contains(strings.ReplaceAll(m.msg, "=\r\n", ""), want) {
			t.Errorf("message lacks %q:\n%s", want, m.msg)
		}
	}
	if n := strings.Count(strings.ReplaceAll(m.msg, "=\r\n", ""), tokenOf(t, m.msg)); n != 3 {
		t.Errorf("the token appears %d times; want 3 (text, href, HTML text)", n)
	}
	if _, err := e.s.Create(ctx, "a", "domain.test", false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want error
	}{{"domain.test", ErrNotAddress}, {"nobody@example.test", ErrNotFound}} {
		if err := e.v.SendVerification(ctx, "a", c.name); !errors.Is(err, c.want) {
			t.Errorf("SendVerification(%s) = %v; want %v", c.name, err, c.want)
		}
	}
	if _, err := e.v.Follow(ctx, tokenOf(t, m.msg)); err != nil {
		t.Fatal(err)
	}
	if err := e.v.SendVerification(ctx, "a", "Someone@example.test"); !errors.Is(err, ErrAlreadyVerified) {
		t.Errorf("resend after verification: %v", err)
	}
}

// A link verifies its account's address once, within 24 hours; an
// expired, reused, unknown, tampered or misshapen token, or one whose
// identity was deleted, verifies nothing; another account's identity of
// the same address stays unverified.
func TestFollowLink(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newVerifierEnv(t, backend)
			ctx := t.Context()
			issue := func(acct, name string) string {
				t.Helper()
				if _, err := e.s.Get(ctx, acct, name); errors.Is(err, ErrNotFound) {
					if _, err := e.s.Create(ctx, acct, name, false); err != nil {
						t.Fatal(err)
					}
				}
				if err := e.v.SendVerification(ctx, acct, name); err != nil {
					t.Fatal(err)
				}
				return tokenOf(t, e.mail.last(t).msg)
			}
			start := e.now
			good := issue("a", "x@one.test")
			if _, err := e.s.Create(ctx, "b", "x@one.test", false); err != nil {
				t.Fatal(err)
			}
			late := issue("a", "late@one.test")
			reused := issue("a", "twice@one.test")
			gone := issue("a", "gone@one.test")
			if err := e.s.Delete(ctx, "a", "gone@one.test"); err != nil {
				t.Fatal(err)
			}
			tampered := []byte(issue("a", "tamper@one.test"))
			tampered[10] ^= 1
			if tampered[10] == '_' || tampered[10] == '-' {
				tampered[10] = 'A'
			}
			boundary := issue("a", "edge@one.test")

			cases := []struct {
				name  string
				token string
				at    time.Duration // after start
				want  error         // nil: verifies
				acct  string
				addr  string
			}{
				{"valid", good, time.Hour, nil, "a", "x@one.test"},
				{"just before expiry", reused, LinkTTL - time.Millisecond, nil, "a", "twice@one.test"},
				{"reused", reused, LinkTTL - time.Millisecond, ErrLinkUsed, "a", "twice@one.test"},
				{"expired", late, LinkTTL, ErrLinkExpired, "a", "late@one.test"},
				{"identity deleted", gone, time.Minute, ErrLinkUnknown, "a", "gone@one.test"},
				{"tampered", string(tampered), time.Minute, ErrLinkUnknown, "a", "tamper@one.test"},
				{"short", good[:42], time.Minute, ErrLinkUnknown, "", ""},
				{"padded", good[:42] + "=", time.Minute, ErrLinkUnknown, "", ""},
				{"long", good + "A", time.Minute, ErrLinkUnknown, "", ""},
				{"unknown", strings.Repeat("A", 43), time.Minute, ErrLinkUnknown, "", ""},
				{"expired boundary", boundary, LinkTTL + time.Hour, ErrLinkExpired, "a", "edge@one.test"},
			}
			for _, c := range cases {
				e.now = start.Add(c.at)
				l, err := e.v.Follow(ctx, c.token)
				if c.want == nil {
					if err != nil || l.Account != c.acct || l.Address != c.addr {
						t.Errorf("%s: Follow = %+v, %v", c.name, l, err)
					}
				} else if !errors.Is(err, c.want) {
					t.Errorf("%s: Follow = %+v, %v; want %v", c.name, l, err, c.want)
				}
				if c.addr != "" && c.addr != "gone@one.test" && e.verified(t, c.acct, c.addr) != (c.want == nil || c.want == ErrLinkUsed) {
					t.Errorf("%s: %s verified = %v", c.name, c.addr, !(c.want == nil || c.want == ErrLinkUsed))
				}
			}
			if e.verified(t, "b", "x@one.test") {
				t.Error("account a's link verified account b's identity of the same address")
			}
			if _, err := e.s.Get(ctx, "a", "gone@one.test"); !errors.Is(err, ErrNotFound) {
				t.Errorf("a link of a deleted identity recreated it: %v", err)
			}
		})
	}
}

// A custom template's link creates the address identity, verified, when
// it does not exist (SES), and carries the template's redirection URLs.
func TestCustomLink(t *testing.T) {
	e := newVerifierEnv(t, "sqlite")
	ctx := t.Context()
	tm := Template{Name: "welcome", FromEmailAddress: "hello@brand.test", TemplateSubject: "Confirm your address",
		TemplateContent: "<html><body><h1>Welcome</h1></body></html>", SuccessRedirectionURL: "https://brand.test/ok", FailureRedirectionURL: "https://brand.test/fail"}
	msg, err := e.v.CustomMessage(ctx, "a", "new@user.test", tm)
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.ReplaceAll(string(msg), "=\r\n", "")
	for _, want := range []string{"From: hello@brand.test", "Subject: Confirm your address", "<h1>Welcome</h1>", "sent at the request of the Petrel account a"} {
		if !strings.Contains(flat, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if i, j := strings.Index(flat, "/verify-email/"), strings.Index(flat, "</body>"); i < 0 || j < 0 || strings.LastIndex(flat, "/verify-email/") > j {
		t.Errorf("the link is not inside the body:\n%s", flat)
	}
	token := tokenOf(t, string(msg))
	if _, err := e.s.Get(ctx, "a", "new@user.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the identity exists before the link is followed: %v", err)
	}
	l, err := e.v.Follow(ctx, token)
	if err != nil || l.SuccessURL != "https://brand.test/ok" {
		t.Fatalf("Follow = %+v, %v", l, err)
	}
	if id, err := e.s.Get(ctx, "a", "new@user.test"); err != nil || !id.Verified || id.Kind != EmailAddress {
		t.Fatalf("identity after the link: %+v, %v", id, err)
	}
	var le *LinkError
	if _, err := e.v.Follow(ctx, token); !errors.As(err, &le) || le.FailureURL != "https://brand.test/fail" || !errors.Is(err, ErrLinkUsed) {
		t.Fatalf("second follow: %v", err)
	}
}

// A link token of any form is refused without panicking unless it is 43
// characters of base64url.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{newToken(), "", strings.Repeat("A", 43), strings.Repeat("=", 43), "../../etc/passwd", strings.Repeat("é", 22)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrLinkUnknown) || h != "" {
				t.Fatalf("ParseToken(%q) = %q, %v", s, h, err)
			}
			return
		}
		if len(s) != tokenLen || len(h) != 64 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("ParseToken accepted %q", s)
		}
	})
}

// withLink appends the link to the parsed body, so whatever the content
// ends with (an unterminated tag or comment, a </body> inside an
// attribute, a title, text after </html>), the link is an <a> element of
// the body with exactly its href and nothing of it lands in an attribute.
func TestWithLink(t *testing.T) {
	const link = "https://petrel.test/verify-email/TOKEN"
	for _, content := range []string{
		"<html><body><h1>Welcome</h1></body></html>",
		"<img src=x onerror=alert(document.domain)//",
		`<img src="x`,
		"<p>hi <!-- unterminated",
		`<img alt="</body>"><p>x</p>`,
		"<title></body>",
		"<p>a</p></body></html><p>after</p>",
		"<style>p{}",
		"text only &amp",
	} {
		out, err := withLink(content, link, "disclaimer")
		if err != nil {
			t.Errorf("withLink(%q): %v", content, err)
			continue
		}
		doc, err := html.Parse(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			for _, a := range n.Attr {
				if strings.Contains(a.Val, "verify-email") && !(n.Data == "a" && a.Key == "href" && a.Val == link) {
					t.Errorf("%q: the link landed in <%s %s=%q>", content, n.Data, a.Key, a.Val)
				}
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%q: serialised with <%s %s>", content, n.Data, a.Key)
				}
			}
			if n.Data == "a" && n.Parent.Data == "p" && n.Parent.Parent.Data == "body" && len(n.Attr) == 1 && n.Attr[0].Val == link {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no <body><p><a href=link> in\n%s", content, out)
		}
	}
}

// A template stored before a rule refused its content is refused at send
// time, before any link is issued.
func TestCustomMessageRechecks(t *testing.T) {
	e := newVerifierEnv(t, "sqlite")
	tm := goodTemplate("old")
	tm.TemplateContent = "<p>Welcome</p><img src=x onerror=alert(document.domain)//"
	if _, err := e.v.CustomMessage(t.Context(), "a", "new@user.test", tm); !errors.Is(err, ErrInvalidTemplate) {
		t.Fatalf("CustomMessage = %v; want ErrInvalidTemplate", err)
	}
	if st, err := e.s.Links(t.Context(), "a", "new@user.test", e.v.Now()); err != nil || st.Pending != 0 {
		t.Fatalf("links issued for a refused template: %+v, %v", st, err)
	}
}
