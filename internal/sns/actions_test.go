package sns_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/store"
)

// apiCode returns the AWS error code of err ("" for nil).
func apiCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.ErrorCode()
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := apiCode(t, err); got != code {
		t.Fatalf("%s: error %q (%v), want %s", what, got, err, code)
	}
}

// TestTopicActions: CreateTopic (idempotent on name and attributes),
// GetTopicAttributes, SetTopicAttributes, ListTopics with paging and
// DeleteTopic through the official SDK, and their SNS errors; one
// account never sees another's topics. On SQLite and PostgreSQL.
func TestTopicActions(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, "alice", "bob")
			ctx := t.Context()
			c := e.client("alice")
			out, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bounces"),
				Attributes: map[string]string{"DisplayName": "Bounces"}})
			if err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:sns:us-east-1:" + e.ten["alice"].id + ":bounces"
			if *out.TopicArn != arn {
				t.Fatalf("TopicArn %s, want %s", *out.TopicArn, arn)
			}
			again, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bounces"),
				Attributes: map[string]string{"DisplayName": "Bounces"}})
			if err != nil || *again.TopicArn != arn {
				t.Fatalf("CreateTopic again: %v %v", again, err)
			}
			_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bounces"),
				Attributes: map[string]string{"DisplayName": "Other"}})
			wantCode(t, "CreateTopic with different attributes", err, "InvalidParameter")
			for _, bad := range []string{"has space", "x.fifo", strings.Repeat("a", 257), "é"} {
				_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(bad)})
				wantCode(t, "CreateTopic "+bad, err, "InvalidParameter")
			}
			_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("x"), Attributes: map[string]string{"Bogus": "1"}})
			wantCode(t, "CreateTopic with an unknown attribute", err, "InvalidParameter")

			ga, err := c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &arn})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"TopicArn": arn, "Owner": e.ten["alice"].id, "DisplayName": "Bounces",
				"SubscriptionsConfirmed": "0", "SubscriptionsPending": "0", "SubscriptionsDeleted": "0", "SignatureVersion": "1"}
			for k, v := range want {
				if ga.Attributes[k] != v {
					t.Errorf("GetTopicAttributes %s = %q, want %q", k, ga.Attributes[k], v)
				}
			}
			if !strings.Contains(ga.Attributes["Policy"], arn) || ga.Attributes["EffectiveDeliveryPolicy"] == "" {
				t.Errorf("Policy/EffectiveDeliveryPolicy: %v", ga.Attributes)
			}
			if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &arn,
				AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
				t.Fatal(err)
			}
			ga, _ = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &arn})
			if ga.Attributes["SignatureVersion"] != "2" {
				t.Errorf("SignatureVersion after set: %q", ga.Attributes["SignatureVersion"])
			}
			for _, bad := range [][2]string{{"SignatureVersion", "3"}, {"Nope", "x"}, {"Policy", "{"}, {"DisplayName", "a\nb"}} {
				_, err = c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &arn, AttributeName: aws.String(bad[0]), AttributeValue: aws.String(bad[1])})
				wantCode(t, "SetTopicAttributes "+bad[0], err, "InvalidParameter")
			}

			// Another account sees nothing of alice's topic.
			b := e.client("bob")
			_, err = b.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &arn})
			wantCode(t, "bob GetTopicAttributes", err, "NotFound")
			_, err = b.Publish(ctx, &awssns.PublishInput{TopicArn: &arn, Message: aws.String("x")})
			wantCode(t, "bob Publish", err, "NotFound")
			lt, err := b.ListTopics(ctx, &awssns.ListTopicsInput{})
			if err != nil || len(lt.Topics) != 0 {
				t.Fatalf("bob ListTopics: %v %v", lt, err)
			}
			_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String("not-an-arn")})
			wantCode(t, "GetTopicAttributes not-an-arn", err, "InvalidParameter")

			// Paging: 100 per page.
			for i := range 120 {
				if _, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(fmt.Sprintf("t%03d", i))}); err != nil {
					t.Fatal(err)
				}
			}
			var all []string
			pages := 0
			p := awssns.NewListTopicsPaginator(c, &awssns.ListTopicsInput{})
			for p.HasMorePages() {
				pg, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(pg.Topics) > 100 {
					t.Fatalf("page of %d topics", len(pg.Topics))
				}
				for _, tp := range pg.Topics {
					all = append(all, *tp.TopicArn)
				}
			}
			if len(all) != 121 || pages != 2 {
				t.Fatalf("ListTopics: %d topics in %d pages, want 121 in 2", len(all), pages)
			}
			_, err = c.ListTopics(ctx, &awssns.ListTopicsInput{NextToken: aws.String("!!")})
			wantCode(t, "ListTopics bad NextToken", err, "InvalidParameter")

			if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: &arn}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: &arn}); err != nil {
				t.Fatalf("DeleteTopic of a deleted topic (SNS: success): %v", err)
			}
			_, err = c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &arn})
			wantCode(t, "GetTopicAttributes after delete", err, "NotFound")
			if err := e.svc.TopicExists(ctx, "alice", arn); err == nil {
				t.Fatal("TopicExists after delete")
			}
			if err := e.svc.TopicExists(ctx, "alice", all[1]); err != nil {
				t.Fatalf("TopicExists %s: %v", all[1], err)
			}
			if err := e.svc.TopicExists(ctx, "bob", all[1]); err == nil {
				t.Fatal("TopicExists for another account's topic")
			}
		})
	}
}

// TestSubscriptionActions: Subscribe (http, https, email, email-json;
// ReturnSubscriptionArn; Attributes), ListSubscriptions(ByTopic),
// Get/SetSubscriptionAttributes, ConfirmSubscription errors, Unsubscribe,
// Publish's validation, through the SDK.
func TestSubscriptionActions(t *testing.T) {
	e := start(t, "sqlite", "alice", "bob")
	ctx := t.Context()
	c := e.client("alice")
	arn := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events")})).TopicArn
	sub := newSubscriber(t, false)

	so, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL + "/hook")})
	if err != nil || *so.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe http: %v %v", so, err)
	}
	conf := sub.next()
	if conf.env.Type != "SubscriptionConfirmation" || conf.env.Token == "" {
		t.Fatalf("confirmation: %s", conf.body)
	}
	so, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email"), Endpoint: aws.String("ops@example.com"),
		ReturnSubscriptionArn: true})
	if err != nil || !strings.HasPrefix(*so.SubscriptionArn, arn+":") {
		t.Fatalf("Subscribe email ReturnSubscriptionArn: %v %v", so, err)
	}
	emailArn := *so.SubscriptionArn
	<-e.deliv.emails
	so, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email-json"), Endpoint: aws.String("json@example.com"),
		Attributes: map[string]string{"FilterPolicy": `{"eventType":["Bounce"]}`}, ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	jsonArn := *so.SubscriptionArn
	<-e.deliv.emails

	for _, bad := range []struct{ proto, endpoint string }{
		{"sqs", "arn:aws:sqs:us-east-1:1:q"},
		{"http", "https://127.0.0.1/x"},    // scheme must match the protocol
		{"https", "https://10.0.0.5/hook"}, // the URL checker refuses it
		{"email", "not an address"},
		{"email", "Name <a@example.com>"},
	} {
		_, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: &bad.proto, Endpoint: &bad.endpoint})
		wantCode(t, "Subscribe "+bad.proto+" "+bad.endpoint, err, "InvalidParameter")
	}
	_, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL + "/x"),
		Attributes: map[string]string{"FilterPolicy": `{"a": "not-an-array"}`}})
	wantCode(t, "Subscribe with a bad FilterPolicy", err, "InvalidParameter")
	_, err = e.client("bob").Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email"), Endpoint: aws.String("b@example.com")})
	wantCode(t, "bob Subscribe to alice's topic", err, "NotFound")

	ls, err := c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Subscriptions) != 3 {
		t.Fatalf("ListSubscriptionsByTopic: %d subscriptions", len(ls.Subscriptions))
	}
	for _, s := range ls.Subscriptions {
		if *s.SubscriptionArn != "PendingConfirmation" || *s.TopicArn != arn || *s.Owner != e.ten["alice"].id {
			t.Errorf("pending subscription listed as %+v", s)
		}
	}
	la, err := c.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{})
	if err != nil || len(la.Subscriptions) != 3 {
		t.Fatalf("ListSubscriptions: %v %v", la, err)
	}
	if lb, err := e.client("bob").ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{}); err != nil || len(lb.Subscriptions) != 0 {
		t.Fatalf("bob ListSubscriptions: %v %v", lb, err)
	}

	ga, err := c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &jsonArn})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Protocol": "email-json", "Endpoint": "json@example.com", "PendingConfirmation": "true",
		"FilterPolicy": `{"eventType":["Bounce"]}`, "FilterPolicyScope": "MessageAttributes", "RawMessageDelivery": "false", "TopicArn": arn} {
		if ga.Attributes[k] != v {
			t.Errorf("GetSubscriptionAttributes %s = %q, want %q", k, ga.Attributes[k], v)
		}
	}
	set := func(subArn, name, value string) error {
		_, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: &subArn, AttributeName: &name, AttributeValue: &value})
		return err
	}
	wantCode(t, "RawMessageDelivery on email", set(emailArn, "RawMessageDelivery", "true"), "InvalidParameter")
	wantCode(t, "bad FilterPolicy", set(emailArn, "FilterPolicy", `{"x":[{"bogus":1}]}`), "InvalidParameter")
	wantCode(t, "bad scope", set(emailArn, "FilterPolicyScope", "Everything"), "InvalidParameter")
	wantCode(t, "unknown attribute", set(emailArn, "Color", "blue"), "InvalidParameter")
	wantCode(t, "nested policy needs MessageBody scope", set(emailArn, "FilterPolicy", `{"mail":{"source":["a@b.c"]}}`), "InvalidParameter")
	if err := set(emailArn, "FilterPolicyScope", "MessageBody"); err != nil {
		t.Fatal(err)
	}
	if err := set(emailArn, "FilterPolicy", `{"mail":{"source":["a@b.c"]}}`); err != nil {
		t.Fatal(err)
	}
	ga, _ = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &emailArn})
	if ga.Attributes["FilterPolicyScope"] != "MessageBody" || ga.Attributes["FilterPolicy"] != `{"mail":{"source":["a@b.c"]}}` {
		t.Errorf("attributes after set: %v", ga.Attributes)
	}
	_, err = e.client("bob").GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &emailArn})
	wantCode(t, "bob GetSubscriptionAttributes", err, "NotFound")

	_, err = c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: &arn, Token: aws.String("wrong")})
	wantCode(t, "ConfirmSubscription with a wrong token", err, "InvalidParameter")
	cs, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: &arn, Token: &conf.env.Token, AuthenticateOnUnsubscribe: aws.String("true")})
	if err != nil {
		t.Fatal(err)
	}
	httpArn := *cs.SubscriptionArn
	ga, _ = c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &httpArn})
	if ga.Attributes["PendingConfirmation"] != "false" || ga.Attributes["ConfirmationWasAuthenticated"] != "true" {
		t.Errorf("after ConfirmSubscription: %v", ga.Attributes)
	}
	// Subscribing a confirmed endpoint again returns its ARN.
	so, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL + "/hook")})
	if err != nil || *so.SubscriptionArn != httpArn {
		t.Fatalf("Subscribe again: %v %v", so, err)
	}
	// AuthenticateOnUnsubscribe: the anonymous UnsubscribeURL is refused.
	resp, err := http.Get(e.srv.URL + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(httpArn))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("anonymous Unsubscribe of an authenticated subscription: %d, want 403", resp.StatusCode)
	}
	_, err = e.client("bob").Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &httpArn})
	wantCode(t, "bob Unsubscribe", err, "AuthorizationError")
	if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &httpArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &httpArn}); err != nil {
		t.Fatalf("Unsubscribe again (idempotent): %v", err)
	}
	_, err = c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String("garbage")})
	wantCode(t, "Unsubscribe garbage", err, "InvalidParameter")

	// Publish's validation.
	for name, in := range map[string]*awssns.PublishInput{
		"empty message":   {TopicArn: &arn, Message: aws.String("")},
		"long message":    {TopicArn: &arn, Message: aws.String(strings.Repeat("x", 256*1024+1))},
		"subject newline": {TopicArn: &arn, Message: aws.String("m"), Subject: aws.String("a\nb")},
		"json no default": {TopicArn: &arn, Message: aws.String(`{"http":"x"}`), MessageStructure: aws.String("json")},
		"json invalid":    {TopicArn: &arn, Message: aws.String(`{`), MessageStructure: aws.String("json")},
		"attribute type": {TopicArn: &arn, Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{
			"a": {DataType: aws.String("Float"), StringValue: aws.String("1")}}},
		"attribute number": {TopicArn: &arn, Message: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{
			"a": {DataType: aws.String("Number"), StringValue: aws.String("one")}}},
		"sms": {PhoneNumber: aws.String("+15555550100"), Message: aws.String("m")},
	} {
		_, err := c.Publish(ctx, in)
		wantCode(t, "Publish "+name, err, "InvalidParameter")
	}
	po, err := c.Publish(ctx, &awssns.PublishInput{TargetArn: &arn, Message: aws.String("hello")})
	if err != nil || po.MessageId == nil || len(*po.MessageId) != 36 {
		t.Fatalf("Publish with TargetArn: %v %v", po, err)
	}

	// Deleting the topic deletes its subscriptions.
	if _, err := c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: &arn}); err != nil {
		t.Fatal(err)
	}
	if la, _ := c.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{}); len(la.Subscriptions) != 0 {
		t.Fatalf("subscriptions left after DeleteTopic: %v", la.Subscriptions)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// rawCall sends a Query request signed (creds non-nil) or not, and
// returns the status and body.
func rawCall(t *testing.T, e *env, creds *aws.Credentials, region string, form url.Values) (int, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest("POST", e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if creds != nil {
		sum := sha256hex([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), *creds, req, sum, "sns", region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAuthAndErrors: the Query endpoint's authentication and error shapes
// (ErrorResponse with Type, Code, Message, RequestId in SNS's namespace).
func TestAuthAndErrors(t *testing.T) {
	e := start(t, "sqlite", "alice")
	creds := e.ten["alice"].creds
	wrong := creds
	flip := "x"
	if strings.HasPrefix(wrong.SecretAccessKey, flip) {
		flip = "y"
	}
	wrong.SecretAccessKey = flip + wrong.SecretAccessKey[1:]
	unknown := aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}
	cases := []struct {
		name   string
		creds  *aws.Credentials
		region string
		form   url.Values
		status int
		code   string
	}{
		{"unknown action", &creds, "us-east-1", url.Values{"Action": {"CreatePlatformApplication"}, "Version": {"2010-03-31"}}, 400, "InvalidAction"},
		{"missing action", &creds, "us-east-1", url.Values{"Version": {"2010-03-31"}}, 400, "MissingAction"},
		{"unsigned Publish", nil, "", url.Values{"Action": {"Publish"}, "TopicArn": {"arn:aws:sns:us-east-1:1:x"}, "Message": {"m"}}, 403, "MissingAuthenticationToken"},
		{"wrong secret", &wrong, "us-east-1", url.Values{"Action": {"ListTopics"}}, 403, "SignatureDoesNotMatch"},
		{"unknown key", &unknown, "us-east-1", url.Values{"Action": {"ListTopics"}}, 403, "InvalidClientTokenId"},
		{"other region", &creds, "eu-west-1", url.Values{"Action": {"ListTopics"}}, 403, "SignatureDoesNotMatch"},
		{"missing parameter", &creds, "us-east-1", url.Values{"Action": {"GetTopicAttributes"}}, 400, "InvalidParameter"},
		{"malformed list index", &creds, "us-east-1", url.Values{"Action": {"CreateTopic"}, "Name": {"a"}, "Attributes.entry.x.key": {"DisplayName"}}, 400, "MalformedQueryString"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, e, tc.creds, tc.region, tc.form)
			if status != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("status %d body %s; want %d %s", status, body, tc.status, tc.code)
			}
			if !strings.Contains(body, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">`) ||
				!strings.Contains(body, "<Type>Sender</Type>") || !strings.Contains(body, "<RequestId>") {
				t.Fatalf("error shape: %s", body)
			}
		})
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestConcurrentCreate: concurrent CreateTopic and Subscribe calls for
// the same name and endpoint all succeed and make one topic and one
// subscription (the second insert is refused by the unique index and the
// retry finds the first), on SQLite and PostgreSQL.
func TestConcurrentCreate(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, "alice")
			ctx := t.Context()
			c := e.client("alice")
			const n = 8
			errs := make(chan error, 2*n)
			arns := make(chan string, n)
			for range n {
				go func() {
					out, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("race")})
					if err == nil {
						arns <- *out.TopicArn
					}
					errs <- err
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			arn := <-arns
			for range n {
				go func() {
					_, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email"), Endpoint: aws.String("race@example.com")})
					errs <- err
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			lt, _ := c.ListTopics(ctx, &awssns.ListTopicsInput{})
			ls, _ := c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: &arn})
			if len(lt.Topics) != 1 || len(ls.Subscriptions) != 1 {
				t.Fatalf("%d topics, %d subscriptions; want 1 and 1", len(lt.Topics), len(ls.Subscriptions))
			}
		})
	}
}
