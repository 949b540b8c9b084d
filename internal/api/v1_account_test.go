package api

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

// TestV1AccountActions: GetSendQuota (unlimited -1, a limited account's
// quota and recipients of the last 24 hours, doubles in plain decimal),
// GetSendStatistics (a send to the simulator and its outcomes as one
// 15-minute point: hard bounces only in Bounces; none for another
// account, an empty list without counters), GetAccountSendingEnabled and
// UpdateAccountSendingEnabled (pausing refuses a send; absent Enabled is
// false) through aws-sdk-go-v2 service/ses on both stores.
func TestV1AccountActions(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			acme, other := v1Client(srv.URL, tenants["acme"]), v1Client(srv.URL, tenants["other"])
			acme2 := sesClient(srv.URL, tenants["acme"], 1)
			send := func(c *sesv2.Client, from string, to ...string) (string, error) {
				out, err := c.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String(from),
					Destination: &sesv2types.Destination{ToAddresses: to},
					Content: &sesv2types.EmailContent{Simple: &sesv2types.Message{Subject: &sesv2types.Content{Data: aws.String("s")},
						Body: &sesv2types.Body{Text: &sesv2types.Content{Data: aws.String("b")}}}}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.MessageId), nil
			}

			// GetSendQuota.
			q, err := acme.GetSendQuota(ctx, &ses.GetSendQuotaInput{})
			if err != nil || q.Max24HourSend != -1 || q.MaxSendRate != -1 || q.SentLast24Hours != 0 {
				t.Errorf("unlimited GetSendQuota = %+v, %v", q, err)
			}
			sandy := v1TplSandbox(t, s, "sandy")
			if err := s.Accounts.SetQuota(ctx, "sandy", account.Quota{Max24HourSend: 1000000, MaxSendRate: 2.5}); err != nil {
				t.Fatal(err)
			}
			if _, err := send(sesClient(srv.URL, sandy, 1), "me@sandy.example", "you@sandy.example", "them@sandy.example"); err != nil {
				t.Fatal(err)
			}
			q, err = v1Client(srv.URL, sandy).GetSendQuota(ctx, &ses.GetSendQuotaInput{})
			if err != nil || q.Max24HourSend != 1000000 || q.MaxSendRate != 2.5 || q.SentLast24Hours != 2 {
				t.Errorf("limited GetSendQuota = %+v, %v", q, err)
			}
			status, body := v1Post(t, srv, sandy, "ses", url.Values{"Action": {"GetSendQuota"}, "Version": {V1Version}})
			if status != 200 || !strings.Contains(string(body), "<GetSendQuotaResult><Max24HourSend>1000000</Max24HourSend><MaxSendRate>2.5</MaxSendRate><SentLast24Hours>2</SentLast24Hours></GetSendQuotaResult>") {
				t.Errorf("GetSendQuota XML: %d %s", status, body)
			}

			// GetSendStatistics: three simulator recipients; a hard bounce,
			// a soft one (not counted), a complaint, a reject.
			before := time.Now().UTC().Truncate(stats.Bucket)
			id, err := send(acme2, "news@acme.example", "success@simulator.amazonses.com", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, e := range []struct {
				rcpt string
				d    event.Detail
			}{
				{"bounce@simulator.amazonses.com", event.BounceDetail{BounceType: "Permanent", BounceSubType: "General"}},
				{"success@simulator.amazonses.com", event.BounceDetail{BounceType: "Transient", BounceSubType: "General"}},
				{"complaint@simulator.amazonses.com", event.ComplaintDetail{}},
				{"", event.RejectDetail{Reason: "Bad content"}},
			} {
				if err := db.Tx(ctx, func(tx *sql.Tx) error { return s.Events.AddTx(tx, id, "acme", e.rcpt, now, e.d) }); err != nil {
					t.Fatal(err)
				}
			}
			st, err := acme.GetSendStatistics(ctx, &ses.GetSendStatisticsInput{})
			if err != nil {
				t.Fatal(err)
			}
			var sum [4]int64
			for _, p := range st.SendDataPoints {
				if p.Timestamp == nil || p.Timestamp.Before(before) || p.Timestamp.After(now) || !p.Timestamp.Equal(p.Timestamp.Truncate(stats.Bucket)) {
					t.Errorf("point at %v, want a 15-minute bucket from %v", p.Timestamp, before)
				}
				sum[0] += p.DeliveryAttempts
				sum[1] += p.Bounces
				sum[2] += p.Complaints
				sum[3] += p.Rejects
			}
			if len(st.SendDataPoints) == 0 || sum != [4]int64{3, 1, 1, 1} {
				t.Errorf("GetSendStatistics = %d points, attempts/bounces/complaints/rejects %v; want 3 1 1 1", len(st.SendDataPoints), sum)
			}
			if st, err := other.GetSendStatistics(ctx, &ses.GetSendStatisticsInput{}); err != nil || len(st.SendDataPoints) != 0 {
				t.Errorf("another account's GetSendStatistics = %+v, %v", st, err)
			}
			counters := s.Stats
			s.Stats = nil
			status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetSendStatistics"}, "Version": {V1Version}})
			s.Stats = counters
			if status != 200 || !strings.Contains(string(body), "<GetSendStatisticsResult><SendDataPoints></SendDataPoints></GetSendStatisticsResult>") {
				t.Errorf("GetSendStatistics without counters: %d %s", status, body)
			}

			// GetAccountSendingEnabled, UpdateAccountSendingEnabled.
			enabled := func() bool {
				t.Helper()
				out, err := acme.GetAccountSendingEnabled(ctx, &ses.GetAccountSendingEnabledInput{})
				if err != nil {
					t.Fatal(err)
				}
				return out.Enabled
			}
			if !enabled() {
				t.Error("a new account's sending is not enabled")
			}
			// Enabled false is not sent by the SDK: absent is false.
			if _, err := acme.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: false}); err != nil {
				t.Fatal(err)
			}
			if enabled() {
				t.Error("still enabled after UpdateAccountSendingEnabled(false)")
			}
			if _, err := send(acme2, "news@acme.example", "success@simulator.amazonses.com"); errCode(err) != "SendingPausedException" {
				t.Errorf("send while paused: %v", err)
			}
			if a, err := acme2.GetAccount(ctx, &sesv2.GetAccountInput{}); err != nil || a.SendingEnabled {
				t.Errorf("v2 GetAccount while paused: %+v, %v", a, err)
			}
			if _, err := acme.UpdateAccountSendingEnabled(ctx, &ses.UpdateAccountSendingEnabledInput{Enabled: true}); err != nil {
				t.Fatal(err)
			}
			if !enabled() {
				t.Error("not enabled after UpdateAccountSendingEnabled(true)")
			}
			if _, err := send(acme2, "news@acme.example", "success@simulator.amazonses.com"); err != nil {
				t.Errorf("send after resuming: %v", err)
			}
			status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"UpdateAccountSendingEnabled"}, "Enabled": {"maybe"}})
			if e := parseV1Error(t, body); status != 400 || e.Error.Code != "InvalidParameterValue" {
				t.Errorf("Enabled=maybe: %d %s", status, body)
			}
			if !enabled() {
				t.Error("a refused UpdateAccountSendingEnabled changed the switch")
			}
			status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"UpdateAccountSendingEnabled"}, "Enabled": {"true"}})
			if status != 200 || strings.Contains(string(body), "Result") || !strings.Contains(string(body), "<RequestId>") {
				t.Errorf("UpdateAccountSendingEnabled XML: %d %s", status, body)
			}
		})
	}
}
