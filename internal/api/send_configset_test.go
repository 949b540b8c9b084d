package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSendWithConfigurationSet: SendEmail's ConfigurationSetName (or, for
// Raw content without it, the X-SES-CONFIGURATION-SET header field) is
// resolved among the sending account's sets, on both stores. A set the
// account does not have — none of that name, or another account's — is
// NotFoundException; a paused set is SendingPausedException; in both cases
// nothing is stored. A set that exists is the ses:configuration-set tag,
// and its MaxDeliverySeconds and TlsPolicy REQUIRE are on every queue
// entry (the deployment's one-hour deadline when it sets none).
func TestSendWithConfigurationSet(t *testing.T) {
	raw := func(header string) *types.EmailContent {
		return &types.EmailContent{Raw: &types.RawMessage{Data: []byte("From: news@alpha.example\r\nTo: a@far.test\r\nSubject: s\r\n" +
			header + "\r\nbody\r\n")}}
	}
	simple := &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
		Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}
	cases := []struct {
		name    string
		tenant  string
		set     string // ConfigurationSetName; "" for none
		content *types.EmailContent
		code    string // the error code; "" for accepted
		message string
		// accepted: the set on the queue entries, their deadline after
		// acceptance, and whether they require TLS
		stored   string
		deadline time.Duration
		tls      bool
	}{
		{name: "unknown", tenant: "alpha", set: "nope", content: simple, code: "NotFoundException", message: "Configuration set nope does not exist."},
		{name: "paused", tenant: "alpha", set: "paused", content: simple, code: "SendingPausedException",
			message: "Sending is currently paused for configuration set paused."},
		{name: "other account's", tenant: "beta", set: "secure", content: simple, code: "NotFoundException",
			message: "Configuration set secure does not exist."},
		{name: "REQUIRE and MaxDeliverySeconds", tenant: "alpha", set: "secure", content: simple, stored: "secure", deadline: 600 * time.Second, tls: true},
		{name: "defaults", tenant: "alpha", set: "plain", content: simple, stored: "plain", deadline: time.Hour},
		{name: "none", tenant: "alpha", content: simple, deadline: time.Hour},
		{name: "header", tenant: "alpha", content: raw("X-SES-CONFIGURATION-SET: secure\r\n"), stored: "secure", deadline: 600 * time.Second, tls: true},
		{name: "header unknown", tenant: "alpha", content: raw("X-SES-CONFIGURATION-SET: nope\r\n"), code: "NotFoundException",
			message: "Configuration set nope does not exist."},
		{name: "name over header", tenant: "alpha", set: "plain", content: raw("X-SES-CONFIGURATION-SET: nope\r\n"), stored: "plain", deadline: time.Hour},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "alpha", "beta")
			for _, c := range []configset.ConfigurationSet{
				{Account: "alpha", Name: "secure", SendingEnabled: true, Delivery: configset.DeliveryOptions{TlsPolicy: configset.TLSRequire, MaxDeliverySeconds: 600}},
				{Account: "alpha", Name: "plain", SendingEnabled: true},
				{Account: "alpha", Name: "paused", SendingEnabled: false},
			} {
				if err := s.ConfigSets.Create(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := countRows(t, db, "messages")
					in := &sesv2.SendEmailInput{Destination: &types.Destination{ToAddresses: []string{"a@far.test"}}, Content: c.content}
					if c.content.Simple != nil {
						in.FromEmailAddress = aws.String("news@" + c.tenant + ".example")
					}
					if c.set != "" {
						in.ConfigurationSetName = aws.String(c.set)
					}
					out, err := sesClient(srv.URL, tenants[c.tenant], 1).SendEmail(t.Context(), in)
					if c.code != "" {
						var ae smithy.APIError
						if !errors.As(err, &ae) || ae.ErrorCode() != c.code || ae.ErrorMessage() != c.message {
							t.Fatalf("SendEmail: %v, want %s %q", err, c.code, c.message)
						}
						if n := countRows(t, db, "messages"); n != before {
							t.Errorf("%d messages stored after a refusal, want %d", n, before)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					checkStored(t, s, db, *out.MessageId, c.stored, c.deadline, c.tls)
				})
			}
		})
	}
}

func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkStored checks message id's queue entries (configuration set,
// deadline after acceptance, TLS requirement) and its
// ses:configuration-set tag (absent when set is "").
func checkStored(t *testing.T, s *Server, db *store.DB, id, set string, deadline time.Duration, tls bool) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), db.Rebind("SELECT configuration_set, tls_required, deadline_ms - created_ms FROM queue WHERE message_id = ?"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var gotSet string
		var gotTLS, ms int64
		if err := rows.Scan(&gotSet, &gotTLS, &ms); err != nil {
			t.Fatal(err)
		}
		if gotSet != set || (gotTLS != 0) != tls || time.Duration(ms)*time.Millisecond != deadline {
			t.Errorf("queue entry: set %q, tls_required %d, deadline after %v; want %q, %v, %v", gotSet, gotTLS, time.Duration(ms)*time.Millisecond, set, tls, deadline)
		}
	}
	if rows.Err() != nil || n == 0 {
		t.Fatalf("queue entries of %s: %d, %v", id, n, rows.Err())
	}
	_, obj, err := s.Spool.Mail(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var mail event.Mail
	if err := json.Unmarshal(obj, &mail); err != nil {
		t.Fatal(err)
	}
	got, want := fmt.Sprint(mail.Tags["ses:configuration-set"]), "[]"
	if set != "" {
		want = "[" + set + "]"
	}
	if got != want {
		t.Errorf("tag ses:configuration-set %s, want %s", got, want)
	}
}
