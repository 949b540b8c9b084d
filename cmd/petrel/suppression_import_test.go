package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestSuppressionImport: petrel suppression import runs a job in-process,
// printing progress, the counts and the failed records; DELETE and JSON
// work; a file over SES's limit fails, as do bad flags and accounts.
func TestSuppressionImport(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	write := func(name, data string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := suppressionImportTo(t.Context(), append(args, "--data-dir", dir), &out)
		return out.String(), err
	}
	csv := write("my list.csv", "email,reason\na@x.example,BOUNCE\nnope,BOUNCE\nb@x.example,COMPLAINT\n")
	out, err := run(csv, "--account", "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 records done, 1 failed", "COMPLETED: 2 records processed, 1 failed", "failed records:\n  line 3: nope,BOUNCE: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	json := write("del.ndjson", `{"emailAddress":"a@x.example"}`+"\n")
	if out, err := run("--action", "delete", json, "--account", "acme"); err != nil || !strings.Contains(out, "COMPLETED: 1 records processed, 0 failed") {
		t.Errorf("DELETE from JSON: %v\n%s", err, out)
	}
	svc = openServices(t, dir)
	list := suppression.New(svc.DB, nil)
	for addr, on := range map[string]bool{"a@x.example": false, "b@x.example": true} {
		a, _ := address.Parse(addr)
		if _, err := list.Get(t.Context(), "acme", a); (err == nil) != on || err != nil && !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("%s: %v, want on the list %v", addr, err, on)
		}
	}
	svc.Close()

	var big bytes.Buffer
	for i := range 10_001 {
		fmt.Fprintf(&big, "u%d@x.example\n", i)
	}
	if out, err := run(write("big.csv", big.String()), "--action", "DELETE", "--account", "acme"); err == nil || !strings.Contains(err.Error(), "more than 10000 records") {
		t.Errorf("over the DELETE limit: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{csv, "--account", "nobody"},
		{csv, "--account", "acme", "--action", "MERGE"},
		{csv, "--account", "acme", "--format", "xml"},
		{filepath.Join(dir, "missing.csv"), "--account", "acme"},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := suppressionCmd(t.Context(), []string{"import"}, io.Discard); err == nil || !strings.Contains(err.Error(), "usage: petrel suppression import FILE") {
		t.Errorf("no FILE: %v", err)
	}
}
