package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
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

// TestSampleEventTypes (breaker 17 #12): every event type a destination
// receives has a `notifications test` sample — RENDERING_FAILURE (for the
// whole message, its mail object without header fields) and SUBSCRIPTION
// included — and `events --type` and `--event-type` take SES's API
// spelling as well as the JSON's.
func TestSampleEventTypes(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		arg  string
		kind event.Kind
		key  string
	}{
		{"RENDERING_FAILURE", event.RenderingFailure, `"failure":{"templateName":"MyTemplate"`},
		{"Rendering Failure", event.RenderingFailure, `"failure":{"templateName":"MyTemplate"`},
		{"SUBSCRIPTION", event.Subscription, `"subscription":{"contactList":`},
		{"delivery_delay", event.DeliveryDelay, `"deliveryDelay":{`},
	} {
		k, err := parseEventType(c.arg)
		if err != nil || k != c.kind {
			t.Errorf("parseEventType(%q) = %q, %v", c.arg, k, err)
			continue
		}
		if k, err := parseKind(c.arg); err != nil || k != c.kind {
			t.Errorf("parseKind(%q) = %q, %v", c.arg, k, err)
		}
		e, err := sampleEvent(k, "acme", "123456789012", "us-east-1", "cs1", "example.org", now)
		if err != nil {
			t.Errorf("%s: %v", c.arg, err)
			continue
		}
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.key) {
			t.Errorf("%s sample %s lacks %s", c.arg, b, c.key)
		}
		headers := strings.Contains(string(b), `"headers"`) || strings.Contains(string(b), `"commonHeaders"`)
		if headers != (k != event.RenderingFailure) || k == event.RenderingFailure && e.Recipient != "" {
			t.Errorf("%s sample (recipient %q): %s", c.arg, e.Recipient, b)
		}
	}
	if _, err := parseEventType("OPEN"); err == nil {
		t.Error("OPEN: Petrel has no sample (it records no Open events)")
	}
}
