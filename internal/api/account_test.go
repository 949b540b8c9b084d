package api

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/store"
)

// apiError asserts err is SES's code with HTTP status and message.
func apiError(t *testing.T, what string, err error, code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !errors.As(err, &re) || re.HTTPStatusCode() != status || ae.ErrorMessage() != msg {
		t.Errorf("%s: %v; want %d %s %q", what, err, status, code, msg)
	}
}

// TestAccountQuotaAPI: a sandboxed account through the SDK — GetAccount's
// SendQuota, ProductionAccessEnabled and Details; the sandbox's recipient
// rule; TooManyRequestsException for the rate and the daily quota;
// PutAccountDetails (its validation, the review, ConflictException while
// pending); the operator's grant; PutAccountSendingAttributes.
func TestAccountQuotaAPI(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, _, db := startAPIOn(t, backend, 256<<20)
			ctx := t.Context()
			var mu sync.Mutex
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			q := quota.New(db, quota.Config{Node: "test", Now: clock})
			s.Sender.Quota, s.Quota = q, q

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
			ten := tenant{"sandy", aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}
			ses := sesClient(srv.URL, ten, 1)
			send := func(to ...string) error {
				_, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("me@sandy.example"),
					Destination: &types.Destination{ToAddresses: to},
					Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
						Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}})
				return err
			}
			getAccount := func() *sesv2.GetAccountOutput {
				t.Helper()
				out, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}

			a := getAccount()
			if a.ProductionAccessEnabled || a.SendQuota.Max24HourSend != 200 || a.SendQuota.MaxSendRate != 1 || a.SendQuota.SentLast24Hours != 0 ||
				a.Details != nil || !a.SendingEnabled || a.EnforcementStatus == nil || *a.EnforcementStatus != "HEALTHY" {
				t.Errorf("new account: production %v, quota %+v, details %+v, sending %v", a.ProductionAccessEnabled, a.SendQuota, a.Details, a.SendingEnabled)
			}

			apiError(t, "unverified recipient", send("x@elsewhere.test"), "MessageRejected", 400,
				"Email address is not verified. The following identities failed the check in region US-EAST-1: x@elsewhere.test")
			if err := send("you@sandy.example"); err != nil {
				t.Fatalf("verified recipient: %v", err)
			}
			apiError(t, "second message in the second", send("you@sandy.example"), "TooManyRequestsException", 429, "Maximum sending rate exceeded.")
			advance(time.Second)
			if err := s.Accounts.SetQuota(ctx, "sandy", account.Quota{Max24HourSend: 3, MaxSendRate: 10}); err != nil {
				t.Fatal(err)
			}
			if err := send("you@sandy.example", "me@sandy.example"); err != nil {
				t.Fatal(err)
			}
			apiError(t, "over the daily quota", send("you@sandy.example"), "TooManyRequestsException", 429, "Daily message quota exceeded.")
			if a := getAccount(); a.SendQuota.SentLast24Hours != 3 || a.SendQuota.Max24HourSend != 3 || a.SendQuota.MaxSendRate != 10 {
				t.Errorf("SendQuota after 3 recipients: %+v", a.SendQuota)
			}

			// PutAccountDetails: SES's validation (raw requests: the SDK
			// checks required members itself).
			bad := []struct{ body, msg string }{
				{`{"WebsiteURL":"https://sandy.example"}`, "MailType is required."},
				{`{"MailType":"BULK","WebsiteURL":"https://sandy.example"}`, "MailType must be MARKETING or TRANSACTIONAL."},
				{`{"MailType":"MARKETING"}`, "WebsiteURL is required."},
				{`{"MailType":"MARKETING","WebsiteURL":"https://sandy.example","ContactLanguage":"DE"}`, "ContactLanguage must be EN or JA."},
				{`{"MailType":"MARKETING","WebsiteURL":"https://sandy.example","UseCaseDescription":"` + strings.Repeat("x", 5001) + `"}`, "UseCaseDescription must be at most 5000 characters long."},
				{`{"MailType":"MARKETING","WebsiteURL":"https://sandy.example","AdditionalContactEmailAddresses":[]}`, "AdditionalContactEmailAddresses must hold 1 to 4 addresses."},
				{`{"MailType":"MARKETING","WebsiteURL":"https://sandy.example","AdditionalContactEmailAddresses":["nobody"]}`, "Invalid email address in AdditionalContactEmailAddresses: nobody."},
			}
			for _, b := range bad {
				status, code, out := signedCall(t, srv, ten, "POST", "/v2/email/account/details", []byte(b.body))
				if status != 400 || code != "BadRequestException" || !strings.Contains(string(out), b.msg) {
					t.Errorf("%.80s: %d %s %s; want 400 BadRequestException %q", b.body, status, code, out, b.msg)
				}
			}
			details := &sesv2.PutAccountDetailsInput{MailType: types.MailTypeTransactional, WebsiteURL: aws.String("https://sandy.example"),
				ContactLanguage: types.ContactLanguageEn, UseCaseDescription: aws.String("receipts"),
				AdditionalContactEmailAddresses: []string{"ops@sandy.example"}, ProductionAccessEnabled: aws.Bool(true)}
			if _, err := ses.PutAccountDetails(ctx, details); err != nil {
				t.Fatal(err)
			}
			a = getAccount()
			d := a.Details
			if d == nil || d.MailType != types.MailTypeTransactional || aws.ToString(d.WebsiteURL) != "https://sandy.example" || d.ContactLanguage != types.ContactLanguageEn ||
				len(d.AdditionalContactEmailAddresses) != 1 ||
				d.ReviewDetails == nil || d.ReviewDetails.Status != types.ReviewStatusPending || len(aws.ToString(d.ReviewDetails.CaseId)) != 10 ||
				a.ProductionAccessEnabled {
				t.Fatalf("after the request: production %v, details %+v", a.ProductionAccessEnabled, d)
			}
			_, err = ses.PutAccountDetails(ctx, details)
			var conflict *types.ConflictException
			if !errors.As(err, &conflict) {
				t.Errorf("a second request while pending: %v, want ConflictException", err)
			}
			apiError(t, "while pending", err, "ConflictException", 409,
				"Your account details are already under review. You can't update them until the review is complete.")

			if _, err := s.Accounts.DecideProduction(ctx, "sandy", true); err != nil {
				t.Fatal(err)
			}
			a = getAccount()
			if !a.ProductionAccessEnabled || a.SendQuota.Max24HourSend != 50000 || a.SendQuota.MaxSendRate != 14 ||
				a.Details.ReviewDetails.Status != types.ReviewStatusGranted {
				t.Errorf("granted: production %v, quota %+v, review %+v", a.ProductionAccessEnabled, a.SendQuota, a.Details.ReviewDetails)
			}
			advance(time.Second)
			if err := send("x@elsewhere.test"); err != nil {
				t.Errorf("production access, any recipient: %v", err)
			}

			// The tenant's own pause.
			if _, err := ses.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: false}); err != nil {
				t.Fatal(err)
			}
			if getAccount().SendingEnabled {
				t.Error("SendingEnabled after pausing")
			}
			apiError(t, "paused", send("x@elsewhere.test"), "SendingPausedException", 400, "Sending is paused for this account.")
			if _, err := ses.PutAccountSendingAttributes(ctx, &sesv2.PutAccountSendingAttributesInput{SendingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			advance(time.Second)
			if err := send("x@elsewhere.test"); err != nil || !getAccount().SendingEnabled {
				t.Errorf("resumed: %v", err)
			}
		})
	}
}
