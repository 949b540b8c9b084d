package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	keyID  = "AKIAPETRELTEST000001"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func lookup(id string) (string, error) {
	if id == keyID {
		return secret, nil
	}
	return "", ErrUnknownKey
}

func signed(t testing.TB, method, target string, body []byte, at time.Time, creds aws.Credentials) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ses", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyAgainstSDKSigner(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	body := []byte(`{"FromEmailAddress":"a@example.com"}`)
	cases := []struct {
		name   string
		req    func() *http.Request
		body   []byte
		code   string // "" = valid
		status int
	}{
		{"valid POST", func() *http.Request { return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, creds) }, body, "", 0},
		{"valid GET with escaped path and query", func() *http.Request {
			return signed(t, "GET", "http://h/v2/email/identities/a%2Bb%40example.com?PageSize=5&NextToken=a%2Fb", nil, now, creds)
		}, nil, "", 0},
		{"body tampered", func() *http.Request { return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, creds) },
			[]byte(`{"FromEmailAddress":"b@example.com"}`), "InvalidSignatureException", 403},
		{"wrong secret", func() *http.Request {
			c := creds
			c.SecretAccessKey = "x" + secret
			return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, c)
		}, body, "InvalidSignatureException", 403},
		{"unknown key", func() *http.Request {
			c := creds
			c.AccessKeyID = "AKIAUNKNOWN"
			return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, c)
		}, body, "UnrecognizedClientException", 403},
		{"no signature", func() *http.Request { return httptest.NewRequest("GET", "http://h/v2/email/account", nil) }, nil,
			"MissingAuthenticationTokenException", 403},
		{"skew -16m", func() *http.Request {
			return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now.Add(-16*time.Minute), creds)
		}, body, "RequestExpired", 400},
		{"skew +16m", func() *http.Request {
			return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now.Add(16*time.Minute), creds)
		}, body, "RequestExpired", 400},
		{"skew -14m ok", func() *http.Request {
			return signed(t, "POST", "http://h/v2/email/outbound-emails", body, now.Add(-14*time.Minute), creds)
		}, body, "", 0},
		{"header without signature", func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/v2/email/account", nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyID+"/20261122/us-east-1/ses/aws4_request")
			return r
		}, nil, "IncompleteSignatureException", 400},
		{"wrong region", func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/v2/email/account", nil)
			sum := sha256.Sum256(nil)
			v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ses", "eu-west-1", now)
			return r
		}, nil, "InvalidSignatureException", 403},
		{"UNSIGNED-PAYLOAD", func() *http.Request {
			r := httptest.NewRequest("POST", "http://h/v2/email/outbound-emails", bytes.NewReader(body))
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			v4.NewSigner().SignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "ses", "us-east-1", now)
			return r
		}, body, "InvalidSignatureException", 403},
		{"declared hash of another body", func() *http.Request {
			r := signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, creds)
			sum := sha256.Sum256(body)
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			return r
		}, []byte(`{"FromEmailAddress":"b@example.com"}`), "InvalidSignatureException", 403},
		{"declared hash not a digest", func() *http.Request {
			r := signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, creds)
			r.Header.Set("X-Amz-Content-Sha256", "abc")
			return r
		}, body, "InvalidSignatureException", 403},
		{"wrong service", func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/v2/email/account", nil)
			sum := sha256.Sum256(nil)
			v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "sns", "us-east-1", now)
			return r
		}, nil, "InvalidSignatureException", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			res, err := Verify(r, tc.body, "ses", "us-east-1", now, lookup)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if res.AccessKeyID != keyID || res.Region != "us-east-1" {
					t.Fatalf("result = %+v", res)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Status != tc.status {
				t.Fatalf("want %s/%d, got %v", tc.code, tc.status, err)
			}
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	r := httptest.NewRequest("GET", "http://h/v2/email/account?X-Amz-Expires=300", nil)
	sum := sha256.Sum256(nil)
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ses", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if _, err := Verify(req, nil, "ses", "us-east-1", now.Add(time.Minute), lookup); err != nil {
		t.Fatalf("presigned: %v", err)
	}
	_, err = Verify(req, nil, "ses", "us-east-1", now.Add(6*time.Minute), lookup)
	var e *Error
	if !errors.As(err, &e) || e.Code != "RequestExpired" {
		t.Fatalf("expired presign: got %v", err)
	}

	// A URL presigned for UNSIGNED-PAYLOAD would carry any body for up to 7
	// days; only S3 allows it, SES refuses it.
	r = httptest.NewRequest("POST", "http://h/v2/email/outbound-emails?X-Amz-Expires=604800", nil)
	u, hdr, err = v4.NewSigner().PresignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "ses", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"FromEmailAddress":"any@example.com"}`)
	req = httptest.NewRequest("POST", u, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	if _, err := Verify(req, body, "ses", "us-east-1", now.Add(time.Minute), lookup); !errors.As(err, &e) || e.Code != "InvalidSignatureException" {
		t.Fatalf("presigned UNSIGNED-PAYLOAD: got %v", err)
	}
}

// TestCheckBeforeBody shows what is decided before a body is read: a
// request that declares its payload hash is proven authentic (or not)
// without the body, and the body must then hash to the declared value.
func TestCheckBeforeBody(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	body := []byte(`{"FromEmailAddress":"a@example.com"}`)
	sum := sha256.Sum256(body)
	declared := hex.EncodeToString(sum[:])
	r := httptest.NewRequest("POST", "http://h/v2/email/outbound-emails", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Amz-Content-Sha256", declared)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, declared, "ses", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	s, err := Check(r, "ses", "us-east-1", now, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if s.DeclaredHash() != declared {
		t.Fatalf("declared %q", s.DeclaredHash())
	}
	if _, err := s.Verify(s.DeclaredHash()); err != nil {
		t.Fatalf("verify with the declared hash: %v", err)
	}
	other := sha256.Sum256([]byte("another body"))
	var e *Error
	if _, err := s.Verify(hex.EncodeToString(other[:])); !errors.As(err, &e) || !strings.Contains(e.Message, "x-amz-content-sha256") {
		t.Fatalf("a body that does not match the declaration: got %v", err)
	}
	// Tampering with a signed header is caught before the body.
	r.Header.Set("Content-Type", "text/plain")
	if s, err := Check(r, "ses", "us-east-1", now, lookup); err != nil {
		t.Fatal(err)
	} else if _, err := s.Verify(s.DeclaredHash()); !errors.As(err, &e) || e.Code != "InvalidSignatureException" {
		t.Fatalf("tampered header: got %v", err)
	}
	// Without a declaration, nothing is proven until the body is hashed.
	r = signed(t, "POST", "http://h/v2/email/outbound-emails", body, now, creds)
	if s, err := Check(r, "ses", "us-east-1", now, lookup); err != nil || s.DeclaredHash() != "" {
		t.Fatalf("undeclared: %v %q", err, s.DeclaredHash())
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIA/20261122/us-east-1/ses/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20261122T120000Z", "/v2/email/account?a=b")
	f.Add("AWS4-HMAC-SHA256 Credential=//, SignedHeaders=, Signature=zz", "", "/")
	f.Fuzz(func(t *testing.T, auth, date, target string) {
		r, err := http.NewRequest("GET", "http://h"+target, nil)
		if err != nil {
			return
		}
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		_, err = Verify(r, nil, "ses", "us-east-1", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), lookup)
		if err == nil {
			t.Fatal("a fuzzed signature verified")
		}
	})
}

// TestService: the service of a signature's credential scope, header or
// presigned; "" for a request without a signature that parses.
func TestService(t *testing.T) {
	now := time.Now()
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	sign := func(service string) *http.Request {
		r := httptest.NewRequest("POST", "http://h/", strings.NewReader("Action=SendEmail"))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex([]byte("Action=SendEmail")), service, "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		return r
	}
	presigned := httptest.NewRequest("GET", "http://h/", nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, presigned, sha256Hex(nil), "sns", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	bad := httptest.NewRequest("POST", "http://h/", nil)
	bad.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/y")
	for _, c := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"ses", sign("ses"), "ses"},
		{"sns", sign("sns"), "sns"},
		{"presigned sns", httptest.NewRequest("GET", u, nil), "sns"},
		{"unsigned", httptest.NewRequest("POST", "http://h/", nil), ""},
		{"malformed", bad, ""},
	} {
		if got := Service(c.r); got != c.want {
			t.Errorf("%s: Service = %q, want %q", c.name, got, c.want)
		}
	}
}
