// Package sns is Petrel's SNS-compatible topics (../shared/spec/ses.md §4.8,
// docs/sns.md): topics and subscriptions (http, https, email, email-json)
// owned by accounts, SNS's Query API (API version 2010-03-31, SigV4 service
// "sns", XML responses) on Petrel's HTTP port, the SubscriptionConfirmation
// handshake, and notifications in SNS's signed JSON envelope
// (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA) with a key of
// Petrel's own whose certificate it serves at SigningCertURL.
//
// The package does not deliver anything itself: it turns a publication
// into notify.Jobs (PublishJobs) and hands those of its own actions
// (confirmations, Publish) to an Enqueuer (notify.Engine), which POSTs or
// emails them at least once.
package sns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/store"
)

// Namespace is the XML namespace of SNS's responses.
const Namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// Sealer encrypts the signing key at rest (account.Service, with the
// data-dir key).
type Sealer interface {
	Seal(plain []byte, binding string) []byte
	Open(sealed []byte, binding string) ([]byte, error)
}

// Enqueuer stores jobs for delivery (notify.Engine).
type Enqueuer interface {
	Enqueue(ctx context.Context, jobs ...notify.Job) error
}

// URLChecker refuses subscriber URLs that point at internal networks
// (egress.Guard).
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// Config configures a Service.
type Config struct {
	// Region is the region of topic ARNs and the one SigV4 credential
	// scopes must name ("" accepts any scope; ARNs then say us-east-1).
	Region string
	// PublicURL is the base URL subscribers reach Petrel at, without a
	// trailing slash (config.PublicBaseURL): SubscribeURL, UnsubscribeURL
	// and SigningCertURL are built on it.
	PublicURL string
	// Hostname names the certificate and the sender of email
	// notifications (no-reply@Hostname).
	Hostname string
	// RetryPeriod is notify's retry period (config NotifyRetryPeriod),
	// reported in EffectiveDeliveryPolicy; 0 is notify's default, 24 h.
	RetryPeriod time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Service is the SNS-compatible topic service.
type Service struct {
	db       *store.DB
	accounts *account.Service
	sealer   Sealer
	jobs     Enqueuer
	urls     URLChecker
	cfg      Config
	signer   *signer

	// Email, when set, decides whether Petrel may mail an address for an
	// account on the tenant's own initiative: the confirmation of an email
	// subscription (Subscribe) and the notifications the tenant publishes
	// to one (Publish). The daemon wires it to the accept path's rules, so
	// that SNS email is no way around a paused account or the sandbox.
	// Petrel's own notifications of SES events (PublishJobs) are not
	// gated. nil allows every address.
	Email EmailGate
}

// EmailGate decides whether an account may have Petrel mail rcpt now:
// nil, or an error wrapping ErrEmailPaused (the account's sending is
// paused, by the tenant or by enforcement) or ErrEmailUnverified (the
// account is in the sandbox and rcpt is no verified identity of it), or a
// store error.
type EmailGate interface {
	MayEmail(ctx context.Context, account, rcpt string) error
}

// The EmailGate's refusals.
var (
	ErrEmailPaused     = errors.New("sending paused for this account")
	ErrEmailUnverified = errors.New("email address is not verified")
)

// Errors.
var (
	ErrTopicNotFound        = errors.New("topic does not exist")
	ErrSubscriptionNotFound = errors.New("subscription does not exist")
)

// TokenTTL is how long a confirmation token is valid (SNS: 3 days).
const TokenTTL = 72 * time.Hour

// New returns a Service, loading (or, the first time, creating) the signing
// key from db. urls may be nil (no URL check; tests only).
func New(db *store.DB, accounts *account.Service, sealer Sealer, jobs Enqueuer, urls URLChecker, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Service{db: db, accounts: accounts, sealer: sealer, jobs: jobs, urls: urls, cfg: cfg}
	sg, err := s.loadSigner(context.Background())
	if err != nil {
		return nil, err
	}
	s.signer = sg
	return s, nil
}

// Message types (the Type member and x-amz-sns-message-type header).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
)

// Envelope is SNS's JSON message to HTTP(S) and email-json endpoints, in
// SNS's member order.
type Envelope struct {
	Type              string                      `json:"Type"`
	MessageID         string                      `json:"MessageId"`
	Token             string                      `json:"Token,omitempty"`
	TopicArn          string                      `json:"TopicArn"`
	Subject           string                      `json:"Subject,omitempty"`
	Message           string                      `json:"Message"`
	SubscribeURL      string                      `json:"SubscribeURL,omitempty"`
	Timestamp         string                      `json:"Timestamp"`
	SignatureVersion  string                      `json:"SignatureVersion"`
	Signature         string                      `json:"Signature"`
	SigningCertURL    string                      `json:"SigningCertURL"`
	UnsubscribeURL    string                      `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]MessageAttribute `json:"MessageAttributes,omitempty"`
}

// MessageAttribute is a message attribute as the envelope carries it.
type MessageAttribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// timestamp formats t as SNS does: 2012-05-02T00:54:06.655Z.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newToken() string {
	var b [64]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// accountID returns the 12-digit ID in account's ARNs.
func (s *Service) accountID(ctx context.Context, acct string) (string, error) {
	a, err := s.accounts.Cached(ctx, acct)
	if err != nil {
		return "", fmt.Errorf("account %s: %w", acct, err)
	}
	return a.SendingAccountID, nil
}

func (s *Service) topicArn(accountID, name string) string {
	region := s.cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	return "arn:aws:sns:" + region + ":" + accountID + ":" + name
}
