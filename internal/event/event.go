// Package event is Petrel's event log: every outcome of every message, stored
// in Amazon SES's own event-publishing JSON (eventType, mail, and the
// per-type object: send, reject, delivery, bounce, complaint, deliveryDelay).
//
// Events are written in the same transaction as the state change they
// describe (a queue row retired, a message accepted), so the log never
// disagrees with the queue. The "mail" object is stored once per message
// (by spool, which owns the messages table); a reader that renders events
// whole fills Event.Mail from spool.Spool.MailObjects, one query per page
// of events.
//
// Events are kept for the retention period (package retention calls
// PruneBefore); a message's record outlives its last event.
package event

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// Kind is the SES eventType.
type Kind string

const (
	Send          Kind = "Send"
	Reject        Kind = "Reject"
	Delivery      Kind = "Delivery"
	Bounce        Kind = "Bounce"
	Complaint     Kind = "Complaint"
	DeliveryDelay Kind = "DeliveryDelay"
	// AutoResponse is Petrel's addition: an automatic reply (vacation,
	// out-of-office) came back for the message. SES forwards these to the
	// sender and publishes no event; Petrel records them so the sender sees
	// them in the same stream, and never counts them as bounces.
	AutoResponse Kind = "AutoResponse"
	// Subscription: a contact changed its list preferences through the
	// message's unsubscribe links (../shared/spec/ses.md §4.6, §11.4).
	Subscription Kind = "Subscription"
	// RenderingFailure is a templated message whose template could not be
	// rendered with its data: accepted (it has its message ID and Send
	// event) but never sent (../shared/spec/ses.md §1.11, §4.6).
	RenderingFailure Kind = "Rendering Failure"
)

// Kinds lists the event types Petrel emits.
var Kinds = []Kind{Send, Reject, Delivery, Bounce, Complaint, DeliveryDelay, AutoResponse,
	Subscription, RenderingFailure}

// objectKey is the JSON key of the kind's per-type object, next to
// "eventType" and "mail" (../shared/spec/ses.md §4.6): "send", "reject",
// "delivery", "bounce", "complaint", "deliveryDelay", "failure" (Rendering
// Failure), and Petrel's "autoResponse".
func (k Kind) objectKey() string {
	if k == RenderingFailure {
		return "failure"
	}
	return strings.ToLower(string(k[:1])) + string(k[1:])
}

// ParseKind accepts an eventType in any case ("bounce", "DeliveryDelay",
// "Rendering Failure").
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if strings.EqualFold(string(k), s) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown event type %q", s)
}

// TimeFormat is SES's timestamp format (ISO 8601, milliseconds, UTC).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Timestamp formats t as SES does.
func Timestamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

// NewID returns an ID in SES's message-ID shape (§11.1): 16 hex digits
// ("0100" and the time in milliseconds), a random UUID, and "-000000". It is
// used for message IDs and feedback IDs.
func NewID(now time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	u := hex.EncodeToString(b[:])
	return fmt.Sprintf("0100%012x-%s-%s-%s-%s-%s-000000", now.UnixMilli()&0xffffffffffff, u[:8], u[8:12], u[12:16], u[16:20], u[20:])
}

// IDTime returns when a message ID made by NewID was made (to the
// millisecond); false for an ID of another shape.
func IDTime(id string) (time.Time, bool) {
	if len(id) < 16 || id[:4] != "0100" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(id[4:16], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Mail is SES's "mail" object (§4.2). A message that was never rendered
// (a Rendering Failure) has no header fields: its Headers are nil and its
// CommonHeaders zero, and the JSON has neither "headers" nor
// "commonHeaders" — SES's Rendering Failure example (§4.6) — but
// "headersTruncated" still. Every other message has both, "headers": []
// at least.
type Mail struct {
	Timestamp        string                `json:"timestamp"`
	MessageID        string                `json:"messageId"`
	Source           string                `json:"source"`
	SourceArn        string                `json:"sourceArn"`
	SourceIP         string                `json:"sourceIp,omitempty"`
	SendingAccountID string                `json:"sendingAccountId"`
	CallerIdentity   string                `json:"callerIdentity,omitempty"`
	Destination      []string              `json:"destination"`
	HeadersTruncated bool                  `json:"headersTruncated"`
	Headers          []message.Header      `json:"headers,omitzero"`       // nil: no "headers" (a Rendering Failure's)
	CommonHeaders    message.CommonHeaders `json:"commonHeaders,omitzero"` // zero: no "commonHeaders" (likewise)
	Tags             map[string][]string   `json:"tags"`
}

// Detail is an event's per-type object; its Kind is the event's eventType
// (and names the object's JSON key). It is implemented by
// SendDetail, RejectDetail, DeliveryDetail, BounceDetail, ComplaintDetail,
// DeliveryDelayDetail, AutoResponseDetail, SubscriptionDetail and
// RenderingFailureDetail, so a stored event's type and
// object cannot disagree.
type Detail interface {
	Kind() Kind
}

// SendDetail is the (always empty) "send" object. Its fields are not
// stored or published (SES's "send" object is {}): they are the facts the
// accept path knows about the message, handed to Observers with the event
// (Event.Value), so that counters need not read the message back.
type SendDetail struct {
	ConfigurationSet string          `json:"-"` // the set the message was sent with ("" for none)
	Identity         string          `json:"-"` // the verified identity that authorised it (mail.sourceArn's identity)
	Recipients       []SendRecipient `json:"-"` // every recipient of mail.destination, in its order
}

// SendRecipient is one recipient of a SendDetail.
type SendRecipient struct {
	Address string // as in mail.destination
	// Excluded says why the recipient does not count towards the
	// account's sending quota and reputation (../shared/spec/ses.md §8.1,
	// §8.5), or "" when it counts.
	Excluded Exclusion
}

// Exclusion is why a recipient does not count towards quota and reputation.
type Exclusion string

const (
	// ExcludedSimulator: a mailbox simulator address (SES: simulator mail
	// counts neither towards the quota nor the bounce and complaint rates).
	ExcludedSimulator Exclusion = "simulator"
	// ExcludedVerified: a verified identity of the sending account (SES:
	// bounces to verified identities do not count).
	ExcludedVerified Exclusion = "verified"
	// ExcludedSuppressed: on the account's (or configuration set's)
	// suppression list, so not sent (SES: account-suppression-list bounces
	// do not count; global-suppression-list ones do).
	ExcludedSuppressed Exclusion = "account-suppressed"
)

// RejectDetail is the "reject" object.
type RejectDetail struct {
	Reason string `json:"reason"`
}

// Kind returns Send; the other details' Kind methods return their eventType likewise.
func (SendDetail) Kind() Kind             { return Send }
func (RejectDetail) Kind() Kind           { return Reject }
func (DeliveryDetail) Kind() Kind         { return Delivery }
func (BounceDetail) Kind() Kind           { return Bounce }
func (ComplaintDetail) Kind() Kind        { return Complaint }
func (DeliveryDelayDetail) Kind() Kind    { return DeliveryDelay }
func (AutoResponseDetail) Kind() Kind     { return AutoResponse }
func (SubscriptionDetail) Kind() Kind     { return Subscription }
func (RenderingFailureDetail) Kind() Kind { return RenderingFailure }

// RenderingFailureDetail is the "failure" object of a Rendering Failure
// event (../shared/spec/ses.md §4.6): the template and why it could not be
// rendered ("Attribute 'name' is not present in the rendering data.").
type RenderingFailureDetail struct {
	TemplateName string `json:"templateName"`
	ErrorMessage string `json:"errorMessage"`
}

// DeliveryDetail is the "delivery" object (§4.5).
type DeliveryDetail struct {
	Timestamp            string   `json:"timestamp"`
	ProcessingTimeMillis int64    `json:"processingTimeMillis"`
	Recipients           []string `json:"recipients"`
	SMTPResponse         string   `json:"smtpResponse"`
	ReportingMTA         string   `json:"reportingMTA"`
	RemoteMtaIP          string   `json:"remoteMtaIp,omitempty"`
	// Attempts is how many delivery attempts the recipient took, this one
	// included, for Observers (metrics); not stored. 0 when unknown.
	Attempts int `json:"-"`
}

// BounceDetail is the "bounce" object (§4.3).
type BounceDetail struct {
	BounceType        string             `json:"bounceType"`
	BounceSubType     string             `json:"bounceSubType"`
	BouncedRecipients []BouncedRecipient `json:"bouncedRecipients"`
	Timestamp         string             `json:"timestamp"`
	FeedbackID        string             `json:"feedbackId"`
	RemoteMtaIP       string             `json:"remoteMtaIp,omitempty"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
	// Petrel's additions: the fine-grained reason and the bounce rule that
	// decided (SES has neither; SES clients ignore unknown fields).
	Reason string `json:"reason,omitempty"`
	Rule   string `json:"rule,omitempty"`
	// Attempts and ProcessingTimeMillis are, for a bounce that ends a
	// delivery (package delivery), the attempts the recipient took, this
	// one included, and the milliseconds since acceptance, as
	// DeliveryDetail's; for Observers (metrics), not stored. 0 for other
	// bounces (suppressed at acceptance, reported later by the receiver).
	Attempts             int   `json:"-"`
	ProcessingTimeMillis int64 `json:"-"`
}

// BouncedRecipient is one entry of bounce.bouncedRecipients.
type BouncedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// ComplaintDetail is the "complaint" object (§4.4).
type ComplaintDetail struct {
	ComplainedRecipients  []Recipient `json:"complainedRecipients"`
	Timestamp             string      `json:"timestamp"`
	FeedbackID            string      `json:"feedbackId"`
	ComplaintSubType      *string     `json:"complaintSubType"`
	UserAgent             string      `json:"userAgent,omitempty"`
	ComplaintFeedbackType string      `json:"complaintFeedbackType,omitempty"`
	ArrivalDate           string      `json:"arrivalDate,omitempty"`
}

// Recipient is {emailAddress}.
type Recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// DeliveryDelayDetail is the "deliveryDelay" object (§4.6).
type DeliveryDelayDetail struct {
	Timestamp         string             `json:"timestamp"`
	DelayType         string             `json:"delayType"`
	ExpirationTime    string             `json:"expirationTime,omitempty"` // absent when a remote MTA's delay notice gives none
	DelayedRecipients []DelayedRecipient `json:"delayedRecipients"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
}

// DelayedRecipient is one entry of deliveryDelay.delayedRecipients.
type DelayedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Status         string `json:"status"`
	DiagnosticCode string `json:"diagnosticCode"`
}

// AutoResponseDetail is the "autoResponse" object (Petrel's addition).
type AutoResponseDetail struct {
	Timestamp        string    `json:"timestamp"`
	FeedbackID       string    `json:"feedbackId"`
	Recipient        Recipient `json:"recipient"`        // whose auto-reply it is
	AutoResponseType string    `json:"autoResponseType"` // vacation, disused-mailbox, challenge-response
	Subject          string    `json:"subject,omitempty"`
	From             string    `json:"from,omitempty"`
}

// SubscriptionDetail is the "subscription" object (§4.6): contactList,
// timestamp, source (how the change came: SES documents
// "UnsubscribeHeader"), and the contact's preferences before and after.
type SubscriptionDetail struct {
	ContactList         string           `json:"contactList"`
	Timestamp           string           `json:"timestamp"`
	Source              string           `json:"source"`
	NewTopicPreferences TopicPreferences `json:"newTopicPreferences"`
	OldTopicPreferences TopicPreferences `json:"oldTopicPreferences"`
}

// TopicPreferences is {unsubscribeAll, topicSubscriptionStatus}.
type TopicPreferences struct {
	UnsubscribeAll          bool                      `json:"unsubscribeAll"`
	TopicSubscriptionStatus []TopicSubscriptionStatus `json:"topicSubscriptionStatus"`
}

// TopicSubscriptionStatus is one topic's status: SubscriptionStatus is
// "OptIn" or "OptOut" (the event's spelling; the API's is OPT_IN/OPT_OUT).
type TopicSubscriptionStatus struct {
	TopicName          string `json:"topicName"`
	SubscriptionStatus string `json:"subscriptionStatus"`
}

// Event is one stored event.
type Event struct {
	ID        int64
	Kind      Kind
	MessageID string
	Account   string
	Recipient string // the (first) recipient it concerns; "" for message-wide events
	Time      time.Time
	Detail    json.RawMessage // the per-type object
	Mail      json.RawMessage // the message's "mail" object; List leaves it nil (see spool.Spool.MailObjects)
	// Value is the per-type object as the writer gave it to AddTx, for
	// Observers (it may carry facts Detail does not, see SendDetail); nil
	// for events read from the store.
	Value Detail
}

// MarshalJSON renders the event exactly as SES publishes it, in SES's
// order: eventType, mail (a nil Mail is rendered as {}), then the per-type
// object. Encode it with HTML escaping off (Encode does) to keep "<" and ">"
// as SES writes them.
func (e Event) MarshalJSON() ([]byte, error) {
	mail := e.Mail
	if len(mail) == 0 {
		mail = json.RawMessage("{}")
	}
	detail := e.Detail
	if len(detail) == 0 {
		detail = json.RawMessage("{}")
	}
	var b bytes.Buffer
	b.WriteString(`{"eventType":"`)
	b.WriteString(string(e.Kind))
	b.WriteString(`","mail":`)
	b.Write(mail)
	b.WriteString(`,"`)
	b.WriteString(e.Kind.objectKey())
	b.WriteString(`":`)
	b.Write(detail)
	b.WriteString("}")
	return b.Bytes(), nil
}

// Encode is json.Marshal without HTML escaping: SES's event JSON writes
// "<", ">" and "&" as they are ("Name <a@example.com>"), not as \u003c.
// Every stored event object and mail object is encoded with it.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Outbox receives every event in the transaction that records it (e.ID is
// 0, e.Mail nil), so that what it writes commits or rolls back with the
// event. notify.Engine implements it.
type Outbox interface {
	AddTx(tx *sql.Tx, e Event) error
}

// Observer is told of every event in the transaction that records it
// (e.ID is 0, e.Mail nil, e.Value set), so that what it writes in that
// transaction (counters) commits or rolls back with the event; what it
// keeps in memory (Prometheus series, accounts noted for evaluation) may
// also see an event whose transaction then fails. Its error fails AddTx;
// it must not keep tx.
type Observer interface {
	ObserveTx(tx *sql.Tx, e Event) error
}

// Log stores and reads events.
type Log struct {
	db        *store.DB
	outbox    Outbox
	observers []Observer
}

// SetOutbox makes AddTx hand every event to o as well. It is called once,
// before the Log is used (the daemon, before serving); it is not safe to
// call concurrently with AddTx.
func (l *Log) SetOutbox(o Outbox) { l.outbox = o }

// Observe makes AddTx tell o of every event, after the Outbox, in the
// order Observe was called. Like SetOutbox it is called before the Log is
// used.
func (l *Log) Observe(o Observer) { l.observers = append(l.observers, o) }

// NewLog returns a Log over db.
func NewLog(db *store.DB) *Log { return &Log{db: db} }

// AddTx records, in tx, the event d of messageID at at; its eventType is
// d.Kind(). recipient is the recipient it concerns ("" for a message-wide
// event such as Send). With an Outbox set (SetOutbox) and Observers
// (Observe), the event is handed to each in the same tx; an error fails
// AddTx.
func (l *Log) AddTx(tx *sql.Tx, messageID, account, recipient string, at time.Time, d Detail) error {
	b, err := Encode(d)
	if err != nil {
		return fmt.Errorf("encoding %s event: %w", d.Kind(), err)
	}
	if err := l.db.ExecTx(tx, "INSERT INTO events (message_id, account, kind, recipient, created_ms, detail) VALUES (?, ?, ?, ?, ?, ?)",
		messageID, account, string(d.Kind()), recipient, at.UnixMilli(), string(b)); err != nil {
		return err
	}
	if l.outbox == nil && len(l.observers) == 0 {
		return nil
	}
	e := Event{Kind: d.Kind(), MessageID: messageID, Account: account, Recipient: recipient, Time: at, Detail: b, Value: d}
	if l.outbox != nil {
		if err := l.outbox.AddTx(tx, e); err != nil {
			return err
		}
	}
	for _, o := range l.observers {
		if err := o.ObserveTx(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// Filter selects events. Zero fields match everything.
type Filter struct {
	Account   string
	MessageID string
	Kind      Kind
	AfterID   int64 // only events with a larger ID (for following)
	Limit     int   // 0 = 1000
}

// List returns events matching f in the order they were recorded, without
// their "mail" object (Event.Mail is nil): the reader that needs it reads
// the page's objects from spool (spool.Spool.MailObjects).
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	q := "SELECT id, kind, message_id, account, recipient, created_ms, detail FROM events WHERE id > ?"
	args := []any{f.AfterID}
	if f.Account != "" {
		q += " AND account = ?"
		args = append(args, f.Account)
	}
	if f.MessageID != "" {
		q += " AND message_id = ?"
		args = append(args, f.MessageID)
	}
	if f.Kind != "" {
		q += " AND kind = ?"
		args = append(args, string(f.Kind))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rows, err := l.db.QueryContext(ctx, l.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var kind, detail string
		var ms int64
		if err := rows.Scan(&e.ID, &kind, &e.MessageID, &e.Account, &e.Recipient, &ms, &detail); err != nil {
			return nil, err
		}
		e.Kind, e.Time, e.Detail = Kind(kind), time.UnixMilli(ms), json.RawMessage(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneBefore deletes, in one transaction, up to limit of the oldest events
// recorded before before, and returns how many it deleted; fewer than limit
// means none older is left. Events are taken in id order, which is the
// order they were recorded in, so no index on the time is needed.
func (l *Log) PruneBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		ids, err := l.db.OldestBeforeTx(ctx, tx, "events", "created_ms", before, limit)
		if err != nil {
			return err
		}
		if n = len(ids); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, l.db.Rebind("DELETE FROM events WHERE id IN ("+store.Placeholders(n)+")"), ids...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning events: %w", err)
	}
	return n, nil
}

// ReferencedTx returns which of messageIDs still have events, read in tx
// (spool keeps a message record while its events are kept: their readers
// render them with its "mail" object).
func (l *Log) ReferencedTx(tx *sql.Tx, messageIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(messageIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(messageIDs))
	for i, id := range messageIDs {
		args[i] = id
	}
	rows, err := tx.Query(l.db.Rebind("SELECT DISTINCT message_id FROM events WHERE message_id IN ("+store.Placeholders(len(args))+")"), args...)
	if err != nil {
		return nil, fmt.Errorf("finding events of messages: %w", err)
	}
	return store.StringSet(rows)
}

// Usage returns how many events are stored and the bytes of their
// per-type objects.
func (l *Log) Usage(ctx context.Context) (rows, bytes int64, err error) {
	err = l.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(OCTET_LENGTH(detail)), 0) FROM events").Scan(&rows, &bytes)
	if err != nil {
		err = fmt.Errorf("event usage: %w", err)
	}
	return rows, bytes, err
}
