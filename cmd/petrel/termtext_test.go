package main

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/suppression"
)

// TestTermText: text of graphic characters and spaces is printed as it is;
// anything with a control, bidi or other format character, a line
// separator or an invalid byte is printed quoted, with those escaped.
func TestTermText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"hard bounce: Permanent/NoEmail (rule user-unknown, reason user-unknown)", "hard bounce: Permanent/NoEmail (rule user-unknown, reason user-unknown)"},
		{"jürgen@xn--bcher-kva.example", "jürgen@xn--bcher-kva.example"},
		{"发件人 ok", "发件人 ok"},
		{"\x1b[2J\x1b[31mowned", `"\x1b[2J\x1b[31mowned"`},
		{"abc\u202efdp.exe", `"abc\u202efdp.exe"`},
		{"a\u2066b\u2069", `"a\u2066b\u2069"`},
		{"zero\u200bwidth", `"zero\u200bwidth"`},
		{"line\nbreak", `"line\nbreak"`},
		{"tab\there", `"tab\there"`},
		{"cr\rover", `"cr\rover"`},
		{"sep\u2028x", `"sep\u2028x"`},
		{"bad\xffbyte", `"bad\xffbyte"`},
		{"bell\a", `"bell\a"`},
		{"c1\u009bcsi", `"c1\u009bcsi"`},
	}
	for _, c := range cases {
		if got := termText(c.in); got != c.want {
			t.Errorf("termText(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// noRawControl fails when out has a control or format character other
// than the newlines between lines.
func noRawControl(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			t.Errorf("%s prints %U raw:\n%q", what, r, out)
			return
		}
	}
}

// TestSuppressionCLIEscapesTenantText: petrel suppression list, get and
// global list print tenant-controlled text (causes, message ids, accounts)
// escaped, never raw ANSI escapes or bidi overrides; --json keeps the
// text as it is (encoding/json escapes the controls).
func TestSuppressionCLIEscapesTenantText(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), daemon.DefaultAccount); err != nil {
		t.Fatal(err)
	}
	const cause = "\x1b[2J\x1b[1;32mall clear\x1b[0m \u202etxt.exe\r\n"
	const msgID = "m-\u202e1"
	list := suppression.New(svc.DB, nil)
	a, _ := address.Parse("evil@example.com")
	if err := list.Put(t.Context(), daemon.DefaultAccount, suppression.Entry{Address: a, Reason: suppression.Bounce, MessageID: msgID, FeedbackID: "fb\x07", Cause: cause}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DB.Tx(t.Context(), func(tx *sql.Tx) error {
		_, err := list.GlobalPutTx(tx, a, "acct\u202e", msgID, cause, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc.Close()

	for _, args := range [][]string{{"list"}, {"get", "evil@example.com"}} {
		out, err := runSuppression(t, dir, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		noRawControl(t, strings.Join(args, " "), out)
		if !strings.Contains(out, `"\x1b[2J\x1b[1;32mall clear\x1b[0m \u202etxt.exe\r\n"`) {
			t.Errorf("%v: the cause is not shown escaped:\n%s", args, out)
		}
	}
	out, err := runSuppression(t, dir, "get", "evil@example.com")
	if err != nil || !strings.Contains(out, `"m-\u202e1"`) || !strings.Contains(out, `"fb\a"`) {
		t.Errorf("get: message and feedback ids not escaped: %q, %v", out, err)
	}
	var gout bytes.Buffer
	if err := suppressionGlobalCmd(t.Context(), []string{"list", "--data-dir", dir}, &gout); err != nil {
		t.Fatal(err)
	}
	noRawControl(t, "global list", gout.String())
	if !strings.Contains(gout.String(), `"acct\u202e"`) || !strings.Contains(gout.String(), `"m-\u202e1"`) {
		t.Errorf("global list: account and message not escaped:\n%s", gout.String())
	}
	out, err = runSuppression(t, dir, "list", "--json")
	if err != nil || !strings.Contains(out, `\u001b[2J`) || !strings.Contains(out, "\u202e") {
		t.Errorf("list --json: %q, %v; want the text JSON-escaped, as it is", out, err)
	}
}
