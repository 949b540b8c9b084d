package contacts

import (
	"context"
	"fmt"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

// bigList fills account "a"'s list "main" with n contacts: every tenth
// opted in to sports (default OPT_OUT), every other one opted out of news
// (default OPT_IN).
func bigList(b *testing.B, backend string, n int) *Service {
	b.Helper()
	db := store.OpenTest(b, backend)
	s := New(db, nil)
	ctx := context.Background()
	if err := s.CreateList(ctx, "a", List{Name: "main", Topics: newsTopics}); err != nil {
		b.Fatal(err)
	}
	cs := make([]Contact, n)
	for i := range cs {
		cs[i].Email = fmt.Sprintf("user%06d@example.com", i)
		if i%10 == 0 {
			cs[i].TopicPreferences = append(cs[i].TopicPreferences, TopicPreference{"sports", OptIn})
		}
		if i%2 == 0 {
			cs[i].TopicPreferences = append(cs[i].TopicPreferences, TopicPreference{"news", OptOut})
		}
	}
	if err := s.PutContacts(ctx, "a", "main", cs); err != nil {
		b.Fatal(err)
	}
	s.Analyze(ctx) // as an import job does when it ends
	return s
}

// BenchmarkListContacts100k: one page of 100 from the middle of a
// 100,000-contact list, unfiltered and with topic filters.
func BenchmarkListContacts100k(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			s := bigList(b, backend, 100_000)
			ctx := context.Background()
			first, next, err := s.ListContacts(ctx, "a", "main", Filter{PageSize: MaxPageSize})
			if err != nil || len(first) != MaxPageSize {
				b.Fatal(len(first), err)
			}
			for name, f := range map[string]Filter{
				"all":                       {},
				"sports OPT_IN":             {Topic: "sports", Status: OptIn},
				"news OPT_IN, default":      {Topic: "news", Status: OptIn, UseDefault: true},
				"unsubscribed from all":     {Status: OptIn},
				"sports OPT_OUT, default":   {Topic: "sports", Status: OptOut, UseDefault: true},
				"news preference (any)":     {Topic: "news"},
				"sports OPT_IN, from start": {Topic: "sports", Status: OptIn},
			} {
				b.Run(name, func(b *testing.B) {
					f.PageSize = 100
					if name != "sports OPT_IN, from start" {
						f.NextToken = next
					}
					for b.Loop() {
						page, _, err := s.ListContacts(ctx, "a", "main", f)
						if err != nil || len(page) != 100 {
							b.Fatal(len(page), err)
						}
					}
				})
			}
		})
	}
}
