package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

func TestAPIErrors(t *testing.T) {
	e := start(t, "sqlite", nil)
	big := make([]byte, 41<<20)
	copy(big, "From: sender@example.com\r\nTo: a@one.test\r\n\r\n")
	for i := 50; i < len(big); i++ {
		big[i] = 'x'
		if i%900 == 0 {
			big[i-1], big[i] = '\r', '\n'
		}
	}
	cases := []struct {
		name    string
		in      *sesv2.SendEmailInput
		code    string
		message string // substring
	}{
		{"unverified From", simple("someone@unverified.test", "a@one.test"), "MessageRejected",
			"Email address is not verified. The following identities failed the check in region US-EAST-1: someone@unverified.test"},
		{"bad To address", simple("sender@example.com", "not-an-address"), "BadRequestException", "Destination.ToAddresses[0]"},
		{"missing From", func() *sesv2.SendEmailInput { in := simple("", "a@one.test"); in.FromEmailAddress = nil; return in }(),
			"BadRequestException", "FromEmailAddress is required"},
		{"no recipients", simple("sender@example.com"), "BadRequestException", "Destination"},
		{"51 recipients", simple("sender@example.com", manyRecipients(51)...), "BadRequestException", "Recipient count exceeds 50"},
		{"header injection", func() *sesv2.SendEmailInput {
			in := simple("sender@example.com", "a@one.test")
			in.Content.Simple.Headers = []types.MessageHeader{{Name: aws.String("X-A"), Value: aws.String("v\r\nBcc: victim@x.test")}}
			return in
		}(), "BadRequestException", "Headers[0].Value"},
		{"unknown template", &sesv2.SendEmailInput{FromEmailAddress: aws.String("sender@example.com"),
			Destination: &types.Destination{ToAddresses: []string{"a@one.test"}},
			Content:     &types.EmailContent{Template: &types.Template{TemplateName: aws.String("t")}}}, "NotFoundException", "Template t does not exist."},
		{"raw without header block", &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte("just text")}}},
			"MessageRejected", "Transaction failed"},
		{"oversize raw", &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: big}},
			Destination: &types.Destination{ToAddresses: []string{"a@one.test"}}}, "MessageRejected", "Message length is more than 41943040 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.ses.SendEmail(t.Context(), c.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want API error %s, got %v", c.code, err)
			}
			if ae.ErrorCode() != c.code || !strings.Contains(ae.ErrorMessage(), c.message) {
				t.Fatalf("got %s: %q; want %s containing %q", ae.ErrorCode(), ae.ErrorMessage(), c.code, c.message)
			}
		})
	}

	t.Run("bad secret", func(t *testing.T) {
		bad := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
			Credentials: credentials.NewStaticCredentialsProvider(e.d.Credentials.AccessKeyID, "wrong-secret", "")})
		_, err := bad.GetAccount(t.Context(), &sesv2.GetAccountInput{})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		bad := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
			Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "x", "")})
		_, err := bad.GetAccount(t.Context(), &sesv2.GetAccountInput{})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("identity not found", func(t *testing.T) {
		_, err := e.ses.GetEmailIdentity(t.Context(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("nope.test")})
		var nf *types.NotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("identity exists", func(t *testing.T) {
		_, err := e.ses.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")})
		var ae *types.AlreadyExistsException
		if !errors.As(err, &ae) {
			t.Fatalf("got %v", err)
		}
	})
	raw := func(method, path string) (int, string, map[string]string) {
		req, _ := http.NewRequest(method, "http://"+e.d.Addr("http")+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]string
		json.Unmarshal(b, &body)
		return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body
	}
	t.Run("no signature", func(t *testing.T) {
		if st, code, body := raw("GET", "/v2/email/account"); st != 403 || code != "MissingAuthenticationTokenException" || body["message"] == "" {
			t.Fatalf("got %d %s %v", st, code, body)
		}
	})
	t.Run("health", func(t *testing.T) {
		if st, _, _ := raw("GET", "/readyz"); st != 200 {
			t.Fatalf("readyz = %d", st)
		}
	})
}

// TestAPIValidation sends signed JSON bodies the SDK would refuse to build,
// so the server's own validation is what answers.
func TestAPIValidation(t *testing.T) {
	e := start(t, "sqlite", nil)
	cases := []struct{ name, body, code, message string }{
		{"missing Subject", `{"FromEmailAddress":"sender@example.com","Destination":{"ToAddresses":["a@one.test"]},"Content":{"Simple":{"Body":{"Text":{"Data":"x"}}}}}`,
			"BadRequestException", "Content.Simple.Subject is required"},
		{"missing Body", `{"FromEmailAddress":"sender@example.com","Destination":{"ToAddresses":["a@one.test"]},"Content":{"Simple":{"Subject":{"Data":"x"}}}}`,
			"BadRequestException", "Content.Simple.Body must contain Text or Html"},
		{"missing Content", `{"FromEmailAddress":"sender@example.com"}`, "BadRequestException", "Content is required"},
		{"two content kinds", `{"Content":{"Raw":{"Data":"eA=="},"Simple":{}}}`, "BadRequestException", "exactly one of Simple, Raw or Template"},
		{"bad base64", `{"Content":{"Raw":{"Data":"!!!"}}}`, "BadRequestException", "Content.Raw.Data is not valid base64"},
		{"malformed JSON", `{"Content":`, "SerializationException", "Malformed JSON"},
		{"wrong type", `{"FromEmailAddress":5,"Content":{"Raw":{"Data":"eA=="}}}`, "BadRequestException", "FromEmailAddress"},
		{"subject with newline", `{"FromEmailAddress":"sender@example.com","Destination":{"ToAddresses":["a@one.test"]},"Content":{"Simple":{"Subject":{"Data":"a\r\nBcc: x@y.z"},"Body":{"Text":{"Data":"x"}}}}}`,
			"BadRequestException", "Subject.Data must not contain line breaks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, code, msg := e.signedPost(t, "/v2/email/outbound-emails", c.body)
			if st != 400 || code != c.code || !strings.Contains(msg, c.message) {
				t.Fatalf("got %d %s %q; want 400 %s containing %q", st, code, msg, c.code, c.message)
			}
		})
	}
}

func (e *env) signedPost(t *testing.T, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.d.Addr("http")+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: e.d.Credentials.AccessKeyID, SecretAccessKey: e.d.Credentials.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "ses", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), out["message"]
}

func TestUnknownOperation(t *testing.T) {
	e := start(t, "sqlite", nil)
	// A signed request to an operation Petrel does not implement.
	_, err := e.ses.ListDedicatedIpPools(t.Context(), &sesv2.ListDedicatedIpPoolsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("got %v", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
		t.Fatalf("status: %v", err)
	}
}

func manyRecipients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "r" + itoa(i) + "@one.test"
	}
	return out
}
