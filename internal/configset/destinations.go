package configset

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

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

// EventType values (SES: EventType). Petrel emits SEND, REJECT, BOUNCE,
// COMPLAINT, DELIVERY, DELIVERY_DELAY and RENDERING_FAILURE; the others are accepted and
// stored for when it does.
var EventTypes = []string{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK",
	"RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION"}

// Event destination limits.
const (
	// MaxEventDestinations is how many event destinations a set may have
	// (SES's quota): LimitExceededException beyond.
	MaxEventDestinations = 10
	// MaxWebhookURLLen bounds WebhookDestination.Url, in bytes.
	MaxWebhookURLLen = 2048
	// WebhookSecretOverlap is how long a webhook's previous signing secret
	// stays valid after RotateWebhookSecret.
	WebhookSecretOverlap = 24 * time.Hour
	// WebhookSecretPrefix begins every signing secret Petrel generates.
	WebhookSecretPrefix = "whsec_"
)

// Event destination errors.
var (
	ErrEventDestinationExists   = errors.New("event destination already exists") // SES: AlreadyExistsException
	ErrEventDestinationNotFound = errors.New("event destination does not exist") // SES: NotFoundException
	ErrEventDestinationLimit    = errors.New("too many event destinations")      // SES: LimitExceededException
	// ErrNoSealer: a webhook destination was given to a Service without a
	// Sealer (SetSealer), which could not keep its secret safe.
	ErrNoSealer = errors.New("configuration sets: no sealer for webhook secrets")
)

// Sealer encrypts webhook signing secrets at rest (package account, with
// the data-dir key), as identity.Sealer does DKIM keys.
type Sealer interface {
	Seal(plain []byte, binding string) []byte
	Open(sealed []byte, binding string) ([]byte, error)
}

// SetSealer gives s the Sealer that protects webhook secrets at rest; call
// it once, before serving. Without one, webhook destinations are refused
// (ErrNoSealer).
func (s *Service) SetSealer(sealer Sealer) { s.sealer = sealer }

// ValidateEventDestinationName checks an event destination name: as a set
// name, 1–64 of [A-Za-z0-9_-] (SES: EventDestinationName).
func ValidateEventDestinationName(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("EventDestinationName %q must be 1-64 characters", truncate(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid("EventDestinationName %q may contain only letters, digits, '-' and '_'", truncate(name))
		}
	}
	return nil
}

// ValidateWebhookURL checks a webhook URL's syntax: an absolute http or
// https URL with a host, without user information or fragment, at most
// MaxWebhookURLLen bytes. Whether its address may be reached is the egress
// guard's question, asked by the API.
func ValidateWebhookURL(raw string) error {
	if len(raw) > MaxWebhookURLLen {
		return invalid("WebhookDestination.Url is longer than %d characters", MaxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return invalid("WebhookDestination.Url %q is not an http or https URL", truncate(raw))
	}
	if u.User != nil {
		return invalid("WebhookDestination.Url %q carries user information: put credentials in the path or rely on the signature", truncate(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("WebhookDestination.Url %q has a fragment", truncate(raw))
	}
	return nil
}

// Validate checks d: its name, MatchingEventTypes (at least one, each an
// EventType, each once) and exactly one destination kind, a webhook URL
// as ValidateWebhookURL. WebhookSecrets are not looked at: the Service
// makes them.
func (d EventDestination) Validate() error {
	if err := ValidateEventDestinationName(d.Name); err != nil {
		return err
	}
	if len(d.MatchingEventTypes) == 0 {
		return invalid("MatchingEventTypes must name at least one event type (%s)", strings.Join(EventTypes, ", "))
	}
	for i, t := range d.MatchingEventTypes {
		if !slices.Contains(EventTypes, t) {
			return invalid("MatchingEventTypes: %q is not one of %s", truncate(t), strings.Join(EventTypes, ", "))
		}
		if slices.Contains(d.MatchingEventTypes[:i], t) {
			return invalid("MatchingEventTypes: %s is given twice", t)
		}
	}
	switch {
	case d.SnsTopicArn == "" && d.WebhookURL == "":
		return invalid("the event destination needs a destination: SnsDestination or WebhookDestination")
	case d.SnsTopicArn != "" && d.WebhookURL != "":
		return invalid("an event destination has one destination: give SnsDestination or WebhookDestination, not both")
	case d.WebhookURL != "":
		return ValidateWebhookURL(d.WebhookURL)
	}
	if !isSNSArn(d.SnsTopicArn) {
		return invalid("SnsDestination.TopicArn %q is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)", truncate(d.SnsTopicArn))
	}
	return nil
}

// isSNSArn reports whether arn has the form of an SNS topic ARN.
func isSNSArn(arn string) bool {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] != "sns" || p[5] == "" || len(arn) > MaxArchiveArnLen {
		return false
	}
	for i := 0; i < len(arn); i++ {
		if arn[i] <= ' ' || arn[i] >= 0x7f {
			return false
		}
	}
	return true
}

// NewWebhookSecret returns a new signing secret: WebhookSecretPrefix and
// the unpadded base64url of 32 random bytes (256 bits).
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return WebhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func secretBinding(account, set, name string) string {
	return "webhook:" + account + "/" + set + "/" + name
}

// CreateEventDestination adds d to account's set (SES:
// CreateConfigurationSetEventDestination). A webhook destination gets a
// new signing secret (NewWebhookSecret; d.WebhookSecrets is ignored).
// Errors: ErrInvalid, ErrNotFound (the set), ErrEventDestinationExists,
// ErrEventDestinationLimit (MaxEventDestinations), ErrNoSealer.
func (s *Service) CreateEventDestination(ctx context.Context, account, set string, d EventDestination) error {
	if err := d.Validate(); err != nil {
		return err
	}
	var sealed []byte
	if d.WebhookURL != "" {
		if s.sealer == nil {
			return ErrNoSealer
		}
		sealed = s.sealer.Seal([]byte(NewWebhookSecret()), secretBinding(account, set, d.Name))
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(tx, account); err != nil {
			return err
		}
		if err := s.setExists(tx, account, set); err != nil {
			return err
		}
		var n, exists int
		if err := tx.QueryRow(s.db.Rebind(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0)
			FROM configuration_set_event_destinations WHERE account = ? AND configuration_set = ?`), d.Name, account, set).Scan(&n, &exists); err != nil {
			return err
		}
		switch {
		case exists > 0:
			return ErrEventDestinationExists
		case n >= MaxEventDestinations:
			return ErrEventDestinationLimit
		}
		_, err := tx.Exec(s.db.Rebind(`INSERT INTO configuration_set_event_destinations (account, configuration_set, name, enabled,
			matching_event_types, sns_topic_arn, webhook_url, secret_sealed, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			account, set, d.Name, boolInt(d.Enabled), strings.Join(d.MatchingEventTypes, ","), d.SnsTopicArn, d.WebhookURL,
			nullBlob(sealed), s.now().UnixMilli())
		return err
	})
	s.forgetDestinations(account, set)
	return err
}

func nullBlob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// setExists returns ErrNotFound unless account has the set.
func (s *Service) setExists(tx *sql.Tx, account, set string) error {
	var one int
	err := tx.QueryRow(s.db.Rebind("SELECT 1 FROM configuration_sets WHERE account = ? AND name = ?"), account, set).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// UpdateEventDestination replaces the definition of account's destination
// d.Name of set (SES: UpdateConfigurationSetEventDestination). A webhook
// destination that stays one keeps its signing secrets, whatever its URL
// becomes; one that becomes a webhook gets a new secret; one that becomes
// an SNS destination loses its secrets. Errors: ErrInvalid, ErrNotFound
// (the set), ErrEventDestinationNotFound, ErrNoSealer.
func (s *Service) UpdateEventDestination(ctx context.Context, account, set string, d EventDestination) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.WebhookURL != "" && s.sealer == nil {
		return ErrNoSealer
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.setExists(tx, account, set); err != nil {
			return err
		}
		var oldURL string
		err := tx.QueryRow(s.db.Rebind(`SELECT webhook_url FROM configuration_set_event_destinations
			WHERE account = ? AND configuration_set = ? AND name = ?`), account, set, d.Name).Scan(&oldURL)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrEventDestinationNotFound
		}
		if err != nil {
			return err
		}
		q := `UPDATE configuration_set_event_destinations SET enabled = ?, matching_event_types = ?, sns_topic_arn = ?, webhook_url = ?`
		args := []any{boolInt(d.Enabled), strings.Join(d.MatchingEventTypes, ","), d.SnsTopicArn, d.WebhookURL}
		switch {
		case d.WebhookURL == "":
			q += `, secret_sealed = NULL, previous_secret_sealed = NULL, previous_until_ms = 0`
		case oldURL == "":
			q += `, secret_sealed = ?, previous_secret_sealed = NULL, previous_until_ms = 0`
			args = append(args, s.sealer.Seal([]byte(NewWebhookSecret()), secretBinding(account, set, d.Name)))
		}
		args = append(args, account, set, d.Name)
		_, err = tx.Exec(s.db.Rebind(q+` WHERE account = ? AND configuration_set = ? AND name = ?`), args...)
		return err
	})
	s.forgetDestinations(account, set)
	return err
}

// DeleteEventDestination removes account's destination name of set (SES:
// DeleteConfigurationSetEventDestination). Errors: ErrNotFound (the set),
// ErrEventDestinationNotFound.
func (s *Service) DeleteEventDestination(ctx context.Context, account, set, name string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.setExists(tx, account, set); err != nil {
			return err
		}
		res, err := tx.Exec(s.db.Rebind(`DELETE FROM configuration_set_event_destinations
			WHERE account = ? AND configuration_set = ? AND name = ?`), account, set, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrEventDestinationNotFound
		}
		return nil
	})
	s.forgetDestinations(account, set)
	return err
}

// RotateWebhookSecret gives account's webhook destination name of set a
// new signing secret and returns it. The new secret signs at once
// (WebhookSecrets[0]); the one it replaces stays valid, and signs as
// WebhookSecrets[1], for WebhookSecretOverlap. A rotation during the
// overlap drops the oldest. Errors: ErrNotFound (the set),
// ErrEventDestinationNotFound, ErrInvalid (not a webhook destination),
// ErrNoSealer.
func (s *Service) RotateWebhookSecret(ctx context.Context, account, set, name string) (string, error) {
	if s.sealer == nil {
		return "", ErrNoSealer
	}
	secret := NewWebhookSecret()
	binding := secretBinding(account, set, name)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.setExists(tx, account, set); err != nil {
			return err
		}
		var cur []byte
		err := tx.QueryRow(s.db.Rebind(`SELECT secret_sealed FROM configuration_set_event_destinations
			WHERE account = ? AND configuration_set = ? AND name = ?`), account, set, name).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrEventDestinationNotFound
		}
		if err != nil {
			return err
		}
		if len(cur) == 0 {
			return invalid("event destination %s is not a webhook destination: only webhook secrets rotate", name)
		}
		_, err = tx.Exec(s.db.Rebind(`UPDATE configuration_set_event_destinations SET secret_sealed = ?, previous_secret_sealed = ?,
			previous_until_ms = ? WHERE account = ? AND configuration_set = ? AND name = ?`),
			s.sealer.Seal([]byte(secret), binding), cur, s.now().Add(WebhookSecretOverlap).UnixMilli(), account, set, name)
		return err
	})
	s.forgetDestinations(account, set)
	if err != nil {
		return "", err
	}
	return secret, nil
}

// GetEventDestinations returns account's destinations of set, in name
// order, webhook secrets opened (SES: GetConfigurationSetEventDestinations).
// It reads without a transaction (on SQLite one would take the write
// lock): a set deleted between its two queries reads as having none.
// Errors: ErrNotFound (the set).
func (s *Service) GetEventDestinations(ctx context.Context, account, set string) ([]EventDestination, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT 1 FROM configuration_sets WHERE account = ? AND name = ?"), account, set).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT name, enabled, matching_event_types, sns_topic_arn, webhook_url, secret_sealed,
		previous_secret_sealed, previous_until_ms FROM configuration_set_event_destinations
		WHERE account = ? AND configuration_set = ? ORDER BY name`), account, set)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.now().UnixMilli()
	out := []EventDestination{}
	for rows.Next() {
		var (
			d         EventDestination
			enabled   int
			types     string
			cur, prev []byte
			prevUntil int64
		)
		if err := rows.Scan(&d.Name, &enabled, &types, &d.SnsTopicArn, &d.WebhookURL, &cur, &prev, &prevUntil); err != nil {
			return nil, err
		}
		d.Enabled = enabled != 0
		d.MatchingEventTypes = strings.Split(types, ",")
		if len(cur) > 0 {
			if s.sealer == nil {
				return nil, ErrNoSealer
			}
			binding := secretBinding(account, set, d.Name)
			secret, err := s.sealer.Open(cur, binding)
			if err != nil {
				return nil, fmt.Errorf("event destination %s/%s: opening its webhook secret: %w", set, d.Name, err)
			}
			d.WebhookSecrets = []string{string(secret)}
			if len(prev) > 0 && prevUntil > now {
				older, err := s.sealer.Open(prev, binding)
				if err != nil {
					return nil, fmt.Errorf("event destination %s/%s: opening its previous webhook secret: %w", set, d.Name, err)
				}
				d.WebhookSecrets = append(d.WebhookSecrets, string(older))
			}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// EventDestinations is GetEventDestinations for the notification path:
// its answer is at most CacheTTL old (a change made through this Service
// is seen at once; a previous webhook secret may be offered up to CacheTTL
// after its overlap ended), a set that does not exist is looked up again
// on every call (ErrNotFound). The answer is shared: callers must not
// modify it.
func (s *Service) EventDestinations(ctx context.Context, account, set string) ([]EventDestination, error) {
	return s.dests.Load(cacheKey{account, set}, s.now(), func() ([]EventDestination, error) { return s.GetEventDestinations(ctx, account, set) })
}

// HasNotifications reports whether account has any enabled event
// destination (cached, at most CacheTTL old): the notification outbox
// skips the events of accounts without one. When the store cannot answer
// it says true, so that no notification is lost.
func (s *Service) HasNotifications(ctx context.Context, account string) bool {
	has, err := s.hasDests.Load(account, s.now(), func() (bool, error) {
		var one int
		err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT 1 FROM configuration_set_event_destinations
		WHERE account = ? AND enabled = 1 LIMIT 1`), account).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return has || err != nil
}

// forgetDestinations drops the cached answers about account's set after
// a change.
func (s *Service) forgetDestinations(account, set string) {
	s.dests.Forget(cacheKey{account, set})
	s.hasDests.Forget(account)
}

// deleteDestinationsTx removes the destinations of a set being deleted.
func (s *Service) deleteDestinationsTx(tx *sql.Tx, account, set string) error {
	_, err := tx.Exec(s.db.Rebind("DELETE FROM configuration_set_event_destinations WHERE account = ? AND configuration_set = ?"), account, set)
	return err
}
