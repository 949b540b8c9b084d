package sns

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/notify"
)

func (s *Service) actions() map[string]action {
	return map[string]action{
		"CreateTopic":               s.createTopic,
		"DeleteTopic":               s.deleteTopic,
		"ListTopics":                s.listTopics,
		"GetTopicAttributes":        s.getTopicAttributes,
		"SetTopicAttributes":        s.setTopicAttributes,
		"Subscribe":                 s.subscribe,
		"ConfirmSubscription":       s.confirmSubscription,
		"Unsubscribe":               s.unsubscribe,
		"ListSubscriptions":         s.listSubscriptions,
		"ListSubscriptionsByTopic":  s.listSubscriptionsByTopic,
		"GetSubscriptionAttributes": s.getSubscriptionAttributes,
		"SetSubscriptionAttributes": s.setSubscriptionAttributes,
		"Publish":                   s.publish,
	}
}

// PageSize is how many topics or subscriptions a List action returns at
// most (SNS: 100).
const PageSize = 100

// MaxEndpoint bounds a subscription's endpoint (URL or address), in bytes.
const MaxEndpoint = 2048

// MaxMessage is the largest message Publish takes (SNS: 256 KB).
const MaxMessage = 256 * 1024

var topicNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

type arnResult struct {
	TopicArn string `xml:"TopicArn"`
}

type subArnResult struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
}

type attrsResult struct {
	Attributes []awsquery.Entry `xml:"Attributes>entry"`
}

type topicMember struct {
	TopicArn string `xml:"TopicArn"`
}

type listTopicsResult struct {
	Topics    []topicMember `xml:"Topics>member"`
	NextToken string        `xml:"NextToken,omitempty"`
}

type subMember struct {
	SubscriptionArn string `xml:"SubscriptionArn"`
	Owner           string `xml:"Owner"`
	Protocol        string `xml:"Protocol"`
	Endpoint        string `xml:"Endpoint"`
	TopicArn        string `xml:"TopicArn"`
}

type listSubsResult struct {
	Subscriptions []subMember `xml:"Subscriptions>member"`
	NextToken     string      `xml:"NextToken,omitempty"`
}

type publishResult struct {
	MessageID string `xml:"MessageId"`
}

// needAccount refuses an anonymous call (only ConfirmSubscription and
// Unsubscribe come unsigned, and they check for themselves).
func needAccount(c *call) error {
	if c.account == "" {
		return &awsquery.Error{Type: awsquery.Sender, Code: "MissingAuthenticationToken", Status: 403, Message: "Request is missing Authentication Token"}
	}
	return nil
}

// validTopicArn checks the shape arn:aws:sns:REGION:ACCOUNT:NAME.
func validTopicArn(arn string) bool {
	p := strings.Split(arn, ":")
	return len(p) == 6 && p[0] == "arn" && p[2] == "sns" && topicNameRE.MatchString(p[5])
}

// ownTopic returns the caller's topic named by parameter param.
func (s *Service) ownTopic(ctx context.Context, c *call, param string) (Topic, error) {
	arn, err := c.req.Required(param, missing)
	if err != nil {
		return Topic{}, err
	}
	if !validTopicArn(arn) {
		return Topic{}, errInvalid("%s", param)
	}
	return s.topic(ctx, c.account, arn)
}

// checkTopicAttr validates a settable topic attribute.
func checkTopicAttr(name, value string) error {
	switch name {
	case "DisplayName":
		// SNS: at most 100 characters; Petrel also refuses every control
		// character (CR, LF, tab, NUL, C1…): the name goes into the From:
		// header of email notifications (fromHeader quotes it).
		if !utf8.ValidString(value) || utf8.RuneCountInString(value) > 100 || strings.ContainsFunc(value, unicode.IsControl) {
			return errInvalid("DisplayName: at most 100 characters, no control characters")
		}
	case "SignatureVersion":
		if value != "1" && value != "2" {
			return errInvalid("SignatureVersion: must be 1 or 2")
		}
	case "Policy", "DeliveryPolicy":
		if value != "" && !json.Valid([]byte(value)) {
			return errInvalid("%s: Invalid JSON", name)
		}
	case "FifoTopic":
		if value == "true" {
			return errInvalid("FifoTopic: Petrel topics are standard topics; FIFO topics are not supported")
		}
	default:
		return errInvalid("AttributeName")
	}
	return nil
}

func (s *Service) createTopic(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	name, err := c.req.Required("Name", func(string) error { return errInvalid("Topic Name") })
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".fifo") {
		return nil, errInvalid("Topic Name: Petrel topics are standard topics; FIFO (.fifo) topics are not supported")
	}
	if !topicNameRE.MatchString(name) {
		return nil, errInvalid("Topic Name")
	}
	attrs, err := c.req.Map("Attributes", "key", "value")
	if err != nil {
		return nil, err
	}
	for k, v := range attrs {
		if err := checkTopicAttr(k, v); err != nil {
			return nil, err
		}
	}
	delete(attrs, "FifoTopic")
	id, err := s.accountID(ctx, c.account)
	if err != nil {
		return nil, err
	}
	arn := s.topicArn(id, name)
	create := func() error {
		return s.db.Tx(ctx, func(tx *sql.Tx) error {
			var prev string
			err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT attributes FROM sns_topics WHERE arn = ?"), arn).Scan(&prev)
			if err == nil {
				old := decodeAttrs(prev)
				for k, v := range attrs {
					if old[k] != v {
						return errInvalid("Attributes Reason: Topic already exists with different attributes")
					}
				}
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			return s.db.ExecTx(tx, "INSERT INTO sns_topics (arn, account, name, attributes, created_ms) VALUES (?, ?, ?, ?, ?)",
				arn, c.account, name, encodeAttrs(attrs), s.cfg.Now().UnixMilli())
		})
	}
	// A concurrent CreateTopic of the same name may win the insert (the
	// primary key refuses the second): the second attempt then finds it.
	if err := retryOnce(create); err != nil {
		return nil, err
	}
	return arnResult{arn}, nil
}

func (s *Service) deleteTopic(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	arn, err := c.req.Required("TopicArn", missing)
	if err != nil {
		return nil, err
	}
	if !validTopicArn(arn) {
		return nil, errInvalid("TopicArn")
	}
	// Deleting a topic that does not exist succeeds, as in SNS.
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM sns_topics WHERE arn = ? AND account = ?"), arn, c.account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.db.ExecTx(tx, "DELETE FROM sns_subscriptions WHERE topic_arn = ?", arn)
	})
	return nil, err
}

// decodeToken returns the ARN a NextToken continues after ("" for none).
// A token is the base64url of the last ARN of the previous page; one that
// does not decode to an ARN of the listed kind (valid) is refused with
// SNS's "Invalid parameter: NextToken" rather than answered with an empty
// page.
func decodeToken(tok string, valid func(string) bool) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || !valid(string(b)) {
		return "", errInvalid("NextToken")
	}
	return string(b), nil
}

func encodeToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

func (s *Service) listTopics(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	after, err := decodeToken(c.req.Get("NextToken"), validTopicArn)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT arn FROM sns_topics WHERE account = ? AND arn > ? ORDER BY arn LIMIT "+strconv.Itoa(PageSize+1)), c.account, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out listTopicsResult
	for rows.Next() {
		var arn string
		if err := rows.Scan(&arn); err != nil {
			return nil, err
		}
		out.Topics = append(out.Topics, topicMember{arn})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out.Topics) > PageSize {
		out.Topics = out.Topics[:PageSize]
		out.NextToken = encodeToken(out.Topics[PageSize-1].TopicArn)
	}
	return out, nil
}

func (s *Service) defaultPolicy(t Topic, owner string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":"` + t.Arn + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + owner + `"}}}]}`
}

// EffectiveDeliveryPolicy is the retry schedule Petrel's delivery engine
// (package notify, docs/notifications.md) applies to every subscription,
// in SNS's DeliveryPolicy JSON shape (best effort: SNS has no field for
// notify's two phases). After the first attempt fails: numMinDelayRetries
// (notify.ImmediateRetries = 3) retries minDelayTarget
// (notify.ImmediateDelay = 20) seconds apart; then delays from
// notify.MinBackoff (60 s) doubling to maxDelayTarget (notify.MaxBackoff
// = 3600 s), the exponential backoffFunction, numMaxDelayRetries of them at
// the maximum; the last attempt is made retryPeriod after publication
// (--notify-retry-period, 24 h by default), numRetries in all, and a job
// that fails it is a dead letter. Subscriptions' and topics' own
// DeliveryPolicy attributes are stored but not applied
// (disableSubscriptionOverrides true).
func EffectiveDeliveryPolicy(retryPeriod time.Duration) string {
	if retryPeriod <= 0 {
		retryPeriod = 24 * time.Hour
	}
	var retries, minRetries, maxRetries int
	var at time.Duration
	for n := 1; at < retryPeriod; n++ {
		d := notifyBackoff(n)
		at += d
		retries++
		switch {
		case at >= retryPeriod: // the last attempt, at the end of the period
		case n <= notify.ImmediateRetries:
			minRetries++
		case d == notify.MaxBackoff:
			maxRetries++
		}
	}
	return fmt.Sprintf(`{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":%d,"maxDelayTarget":%d,"numRetries":%d,"numNoDelayRetries":0,`+
		`"numMinDelayRetries":%d,"numMaxDelayRetries":%d,"backoffFunction":"exponential"},"disableSubscriptionOverrides":true,`+
		`"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`,
		int(notify.ImmediateDelay/time.Second), int(notify.MaxBackoff/time.Second), retries, minRetries, maxRetries)
}

// notifyBackoff is notify's delay after failed attempt n (1-based): its
// documented schedule (notify.ImmediateRetries, ImmediateDelay,
// MinBackoff doubling to MaxBackoff).
func notifyBackoff(n int) time.Duration {
	if n <= notify.ImmediateRetries {
		return notify.ImmediateDelay
	}
	d := notify.MinBackoff
	for i := notify.ImmediateRetries + 1; i < n && d < notify.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, notify.MaxBackoff)
}

func (s *Service) getTopicAttributes(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	t, err := s.ownTopic(ctx, c, "TopicArn")
	if err != nil {
		return nil, err
	}
	owner := strings.Split(t.Arn, ":")[4]
	var confirmed, pending int
	if err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT COALESCE(SUM(confirmed), 0), COUNT(*) FROM sns_subscriptions WHERE topic_arn = ?"), t.Arn).Scan(&confirmed, &pending); err != nil {
		return nil, err
	}
	pending -= confirmed
	m := map[string]string{
		"TopicArn":                t.Arn,
		"Owner":                   owner,
		"Policy":                  s.defaultPolicy(t, owner),
		"DisplayName":             "",
		"SubscriptionsConfirmed":  strconv.Itoa(confirmed),
		"SubscriptionsPending":    strconv.Itoa(pending),
		"SubscriptionsDeleted":    "0",
		"EffectiveDeliveryPolicy": EffectiveDeliveryPolicy(s.cfg.RetryPeriod),
		"SignatureVersion":        "1",
	}
	for k, v := range t.Attrs {
		if v != "" || k == "DisplayName" {
			m[k] = v
		}
	}
	return attrsResult{awsquery.Entries(m)}, nil
}

func (s *Service) setTopicAttributes(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	t, err := s.ownTopic(ctx, c, "TopicArn")
	if err != nil {
		return nil, err
	}
	name, err := c.req.Required("AttributeName", missing)
	if err != nil {
		return nil, err
	}
	value := c.req.Get("AttributeValue")
	if name == "FifoTopic" {
		return nil, errInvalid("AttributeName")
	}
	if err := checkTopicAttr(name, value); err != nil {
		return nil, err
	}
	t.Attrs[name] = value
	if value == "" && name != "DisplayName" {
		delete(t.Attrs, name)
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind("UPDATE sns_topics SET attributes = ? WHERE arn = ?"), encodeAttrs(t.Attrs), t.Arn)
	return nil, err
}

// Protocols Petrel delivers to.
var protocols = map[string]bool{"http": true, "https": true, "email": true, "email-json": true}

// checkSubAttr validates a settable subscription attribute for protocol,
// given the subscription's other attributes (FilterPolicy and its scope
// are checked together).
func checkSubAttr(protocol, name, value string, attrs map[string]string) error {
	switch name {
	case "RawMessageDelivery":
		if value != "true" && value != "false" {
			return errInvalid("RawMessageDelivery: must be true or false")
		}
		if value == "true" && protocol != "http" && protocol != "https" {
			return errInvalid("Delivery protocol [%s] does not support raw message delivery.", protocol)
		}
	case "FilterPolicy":
		scope := attrs["FilterPolicyScope"]
		if scope == "" {
			scope = ScopeAttributes
		}
		if _, err := parsePolicy(value, scope); err != nil {
			return errInvalid("Filter policy: %v", err)
		}
	case "FilterPolicyScope":
		if value != ScopeAttributes && value != ScopeBody {
			return errInvalid("FilterPolicyScope: must be MessageAttributes or MessageBody")
		}
		if _, err := parsePolicy(attrs["FilterPolicy"], value); err != nil {
			return errInvalid("Filter policy: %v", err)
		}
	case "DeliveryPolicy":
		if value != "" && !json.Valid([]byte(value)) {
			return errInvalid("DeliveryPolicy: Invalid JSON")
		}
	default:
		return errInvalid("AttributeName")
	}
	return nil
}

// checkEndpoint validates a subscription endpoint for protocol.
func (s *Service) checkEndpoint(ctx context.Context, protocol, endpoint string) error {
	if len(endpoint) > MaxEndpoint {
		return errInvalid("Endpoint: longer than %d bytes", MaxEndpoint)
	}
	switch protocol {
	case "http", "https":
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme != protocol || u.Host == "" {
			return errInvalid("Endpoint must match the specified protocol")
		}
		if s.urls != nil {
			if err := s.urls.CheckURL(ctx, endpoint); err != nil {
				return errInvalid("Endpoint: %v", err)
			}
		}
	case "email", "email-json":
		a, err := mail.ParseAddress(endpoint)
		if err != nil || a.Address != endpoint || a.Name != "" {
			return errInvalid("Email address")
		}
	}
	return nil
}

func sameAttrs(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (s *Service) subscribe(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	t, err := s.ownTopic(ctx, c, "TopicArn")
	if err != nil {
		return nil, err
	}
	protocol, err := c.req.Required("Protocol", missing)
	if err != nil {
		return nil, err
	}
	protocol = strings.ToLower(protocol)
	if !protocols[protocol] {
		return nil, errInvalid("Amazon SNS does not support this protocol string: %s", protocol)
	}
	endpoint, err := c.req.Required("Endpoint", missing)
	if err != nil {
		return nil, err
	}
	if err := s.checkEndpoint(ctx, protocol, endpoint); err != nil {
		return nil, err
	}
	if protocol == "email" || protocol == "email-json" {
		if err := s.mayEmail(ctx, t.Account, endpoint); err != nil {
			return nil, err
		}
	}
	attrs, err := c.req.Map("Attributes", "key", "value")
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range attrs {
		if err := checkSubAttr(protocol, k, v, attrs); err != nil {
			return nil, err
		}
	}
	returnArn, err := c.req.Bool("ReturnSubscriptionArn", false, func(n string) error { return errInvalid("%s", n) })
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	u := Subscription{Arn: t.Arn + ":" + newUUID(), Account: t.Account, TopicArn: t.Arn, Protocol: protocol, Endpoint: endpoint,
		Token: newToken(), TokenTime: now, Attrs: attrs, Created: now}
	var resend bool
	err = retryOnce(func() error {
		return s.subscribeTx(ctx, t, &u, attrs, &resend)
	})
	if err != nil {
		return nil, err
	}
	if resend {
		job, err := s.confirmationJob(t, u)
		if err != nil {
			return nil, err
		}
		if err := s.jobs.Enqueue(ctx, job); err != nil {
			return nil, fmt.Errorf("enqueueing the subscription confirmation: %w", err)
		}
	}
	if u.Confirmed || returnArn {
		return subArnResult{u.Arn}, nil
	}
	return subArnResult{"pending confirmation"}, nil
}

// mayEmail asks the EmailGate whether the account may have Petrel mail
// rcpt, as SNS errors: AuthorizationError while its sending is paused,
// InvalidParameter for an address the sandbox does not allow.
func (s *Service) mayEmail(ctx context.Context, account, rcpt string) error {
	if s.Email == nil {
		return nil
	}
	err := s.Email.MayEmail(ctx, account, rcpt)
	switch {
	case errors.Is(err, ErrEmailPaused):
		return errAuthorization("Sending paused for this account: Petrel sends no email on its behalf (SNS email subscriptions included) until it is resumed.")
	case errors.Is(err, ErrEmailUnverified):
		return errInvalid("Endpoint Reason: Email address is not verified: an account in the sandbox may only email its verified identities (%s).", rcpt)
	}
	return err
}

// ResendInterval is the least time between two confirmation messages to
// one pending subscription: a Subscribe of an endpoint already pending
// re-sends its confirmation only when the last one was sent at least this
// long ago (otherwise it just answers as before, "pending confirmation").
const ResendInterval = 10 * time.Minute

// subscribeTx stores subscription *u, or, when the topic already has that
// protocol and endpoint, sets *u to the existing one; *resend tells whether
// a confirmation is to be sent (a new subscription, or a still pending one
// whose last confirmation is ResendInterval old).
func (s *Service) subscribeTx(ctx context.Context, t Topic, u *Subscription, attrs map[string]string, resend *bool) error {
	now := u.Created
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		prev, err := scanSub(tx.QueryRowContext(ctx, s.db.Rebind("SELECT "+subCols+" FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?"), t.Arn, u.Protocol, u.Endpoint))
		if err == nil {
			if !sameAttrs(attrs, prev.Attrs) {
				return errInvalid("Attributes Reason: Subscription already exists with different attributes")
			}
			*u = prev
			if !prev.Confirmed && now.Sub(prev.TokenTime) >= ResendInterval {
				// Subscribing again re-sends the confirmation, with the
				// same token, valid anew — at most once per ResendInterval,
				// so that repeated Subscribe calls cannot flood a third
				// party's endpoint or mailbox.
				*resend = true
				u.TokenTime = now
				return s.db.ExecTx(tx, "UPDATE sns_subscriptions SET token_ms = ? WHERE arn = ?", now.UnixMilli(), u.Arn)
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		*resend = true
		return s.db.ExecTx(tx, "INSERT INTO sns_subscriptions ("+subCols+") VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
			u.Arn, u.Account, u.TopicArn, u.Protocol, u.Endpoint, u.Token, now.UnixMilli(), encodeAttrs(attrs), now.UnixMilli())
	})
}

// retryOnce runs fn again when it fails with a storage error (not an SNS
// error): a concurrent request that inserted the same topic or
// subscription first makes the unique index refuse ours, and the second
// run finds theirs.
func retryOnce(fn func() error) error {
	err := fn()
	var qe *awsquery.Error
	if err != nil && !errors.As(err, &qe) {
		err = fn()
	}
	return err
}

func (s *Service) confirmSubscription(ctx context.Context, c *call) (any, error) {
	topicArn, err := c.req.Required("TopicArn", missing)
	if err != nil {
		return nil, err
	}
	token, err := c.req.Required("Token", missing)
	if err != nil {
		return nil, err
	}
	authOnUnsub, err := c.req.Bool("AuthenticateOnUnsubscribe", false, func(n string) error { return errInvalid("%s", n) })
	if err != nil {
		return nil, err
	}
	if !validTopicArn(topicArn) {
		return nil, errInvalid("TopicArn")
	}
	if _, err := s.topicByArn(ctx, topicArn); err != nil {
		return nil, err
	}
	subs, err := s.querySubs(ctx, "topic_arn = ? AND token = ?", topicArn, token)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, errInvalid("Token")
	}
	u := subs[0]
	if !u.Confirmed && s.cfg.Now().Sub(u.TokenTime) > TokenTTL {
		return nil, errInvalid("Token")
	}
	// AuthenticateOnUnsubscribe=true counts only in a confirmation signed
	// by the topic's owner (then only signed Unsubscribe calls of the owner
	// work). Asked for by anyone else — another account, or an unsigned
	// GET — it is refused explicitly rather than dropped: the
	// subscription stays as it was (pending), and the caller may confirm
	// without it.
	if authOnUnsub && c.account != u.Account {
		if c.account == "" {
			return nil, errInvalid("AuthenticateOnUnsubscribe: only a ConfirmSubscription request signed by the topic owner can set it; this one is unsigned")
		}
		return nil, errAuthorization("User is not authorized to confirm with AuthenticateOnUnsubscribe: only the topic owner can set it")
	}
	auth := u.Authenticated || authOnUnsub
	if _, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE sns_subscriptions SET confirmed = 1, authenticated = ? WHERE arn = ?"), boolInt(auth), u.Arn); err != nil {
		return nil, err
	}
	return subArnResult{u.Arn}, nil
}

// validSubArn checks the shape of a subscription ARN: a topic ARN, ':' and
// an ID.
func validSubArn(arn string) bool {
	i := strings.LastIndexByte(arn, ':')
	return i > 0 && validTopicArn(arn[:i]) && len(arn) > i+1
}

func (s *Service) unsubscribe(ctx context.Context, c *call) (any, error) {
	arn, err := c.req.Required("SubscriptionArn", missing)
	if err != nil {
		return nil, err
	}
	if !validSubArn(arn) {
		return nil, errInvalid("SubscriptionArn")
	}
	u, err := s.subscription(ctx, arn)
	if errors.Is(err, ErrSubscriptionNotFound) {
		return nil, nil // already gone: unsubscribing is idempotent
	}
	if err != nil {
		return nil, err
	}
	if c.account != "" && c.account != u.Account {
		return nil, errAuthorization("User is not authorized to unsubscribe " + arn)
	}
	if c.account == "" && u.Authenticated {
		return nil, errAuthorization("This subscription was confirmed with AuthenticateOnUnsubscribe: unsubscribing requires a signed request from the topic's owner.")
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM sns_subscriptions WHERE arn = ?"), arn)
	return nil, err
}

func members(subs []Subscription, owner func(Subscription) string) []subMember {
	out := make([]subMember, len(subs))
	for i, u := range subs {
		arn := u.Arn
		if !u.Confirmed {
			arn = "PendingConfirmation"
		}
		out[i] = subMember{SubscriptionArn: arn, Owner: owner(u), Protocol: u.Protocol, Endpoint: u.Endpoint, TopicArn: u.TopicArn}
	}
	return out
}

func ownerOf(u Subscription) string { return strings.Split(u.TopicArn, ":")[4] }

func (s *Service) listSubs(ctx context.Context, c *call, where string, args ...any) (any, error) {
	after, err := decodeToken(c.req.Get("NextToken"), validSubArn)
	if err != nil {
		return nil, err
	}
	subs, err := s.querySubs(ctx, where+" AND arn > ? ORDER BY arn LIMIT "+strconv.Itoa(PageSize+1), append(args, after)...)
	if err != nil {
		return nil, err
	}
	var out listSubsResult
	if len(subs) > PageSize {
		subs = subs[:PageSize]
		out.NextToken = encodeToken(subs[PageSize-1].Arn)
	}
	out.Subscriptions = members(subs, ownerOf)
	return out, nil
}

func (s *Service) listSubscriptions(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	return s.listSubs(ctx, c, "account = ?", c.account)
}

func (s *Service) listSubscriptionsByTopic(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	t, err := s.ownTopic(ctx, c, "TopicArn")
	if err != nil {
		return nil, err
	}
	return s.listSubs(ctx, c, "topic_arn = ?", t.Arn)
}

// ownSubscription returns the caller's subscription named by
// SubscriptionArn.
func (s *Service) ownSubscription(ctx context.Context, c *call) (Subscription, error) {
	arn, err := c.req.Required("SubscriptionArn", missing)
	if err != nil {
		return Subscription{}, err
	}
	if !validSubArn(arn) {
		return Subscription{}, errInvalid("SubscriptionArn")
	}
	u, err := s.subscription(ctx, arn)
	if err != nil {
		return u, err
	}
	if u.Account != c.account {
		return u, ErrSubscriptionNotFound
	}
	return u, nil
}

func (s *Service) getSubscriptionAttributes(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	u, err := s.ownSubscription(ctx, c)
	if err != nil {
		return nil, err
	}
	m := map[string]string{
		"SubscriptionArn":              u.Arn,
		"TopicArn":                     u.TopicArn,
		"Owner":                        ownerOf(u),
		"Protocol":                     u.Protocol,
		"Endpoint":                     u.Endpoint,
		"ConfirmationWasAuthenticated": strconv.FormatBool(u.Authenticated),
		"PendingConfirmation":          strconv.FormatBool(!u.Confirmed),
		"RawMessageDelivery":           "false",
		"EffectiveDeliveryPolicy":      EffectiveDeliveryPolicy(s.cfg.RetryPeriod),
	}
	for k, v := range u.Attrs {
		m[k] = v
	}
	if m["FilterPolicy"] != "" && m["FilterPolicyScope"] == "" {
		m["FilterPolicyScope"] = ScopeAttributes
	}
	return attrsResult{awsquery.Entries(m)}, nil
}

func (s *Service) setSubscriptionAttributes(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	u, err := s.ownSubscription(ctx, c)
	if err != nil {
		return nil, err
	}
	name, err := c.req.Required("AttributeName", missing)
	if err != nil {
		return nil, err
	}
	value := c.req.Get("AttributeValue")
	if err := checkSubAttr(u.Protocol, name, value, u.Attrs); err != nil {
		return nil, err
	}
	if value == "" {
		delete(u.Attrs, name)
	} else {
		u.Attrs[name] = value
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind("UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?"), encodeAttrs(u.Attrs), u.Arn)
	return nil, err
}

var attrTypeRE = regexp.MustCompile(`^(String|Number|Binary|String\.Array)(\.[A-Za-z0-9_.-]+)?$`)

// MaxMessageAttributes is how many message attributes Publish takes (SNS:
// 10).
const MaxMessageAttributes = 10

// errInvalidValue is SNS's InvalidParameterValue (message attributes).
func errInvalidValue(format string, a ...any) *awsquery.Error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "InvalidParameterValue", Status: 400, Message: fmt.Sprintf(format, a...)}
}

// validText reports whether s is valid UTF-8 made only of the characters
// SNS accepts in messages and attribute values (XML's Char production):
// #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. Invalid
// UTF-8 is refused rather than replaced by U+FFFD: the signature covers
// the text the subscriber receives, byte for byte.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return false
		}
	}
	return true
}

// messageAttributes decodes Publish's MessageAttributes, with SNS's rules
// and messages: at most 10; a name of 1-256 characters not starting with
// the reserved prefixes "AWS." or "Amazon." (any case); a DataType
// (String, Number, Binary, String.Array, with an optional custom suffix);
// a non-empty value; Binary values valid base64; String values valid text.
func messageAttributes(r *awsquery.Request) (map[string]MessageAttribute, error) {
	names, err := r.MapKeys("MessageAttributes", "Name")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > MaxMessageAttributes {
		return nil, errInvalidValue("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(names), MaxMessageAttributes)
	}
	types, err := r.Map("MessageAttributes", "Name", "Value.DataType")
	if err != nil {
		return nil, err
	}
	strs, err := r.Map("MessageAttributes", "Name", "Value.StringValue")
	if err != nil {
		return nil, err
	}
	bins, err := r.Map("MessageAttributes", "Name", "Value.BinaryValue")
	if err != nil {
		return nil, err
	}
	out := make(map[string]MessageAttribute, len(names))
	for _, name := range names {
		if name == "" || utf8.RuneCountInString(name) > 256 || !validText(name) {
			return nil, errInvalid("Message attribute name is invalid")
		}
		if _, dup := out[name]; dup {
			return nil, errInvalidValue("Message attribute name '%s' is given more than once.", name)
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
			return nil, errInvalidValue("The message attribute name '%s' uses a reserved prefix: names can't start with AWS. or Amazon.", name)
		}
		typ := types[name]
		if typ == "" {
			return nil, errInvalidValue("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		if !attrTypeRE.MatchString(typ) {
			return nil, errInvalid("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		v, ok := strs[name]
		if strings.HasPrefix(typ, "Binary") {
			v, ok = bins[name]
		}
		if !ok || v == "" {
			return nil, errInvalid("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, typ)
		}
		if strings.HasPrefix(typ, "Binary") {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return nil, errInvalidValue("The message attribute '%s' with type 'Binary' has an invalid value: it must be base64-encoded.", name)
			}
		} else if !validText(v) {
			return nil, errInvalid("The message attribute '%s' contains characters that are not allowed: values must be UTF-8 text without control characters.", name)
		}
		if strings.HasPrefix(typ, "Number") {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, errInvalid("Could not cast message attribute '%s' value to number.", name)
			}
		}
		if typ == "String.Array" {
			var arr []any
			if json.Unmarshal([]byte(v), &arr) != nil {
				return nil, errInvalid("The message attribute '%s' with type 'String.Array' has an invalid value: it must be a JSON array.", name)
			}
		}
		out[name] = MessageAttribute{Type: typ, Value: v}
	}
	return out, nil
}

func (s *Service) publish(ctx context.Context, c *call) (any, error) {
	if err := needAccount(c); err != nil {
		return nil, err
	}
	if c.req.Get("PhoneNumber") != "" {
		return nil, errInvalid("PhoneNumber: Petrel does not send SMS")
	}
	param := "TopicArn"
	switch {
	case c.req.Get("TopicArn") != "" && c.req.Get("TargetArn") != "":
		return nil, errInvalid("TopicArn or TargetArn Reason: Only one of TopicArn or TargetArn may be specified")
	case c.req.Get("TopicArn") == "" && c.req.Get("TargetArn") != "":
		param = "TargetArn"
	}
	t, err := s.ownTopic(ctx, c, param)
	if err != nil {
		return nil, err
	}
	msg := c.req.Get("Message")
	if msg == "" {
		return nil, errInvalid("Empty message")
	}
	if len(msg) > MaxMessage {
		return nil, errInvalid("Message too long")
	}
	if !validText(msg) {
		return nil, errInvalid("Message contains characters that are not allowed: it must be UTF-8 text without control characters other than tab, line feed and carriage return")
	}
	subject := c.req.Get("Subject")
	if c.req.Has("Subject") {
		if subject == "" || len(subject) > 100 || !printableASCII(subject) {
			return nil, errInvalid("Subject")
		}
	}
	var perProtocol map[string]string
	switch c.req.Get("MessageStructure") {
	case "":
	case "json":
		if err := json.Unmarshal([]byte(msg), &perProtocol); err != nil {
			return nil, errInvalid("Message Structure - JSON message body failed to parse")
		}
		if _, ok := perProtocol["default"]; !ok {
			return nil, errInvalid("Message Structure - No default entry in JSON message body")
		}
	default:
		return nil, errInvalid("MessageStructure")
	}
	attrs, err := messageAttributes(c.req)
	if err != nil {
		return nil, err
	}
	msgID := newUUID()
	jobs, err := s.publishJobs(ctx, t, msgID, subject, msg, perProtocol, attrs, true)
	if err != nil {
		return nil, err
	}
	// Mail the tenant publishes goes out only as its own sending would.
	for _, j := range jobs {
		if j.Channel == notify.Email {
			if err := s.mayEmail(ctx, t.Account, j.Rcpt); err != nil {
				return nil, err
			}
		}
	}
	if len(jobs) > 0 {
		if err := s.jobs.Enqueue(ctx, jobs...); err != nil {
			return nil, fmt.Errorf("enqueueing %d notifications: %w", len(jobs), err)
		}
	}
	return publishResult{msgID}, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
