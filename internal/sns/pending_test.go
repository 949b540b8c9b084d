package sns_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/store"
)

// TestSubscriptionPending: SubscriptionPending tells a pending
// subscription (exists, pending) from a confirmed one (exists, not
// pending), and is (false, false) once unsubscribed, for another account
// and for unknown ARNs — what Refresh needs to drop a queued
// SubscriptionConfirmation after the subscription was confirmed.
func TestSubscriptionPending(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, "alice", "bob")
			ctx := t.Context()
			c := e.client("alice")
			topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("x")})).TopicArn
			pending := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"),
				Endpoint: aws.String("p@example.com"), ReturnSubscriptionArn: true})).SubscriptionArn
			<-e.deliv.emails
			sub := newSubscriber(t, true)
			confirmed := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"),
				Endpoint: aws.String(sub.srv.URL), ReturnSubscriptionArn: true})).SubscriptionArn
			if r := sub.next(); r.confirmStatus != 200 {
				t.Fatalf("confirm: %d", r.confirmStatus)
			}
			check := func(what, acct, arn string, wantExists, wantPending bool) {
				t.Helper()
				exists, pend, err := e.svc.SubscriptionPending(ctx, acct, arn)
				if err != nil || exists != wantExists || pend != wantPending {
					t.Errorf("%s: SubscriptionPending = %v, %v, %v; want %v, %v", what, exists, pend, err, wantExists, wantPending)
				}
			}
			check("pending", "alice", pending, true, true)
			check("confirmed", "alice", confirmed, true, false)
			check("another account's", "bob", pending, false, false)
			check("unknown", "alice", topic+":00000000-0000-4000-8000-000000000000", false, false)
			if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &confirmed}); err != nil {
				t.Fatal(err)
			}
			check("unsubscribed", "alice", confirmed, false, false)
		})
	}
}
