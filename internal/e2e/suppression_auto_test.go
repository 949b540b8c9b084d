package e2e

import (
	"crypto/tls"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestAutomaticSuppression: a 550 5.1.1 at the MX puts the address on the
// account list (with the message's ID) and the global list; the next send
// to it succeeds but opens no connection for it — its Bounce is
// Permanent/OnAccountSuppressionList — while the message's other recipient
// is delivered. With the account list disabled the global list applies
// (Permanent/Suppressed); with it in use but without the address, a
// globally listed address is delivered. A message whose every recipient is
// suppressed is still accepted, over the API and over SMTP.
func TestAutomaticSuppression(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("dest.test", "127.0.0.3", 10)
			var exists atomic.Bool // whether gone@ has a mailbox
			mx.Rcpt = func(rcpt string, attempt int) error {
				if strings.HasPrefix(rcpt, "gone@") && !exists.Load() {
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				}
				return nil
			}
			list := suppression.New(e.d.Services().DB, nil)
			addr := func(s string) address.Address {
				a, err := address.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			send := func(to ...string) (string, []event.Event) {
				t.Helper()
				out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", to...))
				if err != nil {
					t.Fatal(err)
				}
				return *out.MessageId, e.events(*out.MessageId, 10*time.Second, finalCount(len(to)))
			}
			bounceOf := func(evs []event.Event, rcpt string) event.BounceDetail {
				t.Helper()
				ev := find(evs, event.Bounce, rcpt)
				if ev == nil {
					t.Fatalf("no Bounce for %s in %v", rcpt, kinds(evs))
				}
				return detail[event.BounceDetail](t, *ev)
			}

			// 1. The hard bounce lists the address.
			id, evs := send("gone@dest.test", "ok@dest.test")
			if b := bounceOf(evs, "gone@dest.test"); b.BounceType != bounce.Permanent {
				t.Fatalf("first bounce %+v", b)
			}
			entry, err := list.Get(t.Context(), "default", addr("gone@dest.test"))
			if err != nil || entry.Reason != suppression.Bounce || entry.MessageID != id || entry.FeedbackID == "" {
				t.Fatalf("account entry %+v, %v", entry, err)
			}
			if _, err := list.GlobalGet(t.Context(), addr("gone@dest.test")); err != nil {
				t.Fatalf("global entry: %v", err)
			}

			// 2. The next send: no connection for it, the other delivered.
			conns, rcpts := mx.Connections(), mx.Attempts("gone@dest.test")
			_, evs = send("gone@dest.test", "ok2@dest.test")
			b := bounceOf(evs, "gone@dest.test")
			r := b.BouncedRecipients
			if b.BounceType != bounce.Permanent || b.BounceSubType != bounce.OnAccountSuppressionList || len(r) != 1 ||
				r[0].Action != "failed" || r[0].Status != "5.1.1" || r[0].DiagnosticCode != suppression.AccountListDiagnostic {
				t.Fatalf("suppressed bounce %+v", b)
			}
			if find(evs, event.Delivery, "ok2@dest.test") == nil || evs[0].Kind != event.Send || evs[1].Kind != event.Bounce {
				t.Fatalf("events %v, want Send, the suppressed recipient's Bounce, then the Delivery", kinds(evs))
			}
			if n := mx.Attempts("gone@dest.test"); n != rcpts {
				t.Fatalf("RCPTs for the suppressed address: %d, want %d", n, rcpts)
			}
			if n := mx.Connections(); n > conns+1 {
				t.Fatalf("%d new connections for one delivered recipient", n-conns)
			}

			// 3. Every recipient suppressed: still accepted, no connection.
			conns = mx.Connections()
			_, evs = send("gone@dest.test")
			if b := bounceOf(evs, "gone@dest.test"); b.BounceSubType != bounce.OnAccountSuppressionList {
				t.Fatalf("bounce %+v", b)
			}
			k := e.d.Credentials
			c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, "us-east-1"))); err != nil {
				t.Fatal(err)
			}
			if err := c.Mail("sender@example.com", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("gone@dest.test", nil); err != nil {
				t.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("From: sender@example.com\r\nTo: gone@dest.test\r\nSubject: x\r\n\r\nx\r\n"))
			resp, err := w.CloseWithResponse()
			if err != nil || !strings.HasPrefix(resp.StatusText, "Ok ") {
				t.Fatalf("SMTP to a suppressed recipient: %+v, %v; want 250", resp, err)
			}
			smtpID, _ := strings.CutPrefix(resp.StatusText, "Ok ")
			evs = e.events(smtpID, 10*time.Second, finalCount(1))
			if b := bounceOf(evs, "gone@dest.test"); b.BounceSubType != bounce.OnAccountSuppressionList {
				t.Fatalf("SMTP bounce %+v", b)
			}
			if mx.Connections() != conns {
				t.Fatal("a connection was opened for suppressed recipients only")
			}

			// 4. The account list disabled: the global list applies.
			if err := list.SetAttributes(t.Context(), "default", suppression.Policy{}); err != nil {
				t.Fatal(err)
			}
			_, evs = send("gone@dest.test")
			if b := bounceOf(evs, "gone@dest.test"); b.BounceSubType != bounce.Suppressed || b.BouncedRecipients[0].DiagnosticCode != suppression.GlobalListDiagnostic {
				t.Fatalf("global bounce %+v", b)
			}
			if mx.Attempts("gone@dest.test") != rcpts {
				t.Fatal("the globally listed address was tried")
			}

			// 5. The account list in use without the address: the global
			// listing is overridden and the address is delivered.
			if err := list.SetAttributes(t.Context(), "default", suppression.DefaultPolicy()); err != nil {
				t.Fatal(err)
			}
			if err := list.Delete(t.Context(), "default", addr("gone@dest.test")); err != nil {
				t.Fatal(err)
			}
			mxDelivered := func() bool {
				for _, m := range mx.Messages() {
					for _, to := range m.To {
						if to == "gone@dest.test" {
							return true
						}
					}
				}
				return false
			}
			exists.Store(true)
			_, evs = send("gone@dest.test")
			if find(evs, event.Delivery, "gone@dest.test") == nil || !mxDelivered() {
				t.Fatalf("globally listed address not delivered: %v", kinds(evs))
			}
			if _, err := list.GlobalGet(t.Context(), addr("gone@dest.test")); err != nil {
				t.Fatalf("still globally listed: %v", err)
			}
		})
	}
}

// TestSimulatorNeverSuppresses: the mailbox simulator's bounce@ and
// complaint@ add nothing to either list, and the next send to them has its
// simulated outcome again.
func TestSimulatorNeverSuppresses(t *testing.T) {
	e := start(t, "sqlite", nil)
	list := suppression.New(e.d.Services().DB, nil)
	for _, to := range []string{"bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"} {
		for range 2 {
			out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", to))
			if err != nil {
				t.Fatal(err)
			}
			evs := e.events(*out.MessageId, 5*time.Second, func(evs []event.Event) bool {
				return find(evs, event.Bounce, "") != nil || find(evs, event.Complaint, "") != nil
			})
			if b := find(evs, event.Bounce, ""); b != nil {
				if d := detail[event.BounceDetail](t, *b); d.BounceSubType != bounce.General {
					t.Fatalf("%s: bounce %+v", to, d)
				}
			}
		}
		a, _ := address.Parse(to)
		if _, err := list.Get(t.Context(), "default", a); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("%s on the account list: %v", to, err)
		}
		if _, err := list.GlobalGet(t.Context(), a); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("%s on the global list: %v", to, err)
		}
	}
}
