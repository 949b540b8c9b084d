// Package configset owns the configuration sets of each account (SES v2
// ConfigurationSet, ../shared/spec/ses.md §1.8): named groups of options a
// message may be sent with — whether sending is enabled, the delivery
// options (TLS policy, delivery deadline), reputation, tracking, VDM and
// archiving options, a suppression policy overriding the account's, and
// resource tags (§11.3).
//
// Names are 1–64 of [A-Za-z0-9_-] and compared exactly. An account holds
// at most MaxPerAccount sets (SES's default quota).
//
// The send path reads sets through Cached, whose answers are at most
// CacheTTL old: a change made through this Service is seen at once, one
// made through another node's Service within CacheTTL.
package configset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/ttlcache"
)

// TlsPolicy values (SES: TlsPolicy).
const (
	TLSRequire  = "REQUIRE"  // deliver only over TLS
	TLSOptional = "OPTIONAL" // deliver over TLS when the receiver offers it (the default)
)

// HttpsPolicy values (SES: HttpsPolicy).
const (
	HTTPSRequire         = "REQUIRE"
	HTTPSRequireOpenOnly = "REQUIRE_OPEN_ONLY"
	HTTPSOptional        = "OPTIONAL"
)

// Limits.
const (
	MaxPerAccount = 10000 // configuration sets per account (SES's default quota): LimitExceededException

	MinMaxDeliverySeconds = 300   // SES: MaxDeliverySeconds lower bound
	MaxMaxDeliverySeconds = 50400 // SES: MaxDeliverySeconds upper bound (14 hours)

	MaxTags = resourcetag.MaxTags // tags per resource (§11.3)

	// CacheTTL is how old an answer of Cached may be.
	CacheTTL = 5 * time.Second
	// MaxCacheEntries bounds Cached's memory: when full, entries older than
	// CacheTTL go first, then arbitrary ones.
	MaxCacheEntries = 10000

	MaxSendingPoolNameLen = 64   // SendingPoolName, characters
	MaxArchiveArnLen      = 2048 // ArchiveArn, bytes (an AWS ARN's maximum)
	// FreshStartSkew is how far after now a LastFreshStart may be (clock
	// skew between client and server).
	FreshStartSkew = 24 * time.Hour
)

// FeatureStatus values (SES: FeatureStatus), of VdmOptions' members.
const (
	FeatureEnabled  = "ENABLED"
	FeatureDisabled = "DISABLED"
)

// ConfigurationSet is one configuration set (SES: GetConfigurationSet's
// output).
type ConfigurationSet struct {
	Account string
	Name    string // SES: ConfigurationSetName
	Created time.Time
	// SendingEnabled is SES's SendingOptions.SendingEnabled: false pauses
	// sending with the set. Create stores it as given; CreateConfigurationSet
	// without SendingOptions makes it true, as SES does.
	SendingEnabled bool
	Delivery       DeliveryOptions
	Reputation     ReputationOptions
	// Suppression overrides the account's suppression policy for mail sent
	// with the set (SES: SuppressionOptions): nil, no override (the
	// account's applies); non-nil with empty Reasons, suppression disabled
	// for the set (the account list is neither consulted nor added to); else
	// the set's own reasons and optional soft-bounce policy.
	Suppression *suppression.Policy
	Tracking    TrackingOptions
	// Vdm and Archiving are SES's VdmOptions and ArchivingOptions (nil: not
	// set), stored and returned; Petrel does not act on them.
	Vdm       *VdmOptions
	Archiving *ArchivingOptions
	Tags      []Tag
}

// VdmOptions is SES's VdmOptions: each member nil when not set.
type VdmOptions struct {
	DashboardOptions *DashboardOptions `json:",omitempty"`
	GuardianOptions  *GuardianOptions  `json:",omitempty"`
}

// DashboardOptions is SES's DashboardOptions: EngagementMetrics is
// FeatureEnabled, FeatureDisabled or "" (not set).
type DashboardOptions struct {
	EngagementMetrics string `json:",omitempty"`
}

// GuardianOptions is SES's GuardianOptions: OptimizedSharedDelivery is
// FeatureEnabled, FeatureDisabled or "" (not set).
type GuardianOptions struct {
	OptimizedSharedDelivery string `json:",omitempty"`
}

// ArchivingOptions is SES's ArchivingOptions: the ARN of a MailManager
// archive, arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, at most
// MaxArchiveArnLen bytes.
type ArchivingOptions struct {
	ArchiveArn string
}

// DeliveryOptions is SES's DeliveryOptions.
type DeliveryOptions struct {
	TlsPolicy       string // TLSRequire or TLSOptional ("" is read as TLSOptional)
	SendingPoolName string // stored and returned; Petrel has no dedicated IP pools
	// MaxDeliverySeconds is how long Petrel keeps trying to deliver a
	// message sent with the set, 300–50400; 0: not set (the deployment's
	// delivery deadline).
	MaxDeliverySeconds int64
}

// ReputationOptions is SES's ReputationOptions.
type ReputationOptions struct {
	ReputationMetricsEnabled bool
	LastFreshStart           time.Time // zero: never
}

// TrackingOptions is SES's TrackingOptions.
type TrackingOptions struct {
	CustomRedirectDomain string // "" with HttpsPolicy "": no tracking options
	HttpsPolicy          string // HTTPSRequire, HTTPSRequireOpenOnly, HTTPSOptional or ""
}

// Tag is a resource tag (SES: Tag).
type Tag = resourcetag.Tag

// TLSRequired reports whether the set's mail may be delivered only over TLS
// (SES: TlsPolicy REQUIRE).
func (c ConfigurationSet) TLSRequired() bool { return c.Delivery.TlsPolicy == TLSRequire }

// MaxDelivery is the set's delivery deadline (SES: MaxDeliverySeconds); 0:
// the deployment's default deadline.
func (c ConfigurationSet) MaxDelivery() time.Duration {
	return time.Duration(c.Delivery.MaxDeliverySeconds) * time.Second
}

// Errors. Validation failures wrap ErrInvalid and say what is wrong in
// their message (SES: BadRequestException).
var (
	ErrNotFound = errors.New("configuration set does not exist")   // SES: NotFoundException
	ErrExists   = errors.New("configuration set already exists")   // SES: AlreadyExistsException
	ErrLimit    = errors.New("too many configuration sets")        // SES: LimitExceededException
	ErrInvalid  = errors.New("invalid configuration set settings") // SES: BadRequestException
)

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// ValidateName checks a configuration set name: 1–64 of [A-Za-z0-9_-].
func ValidateName(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("ConfigurationSetName %q must be 1-64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid("ConfigurationSetName %q may contain only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// Validate checks v: each FeatureStatus ENABLED, DISABLED or not set.
func (v *VdmOptions) Validate() error {
	if v == nil {
		return nil
	}
	if d := v.DashboardOptions; d != nil {
		if err := validateFeature("VdmOptions.DashboardOptions.EngagementMetrics", d.EngagementMetrics); err != nil {
			return err
		}
	}
	if g := v.GuardianOptions; g != nil {
		if err := validateFeature("VdmOptions.GuardianOptions.OptimizedSharedDelivery", g.OptimizedSharedDelivery); err != nil {
			return err
		}
	}
	return nil
}

func validateFeature(member, v string) error {
	switch v {
	case "", FeatureEnabled, FeatureDisabled:
		return nil
	}
	return invalid("%s %q is not one of ENABLED, DISABLED", member, truncate(v))
}

// Validate checks a's ArchiveArn: an ARN (six ':'-separated parts, the
// first "arn", partition, service and resource not empty) of printable
// ASCII, at most MaxArchiveArnLen bytes.
func (a *ArchivingOptions) Validate() error {
	if a == nil {
		return nil
	}
	arn := a.ArchiveArn
	if len(arn) > MaxArchiveArnLen {
		return invalid("ArchiveArn is longer than %d characters", MaxArchiveArnLen)
	}
	parts := strings.SplitN(arn, ":", 6)
	ok := len(parts) == 6 && parts[0] == "arn" && parts[1] != "" && parts[2] != "" && parts[5] != ""
	for i := 0; ok && i < len(arn); i++ {
		ok = arn[i] > ' ' && arn[i] < 0x7f
	}
	if !ok {
		return invalid("ArchiveArn %q is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)", truncate(arn))
	}
	return nil
}

// Validate checks r's LastFreshStart: zero (never), or after the Unix
// epoch and at most FreshStartSkew after now.
func (r ReputationOptions) Validate(now time.Time) error {
	t := r.LastFreshStart
	if !t.IsZero() && (t.Unix() <= 0 || t.After(now.Add(FreshStartSkew))) {
		return invalid("LastFreshStart %s is out of range (after 1970-01-01, not in the future)", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// truncate shortens a value quoted in an error message to 64 bytes.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "…"
}

// Validate checks d's values, naming the first one that is wrong.
func (d DeliveryOptions) Validate() error {
	switch d.TlsPolicy {
	case "", TLSRequire, TLSOptional:
	default:
		return invalid("TlsPolicy %q is not one of REQUIRE, OPTIONAL", truncate(d.TlsPolicy))
	}
	if d.MaxDeliverySeconds != 0 && (d.MaxDeliverySeconds < MinMaxDeliverySeconds || d.MaxDeliverySeconds > MaxMaxDeliverySeconds) {
		return invalid("MaxDeliverySeconds %d is out of range (%d-%d)", d.MaxDeliverySeconds, MinMaxDeliverySeconds, MaxMaxDeliverySeconds)
	}
	if n := utf8.RuneCountInString(d.SendingPoolName); n > MaxSendingPoolNameLen || !utf8.ValidString(d.SendingPoolName) || strings.ContainsFunc(d.SendingPoolName, unicode.IsControl) {
		return invalid("SendingPoolName must be at most %d characters, without control characters", MaxSendingPoolNameLen)
	}
	return nil
}

// Validate checks t's values.
func (t TrackingOptions) Validate() error {
	switch t.HttpsPolicy {
	case "", HTTPSRequire, HTTPSRequireOpenOnly, HTTPSOptional:
	default:
		return invalid("HttpsPolicy %q is not one of REQUIRE, REQUIRE_OPEN_ONLY, OPTIONAL", truncate(t.HttpsPolicy))
	}
	if d := t.CustomRedirectDomain; d != "" && !isDomainName(d) {
		return invalid("CustomRedirectDomain %q is not a domain name (LDH labels of 1-63 characters separated by '.', at most 253 characters)", truncate(d))
	}
	return nil
}

// isDomainName reports whether d is a DNS name of LDH labels (RFC 1035
// §2.3.1, RFC 1123 §2.1; IDNs in their A-label form): 1–63 letters,
// digits and '-', not beginning or ending with '-', separated by '.', at
// most 253 characters, at least two labels.
func isDomainName(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ValidateSuppression checks a suppression override: reasons BOUNCE or
// COMPLAINT, each once, and a valid soft-bounce policy.
func ValidateSuppression(p *suppression.Policy) error {
	if p == nil {
		return nil
	}
	for i, r := range p.Reasons {
		if _, err := suppression.ParseReason(string(r)); err != nil {
			return invalid("SuppressedReasons: %v", err)
		}
		if slices.Contains(p.Reasons[:i], r) {
			return invalid("SuppressedReasons: %s is given twice", r)
		}
	}
	if p.SoftBounce != nil {
		if err := p.SoftBounce.Validate(); err != nil {
			return invalid("SoftBouncePolicy: %v", err)
		}
	}
	return nil
}

// validateTags is resourcetag.Validate, its error wrapping ErrInvalid.
func validateTags(tags []Tag) error {
	if err := resourcetag.Validate(tags); err != nil {
		return invalid("%s", err)
	}
	return nil
}

// Validate checks every field of c, for Create at now.
func (c ConfigurationSet) Validate(now time.Time) error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if err := c.Delivery.Validate(); err != nil {
		return err
	}
	if err := c.Tracking.Validate(); err != nil {
		return err
	}
	if err := ValidateSuppression(c.Suppression); err != nil {
		return err
	}
	if err := c.Reputation.Validate(now); err != nil {
		return err
	}
	if err := c.Vdm.Validate(); err != nil {
		return err
	}
	if err := c.Archiving.Validate(); err != nil {
		return err
	}
	return validateTags(c.Tags)
}

// Service stores configuration sets.
type Service struct {
	db  *store.DB
	now func() time.Time

	cache    ttlcache.Cache[cacheKey, ConfigurationSet]   // Cached
	sealer   Sealer                                       // webhook secrets at rest (SetSealer)
	dests    ttlcache.Cache[cacheKey, []EventDestination] // EventDestinations
	hasDests ttlcache.Cache[string, bool]                 // HasNotifications
}

type cacheKey struct{ account, name string }

// New returns the Service over db.
func New(db *store.DB) *Service {
	s := &Service{db: db, now: time.Now}
	s.cache.TTL, s.cache.Max = CacheTTL, MaxCacheEntries
	s.dests.TTL, s.dests.Max = CacheTTL, MaxCacheEntries
	s.hasDests.TTL, s.hasDests.Max = CacheTTL, MaxCacheEntries
	return s
}

const columns = `account, name, created_ms, sending_enabled, tls_policy, sending_pool, max_delivery_seconds,
	reputation_metrics, last_fresh_start_ms, suppression_override, suppression_reasons, suppression_soft,
	custom_redirect_domain, https_policy, vdm, archiving, tags`

// Create stores c, a new set of c.Account (SES: CreateConfigurationSet).
// c.Created is set to now; a zero-value c.Delivery.TlsPolicy is stored as
// OPTIONAL. Errors: ErrInvalid, ErrExists, ErrLimit.
func (s *Service) Create(ctx context.Context, c ConfigurationSet) error {
	if err := c.Validate(s.now()); err != nil {
		return err
	}
	if c.Delivery.TlsPolicy == "" {
		c.Delivery.TlsPolicy = TLSOptional
	}
	override, reasons, soft := 0, "", ""
	if c.Suppression != nil {
		var err error
		if reasons, soft, err = suppression.EncodePolicy(*c.Suppression); err != nil {
			return err
		}
		override = 1
	}
	tags, err := resourcetag.Encode(c.Tags)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(tx, c.Account); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM configuration_sets WHERE account = ?"), c.Account).Scan(&n); err != nil {
			return err
		}
		var exists int
		err := tx.QueryRow(s.db.Rebind("SELECT 1 FROM configuration_sets WHERE account = ? AND name = ?"), c.Account, c.Name).Scan(&exists)
		switch {
		case err == nil:
			return ErrExists
		case !errors.Is(err, sql.ErrNoRows):
			return err
		case n >= MaxPerAccount:
			return ErrLimit
		}
		_, err = tx.Exec(s.db.Rebind("INSERT INTO configuration_sets ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			c.Account, c.Name, s.now().UnixMilli(), boolInt(c.SendingEnabled), c.Delivery.TlsPolicy, c.Delivery.SendingPoolName,
			c.Delivery.MaxDeliverySeconds, boolInt(c.Reputation.ReputationMetricsEnabled), unixMilli(c.Reputation.LastFreshStart),
			override, reasons, soft, c.Tracking.CustomRedirectDomain, c.Tracking.HttpsPolicy,
			encodeOption(c.Vdm), encodeOption(c.Archiving), tags)
		return err
	})
	s.forget(c.Account, c.Name)
	return err
}

// lockAccount serialises Create within an account on PostgreSQL, so that
// the count checked against MaxPerAccount and the name's absence hold until
// commit; SQLite's write lock, taken at BEGIN, does so already.
func (s *Service) lockAccount(tx *sql.Tx, account string) error {
	if s.db.Dialect != store.Postgres {
		return nil
	}
	_, err := tx.Exec("SELECT pg_advisory_xact_lock(7462701, hashtext($1))", account)
	return err
}

// Get returns account's set name, or ErrNotFound (SES:
// GetConfigurationSet).
func (s *Service) Get(ctx context.Context, account, name string) (ConfigurationSet, error) {
	return s.get(ctx, s.db, account, name, "")
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Service) get(ctx context.Context, q queryRower, account, name, suffix string) (ConfigurationSet, error) {
	var (
		c                                   ConfigurationSet
		created, freshStart                 int64
		sending, reputation, override       int
		reasons, soft, vdm, archiving, tags string
	)
	err := q.QueryRowContext(ctx, s.db.Rebind("SELECT "+columns+" FROM configuration_sets WHERE account = ? AND name = ?"+suffix), account, name).Scan(
		&c.Account, &c.Name, &created, &sending, &c.Delivery.TlsPolicy, &c.Delivery.SendingPoolName, &c.Delivery.MaxDeliverySeconds,
		&reputation, &freshStart, &override, &reasons, &soft, &c.Tracking.CustomRedirectDomain, &c.Tracking.HttpsPolicy,
		&vdm, &archiving, &tags)
	if errors.Is(err, sql.ErrNoRows) {
		return ConfigurationSet{}, ErrNotFound
	}
	if err != nil {
		return ConfigurationSet{}, err
	}
	c.Created = time.UnixMilli(created)
	c.SendingEnabled = sending != 0
	c.Reputation.ReputationMetricsEnabled = reputation != 0
	if freshStart > 0 { // rows stored before LastFreshStart was checked may hold a negative one: never
		c.Reputation.LastFreshStart = time.UnixMilli(freshStart)
	}
	if override != 0 {
		p, err := suppression.DecodePolicy(reasons, soft)
		if err != nil {
			return ConfigurationSet{}, fmt.Errorf("configuration set %s: %w", name, err)
		}
		c.Suppression = &p
	}
	c.Vdm = decodeOption[VdmOptions](vdm)
	c.Archiving = decodeOption[ArchivingOptions](archiving)
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return ConfigurationSet{}, fmt.Errorf("configuration set %s: stored tags: %w", name, err)
	}
	return c, nil
}

// Cached is Get for the send path: its answer for a set that exists is at
// most CacheTTL old (a change made through this Service is seen at once);
// a set not found is looked up again on every call. The answer is shared:
// callers must not modify its slices.
func (s *Service) Cached(ctx context.Context, account, name string) (ConfigurationSet, error) {
	return s.cache.Load(cacheKey{account, name}, s.now(), func() (ConfigurationSet, error) { return s.Get(ctx, account, name) })
}

// forget drops the cached answer for a set after a write.
func (s *Service) forget(account, name string) { s.cache.Forget(cacheKey{account, name}) }

// SuppressionOverride is the suppression policy mail sent with account's
// set name follows instead of the account's (through Cached): nil when
// name is "", the set has no override, or the set does not exist (it was
// deleted after the message was accepted).
func (s *Service) SuppressionOverride(ctx context.Context, account, name string) (*suppression.Policy, error) {
	if name == "" {
		return nil, nil
	}
	c, err := s.Cached(ctx, account, name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.Suppression, nil
}

// List returns up to limit of account's set names after after, in name
// order (the store's collation: byte order on SQLite and on a PostgreSQL
// database with collation C) (SES: ListConfigurationSets; the API makes
// its NextToken from the last name).
func (s *Service) List(ctx context.Context, account, after string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT name FROM configuration_sets WHERE account = ? AND name > ? ORDER BY name LIMIT ?"), account, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Delete removes account's set name and its event destinations, or
// returns ErrNotFound (SES: DeleteConfigurationSet). Messages already
// accepted with it are sent as if it had no options, and their events
// published nowhere.
func (s *Service) Delete(ctx context.Context, account, name string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.deleteDestinationsTx(tx, account, name); err != nil {
			return err
		}
		res, err := tx.Exec(s.db.Rebind("DELETE FROM configuration_sets WHERE account = ? AND name = ?"), account, name)
		return affected(res, err)
	})
	s.forget(account, name)
	s.forgetDestinations(account, name)
	return err
}

// update sets columns (written "a = ?, b = ?") of account's set name.
func (s *Service) update(ctx context.Context, account, name, set string, args ...any) error {
	args = append(args, account, name)
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE configuration_sets SET "+set+" WHERE account = ? AND name = ?"), args...)
	s.forget(account, name)
	return affected(res, err)
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// PutDeliveryOptions replaces the set's delivery options (SES:
// PutConfigurationSetDeliveryOptions); TlsPolicy "" is OPTIONAL. Errors:
// ErrInvalid, ErrNotFound.
func (s *Service) PutDeliveryOptions(ctx context.Context, account, name string, d DeliveryOptions) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.TlsPolicy == "" {
		d.TlsPolicy = TLSOptional
	}
	return s.update(ctx, account, name, "tls_policy = ?, sending_pool = ?, max_delivery_seconds = ?",
		d.TlsPolicy, d.SendingPoolName, d.MaxDeliverySeconds)
}

// PutSendingOptions enables or disables sending with the set (SES:
// PutConfigurationSetSendingOptions). Errors: ErrNotFound.
func (s *Service) PutSendingOptions(ctx context.Context, account, name string, enabled bool) error {
	return s.update(ctx, account, name, "sending_enabled = ?", boolInt(enabled))
}

// PutReputationOptions sets ReputationMetricsEnabled (SES:
// PutConfigurationSetReputationOptions). Errors: ErrNotFound.
func (s *Service) PutReputationOptions(ctx context.Context, account, name string, metricsEnabled bool) error {
	return s.update(ctx, account, name, "reputation_metrics = ?", boolInt(metricsEnabled))
}

// PutSuppressionOptions replaces the set's suppression override (SES:
// PutConfigurationSetSuppressionOptions): nil removes it, see
// ConfigurationSet.Suppression. Errors: ErrInvalid, ErrNotFound.
func (s *Service) PutSuppressionOptions(ctx context.Context, account, name string, p *suppression.Policy) error {
	if err := ValidateSuppression(p); err != nil {
		return err
	}
	if p == nil {
		return s.update(ctx, account, name, "suppression_override = 0, suppression_reasons = '', suppression_soft = ''")
	}
	reasons, soft, err := suppression.EncodePolicy(*p)
	if err != nil {
		return err
	}
	return s.update(ctx, account, name, "suppression_override = 1, suppression_reasons = ?, suppression_soft = ?", reasons, soft)
}

// PutTrackingOptions replaces the set's tracking options (SES:
// PutConfigurationSetTrackingOptions). Errors: ErrInvalid, ErrNotFound.
func (s *Service) PutTrackingOptions(ctx context.Context, account, name string, t TrackingOptions) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return s.update(ctx, account, name, "custom_redirect_domain = ?, https_policy = ?", t.CustomRedirectDomain, t.HttpsPolicy)
}

// PutVdmOptions replaces the set's VdmOptions (nil: none) (SES:
// PutConfigurationSetVdmOptions). Errors: ErrInvalid, ErrNotFound.
func (s *Service) PutVdmOptions(ctx context.Context, account, name string, v *VdmOptions) error {
	if err := v.Validate(); err != nil {
		return err
	}
	return s.update(ctx, account, name, "vdm = ?", encodeOption(v))
}

// PutArchivingOptions replaces the set's ArchivingOptions (nil: none)
// (SES: PutConfigurationSetArchivingOptions). Errors: ErrInvalid,
// ErrNotFound.
func (s *Service) PutArchivingOptions(ctx context.Context, account, name string, a *ArchivingOptions) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return s.update(ctx, account, name, "archiving = ?", encodeOption(a))
}

// Tag adds tags to the set, replacing the values of keys it has (SES:
// TagResource; resourcetag.Merge). Errors: ErrInvalid (also when the set
// would have more than MaxTags), ErrNotFound.
func (s *Service) Tag(ctx context.Context, account, name string, tags []Tag) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.editTags(ctx, account, name, func(have []Tag) ([]Tag, error) {
		out, err := resourcetag.Merge(have, tags)
		if err != nil {
			return nil, invalid("%s", err)
		}
		return out, nil
	})
}

// Untag removes the tags of keys from the set; keys it does not have are
// ignored (SES: UntagResource; resourcetag.Drop). Errors: ErrNotFound.
func (s *Service) Untag(ctx context.Context, account, name string, keys []string) error {
	return s.editTags(ctx, account, name, func(have []Tag) ([]Tag, error) {
		return resourcetag.Drop(have, keys), nil
	})
}

func (s *Service) editTags(ctx context.Context, account, name string, edit func([]Tag) ([]Tag, error)) error {
	forUpdate := ""
	if s.db.Dialect == store.Postgres {
		forUpdate = " FOR UPDATE"
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := s.get(ctx, tx, account, name, forUpdate)
		if err != nil {
			return err
		}
		tags, err := edit(c.Tags)
		if err != nil {
			return err
		}
		b, err := resourcetag.Encode(tags)
		if err != nil {
			return err
		}
		_, err = tx.Exec(s.db.Rebind("UPDATE configuration_sets SET tags = ? WHERE account = ? AND name = ?"), b, account, name)
		return err
	})
	s.forget(account, name)
	return err
}

// encodeOption is the stored form of an option object: its canonical JSON
// ("" for nil).
func encodeOption[T any](v *T) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// decodeOption reads a stored option object: nil for "" or a value that is
// not a valid one (rows stored before options were typed may hold any
// JSON: unknown members are dropped, an invalid object is read as none).
func decodeOption[T any, P interface {
	*T
	Validate() error
}](stored string) *T {
	if stored == "" {
		return nil
	}
	v := new(T)
	if err := json.Unmarshal([]byte(stored), v); err != nil || P(v).Validate() != nil {
		return nil
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
