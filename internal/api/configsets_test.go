package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// errCode is the SES error code of an SDK error ("" for none).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "unexpected: " + err.Error()
	}
	return ""
}

// configSetARN is the ARN of account's set name.
func testConfigSetARN(t *testing.T, s *Server, account, name string) string {
	t.Helper()
	a, err := s.Accounts.Get(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	return "arn:aws:ses:us-east-1:" + a.SendingAccountID + ":configuration-set/" + name
}

// fullCreateInput creates name with every option given.
func fullCreateInput(name string) *sesv2.CreateConfigurationSetInput {
	return &sesv2.CreateConfigurationSetInput{
		ConfigurationSetName: aws.String(name),
		DeliveryOptions:      &types.DeliveryOptions{TlsPolicy: types.TlsPolicyRequire, SendingPoolName: aws.String("pool1"), MaxDeliverySeconds: aws.Int64(3600)},
		ReputationOptions:    &types.ReputationOptions{ReputationMetricsEnabled: true, LastFreshStart: aws.Time(time.Unix(1700000000, 0))},
		SendingOptions:       &types.SendingOptions{SendingEnabled: false},
		SuppressionOptions:   &types.SuppressionOptions{SuppressedReasons: []types.SuppressionListReason{types.SuppressionListReasonBounce}},
		TrackingOptions:      &types.TrackingOptions{CustomRedirectDomain: aws.String("track.acme.example"), HttpsPolicy: types.HttpsPolicyRequireOpenOnly},
		VdmOptions:           &types.VdmOptions{DashboardOptions: &types.DashboardOptions{EngagementMetrics: types.FeatureStatusEnabled}},
		ArchivingOptions:     &types.ArchivingOptions{ArchiveArn: aws.String("arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1")},
		Tags:                 []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("")}},
	}
}

// TestConfigurationSets (issue 13): every configuration-set operation's
// success path through aws-sdk-go-v2 service/sesv2, on both stores: a set
// created with every option reads back with each one in SES's shape; each
// PutConfigurationSet*Options replaces its aspect only; tags are added,
// replaced, listed and removed by ARN; a deleted set is NotFoundException.
func TestConfigurationSets(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSets(t, backend) })
	}
}

func testConfigurationSets(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ctx := t.Context()
	ses := sesClient(srv.URL, tenants["acme"], 1)

	if _, err := ses.CreateConfigurationSet(ctx, fullCreateInput("full")); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("Plain_set-1")}); err != nil {
		t.Fatal(err)
	}

	got, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("full")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.ConfigurationSetName) != "full" {
		t.Errorf("ConfigurationSetName = %q", aws.ToString(got.ConfigurationSetName))
	}
	if d := got.DeliveryOptions; d == nil || d.TlsPolicy != types.TlsPolicyRequire || aws.ToString(d.SendingPoolName) != "pool1" || aws.ToInt64(d.MaxDeliverySeconds) != 3600 {
		t.Errorf("DeliveryOptions = %+v", d)
	}
	if r := got.ReputationOptions; r == nil || !r.ReputationMetricsEnabled || r.LastFreshStart == nil || !r.LastFreshStart.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("ReputationOptions = %+v", r)
	}
	if o := got.SendingOptions; o == nil || o.SendingEnabled {
		t.Errorf("SendingOptions = %+v, want SendingEnabled false", o)
	}
	if o := got.SuppressionOptions; o == nil || !slices.Equal(o.SuppressedReasons, []types.SuppressionListReason{"BOUNCE"}) {
		t.Errorf("SuppressionOptions = %+v", o)
	}
	if o := got.TrackingOptions; o == nil || aws.ToString(o.CustomRedirectDomain) != "track.acme.example" || o.HttpsPolicy != types.HttpsPolicyRequireOpenOnly {
		t.Errorf("TrackingOptions = %+v", o)
	}
	if o := got.VdmOptions; o == nil || o.DashboardOptions == nil || o.DashboardOptions.EngagementMetrics != types.FeatureStatusEnabled || o.GuardianOptions != nil {
		t.Errorf("VdmOptions = %+v", o)
	}
	if o := got.ArchivingOptions; o == nil || aws.ToString(o.ArchiveArn) != "arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1" {
		t.Errorf("ArchivingOptions = %+v", o)
	}
	if tags := tagMap(got.Tags); len(tags) != 2 || tags["env"] != "prod" || tags["team"] != "" {
		t.Errorf("Tags = %v", tags)
	}

	// A set created with nothing has SES's defaults.
	plain, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("Plain_set-1")})
	if err != nil {
		t.Fatal(err)
	}
	if plain.SendingOptions == nil || !plain.SendingOptions.SendingEnabled || plain.DeliveryOptions == nil || plain.DeliveryOptions.TlsPolicy != types.TlsPolicyOptional ||
		plain.DeliveryOptions.MaxDeliverySeconds != nil || plain.SuppressionOptions != nil || plain.TrackingOptions != nil ||
		plain.VdmOptions != nil || plain.ArchivingOptions != nil || len(plain.Tags) != 0 {
		t.Errorf("defaults: %+v %+v %+v", plain.SendingOptions, plain.DeliveryOptions, plain.SuppressionOptions)
	}

	// Each setter on the plain set.
	name := aws.String("Plain_set-1")
	steps := []struct {
		op    string
		call  func() error
		check func(*sesv2.GetConfigurationSetOutput) bool
	}{
		{"PutConfigurationSetDeliveryOptions", func() error {
			_, err := ses.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name,
				TlsPolicy: types.TlsPolicyRequire, MaxDeliverySeconds: aws.Int64(300)})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.DeliveryOptions.TlsPolicy == types.TlsPolicyRequire && aws.ToInt64(o.DeliveryOptions.MaxDeliverySeconds) == 300
		}},
		{"PutConfigurationSetDeliveryOptions 50400", func() error {
			_, err := ses.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name,
				MaxDeliverySeconds: aws.Int64(50400)})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.DeliveryOptions.TlsPolicy == types.TlsPolicyOptional && aws.ToInt64(o.DeliveryOptions.MaxDeliverySeconds) == 50400
		}},
		{"PutConfigurationSetSendingOptions", func() error {
			_, err := ses.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: name, SendingEnabled: false})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool { return !o.SendingOptions.SendingEnabled }},
		{"PutConfigurationSetReputationOptions", func() error {
			_, err := ses.PutConfigurationSetReputationOptions(ctx, &sesv2.PutConfigurationSetReputationOptionsInput{ConfigurationSetName: name, ReputationMetricsEnabled: true})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool { return o.ReputationOptions.ReputationMetricsEnabled }},
		{"PutConfigurationSetSuppressionOptions", func() error {
			_, err := ses.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: name,
				SuppressedReasons: []types.SuppressionListReason{types.SuppressionListReasonComplaint}})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.SuppressionOptions != nil && slices.Equal(o.SuppressionOptions.SuppressedReasons, []types.SuppressionListReason{"COMPLAINT"})
		}},
		{"PutConfigurationSetTrackingOptions", func() error {
			_, err := ses.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: name,
				CustomRedirectDomain: aws.String("t.acme.example"), HttpsPolicy: types.HttpsPolicyRequire})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.TrackingOptions != nil && aws.ToString(o.TrackingOptions.CustomRedirectDomain) == "t.acme.example" && o.TrackingOptions.HttpsPolicy == types.HttpsPolicyRequire
		}},
		{"PutConfigurationSetVdmOptions", func() error {
			_, err := ses.PutConfigurationSetVdmOptions(ctx, &sesv2.PutConfigurationSetVdmOptionsInput{ConfigurationSetName: name,
				VdmOptions: &types.VdmOptions{GuardianOptions: &types.GuardianOptions{OptimizedSharedDelivery: types.FeatureStatusDisabled}}})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.VdmOptions != nil && o.VdmOptions.GuardianOptions != nil && o.VdmOptions.GuardianOptions.OptimizedSharedDelivery == types.FeatureStatusDisabled
		}},
		{"PutConfigurationSetArchivingOptions", func() error {
			_, err := ses.PutConfigurationSetArchivingOptions(ctx, &sesv2.PutConfigurationSetArchivingOptionsInput{ConfigurationSetName: name,
				ArchiveArn: aws.String("arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-2")})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool {
			return o.ArchivingOptions != nil && aws.ToString(o.ArchivingOptions.ArchiveArn) == "arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-2"
		}},
		{"PutConfigurationSetArchivingOptions none", func() error {
			_, err := ses.PutConfigurationSetArchivingOptions(ctx, &sesv2.PutConfigurationSetArchivingOptionsInput{ConfigurationSetName: name})
			return err
		}, func(o *sesv2.GetConfigurationSetOutput) bool { return o.ArchivingOptions == nil && o.VdmOptions != nil }},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.op, err)
		}
		o, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: name})
		if err != nil {
			t.Fatal(err)
		}
		if !st.check(o) {
			t.Errorf("%s: not applied: delivery %+v sending %+v suppression %+v tracking %+v", st.op, o.DeliveryOptions, o.SendingOptions, o.SuppressionOptions, o.TrackingOptions)
		}
	}

	// Tags by ARN.
	arn := aws.String(testConfigSetARN(t, s, "acme", "full"))
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("staging")}, {Key: aws.String("cost"), Value: aws.String("42")}}}); err != nil {
		t.Fatal(err)
	}
	lt, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if tags := tagMap(lt.Tags); len(tags) != 3 || tags["env"] != "staging" || tags["cost"] != "42" || tags["team"] != "" {
		t.Errorf("after TagResource: %v", tags)
	}
	if _, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env", "team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	lt, err = ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if tags := tagMap(lt.Tags); len(tags) != 1 || tags["cost"] != "42" {
		t.Errorf("after UntagResource: %v", tags)
	}

	ls, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ls.ConfigurationSets, []string{"Plain_set-1", "full"}) || ls.NextToken != nil {
		t.Errorf("ListConfigurationSets = %v, %v", ls.ConfigurationSets, ls.NextToken)
	}

	if _, err := ses.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("full")}); err != nil {
		t.Fatal(err)
	}
	_, err = ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("full")})
	if errCode(err) != "NotFoundException" || !strings.Contains(err.Error(), "Configuration set full does not exist.") {
		t.Errorf("Get after Delete: %v", err)
	}
	if _, err := ses.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("full")}); errCode(err) != "NotFoundException" {
		t.Errorf("second Delete: %v", err)
	}
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// TestConfigurationSetBadInput: each operation's bad input is SES's error,
// on both stores, and changes nothing.
func TestConfigurationSetBadInput(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSetBadInput(t, backend) })
	}
}

func testConfigurationSetBadInput(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ctx := t.Context()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
		t.Fatal(err)
	}
	arn := testConfigSetARN(t, s, "acme", "cs")
	name := aws.String("cs")
	many := make([]types.Tag, 51)
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	create := func(in *sesv2.CreateConfigurationSetInput) error {
		_, err := ses.CreateConfigurationSet(ctx, in)
		return err
	}
	delivery := func(in *sesv2.PutConfigurationSetDeliveryOptionsInput) error {
		_, err := ses.PutConfigurationSetDeliveryOptions(ctx, in)
		return err
	}
	tagRes := func(arn string, tags ...types.Tag) error {
		_, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
		return err
	}
	one := types.Tag{Key: aws.String("k"), Value: aws.String("v")}
	for _, c := range []struct {
		name, code, says string
		call             func() error
	}{
		{"create: bad name", "BadRequestException", "ConfigurationSetName", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("bad.name")})
		}},
		{"create: name of 65", "BadRequestException", "1-64", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(strings.Repeat("a", 65))})
		}},
		{"create: duplicate", "AlreadyExistsException", "Configuration set cs already exists", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: name})
		}},
		{"create: MaxDeliverySeconds 299", "BadRequestException", "MaxDeliverySeconds 299", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("x"), DeliveryOptions: &types.DeliveryOptions{MaxDeliverySeconds: aws.Int64(299)}})
		}},
		{"create: bad reason", "BadRequestException", "SPAM", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("x"),
				SuppressionOptions: &types.SuppressionOptions{SuppressedReasons: []types.SuppressionListReason{"SPAM"}}})
		}},
		{"create: too many tags", "BadRequestException", "too many tags", func() error {
			return create(&sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("x"), Tags: many})
		}},
		{"get: unknown", "NotFoundException", "Configuration set nope does not exist.", func() error {
			_, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("nope")})
			return err
		}},
		{"delete: unknown", "NotFoundException", "nope", func() error {
			_, err := ses.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("nope")})
			return err
		}},
		{"delivery: unknown set", "NotFoundException", "nope", func() error {
			return delivery(&sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("nope"), TlsPolicy: types.TlsPolicyRequire})
		}},
		{"delivery: MaxDeliverySeconds 299", "BadRequestException", "MaxDeliverySeconds 299 is out of range (300-50400)", func() error {
			return delivery(&sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name, MaxDeliverySeconds: aws.Int64(299)})
		}},
		{"delivery: MaxDeliverySeconds 50401", "BadRequestException", "MaxDeliverySeconds 50401", func() error {
			return delivery(&sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name, MaxDeliverySeconds: aws.Int64(50401)})
		}},
		{"delivery: MaxDeliverySeconds 0", "BadRequestException", "MaxDeliverySeconds 0", func() error {
			return delivery(&sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name, MaxDeliverySeconds: aws.Int64(0)})
		}},
		{"delivery: bad TlsPolicy", "BadRequestException", "TlsPolicy \"SOMETIMES\"", func() error {
			return delivery(&sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name, TlsPolicy: "SOMETIMES"})
		}},
		{"suppression: bad reason", "BadRequestException", "SPAM", func() error {
			_, err := ses.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: name,
				SuppressedReasons: []types.SuppressionListReason{"BOUNCE", "SPAM"}})
			return err
		}},
		{"suppression: unknown set", "NotFoundException", "nope", func() error {
			_, err := ses.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: aws.String("nope")})
			return err
		}},
		{"tracking: bad HttpsPolicy", "BadRequestException", "HttpsPolicy", func() error {
			_, err := ses.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: name, HttpsPolicy: "NEVER"})
			return err
		}},
		{"sending: unknown set", "NotFoundException", "nope", func() error {
			_, err := ses.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: aws.String("nope")})
			return err
		}},
		{"tag: not an ARN", "BadRequestException", "not an Amazon SES ARN", func() error { return tagRes("cs", one) }},
		{"tag: dedicated IP pool ARN", "BadRequestException", "Petrel tags configuration sets, identities and templates only", func() error {
			return tagRes(strings.Replace(arn, "configuration-set/cs", "dedicated-ip-pool/p", 1), one)
		}},
		{"tag: unknown set", "NotFoundException", "Configuration set nope does not exist.", func() error {
			return tagRes(strings.Replace(arn, "/cs", "/nope", 1), one)
		}},
		{"tag: 51 tags", "BadRequestException", "too many tags", func() error { return tagRes(arn, many...) }},
		{"tag: 50 new on top of 1", "BadRequestException", "too many tags", func() error {
			if err := tagRes(arn, one); err != nil {
				return err
			}
			return tagRes(arn, many[:50]...)
		}},
		{"tag: key of 129", "BadRequestException", "Key", func() error {
			return tagRes(arn, types.Tag{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("")})
		}},
		{"tag: value of 257", "BadRequestException", "Value", func() error {
			return tagRes(arn, types.Tag{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))})
		}},
		{"untag: bad ARN", "BadRequestException", "ARN", func() error {
			_, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String("arn:aws:sns:us-east-1:1:topic"), TagKeys: []string{"k"}})
			return err
		}},
		{"list tags: other region", "NotFoundException", "does not exist", func() error {
			_, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(arn, "us-east-1", "eu-west-1", 1))})
			return err
		}},
	} {
		err := c.call()
		if errCode(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want %s saying %q", c.name, err, c.code, c.says)
		}
	}
	// Nothing changed: cs has its defaults and the one tag "k".
	cs, err := s.ConfigSets.Get(ctx, "acme", "cs")
	if err != nil {
		t.Fatal(err)
	}
	if cs.Delivery != (configset.DeliveryOptions{TlsPolicy: "OPTIONAL"}) || cs.Suppression != nil || !cs.SendingEnabled ||
		cs.Tracking != (configset.TrackingOptions{}) || !slices.Equal(cs.Tags, []configset.Tag{{Key: "k", Value: "v"}}) {
		t.Errorf("set changed by bad input: %+v", cs)
	}
	if names, _ := s.ConfigSets.List(ctx, "acme", "", 10); !slices.Equal(names, []string{"cs"}) {
		t.Errorf("sets = %v", names)
	}
}

// TestListConfigurationSetsPaging: 300 sets page through the SDK's
// paginator (POST /v2/email/list-configuration-sets) and through GET
// /v2/email/configuration-sets with the query string, every name once in
// order; the name filter selects; a NextToken not issued here is
// BadRequestException.
func TestListConfigurationSetsPaging(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testListConfigurationSetsPaging(t, backend) })
	}
}

func testListConfigurationSetsPaging(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	ctx := t.Context()
	var want []string
	for i := range 300 {
		n := fmt.Sprintf("set-%03d", i)
		if i%10 == 0 {
			n = fmt.Sprintf("Blue_%03d", i)
		}
		want = append(want, n)
		if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "acme", Name: n, SendingEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "other", Name: "set-000"}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	ses := sesClient(srv.URL, tenants["acme"], 1)

	list := func(size int32, filter map[string]string) []string {
		var got []string
		p := sesv2.NewListConfigurationSetsPaginator(ses, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(size), Filter: filter})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.ConfigurationSets) > int(size) {
				t.Fatalf("page of %d with PageSize %d", len(page.ConfigurationSets), size)
			}
			got = append(got, page.ConfigurationSets...)
		}
		return got
	}
	for _, size := range []int32{7, 100, 1000} {
		if got := list(size, nil); !slices.Equal(got, want) {
			t.Errorf("PageSize %d: %d names, want %d in order", size, len(got), len(want))
		}
	}
	if got := list(4, map[string]string{"CONFIGURATION_SET_NAME_CONTAINS": "blue"}); len(got) != 30 || !strings.HasPrefix(got[0], "Blue_") {
		t.Errorf("filtered: %v", got)
	}

	// The query-string form (boto3, the AWS CLI).
	var got []string
	token := ""
	for {
		path := "/v2/email/configuration-sets?PageSize=50"
		if token != "" {
			path += "&NextToken=" + url.QueryEscape(token)
		}
		status, _, body := signedCall(t, srv, tenants["acme"], "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET list: %d %s", status, body)
		}
		var out struct {
			ConfigurationSets []string
			NextToken         string
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		got = append(got, out.ConfigurationSets...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("GET pages: %d names, want %d in order", len(got), len(want))
	}

	for _, tok := range []string{"!!!", "c2V0LTAwMQ"} { // not base64; base64 of a bare name
		_, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{NextToken: aws.String(tok)})
		if errCode(err) != "BadRequestException" {
			t.Errorf("NextToken %q: %v", tok, err)
		}
	}
	if _, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(1001)}); errCode(err) != "BadRequestException" {
		t.Errorf("PageSize 1001: %v", err)
	}
	if _, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{Filter: map[string]string{"NAME": "x"}}); errCode(err) != "BadRequestException" {
		t.Errorf("bad filter key: %v", err)
	}
}

// TestConfigurationSetTenantIsolation: a second account tries every
// operation on the first account's set, by name and by the first
// account's ARN: each is NotFoundException worded as for a set that does
// not exist, its list does not show the set, and the set is unchanged.
func TestConfigurationSetTenantIsolation(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSetTenantIsolation(t, backend) })
	}
}

func testConfigurationSetTenantIsolation(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "mallory")
	ctx := t.Context()
	owner := sesClient(srv.URL, tenants["acme"], 1)
	if _, err := owner.CreateConfigurationSet(ctx, fullCreateInput("secret")); err != nil {
		t.Fatal(err)
	}
	before, err := s.ConfigSets.Get(ctx, "acme", "secret")
	if err != nil {
		t.Fatal(err)
	}
	ses := sesClient(srv.URL, tenants["mallory"], 1)
	name := aws.String("secret")
	arn := aws.String(testConfigSetARN(t, s, "acme", "secret"))
	for op, call := range map[string]func() error{
		"GetConfigurationSet": func() error {
			_, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetDeliveryOptions": func() error {
			_, err := ses.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetSendingOptions": func() error {
			_, err := ses.PutConfigurationSetSendingOptions(ctx, &sesv2.PutConfigurationSetSendingOptionsInput{ConfigurationSetName: name, SendingEnabled: true})
			return err
		},
		"PutConfigurationSetReputationOptions": func() error {
			_, err := ses.PutConfigurationSetReputationOptions(ctx, &sesv2.PutConfigurationSetReputationOptionsInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetSuppressionOptions": func() error {
			_, err := ses.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetTrackingOptions": func() error {
			_, err := ses.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetVdmOptions": func() error {
			_, err := ses.PutConfigurationSetVdmOptions(ctx, &sesv2.PutConfigurationSetVdmOptionsInput{ConfigurationSetName: name})
			return err
		},
		"PutConfigurationSetArchivingOptions": func() error {
			_, err := ses.PutConfigurationSetArchivingOptions(ctx, &sesv2.PutConfigurationSetArchivingOptionsInput{ConfigurationSetName: name})
			return err
		},
		"DeleteConfigurationSet": func() error {
			_, err := ses.DeleteConfigurationSet(ctx, &sesv2.DeleteConfigurationSetInput{ConfigurationSetName: name})
			return err
		},
		"TagResource": func() error {
			_, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("pwned")}}})
			return err
		},
		"UntagResource": func() error {
			_, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env"}})
			return err
		},
		"ListTagsForResource": func() error {
			_, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn})
			return err
		},
	} {
		err := call()
		if errCode(err) != "NotFoundException" || !strings.Contains(err.Error(), "Configuration set secret does not exist.") {
			t.Errorf("%s on another account's set: %v", op, err)
		}
	}
	ls, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.ConfigurationSets) != 0 {
		t.Errorf("mallory lists %v", ls.ConfigurationSets)
	}
	after, err := s.ConfigSets.Get(ctx, "acme", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(after)
	b, _ := json.Marshal(before)
	if string(a) != string(b) {
		t.Errorf("set changed:\n%s\nwas\n%s", a, b)
	}
	// The same name is free for mallory, and is mallory's own.
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: name}); err != nil {
		t.Errorf("mallory creating its own %q: %v", *name, err)
	}
}

// TestConfigurationSetSuppressionModes: SuppressionOptions round-trips in
// its three modes — no override (SuppressedReasons absent or null), the
// set's own reasons with Petrel's SoftBouncePolicy member, suppression
// disabled ([]) — through the wire and through SuppressionOverride; a bad
// SoftBouncePolicy is BadRequestException naming the member.
func TestConfigurationSetSuppressionModes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSetSuppressionModes(t, backend) })
	}
}

func testConfigurationSetSuppressionModes(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ctx := t.Context()
	ten := tenants["acme"]
	ses := sesClient(srv.URL, ten, 1)
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
		t.Fatal(err)
	}
	const path = "/v2/email/configuration-sets/cs/suppression-options"
	for _, c := range []struct {
		name, body string
		want       *suppression.Policy
		wire       string // GetConfigurationSet's SuppressionOptions, as written
	}{
		{"own reasons and soft bounces",
			`{"SuppressedReasons":["COMPLAINT","BOUNCE"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800,"Reasons":["mailbox-full"]}}`,
			&suppression.Policy{Reasons: []suppression.Reason{"COMPLAINT", "BOUNCE"},
				SoftBounce: &suppression.SoftBounce{Count: 3, Window: 24 * time.Hour, SuppressFor: 7 * 24 * time.Hour, Reasons: []string{"mailbox-full"}}},
			`{"SuppressedReasons":["COMPLAINT","BOUNCE"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800,"Reasons":["mailbox-full"]}}`},
		{"disabled", `{"SuppressedReasons":[]}`, &suppression.Policy{Reasons: []suppression.Reason{}}, `{"SuppressedReasons":[]}`},
		{"no override (null)", `{"SuppressedReasons":null}`, nil, ""},
		{"own reasons", `{"SuppressedReasons":["BOUNCE"]}`, &suppression.Policy{Reasons: []suppression.Reason{"BOUNCE"}}, `{"SuppressedReasons":["BOUNCE"]}`},
		{"no override (absent)", `{}`, nil, ""},
	} {
		status, code, body := signedCall(t, srv, ten, "PUT", path, []byte(c.body))
		if status != 200 {
			t.Fatalf("%s: %d %s %s", c.name, status, code, body)
		}
		p, err := s.ConfigSets.SuppressionOverride(ctx, "acme", "cs")
		if err != nil {
			t.Fatal(err)
		}
		if policyString(p) != policyString(c.want) {
			t.Errorf("%s: override %s, want %s", c.name, policyString(p), policyString(c.want))
		}
		_, _, body = signedCall(t, srv, ten, "GET", "/v2/email/configuration-sets/cs", nil)
		var out struct{ SuppressionOptions json.RawMessage }
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if string(out.SuppressionOptions) != c.wire {
			t.Errorf("%s: wire SuppressionOptions %s, want %s", c.name, out.SuppressionOptions, c.wire)
		}
	}
	// The SDK's empty list is "disabled" too.
	if _, err := ses.PutConfigurationSetSuppressionOptions(ctx, &sesv2.PutConfigurationSetSuppressionOptionsInput{ConfigurationSetName: aws.String("cs"),
		SuppressedReasons: []types.SuppressionListReason{}}); err != nil {
		t.Fatal(err)
	}
	got, err := ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("cs")})
	if err != nil {
		t.Fatal(err)
	}
	if got.SuppressionOptions == nil || len(got.SuppressionOptions.SuppressedReasons) != 0 {
		t.Errorf("SDK []: %+v", got.SuppressionOptions)
	}
	for _, c := range []struct{ body, says string }{
		{`{"SuppressedReasons":["BOUNCE"],"SoftBouncePolicy":{"BounceCount":1,"WindowSeconds":86400,"SuppressSeconds":604800}}`, "BounceCount 1"},
		{`{"SuppressedReasons":["BOUNCE"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":60,"SuppressSeconds":604800}}`, "WindowSeconds 60"},
		{`{"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800}}`, "SoftBouncePolicy needs SuppressedReasons"},
		{`{"SuppressedReasons":[],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800}}`, "SoftBouncePolicy needs BOUNCE"},
		{`{"SuppressedReasons":["COMPLAINT"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800}}`, "SoftBouncePolicy needs BOUNCE"},
		{`{"SuppressedReasons":["bounce"]}`, "bounce"},
		{`{"SuppressedReasons":["BOUNCE"],"SuppressionScope":"TENANT"}`, "SuppressionScope"},
	} {
		status, code, body := signedCall(t, srv, ten, "PUT", path, []byte(c.body))
		if status != 400 || code != "BadRequestException" || !strings.Contains(string(body), c.says) {
			t.Errorf("%s: %d %s %s, want BadRequestException saying %q", c.body, status, code, body, c.says)
		}
	}
	// Still disabled.
	if p, _ := s.ConfigSets.SuppressionOverride(ctx, "acme", "cs"); p == nil || len(p.Reasons) != 0 {
		t.Errorf("after bad input: %s", policyString(p))
	}
}

func policyString(p *suppression.Policy) string {
	if p == nil {
		return "none"
	}
	s := fmt.Sprintf("reasons %v", p.Reasons)
	if p.SoftBounce != nil {
		s += fmt.Sprintf(" soft %+v", *p.SoftBounce)
	}
	return s
}

// TestConfigurationSetLimit: the account's 10,001st set is
// LimitExceededException; another account is not affected.
func TestConfigurationSetLimit(t *testing.T) {
	srv, s, tenants, db := startAPIOn(t, "sqlite", 256<<20, "acme", "other")
	ctx := t.Context()
	fillConfigSets(t, db, "acme", configset.MaxPerAccount-1)
	ses := sesClient(srv.URL, tenants["acme"], 1)
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("last")}); err != nil {
		t.Fatalf("10,000th set: %v", err)
	}
	_, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("one-more")})
	if errCode(err) != "LimitExceededException" {
		t.Errorf("10,001st set: %v", err)
	}
	if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "other", Name: "one-more"}); err != nil {
		t.Errorf("another account: %v", err)
	}
}

// fillConfigSets inserts n minimal sets of account, 500 to a statement
// (the limit's test needs thousands).
func fillConfigSets(t *testing.T, db *store.DB, account string, n int) {
	t.Helper()
	for i := 0; i < n; i += 500 {
		var q strings.Builder
		var args []any
		q.WriteString("INSERT INTO configuration_sets (account, name, created_ms) VALUES ")
		for j := i; j < min(n, i+500); j++ {
			if j > i {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, 0)")
			args = append(args, account, fmt.Sprintf("fill-%05d", j))
		}
		if _, err := db.ExecContext(t.Context(), db.Rebind(q.String()), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConfigSetResponseShapes: the JSON bodies of the configuration-set
// operations byte for byte against golden files (testdata/responses):
// SES's member names and nesting (GetConfigurationSetResponse), members
// SES leaves out left out (no SuppressionOptions without an override, no
// TrackingOptions when none is set), epoch-second LastFreshStart.
func TestConfigSetResponseShapes(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	ten := tenants["acme"]
	arn := url.QueryEscape(testConfigSetARN(t, s, "acme", "full"))
	none := strings.NewReplacer()
	for _, st := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"CreateConfigurationSet", "POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"full",
			"DeliveryOptions":{"TlsPolicy":"REQUIRE","SendingPoolName":"pool1","MaxDeliverySeconds":3600},
			"ReputationOptions":{"ReputationMetricsEnabled":true,"LastFreshStart":1700000000},
			"SendingOptions":{"SendingEnabled":true},
			"SuppressionOptions":{"SuppressedReasons":["BOUNCE"],"SoftBouncePolicy":{"BounceCount":3,"WindowSeconds":86400,"SuppressSeconds":604800}},
			"TrackingOptions":{"CustomRedirectDomain":"track.acme.example","HttpsPolicy":"REQUIRE"},
			"VdmOptions":{"DashboardOptions":{"EngagementMetrics":"ENABLED"},"GuardianOptions":{"OptimizedSharedDelivery":"DISABLED"}},
			"ArchivingOptions":{"ArchiveArn":"arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1"},
			"Tags":[{"Key":"env","Value":"prod"}]}`, 200},
		{"CreateConfigurationSet-defaults", "POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"plain"}`, 200},
		{"GetConfigurationSet", "GET", "/v2/email/configuration-sets/full", "", 200},
		{"GetConfigurationSet-defaults", "GET", "/v2/email/configuration-sets/plain", "", 200},
		{"PutConfigurationSetSuppressionOptions-disabled", "PUT", "/v2/email/configuration-sets/plain/suppression-options", `{"SuppressedReasons":[]}`, 200},
		{"GetConfigurationSet-suppression-disabled", "GET", "/v2/email/configuration-sets/plain", "", 200},
		{"ListConfigurationSets", "POST", "/v2/email/list-configuration-sets", `{"PageSize":1}`, 200},
		{"ListTagsForResource", "GET", "/v2/email/tags?ResourceArn=" + arn, "", 200},
		{"error-AlreadyExistsException", "POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"plain"}`, 400},
		{"error-NotFoundException-configuration-set", "GET", "/v2/email/configuration-sets/nope", "", 404},
		{"error-BadRequestException-MaxDeliverySeconds", "PUT", "/v2/email/configuration-sets/plain/delivery-options", `{"MaxDeliverySeconds":50401}`, 400},
	} {
		status, _, body := signedCall(t, srv, ten, st.method, st.path, []byte(st.body))
		if status != st.status {
			t.Errorf("%s: status %d, want %d: %s", st.name, status, st.status, body)
		}
		checkGolden(t, st.name, body, none)
	}
}

// TestConfigurationSetBadBodies: bad input the SDKs cannot send, as any
// HTTP client may: each is BadRequestException (or SerializationException
// for a body that is not JSON) saying what is wrong, and changes nothing.
func TestConfigurationSetBadBodies(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSetBadBodies(t, backend) })
	}
}

func testConfigurationSetBadBodies(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ten := tenants["acme"]
	if err := s.ConfigSets.Create(t.Context(), configset.ConfigurationSet{Account: "acme", Name: "cs", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	before, err := s.ConfigSets.Get(t.Context(), "acme", "cs")
	if err != nil {
		t.Fatal(err)
	}
	arn := url.QueryEscape(testConfigSetARN(t, s, "acme", "cs"))
	const base = "/v2/email/configuration-sets"
	for _, c := range []struct {
		method, path, body, code, says string
	}{
		{"POST", base, `{}`, "BadRequestException", "ConfigurationSetName is required"},
		{"POST", base, `{"ConfigurationSetName":""}`, "BadRequestException", "1-64"},
		{"POST", base, `{"ConfigurationSetName":"x","DeliveryOptions":{"MaxDeliverySeconds":0}}`, "BadRequestException", "MaxDeliverySeconds 0"},
		{"POST", base, `{"ConfigurationSetName":"x","VdmOptions":[1]}`, "BadRequestException", "VdmOptions"},
		{"POST", base, `{"ConfigurationSetName":"x","Tags":[{"Key":"","Value":"v"}]}`, "BadRequestException", "Key"},
		{"POST", base, `{"ConfigurationSetName":"x"`, "SerializationException", "Malformed JSON"},
		{"GET", base + "/a.b", "", "BadRequestException", "ConfigurationSetName"},
		{"PUT", base + "/cs/sending", `{"SendingEnabled":"no"}`, "BadRequestException", "SendingEnabled"},
		{"PUT", base + "/cs/reputation-options", `{"ReputationMetricsEnabled":1}`, "BadRequestException", "ReputationMetricsEnabled"},
		{"PUT", base + "/cs/vdm-options", `{"VdmOptions":"ENABLED"}`, "BadRequestException", "VdmOptions"},
		{"PUT", base + "/cs/archiving-options", `{"ArchiveArn":"archive-1"}`, "BadRequestException", "ArchiveArn"},
		{"PUT", base + "/cs/tracking-options", `{"CustomRedirectDomain":"track example"}`, "BadRequestException", "CustomRedirectDomain"},
		{"PUT", base + "/cs/delivery-options", `{"TlsPolicy":"require"}`, "BadRequestException", "TlsPolicy"},
		{"PUT", base + "/cs/suppression-options", `{"SuppressedReasons":["BOUNCE"],"ValidationOptions":{}}`, "BadRequestException", "ValidationOptions"},
		{"POST", "/v2/email/list-configuration-sets", `{"PageSize":-1}`, "BadRequestException", "PageSize"},
		{"GET", base + "?PageSize=many", "", "BadRequestException", "PageSize"},
		{"GET", base + "?NextToken=%21", "", "BadRequestException", "NextToken"},
		{"POST", "/v2/email/tags", `{"Tags":[{"Key":"k","Value":"v"}]}`, "BadRequestException", "ResourceArn is required"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `"}`, "BadRequestException", "Tags is required"},
		{"GET", "/v2/email/tags", "", "BadRequestException", "ResourceArn is required"},
		{"DELETE", "/v2/email/tags?ResourceArn=" + arn, "", "BadRequestException", "TagKeys is required"},
		{"DELETE", "/v2/email/tags?ResourceArn=" + arn + "&TagKeys=", "", "BadRequestException", "TagKeys"},
		{"GET", "/v2/email/tags?ResourceArn=" + url.QueryEscape("arn:aws:ses:us-east-1:123456789012:dedicated-ip-pool/p"), "", "BadRequestException", "Petrel tags configuration sets, identities and templates only"},
		// Every option in SES's shape and ranges (issue 13 review).
		{"POST", base, `{"ConfigurationSetName":"x","ReputationOptions":{"LastFreshStart":1e300}}`, "BadRequestException", "LastFreshStart"},
		{"POST", base, `{"ConfigurationSetName":"x","ReputationOptions":{"LastFreshStart":-1000000000000}}`, "BadRequestException", "LastFreshStart"},
		{"POST", base, `{"ConfigurationSetName":"x","ReputationOptions":{"LastFreshStart":0}}`, "BadRequestException", "LastFreshStart"},
		{"POST", base, `{"ConfigurationSetName":"x","ReputationOptions":{"LastFreshStart":32503680000}}`, "BadRequestException", "LastFreshStart"}, // year 3000
		{"POST", base, `{"ConfigurationSetName":"x","VdmOptions":{"GuardianOptions":{"OptimizedSharedDelivery":"on"}}}`, "BadRequestException", "VdmOptions.GuardianOptions.OptimizedSharedDelivery"},
		{"POST", base, `{"ConfigurationSetName":"x","ArchivingOptions":{"ArchiveArn":"arn:aws"}}`, "BadRequestException", "ArchiveArn"},
		{"POST", base, `{"ConfigurationSetName":"x","TrackingOptions":{"HttpsPolicy":""}}`, "BadRequestException", "HttpsPolicy"},
		{"POST", base, `{"ConfigurationSetName":"x","DeliveryOptions":{"TlsPolicy":""}}`, "BadRequestException", "TlsPolicy"},
		{"POST", base, `{"ConfigurationSetName":"x","Tags":[{"Key":"aws:cost","Value":"v"}]}`, "BadRequestException", "reserved"},
		{"PUT", base + "/cs/delivery-options", `{"TlsPolicy":""}`, "BadRequestException", "TlsPolicy"},
		{"PUT", base + "/cs/delivery-options", `{"SendingPoolName":"` + strings.Repeat("p", 65) + `"}`, "BadRequestException", "SendingPoolName"},
		{"PUT", base + "/cs/tracking-options", `{"HttpsPolicy":"ALWAYS"}`, "BadRequestException", "HttpsPolicy"},
		{"PUT", base + "/cs/tracking-options", `{"HttpsPolicy":""}`, "BadRequestException", "HttpsPolicy"},
		{"PUT", base + "/cs/tracking-options", `{"CustomRedirectDomain":"track..example"}`, "BadRequestException", "CustomRedirectDomain"},
		{"PUT", base + "/cs/vdm-options", `{"VdmOptions":{"DashboardOptions":{"EngagementMetrics":"maybe"}}}`, "BadRequestException", "VdmOptions.DashboardOptions.EngagementMetrics"},
		{"PUT", base + "/cs/vdm-options", `{"VdmOptions":{"DashboardOptions":{"EngagementMetrics":""}}}`, "BadRequestException", "VdmOptions.DashboardOptions.EngagementMetrics"},
		{"PUT", base + "/cs/vdm-options", `{"VdmOptions":{"GuardianOptions":{"OptimizedSharedDelivery":"enabled"}}}`, "BadRequestException", "VdmOptions.GuardianOptions.OptimizedSharedDelivery"},
		{"PUT", base + "/cs/vdm-options", `{"VdmOptions":{"DashboardOptions":"x"}}`, "BadRequestException", "DashboardOptions"},
		{"PUT", base + "/cs/archiving-options", `{"ArchiveArn":"arn:aws:ses:us-east-1:1:` + strings.Repeat("a", 2048) + `"}`, "BadRequestException", "ArchiveArn"},
		{"PUT", base + "/cs/archiving-options", `{"ArchiveArn":"arn:aws:ses:us-east-1:1:mailmanager-archive/a b"}`, "BadRequestException", "ArchiveArn"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"aws:x","Value":"v"}]}`, "BadRequestException", "reserved"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"AWS:x","Value":"v"}]}`, "BadRequestException", "reserved"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"k","Value":"aws:v"}]}`, "BadRequestException", "reserved"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"k\u0000","Value":"v"}]}`, "BadRequestException", "Key"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"k;","Value":"v"}]}`, "BadRequestException", "Key"},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + testConfigSetARN(t, s, "acme", "cs") + `","Tags":[{"Key":"k","Value":"v\n<script>"}]}`, "BadRequestException", "Value"},
		{"DELETE", "/v2/email/tags?ResourceArn=" + arn + "&TagKeys=aws%3Ax", "", "BadRequestException", "reserved"},
	} {
		status, code, body := signedCall(t, srv, ten, c.method, c.path, []byte(c.body))
		if status != 400 || code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("%s %s %s: %d %s %s, want 400 %s saying %q", c.method, c.path, c.body, status, code, body, c.code, c.says)
		}
	}
	after, err := s.ConfigSets.Get(t.Context(), "acme", "cs")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(after)
	b, _ := json.Marshal(before)
	if string(a) != string(b) {
		t.Errorf("set changed by bad input:\n%s\nwas\n%s", a, b)
	}
	if names, _ := s.ConfigSets.List(t.Context(), "acme", "", 10); !slices.Equal(names, []string{"cs"}) {
		t.Errorf("sets = %v", names)
	}
}

// TestConfigurationSetOptionsCanonical (issue 13 review): options are
// stored in SES's shape, not as given: VdmOptions' and ArchivingOptions'
// unknown members are dropped (a 100 kB one stores nothing of it); a tag
// without Value has the empty value (SES: Tag.Value is optional); tags of
// Unicode letters and every symbol SES allows are taken.
func TestConfigurationSetOptionsCanonical(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testConfigurationSetOptionsCanonical(t, backend) })
	}
}

func testConfigurationSetOptionsCanonical(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
	ten := tenants["acme"]
	ctx := t.Context()
	junk := strings.Repeat("x", 100000)
	arn := testConfigSetARN(t, s, "acme", "cs")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v2/email/configuration-sets", `{"ConfigurationSetName":"cs","VdmOptions":{"Junk":"` + junk + `"},"ArchivingOptions":{"ArchiveArn":"arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1","Junk":"` + junk + `"}}`},
		{"PUT", "/v2/email/configuration-sets/cs/vdm-options", `{"VdmOptions":{"Junk":"` + junk + `","DashboardOptions":{"EngagementMetrics":"DISABLED","More":"` + junk + `"}}}`},
		{"POST", "/v2/email/tags", `{"ResourceArn":"` + arn + `","Tags":[{"Key":"no-value"},{"Key":"Ünï 2_.:/=+-@","Value":"データ ٣ _.:/=+-@"}]}`},
	} {
		if status, _, body := signedDo(t, srv, ten, c.method, c.path, []byte(c.body)); status != 200 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, status, body)
		}
	}
	status, _, body := signedDo(t, srv, ten, "GET", "/v2/email/configuration-sets/cs", nil)
	if status != 200 {
		t.Fatalf("get: %d %s", status, body)
	}
	var got struct {
		VdmOptions, ArchivingOptions json.RawMessage
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.VdmOptions) != `{"DashboardOptions":{"EngagementMetrics":"DISABLED"}}` ||
		string(got.ArchivingOptions) != `{"ArchiveArn":"arn:aws:ses:us-east-1:123456789012:mailmanager-archive/a-1"}` {
		t.Errorf("stored VdmOptions %s ArchivingOptions %s, want SES's members only", got.VdmOptions, got.ArchivingOptions)
	}
	cs, err := s.ConfigSets.Get(ctx, "acme", "cs")
	if err != nil {
		t.Fatal(err)
	}
	if row, _ := json.Marshal(cs); len(row) > 2000 {
		t.Errorf("the set takes %d bytes after 100 kB of unknown members: they were kept", len(row))
	}
	out, err := sesClient(srv.URL, ten, 1).ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if m := tagMap(out.Tags); len(m) != 2 || m["no-value"] != "" || m["Ünï 2_.:/=+-@"] != "データ ٣ _.:/=+-@" {
		t.Errorf("tags = %v", m)
	}
}

// TestPutConfigurationSetSendingOptionsEmpty: SES's model defaults
// SendingEnabled to false and the SDKs leave false out, so a body without
// SendingEnabled ({} or none) pauses the set, as docs/configuration-sets.md
// says; {"SendingEnabled":true} resumes it.
func TestPutConfigurationSetSendingOptionsEmpty(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	ten := tenants["acme"]
	ctx := t.Context()
	if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "acme", Name: "cs", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		want bool
	}{{`{}`, false}, {`{"SendingEnabled":true}`, true}, {``, false}, {`{"SendingEnabled":true}`, true}, {`{"SendingEnabled":false}`, false}} {
		if status, _, body := signedDo(t, srv, ten, "PUT", "/v2/email/configuration-sets/cs/sending", []byte(c.body)); status != 200 {
			t.Fatalf("%q: %d %s", c.body, status, body)
		}
		got, err := s.ConfigSets.Get(ctx, "acme", "cs")
		if err != nil {
			t.Fatal(err)
		}
		if got.SendingEnabled != c.want {
			t.Errorf("after %q: SendingEnabled %v, want %v", c.body, got.SendingEnabled, c.want)
		}
	}
}

// TestListConfigurationSetsPageSizeZero: PageSize is 0–1000 as the shared
// pageSize helper (and ListEmailIdentities, ListImportJobs) reads it: 0 is
// the default page of 100, out of range is BadRequestException saying the
// range docs/configuration-sets.md gives.
func TestListConfigurationSetsPageSizeZero(t *testing.T) {
	srv, _, tenants, db := startAPI(t, 256<<20, "acme")
	ctx := t.Context()
	fillConfigSets(t, db, "acme", 150)
	ses := sesClient(srv.URL, tenants["acme"], 1)
	out, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ConfigurationSets) != 100 || aws.ToString(out.NextToken) == "" {
		t.Errorf("PageSize 0: %d names, NextToken %q; want the default page of 100", len(out.ConfigurationSets), aws.ToString(out.NextToken))
	}
	for _, size := range []int32{-1, 1001} {
		_, err := ses.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{PageSize: aws.Int32(size)})
		if errCode(err) != "BadRequestException" || !strings.Contains(err.Error(), "PageSize must be an integer between 0 and 1000") {
			t.Errorf("PageSize %d: %v", size, err)
		}
	}
}
