package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, backend string) (*Service, *store.DB, *clock) {
	t.Helper()
	db := store.OpenTest(t, backend)
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	return New(db, c.now), db, c
}

var newsTopics = []Topic{
	{Name: "sports", DisplayName: "Sports", Description: "All sports", DefaultSubscriptionStatus: OptOut},
	{Name: "news", DisplayName: "News", DefaultSubscriptionStatus: OptIn},
}

func mustCreateList(t *testing.T, s *Service, account string) {
	t.Helper()
	if err := s.CreateList(t.Context(), account, List{Name: "main", Description: "d", Topics: newsTopics, Tags: [][2]string{{"k", "v"}}}); err != nil {
		t.Fatal(err)
	}
}

// TestListLifecycle: a list is created, read with every field, refused a
// second time (AlreadyExists for its name, LimitExceeded for another),
// updated as a complete replacement (a dropped topic takes its
// preferences), and deleted with its contacts.
func TestListLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, _, clk := newService(t, backend)
		ctx := t.Context()
		mustCreateList(t, s, "a1")
		l, err := s.GetList(ctx, "a1", "main")
		if err != nil {
			t.Fatal(err)
		}
		want := List{Name: "main", Description: "d", Topics: newsTopics, Tags: [][2]string{{"k", "v"}}, Created: clk.now(), Updated: clk.now()}
		if !reflect.DeepEqual(l, want) {
			t.Fatalf("GetList = %+v, want %+v", l, want)
		}
		if _, err := s.GetList(ctx, "a2", "main"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other account: %v", err)
		}
		if err := s.CreateList(ctx, "a1", List{Name: "main"}); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("same name: %v", err)
		}
		var le *LimitError
		if err := s.CreateList(ctx, "a1", List{Name: "other"}); !errors.As(err, &le) {
			t.Fatalf("second list: %v", err)
		}
		if err := s.CreateContact(ctx, "a1", Contact{List: "main", Email: "Jane@Example.com",
			TopicPreferences: []TopicPreference{{"sports", OptIn}, {"news", OptOut}}}); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Second)
		if err := s.UpdateList(ctx, "a1", List{Name: "main", Topics: newsTopics[1:]}); err != nil {
			t.Fatal(err)
		}
		l, _ = s.GetList(ctx, "a1", "main")
		if l.Description != "" || len(l.Topics) != 1 || !l.Updated.Equal(clk.now()) || len(l.Tags) != 1 {
			t.Fatalf("after update: %+v", l)
		}
		c, err := s.GetContact(ctx, "a1", "main", "jane@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if want := []TopicPreference{{"news", OptOut}}; !reflect.DeepEqual(c.TopicPreferences, want) {
			t.Fatalf("preferences after topic removed: %v", c.TopicPreferences)
		}
		// Re-adding the topic does not bring the old preference back.
		if err := s.UpdateList(ctx, "a1", List{Name: "main", Topics: newsTopics}); err != nil {
			t.Fatal(err)
		}
		if c, _ = s.GetContact(ctx, "a1", "main", "jane@example.com"); len(c.TopicPreferences) != 1 {
			t.Fatalf("preferences after topic re-added: %v", c.TopicPreferences)
		}
		if err := s.UpdateList(ctx, "a1", List{Name: "nope"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if err := s.DeleteList(ctx, "a1", "main"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteList(ctx, "a1", "main"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		// A new list of the same name starts empty.
		mustCreateList(t, s, "a1")
		if _, err := s.GetContact(ctx, "a1", "main", "jane@example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("contact survived its list: %v", err)
		}
	})
}

// TestListValidation: SES's rules for names, topics and their limits.
func TestListValidation(t *testing.T) {
	s, _, _ := newService(t, "sqlite")
	many := make([]Topic, MaxTopics+1)
	for i := range many {
		many[i] = Topic{Name: fmt.Sprint("t", i), DisplayName: "T", DefaultSubscriptionStatus: OptIn}
	}
	for _, tc := range []struct {
		name  string
		l     List
		limit bool
	}{
		{"empty name", List{}, false},
		{"bad name", List{Name: "a b"}, false},
		{"long name", List{Name: string(make([]byte, 65))}, false},
		{"bad topic name", List{Name: "l", Topics: []Topic{{Name: "a.b", DisplayName: "x", DefaultSubscriptionStatus: OptIn}}}, false},
		{"no display name", List{Name: "l", Topics: []Topic{{Name: "a", DefaultSubscriptionStatus: OptIn}}}, false},
		{"bad default", List{Name: "l", Topics: []Topic{{Name: "a", DisplayName: "A", DefaultSubscriptionStatus: "opt_in"}}}, false},
		{"duplicate topic", List{Name: "l", Topics: []Topic{newsTopics[0], newsTopics[0]}}, false},
		{"21 topics", List{Name: "l", Topics: many}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateList(t.Context(), "a", tc.l)
			var ie *InvalidError
			var le *LimitError
			if tc.limit && !errors.As(err, &le) || !tc.limit && !errors.As(err, &ie) {
				t.Fatalf("CreateList = %v", err)
			}
		})
	}
	if err := s.CreateList(t.Context(), "a", List{Name: "l", Topics: many[:MaxTopics]}); err != nil {
		t.Fatalf("20 topics: %v", err)
	}
}

// TestContactLifecycle: create (the key folds case; AlreadyExists for
// another spelling), read, update replacing every preference, delete; bad
// input is *InvalidError.
func TestContactLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, _, clk := newService(t, backend)
		ctx := t.Context()
		if err := s.CreateContact(ctx, "a", Contact{List: "main", Email: "x@example.com"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no list: %v", err)
		}
		mustCreateList(t, s, "a")
		in := Contact{List: "main", Email: "Jane@Example.COM", TopicPreferences: []TopicPreference{{"sports", OptIn}, {"news", OptOut}},
			Attributes: `{"name":"Jane"}`}
		if err := s.CreateContact(ctx, "a", in); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateContact(ctx, "a", Contact{List: "main", Email: "jane@example.com"}); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("again: %v", err)
		}
		c, err := s.GetContact(ctx, "a", "main", "JANE@example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := Contact{List: "main", Email: "Jane@Example.COM", TopicPreferences: []TopicPreference{{"news", OptOut}, {"sports", OptIn}},
			Attributes: `{"name":"Jane"}`, Created: clk.now(), Updated: clk.now()}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("GetContact = %+v\nwant %+v", c, want)
		}
		l, _ := s.GetList(ctx, "a", "main")
		if d := l.DefaultPreferences(c); len(d) != 0 {
			t.Fatalf("defaults with every topic set: %v", d)
		}
		clk.add(time.Minute)
		if err := s.UpdateContact(ctx, "a", Contact{List: "main", Email: "jane@example.com", TopicPreferences: []TopicPreference{{"news", OptIn}}, UnsubscribeAll: true}); err != nil {
			t.Fatal(err)
		}
		c, _ = s.GetContact(ctx, "a", "main", "jane@example.com")
		want = Contact{List: "main", Email: "Jane@Example.COM", TopicPreferences: []TopicPreference{{"news", OptIn}}, UnsubscribeAll: true,
			Created: want.Created, Updated: clk.now()}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("after update = %+v\nwant %+v", c, want)
		}
		if d := l.DefaultPreferences(c); !reflect.DeepEqual(d, []TopicPreference{{"sports", OptOut}}) {
			t.Fatalf("defaults: %v", d)
		}
		if err := s.UpdateContact(ctx, "a", Contact{List: "main", Email: "nobody@example.com"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		for _, bad := range []Contact{
			{List: "main", Email: "not an address"},
			{List: "main", Email: "Jane <j@example.com>"},
			{List: "main", Email: "k@example.com", TopicPreferences: []TopicPreference{{"golf", OptIn}}},
			{List: "main", Email: "k@example.com", TopicPreferences: []TopicPreference{{"news", "IN"}}},
			{List: "main", Email: "k@example.com", TopicPreferences: []TopicPreference{{"news", OptIn}, {"news", OptOut}}},
			{List: "main", Email: "k@example.com", Attributes: "{not json"},
			{List: "main", Email: "k@example.com", Attributes: `"` + string(make([]byte, MaxAttributesLen)) + `"`},
		} {
			var ie *InvalidError
			if err := s.CreateContact(ctx, "a", bad); !errors.As(err, &ie) {
				t.Errorf("CreateContact(%+v) = %v, want *InvalidError", bad.TopicPreferences, err)
			}
		}
		if err := s.DeleteContact(ctx, "a", "main", "JANE@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteContact(ctx, "a", "main", "JANE@example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

// TestApply: apply creates an absent contact (existed false, zero
// before), changes an existing one returning before and after, writes
// nothing for a change that changes nothing, and refuses an unknown topic
// without writing.
func TestApply(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, db, clk := newService(t, backend)
		ctx := t.Context()
		mustCreateList(t, s, "a")
		apply := func(email string, change func(*Contact)) (before, after Contact, existed bool, err error) {
			err = db.Tx(ctx, func(tx *sql.Tx) error {
				var err error
				before, after, existed, err = s.apply(ctx, tx, "a", "main", email, true, change)
				return err
			})
			return
		}
		before, after, existed, err := apply("New@Example.com", func(c *Contact) { c.UnsubscribeAll = true })
		if err != nil || existed || !reflect.DeepEqual(before, Contact{}) || !after.UnsubscribeAll || after.Email != "New@Example.com" {
			t.Fatalf("create: %+v %+v %v %v", before, after, existed, err)
		}
		clk.add(time.Second)
		before, after, existed, err = apply("new@example.com", func(c *Contact) {
			c.UnsubscribeAll = false
			c.TopicPreferences = append(c.TopicPreferences, TopicPreference{"sports", OptOut})
		})
		if err != nil || !existed || !before.UnsubscribeAll || after.UnsubscribeAll || !reflect.DeepEqual(after.TopicPreferences, []TopicPreference{{"sports", OptOut}}) {
			t.Fatalf("change: %+v %+v %v %v", before, after, existed, err)
		}
		stamp := clk.now()
		clk.add(time.Second)
		if _, _, _, err := apply("new@example.com", func(c *Contact) {}); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.GetContact(ctx, "a", "main", "new@example.com"); !c.Updated.Equal(stamp) {
			t.Fatalf("a no-op change wrote: Updated %v, want %v", c.Updated, stamp)
		}
		var ie *InvalidError
		if _, _, _, err := apply("new@example.com", func(c *Contact) { c.TopicPreferences = []TopicPreference{{"golf", OptOut}} }); !errors.As(err, &ie) {
			t.Fatalf("unknown topic: %v", err)
		}
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, _, _, err := s.apply(ctx, tx, "a", "other", "x@example.com", true, func(*Contact) {})
			return err
		}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown list: %v", err)
		}
	})
}

// TestApplyConcurrent: concurrent apply calls each add a topic
// preference to one new contact; none is lost.
func TestApplyConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		s, db, _ := newService(t, backend)
		ctx := context.Background()
		topics := make([]Topic, 16)
		for i := range topics {
			topics[i] = Topic{Name: fmt.Sprint("t", i), DisplayName: "T", DefaultSubscriptionStatus: OptIn}
		}
		if err := s.CreateList(ctx, "a", List{Name: "main", Topics: topics}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(topics))
		for _, tp := range topics {
			wg.Go(func() {
				errs <- db.Tx(ctx, func(tx *sql.Tx) error {
					_, _, _, err := s.apply(ctx, tx, "a", "main", "race@example.com", true, func(c *Contact) {
						c.TopicPreferences = append(c.TopicPreferences, TopicPreference{tp.Name, OptOut})
					})
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := s.GetContact(ctx, "a", "main", "race@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.TopicPreferences) != len(topics) {
			t.Fatalf("%d preferences kept of %d", len(c.TopicPreferences), len(topics))
		}
	})
}

// TestTemporary: the package's own errors are permanent; anything else
// (the store's) is temporary.
func TestTemporary(t *testing.T) {
	_, perm := ParseEmail("<a@x.test>")
	for _, c := range []struct {
		err  error
		temp bool
	}{
		{perm, false},
		{fmt.Errorf("wrapped: %w", perm), false},
		{ErrGone, false},
		{ErrBadToken, false},
		{listNotFound("x"), false},
		{&LimitError{"x"}, false},
		{&TopicNotFoundError{"l", "t"}, false},
		{ErrInvalidToken, false},
		{context.Canceled, true},
		{errors.New("database is locked"), true},
	} {
		if got := Temporary(c.err); got != c.temp {
			t.Errorf("Temporary(%v) = %v, want %v", c.err, got, c.temp)
		}
	}
}
