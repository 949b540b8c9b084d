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

// TestClassifyReplyCodes: a positive reply (2xx, 3xx) reports no failure,
// and a line that starts with a code outside 2xx–5xx is refused.
func TestClassifyReplyCodes(t *testing.T) {
	for _, line := range []string{"250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", "221 2.0.0 Bye"} {
		var out bytes.Buffer
		if err := classifyCmd([]string{"--reply", line, "--json"}, nil, &out); err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if got := strings.TrimSpace(out.String()); got != `{"kind":"not-bounce","format":"smtp-reply","recipients":[]}` {
			t.Errorf("%q: %s, want not-bounce with no recipient", line, got)
		}
	}
	for _, line := range []string{"999 5.9.9 x", "199 x", "600 6.0.0 no"} {
		var out bytes.Buffer
		err := classifyCmd([]string{"--reply", line}, nil, &out)
		if err == nil || !strings.Contains(err.Error(), "2xx–5xx") {
			t.Errorf("%q: err %v, output %q; want a refusal naming 2xx–5xx", line, err, out.String())
		}
	}
	// A line without a code is read by its words.
	var out bytes.Buffer
	if err := classifyCmd([]string{"--reply", "mailbox full", "--json"}, nil, &out); err != nil || !strings.Contains(out.String(), `"reason":"mailbox-full"`) {
		t.Errorf("no code: %v %s", err, out.String())
	}
}

// TestClassifyNamesNoEmptyAddress: a notice that names nobody reports no
// recipient, in JSON and in text, rather than one with an empty address.
func TestClassifyNamesNoEmptyAddress(t *testing.T) {
	msg := "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.nobody.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" +
		strings.Repeat("x@y@z@ ", 50) + "\r\n"
	var out bytes.Buffer
	if err := classifyCmd([]string{"-", "--json"}, strings.NewReader(msg), &out); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Kind       string `json:"kind"`
		Recipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "bounce" || rep.Recipients == nil || len(rep.Recipients) != 0 {
		t.Errorf("got %s, want a bounce with recipients []", out.String())
	}
	out.Reset()
	if err := classifyCmd([]string{"-"}, strings.NewReader(msg), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "recipient") && !strings.Contains(out.String(), "no recipient named") || strings.Contains(out.String(), "(no address)") {
		t.Errorf("text output names an empty recipient:\n%s", out.String())
	}
}
