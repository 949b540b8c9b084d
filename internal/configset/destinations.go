package configset

// EventDestination is one of a configuration set's event destinations
// (SES: EventDestination, ../shared/spec/ses.md §1.8): where the events of
// the set's messages whose type is in MatchingEventTypes are published.
// Exactly one destination kind is set.
type EventDestination struct {
	Name    string
	Enabled bool
	// MatchingEventTypes are SES EventType values: SEND, REJECT, BOUNCE,
	// COMPLAINT, DELIVERY, OPEN, CLICK, RENDERING_FAILURE, DELIVERY_DELAY,
	// SUBSCRIPTION.
	MatchingEventTypes []string
	// SnsTopicArn is SnsDestination.TopicArn: a Petrel topic.
	SnsTopicArn string
	// WebhookURL is the Petrel extension WebhookDestination.Url, signed
	// with WebhookSecrets (newest first; two during a rotation).
	WebhookURL     string
	WebhookSecrets []string
}
