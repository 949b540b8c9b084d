package api

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/identity"
)

// PutEmailIdentityDkimSigningAttributes through aws-sdk-go-v2: a key
// length change, Easy → BYODKIM, a new BYODKIM key, BYODKIM → Easy, each
// making a NEXT key while the current one keeps signing, with
// DkimAttributes reporting the lengths, origin, generation time and the
// selectors to publish; and SES's errors for every bad input.
func TestPutDkimSigningAttributes(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme", "other")
	ctx := context.Background()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("rot.example"),
		DkimSigningAttributes: &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("who@rot.example")}); err != nil {
		t.Fatal(err)
	}
	// The operator vouches for rot.example (and so for its DNS): its
	// ACTIVE key signs without its record having been checked.
	if err := s.Identities.SetVerified(ctx, "acme", "rot.example", true); err != nil {
		t.Fatal(err)
	}
	signingSelector := func(domain string) string {
		t.Helper()
		sg, err := s.Identities.Signer(ctx, "acme", address.Address{Local: "x", Domain: domain})
		if err != nil || sg == nil {
			t.Fatalf("no signer for %s: %v", domain, err)
		}
		return sg.Selector
	}
	get := func(name string) *types.DkimAttributes {
		t.Helper()
		out, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return out.DkimAttributes
	}
	first := get("rot.example")
	if first.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit || first.NextSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit ||
		first.SigningAttributesOrigin != types.DkimSigningAttributesOriginAwsSes || len(first.Tokens) != 1 || first.LastKeyGenerationTimestamp == nil {
		t.Fatalf("DkimAttributes of a new identity: %+v", first)
	}
	put := func(name string, origin types.DkimSigningAttributesOrigin, a *types.DkimSigningAttributes) (*sesv2.PutEmailIdentityDkimSigningAttributesOutput, error) {
		return ses.PutEmailIdentityDkimSigningAttributes(ctx, &sesv2.PutEmailIdentityDkimSigningAttributesInput{
			EmailIdentity: aws.String(name), SigningAttributesOrigin: origin, SigningAttributes: a})
	}

	// Key length change: a NEXT key of the new length; the old one signs.
	out, err := put("rot.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa2048Bit})
	if err != nil {
		t.Fatal(err)
	}
	if out.DkimStatus != types.DkimStatusPending || len(out.DkimTokens) != 2 || out.DkimTokens[0] != first.Tokens[0] {
		t.Fatalf("length change: %+v", out)
	}
	a := get("rot.example")
	if a.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit || a.NextSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit || len(a.Tokens) != 2 {
		t.Fatalf("after the length change: %+v", a)
	}
	if sel := signingSelector("rot.example"); sel != first.Tokens[0] {
		t.Fatalf("signing moved to %s before the new record verified", sel)
	}
	// An address identity reports its domain's.
	if a := get("who@rot.example"); a.NextSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit {
		t.Fatalf("address: %+v", a)
	}
	// Easy → BYODKIM: the operator's key replaces the pending Easy key.
	byoKey, _ := dkim.Generate(dkim.RSA1024)
	der, _ := dkim.MarshalPrivateKey(byoKey)
	b64 := base64.StdEncoding.EncodeToString(der)
	out, err = put("rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("byo2026"), DomainSigningPrivateKey: aws.String(b64)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DkimTokens) != 2 || out.DkimTokens[1] != "byo2026" {
		t.Fatalf("to BYODKIM: %+v", out)
	}
	if a := get("rot.example"); a.SigningAttributesOrigin != types.DkimSigningAttributesOriginExternal || a.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit {
		t.Fatalf("after BYODKIM: %+v", a)
	}
	if sel := signingSelector("rot.example"); sel != first.Tokens[0] {
		t.Fatalf("signing moved to %s before the BYODKIM record verified", sel)
	}

	// BYODKIM → Easy on an identity whose signing key is the operator's.
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("byo.example"),
		DkimSigningAttributes: &types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1"), DomainSigningPrivateKey: aws.String(b64)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Identities.SetVerified(ctx, "acme", "byo.example", true); err != nil {
		t.Fatal(err)
	}
	out, err = put("byo.example", "AWS_SES", nil)
	if err != nil || len(out.DkimTokens) != 2 || out.DkimTokens[0] != "s1" {
		t.Fatalf("to Easy DKIM: %+v %v", out, err)
	}
	if a := get("byo.example"); a.SigningAttributesOrigin != types.DkimSigningAttributesOriginAwsSes || a.NextSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit {
		t.Fatalf("after Easy: %+v", a)
	}
	if sel := signingSelector("byo.example"); sel != "s1" {
		t.Fatalf("the BYODKIM key stopped signing: %s", sel)
	}
	// AWS_SES with no length on an Easy DKIM identity changes nothing.
	if _, err := s.Identities.Create(ctx, "acme", "plain.example", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identities.GenerateDKIM(ctx, "acme", "plain.example", dkim.RSA1024); err != nil {
		t.Fatal(err)
	}
	if out, err := put("plain.example", "AWS_SES", nil); err != nil || len(out.DkimTokens) != 1 {
		t.Fatalf("no change: %+v %v", out, err)
	}
	if keys, _ := s.Identities.DKIMKeys(ctx, "acme", "plain.example"); len(keys) != 1 {
		t.Fatalf("keys: %+v", keys)
	}

	for _, tc := range []struct {
		name, identity string
		origin         types.DkimSigningAttributesOrigin
		attrs          *types.DkimSigningAttributes
		code, msg      string
	}{
		{"unknown identity", "nobody.example", "AWS_SES", nil, "NotFoundException", "does not exist"},
		{"another account's identity", "other.example", "AWS_SES", nil, "NotFoundException", "does not exist"},
		{"address identity", "who@rot.example", "AWS_SES", nil, "BadRequestException", "domain identity"},
		{"unknown origin", "rot.example", "SOMEONE", nil, "BadRequestException", "must be AWS_SES or EXTERNAL"},
		{"EXTERNAL without a key", "rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("x1")}, "BadRequestException", "are required"},
		{"EXTERNAL with nothing", "rot.example", "EXTERNAL", nil, "BadRequestException", "are required"},
		{"selector out of pattern", "rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("-bad"), DomainSigningPrivateKey: aws.String(b64)}, "BadRequestException", "1-63 letters"},
		{"bad key", "rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("x1"), DomainSigningPrivateKey: aws.String("bm90IGEga2V5")}, "BadRequestException", "DomainSigningPrivateKey"},
		{"selector in use", "rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String(first.Tokens[0]), DomainSigningPrivateKey: aws.String(b64)}, "BadRequestException", "already in use"},
		{"EXTERNAL with a length", "rot.example", "EXTERNAL", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("x1"), DomainSigningPrivateKey: aws.String(b64), NextSigningKeyLength: types.DkimSigningKeyLengthRsa2048Bit}, "BadRequestException", "NextSigningKeyLength applies to Easy DKIM"},
		{"AWS_SES with a key", "rot.example", "AWS_SES", &types.DkimSigningAttributes{DomainSigningSelector: aws.String("x1"), DomainSigningPrivateKey: aws.String(b64)}, "BadRequestException", "apply to EXTERNAL"},
		{"unknown length", "plain.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: "RSA_4096_BIT"}, "BadRequestException", "RSA_1024_BIT or RSA_2048_BIT"},
		{"same length", "plain.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit}, "BadRequestException", "already RSA_1024_BIT"},
		{"a length change after a switch to Easy DKIM (not a length change)", "byo.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := put(tc.identity, tc.origin, tc.attrs)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	// A missing origin, which the SDK refuses before sending, is refused
	// by Petrel too.
	status, _, body := signedDo(t, srv, tenants["acme"], "PUT", "/v2/email/identities/rot.example/dkim/signing", []byte(`{"SigningAttributes":{}}`))
	if status != 400 || !strings.Contains(string(body), "SigningAttributesOrigin is required") {
		t.Fatalf("no origin: %d %s", status, body)
	}
	// A second length change within 24 hours is refused and leaves the keys.
	_, err = put("plain.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa2048Bit})
	if err != nil {
		t.Fatal(err)
	}
	_, err = put("plain.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), "once every 24 hours") {
		t.Fatalf("second change within 24 hours: %v", err)
	}
	if keys, _ := s.Identities.DKIMKeys(ctx, "acme", "plain.example"); len(keys) != 2 || keys[1].State != identity.StateNext || keys[1].Algorithm != dkim.RSA2048 {
		t.Fatalf("the refused change touched the keys: %+v", keys)
	}
	// CreateEmailIdentity and PutEmailIdentityDkimSigningAttributes parse
	// the length alike (one function), each error naming its member.
	_, err = ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("long.example"),
		DkimSigningAttributes: &types.DkimSigningAttributes{NextSigningKeyLength: "RSA_4096_BIT"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" ||
		ae.ErrorMessage() != `DkimSigningAttributes.NextSigningKeyLength must be RSA_1024_BIT or RSA_2048_BIT, not "RSA_4096_BIT".` {
		t.Fatalf("CreateEmailIdentity with an unknown length: %v", err)
	}
	_, err = put("plain.example", "AWS_SES", &types.DkimSigningAttributes{NextSigningKeyLength: "RSA_4096_BIT"})
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" ||
		ae.ErrorMessage() != `SigningAttributes.NextSigningKeyLength must be RSA_1024_BIT or RSA_2048_BIT, not "RSA_4096_BIT".` {
		t.Fatalf("PutEmailIdentityDkimSigningAttributes with an unknown length: %v", err)
	}
}
