package main

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestSuppressionGlobalCmd: petrel suppression global lists what hard
// bounces listed, adds and removes addresses, and pages.
func TestSuppressionGlobalCmd(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	list := suppression.New(svc.DB, nil)
	a, _ := address.Parse("gone@example.com")
	if err := svc.DB.Tx(t.Context(), func(tx *sql.Tx) error {
		_, err := list.GlobalPutTx(tx, a, "default", "m-1", "hard bounce: Permanent/NoEmail", time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc.Close()

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := suppressionGlobalCmd(t.Context(), append(args, "--data-dir", dir), &out)
		return out.String(), err
	}
	cases := []struct {
		args    []string
		want    []string // substrings of the output
		wantErr string
	}{
		{[]string{"list"}, []string{"gone@example.com", "default", "m-1", "hard bounce: Permanent/NoEmail"}, ""},
		{[]string{"add", "Held@Example.com", "--for", "2d", "--cause", "abuse desk"}, []string{"Held@example.com is on the global suppression list for 2d"}, ""},
		{[]string{"list", "--limit", "1"}, []string{"gone@example.com", "more: --after gone@example.com"}, ""},
		{[]string{"list", "--after", "gone@example.com"}, []string{"Held@example.com", "abuse desk"}, ""},
		{[]string{"remove", "GONE@example.com"}, []string{"removed"}, ""},
		{[]string{"remove", "gone@example.com"}, nil, "not on the global suppression list"},
		{[]string{"add", "not an address"}, nil, ""},
		{[]string{"add", "long@example.com", "--for", "400d"}, nil, "at most 365d"},
		{[]string{"add", "long@example.com", "--for", "8761h"}, nil, "at most 365d"},
		{[]string{"add", "long@example.com", "--for", "0s"}, nil, "more than 0"},
		{[]string{"add", "year@example.com", "--for", "365d"}, []string{"year@example.com is on the global suppression list for 365d"}, ""},
		{[]string{"list", "--limit", "0"}, nil, "--limit"},
		{[]string{"frobnicate"}, nil, "usage"},
	}
	for _, c := range cases {
		out, err := run(c.args...)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%v: no error; output %q", c.args, out)
		case c.want == nil && !strings.Contains(err.Error(), c.wantErr):
			t.Errorf("%v: error %v, want %q", c.args, err, c.wantErr)
		case c.want != nil && err != nil:
			t.Errorf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output %q lacks %q", c.args, out, w)
			}
		}
	}
	out, err := run("list")
	if err != nil || strings.Contains(out, "gone@") || strings.Contains(out, "long@") || !strings.Contains(out, "Held@example.com") {
		t.Fatalf("final list %q, %v", out, err)
	}
}
