package contacts

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// allContacts pages through the list with f and returns the addresses.
func allContacts(t *testing.T, s *Service, account, list string, f Filter) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		page, next, err := s.ListContacts(t.Context(), account, list, f)
		if err != nil {
			t.Fatal(err)
		}
		if f.PageSize > 0 && len(page) > f.PageSize {
			t.Fatalf("page of %d, PageSize %d", len(page), f.PageSize)
		}
		for _, c := range page {
			out = append(out, c.Email)
		}
		if next == "" {
			return out
		}
		f.NextToken = next
	}
}

// TestListContactsFilters: SES's filters over a list whose topics have
// both defaults: by UnsubscribeAll, by explicit preference, and with the
// topic's default standing in for a missing preference; paging returns
// every match once, in order, at every page size.
func TestListContactsFilters(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, _, _ := newService(t, backend)
		ctx := t.Context()
		mustCreateList(t, s, "a") // sports: default OPT_OUT; news: default OPT_IN
		mk := func(email string, unsub bool, prefs ...TopicPreference) {
			if err := s.CreateContact(ctx, "a", Contact{List: "main", Email: email, UnsubscribeAll: unsub, TopicPreferences: prefs}); err != nil {
				t.Fatal(err)
			}
		}
		mk("a@x.example", false, TopicPreference{"sports", OptIn})
		mk("b@x.example", true, TopicPreference{"sports", OptOut}, TopicPreference{"news", OptIn})
		mk("c@x.example", false)
		mk("d@x.example", false, TopicPreference{"news", OptOut})
		mk("e@x.example", true)
		// Another account's list of the same name is not seen.
		if err := s.CreateList(ctx, "b", List{Name: "main", Topics: newsTopics}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateContact(ctx, "b", Contact{List: "main", Email: "z@x.example", TopicPreferences: []TopicPreference{{"sports", OptIn}}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want []string
		}{
			{"all", Filter{}, []string{"a", "b", "c", "d", "e"}},
			{"unsubscribed from all", Filter{Status: OptOut}, []string{"b", "e"}},
			{"not unsubscribed from all", Filter{Status: OptIn}, []string{"a", "c", "d"}},
			{"sports opted in", Filter{Topic: "sports", Status: OptIn}, []string{"a"}},
			{"sports opted in, default", Filter{Topic: "sports", Status: OptIn, UseDefault: true}, []string{"a"}},
			{"sports opted out", Filter{Topic: "sports", Status: OptOut}, []string{"b"}},
			{"sports opted out, default", Filter{Topic: "sports", Status: OptOut, UseDefault: true}, []string{"b", "c", "d", "e"}},
			{"news opted in", Filter{Topic: "news", Status: OptIn}, []string{"b"}},
			{"news opted in, default", Filter{Topic: "news", Status: OptIn, UseDefault: true}, []string{"a", "b", "c", "e"}},
			{"news opted out, default", Filter{Topic: "news", Status: OptOut, UseDefault: true}, []string{"d"}},
			{"news any preference", Filter{Topic: "news"}, []string{"b", "d"}},
			{"news any, default", Filter{Topic: "news", UseDefault: true}, []string{"a", "b", "c", "d", "e"}},
		} {
			for _, size := range []int{0, 1, 2, 1000} {
				t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
					f := tc.f
					f.PageSize = size
					got := allContacts(t, s, "a", "main", f)
					want := make([]string, len(tc.want))
					for i, w := range tc.want {
						want[i] = w + "@x.example"
					}
					if !slices.Equal(got, want) {
						t.Fatalf("got %v, want %v", got, want)
					}
				})
			}
		}
		page, _, err := s.ListContacts(ctx, "a", "main", Filter{Topic: "sports", Status: OptOut})
		if err != nil {
			t.Fatal(err)
		}
		if want := []TopicPreference{{"news", OptIn}, {"sports", OptOut}}; len(page) != 1 || !reflect.DeepEqual(page[0].TopicPreferences, want) || !page[0].UnsubscribeAll {
			t.Fatalf("listed contact: %+v", page)
		}
		for _, bad := range []Filter{{Topic: "golf"}, {Status: "IN"}, {PageSize: -1}, {PageSize: MaxPageSize + 1}} {
			var ie *InvalidError
			if _, _, err := s.ListContacts(ctx, "a", "main", bad); !errors.As(err, &ie) {
				t.Errorf("ListContacts(%+v) = %v, want *InvalidError", bad, err)
			}
		}
		if _, _, err := s.ListContacts(ctx, "a", "main", Filter{NextToken: "!!"}); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("bad token: %v", err)
		}
		if _, _, err := s.ListContacts(ctx, "a", "other", Filter{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("no list: %v", err)
		}
	})
}

// TestPutDeleteContacts: an import's PUT creates and overwrites (keeping
// Created; the last record of an address wins), across batches; DELETE
// counts what existed; a record with an unknown topic fails its batch.
func TestPutDeleteContacts(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, _, clk := newService(t, backend)
		ctx := t.Context()
		mustCreateList(t, s, "a")
		created := clk.now()
		if err := s.CreateContact(ctx, "a", Contact{List: "main", Email: "old@x.example", TopicPreferences: []TopicPreference{{"news", OptOut}}, Attributes: `{"a":1}`}); err != nil {
			t.Fatal(err)
		}
		clk.add(60e9)
		var cs []Contact
		for i := range BatchSize + 5 {
			cs = append(cs, Contact{Email: fmt.Sprintf("u%04d@x.example", i), TopicPreferences: []TopicPreference{{"sports", OptIn}, {"news", OptOut}}})
		}
		cs = append(cs, Contact{Email: "OLD@x.example", UnsubscribeAll: true}, Contact{Email: "old@X.example", TopicPreferences: []TopicPreference{{"sports", OptIn}}})
		if err := s.PutContacts(ctx, "a", "main", cs); err != nil {
			t.Fatal(err)
		}
		c, err := s.GetContact(ctx, "a", "main", "old@x.example")
		if err != nil {
			t.Fatal(err)
		}
		want := Contact{List: "main", Email: "old@X.example", TopicPreferences: []TopicPreference{{"sports", OptIn}}, Created: created, Updated: clk.now()}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("overwritten = %+v\nwant %+v", c, want)
		}
		if n := len(allContacts(t, s, "a", "main", Filter{Topic: "news", Status: OptOut})); n != BatchSize+5 {
			t.Fatalf("%d contacts with news OPT_OUT, want %d", n, BatchSize+5)
		}
		var ie *InvalidError
		if err := s.PutContacts(ctx, "a", "main", []Contact{{Email: "n@x.example"}, {Email: "m@x.example", TopicPreferences: []TopicPreference{{"golf", OptIn}}}}); !errors.As(err, &ie) {
			t.Fatalf("unknown topic: %v", err)
		}
		if _, err := s.GetContact(ctx, "a", "main", "n@x.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused batch wrote: %v", err)
		}
		if err := s.PutContacts(ctx, "a", "nope", []Contact{{Email: "n@x.example"}}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no list: %v", err)
		}
		var del []string
		for i := range BatchSize + 5 {
			del = append(del, fmt.Sprintf("U%04d@x.example", i))
		}
		del = append(del, "never@x.example")
		n, err := s.DeleteContacts(ctx, "a", "main", del)
		if err != nil || n != BatchSize+5 {
			t.Fatalf("DeleteContacts = %d, %v", n, err)
		}
		if got := allContacts(t, s, "a", "main", Filter{}); !slices.Equal(got, []string{"old@X.example"}) {
			t.Fatalf("left: %v", got)
		}
		if got := allContacts(t, s, "a", "main", Filter{Topic: "news"}); len(got) != 0 {
			t.Fatalf("preferences of deleted contacts left: %v", got)
		}
	})
}
