package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEmptyInputFiles (breaker 17 #9): an empty file given to a flag that
// reads one is its own error, naming the flag and the file — not "the flag
// is required" nor a JSON parser's "unexpected end of JSON input".
func TestEmptyInputFiles(t *testing.T) {
	dir := templateFixture(t)
	if out, err := runTemplate(t, dir, "put", "Welcome", "--subject", "Hi {{name}}"); err != nil {
		t.Fatalf("put: %q %v", out, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	svc := openServices(t, dir)
	if _, err := svc.Identities.Create(t.Context(), "default", "acme.test", true); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"template render --data-file /dev/null", func() error {
			_, err := runTemplate(t, dir, "render", "Welcome", "--data-file", os.DevNull)
			return err
		}, "render: --data-file /dev/null is empty: TemplateData must be a JSON object"},
		{"template render --data-file EMPTY", func() error {
			_, err := runTemplate(t, dir, "render", "Welcome", "--data-file", empty)
			return err
		}, "render: --data-file " + empty + " is empty: TemplateData must be a JSON object"},
		{"template put --json-file EMPTY", func() error {
			_, err := runTemplate(t, dir, "put", "Welcome", "--json-file", empty)
			return err
		}, "put: --json-file " + empty + " is empty: it must hold a template as `petrel template get` prints it, or its TemplateContent"},
		{"identity dkim --key EMPTY", func() error {
			var out bytes.Buffer
			return identityCmd(t.Context(), []string{"dkim", "acme.test", "--key", empty, "--selector", "s1", "--data-dir", dir}, &out)
		}, "dkim: --key " + empty + " is empty: it must hold a private key (PEM or base64 DER)"},
	} {
		if err := c.run(); err == nil || err.Error() != c.want {
			t.Errorf("%s: %v\nwant %s", c.name, err, c.want)
		}
	}
}
