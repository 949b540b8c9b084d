package api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/smithy-go"
)

// v1Client is the official SES v1 (Query API) client for tenant ten of the
// server at url, without retries.
func v1Client(url string, ten tenant) *ses.Client {
	return ses.New(ses.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(ten.creds.AccessKeyID, ten.creds.SecretAccessKey, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
	})
}

// v1Code returns the v1 error code (and message) of err, "" when it is nil
// or not an API error.
func v1Code(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// v1Post sends form as a v1 request signed for service (normally "ses")
// by ten, and returns the status and body.
func v1Post(t *testing.T, srv *httptest.Server, ten tenant, service string, form url.Values) (int, []byte) {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest("POST", srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if err := v4.NewSigner().SignHTTP(t.Context(), ten.creds, req, sha256Hex(body), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// v1ErrorXML is SES's v1 error document.
type v1ErrorXML struct {
	XMLName xml.Name `xml:"http://ses.amazonaws.com/doc/2010-12-01/ ErrorResponse"`
	Error   struct{ Type, Code, Message string }
	ReqID   string `xml:"RequestId"`
}

func parseV1Error(t *testing.T, b []byte) v1ErrorXML {
	t.Helper()
	var e v1ErrorXML
	if err := xml.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an SES v1 ErrorResponse: %v\n%s", err, b)
	}
	return e
}

// TestV1Wire: the v1 API's own refusals, in SES's XML: a missing or unknown
// Action, another Version, a bad signature; receipt-rule actions answer
// UnsupportedOperation naming the action, through the SDK too.
func TestV1Wire(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	acme := tenants["acme"]
	for _, c := range []struct {
		name    string
		form    url.Values
		code    string
		message string
	}{
		{"no action", url.Values{"Version": {V1Version}}, "MissingAction", "Request is missing Action parameter."},
		{"unknown action", url.Values{"Action": {"SendPigeon"}, "Version": {V1Version}}, "InvalidAction",
			"The action SendPigeon is not valid for this web service."},
		{"other version", url.Values{"Action": {"SendBounce"}, "Version": {"2019-09-27"}}, "InvalidParameterValue", "Version 2019-09-27 is not supported"},
		{"receipt rule", url.Values{"Action": {"CreateReceiptRule"}, "Version": {V1Version}}, "UnsupportedOperation",
			"CreateReceiptRule is not supported by Petrel"},
	} {
		status, body := v1Post(t, srv, acme, "ses", c.form)
		e := parseV1Error(t, body)
		if status != 400 || e.Error.Type != "Sender" || e.Error.Code != c.code || !strings.Contains(e.Error.Message, c.message) || e.ReqID == "" {
			t.Errorf("%s: %d %+v, want 400 Sender %s %q", c.name, status, e, c.code, c.message)
		}
	}

	// A chunked body is refused (Guard) in the v1 API's XML.
	body := []byte("Action=GetSendQuota&Version=" + V1Version)
	req, err := http.NewRequest("POST", srv.URL+"/", io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // sent chunked
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v4.NewSigner().SignHTTP(t.Context(), acme.creds, req, sha256Hex(body), "ses", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := parseV1Error(t, rb); resp.StatusCode != 400 || e.Error.Code != "InvalidParameterValue" || !strings.Contains(e.Error.Message, "Transfer-Encoding") {
		t.Errorf("chunked v1 request: %d %s", resp.StatusCode, rb)
	}

	for _, name := range v1Receiving {
		status, body := v1Post(t, srv, acme, "ses", url.Values{"Action": {name}, "Version": {V1Version}})
		if e := parseV1Error(t, body); status != 400 || e.Error.Code != "UnsupportedOperation" || !strings.HasPrefix(e.Error.Message, name+" is not supported") {
			t.Errorf("%s: %d %+v", name, status, e)
		}
	}

	ctx := t.Context()
	if _, err := v1Client(srv.URL, acme).CreateReceiptRuleSet(ctx, &ses.CreateReceiptRuleSetInput{RuleSetName: aws.String("r")}); !strings.HasPrefix(fmtCode(err), "UnsupportedOperation: CreateReceiptRuleSet is not supported") {
		t.Errorf("CreateReceiptRuleSet: %v", err)
	}
	bad := acme
	bad.creds.SecretAccessKey = "x" + bad.creds.SecretAccessKey
	if _, err := v1Client(srv.URL, bad).GetSendQuota(ctx, &ses.GetSendQuotaInput{}); fmtCode(err) == "" ||
		!strings.HasPrefix(fmtCode(err), "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: %v", err)
	}
	unknown := acme
	unknown.creds.AccessKeyID = "AKIAUNKNOWNUNKNOWN00"
	if _, err := v1Client(srv.URL, unknown).GetSendQuota(ctx, &ses.GetSendQuotaInput{}); !strings.HasPrefix(fmtCode(err), "InvalidClientTokenId") {
		t.Errorf("unknown key: %v", err)
	}
}

func fmtCode(err error) string {
	code, msg := v1Code(err)
	if code == "" {
		return ""
	}
	return code + ": " + msg
}

// TestV1BesideSNS: with SNS served, POST / signed for "ses" is the v1 API
// and everything else SNS's (its unsigned SubscribeURL included).
func TestV1BesideSNS(t *testing.T) {
	_, s, tenants, _ := startAPI(t, 256<<20, "acme")
	var snsCalls int
	s.SNS = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { snsCalls++; io.WriteString(w, "sns") })
	srv := httptest.NewServer(s.Guard(s.Handler()))
	defer srv.Close()
	acme := tenants["acme"]
	status, body := v1Post(t, srv, acme, "ses", url.Values{"Action": {"SendPigeon"}})
	if status != 400 || parseV1Error(t, body).Error.Code != "InvalidAction" || snsCalls != 0 {
		t.Fatalf("ses-signed request: %d %s (SNS called %d times)", status, body, snsCalls)
	}
	if status, body := v1Post(t, srv, acme, "sns", url.Values{"Action": {"ListTopics"}}); status != 200 || string(body) != "sns" {
		t.Fatalf("sns-signed request: %d %s", status, body)
	}
	// SES's retired AWS3-HTTPS signature, and SigV4 scoped to "email" (SES's
	// endpoint prefix), are SES v1 requests: refused in SES's XML, naming
	// what to sign with, not sent to SNS.
	legacy, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("Action=SendEmail"))
	legacy.Header.Set("X-Amzn-Authorization", "AWS3-HTTPS AWSAccessKeyId=AKIA,Algorithm=HmacSHA256,Signature=x")
	legacy.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lr, err := srv.Client().Do(legacy)
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := io.ReadAll(lr.Body)
	lr.Body.Close()
	if e := parseV1Error(t, lb); lr.StatusCode != 400 || e.Error.Code != "IncompleteSignature" || !strings.Contains(e.Error.Message, "Signature Version 4 for service ses") {
		t.Errorf("AWS3-HTTPS request: %d %s", lr.StatusCode, lb)
	}
	if status, body := v1Post(t, srv, acme, "email", url.Values{"Action": {"GetSendQuota"}}); status != 403 ||
		parseV1Error(t, body).Error.Code != "SignatureDoesNotMatch" || !strings.Contains(parseV1Error(t, body).Error.Message, "'ses'") {
		t.Errorf("request signed for email: %d %s", status, body)
	}
	if snsCalls != 1 {
		t.Fatalf("SES requests reached SNS (%d calls)", snsCalls)
	}
	resp, err := srv.Client().Get(srv.URL + "/?Action=ConfirmSubscription&TopicArn=x&Token=y")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if snsCalls != 2 {
		t.Fatalf("unsigned GET / did not reach SNS (%d calls)", snsCalls)
	}
}

// TestV1EveryAction: every operation of the official SES v1 client
// (aws-sdk-go-v2 service/ses) is an action of the v1 API — none answers
// InvalidAction.
func TestV1EveryAction(t *testing.T) {
	actions := (&Server{}).v1Actions()
	client := reflect.TypeFor[*ses.Client]()
	n := 0
	for i := range client.NumMethod() {
		m := client.Method(i)
		// Operations are func(ctx, *XInput, ...func(*Options)) (*XOutput, error).
		if m.Type.NumIn() != 4 || !strings.HasSuffix(m.Type.In(2).String(), "Input") {
			continue
		}
		n++
		if _, ok := actions[m.Name]; !ok {
			t.Errorf("SES v1 operation %s is not a v1 action", m.Name)
		}
	}
	if n < 71 {
		t.Fatalf("%d SES v1 operations found in the client, want SES's 71", n)
	}
	if len(actions) != n {
		t.Errorf("%d v1 actions, %d SES v1 operations", len(actions), n)
	}
}

// TestV1EveryActionTested: every SES v1 operation Petrel serves (all but the
// receipt-rule ones, TestV1Wire) is called through the official client
// (client.Op(ctx, …)) by a test of this package or of internal/e2e.
func TestV1EveryActionTested(t *testing.T) {
	var src strings.Builder
	for _, pattern := range []string{"v1*_test.go", "../e2e/*_test.go"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	receiving := map[string]bool{}
	for _, n := range v1Receiving {
		receiving[n] = true
	}
	for name := range (&Server{}).v1Actions() {
		if !receiving[name] && !strings.Contains(src.String(), "."+name+"(") {
			t.Errorf("no test calls %s through the SES v1 client", name)
		}
	}
}
