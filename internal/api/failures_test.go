package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
)

// sesClient is the official SESv2 client for tenant ten of the server at
// url, retrying up to attempts times without waiting between attempts.
func sesClient(url string, ten tenant, attempts int) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(ten.creds.AccessKeyID, ten.creds.SecretAccessKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

// TestDKIMFailureIsInternalFailure (issue 11, finding 1): a DKIM key that
// cannot sign reached the client as 400 MessageRejected — the message's
// fault, permanent, so the caller drops it. It is Petrel's fault: the AWS
// common error InternalFailure, HTTP 500, which the SDK retries; the log
// has the identity at Error; nothing is stored.
func TestDKIMFailureIsInternalFailure(t *testing.T) {
	srv, s, tenants, db := startAPI(t, 256<<20, "acme")
	var logs strings.Builder
	s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	if _, err := s.Identities.GenerateDKIM(t.Context(), "acme", "acme.example", dkim.Ed25519); err != nil {
		t.Fatal(err)
	}
	// A key the signer refuses (a row written wrong).
	if _, err := db.ExecContext(t.Context(), "UPDATE dkim_keys SET selector = '' WHERE identity = 'acme.example'"); err != nil {
		t.Fatal(err)
	}
	ses := sesClient(srv.URL, tenants["acme"], 2)
	_, err := ses.SendEmail(context.Background(), &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("news@acme.example"),
		Destination:      &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}},
	})
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Fatalf("SendEmail: %v; want 500 InternalFailure", err)
	}
	if strings.Contains(ae.ErrorMessage(), "dkim") || strings.Contains(ae.ErrorMessage(), "selector") {
		t.Errorf("the client sees internals: %q", ae.ErrorMessage())
	}
	if !retry.NewStandard().IsErrorRetryable(err) {
		t.Errorf("the SDK does not retry %v", err)
	}
	// The SDK did retry: the server saw both attempts, and logged each at
	// Error with the identity.
	var failures int
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == "ERROR" && rec["identity"] == "acme.example" && rec["op"] == "DKIM signing" {
			failures++
		}
	}
	if failures != 2 {
		t.Errorf("%d Error lines naming acme.example, want 2 (one per attempt); log:\n%s", failures, logs.String())
	}
	for _, table := range []string{"messages", "queue", "events"} {
		var n int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows (%v) after a failed SendEmail", table, n, err)
		}
	}
}

// TestMailSourceDisplayName (issue 11, finding 2): SES reports the
// FromEmailAddress of SendEmail as mail.source as the caller gave it,
// display name included (../shared/spec/ses.md §4.2); Petrel reported the
// bare address.
func TestMailSourceDisplayName(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	const from = "Sender Name <sender@acme.example>"
	raw := []byte("From: Other Name <sender@acme.example>\r\nTo: success@simulator.amazonses.com\r\nSubject: s\r\n\r\nbody\r\n")
	for name, content := range map[string]*types.EmailContent{
		"Simple": {Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}},
		"Raw": {Raw: &types.RawMessage{Data: raw}},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := ses.SendEmail(t.Context(), &sesv2.SendEmailInput{FromEmailAddress: aws.String(from),
				Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}}, Content: content})
			if err != nil {
				t.Fatal(err)
			}
			_, obj, err := s.Spool.Mail(t.Context(), *out.MessageId) // the "mail" object of its events
			if err != nil {
				t.Fatal(err)
			}
			var mail event.Mail
			if err := json.Unmarshal(obj, &mail); err != nil {
				t.Fatal(err)
			}
			if mail.Source != from {
				t.Errorf("mail.source = %q, want %q", mail.Source, from)
			}
		})
	}
}

// TestBYODKIMStoreFailure: CreateEmailIdentity with the caller's DKIM key
// answered every failure of PutDKIMKey as 400 BadRequestException, a
// store failure included, so a caller would not retry a request that was
// right. Only a bad key or selector is the caller's fault now; a store that
// cannot take the key is InternalFailure (500).
func TestBYODKIMStoreFailure(t *testing.T) {
	srv, _, tenants, db := startAPI(t, 256<<20, "acme")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	key, err := dkim.Generate(dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	der, err := dkim.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	good := base64.StdEncoding.EncodeToString(der)
	create := func(name, selector, key string) error {
		_, err := ses.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name),
			DkimSigningAttributes: &types.DkimSigningAttributes{DomainSigningSelector: aws.String(selector),
				DomainSigningPrivateKey: aws.String(key)}})
		return err
	}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprint(err)
	}
	if err := create("bad-key.example", "s1", base64.StdEncoding.EncodeToString([]byte("not a key"))); code(err) != "BadRequestException" {
		t.Errorf("a bad key: %v, want BadRequestException", err)
	}
	if err := create("bad-selector.example", "-s1", good); code(err) != "BadRequestException" {
		t.Errorf("a bad selector: %v, want BadRequestException", err)
	}
	// The store refuses to take any DKIM key.
	if _, err := db.ExecContext(t.Context(), "CREATE TRIGGER no_keys BEFORE INSERT ON dkim_keys BEGIN SELECT RAISE(FAIL, 'disk on fire'); END"); err != nil {
		t.Fatal(err)
	}
	err = create("good.example", "s1", good)
	var re *awshttp.ResponseError
	if code(err) != "InternalFailure" || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("a good key the store cannot take: %v, want 500 InternalFailure", err)
	}
}
