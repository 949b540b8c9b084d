package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassifyCorpus runs petrel bounce classify --json on every file of the
// labelled corpus (../shared/corpora/bounces, skipped when absent): each
// must complete without error and print one JSON object of the documented
// shape.
func TestClassifyCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "corpora", "bounces", "eml")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("bounce corpus not present")
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var out bytes.Buffer
		if err := classifyCmd([]string{path, "--json"}, nil, &out); err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		var obj struct {
			Kind       string            `json:"kind"`
			Recipients []json.RawMessage `json:"recipients"`
		}
		dec := json.NewDecoder(&out)
		if err := dec.Decode(&obj); err != nil || obj.Kind == "" || obj.Recipients == nil || dec.More() {
			t.Errorf("%s: not one report object (%v): %s", path, err, out.String())
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("classified %d corpus files", n)
}

func TestClassifyReplyAndExplain(t *testing.T) {
	var out bytes.Buffer
	if err := classifyCmd([]string{"--reply", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "--explain"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: bounce", "Permanent/NoEmail, reason user-unknown", "rule status-bad-mailbox: status x.1.1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// An operator's file changes the verdict of the same reply.
	rules := filepath.Join(t.TempDir(), "rules.toml")
	os.WriteFile(rules, []byte("[[rule]]\nname = \"quota-is-final\"\ntext = 'over quota'\nbounce-type = \"Permanent\"\nreason = \"mailbox-full\"\n"), 0o644)
	out.Reset()
	if err := classifyCmd([]string{"--reply", "452 4.2.2 Mailbox over quota", "--json", "--bounce-rules", rules}, nil, &out); err != nil {
		t.Fatal(err)
	}
	// The operator's rules are tried before the built-in ones (even the
	// x.2.2 status rule).
	if !strings.Contains(out.String(), `"rule":"quota-is-final"`) || !strings.Contains(out.String(), `"bounceType":"Permanent"`) {
		t.Errorf("operator rule not applied: %s", out.String())
	}
	if !strings.Contains(out.String(), `"kind":"delay"`) {
		t.Errorf("a 4xx reply is a delay: %s", out.String())
	}
	// Reading from stdin.
	out.Reset()
	in := strings.NewReader("From: a@b.test\r\nSubject: Automatic reply: hi\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n")
	if err := classifyCmd([]string{"-", "--json"}, in, &out); err != nil || !strings.Contains(out.String(), `"kind":"autoreply"`) {
		t.Errorf("stdin: %v %s", err, out.String())
	}
}

// TestClassifyShowsOriginalRecipient: the text output names the address the
// sender used when the report's final recipient is another (an alias).
func TestClassifyShowsOriginalRecipient(t *testing.T) {
	var out bytes.Buffer
	if err := classifyCmd([]string{"../../internal/bounce/testdata/recipients/postfix-original-recipient.eml"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  original recipient sales@rcpt.test\n") {
		t.Errorf("output lacks the original recipient:\n%s", out.String())
	}
}
