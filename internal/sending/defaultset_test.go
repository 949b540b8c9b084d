package sending_test

import (
	"context"
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// TestDefaultConfigurationSet (issue 14): a message's configuration set is
// the request's, else the X-SES-CONFIGURATION-SET header's, else the
// default set of the identity that authorised From — the address
// identity's before its domain's, verified identities only; a default set
// deleted since is ignored, a paused one refuses the message as a named
// one does. On both stores; the set is read back from the queue entry.
func TestDefaultConfigurationSet(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testDefaultConfigurationSet(t, backend) })
	}
}

func testDefaultConfigurationSet(t *testing.T, backend string) {
	ctx := t.Context()
	defaults := map[string]string{ // identity → its default set
		"example.com":        "dom",
		"alice@example.com":  "addr",
		"bob@example.com":    "",
		"unver@example.com":  "unverified",
		"other.example":      "",
		"gone.example":       "gone",
		"paused.example":     "paused",
		"sub.parent.example": "",
		"parent.example":     "parent",
	}
	s, db := newTestStore(t, backend, func(ctx context.Context, ids *identity.Service) error {
		for name, set := range defaults {
			if name != "example.com" {
				if _, err := ids.Create(ctx, testAccount, name, name != "unver@example.com"); err != nil {
					return err
				}
			}
			if set != "" {
				if err := ids.SetConfigurationSet(ctx, testAccount, name, set); err != nil {
					return err
				}
			}
		}
		return nil
	})
	sets := configset.New(db)
	for _, name := range []string{"dom", "addr", "unverified", "gone", "paused", "parent", "hdr", "req"} {
		if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: name, SendingEnabled: name != "paused"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sets.Delete(ctx, testAccount, "gone"); err != nil {
		t.Fatal(err)
	}
	rcpt, _ := address.Parse("rcpt@example.net")
	send := func(from, header, reqSet string) (string, error) {
		raw := "From: " + from + "\r\nTo: rcpt@example.net\r\nSubject: s\r\n"
		if header != "" {
			raw += "X-SES-CONFIGURATION-SET: " + header + "\r\n"
		}
		raw += "\r\nbody\r\n"
		id, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
			Raw: []byte(raw), ConfigSet: reqSet})
		if err != nil {
			return "", err
		}
		var set string
		if err := db.QueryRowContext(ctx, db.Rebind("SELECT configuration_set FROM queue WHERE message_id = ?"), id).Scan(&set); err != nil {
			t.Fatal(err)
		}
		return set, nil
	}
	for _, tc := range []struct {
		name, from, header, req string
		want                    string
		paused                  bool
	}{
		{name: "address identity's default", from: "alice@example.com", want: "addr"},
		{name: "address identity without one: its domain's", from: "bob@example.com", want: "dom"},
		{name: "no address identity: the domain's", from: "carol@example.com", want: "dom"},
		{name: "unverified address identity does not count", from: "unver@example.com", want: "dom"},
		{name: "parent domain's", from: "x@sub.parent.example", want: "parent"},
		{name: "no default anywhere", from: "x@other.example", want: ""},
		{name: "header over default", from: "alice@example.com", header: "hdr", want: "hdr"},
		{name: "request over header and default", from: "alice@example.com", header: "hdr", req: "req", want: "req"},
		{name: "deleted default: no set", from: "x@gone.example", want: ""},
		{name: "paused default refuses", from: "x@paused.example", paused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := send(tc.from, tc.header, tc.req)
			var pe *sending.ConfigSetPausedError
			switch {
			case tc.paused && !errors.As(err, &pe):
				t.Fatalf("err = %v, want a ConfigSetPausedError", err)
			case tc.paused:
				if pe.Name != "paused" {
					t.Errorf("paused set %q", pe.Name)
				}
			case err != nil:
				t.Fatal(err)
			case got != tc.want:
				t.Errorf("configuration set %q, want %q", got, tc.want)
			}
		})
	}

	// Cached lookups only: with the identities' settings and the sets
	// cached (by the send just before), the default resolves with both
	// tables gone.
	if _, err := send("alice@example.com", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"configuration_sets", "identities"} {
		if _, err := db.ExecContext(ctx, "DROP TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := send("alice@example.com", "", ""); err != nil || got != "addr" {
		t.Errorf("with the tables gone: set %q, err %v; want addr from the caches", got, err)
	}
}
