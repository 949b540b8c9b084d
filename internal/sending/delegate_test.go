package sending_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// TestDelegatedSenders: which ARN covers which sender address of a raw
// message (X-SES-SOURCE-ARN, X-SES-FROM-ARN, X-SES-RETURN-PATH-ARN and
// the API's ARNs), that an ARN standing in for a missing one leaves the
// delegate's own addresses to its own identities, that the owner's
// sandbox and the delegate's quota apply, and the mail object.
func TestDelegatedSenders(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testDelegatedSenders(t, backend) })
	}
}

func testDelegatedSenders(t *testing.T, backend string) {
	db := store.OpenTest(t, backend)
	ctx := context.Background()
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, accts)
	mk := func(name, domain string, opts account.CreateOptions) account.Account {
		a, err := accts.CreateWith(ctx, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ids.Create(ctx, name, domain, true); err != nil {
			t.Fatal(err)
		}
		return a
	}
	owner := mk("owner", "owner.example", account.CreateOptions{Unlimited: true})
	sandboxed := mk("sandboxed", "sandboxed.example", account.CreateOptions{})
	me := mk("delegate", "delegate.test", account.CreateOptions{Unlimited: true})
	arnOf := func(a account.Account, name string) string {
		return "arn:aws:ses:us-east-1:" + a.SendingAccountID + ":identity/" + name
	}
	ownerARN, sandboxedARN := arnOf(owner, "owner.example"), arnOf(sandboxed, "sandboxed.example")
	for _, o := range []struct{ acct, name, arn string }{{"owner", "owner.example", ownerARN}, {"sandboxed", "sandboxed.example", sandboxedARN}} {
		p, err := identity.ParsePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":"`+me.SendingAccountID+`"},"Action":"ses:*","Resource":"`+o.arn+`"}}`, o.arn)
		if err != nil {
			t.Fatal(err)
		}
		if err := ids.CreatePolicy(ctx, o.acct, o.name, "delegate", p); err != nil {
			t.Fatal(err)
		}
	}
	batch := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	sp := spool.New(db)
	s := sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "test",
		MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
		accts, ids, configset.New(db), queue.New(db), sp, event.NewLog(db), batch)
	s.Quota = quota.New(db, quota.Config{Node: "test"})

	ownBounce, _ := address.Parse("bounce@delegate.test")
	rcpt, _ := address.Parse("rcpt@example.net")
	cases := []struct {
		name     string
		header   string
		mailFrom *address.Address
		fromArn  string
		want     string // "" accepted (sourceArn = ownerARN), else the error type
	}{
		{"FROM-ARN covers From and MAIL FROM", "From: news@owner.example\r\nX-SES-FROM-ARN: " + ownerARN + "\r\n", nil, "", ""},
		{"SOURCE-ARN covers From", "From: news@owner.example\r\nX-SES-SOURCE-ARN: " + ownerARN + "\r\n", nil, "", ""},
		{"own MAIL FROM with SOURCE-ARN standing in for FROM-ARN", "From: news@owner.example\r\nX-SES-FROM-ARN: " + ownerARN + "\r\n", &ownBounce, "", ""},
		{"own MAIL FROM with an explicit SOURCE-ARN", "From: news@owner.example\r\nX-SES-SOURCE-ARN: " + ownerARN + "\r\nX-SES-FROM-ARN: " + ownerARN + "\r\n", &ownBounce, "", "NotAuthorized"},
		{"Return-Path inherits", "From: news@owner.example\r\nReturn-Path: <b@owner.example>\r\nX-SES-SOURCE-ARN: " + ownerARN + "\r\n", nil, "", ""},
		{"explicit RETURN-PATH-ARN not covering", "From: news@owner.example\r\nReturn-Path: <b@else.test>\r\nX-SES-SOURCE-ARN: " + ownerARN +
			"\r\nX-SES-RETURN-PATH-ARN: " + ownerARN + "\r\n", nil, "", "NotAuthorized"},
		{"no ARN", "From: news@owner.example\r\n", nil, "", "Unverified"},
		{"malformed header ARN", "From: news@owner.example\r\nX-SES-SOURCE-ARN: owner.example\r\n", nil, "", "InvalidARN"},
		{"API ARN overrides headers", "From: news@owner.example\r\nX-SES-SOURCE-ARN: bad\r\nX-SES-FROM-ARN: bad\r\n", nil, ownerARN, ""},
		{"global-endpoint ARN", "From: news@owner.example\r\n", nil, "arn:aws:ses:*:" + owner.SendingAccountID + ":identity/owner.example", ""},
		{"identity name in another case", "From: news@owner.example\r\n", nil, "arn:aws:ses:us-east-1:" + owner.SendingAccountID + ":identity/OWNER.Example", ""},
		{"another account's id", "From: news@owner.example\r\n", nil, "arn:aws:ses:us-east-1:" + sandboxed.SendingAccountID + ":identity/owner.example", "NotAuthorized"},
		{"owner in the sandbox", "From: news@sandboxed.example\r\n", nil, sandboxedARN, "Unverified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte(c.header + "To: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
			id, err := s.Send(ctx, sending.Request{Account: "delegate", Operation: "SendRawEmail", MailFrom: c.mailFrom,
				Recipients: []address.Address{rcpt}, Raw: raw, FromArn: c.fromArn})
			var na *sending.NotAuthorizedError
			var bad *sending.InvalidARNError
			var unv *sending.UnverifiedError
			switch c.want {
			case "":
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				_, obj, err := sp.Mail(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var mail event.Mail
				if err := json.Unmarshal(obj, &mail); err != nil {
					t.Fatal(err)
				}
				if mail.SourceArn != ownerARN || mail.SendingAccountID != me.SendingAccountID {
					t.Fatalf("sourceArn %q sendingAccountId %q", mail.SourceArn, mail.SendingAccountID)
				}
			case "NotAuthorized":
				if !errors.As(err, &na) {
					t.Fatalf("Send: %v; want NotAuthorizedError", err)
				}
			case "InvalidARN":
				if !errors.As(err, &bad) {
					t.Fatalf("Send: %v; want InvalidARNError", err)
				}
			case "Unverified":
				if !errors.As(err, &unv) {
					t.Fatalf("Send: %v; want UnverifiedError", err)
				}
			}
		})
	}

	// The feedback address (FeedbackForwardingEmailAddress) is a sender
	// address: covered by the ARN that applies to it (its own, else the
	// source's when that identity covers it), else by the delegate's own
	// verified identities.
	fbCases := []struct {
		name, from, feedback, fromArn, feedbackArn string
		want                                       string // "" accepted, else the error type
	}{
		{"inherits FromArn", "news@owner.example", "fb@owner.example", ownerARN, "", ""},
		{"delegate's own identity", "news@owner.example", "fb@delegate.test", ownerARN, "", ""},
		{"unverified, FromArn not covering", "news@owner.example", "fb@else.test", ownerARN, "", "Unverified"},
		{"FeedbackArn not covering", "news@owner.example", "fb@else.test", ownerARN, ownerARN, "NotAuthorized"},
		{"FeedbackArn alone", "news@delegate.test", "fb@owner.example", "", ownerARN, ""},
		{"owner's address without an ARN", "news@delegate.test", "fb@owner.example", "", "", "Unverified"},
	}
	for _, c := range fbCases {
		t.Run("feedback "+c.name, func(t *testing.T) {
			fb, _ := address.Parse(c.feedback)
			_, err := s.Send(ctx, sending.Request{Account: "delegate", Operation: "SendEmail", Recipients: []address.Address{rcpt},
				Raw: []byte("From: " + c.from + "\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n"), FromArn: c.fromArn,
				FeedbackArn: c.feedbackArn, FeedbackAddress: &fb})
			var na *sending.NotAuthorizedError
			var unv *sending.UnverifiedError
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Send: %v", err)
			case c.want == "NotAuthorized" && !errors.As(err, &na):
				t.Fatalf("Send: %v; want NotAuthorizedError", err)
			case c.want == "Unverified" && (!errors.As(err, &unv) || !slices.Contains(unv.Identities, c.feedback)):
				t.Fatalf("Send: %v; want UnverifiedError naming %s", err, c.feedback)
			}
		})
	}

	// The delegate's quota applies, not the owner's (unlimited).
	if err := accts.SetQuota(ctx, "delegate", account.Quota{Max24HourSend: 1, MaxSendRate: 10}); err != nil {
		t.Fatal(err)
	}
	var throttled *sending.ThrottledError
	send := func() error {
		_, err := s.Send(ctx, sending.Request{Account: "delegate", Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
			Raw: []byte("From: news@owner.example\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n"), FromArn: ownerARN})
		return err
	}
	for range 3 {
		if err := send(); errors.As(err, &throttled) && throttled.Daily {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the delegate's 24-hour quota of 1 was not enforced")
}
