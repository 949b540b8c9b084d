package sending_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSenderIdentities: From, Sender and Return-Path headers and the
// envelope MAIL FROM must all be verified identities (SES §8.5); the refusal
// names every one that is not.
func TestSenderIdentities(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := newSender(t, backend)
			rcpt, _ := address.Parse("rcpt@example.net")
			victim, _ := address.Parse("ceo@victim.test")
			cases := []struct {
				name       string
				header     string
				mailFrom   *address.Address
				unverified []string // nil: accepted
				rejected   bool     // *RejectedError
			}{
				{"verified From only", "From: a@example.com\r\n", nil, nil, false},
				{"verified Sender", "From: a@example.com\r\nSender: Ops <ops@example.com>\r\n", nil, nil, false},
				{"verified Return-Path", "From: a@example.com\r\nReturn-Path: <bounces@example.com>\r\n", nil, nil, false},
				{"null Return-Path", "From: a@example.com\r\nReturn-Path: <>\r\n", nil, nil, false},
				{"unverified Sender", "From: a@example.com\r\nSender: ceo@victim.test\r\n", nil, []string{"ceo@victim.test"}, false},
				{"unverified Return-Path", "From: a@example.com\r\nReturn-Path: <x@victim.test>\r\n", nil, []string{"x@victim.test"}, false},
				{"unverified MAIL FROM", "From: a@example.com\r\n", &victim, []string{"ceo@victim.test"}, false},
				{"all listed once", "From: ceo@victim.test\r\nSender: CEO <CEO@victim.test>\r\nReturn-Path: <r@other.test>\r\n", &victim,
					[]string{"ceo@victim.test", "r@other.test"}, false},
				{"malformed Sender", "From: a@example.com\r\nSender: not an address\r\n", nil, nil, true},
				{"malformed Return-Path", "From: a@example.com\r\nReturn-Path: <bad@@example.com>\r\n", nil, nil, true},
				{"two Senders", "From: a@example.com\r\nSender: a@example.com\r\nSender: ceo@victim.test\r\n", nil, nil, true},
			}
			for _, c := range cases {
				raw := []byte(c.header + "To: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
				id, err := s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendRawEmail",
					MailFrom: c.mailFrom, Recipients: []address.Address{rcpt}, Raw: raw})
				var unv *sending.UnverifiedError
				var rej *sending.RejectedError
				switch {
				case c.rejected:
					if !errors.As(err, &rej) {
						t.Errorf("%s: Send = %q, %v; want a RejectedError", c.name, id, err)
					}
				case c.unverified != nil:
					if !errors.As(err, &unv) || !slices.Equal(unv.Identities, c.unverified) {
						t.Errorf("%s: Send = %q, %v; want unverified %q", c.name, id, err, c.unverified)
					}
				case err != nil:
					t.Errorf("%s: Send: %v", c.name, err)
				}
			}
		})
	}
}

// newSender is newTestSender with victim.test added as a pending identity,
// which covers nothing.
func newSender(t *testing.T, backend string) *sending.Sender {
	return newTestSender(t, backend, func(ctx context.Context, ids *identity.Service) error {
		_, err := ids.Create(ctx, testAccount, "victim.test", false)
		return err
	})
}
