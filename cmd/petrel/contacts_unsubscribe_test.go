package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/event"
)

// TestContactsUnsubscribeCLI: petrel contacts unsubscribe opts a
// non-contact out of a topic (it becomes a contact), then out of the whole
// list, each once with a Subscription event (source Operator, no message);
// a repeat changes nothing; an unknown topic or list is an error.
func TestContactsUnsubscribeCLI(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), daemon.DefaultAccount); err != nil {
		t.Fatal(err)
	}
	if err := contacts.New(svc.DB, nil).CreateList(t.Context(), daemon.DefaultAccount, contacts.List{Name: "news",
		Topics: []contacts.Topic{{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := contactsCmd(t.Context(), append(append([]string{"unsubscribe"}, args...), "--data-dir", dir), &out)
		return out.String(), err
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"jane@far.test", "--topic", "sports"}, "unsubscribed jane@far.test from topic sports of list news\n"},
		{[]string{"jane@far.test", "--topic", "sports"}, "jane@far.test was already unsubscribed from topic sports of list news; nothing changed\n"},
		{[]string{"jane@far.test", "--list", "news", "--all"}, "unsubscribed jane@far.test from list news\n"},
		{[]string{"jane@far.test"}, "jane@far.test was already unsubscribed from list news; nothing changed\n"},
	} {
		if out, err := run(c.args...); err != nil || out != c.want {
			t.Errorf("%v: %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	for _, args := range [][]string{{"jane@far.test", "--topic", "nosuch"}, {"jane@far.test", "--list", "other"},
		{"jane@far.test", "--topic", "sports", "--all"}, {}, {"not an address"}} {
		if _, err := run(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	svc = openServices(t, dir)
	defer svc.Close()
	c, err := contacts.New(svc.DB, nil).GetContact(t.Context(), daemon.DefaultAccount, "news", "jane@far.test")
	if st, _ := c.Preference("sports"); err != nil || !c.UnsubscribeAll || st != contacts.OptOut {
		t.Errorf("contact: %+v, %v", c, err)
	}
	evs, err := svc.Events.List(t.Context(), event.Filter{Kind: event.Subscription})
	if err != nil || len(evs) != 2 {
		t.Fatalf("events: %+v, %v", evs, err)
	}
	for _, e := range evs {
		if e.MessageID != "" || e.Recipient != "jane@far.test" || !strings.Contains(string(e.Detail), `"source":"Operator"`) {
			t.Errorf("event %+v %s", e, e.Detail)
		}
	}
}
