package e2e

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/petrelmail/petrel/internal/store"
)

// A domain created through the API gets an Easy DKIM key (SES), PENDING until
// its record is seen in DNS; mail from it
// arrives signed, and the signature verifies against the published record.
func TestDKIMSigning(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			out, err := e.ses.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("signed.test")})
			if err != nil {
				t.Fatal(err)
			}
			da := out.DkimAttributes
			if da == nil || !da.SigningEnabled || da.Status != types.DkimStatusPending || len(da.Tokens) != 1 ||
				da.SigningAttributesOrigin != types.DkimSigningAttributesOriginAwsSes || da.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit {
				t.Fatalf("DkimAttributes = %+v", da)
			}
			svc := e.d.Services()
			if err := svc.Identities.SetVerified(t.Context(), "default", "signed.test", true); err != nil {
				t.Fatal(err)
			}
			d, ok, err := svc.Identities.GetDKIM(t.Context(), "default", "signed.test")
			if err != nil || !ok || d.Selector != da.Tokens[0] {
				t.Fatalf("GetDKIM = %+v %v %v", d, ok, err)
			}
			sent, err := e.ses.SendEmail(t.Context(), simple("news@signed.test", "a@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*sent.MessageId, 10*time.Second, finalCount(1))
			data := mx.Messages()[0].Data
			vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
				if name != d.Selector+"._domainkey.signed.test" {
					t.Errorf("looked up %s", name)
				}
				return []string{d.Record}, nil
			}})
			if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "signed.test" {
				t.Fatalf("DKIM verification of the delivered message: %v %+v\n%s", err, vs, data)
			}
			// Signing off: the next message goes out unsigned.
			if _, err := e.ses.PutEmailIdentityDkimAttributes(t.Context(), &sesv2.PutEmailIdentityDkimAttributesInput{
				EmailIdentity: aws.String("signed.test"), SigningEnabled: false}); err != nil {
				t.Fatal(err)
			}
			sent, err = e.ses.SendEmail(t.Context(), simple("news@signed.test", "b@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(*sent.MessageId, 10*time.Second, finalCount(1))
			for _, m := range mx.Messages() {
				if m.To[0] == "b@one.test" && bytes.Contains(m.Data, []byte("DKIM-Signature:")) {
					t.Fatal("signed although signing was turned off")
				}
			}
			got, err := e.ses.GetEmailIdentity(t.Context(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("signed.test")})
			if err != nil || got.DkimAttributes.SigningEnabled {
				t.Fatalf("GetEmailIdentity after disabling: %+v %v", got.DkimAttributes, err)
			}
		})
	}
}
