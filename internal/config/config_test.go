package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
