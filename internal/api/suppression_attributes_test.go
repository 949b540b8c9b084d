package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/petrelmail/petrel/internal/store"
)

// TestSoftBouncePolicyNeedsBounceReason: PutAccountSuppressionAttributes
// with a SoftBouncePolicy and no SuppressedReasons holding BOUNCE (absent,
// which is the empty list, or without BOUNCE) is BadRequestException and
// changes nothing: accepted, it would turn the account list off, and the
// policy with it. A policy whose Reasons are not bounce-rule reasons about
// the recipient is refused naming the reasons that may be named.
func TestSoftBouncePolicyNeedsBounceReason(t *testing.T) {
	const policy = `"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":259200,"SuppressSeconds":604800,"Reasons":["mailbox-full"]}`
	cases := []struct {
		name, body string
		status     int
		msg        string // in the refusal
		want       []types.SuppressionListReason
	}{
		{"policy alone", `{` + policy + `}`, 400, "SoftBouncePolicy needs SuppressedReasons with BOUNCE", nil},
		{"policy, reasons empty", `{"SuppressedReasons":[],` + policy + `}`, 400, "SoftBouncePolicy needs SuppressedReasons with BOUNCE", nil},
		{"policy, COMPLAINT only", `{"SuppressedReasons":["COMPLAINT"],` + policy + `}`, 400, "SoftBouncePolicy needs SuppressedReasons with BOUNCE", nil},
		{"policy, reason misspelled", `{"SuppressedReasons":["BOUNCE","COMPLAINT"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":3600,"SuppressSeconds":3600,"Reasons":["mailbox_full"]}}`,
			400, `\"mailbox_full\" is not a bounce-rule reason: Reasons may name any of domain-not-found, has-moved, mailbox-disabled, mailbox-full, not-accepting-mail, user-unknown`, nil},
		{"policy, reason network-error", `{"SuppressedReasons":["BOUNCE","COMPLAINT"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":3600,"SuppressSeconds":3600,"Reasons":["network-error"]}}`,
			400, `\"network-error\" says nothing about the recipient`, nil},
		{"policy, BOUNCE", `{"SuppressedReasons":["BOUNCE"],` + policy + `}`, 200, "", []types.SuppressionListReason{types.SuppressionListReasonBounce}},
		{"policy off, no reasons", `{"SoftBouncePolicy":null}`, 200, "", []types.SuppressionListReason{}},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
					status, code, out := signedCall(t, srv, tenants["acme"], "PUT", "/v2/email/account/suppression", []byte(c.body))
					if status != c.status || c.status == 400 && (code != "BadRequestException" || !strings.Contains(string(out), c.msg)) {
						t.Fatalf("%s: %d %s %s; want %d %q", c.body, status, code, out, c.status, c.msg)
					}
					acct, err := sesClient(srv.URL, tenants["acme"], 1).GetAccount(t.Context(), &sesv2.GetAccountInput{})
					if err != nil {
						t.Fatal(err)
					}
					want := c.want
					if c.status == 400 {
						want = []types.SuppressionListReason{types.SuppressionListReasonBounce, types.SuppressionListReasonComplaint}
					}
					if got := acct.SuppressionAttributes.SuppressedReasons; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
						t.Errorf("SuppressedReasons %v after %s; want %v", got, c.body, want)
					}
				})
			}
		})
	}
}
