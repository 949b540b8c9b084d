package contacts

import (
	"errors"
	"slices"
	"testing"
)

// TestUnsubscribed: who a list-managed send must skip, for the whole list
// and per topic (explicit preference, else the topic's default; a
// non-contact follows the default), with addresses compared by key
// (domain case), another account's list not found, an unknown topic
// refused.
func TestUnsubscribed(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, _, _ := newService(t, backend)
		ctx := t.Context()
		mustCreateList(t, s, "acct") // topics: sports (default OPT_OUT), news (default OPT_IN)
		for _, c := range []Contact{
			{List: "main", Email: "all@example.com", UnsubscribeAll: true},
			{List: "main", Email: "sportsfan@Example.COM", TopicPreferences: []TopicPreference{{Topic: "sports", Status: OptIn}}},
			{List: "main", Email: "nonews@example.com", TopicPreferences: []TopicPreference{{Topic: "news", Status: OptOut}}},
			{List: "main", Email: "plain@example.com"},
		} {
			if err := s.CreateContact(ctx, "acct", c); err != nil {
				t.Fatal(err)
			}
		}
		emails := []string{"all@example.com", "sportsfan@example.com", "nonews@EXAMPLE.com", "plain@example.com", "stranger@example.com", "not an address"}
		const (
			no    = Subscribed
			all   = UnsubscribedAll
			topic = UnsubscribedTopic
		)
		for _, c := range []struct {
			topic string
			want  []Unsubscription
		}{
			{"", []Unsubscription{all, no, no, no, no, no}},
			{"sports", []Unsubscription{all, no, topic, topic, topic, topic}},
			{"news", []Unsubscription{all, no, topic, no, no, no}},
		} {
			got, err := s.Unsubscribed(ctx, "acct", "main", c.topic, emails)
			if err != nil {
				t.Fatalf("topic %q: %v", c.topic, err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("topic %q: %v, want %v", c.topic, got, c.want)
			}
		}
		if got, err := s.Unsubscribed(ctx, "acct", "main", "", nil); err != nil || len(got) != 0 {
			t.Errorf("no emails: %v, %v", got, err)
		}
		var tnf *TopicNotFoundError
		if _, err := s.Unsubscribed(ctx, "acct", "main", "cycling", emails); !errors.As(err, &tnf) || tnf.Topic != "cycling" {
			t.Errorf("unknown topic: %v", err)
		}
		for _, c := range [][2]string{{"acct", "other"}, {"someone-else", "main"}} {
			if _, err := s.Unsubscribed(ctx, c[0], c[1], "", emails); !errors.Is(err, ErrNotFound) {
				t.Errorf("%v: %v, want ErrNotFound", c, err)
			}
		}
	})
}
