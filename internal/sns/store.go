package sns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Topic is a topic's row.
type Topic struct {
	Arn     string
	Account string
	Name    string
	Attrs   map[string]string // settable attributes as set
	Created time.Time
}

// Subscription is a subscription's row.
type Subscription struct {
	Arn           string
	Account       string // the topic's owner
	TopicArn      string
	Protocol      string
	Endpoint      string
	Token         string
	TokenTime     time.Time
	Confirmed     bool
	Authenticated bool
	Attrs         map[string]string
	Created       time.Time
}

func encodeAttrs(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeAttrs(s string) map[string]string {
	m := map[string]string{}
	json.Unmarshal([]byte(s), &m)
	return m
}

const topicCols = "arn, account, name, attributes, created_ms"

func scanTopic(sc interface{ Scan(...any) error }) (Topic, error) {
	var t Topic
	var attrs string
	var ms int64
	if err := sc.Scan(&t.Arn, &t.Account, &t.Name, &attrs, &ms); err != nil {
		return t, err
	}
	t.Attrs = decodeAttrs(attrs)
	t.Created = time.UnixMilli(ms)
	return t, nil
}

// topic returns account's topic arn (ErrTopicNotFound when it is not
// there or another account's).
func (s *Service) topic(ctx context.Context, acct, arn string) (Topic, error) {
	t, err := scanTopic(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+topicCols+" FROM sns_topics WHERE arn = ? AND account = ?"), arn, acct))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrTopicNotFound
	}
	return t, err
}

// topicByArn returns a topic whoever owns it.
func (s *Service) topicByArn(ctx context.Context, arn string) (Topic, error) {
	t, err := scanTopic(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+topicCols+" FROM sns_topics WHERE arn = ?"), arn))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrTopicNotFound
	}
	return t, err
}

// TopicExists returns nil when account owns the topic topicArn, else an
// error wrapping ErrTopicNotFound (for event destinations: SES refuses an
// SnsDestination whose topic does not exist).
func (s *Service) TopicExists(ctx context.Context, acct, topicArn string) error {
	return TopicExistsIn(ctx, s.db, acct, topicArn)
}

// TopicExistsIn is TopicExists over db without a Service (no signing key
// is loaded or created: the CLI uses it on a store it only reads). nil
// when account owns topicArn; an error wrapping ErrTopicNotFound when the
// topic does not exist or belongs to another account; a storage error
// otherwise.
func TopicExistsIn(ctx context.Context, db *store.DB, acct, topicArn string) error {
	var n int
	err := db.QueryRowContext(ctx, db.Rebind("SELECT 1 FROM sns_topics WHERE arn = ? AND account = ?"), topicArn, acct).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", topicArn, ErrTopicNotFound)
	}
	return err
}

// SubscriptionPending reports whether account's subscription
// subscriptionArn exists and, if so, whether it is still pending
// confirmation (SNS: PendingConfirmation "true"), so that a queued
// SubscriptionConfirmation can be dropped once the subscription has been
// confirmed another way (ConfirmSubscription). account is the owner of the
// subscription's topic; another account's subscription, or an ARN that
// names none, is (false, false, nil). A storage error otherwise.
func (s *Service) SubscriptionPending(ctx context.Context, account, subscriptionArn string) (exists, pending bool, err error) {
	var confirmed int
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT confirmed FROM sns_subscriptions WHERE arn = ? AND account = ?"), subscriptionArn, account).Scan(&confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, confirmed != 1, nil
}

const subCols = "arn, account, topic_arn, protocol, endpoint, token, token_ms, confirmed, authenticated, attributes, created_ms"

func scanSub(sc interface{ Scan(...any) error }) (Subscription, error) {
	var u Subscription
	var attrs string
	var tms, cms int64
	var conf, auth int
	if err := sc.Scan(&u.Arn, &u.Account, &u.TopicArn, &u.Protocol, &u.Endpoint, &u.Token, &tms, &conf, &auth, &attrs, &cms); err != nil {
		return u, err
	}
	u.TokenTime, u.Created = time.UnixMilli(tms), time.UnixMilli(cms)
	u.Confirmed, u.Authenticated = conf == 1, auth == 1
	u.Attrs = decodeAttrs(attrs)
	return u, nil
}

func (s *Service) subscription(ctx context.Context, arn string) (Subscription, error) {
	u, err := scanSub(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+subCols+" FROM sns_subscriptions WHERE arn = ?"), arn))
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrSubscriptionNotFound
	}
	return u, err
}

func (s *Service) querySubs(ctx context.Context, query string, args ...any) ([]Subscription, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+subCols+" FROM sns_subscriptions WHERE "+query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		u, err := scanSub(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
