// Package config is Petrel's static configuration: one struct whose fields
// are both the TOML keys of the config file and the command-line flags of
// "petrel serve" (same names). The zero config plus Default() runs Petrel on
// its embedded defaults: SQLite in ./petrel-data, everything on 127.0.0.1.
//
// Runtime state (accounts, identities, …) lives in the store, never here.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the static configuration. Each field's toml key is its flag name.
type Config struct {
	DataDir          string   `toml:"data-dir"`           // where the database, keys, certificate and credentials live
	HTTP             string   `toml:"http"`               // SESv2 API listen address
	SMTP             string   `toml:"smtp"`               // SMTP submission with STARTTLS; "" disables
	SMTPS            string   `toml:"smtps"`              // SMTP submission with implicit TLS; "" disables
	Inbound          string   `toml:"inbound"`            // return-path receiver (bounces, complaints); "" disables
	Database         string   `toml:"database"`           // "" = SQLite in the data dir; a postgres:// URL selects PostgreSQL
	Hostname         string   `toml:"hostname"`           // name in greetings, EHLO, Message-IDs, reportingMTA
	ReturnPathDomain string   `toml:"return-path-domain"` // domain of VERP return paths ("" = hostname)
	MessageIDDomain  string   `toml:"message-id-domain"`  // domain of the Message-ID header Petrel writes, <id@domain> ("" = hostname)
	Region           string   `toml:"region"`             // region in ARNs and SMTP password derivation
	RelayHost        string   `toml:"relay-host"`         // HOST:PORT to deliver everything to (smart host); "" = MX delivery
	DNS              string   `toml:"dns"`                // HOST:PORT of the DNS server for MX/A/AAAA and identity verification ("" = /etc/resolv.conf)
	DeliveryPort     int      `toml:"delivery-port"`      // TCP port of MX hosts
	TLSCert          string   `toml:"tls-cert"`           // PEM certificate (chain) for SMTP; "" = self-signed, generated once; reloaded on SIGHUP
	TLSKey           string   `toml:"tls-key"`            // PEM key for TLSCert; reloaded with it
	MaxDeliveryTime  Duration `toml:"max-delivery-time"`  // how long temporary failures are retried before a Transient bounce
	RetryBase        Duration `toml:"retry-base"`         // first retry delay, doubling per attempt
	RetryMax         Duration `toml:"retry-max"`          // longest retry delay
	ShutdownGrace    Duration `toml:"shutdown-grace"`     // how long in-flight work may finish on SIGTERM
	LogLevel         string   `toml:"log-level"`          // debug, info, warn, error
	Debug            string   `toml:"debug"`              // listen address of /debug/pprof (profiling); "" disables
	Metrics          string   `toml:"metrics"`            // listen address of /metrics (Prometheus, docs/metrics.md); "" disables
	DeliveryBacklog  int      `toml:"delivery-backlog"`   // queue entries held in memory ahead of the delivery workers; more wait in the database
	BounceRules      string   `toml:"bounce-rules"`       // operator's bounce rule file (TOML), applied over the built-in rules; reloaded on SIGHUP
	InboundMailboxes string   `toml:"inbound-mailboxes"`  // local parts at the return-path domain accepted besides VERP addresses (complaint feedback loops)
	ImportDir        string   `toml:"import-dir"`         // directory whose subdirectory <account>/ holds the files that account's import jobs may read as file:// URLs; "" disables file:// sources

	InboundMaxSize           int64 `toml:"inbound-max-size"`            // bytes of one message to the return-path receiver; larger get 552 5.3.4
	InboundMaxConns          int   `toml:"inbound-max-conns"`           // return-path connections open at once (0 = unlimited); more get 421 4.7.0
	InboundMaxConnsPerIP     int   `toml:"inbound-max-conns-per-ip"`    // return-path connections open at once from one address (0 = unlimited)
	InboundMessagesPerMinute int   `toml:"inbound-messages-per-minute"` // messages one address may send the return path a minute (0 = unlimited); more get 450 4.7.1
	InboundBodyBudget        int64 `toml:"inbound-body-budget"`         // bytes of all stored return-path message bodies; past it the oldest are dropped, whatever their state (0 = unlimited)

	RetentionMessages Duration `toml:"retention-messages"` // how long message records (GetMessageInsights) are kept after their last event ("30d"; 0 = forever)
	RetentionEvents   Duration `toml:"retention-events"`   // how long events are kept (0 = forever)
	RetentionInbound  Duration `toml:"retention-inbound"`  // how long return-path mail is kept (0 = forever)
	// RetentionStatistics is how long the statistics counters are kept
	// (BatchGetMetricData, GetSendStatistics, petrel stats): 0 = forever,
	// else at least MinRetentionStatistics.
	RetentionStatistics Duration `toml:"retention-statistics"`

	GlobalSuppressionInitial Duration `toml:"global-suppression-initial"` // how long a first hard bounce keeps an address on the global suppression list
	GlobalSuppressionMax     Duration `toml:"global-suppression-max"`     // the longest a listing lasts; each repeat hard bounce doubles the last, up to this

	ProductionMax24hSend  int64   `toml:"production-max-24h-send"`  // Max24HourSend given with production access (docs/quotas.md; -1 = unlimited)
	ProductionMaxSendRate float64 `toml:"production-max-send-rate"` // MaxSendRate (recipients/s) given with production access (-1 = unlimited)

	HTTPMaxConns      int      `toml:"http-max-conns"`        // API connections open at once (0 = as many as the open-files limit allows); more are answered 503 and closed
	HTTPMaxConnsPerIP int      `toml:"http-max-conns-per-ip"` // API connections open at once from one address (0 = unlimited)
	HTTPHeaderTimeout Duration `toml:"http-header-timeout"`   // time a client has to send a request's headers (a new connection: its first request's)
	HTTPIdleTimeout   Duration `toml:"http-idle-timeout"`     // how long a keep-alive connection may wait for its next request
	HTTPMinBodyRate   int      `toml:"http-min-body-rate"`    // bytes/s: a body of n bytes must arrive within http-header-timeout + n/rate
	MaxBodyMemory     int64    `toml:"max-body-memory"`       // bytes of message bodies held in memory at once (API and SMTP); over it: 503/451, retry later (0 = unlimited)

	SMTPMaxConns      int `toml:"smtp-max-conns"`        // SMTP submission connections open at once, per listener (0 = unlimited); more get 421 4.7.0
	SMTPMaxConnsPerIP int `toml:"smtp-max-conns-per-ip"` // SMTP submission connections open at once from one address, per listener (0 = unlimited)

	// PublicURL is the base URL (scheme://host[:port]) at which Petrel's
	// HTTP server is reached from outside: SNS's SubscribeURL,
	// UnsubscribeURL and SigningCertURL, and the links of address
	// verification emails, are built on it. "" = http://<http> (plain http).
	PublicURL string `toml:"public-url"`
	// VerificationFrom is the From address of the verification emails
	// Petrel sends to new email-address identities ("" =
	// no-reply@<hostname>; VerificationSender).
	VerificationFrom string `toml:"verification-from"`
	// NotifyAllowNetworks are CIDR prefixes that webhook and subscription
	// URLs may reach although they are loopback, private, link-local or
	// otherwise internal (the SSRF guard refuses those by default).
	NotifyAllowNetworks []string `toml:"notify-allow-networks"`
	// NotifyRetryPeriod is how long a notification that cannot be delivered
	// is retried before it becomes a dead letter.
	NotifyRetryPeriod Duration `toml:"notify-retry-period"`

	// Reputation enforcement (docs/reputation.md): rates are fractions
	// (0.05 = 5 %); a rate equal to a threshold has reached it.
	ReputationMinVolume       int64    `toml:"reputation-min-volume"`       // counted sends a window needs before its rates are enforced
	ReputationMinWindow       Duration `toml:"reputation-min-window"`       // the shortest window the rates are taken over
	ReputationMaxWindow       Duration `toml:"reputation-max-window"`       // the longest window the rates are taken over
	ReputationBounceReview    float64  `toml:"reputation-bounce-review"`    // bounce rate that puts an account or set under review (PROBATION)
	ReputationBouncePause     float64  `toml:"reputation-bounce-pause"`     // bounce rate that pauses its sending (SHUTDOWN)
	ReputationComplaintReview float64  `toml:"reputation-complaint-review"` // complaint rate of review
	ReputationComplaintPause  float64  `toml:"reputation-complaint-pause"`  // complaint rate of pause

	// Warm-up: the growth of healthy production accounts' quotas.
	QuotaGrowthFactor    float64  `toml:"quota-growth-factor"`    // each growth multiplies Max24HourSend and MaxSendRate by it (1 = no growth)
	QuotaGrowthThreshold float64  `toml:"quota-growth-threshold"` // fraction of Max24HourSend used in the last 24 h that earns a growth
	QuotaGrowthInterval  Duration `toml:"quota-growth-interval"`  // the least time between two growths of one account
	QuotaMax24HourSend   int64    `toml:"quota-max-24h-send"`     // the most Max24HourSend growth gives
	QuotaMaxSendRate     float64  `toml:"quota-max-send-rate"`    // the most MaxSendRate growth gives

	// Verification by DNS (docs/identities.md, "Verification by DNS").
	DKIMCNAMEZone     string   `toml:"dkim-cname-zone"`     // zone serving Easy DKIM keys: selectors are published as CNAMEs to <selector>.<zone> (SigningHostedZone); "" = TXT records with the key
	VerifyWindow      Duration `toml:"verify-window"`       // how long a record never found is looked for before FAILED (SES: 72 h)
	VerifyGrace       Duration `toml:"verify-grace"`        // how long a record that had been found may be missing before FAILED and the domain unverified (72 h)
	VerifyRecheck     Duration `toml:"verify-recheck"`      // between checks of a record found (24 h)
	VerifyPendingFast Duration `toml:"verify-pending-fast"` // between checks of a record not found, in its first hour (5 min)
	VerifyPendingSlow Duration `toml:"verify-pending-slow"` // between checks of a record not found, after its first hour (30 min)
	// Custom MAIL FROM (docs/identities.md, "Custom MAIL FROM").
	MailFromMX string `toml:"mail-from-mx"` // host the one MX of a custom MAIL FROM domain must name ("" = the return-path domain)
	SPFInclude string `toml:"spf-include"`  // domain a custom MAIL FROM domain's SPF record must include: or redirect= to ("" = the return-path domain)

	// DKIM key rotation (docs/identities.md, "DKIM keys and rotation").
	DKIMRotationInterval Duration `toml:"dkim-rotation-interval"` // start a rotation of each Easy DKIM key after it has signed this long; 0 = never
	DKIMOverlap          Duration `toml:"dkim-overlap"`           // how long a replaced key's record must stay published
}

// ReturnPathHost is the return-path domain in force: ReturnPathDomain,
// else Hostname.
func (c Config) ReturnPathHost() string {
	if c.ReturnPathDomain != "" {
		return c.ReturnPathDomain
	}
	return c.Hostname

}

// Duration is a time.Duration written as "14h", "90s" in TOML, or with a
// leading count of days: "30d", "1d12h".
type Duration time.Duration

// UnmarshalText parses a Go duration string, optionally prefixed by a
// whole number of days ("30d", "1d12h"; a day is 24 h).
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return fmt.Errorf("time: invalid duration %q", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			*d = Duration(days)
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("time: invalid duration %q", string(b))
	}
	*d = Duration(days + v)
	return nil
}

// String writes whole days as "30d", anything else as time.Duration does.
func (d Duration) String() string {
	if v := time.Duration(d); v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(d).String()
}

// Set implements flag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Limits of the values Validate accepts.
const (
	// MinBodyMemory is the smallest non-zero max-body-memory: one largest
	// API request body (api.MaxBody, 60 MiB), which reserves its
	// Content-Length; under it the largest sends would always be refused.
	MinBodyMemory = 60 << 20
	// MinInboundMaxSize is the smallest inbound-max-size: a DSN or ARF
	// report returning the original's headers only (MTAs send 5–20 KB).
	MinInboundMaxSize = 64 << 10
	// MaxConns bounds every connection cap: far above any open-files limit,
	// low enough that sums of caps cannot overflow.
	MaxConns = 1 << 20
	// MinRetentionStatistics is the shortest non-zero retention-statistics:
	// GetSendStatistics reports the last two weeks.
	MinRetentionStatistics = Duration(14 * 24 * time.Hour)
)

// Default returns the embedded-default configuration.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" || !strings.Contains(host, ".") {
		host = "petrel.localhost"
	}
	return Config{
		DataDir:          "petrel-data",
		HTTP:             "127.0.0.1:8080",
		SMTP:             "127.0.0.1:2587",
		SMTPS:            "127.0.0.1:2465",
		Inbound:          "127.0.0.1:2025",
		Hostname:         host,
		Region:           "us-east-1",
		DeliveryPort:     25,
		MaxDeliveryTime:  Duration(14 * time.Hour),
		RetryBase:        Duration(time.Minute),
		RetryMax:         Duration(time.Hour),
		ShutdownGrace:    Duration(20 * time.Second),
		LogLevel:         "info",
		DeliveryBacklog:  10000,
		InboundMailboxes: "postmaster,abuse,fbl",

		// Bounce.Parse reads a report's first 1 MiB; 2 MiB also takes a
		// report returning a whole ordinary message (MTAs return 50–100 KB).
		InboundMaxSize:           2 << 20,
		InboundMaxConns:          200,
		InboundMaxConnsPerIP:     10,
		InboundMessagesPerMinute: 120,
		// 64 MiB is thousands of typical reports to look at; the events
		// were recorded at receipt, so a dropped body loses no outcome.
		InboundBodyBudget: 64 << 20,

		// Events and message records: a month covers the 14 h delivery
		// window, complaints that arrive days later, and a month of history
		// for GetMessageInsights. Return-path mail is kept two weeks, long
		// enough to look at why a report was not attributed.
		RetentionMessages: Duration(30 * 24 * time.Hour),
		RetentionEvents:   Duration(30 * 24 * time.Hour),
		RetentionInbound:  Duration(14 * 24 * time.Hour),
		// Statistics counters are small (a row per bucket, dimension and
		// metric with traffic): a quarter of daily history.
		RetentionStatistics: Duration(90 * 24 * time.Hour),

		// SES's global list: a short first listing, doubling on each
		// repeat hard bounce, at most 14 days (ses.md §6.1).
		GlobalSuppressionInitial: Duration(24 * time.Hour),
		GlobalSuppressionMax:     Duration(14 * 24 * time.Hour),

		// SES's usual first production quota.
		ProductionMax24hSend:  50000,
		ProductionMaxSendRate: 14,

		HTTPMaxConns:      4096,
		HTTPMaxConnsPerIP: 1024,
		HTTPHeaderTimeout: Duration(10 * time.Second),
		HTTPIdleTimeout:   Duration(time.Minute),
		HTTPMinBodyRate:   64 << 10,
		MaxBodyMemory:     256 << 20,

		SMTPMaxConns:      1000,
		SMTPMaxConnsPerIP: 50,

		// SNS retries an HTTP endpoint for up to an hour by policy; a
		// self-hosted receiver may be down for a night: a day, then a dead
		// letter the operator can replay.
		NotifyRetryPeriod: Duration(24 * time.Hour),

		// SES's thresholds (ses.md §8.1–8.2); 500 counted sends over at
		// least a day and at most two weeks is Petrel's "representative
		// volume" (docs/reputation.md).
		ReputationMinVolume:       500,
		ReputationMinWindow:       Duration(24 * time.Hour),
		ReputationMaxWindow:       Duration(14 * 24 * time.Hour),
		ReputationBounceReview:    0.05,
		ReputationBouncePause:     0.10,
		ReputationComplaintReview: 0.001,
		ReputationComplaintPause:  0.005,

		QuotaGrowthFactor:    1.5,
		QuotaGrowthThreshold: 0.8,
		QuotaGrowthInterval:  Duration(24 * time.Hour),
		QuotaMax24HourSend:   1000000,
		QuotaMaxSendRate:     200,

		VerifyWindow:      Duration(72 * time.Hour),
		VerifyGrace:       Duration(72 * time.Hour),
		VerifyRecheck:     Duration(24 * time.Hour),
		VerifyPendingFast: Duration(5 * time.Minute),
		VerifyPendingSlow: Duration(30 * time.Minute),

		DKIMOverlap: Duration(7 * 24 * time.Hour),
	}
}

// Load builds the configuration for "petrel serve": defaults, then the TOML
// file named by --config (strict: unknown keys are errors), then flags.
func Load(args []string) (Config, error) {
	cfg := Default()
	if path := configPath(args); path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("reading %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			return cfg, fmt.Errorf("%s: unknown keys: %s", path, strings.Join(keys, ", "))
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", "", "TOML config file (keys are the flag names)")
	Flags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, cfg.Validate()
}

func configPath(args []string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Flags registers every field as a flag on fs, with cfg's values as defaults.
func Flags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "SESv2 API listen address")
	fs.StringVar(&cfg.SMTP, "smtp", cfg.SMTP, "SMTP submission (STARTTLS) listen address; empty disables")
	fs.StringVar(&cfg.SMTPS, "smtps", cfg.SMTPS, "SMTP submission (implicit TLS) listen address; empty disables")
	fs.StringVar(&cfg.Inbound, "inbound", cfg.Inbound, "return-path SMTP receiver listen address; empty disables")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "empty for SQLite in the data dir, or a postgres:// URL")
	fs.StringVar(&cfg.Hostname, "hostname", cfg.Hostname, "host name used in SMTP and Message-IDs")
	fs.StringVar(&cfg.ReturnPathDomain, "return-path-domain", cfg.ReturnPathDomain, "domain of VERP return paths (default: hostname)")
	fs.StringVar(&cfg.MessageIDDomain, "message-id-domain", cfg.MessageIDDomain, "domain of the Message-ID header written on every message, <MessageId@DOMAIN> (default: hostname; email.amazonses.com is what SES clients such as nodemailer assume in us-east-1)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region for ARNs and SMTP password derivation")
	fs.StringVar(&cfg.RelayHost, "relay-host", cfg.RelayHost, "HOST:PORT to deliver all mail to instead of MX hosts")
	fs.StringVar(&cfg.DNS, "dns", cfg.DNS, "HOST:PORT of the DNS server for MX lookups and identity verification (DKIM, token and MAIL FROM records, DMARC) (default: /etc/resolv.conf)")
	fs.IntVar(&cfg.DeliveryPort, "delivery-port", cfg.DeliveryPort, "TCP port of MX hosts")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate (leaf first, then intermediates) for SMTP TLS (default: self-signed in the data dir); reloaded on SIGHUP")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM private key for --tls-cert; reloaded on SIGHUP")
	fs.Var(&cfg.MaxDeliveryTime, "max-delivery-time", "how long temporary failures are retried")
	fs.Var(&cfg.RetryBase, "retry-base", "first retry delay (doubles per attempt)")
	fs.Var(&cfg.RetryMax, "retry-max", "longest retry delay")
	fs.Var(&cfg.ShutdownGrace, "shutdown-grace", "how long in-flight work may finish on shutdown")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.IntVar(&cfg.DeliveryBacklog, "delivery-backlog", cfg.DeliveryBacklog, "queue entries held in memory ahead of the delivery workers (more wait in the database)")
	fs.StringVar(&cfg.BounceRules, "bounce-rules", cfg.BounceRules, "TOML file of bounce rules applied over the built-in ones (reloaded on SIGHUP and by petrel bounce rules reload)")
	fs.StringVar(&cfg.ImportDir, "import-dir", cfg.ImportDir, "directory whose subdirectory <account>/ holds the regular files that account's suppression-list import jobs may read as file:///path URLs (CreateImportJob); empty disables file:// sources")
	fs.StringVar(&cfg.InboundMailboxes, "inbound-mailboxes", cfg.InboundMailboxes, "comma-separated local parts at the return-path domain accepted besides VERP addresses (feedback loops)")
	fs.Int64Var(&cfg.InboundMaxSize, "inbound-max-size", cfg.InboundMaxSize, "bytes of one message to the return-path receiver, at least 64 KiB and at most max-body-memory; larger are refused with 552")
	fs.IntVar(&cfg.InboundMaxConns, "inbound-max-conns", cfg.InboundMaxConns, "return-path connections open at once; more are answered 421 and closed (0 = unlimited)")
	fs.IntVar(&cfg.InboundMaxConnsPerIP, "inbound-max-conns-per-ip", cfg.InboundMaxConnsPerIP, "return-path connections open at once from one address (0 = unlimited)")
	fs.IntVar(&cfg.InboundMessagesPerMinute, "inbound-messages-per-minute", cfg.InboundMessagesPerMinute, "messages one address may send the return path per minute; more get 450 (0 = unlimited)")
	fs.Int64Var(&cfg.InboundBodyBudget, "inbound-body-budget", cfg.InboundBodyBudget, "bytes of all stored return-path message bodies; past it the oldest bodies are dropped, whatever their state, their parsed reports kept (0 = unlimited)")
	fs.Var(&cfg.RetentionMessages, "retention-messages", "how long message records (read by GetMessageInsights) are kept, and at least as long as their events, e.g. 30d (0 = forever, else at least 1s)")
	fs.Var(&cfg.RetentionEvents, "retention-events", "how long events are kept, e.g. 30d (0 = forever, else at least 1s)")
	fs.Var(&cfg.RetentionInbound, "retention-inbound", "how long mail received at the return path is kept, e.g. 14d (0 = forever, else at least 1s)")
	fs.Var(&cfg.RetentionStatistics, "retention-statistics", "how long the statistics counters (BatchGetMetricData, petrel stats) are kept, e.g. 90d (0 = forever, else at least 14d: GetSendStatistics covers two weeks)")
	fs.Var(&cfg.GlobalSuppressionInitial, "global-suppression-initial", "how long a first hard bounce keeps an address on the global suppression list, e.g. 24h (at least 1m)")
	fs.Var(&cfg.GlobalSuppressionMax, "global-suppression-max", "the longest an address stays on the global suppression list: each repeat hard bounce doubles its last listing up to this, e.g. 14d (at least global-suppression-initial, at most 365d)")
	fs.Int64Var(&cfg.ProductionMax24hSend, "production-max-24h-send", cfg.ProductionMax24hSend, "recipients per rolling 24 h an account gets with production access (petrel account create --production, account production --grant; -1 = unlimited)")
	fs.Float64Var(&cfg.ProductionMaxSendRate, "production-max-send-rate", cfg.ProductionMaxSendRate, "recipients per second an account gets with production access (-1 = unlimited)")
	fs.IntVar(&cfg.HTTPMaxConns, "http-max-conns", cfg.HTTPMaxConns, "API connections open at once; more are answered 503 and closed (lowered to fit the open-files limit; 0 = as many as it allows)")
	fs.IntVar(&cfg.HTTPMaxConnsPerIP, "http-max-conns-per-ip", cfg.HTTPMaxConnsPerIP, "API connections open at once from one address (0 = unlimited; raise it behind a proxy)")
	fs.Var(&cfg.HTTPHeaderTimeout, "http-header-timeout", "time a client has to send a request's headers (at least 1s)")
	fs.Var(&cfg.HTTPIdleTimeout, "http-idle-timeout", "how long a keep-alive API connection may wait for its next request (at least 1s)")
	fs.IntVar(&cfg.HTTPMinBodyRate, "http-min-body-rate", cfg.HTTPMinBodyRate, "bytes/s: a request body of n bytes must arrive within http-header-timeout + n/rate")
	fs.IntVar(&cfg.SMTPMaxConns, "smtp-max-conns", cfg.SMTPMaxConns, "SMTP submission connections open at once, per listener; more are answered 421 and closed (0 = unlimited)")
	fs.IntVar(&cfg.SMTPMaxConnsPerIP, "smtp-max-conns-per-ip", cfg.SMTPMaxConnsPerIP, "SMTP submission connections open at once from one address, per listener (0 = unlimited)")
	fs.Int64Var(&cfg.MaxBodyMemory, "max-body-memory", cfg.MaxBodyMemory, "bytes of message bodies held in memory at once, API and SMTP together; over it requests are refused with 503/451 (0 = unlimited, else at least 60 MiB: one largest API request)")
	fs.StringVar(&cfg.Debug, "debug", cfg.Debug, "listen address of the profiling endpoints /debug/pprof/ (keep it private); empty disables")
	fs.StringVar(&cfg.Metrics, "metrics", cfg.Metrics, "listen address of the Prometheus endpoint /metrics, e.g. 127.0.0.1:9464 (unauthenticated: keep it private); empty disables")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL at which the HTTP server is reached from outside: notification subscribers' SNS SubscribeURL, UnsubscribeURL, SigningCertURL, the links in address verification emails (<public-url>/verify-email/) and the unsubscribe links of list-managed mail (<public-url>/unsubscribe/: RFC 8058 wants https), e.g. https://petrel.example.com (default: http://<http>, so links are plain http:// unless this is set)")
	fs.StringVar(&cfg.VerificationFrom, "verification-from", cfg.VerificationFrom, "From address of the verification emails sent to new email-address identities, whose links are served at <public-url>/verify-email/ (default: no-reply@<hostname>)")
	fs.Func("notify-allow-networks", "comma-separated CIDR prefixes webhook and subscription URLs may reach although internal (loopback, private, link-local…), e.g. 10.1.2.0/24", func(v string) error {
		cfg.NotifyAllowNetworks = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.NotifyAllowNetworks = append(cfg.NotifyAllowNetworks, p)
			}
		}
		return nil
	})
	fs.Var(&cfg.NotifyRetryPeriod, "notify-retry-period", "how long an undeliverable notification is retried before it becomes a dead letter, e.g. 24h (at least 1m)")
	fs.Int64Var(&cfg.ReputationMinVolume, "reputation-min-volume", cfg.ReputationMinVolume, "counted sends the reputation window must hold before its rates are enforced (at least 1)")
	fs.Var(&cfg.ReputationMinWindow, "reputation-min-window", "the shortest window bounce and complaint rates are taken over, e.g. 24h (at least 15m)")
	fs.Var(&cfg.ReputationMaxWindow, "reputation-max-window", "the longest window bounce and complaint rates are taken over, e.g. 14d (at least reputation-min-window; statistics must be kept that long)")
	fs.Float64Var(&cfg.ReputationBounceReview, "reputation-bounce-review", cfg.ReputationBounceReview, "bounce rate (fraction) that puts an account or configuration set under review (PROBATION)")
	fs.Float64Var(&cfg.ReputationBouncePause, "reputation-bounce-pause", cfg.ReputationBouncePause, "bounce rate (fraction) that pauses its sending (SHUTDOWN), at least reputation-bounce-review")
	fs.Float64Var(&cfg.ReputationComplaintReview, "reputation-complaint-review", cfg.ReputationComplaintReview, "complaint rate (fraction) that puts an account or configuration set under review (PROBATION)")
	fs.Float64Var(&cfg.ReputationComplaintPause, "reputation-complaint-pause", cfg.ReputationComplaintPause, "complaint rate (fraction) that pauses its sending (SHUTDOWN), at least reputation-complaint-review")
	fs.Float64Var(&cfg.QuotaGrowthFactor, "quota-growth-factor", cfg.QuotaGrowthFactor, "warm-up: each growth multiplies a healthy production account's Max24HourSend and MaxSendRate by this (1 = no growth)")
	fs.Float64Var(&cfg.QuotaGrowthThreshold, "quota-growth-threshold", cfg.QuotaGrowthThreshold, "warm-up: the fraction of Max24HourSend an account must have used in the last 24 h to grow (0 to 1)")
	fs.Var(&cfg.QuotaGrowthInterval, "quota-growth-interval", "warm-up: the least time between two growths of one account, e.g. 24h (at least 1m)")
	fs.Int64Var(&cfg.QuotaMax24HourSend, "quota-max-24h-send", cfg.QuotaMax24HourSend, "warm-up: the highest Max24HourSend growth gives (at least 1)")
	fs.Float64Var(&cfg.QuotaMaxSendRate, "quota-max-send-rate", cfg.QuotaMaxSendRate, "warm-up: the highest MaxSendRate growth gives, recipients per second (above 0)")
	fs.StringVar(&cfg.DKIMCNAMEZone, "dkim-cname-zone", cfg.DKIMCNAMEZone, "zone you serve Easy DKIM keys from: each domain publishes <selector>._domainkey.<domain> CNAME <selector>.<zone> and you publish the key's TXT at <selector>.<zone> (SES's SigningHostedZone); empty: each domain publishes a TXT record with the key")
	fs.Var(&cfg.VerifyWindow, "verify-window", "how long a verification record never found is looked for before it is FAILED, e.g. 72h (at least 1h)")
	fs.Var(&cfg.VerifyGrace, "verify-grace", "how long a verification record that had been found may be missing before it is FAILED and its domain no longer verified, e.g. 72h (at least 1h)")
	fs.Var(&cfg.VerifyRecheck, "verify-recheck", "time between checks of a verification record that was found, e.g. 24h (at least 1m)")
	fs.Var(&cfg.VerifyPendingFast, "verify-pending-fast", "time between checks of a verification record not found yet, in its first hour, e.g. 5m (at least 1m)")
	fs.StringVar(&cfg.MailFromMX, "mail-from-mx", cfg.MailFromMX, "host the single MX record of a custom MAIL FROM domain must name: your return-path receiver (default: the return-path domain)")
	fs.StringVar(&cfg.SPFInclude, "spf-include", cfg.SPFInclude, "domain whose SPF record authorises Petrel's sending addresses: a custom MAIL FROM domain's SPF record must have include:<it> or redirect=<it> (default: the return-path domain)")
	fs.Var(&cfg.VerifyPendingSlow, "verify-pending-slow", "time between checks of a verification record not found yet, after its first hour, e.g. 30m (at least verify-pending-fast)")
	fs.Var(&cfg.DKIMRotationInterval, "dkim-rotation-interval", "rotate each Easy DKIM key after it has signed this long, e.g. 180d (0 = never; at least the overlap)")
	fs.Var(&cfg.DKIMOverlap, "dkim-overlap", "how long a replaced DKIM key's record stays published after the new key takes over, e.g. 7d (at least the longer of max-delivery-time and 14h, plus 1h)")
}

// Validate returns every problem, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must be set"))
	}
	if c.HTTP == "" {
		errs = append(errs, errors.New("http: must be set"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert, tls-key: set both or neither"))
	}
	if c.MaxDeliveryTime <= 0 {
		errs = append(errs, errors.New("max-delivery-time: must be positive"))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("retry-base, retry-max: need 0 < retry-base <= retry-max"))
	}
	if c.DeliveryPort <= 0 || c.DeliveryPort > 65535 {
		errs = append(errs, errors.New("delivery-port: must be 1-65535"))
	}
	if c.DeliveryBacklog < 1 {
		errs = append(errs, errors.New("delivery-backlog: must be at least 1"))
	}
	if c.Hostname == "" {
		errs = append(errs, errors.New("hostname: must be set"))
	}
	for _, f := range []struct{ name, v string }{{"mail-from-mx", c.MailFromMX}, {"spf-include", c.SPFInclude}} {
		if f.v != "" {
			if err := checkDomain(f.v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q %w", f.name, f.v, err))
			}
		}
	}
	if c.DKIMCNAMEZone != "" {
		if err := checkDomain(c.DKIMCNAMEZone); err != nil {
			errs = append(errs, fmt.Errorf("dkim-cname-zone: %q %w", c.DKIMCNAMEZone, err))
		}
	}
	if c.MessageIDDomain != "" {
		if err := checkDomain(c.MessageIDDomain); err != nil {
			errs = append(errs, fmt.Errorf("message-id-domain: %q %w", c.MessageIDDomain, err))
		}
	}
	if c.InboundMaxSize < MinInboundMaxSize {
		errs = append(errs, fmt.Errorf("inbound-max-size: must be at least %d bytes (a report returning a message's headers)", MinInboundMaxSize))
	}
	if c.MaxBodyMemory > 0 && c.InboundMaxSize > c.MaxBodyMemory {
		errs = append(errs, errors.New("inbound-max-size: must not exceed max-body-memory (each return-path message reserves it)"))
	}
	if c.InboundMessagesPerMinute < 0 || c.InboundBodyBudget < 0 {
		errs = append(errs, errors.New("inbound-messages-per-minute, inbound-body-budget: must not be negative"))
	}
	for _, f := range []struct {
		name string
		n    int
	}{
		{"inbound-max-conns", c.InboundMaxConns}, {"inbound-max-conns-per-ip", c.InboundMaxConnsPerIP},
		{"http-max-conns", c.HTTPMaxConns}, {"http-max-conns-per-ip", c.HTTPMaxConnsPerIP},
		{"smtp-max-conns", c.SMTPMaxConns}, {"smtp-max-conns-per-ip", c.SMTPMaxConnsPerIP},
	} {
		if f.n < 0 || f.n > MaxConns {
			errs = append(errs, fmt.Errorf("%s: must be 0-%d", f.name, MaxConns))
		}
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{
		{"retention-messages", c.RetentionMessages}, {"retention-events", c.RetentionEvents}, {"retention-inbound", c.RetentionInbound},
	} {
		if f.d < 0 || f.d > 0 && f.d < Duration(time.Second) {
			errs = append(errs, fmt.Errorf("%s: must be 0 (forever) or at least 1s", f.name))
		}
	}
	if c.RetentionStatistics < 0 || c.RetentionStatistics > 0 && c.RetentionStatistics < MinRetentionStatistics {
		errs = append(errs, errors.New("retention-statistics: must be 0 (forever) or at least 14d (GetSendStatistics reports two weeks)"))
	}
	if c.MaxBodyMemory < 0 || c.MaxBodyMemory > 0 && c.MaxBodyMemory < MinBodyMemory {
		errs = append(errs, fmt.Errorf("max-body-memory: must be 0 (unlimited) or at least %d bytes (one largest API request)", MinBodyMemory))
	}
	if c.HTTPHeaderTimeout < Duration(time.Second) || c.HTTPIdleTimeout < Duration(time.Second) {
		errs = append(errs, errors.New("http-header-timeout, http-idle-timeout: must be at least 1s"))
	}
	if c.GlobalSuppressionInitial < Duration(time.Minute) {
		errs = append(errs, errors.New("global-suppression-initial: must be at least 1m"))
	}
	if c.GlobalSuppressionMax < c.GlobalSuppressionInitial || c.GlobalSuppressionMax > Duration(365*24*time.Hour) {
		errs = append(errs, errors.New("global-suppression-max: must be at least global-suppression-initial and at most 365d"))
	}
	if c.ProductionMax24hSend < -1 {
		errs = append(errs, errors.New("production-max-24h-send: must be -1 (unlimited) or at least 0"))
	}
	if c.ProductionMaxSendRate != -1 && !(c.ProductionMaxSendRate > 0 && c.ProductionMaxSendRate < 1e9) {
		errs = append(errs, errors.New("production-max-send-rate: must be -1 (unlimited) or above 0"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("public-url: %q is not an http(s)://host[:port][/path] URL", c.PublicURL))
		}
	}
	if c.VerificationFrom != "" {
		if a, err := mail.ParseAddress(c.VerificationFrom); err != nil || a.Name != "" || a.Address != c.VerificationFrom {
			errs = append(errs, fmt.Errorf("verification-from: %q is not one email address (without a display name)", c.VerificationFrom))
		}
	}
	for _, p := range c.NotifyAllowNetworks {
		if _, err := netip.ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("notify-allow-networks: %q is not a CIDR prefix such as 10.0.0.0/8 or fd00::/8", p))
		}
	}
	if c.NotifyRetryPeriod < Duration(time.Minute) {
		errs = append(errs, errors.New("notify-retry-period: must be at least 1m"))
	}
	if c.HTTPMinBodyRate < 1 {
		errs = append(errs, errors.New("http-min-body-rate: must be at least 1 byte/s"))
	}
	if c.ImportDir != "" {
		if fi, err := os.Stat(c.ImportDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("import-dir: %q is not a directory", c.ImportDir))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: unknown level %q", c.LogLevel))
	}
	if c.ReputationMinVolume < 1 {
		errs = append(errs, errors.New("reputation-min-volume: must be at least 1"))
	}
	if c.ReputationMinWindow < Duration(15*time.Minute) || c.ReputationMaxWindow < c.ReputationMinWindow {
		errs = append(errs, errors.New("reputation-min-window, reputation-max-window: must be at least 15m, and max at least min"))
	}
	if c.RetentionStatistics > 0 && c.RetentionStatistics < c.ReputationMaxWindow {
		errs = append(errs, fmt.Errorf("retention-statistics: %v is shorter than reputation-max-window %v: the rates are read from the statistics counters, which must be kept that long",
			time.Duration(c.RetentionStatistics), time.Duration(c.ReputationMaxWindow)))
	}
	for _, f := range []struct {
		name          string
		review, pause float64
	}{
		{"reputation-bounce", c.ReputationBounceReview, c.ReputationBouncePause},
		{"reputation-complaint", c.ReputationComplaintReview, c.ReputationComplaintPause},
	} {
		if !(f.review > 0 && f.review <= f.pause && f.pause <= 1) {
			errs = append(errs, fmt.Errorf("%s-review, %s-pause: must be fractions with 0 < review ≤ pause ≤ 1", f.name, f.name))
		}
	}
	for _, f := range []struct {
		name, want string
		ok         bool
	}{
		{"quota-growth-factor", "at least 1", c.QuotaGrowthFactor >= 1},
		{"quota-growth-threshold", "from 0 to 1", c.QuotaGrowthThreshold >= 0 && c.QuotaGrowthThreshold <= 1},
		{"quota-growth-interval", "at least 1m", c.QuotaGrowthInterval >= Duration(time.Minute)},
		{"quota-max-24h-send", "at least 1", c.QuotaMax24HourSend >= 1},
		{"quota-max-send-rate", "above 0", c.QuotaMaxSendRate > 0},
		{"verify-window", "at least 1h", c.VerifyWindow >= Duration(time.Hour)},
		{"verify-grace", "at least 1h", c.VerifyGrace >= Duration(time.Hour)},
		{"verify-recheck", "at least 1m", c.VerifyRecheck >= Duration(time.Minute)},
		{"verify-pending-fast", "at least 1m", c.VerifyPendingFast >= Duration(time.Minute)},
		{"verify-pending-slow", "at least verify-pending-fast", c.VerifyPendingSlow >= c.VerifyPendingFast},
		{"dkim-rotation-interval", "0 or at least dkim-overlap", c.DKIMRotationInterval == 0 || c.DKIMRotationInterval >= c.DKIMOverlap},
	} {
		if !f.ok {
			errs = append(errs, fmt.Errorf("%s: must be %s", f.name, f.want))
		}
	}
	if need := MinDKIMOverlap(c.MaxDeliveryTime); c.DKIMOverlap < need {
		errs = append(errs, fmt.Errorf("dkim-overlap: must be at least %s, not %s: a replaced key's record must stay published while mail it signed can still be delivered (max-delivery-time %s, or a configuration set's MaxDeliverySeconds up to %s, plus %s)",
			need, c.DKIMOverlap, c.MaxDeliveryTime, Duration(SetMaxDelivery), Duration(dkimOverlapMargin)))
	}
	return errors.Join(errs...)
}

// SetMaxDelivery is the longest delivery deadline a configuration set may
// give its messages (SES's MaxDeliverySeconds upper bound, 50400 s; package
// configset's MaxMaxDeliverySeconds), whatever max-delivery-time says.
const SetMaxDelivery = 14 * time.Hour

// dkimOverlapMargin is added to the longest delivery deadline in
// MinDKIMOverlap. It covers what follows the deadline: the last delivery
// attempt may begin just before it and run through RFC 5321 §4.5.3.2's
// timeouts (5 min for the greeting, 5 min per command, 3 min per data
// block, 10 min after the final dot: well under 1 h for one message); the
// receiver checks the signature on receipt; and, before the switch, a
// node's cached signer (5 s) and the rotator's pass (1 min) may still sign
// with the old key. An hour holds all of them with room to spare.
const dkimOverlapMargin = time.Hour

// MinDKIMOverlap is the shortest dkim-overlap allowed with maxDelivery (the
// max-delivery-time): a message is DKIM-signed once, when accepted, and
// retried until its deadline, so a key that stops signing just after
// signing it must keep its record published until the longest deadline
// (max-delivery-time or SetMaxDelivery, whichever is longer) plus
// dkimOverlapMargin.
func MinDKIMOverlap(maxDelivery Duration) Duration {
	return Duration(max(time.Duration(maxDelivery), SetMaxDelivery) + dkimOverlapMargin)
}

// checkDomain accepts a domain name as a Message-ID's right-hand side
// takes it (RFC 5322 §3.6.4 id-right as dot-atom-text), restricted to host
// name syntax (RFC 1123 §2.1, RFC 5321 §4.1.2 sub-domain): dot-separated
// labels of 1-63 ASCII letters, digits and inner hyphens, at most 253
// octets in all, no trailing dot. An internationalised domain is given as
// its A-labels (xn--…).
func checkDomain(d string) error {
	if len(d) > 253 {
		return errors.New("is not a domain name: longer than 253 characters")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("is not a domain name: labels are 1-63 characters, separated by single dots")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("is not a domain name: a label may not begin or end with '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("is not a domain name: %q is not allowed (ASCII letters, digits, '-' and '.' only; IDNs as xn-- A-labels)", c)
			}
		}
	}
	return nil
}

// VerificationSender is VerificationFrom, or no-reply@<Hostname> when it
// is unset.
func (c Config) VerificationSender() string {
	if c.VerificationFrom != "" {
		return c.VerificationFrom
	}
	return "no-reply@" + c.Hostname
}

// PublicBaseURL is PublicURL without a trailing slash, or, when it is
// unset, http:// and the HTTP listen address (an unspecified host, as in
// ":8080" or "0.0.0.0:8080", becomes the Hostname).
func (c Config) PublicBaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTP)
	if err != nil {
		return "http://" + c.HTTP
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = c.Hostname
	}
	return "http://" + net.JoinHostPort(host, port)
}
