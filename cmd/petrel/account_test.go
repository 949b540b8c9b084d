package main

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
)

// TestAccountCommands: petrel account create (sandbox, --production),
// quota, production --grant|--deny, show and list.
func TestAccountCommands(t *testing.T) {
	dir := t.TempDir()
	openServices(t, dir).Close()
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := accountRun(t.Context(), append(args, "--data-dir", dir), &out); err != nil {
			t.Fatalf("account %v: %v", args, err)
		}
		return out.String()
	}
	fails := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if err := accountRun(t.Context(), append(args, "--data-dir", dir), &out); err == nil {
			t.Errorf("account %v succeeded: %s", args, out.String())
		}
	}
	if out := run("create", "sandy"); !strings.Contains(out, "sandbox, quota 200/24h, 1/s") {
		t.Errorf("create: %s", out)
	}
	if out := run("create", "big", "--production", "--production-max-24h-send", "100000"); !strings.Contains(out, "production, quota 100000/24h, 14/s") {
		t.Errorf("create --production: %s", out)
	}
	if out := run("quota", "big", "--max-send-rate", "2.5"); !strings.Contains(out, "quota 100000/24h, 2.5/s") {
		t.Errorf("quota: %s", out)
	}
	fails("quota", "big", "--max-send-rate", "0")
	fails("production", "sandy")
	fails("production", "sandy", "--grant", "--deny")

	svc := openServices(t, dir)
	_, err := svc.Accounts.PutDetails(t.Context(), "sandy", account.DetailsRequest{MailType: "MARKETING", WebsiteURL: "https://sandy.example",
		AdditionalContactEmailAddresses: []string{"ops@sandy.example"}, ProductionAccessEnabled: true})
	svc.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := run("show", "sandy")
	for _, want := range []string{"access:             sandbox", "quota:              200/24h, 1/s", "sent last 24 h:     0 of 200 recipients",
		"sending:            enabled", "mail type:          MARKETING", "website:            https://sandy.example",
		"contacts:           ops@sandy.example", "production review:  PENDING (case "} {
		if !strings.Contains(out, want) {
			t.Errorf("show: no %q in\n%s", want, out)
		}
	}
	if out := run("production", "sandy", "--grant"); !strings.Contains(out, "production access granted") || !strings.Contains(out, "production, quota 50000/24h, 14/s") {
		t.Errorf("production --grant: %s", out)
	}
	if out := run("show", "sandy"); !strings.Contains(out, "production review:  GRANTED") || !strings.Contains(out, "decided ") {
		t.Errorf("show after the grant:\n%s", out)
	}
	out = run("list")
	for _, want := range []string{"big    ", "production  100000/24h, 2.5/s  enabled", "sandy  ", "production  50000/24h, 14/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: no %q in\n%s", want, out)
		}
	}
}

// TestAccountShowUnlimited: petrel account show gives an unlimited
// account's recipients of the last 24 hours as GetAccount does, from the
// statistics counters (package quota keeps no usage for it), the simulator
// recipient left out; it printed 0 before.
func TestAccountShowUnlimited(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	ctx := t.Context()
	if _, err := svc.Accounts.CreateWith(ctx, "free", account.CreateOptions{Unlimited: true}); err != nil {
		t.Fatal(err)
	}
	err := svc.DB.Tx(ctx, func(tx *sql.Tx) error {
		return svc.Events.AddTx(tx, "m1", "free", "", time.Now(), event.SendDetail{Identity: "free.example", Recipients: []event.SendRecipient{
			{Address: "a@gmail.com"}, {Address: "b@example.com"}, {Address: "success@simulator.amazonses.com", Excluded: event.ExcludedSimulator}}})
	})
	svc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := accountRun(ctx, []string{"show", "free", "--data-dir", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sent last 24 h:  2 recipients") {
		t.Errorf("show of an unlimited account that sent 2 counted recipients:\n%s", out.String())
	}
}
