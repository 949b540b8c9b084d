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
