package sending_test

import (
	"context"
	"errors"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// pauses is reputation enforcement as the accept path sees it: the
// account's and sets' pauses ("" is the account's).
type pauses map[string]bool

func (p pauses) Paused(_ context.Context, _, set string) (bool, error) {
	if p["fail"] {
		return false, errors.New("store down")
	}
	return p[set], nil
}

// TestEnforcementPause: an account or set that reputation enforcement
// paused has its messages refused (*EnforcementPausedError naming the set)
// and nothing stored, although the account's own sending switch is on;
// other sets and the account's other mail are accepted.
func TestEnforcementPause(t *testing.T) {
	rcpt, _ := address.Parse("rcpt@example.net")
	raw := []byte("From: sender@example.com\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s, db := newTestStore(t, backend, nil)
			ctx := t.Context()
			sets := configset.New(db)
			for _, name := range []string{"news", "other"} {
				if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: name, SendingEnabled: true}); err != nil {
					t.Fatal(err)
				}
			}
			p := pauses{}
			s.Enforcement = p
			send := func(set string) error {
				_, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
					Raw: raw, ConfigSet: set})
				return err
			}
			stored := func() int {
				var n int
				if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM queue").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			cases := []struct {
				paused  string // "" none, "account", or a set
				set     string
				wantSet string // the refusal's set; "-" accepted
			}{
				{"", "", "-"},
				{"", "news", "-"},
				{"news", "news", "news"},
				{"news", "other", "-"},
				{"news", "", "-"},
				{"account", "", ""},
				{"account", "other", ""},
			}
			for _, c := range cases {
				clear(p)
				switch c.paused {
				case "account":
					p[""] = true
				case "":
				default:
					p[c.paused] = true
				}
				before := stored()
				err := send(c.set)
				var pe *sending.EnforcementPausedError
				switch {
				case c.wantSet == "-" && err != nil:
					t.Errorf("%s paused, send with %q: %v", c.paused, c.set, err)
				case c.wantSet == "-":
				case !errors.As(err, &pe) || pe.ConfigurationSet != c.wantSet:
					t.Errorf("%s paused, send with %q: %v, want EnforcementPausedError{%q}", c.paused, c.set, err, c.wantSet)
				case stored() != before:
					t.Errorf("%s paused, send with %q: stored", c.paused, c.set)
				}
			}
			clear(p)
			p["fail"] = true
			var se *sending.StorageError
			if err := send(""); !errors.As(err, &se) {
				t.Fatalf("enforcement unreadable: %v, want a StorageError", err)
			}
		})
	}
}
