package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/event"
)

// TestInternationalizedAddresses: SendEmail (the official SESv2 client)
// takes UTF-8 local parts (RFC 6531) and U-label domains, which SES
// refuses; recipients are queued and reported with A-label domains, the
// local part as given. Invalid IDNs and control characters in a local part
// are BadRequestException naming the field and the reason. A domain
// identity created with U-labels is its A-label identity.
func TestInternationalizedAddresses(t *testing.T) {
	srv, s, tenants, db := startAPI(t, 256<<20, "acme")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	ctx := t.Context()

	for _, name := range []string{"Bücher.example", "用户@例え.jp"} {
		if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)}); err != nil {
			t.Fatalf("CreateEmailIdentity(%s): %v", name, err)
		}
	}
	_, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("xn--bcher-kva.example")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AlreadyExistsException" {
		t.Fatalf("CreateEmailIdentity of the A-label after the U-label: %v, want AlreadyExistsException", err)
	}
	for name, kind := range map[string]types.IdentityType{"xn--bcher-kva.example": types.IdentityTypeDomain,
		"bücher.example": types.IdentityTypeDomain, "用户@xn--r8jz45g.jp": types.IdentityTypeEmailAddress} {
		id, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
		if err != nil || id.IdentityType != kind {
			t.Fatalf("GetEmailIdentity(%s) = %+v, %v; want %s", name, id, err, kind)
		}
	}
	_, err = ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("xn--zz.example")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), `idna: invalid label "zz"`) {
		t.Fatalf("CreateEmailIdentity(xn--zz.example): %v, want BadRequestException with the reason", err)
	}

	body := &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
		Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}
	out, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("Jörg <jörg@acme.example>"),
		Destination: &types.Destination{ToAddresses: []string{"用户@例え.jp", "\"用 户\"@Bücher.example"}}, Content: body})
	if err != nil {
		t.Fatalf("SendEmail to UTF-8 addresses: %v", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT rcpt, domain FROM queue WHERE message_id = ? ORDER BY id", *out.MessageId)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var queued []string
	for rows.Next() {
		var rcpt, domain string
		if err := rows.Scan(&rcpt, &domain); err != nil {
			t.Fatal(err)
		}
		queued = append(queued, rcpt+" "+domain)
	}
	want := []string{"用户@xn--r8jz45g.jp xn--r8jz45g.jp", `"用 户"@xn--bcher-kva.example xn--bcher-kva.example`}
	if rows.Err() != nil || fmt.Sprint(queued) != fmt.Sprint(want) {
		t.Fatalf("queued %q, %v; want %q", queued, rows.Err(), want)
	}
	evs, err := s.Events.List(ctx, event.Filter{MessageID: *out.MessageId, Kind: event.Send})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Send events: %v, %v", evs, err)
	}
	_, obj, err := s.Spool.Mail(ctx, *out.MessageId) // the "mail" object of its events
	if err != nil {
		t.Fatal(err)
	}
	var mail event.Mail
	if err := json.Unmarshal(obj, &mail); err != nil {
		t.Fatal(err)
	}
	if want := []string{"用户@xn--r8jz45g.jp", `"用 户"@xn--bcher-kva.example`}; fmt.Sprint(mail.Destination) != fmt.Sprint(want) {
		t.Errorf("mail.destination = %q, want %q", mail.Destination, want)
	}

	for _, c := range []struct{ to, reason string }{
		{"a@xn--zz.example", `idna: invalid label "zz"`},
		{"a@a_b.example", "disallowed rune U+005F"},
		{"\"a\u0085\"@dest.test", "control character"},
	} {
		_, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("a@acme.example"),
			Destination: &types.Destination{ToAddresses: []string{c.to}}, Content: body})
		if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" ||
			!strings.Contains(ae.ErrorMessage(), "Destination.ToAddresses[0]") || !strings.Contains(ae.ErrorMessage(), c.reason) {
			t.Errorf("SendEmail to %q: %v, want BadRequestException saying %q", c.to, err, c.reason)
		}
	}
}
