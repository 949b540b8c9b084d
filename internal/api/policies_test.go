package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/store"
)

// testIdentityARN is the ARN of account's identity name.
func testIdentityARN(t *testing.T, s *Server, account, name string) string {
	t.Helper()
	a, err := s.Accounts.Get(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	return "arn:aws:ses:us-east-1:" + a.SendingAccountID + ":identity/" + name
}

// TestIdentityPolicies: the four policy operations through aws-sdk-go-v2,
// with SES's errors for bad input, and GetEmailIdentity.Policies.
func TestIdentityPolicies(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testIdentityPolicies(t, backend) })
	}
}

func testIdentityPolicies(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "mallory")
	ctx := t.Context()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	other := sesClient(srv.URL, tenants["mallory"], 1)
	arn := testIdentityARN(t, s, "acme", "acme.example")
	doc := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"s","Effect":"Allow","Principal":{"AWS":"` + principal +
			`"},"Action":["ses:SendEmail","ses:SendRawEmail"],"Resource":"` + arn + `"}]}`
	}
	good := doc("111122223333")
	create := func(c *sesv2.Client, identity, name, policy string) error {
		_, err := c.CreateEmailIdentityPolicy(ctx, &sesv2.CreateEmailIdentityPolicyInput{EmailIdentity: aws.String(identity), PolicyName: aws.String(name), Policy: aws.String(policy)})
		return err
	}
	if err := create(ses, "acme.example", "p1", good); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name                       string
		client                     *sesv2.Client
		identity, policyName, body string
		code, text                 string
	}{
		{"exists", ses, "acme.example", "p1", good, "AlreadyExistsException", "already exists"},
		{"bad JSON", ses, "acme.example", "p2", `{"Statement": [`, "BadRequestException", "not a valid JSON object"},
		{"bad principal", ses, "acme.example", "p2", doc("someone"), "BadRequestException", `Principal "someone" is not a valid principal`},
		{"too long", ses, "acme.example", "p2", `{"Id":"` + strings.Repeat("x", 4100) + `"}`, "BadRequestException", "at most 4096"},
		{"bad name", ses, "acme.example", "bad.name", good, "BadRequestException", "PolicyName"},
		{"long name", ses, "acme.example", strings.Repeat("n", 65), good, "BadRequestException", "PolicyName"},
		{"unsupported condition", ses, "acme.example", "p2", strings.Replace(good, `"}]}`, `","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`, 1), "BadRequestException", "not supported"},
		{"duplicate key", ses, "acme.example", "p2", strings.Replace(good, `"Effect":"Allow"`, `"Effect":"Allow","Effect":"Deny"`, 1), "BadRequestException", `member "Effect" appears more than once`},
		{"other resource", ses, "acme.example", "p2", strings.Replace(good, "acme.example", "other.example", 1), "BadRequestException", "is not this identity"},
		{"unknown identity", ses, "nope.example", "p2", good, "NotFoundException", "does not exist"},
		{"another account's identity", other, "acme.example", "p2", good, "NotFoundException", "does not exist"},
	}
	for _, c := range bad {
		err := create(c.client, c.identity, c.policyName, c.body)
		if errCode(err) != c.code || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %s containing %q", c.name, err, c.code, c.text)
		}
	}
	for i := 2; i <= 20; i++ {
		if err := create(ses, "acme.example", fmt.Sprintf("p%d", i), good); err != nil {
			t.Fatal(err)
		}
	}
	if err := create(ses, "acme.example", "p21", good); errCode(err) != "LimitExceededException" {
		t.Fatalf("21st policy: %v", err)
	}
	updated := doc("arn:aws:iam::111122223333:root")
	if _, err := ses.UpdateEmailIdentityPolicy(ctx, &sesv2.UpdateEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("p1"), Policy: aws.String(updated)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.UpdateEmailIdentityPolicy(ctx, &sesv2.UpdateEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("absent"), Policy: aws.String(updated)}); errCode(err) != "NotFoundException" {
		t.Fatalf("update absent: %v", err)
	}
	if _, err := ses.UpdateEmailIdentityPolicy(ctx, &sesv2.UpdateEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("p1"), Policy: aws.String("[]")}); errCode(err) != "BadRequestException" {
		t.Fatalf("update bad: %v", err)
	}
	if _, err := other.UpdateEmailIdentityPolicy(ctx, &sesv2.UpdateEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("p1"), Policy: aws.String(good)}); errCode(err) != "NotFoundException" {
		t.Fatalf("another account updates: %v", err)
	}
	for _, c := range []*sesv2.Client{other} {
		if _, err := c.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("p1")}); errCode(err) != "NotFoundException" {
			t.Fatalf("another account deletes: %v", err)
		}
		if _, err := c.GetEmailIdentityPolicies(ctx, &sesv2.GetEmailIdentityPoliciesInput{EmailIdentity: aws.String("acme.example")}); errCode(err) != "NotFoundException" {
			t.Fatalf("another account reads: %v", err)
		}
	}
	for i := 2; i <= 20; i++ {
		if _, err := ses.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String(fmt.Sprintf("p%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// SES: deleting a policy the identity does not have succeeds.
	if _, err := ses.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("acme.example"), PolicyName: aws.String("p2")}); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := ses.DeleteEmailIdentityPolicy(ctx, &sesv2.DeleteEmailIdentityPolicyInput{EmailIdentity: aws.String("nope.example"), PolicyName: aws.String("p2")}); errCode(err) != "NotFoundException" {
		t.Fatalf("delete on an unknown identity: %v", err)
	}
	got, err := ses.GetEmailIdentityPolicies(ctx, &sesv2.GetEmailIdentityPoliciesInput{EmailIdentity: aws.String("acme.example")})
	if err != nil || len(got.Policies) != 1 || got.Policies["p1"] != updated {
		t.Fatalf("GetEmailIdentityPolicies: %v %v", got, err)
	}
	gi, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("acme.example")})
	if err != nil || len(gi.Policies) != 1 || gi.Policies["p1"] != updated {
		t.Fatalf("GetEmailIdentity.Policies: %v %v", gi, err)
	}
	if _, err := ses.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("acme.example")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("acme.example")}); err != nil {
		t.Fatal(err)
	}
	if got, err := ses.GetEmailIdentityPolicies(ctx, &sesv2.GetEmailIdentityPoliciesInput{EmailIdentity: aws.String("acme.example")}); err != nil || len(got.Policies) != 0 {
		t.Fatalf("recreated identity has policies: %v %v", got, err)
	}
}

// TestIdentityTags: CreateEmailIdentity.Tags, TagResource, UntagResource,
// ListTagsForResource on identity ARNs and GetEmailIdentity.Tags, through
// aws-sdk-go-v2; PutEmailIdentityConfigurationSetAttributes sets and
// clears the default set.
func TestIdentityTags(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testIdentityTags(t, backend) })
	}
}

func testIdentityTags(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "mallory")
	ctx := t.Context()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	other := sesClient(srv.URL, tenants["mallory"], 1)
	tg := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("tagged.example"),
		Tags: []types.Tag{tg("team", "mail"), tg("env", "prod")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("badtag.example"),
		Tags: []types.Tag{tg("", "x")}}); errCode(err) != "BadRequestException" {
		t.Fatalf("bad tag key: %v", err)
	}
	if _, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("badtag.example")}); errCode(err) != "NotFoundException" {
		t.Fatalf("identity with bad tags was created: %v", err)
	}
	arn := aws.String(testIdentityARN(t, s, "acme", "tagged.example"))
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{tg("env", "test"), tg("cost", "42")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || fmt.Sprint(tagMap(lt.Tags)) != "map[cost:42 env:test]" {
		t.Fatalf("ListTagsForResource: %v %v", tagMap(lt.Tags), err)
	}
	gi, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("tagged.example")})
	if err != nil || fmt.Sprint(tagMap(gi.Tags)) != "map[cost:42 env:test]" {
		t.Fatalf("GetEmailIdentity.Tags: %v %v", gi, err)
	}
	var many []types.Tag
	for i := range 49 {
		many = append(many, tg(fmt.Sprintf("k%d", i), "v"))
	}
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn, Tags: many}); errCode(err) != "BadRequestException" {
		t.Fatalf("51 tags: %v", err)
	}
	if _, err := other.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{tg("x", "y")}}); errCode(err) != "NotFoundException" {
		t.Fatalf("another account tags: %v", err)
	}
	if _, err := other.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn}); errCode(err) != "NotFoundException" {
		t.Fatalf("another account lists: %v", err)
	}
	if _, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(testIdentityARN(t, s, "acme", "absent.example"))}); errCode(err) != "NotFoundException" {
		t.Fatalf("unknown identity: %v", err)
	}

	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("defaults")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
		EmailIdentity: aws.String("tagged.example"), ConfigurationSetName: aws.String("defaults")}); err != nil {
		t.Fatal(err)
	}
	if gi, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("tagged.example")}); err != nil || aws.ToString(gi.ConfigurationSetName) != "defaults" {
		t.Fatalf("default set: %v %v", gi, err)
	}
	if _, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
		EmailIdentity: aws.String("tagged.example"), ConfigurationSetName: aws.String("absent")}); errCode(err) != "NotFoundException" {
		t.Fatalf("absent set: %v", err)
	}
	if _, err := other.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
		EmailIdentity: aws.String("tagged.example")}); errCode(err) != "NotFoundException" {
		t.Fatalf("another account's identity: %v", err)
	}
	if _, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{
		EmailIdentity: aws.String("tagged.example")}); err != nil {
		t.Fatal(err)
	}
	if gi, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("tagged.example")}); err != nil || gi.ConfigurationSetName != nil && *gi.ConfigurationSetName != "" {
		t.Fatalf("cleared default set: %v %v", aws.ToString(gi.ConfigurationSetName), err)
	}
}
