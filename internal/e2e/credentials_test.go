package e2e

import (
	"crypto/tls"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/store"
)

// TestKeyRevocation disables the running Petrel's access key the way
// `petrel credentials disable` does (another process on the same database)
// and shows that within a second the AWS SDK's GetAccount fails with
// UnrecognizedClientException and SMTP AUTH with the key's SMTP password
// gets 535; once re-enabled, both work again within a second.
func TestKeyRevocation(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			ctx := t.Context()
			k := *e.d.Credentials
			pass := account.SMTPPassword(k.SecretAccessKey, "us-east-1")

			// apiOK and smtpOK report whether the key is accepted; any failure
			// other than the refusal expected of a revoked key fails the test.
			apiOK := func() bool {
				_, err := e.ses.GetAccount(ctx, &sesv2.GetAccountInput{})
				var ae smithy.APIError
				if err != nil && (!errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException") {
					t.Errorf("GetAccount: %v, want success or UnrecognizedClientException", err)
				}
				return err == nil
			}
			smtpOK := func() bool {
				c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					t.Error(err)
					return false
				}
				defer c.Close()
				err = c.Auth(sasl.NewPlainClient("", k.AccessKeyID, pass))
				var se *smtp.SMTPError
				if err != nil && (!errors.As(err, &se) || se.Code != 535) {
					t.Errorf("AUTH: %v, want success or 535", err)
				}
				if err == nil {
					c.Quit()
				}
				return err == nil
			}
			// Within a second of changed, check must give want: a check that
			// began a second or more after changed and did not fails the test.
			within := func(what string, changed time.Time, want bool, check func() bool) {
				for {
					began := time.Now()
					if check() == want {
						t.Logf("%s after %v", what, began.Sub(changed))
						return
					}
					if began.Sub(changed) >= time.Second {
						t.Errorf("%s: not yet %v after the change (want within 1s)", what, began.Sub(changed))
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// Both paths have used the key, so the daemon has read it.
			if !apiOK() || !smtpOK() {
				t.Fatal("the key is refused before any change")
			}

			admin, err := daemon.Open(ctx, e.cfg) // as petrel credentials does
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if err := admin.Accounts.SetKeyStatus(ctx, daemon.DefaultAccount, k.AccessKeyID, account.Inactive); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			var wg sync.WaitGroup
			wg.Go(func() { within("GetAccount refused", changed, false, apiOK) })
			wg.Go(func() { within("SMTP AUTH refused", changed, false, smtpOK) })
			wg.Wait()
			if t.Failed() {
				return
			}

			if err := admin.Accounts.SetKeyStatus(ctx, daemon.DefaultAccount, k.AccessKeyID, account.Active); err != nil {
				t.Fatal(err)
			}
			changed = time.Now()
			wg.Go(func() { within("GetAccount accepted again", changed, true, apiOK) })
			wg.Go(func() { within("SMTP AUTH accepted again", changed, true, smtpOK) })
			wg.Wait()
		})
	}
}
