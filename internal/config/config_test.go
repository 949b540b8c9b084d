package config

import (
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/configset"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("http = \"127.0.0.1:9999\"\nmax-delivery-time = \"2h\"\nrelay-host = \"127.0.0.1:25\"\n"), 0o600)
	cfg, err := Load([]string{"--config", good, "--http", "127.0.0.1:7777"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "127.0.0.1:7777" || time.Duration(cfg.MaxDeliveryTime) != 2*time.Hour || cfg.RelayHost != "127.0.0.1:25" {
		t.Fatalf("flags should override the file: %+v", cfg)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("htp = \"x\"\n"), 0o600)
	if _, err := Load([]string{"--config=" + bad}); err == nil || !strings.Contains(err.Error(), "unknown keys: htp") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := Load([]string{"--tls-cert", "x", "--retry-base", "2h", "--retry-max", "1h"}); err == nil ||
		!strings.Contains(err.Error(), "tls-cert") || !strings.Contains(err.Error(), "retry-base") {
		t.Fatalf("Validate should report every problem: %v", err)
	}
}

// TestDurationDays: retention periods are written in days.
func TestDurationDays(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"30d", 30 * 24 * time.Hour, "30d"},
		{"1d12h", 36 * time.Hour, "36h0m0s"},
		{"14h", 14 * time.Hour, "14h0m0s"},
		{"0", 0, "0s"},
		{"0d", 0, "0s"},
		{"90s", 90 * time.Second, "1m30s"},
	}
	for _, c := range cases {
		var d Duration
		if err := d.UnmarshalText([]byte(c.in)); err != nil || time.Duration(d) != c.want || d.String() != c.str {
			t.Errorf("%q: %v (%s), %v; want %v (%s)", c.in, time.Duration(d), d, err, c.want, c.str)
		}
	}
	for _, bad := range []string{"d", "-1d", "1.5d", "xd", "3dd", "30 d", "30days", ""} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %v", bad, time.Duration(d))
		}
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "retention.toml")
	os.WriteFile(f, []byte("retention-events = \"7d\"\nretention-inbound = \"0\"\ninbound-max-size = 1048576\n"), 0o600)
	cfg, err := Load([]string{"--config", f, "--retention-messages", "90d"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RetentionEvents != Duration(7*24*time.Hour) || cfg.RetentionInbound != 0 || cfg.RetentionMessages != Duration(90*24*time.Hour) ||
		cfg.InboundMaxSize != 1<<20 {
		t.Errorf("retention from file and flags: %+v", cfg)
	}
	if _, err := Load([]string{"--retention-events", "-1h"}); err == nil || !strings.Contains(err.Error(), "retention-events") {
		t.Errorf("negative retention: %v", err)
	}
}

// FuzzDuration: any text is parsed or refused without panicking, and what
// is accepted reads back the same from its String form.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "14h", "0", "90s", "d", "9999999d", "1d-2h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if d.UnmarshalText([]byte(s)) != nil {
			return
		}
		var back Duration
		if err := back.UnmarshalText([]byte(d.String())); err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, time.Duration(d), d.String(), time.Duration(back), err)
		}
	})
}

// TestValidateLimits (issue 10, H): every flag added for the hardening is
// refused where its value would break Petrel (every request failing, every
// send refused, a pruner that cannot keep up) or overflow, and accepted at
// its documented edges.
func TestValidateLimits(t *testing.T) {
	cases := []struct {
		args []string
		bad  string // the field named in the error; "" = accepted
	}{
		{nil, ""},
		{[]string{"--http-header-timeout", "1ns"}, "http-header-timeout"},
		{[]string{"--http-header-timeout", "999ms"}, "http-header-timeout"},
		{[]string{"--http-header-timeout", "0"}, "http-header-timeout"},
		{[]string{"--http-header-timeout", "1s"}, ""},
		{[]string{"--http-idle-timeout", "1ms"}, "http-idle-timeout"},
		{[]string{"--http-idle-timeout", "1s"}, ""},
		{[]string{"--public-url", "ftp://x"}, "public-url"},
		{[]string{"--public-url", "https://user@petrel.example"}, "public-url"},
		{[]string{"--public-url", "https://petrel.example/base"}, ""},
		{[]string{"--verification-from", "verify@petrel.example"}, ""},
		{[]string{"--verification-from", "Petrel <verify@petrel.example>"}, "verification-from"},
		{[]string{"--verification-from", "not an address"}, "verification-from"},
		{[]string{"--notify-allow-networks", "127.0.0.1/8,::1/128"}, ""},
		{[]string{"--notify-allow-networks", "10.0.0.0"}, "notify-allow-networks"},
		{[]string{"--notify-retry-period", "59s"}, "notify-retry-period"},
		{[]string{"--notify-retry-period", "1m"}, ""},
		{[]string{"--http-min-body-rate", "0"}, "http-min-body-rate"},
		{[]string{"--http-min-body-rate", "1"}, ""},
		{[]string{"--max-body-memory", "1"}, "max-body-memory"},
		{[]string{"--max-body-memory", "62914559"}, "max-body-memory"},
		{[]string{"--max-body-memory", "-1"}, "max-body-memory"},
		{[]string{"--max-body-memory", "62914560"}, ""},
		{[]string{"--max-body-memory", "0"}, ""},
		{[]string{"--max-body-memory", "9223372036854775807"}, ""},
		{[]string{"--http-max-conns", "0"}, ""},
		{[]string{"--http-max-conns", "-1"}, "http-max-conns"},
		{[]string{"--http-max-conns", "1048577"}, "http-max-conns"},
		{[]string{"--http-max-conns-per-ip", "-1"}, "http-max-conns-per-ip"},
		{[]string{"--smtp-max-conns", "-1"}, "smtp-max-conns"},
		{[]string{"--smtp-max-conns", "9223372036854775807"}, "smtp-max-conns"},
		{[]string{"--smtp-max-conns", "0", "--smtp-max-conns-per-ip", "0"}, ""},
		{[]string{"--smtp-max-conns-per-ip", "1048577"}, "smtp-max-conns-per-ip"},
		{[]string{"--inbound-max-conns", "-5"}, "inbound-max-conns"},
		{[]string{"--inbound-max-conns-per-ip", "2000000"}, "inbound-max-conns-per-ip"},
		{[]string{"--inbound-max-conns", "0", "--inbound-max-conns-per-ip", "0"}, ""},
		{[]string{"--inbound-max-size", "1"}, "inbound-max-size"},
		{[]string{"--inbound-max-size", "65535"}, "inbound-max-size"},
		{[]string{"--inbound-max-size", "65536"}, ""},
		{[]string{"--inbound-max-size", "300000000"}, "inbound-max-size"},
		{[]string{"--inbound-max-size", "300000000", "--max-body-memory", "0"}, ""},
		{[]string{"--inbound-messages-per-minute", "-1"}, "inbound-messages-per-minute"},
		{[]string{"--inbound-messages-per-minute", "0"}, ""},
		{[]string{"--inbound-body-budget", "-1"}, "inbound-body-budget"},
		{[]string{"--inbound-body-budget", "0"}, ""},
		{[]string{"--retention-events", "1ns"}, "retention-events"},
		{[]string{"--retention-messages", "999ms"}, "retention-messages"},
		{[]string{"--retention-inbound", "-1s"}, "retention-inbound"},
		{[]string{"--retention-events", "1s", "--retention-messages", "1s", "--retention-inbound", "1s"}, ""},
		{[]string{"--retention-events", "0", "--retention-messages", "0", "--retention-inbound", "0"}, ""},
		{[]string{"--retention-events", "65535d"}, ""},
		{[]string{"--retention-statistics", "13d23h"}, "retention-statistics"},
		{[]string{"--retention-statistics", "1s"}, "retention-statistics"},
		{[]string{"--retention-statistics", "-14d"}, "retention-statistics"},
		{[]string{"--retention-statistics", "14d"}, ""},
		{[]string{"--retention-statistics", "0"}, ""},
		{[]string{"--retention-statistics", "20d", "--reputation-max-window", "30d"}, "retention-statistics"},
		{[]string{"--retention-statistics", "30d", "--reputation-max-window", "30d"}, ""},
		{[]string{"--global-suppression-initial", "59s"}, "global-suppression-initial"},
		{[]string{"--global-suppression-initial", "1m", "--global-suppression-max", "1m"}, ""},
		{[]string{"--global-suppression-initial", "2d"}, ""},
		{[]string{"--global-suppression-initial", "15d"}, "global-suppression-max"},
		{[]string{"--global-suppression-max", "30d"}, ""},
		{[]string{"--global-suppression-max", "366d"}, "global-suppression-max"},
		{[]string{"--reputation-min-volume", "0"}, "reputation-min-volume"},
		{[]string{"--reputation-min-volume", "1", "--reputation-min-window", "15m", "--reputation-max-window", "15m"}, ""},
		{[]string{"--reputation-min-window", "14m"}, "reputation-min-window"},
		{[]string{"--reputation-max-window", "12h"}, "reputation-min-window"},
		{[]string{"--reputation-bounce-review", "0.2"}, "reputation-bounce-review"},
		{[]string{"--reputation-bounce-review", "0"}, "reputation-bounce-review"},
		{[]string{"--reputation-complaint-pause", "1.5"}, "reputation-complaint-review"},
		{[]string{"--reputation-bounce-review", "0.1", "--reputation-bounce-pause", "0.1"}, ""},
		{[]string{"--quota-growth-factor", "0.9"}, "quota-growth-factor"},
		{[]string{"--quota-growth-factor", "1"}, ""},
		{[]string{"--quota-growth-threshold", "1.1"}, "quota-growth-threshold"},
		{[]string{"--quota-growth-interval", "59s"}, "quota-growth-interval"},
		{[]string{"--quota-max-24h-send", "0"}, "quota-max-24h-send"},
		{[]string{"--quota-max-send-rate", "0"}, "quota-max-send-rate"},
		{[]string{"--production-max-24h-send", "-2"}, "production-max-24h-send"},
		{[]string{"--production-max-24h-send", "-1", "--production-max-send-rate", "-1"}, ""},
		{[]string{"--production-max-send-rate", "0"}, "production-max-send-rate"},
		{[]string{"--production-max-send-rate", "NaN"}, "production-max-send-rate"},
		{[]string{"--production-max-24h-send", "1000000", "--production-max-send-rate", "0.5"}, ""},
		{[]string{"--dkim-cname-zone", "dkim.petrel.example"}, ""},
		{[]string{"--dkim-cname-zone", "bad_zone..example"}, "dkim-cname-zone"},
		{[]string{"--mail-from-mx", "feedback.petrel.example", "--spf-include", "spf.petrel.example"}, ""},
		{[]string{"--mail-from-mx", "bad..host"}, "mail-from-mx"},
		{[]string{"--spf-include", "-bad.example"}, "spf-include"},
		{[]string{"--verify-window", "59m"}, "verify-window"},
		{[]string{"--verify-grace", "30m"}, "verify-grace"},
		{[]string{"--verify-recheck", "30s"}, "verify-recheck"},
		{[]string{"--verify-pending-fast", "10s"}, "verify-pending-fast"},
		{[]string{"--verify-pending-fast", "10m", "--verify-pending-slow", "5m"}, "verify-pending-slow"},
		{[]string{"--verify-window", "1h", "--verify-grace", "1h", "--verify-recheck", "1m", "--verify-pending-fast", "1m", "--verify-pending-slow", "1m"}, ""},
		// dkim-overlap outlasts the longest delivery deadline (the longer
		// of max-delivery-time and a set's 14 h) plus 1 h.
		{[]string{"--dkim-overlap", "1h"}, "dkim-overlap"},
		{[]string{"--dkim-overlap", "14h59m"}, "dkim-overlap"},
		{[]string{"--dkim-overlap", "15h"}, ""},
		{[]string{"--max-delivery-time", "2h", "--dkim-overlap", "15h"}, ""},
		{[]string{"--max-delivery-time", "3d", "--dkim-overlap", "3d"}, "dkim-overlap"},
		{[]string{"--max-delivery-time", "3d", "--dkim-overlap", "3d1h"}, ""},
		{[]string{"--max-delivery-time", "7d", "--retry-max", "1h"}, "dkim-overlap"},
		{[]string{"--dkim-overlap", "15h", "--dkim-rotation-interval", "14h"}, "dkim-rotation-interval"},
	}
	for _, c := range cases {
		_, err := Load(c.args)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%v refused: %v", c.args, err)
		case c.bad != "" && err == nil:
			t.Errorf("%v accepted", c.args)
		case c.bad != "" && !strings.Contains(err.Error(), c.bad+":") && !strings.Contains(err.Error(), c.bad+","):
			t.Errorf("%v: error does not name %s: %v", c.args, c.bad, err)
		}
	}
}

// TestMessageIDDomain (issue 11, finding 3): the domain of the Message-ID
// header Petrel writes is --message-id-domain (TOML message-id-domain),
// and anything that is not a domain name is refused at start with an error
// naming the option.
func TestMessageIDDomain(t *testing.T) {
	cases := []struct {
		value string
		ok    bool
	}{
		{"email.amazonses.com", true},
		{"us-west-2.amazonses.com", true},
		{"mail.example.com", true},
		{"localhost", true},
		{"xn--bcher-kva.example", true},
		{"a-b.c0", true},
		{strings.Repeat("a", 63) + ".example", true},
		{"", true}, // unset: the hostname
		{"exa mple.com", false},
		{"example.com.", false},
		{".example.com", false},
		{"example..com", false},
		{"-example.com", false},
		{"example-.com", false},
		{"ex_ample.com", false},
		{"<example.com>", false},
		{"a@example.com", false},
		{"example.com\r\nBcc: x@y", false},
		{"bücher.example", false},
		{"[127.0.0.1]", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "a", false},
	}
	for _, c := range cases {
		cfg, err := Load([]string{"--message-id-domain", c.value})
		switch {
		case c.ok && (err != nil || cfg.MessageIDDomain != c.value):
			t.Errorf("%q: %q, %v", c.value, cfg.MessageIDDomain, err)
		case !c.ok && (err == nil || !strings.HasPrefix(err.Error(), "message-id-domain: ")):
			t.Errorf("%q accepted, or the error does not name the option: %v", c.value, err)
		}
	}
	f := filepath.Join(t.TempDir(), "petrel.toml")
	os.WriteFile(f, []byte("message-id-domain = \"email.amazonses.com\"\n"), 0o600)
	if cfg, err := Load([]string{"--config", f}); err != nil || cfg.MessageIDDomain != "email.amazonses.com" {
		t.Errorf("from TOML: %q, %v", cfg.MessageIDDomain, err)
	}
	if cfg, err := Load(nil); err != nil || cfg.MessageIDDomain != "" {
		t.Errorf("default: %q, %v; want unset (the hostname)", cfg.MessageIDDomain, err)
	}
}

// FuzzCheckDomain: whatever checkDomain accepts makes a Message-ID that
// RFC 5322 parsers take (the msg-id's right-hand side is a dot-atom).
func FuzzCheckDomain(f *testing.F) {
	for _, s := range []string{"email.amazonses.com", "a", "a..b", "-a", "ü.example", "a b", "x@y", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if checkDomain(d) != nil {
			return
		}
		if len(d) > 253 || strings.ContainsAny(d, " @<>\r\n") {
			t.Fatalf("accepted %q", d)
		}
		if _, err := mail.ParseAddress("<0100019a-000000@" + d + ">"); err != nil {
			t.Fatalf("accepted %q, but <id@%s> does not parse: %v", d, d, err)
		}
	})
}

func TestPublicBaseURL(t *testing.T) {
	for _, tc := range []struct{ public, http, want string }{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", ":8080", "http://petrel.example:8080"},
		{"", "[::]:8080", "http://petrel.example:8080"},
		{"https://petrel.example/", "127.0.0.1:8080", "https://petrel.example"},
	} {
		c := Config{PublicURL: tc.public, HTTP: tc.http, Hostname: "petrel.example"}
		if got := c.PublicBaseURL(); got != tc.want {
			t.Errorf("PublicBaseURL(%q, %q) = %q, want %q", tc.public, tc.http, got, tc.want)
		}
	}
}

// SetMaxDelivery, which MinDKIMOverlap counts on, is the configuration
// sets' longest MaxDeliverySeconds.
func TestSetMaxDelivery(t *testing.T) {
	if SetMaxDelivery != configset.MaxMaxDeliverySeconds*time.Second {
		t.Fatalf("SetMaxDelivery %v, configset allows %ds", SetMaxDelivery, configset.MaxMaxDeliverySeconds)
	}
	if got := MinDKIMOverlap(Duration(2 * time.Hour)); got != Duration(15*time.Hour) {
		t.Fatalf("MinDKIMOverlap(2h) = %v, want 15h", got)
	}
}
