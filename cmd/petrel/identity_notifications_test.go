package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/identity"
)

// TestIdentityNotificationsCmd (issue 14): `petrel identity notifications`
// sets the topics, headers and forwarding given, leaves the others, clears
// a topic given as none, refuses a bad value before changing anything,
// and prints the settings; `petrel identity configuration-set` sets a set
// the account has, refuses one it has not, and clears.
func TestIdentityNotificationsCmd(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.example", true); err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "acme", Name: "s1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	other, err := svc.Accounts.Create(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Accounts.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	arnOf := func(id, name string) string { return "arn:aws:sns:us-east-1:" + id + ":" + name }
	b, c := arnOf(a.SendingAccountID, "bounces"), arnOf(a.SendingAccountID, "complaints")
	othersTopic := arnOf(other.SendingAccountID, "theirs")
	// Topics as the SNS API's CreateTopic stores them.
	for _, tp := range [][2]string{{b, "acme"}, {c, "acme"}, {othersTopic, "other"}} {
		name := tp[0][strings.LastIndexByte(tp[0], ':')+1:]
		if _, err := svc.DB.ExecContext(ctx, svc.DB.Rebind("INSERT INTO sns_topics (arn, account, name, attributes, created_ms) VALUES (?, ?, ?, '{}', 0)"), tp[0], tp[1], name); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()

	run := func(cmd func([]string) (string, error), args ...string) string {
		t.Helper()
		out, err := cmd(append(args, "--data-dir", dir, "--account", "acme"))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	notif := func(args []string) (string, error) {
		var out bytes.Buffer
		err := identityNotificationsCmd(ctx, args, &out)
		return out.String(), err
	}
	defSet := func(args []string) (string, error) {
		var out bytes.Buffer
		err := identityConfigSetCmd(ctx, args, &out)
		return out.String(), err
	}

	out := run(notif, "acme.example")
	for _, want := range []string{"identity acme.example (account acme)", "bounce topic:        none", "headers in:          none",
		"feedback forwarding: on", "configuration set:   none"} {
		if !strings.Contains(out, want) {
			t.Errorf("defaults lack %q:\n%s", want, out)
		}
	}
	out = run(notif, "acme.example", "--bounce-topic", b, "--complaint-topic", c, "--headers-in", "Bounce,delivery", "--forwarding", "off")
	for _, want := range []string{"bounce topic:        " + b, "complaint topic:     " + c, "delivery topic:      none",
		"headers in:          bounce,delivery", "feedback forwarding: off"} {
		if !strings.Contains(out, want) {
			t.Errorf("after setting, output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "note:") {
		t.Errorf("note printed with both topics set:\n%s", out)
	}
	// Only what is given changes; "none" clears (and, as SES, turns
	// forwarding back on for a Bounce topic).
	out = run(notif, "acme.example", "--bounce-topic", "none")
	if !strings.Contains(out, "bounce topic:        none") || !strings.Contains(out, "complaint topic:     "+c) ||
		!strings.Contains(out, "headers in:          bounce,delivery") || !strings.Contains(out, "feedback forwarding: on") {
		t.Errorf("after clearing the bounce topic:\n%s", out)
	}
	out = run(notif, "acme.example", "--forwarding", "off")
	if !strings.Contains(out, "note: bounces and complaints that reach no topic") {
		t.Errorf("forwarding off without both topics: no note\n%s", out)
	}

	for _, bad := range [][]string{
		{"acme.example", "--bounce-topic", "arn:aws:sqs:us-east-1:1:q", "--forwarding", "on"},
		{"acme.example", "--bounce-topic", arnOf(a.SendingAccountID, "missing"), "--forwarding", "on"},
		{"acme.example", "--complaint-topic", othersTopic, "--forwarding", "on"},
		{"acme.example", "--delivery-topic", arnOf(a.SendingAccountID, strings.Repeat("x", 257)), "--forwarding", "on"},
		{"acme.example", "--headers-in", "open", "--forwarding", "on"},
		{"acme.example", "--forwarding", "maybe"},
		{"nope.example", "--forwarding", "on"},
		{},
	} {
		if _, err := notif(append(bad, "--data-dir", dir, "--account", "acme")); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	if out := run(defSet, "acme.example", "s1"); !strings.Contains(out, "configuration set:   s1") {
		t.Errorf("set s1:\n%s", out)
	}
	if _, err := defSet([]string{"acme.example", "nope", "--data-dir", dir, "--account", "acme"}); err == nil {
		t.Error("an unknown set accepted")
	}
	if out := run(defSet, "acme.example"); !strings.Contains(out, "configuration set:   s1") {
		t.Errorf("show:\n%s", out)
	}
	if out := run(defSet, "acme.example", "--clear"); !strings.Contains(out, "configuration set:   none") {
		t.Errorf("clear:\n%s", out)
	}

	// What the commands stored, read back through the services.
	svc = openServices(t, dir)
	defer svc.Close()
	got, set, err := svc.Identities.Settings(ctx, "acme", "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	want := identity.NotificationAttributes{ComplaintTopic: c, HeadersInBounce: true, HeadersInDelivery: true}
	if got != want || set != "" {
		t.Errorf("stored %+v, set %q; want %+v, no set", got, set, want)
	}
}

// TestIdentityNotificationsEmptyValue: an explicitly empty --bounce-topic,
// --complaint-topic, --delivery-topic, --headers-in or --forwarding (an
// unset shell variable) is refused with "use none to clear" (or "give on
// or off"), and changes nothing: the topics and headers set before stay.
func TestIdentityNotificationsEmptyValue(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	svc := openServices(t, dir)
	a, err := svc.Accounts.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(ctx, "acme", "acme.example", true); err != nil {
		t.Fatal(err)
	}
	topic := "arn:aws:sns:us-east-1:" + a.SendingAccountID + ":bounces"
	if _, err := svc.DB.ExecContext(ctx, svc.DB.Rebind("INSERT INTO sns_topics (arn, account, name, attributes, created_ms) VALUES (?, ?, ?, '{}', 0)"), topic, "acme", "bounces"); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	notif := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := identityNotificationsCmd(ctx, append(args, "--data-dir", dir, "--account", "acme"), &out)
		return out.String(), err
	}
	if _, err := notif("acme.example", "--bounce-topic", topic, "--complaint-topic", topic, "--delivery-topic", topic, "--headers-in", "bounce"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, want string }{
		{"--bounce-topic", "use none to clear"}, {"--complaint-topic", "use none to clear"}, {"--delivery-topic", "use none to clear"},
		{"--headers-in", "use none to clear"}, {"--forwarding", "give on or off"},
	} {
		for _, v := range []string{"", " "} {
			_, err := notif("acme.example", c.flag, v)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.flag) {
				t.Errorf("%s %q: error %v; want one naming the flag and saying %q", c.flag, v, err, c.want)
			}
		}
	}
	out, err := notif("acme.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bounce topic:        " + topic, "complaint topic:     " + topic, "delivery topic:      " + topic, "headers in:          bounce"} {
		if !strings.Contains(out, want) {
			t.Errorf("after the refused empty values, output lacks %q:\n%s", want, out)
		}
	}
	// none still clears.
	out, err = notif("acme.example", "--bounce-topic", "none", "--headers-in", "NONE")
	if err != nil || !strings.Contains(out, "bounce topic:        none") || !strings.Contains(out, "headers in:          none") {
		t.Errorf("none: %v\n%s", err, out)
	}
}
