package api

// Failing tests from the issue-13 break review (branch i13-brk). Each
// reproduces one finding of the review report; none fixes product code.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// TestBrkImportJobsOneTenantStarvesAnother: the import runner takes jobs
// first come, first served across all accounts, with no per-account limit,
// so one tenant that queues many large jobs delays every other tenant's
// imports for as long as its own take (a hostile tenant can queue
// thousands). Account victim's one-row job, created after hog's jobs,
// should not finish after all of them.
func TestBrkImportJobsOneTenantStarvesAnother(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "hog", "victim")
	ctx := t.Context()
	hog := sesClient(srv.URL, tenants["hog"], 1)
	victim := sesClient(srv.URL, tenants["victim"], 1)
	var big strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&big, "u%d@big.example,BOUNCE\n", i)
	}
	url := upload(t, srv, tenants["hog"], "big.csv", []byte(big.String()))
	var hogJobs []string
	for range 6 {
		id, err := createJob(ctx, hog, types.SuppressionListImportActionPut, url, types.DataFormatCsv)
		if err != nil {
			t.Fatal(err)
		}
		hogJobs = append(hogJobs, id)
	}
	small := upload(t, srv, tenants["victim"], "one.csv", []byte("a@victim.example,BOUNCE\n"))
	vid, err := createJob(ctx, victim, types.SuppressionListImportActionPut, small, types.DataFormatCsv)
	if err != nil {
		t.Fatal(err)
	}
	v := waitJob(t, victim, vid)
	last := waitJob(t, hog, hogJobs[len(hogJobs)-1])
	if !v.CompletedTimestamp.Before(*last.CompletedTimestamp) {
		t.Errorf("victim's 1-row job completed at %v, after all %d of hog's 20,000-row jobs (last at %v): one tenant's imports starve the others'",
			v.CompletedTimestamp, len(hogJobs), last.CompletedTimestamp)
	}
}

// TestBrkConfigSetInputsAccepted: inputs SES refuses, and Petrel's own docs
// say are BadRequestException, are accepted with 200.
func TestBrkConfigSetInputsAccepted(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	ten := tenants["acme"]
	if status, _, body := signedDo(t, srv, ten, "POST", "/v2/email/configuration-sets", []byte(`{"ConfigurationSetName":"cs"}`)); status != 200 {
		t.Fatalf("create: %d %s", status, body)
	}
	arn := testConfigSetARN(t, s, "acme", "cs")
	for _, c := range []struct{ name, method, path, body string }{
		// 1e300 does not fit LastFreshStart: it is dropped silently.
		{"LastFreshStart 1e300", "POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"a","ReputationOptions":{"LastFreshStart":1e300}}`},
		// Stored, and then every boto3 GetConfigurationSet of the set fails
		// client-side (ValueError: year -29719 is out of range).
		{"LastFreshStart -1e12", "POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"b","ReputationOptions":{"LastFreshStart":-1000000000000}}`},
		// TlsPolicy is an enum (REQUIRE|OPTIONAL): "" is not one of them.
		{"TlsPolicy empty", "PUT", "/v2/email/configuration-sets/cs/delivery-options", `{"TlsPolicy":""}`},
		// SES (API_Tag): the aws: prefix is reserved for AWS.
		{"tag key aws:", "POST", "/v2/email/tags", `{"ResourceArn":"` + arn + `","Tags":[{"Key":"aws:x","Value":"v"}]}`},
		// SES (API_Tag): keys are letters, digits, spaces and _ . : / = + - @.
		{"tag key NUL", "POST", "/v2/email/tags", `{"ResourceArn":"` + arn + `","Tags":[{"Key":"k\u0000","Value":"v"}]}`},
		// SES's VdmOptions is {DashboardOptions{EngagementMetrics},
		// GuardianOptions{OptimizedSharedDelivery}}, each ENABLED|DISABLED.
		// Petrel stores any JSON up to the 1 MiB body limit, and the send
		// path's configuration-set cache keeps it (a tenant's 10,000 sets
		// can pin 10 GB: seen live, 300 sets sent with grew RSS by 320 MB).
		{"VdmOptions junk", "PUT", "/v2/email/configuration-sets/cs/vdm-options", `{"VdmOptions":{"Junk":"` + strings.Repeat("x", 100000) + `"}}`},
		{"VdmOptions bad enum", "PUT", "/v2/email/configuration-sets/cs/vdm-options", `{"VdmOptions":{"DashboardOptions":{"EngagementMetrics":"maybe"}}}`},
		// docs/suppression.md: Reasons are bounce-rule reasons; a typo makes
		// a policy that never counts anything.
		{"soft-bounce reason unknown", "PUT", "/v2/email/account/suppression", `{"SuppressedReasons":["BOUNCE","COMPLAINT"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":3600,"SuppressSeconds":3600,"Reasons":["mailbox_full"]}}`},
	} {
		status, h, body := signedDo(t, srv, ten, c.method, c.path, []byte(c.body))
		if status != 400 || h.Get("x-amzn-ErrorType") != "BadRequestException" {
			t.Errorf("%s: %d %q %s, want 400 BadRequestException", c.name, status, h.Get("x-amzn-ErrorType"), body)
		}
	}
}
