package api

import (
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/store"
)

// TestV1IdentityPolicies: PutIdentityPolicy (create, then replace),
// GetIdentityPolicies, ListIdentityPolicies and DeleteIdentityPolicy
// through aws-sdk-go-v2 service/ses on both stores, by name and by ARN;
// what v1 stores is what v2 reads; SES's v1 errors: InvalidPolicy for a
// document SES refuses, InvalidParameterValue for an identity the caller
// does not have or a bad policy name, LimitExceeded for a 21st policy.
func TestV1IdentityPolicies(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testV1IdentityPolicies(t, backend) })
	}
}

func testV1IdentityPolicies(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "mallory")
	ctx := t.Context()
	v1 := v1Client(srv.URL, tenants["acme"])
	v2 := sesClient(srv.URL, tenants["acme"], 1)
	arn := testIdentityARN(t, s, "acme", "acme.example")
	doc := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"s","Effect":"Allow","Principal":{"AWS":"` + principal +
			`"},"Action":["ses:SendEmail","ses:SendRawEmail"],"Resource":"` + arn + `"}]}`
	}
	put := func(c *ses.Client, id, name, policy string) error {
		_, err := c.PutIdentityPolicy(ctx, &ses.PutIdentityPolicyInput{Identity: aws.String(id), PolicyName: aws.String(name), Policy: aws.String(policy)})
		return err
	}
	list := func(id string) []string {
		t.Helper()
		out, err := v1.ListIdentityPolicies(ctx, &ses.ListIdentityPoliciesInput{Identity: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		return out.PolicyNames
	}
	get := func(id string, names ...string) map[string]string {
		t.Helper()
		out, err := v1.GetIdentityPolicies(ctx, &ses.GetIdentityPoliciesInput{Identity: aws.String(id), PolicyNames: names})
		if err != nil {
			t.Fatal(err)
		}
		return out.Policies
	}

	// Create, then replace: Put does both.
	if err := put(v1, "acme.example", "p1", doc("111122223333")); err != nil {
		t.Fatal(err)
	}
	if got := get("acme.example", "p1", "absent"); !maps.Equal(got, map[string]string{"p1": doc("111122223333")}) {
		t.Errorf("after create: %v", got)
	}
	if err := put(v1, arn, "p1", doc("444455556666")); err != nil {
		t.Fatal(err)
	}
	if got := get(arn, "p1"); !maps.Equal(got, map[string]string{"p1": doc("444455556666")}) {
		t.Errorf("after replace (by ARN): %v", got)
	}
	if got := list("acme.example"); len(got) != 1 || got[0] != "p1" {
		t.Errorf("ListIdentityPolicies: %v", got)
	}
	// The v2 API reads what v1 wrote.
	v2out, err := v2.GetEmailIdentityPolicies(ctx, &sesv2.GetEmailIdentityPoliciesInput{EmailIdentity: aws.String("acme.example")})
	if err != nil || v2out.Policies["p1"] != doc("444455556666") {
		t.Errorf("v2 GetEmailIdentityPolicies: %v %v", v2out, err)
	}

	good := doc("111122223333")
	for _, c := range []struct {
		name                       string
		client                     *ses.Client
		identity, policyName, body string
		code, text                 string
	}{
		{"bad JSON", v1, "acme.example", "p2", `{"Statement": [`, "InvalidPolicy", "not a valid JSON object"},
		{"bad principal", v1, "acme.example", "p2", doc("someone"), "InvalidPolicy", `Principal "someone" is not a valid principal`},
		{"other resource", v1, "acme.example", "p2", strings.Replace(good, "acme.example", "other.example", 1), "InvalidPolicy", "is not this identity"},
		{"bad name", v1, "acme.example", "bad.name", good, "InvalidParameterValue", "PolicyName"},
		{"unknown identity", v1, "nope.example", "p2", good, "InvalidParameterValue", "does not exist"},
		{"another account's identity", v1Client(srv.URL, tenants["mallory"]), "acme.example", "p2", good, "InvalidParameterValue", "does not exist"},
		{"another account's ARN", v1Client(srv.URL, tenants["mallory"]), arn, "p2", good, "InvalidParameterValue", "does not exist"},
		{"not an identity ARN", v1, "arn:aws:sns:us-east-1:111111111111:topic", "p2", good, "InvalidParameterValue", "not an identity ARN"},
	} {
		if code, msg := v1Code(put(c.client, c.identity, c.policyName, c.body)); code != c.code || !strings.Contains(msg, c.text) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.name, code, msg, c.code, c.text)
		}
	}
	if got := list("acme.example"); len(got) != 1 {
		t.Errorf("a refused Put stored something: %v", got)
	}

	// 20 policies at most: replacing one of them is fine, a 21st is not.
	for i := 2; i <= 20; i++ {
		if err := put(v1, "acme.example", fmt.Sprintf("p%d", i), good); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(v1, "acme.example", "p20", doc("444455556666")); err != nil {
		t.Errorf("replacing the 20th: %v", err)
	}
	if code, _ := v1Code(put(v1, "acme.example", "p21", good)); code != "LimitExceeded" {
		t.Errorf("21st policy: %v", code)
	}
	if got := get("acme.example", "p3", "p20"); len(got) != 2 || got["p20"] != doc("444455556666") {
		t.Errorf("GetIdentityPolicies p3 p20: %v", got)
	}

	// Delete: the policy goes; deleting it again, or one never made, is fine.
	for range 2 {
		if _, err := v1.DeleteIdentityPolicy(ctx, &ses.DeleteIdentityPolicyInput{Identity: aws.String("acme.example"), PolicyName: aws.String("p1")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := get("acme.example", "p1"); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	if got := list("acme.example"); len(got) != 19 || got[0] != "p10" {
		t.Errorf("after delete: %v", got)
	}
	for _, c := range []struct {
		name string
		err  error
		code string
	}{
		{"delete, unknown identity", func() error {
			_, err := v1.DeleteIdentityPolicy(ctx, &ses.DeleteIdentityPolicyInput{Identity: aws.String("nope.example"), PolicyName: aws.String("p1")})
			return err
		}(), "InvalidParameterValue"},
		{"get, unknown identity", func() error {
			_, err := v1.GetIdentityPolicies(ctx, &ses.GetIdentityPoliciesInput{Identity: aws.String("nope.example"), PolicyNames: []string{"p1"}})
			return err
		}(), "InvalidParameterValue"},
		{"list, unknown identity", func() error {
			_, err := v1.ListIdentityPolicies(ctx, &ses.ListIdentityPoliciesInput{Identity: aws.String("nope.example")})
			return err
		}(), "InvalidParameterValue"},
		{"get, 21 names", func() error {
			names := make([]string, 21)
			for i := range names {
				names[i] = fmt.Sprintf("n%d", i)
			}
			_, err := v1.GetIdentityPolicies(ctx, &ses.GetIdentityPoliciesInput{Identity: aws.String("acme.example"), PolicyNames: names})
			return err
		}(), "InvalidParameterValue"},
	} {
		if code, _ := v1Code(c.err); code != c.code {
			t.Errorf("%s: %v, want %s", c.name, c.err, c.code)
		}
	}

	// The wire: empty answers still have their (required) elements; a
	// request without PolicyNames is a ValidationError.
	status, body := v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"ListIdentityPolicies"}, "Identity": {"acme.example"}})
	if status != 200 || !strings.Contains(string(body), "<PolicyNames><member>p10</member>") {
		t.Errorf("ListIdentityPolicies: %d %s", status, body)
	}
	status, body = v1Post(t, srv, tenants["mallory"], "ses", url.Values{"Action": {"ListIdentityPolicies"}, "Identity": {"mallory.example"}})
	if status != 200 || !strings.Contains(string(body), "<ListIdentityPoliciesResult><PolicyNames></PolicyNames></ListIdentityPoliciesResult>") {
		t.Errorf("ListIdentityPolicies, none: %d %s", status, body)
	}
	status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetIdentityPolicies"}, "Identity": {"acme.example"}, "PolicyNames": {""}})
	if status != 200 || !strings.Contains(string(body), "<GetIdentityPoliciesResult><Policies></Policies></GetIdentityPoliciesResult>") {
		t.Errorf("GetIdentityPolicies, no names: %d %s", status, body)
	}
	status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetIdentityPolicies"}, "Identity": {"acme.example"}})
	if e := parseV1Error(t, body); status != 400 || e.Error.Code != "ValidationError" || !strings.Contains(e.Error.Message, "PolicyNames") {
		t.Errorf("GetIdentityPolicies without PolicyNames: %d %+v", status, e)
	}
}

// TestV1IdentityNotifications: SetIdentityNotificationTopic,
// SetIdentityHeadersInNotificationsEnabled,
// SetIdentityFeedbackForwardingEnabled and
// GetIdentityNotificationAttributes through aws-sdk-go-v2 service/ses on
// both stores: the settings land where the notification router and the
// CLI read them (identity.Service.Settings); SES's rules: a topic must be
// one of the caller's SNS topics, clearing a Bounce or Complaint topic
// turns forwarding back on, forwarding can be turned off only with both
// topics set; identities the caller does not have are left out of Get.
func TestV1IdentityNotifications(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testV1IdentityNotifications(t, backend) })
	}
}

func testV1IdentityNotifications(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	s.Topics = testTopics{acmeTopic: "acme", otherTopic: "other"}
	ctx := t.Context()
	v1 := v1Client(srv.URL, tenants["acme"])
	arn := testIdentityARN(t, s, "acme", "acme.example")
	if _, err := s.Identities.Create(ctx, "acme", "user@acme.example", false); err != nil {
		t.Fatal(err)
	}
	setTopic := func(id, kind string, topic *string) error {
		_, err := v1.SetIdentityNotificationTopic(ctx, &ses.SetIdentityNotificationTopicInput{Identity: aws.String(id),
			NotificationType: types.NotificationType(kind), SnsTopic: topic})
		return err
	}
	setHeaders := func(id, kind string, on bool) error {
		_, err := v1.SetIdentityHeadersInNotificationsEnabled(ctx, &ses.SetIdentityHeadersInNotificationsEnabledInput{Identity: aws.String(id),
			NotificationType: types.NotificationType(kind), Enabled: on})
		return err
	}
	setForwarding := func(id string, on bool) error {
		_, err := v1.SetIdentityFeedbackForwardingEnabled(ctx, &ses.SetIdentityFeedbackForwardingEnabledInput{Identity: aws.String(id), ForwardingEnabled: on})
		return err
	}
	get := func(ids ...string) map[string]types.IdentityNotificationAttributes {
		t.Helper()
		out, err := v1.GetIdentityNotificationAttributes(ctx, &ses.GetIdentityNotificationAttributesInput{Identities: ids})
		if err != nil {
			t.Fatal(err)
		}
		return out.NotificationAttributes
	}
	type attrs struct {
		bounce, complaint, delivery string
		fwd, hb, hc, hd             bool
	}
	flat := func(a types.IdentityNotificationAttributes) attrs {
		return attrs{aws.ToString(a.BounceTopic), aws.ToString(a.ComplaintTopic), aws.ToString(a.DeliveryTopic),
			a.ForwardingEnabled, a.HeadersInBounceNotificationsEnabled, a.HeadersInComplaintNotificationsEnabled, a.HeadersInDeliveryNotificationsEnabled}
	}
	// stored is what the notification router and the CLI read.
	stored := func(name string) attrs {
		t.Helper()
		a, _, err := s.Identities.Settings(ctx, "acme", name)
		if err != nil {
			t.Fatal(err)
		}
		return attrs{a.BounceTopic, a.ComplaintTopic, a.DeliveryTopic, a.ForwardingEnabled, a.HeadersInBounce, a.HeadersInComplaint, a.HeadersInDelivery}
	}

	// An identity never changed: no topics (left out), forwarding on.
	got := get("acme.example", "nope.example", "other.example", arn, "ACME.Example", "acme.example", "arn:aws:ses:us-east-1:000000000000:identity/acme.example")
	if len(got) != 3 || flat(got["acme.example"]) != (attrs{fwd: true}) || got["acme.example"].BounceTopic != nil || flat(got[arn]) != (attrs{fwd: true}) ||
		flat(got["ACME.Example"]) != (attrs{fwd: true}) {
		t.Errorf("defaults: %+v", got)
	}

	// Forwarding cannot go off without both topics (v1's rule).
	if code, msg := v1Code(setForwarding("acme.example", false)); code != "InvalidParameterValue" || !strings.Contains(msg, "Feedback forwarding can only be disabled") {
		t.Errorf("forwarding off without topics: %s %q", code, msg)
	}
	for _, step := range []struct {
		name string
		do   func() error
		want attrs
	}{
		{"bounce topic", func() error { return setTopic("acme.example", "Bounce", aws.String(acmeTopic)) }, attrs{bounce: acmeTopic, fwd: true}},
		{"complaint topic by ARN", func() error { return setTopic(arn, "Complaint", aws.String(acmeTopic)) }, attrs{bounce: acmeTopic, complaint: acmeTopic, fwd: true}},
		{"delivery topic", func() error { return setTopic("acme.example", "Delivery", aws.String(acmeTopic)) }, attrs{acmeTopic, acmeTopic, acmeTopic, true, false, false, false}},
		{"forwarding off", func() error { return setForwarding("acme.example", false) }, attrs{acmeTopic, acmeTopic, acmeTopic, false, false, false, false}},
		{"headers in bounce", func() error { return setHeaders("acme.example", "Bounce", true) }, attrs{acmeTopic, acmeTopic, acmeTopic, false, true, false, false}},
		{"headers in complaint", func() error { return setHeaders("acme.example", "Complaint", true) }, attrs{acmeTopic, acmeTopic, acmeTopic, false, true, true, false}},
		{"headers in delivery", func() error { return setHeaders(arn, "Delivery", true) }, attrs{acmeTopic, acmeTopic, acmeTopic, false, true, true, true}},
		{"headers in bounce off", func() error { return setHeaders("acme.example", "Bounce", false) }, attrs{acmeTopic, acmeTopic, acmeTopic, false, false, true, true}},
		{"delivery topic cleared", func() error { return setTopic("acme.example", "Delivery", nil) }, attrs{acmeTopic, acmeTopic, "", false, false, true, true}},
		// Clearing the Bounce topic turns forwarding back on (SES).
		{"bounce topic cleared", func() error { return setTopic("acme.example", "Bounce", nil) }, attrs{"", acmeTopic, "", true, false, true, true}},
		{"forwarding on", func() error { return setForwarding("acme.example", true) }, attrs{"", acmeTopic, "", true, false, true, true}},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if g := flat(get("acme.example")["acme.example"]); g != step.want {
			t.Errorf("%s: GetIdentityNotificationAttributes %+v, want %+v", step.name, g, step.want)
		}
		if g := stored("acme.example"); g != step.want {
			t.Errorf("%s: stored %+v, want %+v", step.name, g, step.want)
		}
	}
	// Only the identity named changed.
	if g := get("user@acme.example"); flat(g["user@acme.example"]) != (attrs{fwd: true}) {
		t.Errorf("user@acme.example: %+v", g)
	}

	for _, c := range []struct {
		name       string
		err        error
		code, text string
	}{
		{"not an ARN", setTopic("acme.example", "Bounce", aws.String("bounces")), "InvalidParameterValue", "not an SNS topic ARN"},
		{"an SES ARN", setTopic("acme.example", "Bounce", aws.String(arn)), "InvalidParameterValue", "not an SNS topic ARN"},
		{"another account's topic", setTopic("acme.example", "Bounce", aws.String(otherTopic)), "InvalidParameterValue", "not a topic of this account"},
		{"no such topic", setTopic("acme.example", "Bounce", aws.String(acmeTopic+"-nope")), "InvalidParameterValue", "not a topic of this account"},
		{"unknown identity, topic", setTopic("nope.example", "Bounce", aws.String(acmeTopic)), "InvalidParameterValue", "does not exist"},
		{"other account's identity, topic", setTopic("other.example", "Bounce", nil), "InvalidParameterValue", "does not exist"},
		{"bad notification type", setTopic("acme.example", "Open", nil), "InvalidParameterValue", "NotificationType"},
		{"unknown identity, headers", setHeaders("nope.example", "Bounce", true), "InvalidParameterValue", "does not exist"},
		{"bad notification type, headers", setHeaders("acme.example", "Send", true), "InvalidParameterValue", "NotificationType"},
		{"unknown identity, forwarding", setForwarding("nope.example", true), "InvalidParameterValue", "does not exist"},
		{"forwarding off, one topic", setForwarding("acme.example", false), "InvalidParameterValue", "both bounces and complaints"},
	} {
		if code, msg := v1Code(c.err); code != c.code || !strings.Contains(msg, c.text) {
			t.Errorf("%s: %s %q, want %s containing %q", c.name, code, msg, c.code, c.text)
		}
	}
	if g := stored("acme.example"); g != (attrs{"", acmeTopic, "", true, false, true, true}) {
		t.Errorf("refused requests changed the settings: %+v", g)
	}

	// The v2 API's PutEmailIdentityFeedbackAttributes (v2's rule: off
	// whatever the topics) and the v1 API see the same setting.
	if _, err := sesClient(srv.URL, tenants["acme"], 1).PutEmailIdentityFeedbackAttributes(ctx, &sesv2.PutEmailIdentityFeedbackAttributesInput{
		EmailIdentity: aws.String("user@acme.example"), EmailForwardingEnabled: false}); err != nil {
		t.Fatal(err)
	}
	if g := get("user@acme.example"); g["user@acme.example"].ForwardingEnabled {
		t.Errorf("after v2 forwarding off: %+v", g)
	}

	// The wire: a topic left out has no element; a request without
	// Identities or Enabled is a ValidationError; more than 100
	// identities is refused; a Petrel without SNS refuses topics.
	status, body := v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetIdentityNotificationAttributes"}, "Identities.member.1": {"acme.example"}})
	if status != 200 || !strings.Contains(string(body), "<entry><key>acme.example</key><value><ComplaintTopic>"+acmeTopic+"</ComplaintTopic><ForwardingEnabled>true</ForwardingEnabled>") ||
		strings.Contains(string(body), "BounceTopic") {
		t.Errorf("GetIdentityNotificationAttributes: %d %s", status, body)
	}
	status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"GetIdentityNotificationAttributes"}, "Identities": {""}})
	if status != 200 || !strings.Contains(string(body), "<NotificationAttributes></NotificationAttributes>") {
		t.Errorf("GetIdentityNotificationAttributes, none: %d %s", status, body)
	}
	for _, form := range []url.Values{
		{"Action": {"GetIdentityNotificationAttributes"}},
		{"Action": {"SetIdentityHeadersInNotificationsEnabled"}, "Identity": {"acme.example"}, "NotificationType": {"Bounce"}},
		{"Action": {"SetIdentityFeedbackForwardingEnabled"}, "Identity": {"acme.example"}},
		{"Action": {"SetIdentityNotificationTopic"}, "Identity": {"acme.example"}},
	} {
		status, body := v1Post(t, srv, tenants["acme"], "ses", form)
		if e := parseV1Error(t, body); status != 400 || e.Error.Code != "ValidationError" {
			t.Errorf("%v: %d %+v", form, status, e)
		}
	}
	status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"SetIdentityFeedbackForwardingEnabled"}, "Identity": {"acme.example"}, "ForwardingEnabled": {"maybe"}})
	if e := parseV1Error(t, body); status != 400 || e.Error.Code != "InvalidParameterValue" {
		t.Errorf("ForwardingEnabled=maybe: %d %+v", status, e)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@acme.example", i)
	}
	if _, err := v1.GetIdentityNotificationAttributes(ctx, &ses.GetIdentityNotificationAttributesInput{Identities: many}); fmtCode(err) == "" ||
		!strings.HasPrefix(fmtCode(err), "InvalidParameterValue") {
		t.Errorf("101 identities: %v", err)
	}
	s.Topics = nil
	if code, msg := v1Code(setTopic("acme.example", "Bounce", aws.String(acmeTopic))); code != "InvalidParameterValue" || !strings.Contains(msg, "serves no SNS topics") {
		t.Errorf("no SNS: %s %q", code, msg)
	}
	if g := stored("acme.example"); g.bounce != "" {
		t.Errorf("no SNS: the topic was set")
	}
}
