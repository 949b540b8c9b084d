package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/suppression"
)

// openServices opens the services of data directory dir with the default
// configuration, for a test to fill (or read) before closing them, as a
// command opens the directory itself.
func openServices(t *testing.T, dir string) *daemon.Services {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	svc, err := daemon.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// suppressionFixture makes a data directory with the accounts default and
// acme, and default's list holding entries last updated on given days.
func suppressionFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	svc := openServices(t, dir)
	defer svc.Close()
	for _, a := range []string{daemon.DefaultAccount, "acme"} {
		if _, err := svc.Accounts.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	day := func(d int) time.Time { return time.Date(2026, 2, d, 12, 0, 0, 0, time.UTC) }
	var entries []suppression.Entry
	for _, e := range []struct {
		addr   string
		reason suppression.Reason
		day    int
	}{
		{"old@example.com", suppression.Bounce, 1}, {"Mid@Example.com", suppression.Complaint, 10},
		{`"a b"@example.com`, suppression.Bounce, 15}, {"jürgen@bücher.example", suppression.Complaint, 20},
	} {
		a, err := address.Parse(e.addr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, suppression.Entry{Address: a, Reason: e.reason, LastUpdate: day(e.day), MessageID: "msg-" + a.Local})
	}
	if err := suppression.New(svc.DB, nil).PutMany(t.Context(), daemon.DefaultAccount, entries); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runSuppression runs petrel suppression args on dir.
func runSuppression(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := suppressionCmd(t.Context(), append(args, "--data-dir", dir), &out)
	return out.String(), err
}

// TestSuppressionCLIList: petrel suppression list shows the default
// account's entries, filtered by --reason, --since and --until (dates,
// times, durations ago), as a table or JSON lines; another account's list
// is its own.
func TestSuppressionCLIList(t *testing.T) {
	dir := suppressionFixture(t)
	out, err := runSuppression(t, dir, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDRESS", "old@example.com", "Mid@example.com", `"a b"@example.com`, "jürgen@xn--bcher-kva.example",
		"2026-02-10T12:00:00Z", "never", "4 addresses on the suppression list of account default"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	jsonList := func(args ...string) []string {
		t.Helper()
		out, err := runSuppression(t, dir, append([]string{"list", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("list %v: %v", args, err)
		}
		var got []string
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var e suppressedJSON
			if err := dec.Decode(&e); err != nil {
				t.Fatal(err)
			}
			got = append(got, e.EmailAddress)
		}
		return got
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{`"a b"@example.com`, "jürgen@xn--bcher-kva.example", "Mid@example.com", "old@example.com"}},
		{[]string{"--reason", "COMPLAINT"}, []string{"jürgen@xn--bcher-kva.example", "Mid@example.com"}},
		{[]string{"--reason", "bounce,complaint"}, []string{`"a b"@example.com`, "jürgen@xn--bcher-kva.example", "Mid@example.com", "old@example.com"}},
		{[]string{"--since", "2026-02-10T12:00:00Z"}, []string{`"a b"@example.com`, "jürgen@xn--bcher-kva.example", "Mid@example.com"}},
		{[]string{"--until", "2026-02-10"}, []string{"old@example.com"}},
		{[]string{"--since", "2026-02-05", "--until", "2026-02-16", "--reason", "BOUNCE"}, []string{`"a b"@example.com`}},
		{[]string{"--since", "1d"}, nil},
		{[]string{"--account", "acme"}, nil},
	} {
		got := jsonList(c.args...)
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("list %v: %q, want %q", c.args, got, want)
		}
	}
	for _, bad := range [][]string{{"--reason", "SPAM"}, {"--since", "yesterday"}, {"--account", "nobody"}, {"extra"}} {
		if _, err := runSuppression(t, dir, append([]string{"list"}, bad...)...); err == nil {
			t.Errorf("list %v: no error", bad)
		}
	}
}

// TestSuppressionCLIAddGetRemove: add, get and remove one address, in any
// case; an address on no list, a bad address or reason are errors.
func TestSuppressionCLIAddGetRemove(t *testing.T) {
	dir := suppressionFixture(t)
	out, err := runSuppression(t, dir, "add", "Bob@Example.ORG", "--reason", "COMPLAINT", "--account", "acme")
	if err != nil || !strings.Contains(out, "added Bob@example.org to the suppression list of account acme (COMPLAINT)") {
		t.Fatalf("add: %v %s", err, out)
	}
	out, err = runSuppression(t, dir, "get", "bob@example.org", "--account", "acme")
	if err != nil || !strings.Contains(out, "address:      Bob@example.org") || !strings.Contains(out, "reason:       COMPLAINT") ||
		!strings.Contains(out, "cause:        petrel suppression add") {
		t.Fatalf("get: %v %s", err, out)
	}
	if _, err := runSuppression(t, dir, "get", "bob@example.org"); err == nil || !strings.Contains(err.Error(), "is not on the suppression list of account default") {
		t.Errorf("get from another account: %v", err)
	}
	out, err = runSuppression(t, dir, "get", "mid@example.com")
	if err != nil || !strings.Contains(out, "message id:   msg-Mid") || !strings.Contains(out, "expires:      never") {
		t.Errorf("get an outcome's entry: %v %s", err, out)
	}
	if out, err := runSuppression(t, dir, "remove", "BOB@example.org", "--account", "acme"); err != nil || !strings.Contains(out, "removed BOB@example.org") {
		t.Fatalf("remove: %v %s", err, out)
	}
	if _, err := runSuppression(t, dir, "remove", "bob@example.org", "--account", "acme"); err == nil {
		t.Error("remove twice: no error")
	}
	for _, bad := range [][]string{
		{"add", "x@example.com"}, {"add", "x@example.com", "--reason", "SPAM"}, {"add", "not-an-address", "--reason", "BOUNCE"},
		{"get"}, {"get", "a@example.com", "b@example.com"}, {"frobnicate"},
	} {
		if _, err := runSuppression(t, dir, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestSuppressionCLIExport: export writes CSV "address,reason" rows and
// newline-delimited JSON {"emailAddress","reason"}, as SES's import job
// reads them; read back (CSV as RFC 4180, quoted local parts and UTF-8
// included), each gives the list it came from.
func TestSuppressionCLIExport(t *testing.T) {
	dir := suppressionFixture(t)
	want, err := runSuppression(t, dir, "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var wantRows [][2]string
	dec := json.NewDecoder(strings.NewReader(want))
	for dec.More() {
		var e suppressedJSON
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		wantRows = append(wantRows, [2]string{e.EmailAddress, e.Reason})
	}
	reimport := func(rows [][2]string) {
		t.Helper()
		for _, r := range rows {
			if _, err := address.ParseMailbox(r[0]); err != nil {
				t.Errorf("exported address %q does not parse: %v", r[0], err)
			}
			if _, err := suppression.ParseReason(r[1]); err != nil {
				t.Errorf("exported reason %q: %v", r[1], err)
			}
		}
		if !slices.Equal(rows, wantRows) {
			t.Errorf("exported %q, want %q", rows, wantRows)
		}
	}

	file := filepath.Join(t.TempDir(), "list.csv")
	out, err := runSuppression(t, dir, "export", "--out", file)
	if err != nil || !strings.Contains(out, "exported 4 addresses of account default to "+file) {
		t.Fatalf("export csv: %v %s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "old@example.com,BOUNCE\n") || strings.Contains(string(b), "address,reason") {
		t.Errorf("CSV rows are address,reason without a header:\n%s", b)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows [][2]string
	for _, r := range recs {
		rows = append(rows, [2]string{r[0], r[1]})
	}
	reimport(rows)

	out, err = runSuppression(t, dir, "export", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	rows = nil
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]string
		if err := json.Unmarshal([]byte(line), &r); err != nil || len(r) != 2 {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		rows = append(rows, [2]string{r["emailAddress"], r["reason"]})
	}
	reimport(rows)

	if out, err := runSuppression(t, dir, "export", "--format", "json", "--reason", "BOUNCE"); err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("export --reason BOUNCE: %v %s", err, out)
	}
	if _, err := runSuppression(t, dir, "export", "--format", "xml"); err == nil {
		t.Error("--format xml: no error")
	}
}

// TestSuppressionCLIAttributes: attributes shows SES's default, sets the
// reasons (none included) and the soft-bounce policy (and turns it off),
// and refuses a policy out of range.
func TestSuppressionCLIAttributes(t *testing.T) {
	dir := suppressionFixture(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"account default", "suppressed reasons: BOUNCE,COMPLAINT", "soft-bounce policy: off"}},
		{[]string{"--reasons", "bounce", "--soft-bounce", "3/72h/7d:mailbox-full"},
			[]string{"suppressed reasons: BOUNCE", "soft-bounce policy: 3/3d/7d:mailbox-full (3 Transient bounces of reason mailbox-full within 3d suppress the address for 7d)"}},
		{nil, []string{"suppressed reasons: BOUNCE", "soft-bounce policy: 3/3d/7d:mailbox-full"}},
		{[]string{"--reasons", "none"}, []string{"suppressed reasons: none", "soft-bounce policy: 3/3d/7d:mailbox-full"}},
		{[]string{"--soft-bounce", "5/12h/36h", "--reasons", "complaint,bounce"}, []string{"suppressed reasons: COMPLAINT,BOUNCE", "soft-bounce policy: 5/12h/36h (5 Transient bounces within 12h suppress the address for 36h)"}},
		{[]string{"--soft-bounce", "off", "--reasons", "BOUNCE,COMPLAINT"}, []string{"suppressed reasons: BOUNCE,COMPLAINT", "soft-bounce policy: off"}},
		{[]string{"--account", "acme"}, []string{"account acme", "suppressed reasons: BOUNCE,COMPLAINT"}},
	} {
		out, err := runSuppression(t, dir, append([]string{"attributes"}, c.args...)...)
		if err != nil {
			t.Fatalf("attributes %v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("attributes %v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	for _, bad := range []string{"1/1h/1h", "3/30m/1d", "3/1h", "x/1h/1h", "3/1h/1h:", "3/1h/1h:mailbox_full", "3/1h/1h:network-error"} {
		if _, err := runSuppression(t, dir, "attributes", "--soft-bounce", bad); err == nil {
			t.Errorf("--soft-bounce %s: no error", bad)
		}
	}
	// A policy without BOUNCE among the reasons would never act.
	for _, args := range [][]string{{"--soft-bounce", "3/1h/1h"}, {"--reasons", "complaint", "--soft-bounce", "3/1h/1h"}, {"--reasons", "none", "--soft-bounce", "3/1h/1h"}} {
		if _, err := runSuppression(t, dir, append([]string{"attributes", "--account", "acme", "--reasons", "none"}, args...)...); err == nil ||
			!strings.Contains(err.Error(), "needs BOUNCE") {
			t.Errorf("attributes %v without BOUNCE: %v, want an error", args, err)
		}
	}
	if _, err := runSuppression(t, dir, "attributes", "--reasons", "SPAM"); err == nil {
		t.Error("--reasons SPAM: no error")
	}
}
