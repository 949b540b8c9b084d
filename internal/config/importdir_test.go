package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportDir: import-dir is off by default, set by flag or TOML, and
// must name a directory.
func TestImportDir(t *testing.T) {
	if Default().ImportDir != "" {
		t.Fatal("import-dir is on by default")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "f.toml")
	if err := os.WriteFile(file, []byte("import-dir = \""+dir+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--import-dir", dir}, {"--config", file}} {
		cfg, err := Load(args)
		if err != nil || cfg.ImportDir != dir {
			t.Errorf("%v: %q, %v", args, cfg.ImportDir, err)
		}
	}
	for _, bad := range []string{file, filepath.Join(dir, "missing")} {
		if _, err := Load([]string{"--import-dir", bad}); err == nil || !strings.Contains(err.Error(), "import-dir") {
			t.Errorf("import-dir %s: %v", bad, err)
		}
	}
}
