package daemon

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/sns"
)

// TestEmailGate: the email a tenant has Petrel send through SNS follows the
// accept path's rules: in the sandbox only to verified identities and the
// mailbox simulator; nothing while the account's sending is paused, by the
// tenant or by reputation enforcement.
func TestEmailGate(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	svc, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := t.Context()
	if _, err := svc.Accounts.Create(ctx, "sandy"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accounts.CreateWith(ctx, "prod", account.CreateOptions{Production: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "sandy", "sandy.example", true); err != nil {
		t.Fatal(err)
	}
	g := emailGate{svc: svc}
	for _, c := range []struct {
		account, rcpt string
		want          error
	}{
		{"sandy", "ops@sandy.example", nil},
		{"sandy", "success@simulator.amazonses.com", nil},
		{"sandy", "someone@elsewhere.example", sns.ErrEmailUnverified},
		{"prod", "someone@elsewhere.example", nil},
	} {
		if err := g.MayEmail(ctx, c.account, c.rcpt); !errors.Is(err, c.want) || c.want == nil && err != nil {
			t.Errorf("%s → %s: %v, want %v", c.account, c.rcpt, err, c.want)
		}
	}
	if err := svc.Accounts.SetSendingEnabled(ctx, "prod", false); err != nil {
		t.Fatal(err)
	}
	if err := g.MayEmail(ctx, "prod", "someone@elsewhere.example"); !errors.Is(err, sns.ErrEmailPaused) {
		t.Errorf("tenant-paused: %v, want ErrEmailPaused", err)
	}
	if err := svc.Accounts.SetSendingEnabled(ctx, "prod", true); err != nil {
		t.Fatal(err)
	}
	// 1,000 counted sends, 150 hard bounces: paused at evaluation.
	d := event.SendDetail{}
	for i := range 1000 {
		d.Recipients = append(d.Recipients, event.SendRecipient{Address: fmt.Sprintf("r%d@example.net", i)})
	}
	now := time.Now()
	if err := svc.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := svc.Events.AddTx(tx, "m-1", "prod", "", now, d); err != nil {
			return err
		}
		for _, r := range d.Recipients[:150] {
			if err := svc.Events.AddTx(tx, "m-1", "prod", r.Address, now, event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: "General"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reputation.Evaluate(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := g.MayEmail(ctx, "prod", "someone@elsewhere.example"); !errors.Is(err, sns.ErrEmailPaused) {
		t.Errorf("paused by enforcement: %v, want ErrEmailPaused", err)
	}
}
