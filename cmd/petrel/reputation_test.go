package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
)

// TestAccountReputationCmd: petrel account reputation shows a paused
// account's figures; petrel account resume lifts the pause.
func TestAccountReputationCmd(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	ctx := t.Context()
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := event.SendDetail{}
	for i := range 1000 {
		d.Recipients = append(d.Recipients, event.SendRecipient{Address: fmt.Sprintf("r%d@example.net", i)})
	}
	if err := svc.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := svc.Events.AddTx(tx, "m-1", "acme", "", now, d); err != nil {
			return err
		}
		for _, r := range d.Recipients[:150] {
			if err := svc.Events.AddTx(tx, "m-1", "acme", r.Address, now, event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: "General"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reputation.Evaluate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	svc.Close()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := accountReputationCmd(ctx, append(args, "--data-dir", dir), &out)
		return out.String(), err
	}
	cases := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{[]string{"reputation", "acme"}, []string{"(account)  SHUTDOWN  15% (150/1000)  0% (0/1000)", "thresholds: bounce review 5%, pause 10%; complaint review 0.1%, pause 0.5%",
			"evaluation  HEALTHY -> SHUTDOWN, bounce 15% (150/1000)"}, ""},
		{[]string{"resume", "acme", "--configuration-set", "nope"}, nil, "account acme has no configuration set nope"},
		{[]string{"resume", "acme"}, []string{"account acme: SHUTDOWN -> HEALTHY; fresh start now"}, ""},
		{[]string{"reputation", "acme", "--history", "1"}, []string{"(account)  HEALTHY", "resume  SHUTDOWN -> HEALTHY"}, ""},
		{[]string{"resume", "acme"}, []string{"HEALTHY -> HEALTHY", "(it was not paused)"}, ""},
		{[]string{"reputation", "nobody"}, nil, "account nobody"},
		{[]string{"reputation"}, nil, "usage"},
	}
	for _, c := range cases {
		out, err := run(c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
}
