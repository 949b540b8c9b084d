package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
)

// TestIdentityNames through aws-sdk-go-v2: domain names that cannot be an
// identity are refused with BadRequestException saying why — a public
// suffix of the ICANN or private section (it would cover every domain
// under it), an all-numeric TLD, a single label — and nothing is stored;
// valid names round-trip through GetEmailIdentity and
// ListEmailIdentities, an address whose local part needs quoting included
// (its name is the unquoted form, Normalize; Get accepts either spelling).
func TestIdentityNames(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	ctx := context.Background()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	for _, tc := range []struct{ name, msg string }{
		{"co.uk", "public suffix"},
		{"github.io", "public suffix"},
		{"1.2.3.4", "all-numeric"},
		{"localhost", "single-label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(tc.name)})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), tc.msg) {
				t.Fatalf("CreateEmailIdentity(%s) = %v; want BadRequestException saying %q", tc.name, err, tc.msg)
			}
			if _, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(tc.name)}); !errors.As(err, &ae) || ae.ErrorCode() != "NotFoundException" {
				t.Fatalf("GetEmailIdentity(%s) after the refusal = %v; want NotFoundException", tc.name, err)
			}
		})
	}
	for n, canonical := range map[string]string{"ok.co.uk": "ok.co.uk", "me.github.io": "me.github.io", "first.last+tag@good.test": "first.last+tag@good.test",
		`"weird local"@good.test`: "weird local@good.test"} {
		if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(n)}); err != nil {
			t.Fatalf("CreateEmailIdentity(%s): %v", n, err)
		}
		out, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(n)})
		if err != nil {
			t.Fatalf("GetEmailIdentity(%s): %v", n, err)
		}
		if _, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(canonical)}); err != nil {
			t.Fatalf("GetEmailIdentity(%s) by its listed name: %v", canonical, err)
		}
		l, err := ses.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, id := range l.EmailIdentities {
			found = found || aws.ToString(id.IdentityName) == canonical
		}
		if !found || out.IdentityType == "" {
			t.Fatalf("%s does not round-trip: Get %+v, listed %v", n, out, found)
		}
	}
}
