package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/daemon"
)

// contactsFixture makes a data directory with the accounts default (whose
// contact list "news" has topics sports, default OPT_OUT, and weekly,
// default OPT_IN, and three contacts) and acme (no list).
func contactsFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	svc := openServices(t, dir)
	defer svc.Close()
	ctx := t.Context()
	for _, a := range []string{daemon.DefaultAccount, "acme"} {
		if _, err := svc.Accounts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Contacts.CreateList(ctx, daemon.DefaultAccount, contacts.List{Name: "news", Topics: []contacts.Topic{
		{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptOut},
		{Name: "weekly", DisplayName: "Weekly", DefaultSubscriptionStatus: contacts.OptIn},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []contacts.Contact{
		{Email: "ann@example.com", TopicPreferences: []contacts.TopicPreference{{Topic: "sports", Status: contacts.OptIn}}, Attributes: `{"name":"Ann"}`},
		{Email: "Bob@Example.com", UnsubscribeAll: true},
		{Email: "cy@example.com", TopicPreferences: []contacts.TopicPreference{{Topic: "weekly", Status: contacts.OptOut}}},
	} {
		c.List = "news"
		if err := svc.Contacts.CreateContact(ctx, daemon.DefaultAccount, c); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runContacts(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := contactsCmd(t.Context(), append(args, "--data-dir", dir), &out)
	return out.String(), err
}

// TestContactsCLIList: petrel contacts list shows the account's only list
// with each topic's status (defaults marked), filters as ListContacts
// does, and prints JSON lines; bad flags and an account without a list
// are errors.
func TestContactsCLIList(t *testing.T) {
	dir := contactsFixture(t)
	out, err := runContacts(t, dir, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EMAIL", "ann@example.com", "sports=OPT_IN weekly=(OPT_IN)", "Bob@Example.com", "yes",
		"sports=(OPT_OUT) weekly=OPT_OUT", "3 contacts in contact list news of account default"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	jsonList := func(args ...string) []string {
		t.Helper()
		out, err := runContacts(t, dir, append([]string{"list", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("list %v: %v", args, err)
		}
		var got []string
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var c contactJSON
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			got = append(got, c.EmailAddress)
		}
		return got
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"ann@example.com", "Bob@Example.com", "cy@example.com"}},
		{[]string{"--list", "news", "--status", "OPT_OUT"}, []string{"Bob@Example.com"}},
		{[]string{"--topic", "sports", "--status", "opt_in"}, []string{"ann@example.com"}},
		{[]string{"--topic", "weekly", "--status", "OPT_IN", "--use-default"}, []string{"ann@example.com", "Bob@Example.com"}},
		{[]string{"--topic", "weekly"}, []string{"cy@example.com"}},
	} {
		if got := jsonList(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("list %v: %q, want %q", c.args, got, c.want)
		}
	}
	for _, bad := range [][]string{{"--topic", "golf"}, {"--status", "MAYBE"}, {"--use-default"}, {"--list", "other"}, {"--account", "acme"}, {"--account", "nobody"}, {"extra"}} {
		if _, err := runContacts(t, dir, append([]string{"list"}, bad...)...); err == nil {
			t.Errorf("list %v: no error", bad)
		}
	}
}

// TestContactsCLIGet: petrel contacts get shows one contact, found in any
// case, as text or JSON; a missing contact is an error.
func TestContactsCLIGet(t *testing.T) {
	dir := contactsFixture(t)
	out, err := runContacts(t, dir, "get", "ANN@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"email:                  ann@example.com", "unsubscribed from all:  false", "topic sports:           OPT_IN",
		"topic weekly:           OPT_IN (the topic's default)", `attributes:             {"name":"Ann"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	out, err = runContacts(t, dir, "get", "bob@example.com", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var c contactJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.EmailAddress != "Bob@Example.com" || !c.UnsubscribeAll ||
		c.TopicDefaultPreferences["sports"] != "OPT_OUT" || len(c.TopicPreferences) != 0 || c.CreatedTimestamp == "" {
		t.Fatalf("get --json: %s (%v)", out, err)
	}
	for _, bad := range [][]string{{"nobody@example.com"}, {"not an address"}, {}} {
		if _, err := runContacts(t, dir, append([]string{"get"}, bad...)...); err == nil {
			t.Errorf("get %v: no error", bad)
		}
	}
	if _, err := runContacts(t, dir, "frob"); err == nil {
		t.Error("unknown subcommand: no error")
	}
}
