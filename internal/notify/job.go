// Package notify delivers notifications — SES events and SNS messages — to
// the endpoints that asked for them, at least once.
//
// Steps:
//  1. event.Log hands every event it records to Engine.AddTx, in the
//     event's own transaction: the event is written to the outbox when
//     anything may want it (Config.Wants), so a crash can repeat a
//     notification but never lose one;
//  2. a fan-out loop leases outbox rows, asks the Router which Jobs each
//     produces (event destinations, identity topics, feedback emails), and
//     in one transaction stores the jobs and deletes the rows;
//  3. delivery workers take due jobs per target (one endpoint), a bounded
//     number in flight per target so that one slow endpoint delays only
//     itself, POST them through the SSRF guard (or hand emails to the
//     Mailer), and retry failures with backoff for Config.RetryPeriod;
//  4. a job still failing then becomes a dead letter, listed and replayed
//     by "petrel notifications dead-letters|replay".
package notify

import (
	"context"

	"github.com/petrelmail/petrel/internal/event"
)

// Channel is how a Job is delivered.
type Channel string

const (
	// Webhook is a Petrel signed webhook: POST of Body with the
	// X-Petrel-Signature header computed at each attempt from Secrets.
	Webhook Channel = "webhook"
	// SNSHTTP is an SNS HTTP/HTTPS subscription: POST of Body (the SNS
	// JSON envelope, already signed) with Headers (x-amz-sns-*).
	SNSHTTP Channel = "sns-http"
	// Email is an email (SNS email/email-json subscription, feedback
	// forwarding): Body is a complete RFC 5322 message handed to the
	// Mailer for MailFrom → Rcpt.
	Email Channel = "email"
)

// Job is one notification to one endpoint.
type Job struct {
	// ID is the notification's stable ID, the same on every attempt and
	// replay: the webhook's X-Petrel-Event-Id, SNS's MessageId.
	ID      string
	Account string
	// Target names the endpoint's queue: jobs of one Target share its
	// concurrency bound and are isolated from every other Target's. E.g.
	// "webhook:<account>/<set>/<destination>", "sns:<subscription ARN>",
	// "email:<address>".
	Target  string
	Channel Channel
	Kind    string // the event type or SNS message type, for listings
	URL     string // Webhook, SNSHTTP: the endpoint
	// Headers are added to the POST (SNSHTTP: x-amz-sns-message-type …).
	Headers map[string]string
	Body    []byte
	// Secrets sign a Webhook job, newest first; every one of them signs
	// each attempt (two during a rotation).
	Secrets []string
	// MailFrom and Rcpt address an Email job ("" MailFrom is the null
	// reverse-path).
	MailFrom, Rcpt string
}

// Router decides which jobs an event produces; an event nobody listens to
// produces none. e.Mail is nil (the router reads the message's mail object
// itself when it needs it).
type Router interface {
	Route(ctx context.Context, e event.Event) ([]Job, error)
}

// Mailer sends an Email job's message through Petrel's own delivery path.
type Mailer interface {
	SendSystemMail(ctx context.Context, account, mailFrom, rcpt string, msg []byte) error
}
