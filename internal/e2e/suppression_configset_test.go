package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestConfigurationSetSuppressionOverride: a configuration set's
// suppression options override the account's, at acceptance and when its
// outcomes come back (SES §6.1: configuration set > account > global).
// With suppression disabled for the set, a hard bounce adds nothing to the
// account list (the global list still takes it) and the set's next send is
// stopped by the global list only; a set that suppresses BOUNCE only
// delivers to an address the account list holds for COMPLAINT, which the
// same send without the set does not.
func TestConfigurationSetSuppressionOverride(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			e := start(t, backend, nil)
			mx := e.mx("dest.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				if strings.HasPrefix(rcpt, "gone@") {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				}
				return nil
			}
			for name, reasons := range map[string][]types.SuppressionListReason{
				"no-suppression": {}, "bounce-only": {types.SuppressionListReasonBounce}} {
				if _, err := e.ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(name),
					SuppressionOptions: &types.SuppressionOptions{SuppressedReasons: reasons}}); err != nil {
					t.Fatal(err)
				}
			}
			list := suppression.New(e.d.Services().DB, nil)
			addr := func(s string) address.Address {
				a, err := address.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			send := func(set string, to string) []event.Event {
				t.Helper()
				in := simple("sender@example.com", to)
				if set != "" {
					in.ConfigurationSetName = aws.String(set)
				}
				out, err := e.ses.SendEmail(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				return e.events(*out.MessageId, 10*time.Second, finalCount(1))
			}
			bounceOf := func(evs []event.Event, rcpt string) event.BounceDetail {
				t.Helper()
				ev := find(evs, event.Bounce, rcpt)
				if ev == nil {
					t.Fatalf("no Bounce for %s in %v", rcpt, kinds(evs))
				}
				return detail[event.BounceDetail](t, *ev)
			}

			// Suppression disabled for the set: the hard bounce lists the
			// address globally only.
			if b := bounceOf(send("no-suppression", "gone@dest.test"), "gone@dest.test"); b.BounceType != bounce.Permanent ||
				b.BounceSubType == bounce.OnAccountSuppressionList {
				t.Fatalf("first bounce %+v", b)
			}
			if _, err := list.Get(ctx, "default", addr("gone@dest.test")); err == nil {
				t.Fatal("a set with suppression disabled added to the account list")
			}
			if _, err := list.GlobalGet(ctx, addr("gone@dest.test")); err != nil {
				t.Fatalf("global entry: %v", err)
			}
			// The set's next send: its account list is not in use, so the
			// global list stops it, with no RCPT.
			tries := mx.Attempts("gone@dest.test")
			if b := bounceOf(send("no-suppression", "gone@dest.test"), "gone@dest.test"); b.BounceSubType != bounce.Suppressed {
				t.Fatalf("second send through the set: %+v, want Permanent/Suppressed", b)
			}
			if mx.Attempts("gone@dest.test") != tries {
				t.Fatal("the globally listed address was tried")
			}
			// Without the set the account list is in use and does not hold
			// it: it is tried (and, bouncing again, now listed).
			if b := bounceOf(send("", "gone@dest.test"), "gone@dest.test"); b.BounceSubType == bounce.Suppressed ||
				mx.Attempts("gone@dest.test") != tries+1 {
				t.Fatalf("send without the set: %+v, %d RCPTs; want it tried", b, mx.Attempts("gone@dest.test")-tries)
			}
			if e, err := list.Get(ctx, "default", addr("gone@dest.test")); err != nil || e.Reason != suppression.Bounce {
				t.Fatalf("account entry after the set-less bounce: %+v, %v", e, err)
			}

			// A set suppressing BOUNCE only is not stopped by a COMPLAINT entry.
			if _, err := e.ses.PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{
				EmailAddress: aws.String("complained@dest.test"), Reason: types.SuppressionListReasonComplaint}); err != nil {
				t.Fatal(err)
			}
			if evs := send("bounce-only", "complained@dest.test"); find(evs, event.Delivery, "complained@dest.test") == nil {
				t.Fatalf("bounce-only set: %v, want a Delivery", kinds(evs))
			}
			if b := bounceOf(send("", "complained@dest.test"), "complained@dest.test"); b.BounceSubType != bounce.OnAccountSuppressionList {
				t.Fatalf("without the set: %+v, want OnAccountSuppressionList", b)
			}
		})
	}
}
