package main

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/spool"
)

// TestEventPage: petrel events prints each event as SES publishes it,
// with its message's "mail" object, which spool keeps (the event log
// stores only the per-type object); an event whose message record is gone
// gets an empty one.
func TestEventPage(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	svc, err := daemon.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	now := time.Now()
	err = svc.DB.Tx(t.Context(), func(tx *sql.Tx) error {
		if err := svc.Spool.PutTx(tx, &spool.Message{ID: "m1", Account: "acme", Created: now, MailFrom: "s@example.com",
			Mail: json.RawMessage(`{"messageId":"m1"}`), Body: []byte("b")}); err != nil {
			return err
		}
		for _, e := range []struct {
			id, rcpt string
			d        event.Detail
		}{
			{"m1", "", event.SendDetail{}},
			{"gone", "r@far.test", event.DeliveryDetail{SMTPResponse: "250 Ok"}},
			{"m1", "r@far.test", event.DeliveryDetail{SMTPResponse: "250 Ok"}},
		} {
			if err := svc.Events.AddTx(tx, e.id, "acme", e.rcpt, now, e.d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := eventPage(t.Context(), svc, event.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"eventType":"Send","mail":{"messageId":"m1"},"send":{}}`,
		`{"eventType":"Delivery","mail":{},"delivery":{"timestamp":"","processingTimeMillis":0,"recipients":null,"smtpResponse":"250 Ok","reportingMTA":""}}`,
		`{"eventType":"Delivery","mail":{"messageId":"m1"},"delivery":{"timestamp":"","processingTimeMillis":0,"recipients":null,"smtpResponse":"250 Ok","reportingMTA":""}}`,
	}
	if len(list) != len(want) {
		t.Fatalf("%d events, want %d", len(list), len(want))
	}
	for i, e := range list {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, b, want[i])
		}
	}
}

// TestCommandUsage: "petrel identity --help" prints the identity lines of
// the usage (with their continuations), not the data-directory error it
// used to give.
func TestCommandUsage(t *testing.T) {
	got := commandUsage("identity")
	for _, want := range []string{"identity add NAME", "identity dkim DOMAIN", "publish; generate a new key"} {
		if !strings.Contains(got, want) {
			t.Errorf("identity usage lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "account create") || strings.Contains(got, "print events") {
		t.Errorf("identity usage holds other commands:\n%s", got)
	}
	if commandUsage("nope") != usage {
		t.Error("an unknown command does not get the whole usage")
	}
}
