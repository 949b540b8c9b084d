package e2e

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

var e2eLinkRE = regexp.MustCompile(`(http://[^"\s<]+/verify-email/)([A-Za-z0-9_-]{43})`)

// waitMessage waits until mx has received its n-th message and returns it.
func waitMessage(t *testing.T, mx *mxtest.Server, n int) mxtest.Message {
	t.Helper()
	pollUntil(t, 10*time.Second, fmt.Sprintf("message %d at the fake MX", n), func() bool { return len(mx.Messages()) >= n })
	return mx.Messages()[n-1]
}

// verificationLink is the link of a delivered verification email, with
// its subject.
func verificationLink(t *testing.T, m mxtest.Message) (url, subject string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	body, _ := io.ReadAll(msg.Body)
	l := e2eLinkRE.FindStringSubmatch(strings.ReplaceAll(string(body), "=\r\n", ""))
	if l == nil {
		t.Fatalf("no verification link in\n%s", m.Data)
	}
	return l[1] + l[2], subject
}

func follow(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAddressVerification (issue 16): CreateEmailIdentity for an address
// sends a verification email through the delivery path; it reaches the
// recipient's MX, and its link, served by the API listener without
// credentials, verifies the address: GetEmailIdentity says so and a send
// From it is accepted and delivered. The link does not work twice, nor
// after 24 hours, nor tampered with; a link of one account does not verify
// another account's identity of the same address.
func TestAddressVerification(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			ctx := t.Context()
			mx := e.mx("inbox.test", "127.0.0.3", 10)
			svc := e.d.Services()
			if _, err := svc.Accounts.CreateWith(ctx, "b", account.CreateOptions{Production: true}); err != nil {
				t.Fatal(err)
			}
			k, err := svc.Accounts.CreateKey(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			sesB := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
				Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
			verified := func(c *sesv2.Client, name string) bool {
				t.Helper()
				out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
				if err != nil {
					t.Fatal(err)
				}
				return out.VerifiedForSendingStatus
			}
			create := func(c *sesv2.Client, name string, nth int) string {
				t.Helper()
				if _, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)}); err != nil {
					t.Fatal(err)
				}
				m := waitMessage(t, mx, nth)
				if m.To[0] != name || m.From != "" {
					t.Fatalf("verification email envelope: from <%s> to %v", m.From, m.To)
				}
				url, subject := verificationLink(t, m)
				if subject != "Petrel – Email Address Verification Request in region us-east-1" || !bytes.Contains(m.Data, []byte("From: no-reply@petrel.test")) {
					t.Fatalf("verification email: subject %q\n%s", subject, m.Data)
				}
				if want := "http://" + e.d.Addr("http") + "/verify-email/"; !strings.HasPrefix(url, want) {
					t.Fatalf("link %s; want it under %s", url, want)
				}
				return url
			}

			// Account b's identity of the address first, then the default
			// account's: b's link stays unused.
			create(sesB, "shared@inbox.test", 1)
			link := create(e.ses, "shared@inbox.test", 2)
			if verified(e.ses, "shared@inbox.test") {
				t.Fatal("verified before the link was followed")
			}
			if _, err := e.ses.SendEmail(ctx, simple("shared@inbox.test", "friend@inbox.test")); errCode(err) != "MessageRejected" {
				t.Fatalf("send from the unverified address: %v", err)
			}
			tampered := link[:len(link)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(link, "A")]
			if st, _ := follow(t, tampered); st != http.StatusNotFound || verified(e.ses, "shared@inbox.test") {
				t.Fatalf("tampered link: %d", st)
			}
			if st, page := follow(t, link); st != http.StatusOK || !strings.Contains(page, "successfully verified shared@inbox.test") {
				t.Fatalf("link: %d %s", st, page)
			}
			if !verified(e.ses, "shared@inbox.test") || verified(sesB, "shared@inbox.test") {
				t.Fatalf("after the default account's link: default %v, b %v", verified(e.ses, "shared@inbox.test"), verified(sesB, "shared@inbox.test"))
			}
			if st, page := follow(t, link); st != http.StatusGone || !strings.Contains(page, "already been used") {
				t.Fatalf("reused link: %d %s", st, page)
			}
			sent, err := e.ses.SendEmail(ctx, simple("shared@inbox.test", "friend@inbox.test"))
			if err != nil {
				t.Fatalf("send from the verified address: %v", err)
			}
			e.events(*sent.MessageId, 10*time.Second, finalCount(1))
			if m := waitMessage(t, mx, 3); m.To[0] != "friend@inbox.test" {
				t.Fatalf("third message to %v", m.To)
			}

			// A link followed after 24 hours verifies nothing.
			late := create(e.ses, "late@inbox.test", 4)
			e.d.AddressVerifier().SetClock(func() time.Time { return time.Now().Add(identity.LinkTTL) })
			defer e.d.AddressVerifier().SetClock(nil)
			if st, page := follow(t, late); st != http.StatusGone || !strings.Contains(page, "expired") || verified(e.ses, "late@inbox.test") {
				t.Fatalf("expired link: %d %s", st, page)
			}
		})
	}
}
