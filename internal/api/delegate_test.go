package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendingAuthorization: account beta sends as alpha's identity
// alpha.example with FromEmailAddressIdentityArn. It is refused without a
// policy, accepted once alpha allows beta's sending account id, refused
// again when a Deny is added, refused for a From address the identity does
// not cover and for a condition that does not hold; a malformed ARN is
// BadRequestException; without an ARN the old rule holds. The accepted
// message's mail object has sourceArn = alpha's identity ARN and
// sendingAccountId = beta's.
func TestSendingAuthorization(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testSendingAuthorization(t, backend) })
	}
}

func testSendingAuthorization(t *testing.T, backend string) {
	srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "alpha", "beta")
	ctx := t.Context()
	owner := sesClient(srv.URL, tenants["alpha"], 1)
	delegate := sesClient(srv.URL, tenants["beta"], 1)
	beta, err := s.Accounts.Get(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	arn := testIdentityARN(t, s, "alpha", "alpha.example")
	send := func(from, identityArn string) (string, error) {
		in := &sesv2.SendEmailInput{
			FromEmailAddress: aws.String(from),
			Destination:      &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
			Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
				Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}},
		}
		if identityArn != "" {
			in.FromEmailAddressIdentityArn = aws.String(identityArn)
		}
		out, err := delegate.SendEmail(ctx, in)
		if err != nil {
			return "", err
		}
		return *out.MessageId, nil
	}
	denied := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		var re *awshttp.ResponseError
		want := "User `arn:aws:iam::" + beta.SendingAccountID + ":root' is not authorized to perform `ses:SendEmail' on resource `"
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.HasPrefix(ae.ErrorMessage(), want) ||
			!errors.As(err, &re) || re.HTTPStatusCode() != 403 {
			t.Fatalf("%s: %v; want 403 AccessDeniedException %q…", what, err, want)
		}
	}
	policy := func(name, effect, cond string) {
		t.Helper()
		if cond != "" {
			cond = `,"Condition":` + cond
		}
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":{"AWS":"arn:aws:iam::` + beta.SendingAccountID +
			`:root"},"Action":["ses:SendEmail","ses:SendRawEmail"],"Resource":"` + arn + `"` + cond + `}]}`
		if _, err := owner.CreateEmailIdentityPolicy(ctx, &sesv2.CreateEmailIdentityPolicyInput{EmailIdentity: aws.String("alpha.example"),
			PolicyName: aws.String(name), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	before := countRows(t, db, "messages")

	_, err = send("news@alpha.example", arn)
	denied("no policy", err)
	if _, err := send("news@alpha.example", ""); errCode(err) != "MessageRejected" {
		t.Fatalf("no ARN: %v; want MessageRejected (not verified)", err)
	}
	if _, err := send("news@alpha.example", "arn:aws:ses:us-east-1:alpha.example"); errCode(err) != "BadRequestException" {
		t.Fatalf("malformed ARN: %v", err)
	}
	if n := countRows(t, db, "messages"); n != before {
		t.Fatalf("%d messages stored after refusals", n-before)
	}

	policy("allow-beta", "Allow", "")
	id, err := send("News <news@alpha.example>", arn)
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	_, obj, err := s.Spool.Mail(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var mail event.Mail
	if err := json.Unmarshal(obj, &mail); err != nil {
		t.Fatal(err)
	}
	if mail.SourceArn != arn || mail.SendingAccountID != beta.SendingAccountID {
		t.Fatalf("mail object: sourceArn %q sendingAccountId %q; want %q, %q", mail.SourceArn, mail.SendingAccountID, arn, beta.SendingAccountID)
	}
	var acct string
	if err := db.QueryRowContext(ctx, db.Rebind("SELECT account FROM messages WHERE id = ?"), id).Scan(&acct); err != nil || acct != "beta" {
		t.Fatalf("message stored for %q (%v), want the delegate beta", acct, err)
	}

	feedback := func(addr string) error {
		_, err := delegate.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String("news@alpha.example"), FromEmailAddressIdentityArn: aws.String(arn),
			FeedbackForwardingEmailAddress: aws.String(addr), FeedbackForwardingEmailAddressIdentityArn: aws.String(arn),
			Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
			Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
				Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}})
		return err
	}
	if err := feedback("bounces@alpha.example"); err != nil {
		t.Fatalf("feedback address of the identity: %v", err)
	}
	denied("feedback address outside the identity", feedback("bounces@beta.example"))

	_, err = send("news@beta.example", arn)
	denied("From outside the identity", err)
	_, err = send("news@sub.alpha.example", strings.Replace(arn, "us-east-1", "eu-west-1", 1))
	denied("other region", err)
	if _, err := sesClient(srv.URL, tenants["alpha"], 1).SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("news@alpha.example"), FromEmailAddressIdentityArn: aws.String(arn),
		Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}}); err != nil {
		t.Fatalf("the owner with its own ARN: %v", err)
	}

	policy("only-invoicing", "Deny", `{"StringNotLike":{"ses:FromAddress":"invoicing*@alpha.example"}}`)
	_, err = send("news@alpha.example", arn)
	denied("Deny for addresses other than invoicing*", err)
	if _, err := send("invoicing-eu@alpha.example", arn); err != nil {
		t.Fatalf("invoicing address: %v", err)
	}

	policy("deny-all", "Deny", "")
	_, err = send("invoicing@alpha.example", arn)
	denied("Deny", err)

	if err := s.Identities.SetVerified(ctx, "alpha", "alpha.example", false); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("alpha.example"), PolicyName: aws.String("deny-all")}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("alpha.example"), PolicyName: aws.String("only-invoicing")}); err != nil {
		t.Fatal(err)
	}
	if _, err := send("news@alpha.example", arn); errCode(err) != "MessageRejected" || !strings.Contains(err.Error(), "alpha.example") {
		t.Fatalf("unverified owner identity: %v", err)
	}
}
