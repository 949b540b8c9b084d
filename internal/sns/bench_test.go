package sns_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
)

// BenchmarkPublishJobs measures the router's cost of one SES notification
// to a topic with 1 and 10 confirmed HTTP subscriptions (SQLite): one
// subscriptions query, one RSA-2048 signature per publication (shared by
// the subscriptions), one envelope per subscription.
func BenchmarkPublishJobs(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			e := start(b, "sqlite", "alice")
			ctx := b.Context()
			c := e.client("alice")
			topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("bench")})).TopicArn
			for i := range n {
				must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"),
					Endpoint: aws.String(fmt.Sprintf("s%d@example.com", i))}))
				<-e.deliv.emails
			}
			if _, err := e.db.Exec("UPDATE sns_subscriptions SET confirmed = 1"); err != nil {
				b.Fatal(err)
			}
			msg := `{"eventType":"Bounce","bounce":{"bounceType":"Permanent"},"mail":{}}`
			b.ResetTimer()
			for b.Loop() {
				jobs, err := e.svc.PublishJobs(ctx, "alice", topic, "", msg, map[string]string{"eventType": "Bounce"})
				if err != nil || len(jobs) != n {
					b.Fatal(len(jobs), err)
				}
			}
		})
	}
}
