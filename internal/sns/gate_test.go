package sns_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/url"
	"regexp"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sns"
)

// gate is an EmailGate whose answer the test sets (the daemon's applies
// the accept path's rules; see internal/daemon's TestEmailGate).
type gate struct {
	mu         sync.Mutex
	paused     bool
	unverified map[string]bool
}

func (g *gate) MayEmail(_ context.Context, account, rcpt string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.paused:
		return sns.ErrEmailPaused
	case g.unverified[rcpt]:
		return fmt.Errorf("%w: %s", sns.ErrEmailUnverified, rcpt)
	}
	return nil
}

func (g *gate) pause(p bool) { g.mu.Lock(); g.paused = p; g.mu.Unlock() }

var tokenRE = regexp.MustCompile(`Token=([^&\s"]+)`)

// TestEmailGate: the email a tenant has Petrel send through its topics
// passes the EmailGate: an email subscription to an address the sandbox
// does not allow is InvalidParameter and sends no confirmation; while the
// account is paused, a Subscribe by email and a Publish to a topic with
// email subscribers are AuthorizationError and mail nothing; Petrel's own
// notifications of SES events (PublishJobs) are not gated.
func TestEmailGate(t *testing.T) {
	e := start(t, "sqlite", "alice")
	g := &gate{unverified: map[string]bool{"stranger@example.net": true}}
	e.svc.Email = g
	ctx := t.Context()
	c := e.client("alice")
	to, err := c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("gated")})
	if err != nil {
		t.Fatal(err)
	}
	arn := *to.TopicArn
	_, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email"), Endpoint: aws.String("stranger@example.net")})
	wantCode(t, "Subscribe of an address the sandbox does not allow", err, "InvalidParameter")
	if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email"), Endpoint: aws.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	conf := <-e.deliv.emails
	body, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(conf.Body)))
	if err != nil {
		t.Fatal(err)
	}
	m := tokenRE.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no token in the confirmation: %s", conf.Body)
	}
	token, _ := url.QueryUnescape(m[1])
	if _, err := c.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: &arn, Token: &token}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &arn, Message: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	if j := <-e.deliv.emails; j.Rcpt != "ops@example.com" {
		t.Fatalf("published to %q", j.Rcpt)
	}

	g.pause(true)
	_, err = c.Publish(ctx, &awssns.PublishInput{TopicArn: &arn, Message: aws.String("while paused")})
	wantCode(t, "Publish to email subscribers while paused", err, "AuthorizationError")
	_, err = c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("email-json"), Endpoint: aws.String("other@example.com")})
	wantCode(t, "Subscribe by email while paused", err, "AuthorizationError")
	select {
	case j := <-e.deliv.emails:
		t.Fatalf("mail sent while paused: to %s", j.Rcpt)
	default:
	}
	jobs, err := e.svc.PublishJobs(ctx, "alice", arn, "", `{"eventType":"Bounce"}`, nil)
	if err != nil || len(jobs) != 1 || jobs[0].Channel != notify.Email {
		t.Errorf("Petrel's own notification while paused: %d jobs, %v; want the email job", len(jobs), err)
	}
}
