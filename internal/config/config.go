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
	"os"
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
	Region           string   `toml:"region"`             // region in ARNs and SMTP password derivation
	RelayHost        string   `toml:"relay-host"`         // HOST:PORT to deliver everything to (smart host); "" = MX delivery
	DNS              string   `toml:"dns"`                // HOST:PORT of the DNS server for MX/A/AAAA ("" = /etc/resolv.conf)
	DeliveryPort     int      `toml:"delivery-port"`      // TCP port of MX hosts
	TLSCert          string   `toml:"tls-cert"`           // PEM certificate for SMTP; "" = self-signed, generated once
	TLSKey           string   `toml:"tls-key"`            // PEM key for TLSCert
	MaxDeliveryTime  Duration `toml:"max-delivery-time"`  // how long temporary failures are retried before a Transient bounce
	RetryBase        Duration `toml:"retry-base"`         // first retry delay, doubling per attempt
	RetryMax         Duration `toml:"retry-max"`          // longest retry delay
	ShutdownGrace    Duration `toml:"shutdown-grace"`     // how long in-flight work may finish on SIGTERM
	LogLevel         string   `toml:"log-level"`          // debug, info, warn, error
	Debug            string   `toml:"debug"`              // listen address of /debug/pprof (profiling); "" disables
	DeliveryBacklog  int      `toml:"delivery-backlog"`   // queue entries held in memory ahead of the delivery workers; more wait in the database
	BounceRules      string   `toml:"bounce-rules"`       // operator's bounce rule file (TOML), applied over the built-in rules; reloaded on SIGHUP
	InboundMailboxes string   `toml:"inbound-mailboxes"`  // local parts at the return-path domain accepted besides VERP addresses (complaint feedback loops)
}

// Duration is a time.Duration written as "14h", "90s" in TOML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

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
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region for ARNs and SMTP password derivation")
	fs.StringVar(&cfg.RelayHost, "relay-host", cfg.RelayHost, "HOST:PORT to deliver all mail to instead of MX hosts")
	fs.StringVar(&cfg.DNS, "dns", cfg.DNS, "HOST:PORT of the DNS server for MX lookups (default: /etc/resolv.conf)")
	fs.IntVar(&cfg.DeliveryPort, "delivery-port", cfg.DeliveryPort, "TCP port of MX hosts")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate for SMTP (default: self-signed in the data dir)")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM private key for --tls-cert")
	fs.Var(&cfg.MaxDeliveryTime, "max-delivery-time", "how long temporary failures are retried")
	fs.Var(&cfg.RetryBase, "retry-base", "first retry delay (doubles per attempt)")
	fs.Var(&cfg.RetryMax, "retry-max", "longest retry delay")
	fs.Var(&cfg.ShutdownGrace, "shutdown-grace", "how long in-flight work may finish on shutdown")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.IntVar(&cfg.DeliveryBacklog, "delivery-backlog", cfg.DeliveryBacklog, "queue entries held in memory ahead of the delivery workers (more wait in the database)")
	fs.StringVar(&cfg.BounceRules, "bounce-rules", cfg.BounceRules, "TOML file of bounce rules applied over the built-in ones (reloaded on SIGHUP and by petrel bounce rules reload)")
	fs.StringVar(&cfg.InboundMailboxes, "inbound-mailboxes", cfg.InboundMailboxes, "comma-separated local parts at the return-path domain accepted besides VERP addresses (feedback loops)")
	fs.StringVar(&cfg.Debug, "debug", cfg.Debug, "listen address of the profiling endpoints /debug/pprof/ (keep it private); empty disables")
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
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: unknown level %q", c.LogLevel))
	}
	return errors.Join(errs...)
}
