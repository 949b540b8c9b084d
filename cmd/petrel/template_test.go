package main

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/daemon"
)

// templateFixture makes a data directory with the account default.
func templateFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	svc := openServices(t, dir)
	defer svc.Close()
	if _, err := svc.Accounts.Create(t.Context(), daemon.DefaultAccount); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runTemplate(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := templateCmd(t.Context(), append(args, "--data-dir", dir), &out)
	return out.String(), err
}

// TestTemplateCmd: put from files, get, list, put from the JSON get
// prints, render; the errors a user meets.
func TestTemplateCmd(t *testing.T) {
	dir := templateFixture(t)
	files := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text := write("t.txt", "Dear {{name}},\n{{#each items}}- {{this}}\n{{/each}}")
	html := write("t.html", "<h1>Hi {{name}}</h1>")
	out, err := runTemplate(t, dir, "put", "Welcome", "--subject", "Hello {{name}}", "--text", text, "--html", html)
	if err != nil || out != "created template Welcome\n" {
		t.Fatalf("put: %q %v", out, err)
	}
	out, err = runTemplate(t, dir, "get", "Welcome")
	if err != nil {
		t.Fatal(err)
	}
	var got templateJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("get output %q: %v", out, err)
	}
	if got.TemplateName != "Welcome" || got.TemplateContent.Subject != "Hello {{name}}" || !strings.Contains(got.TemplateContent.Text, "{{#each items}}") || got.TemplateContent.Html != "<h1>Hi {{name}}</h1>" {
		t.Fatalf("get: %+v", got)
	}
	// get's output fed back to put under another name.
	out, err = runTemplate(t, dir, "put", "Copy", "--json-file", write("copy.json", out))
	if err != nil || out != "created template Copy\n" {
		t.Fatalf("put --json-file: %q %v", out, err)
	}
	// A bare TemplateContent replaces Welcome's.
	out, err = runTemplate(t, dir, "put", "Welcome", "--json-file", write("c.json", `{"Subject":"S {{name}}","Text":"{{name}}!"}`))
	if err != nil || out != "updated template Welcome\n" {
		t.Fatalf("put bare content: %q %v", out, err)
	}
	out, err = runTemplate(t, dir, "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "Copy ") || !strings.HasPrefix(lines[2], "Welcome ") {
		t.Fatalf("list:\n%s", out)
	}
	out, err = runTemplate(t, dir, "render", "Copy", "--data", `{"name":"Ann","items":["a","b"]}`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(out))
	if err != nil || m.Header.Get("Subject") != "Hello Ann" || !strings.Contains(out, "- a") || !strings.Contains(out, "<h1>Hi Ann</h1>") {
		t.Fatalf("render: %v\n%s", err, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"render", "Copy", "--data", `{}`}, "Attribute 'name' is not present in the rendering data."},
		{[]string{"render", "Copy", "--data", `[1]`}, "JSON object"},
		{[]string{"render", "Copy"}, "--data"},
		{[]string{"get", "Nope"}, "template Nope does not exist"},
		{[]string{"render", "Nope", "--data", "{}"}, "template Nope does not exist"},
		{[]string{"get", "bad name"}, "TemplateName"},
		{[]string{"put", "X", "--subject", "{{#if a}}"}, "Subject"},
		{[]string{"put", "X"}, "--subject"},
		{[]string{"put", "X", "--subject", "s", "--json-file", "f"}, "not both"},
		{[]string{"get", "Welcome", "--account", "nobody"}, "account nobody"},
		{[]string{"frobnicate"}, "usage"},
	} {
		if _, err := runTemplate(t, dir, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
	if err := templateCmd(t.Context(), nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no arguments: %v", err)
	}
}
