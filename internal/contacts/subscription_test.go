package contacts

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

const testMsgID = "0100018f1c2b3a4d-5e6f7a8b-1234-4cde-9f00-abcdef012345-000000"

func newUnsubscriber(t *testing.T, backend string) (*Unsubscriber, *Service, *event.Log) {
	t.Helper()
	s, db, clk := newService(t, backend)
	mustCreateList(t, s, "acme")
	ev := event.NewLog(db)
	return &Unsubscriber{Contacts: s, DB: db, Events: ev, Key: testTokenKey, Now: clk.now}, s, ev
}

func subscriptionEvents(t *testing.T, ev *event.Log) []event.SubscriptionDetail {
	t.Helper()
	evs, err := ev.List(t.Context(), event.Filter{Kind: event.Subscription})
	if err != nil {
		t.Fatal(err)
	}
	var out []event.SubscriptionDetail
	for _, e := range evs {
		var d event.SubscriptionDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func prefs(all bool, kv ...string) event.TopicPreferences {
	p := event.TopicPreferences{UnsubscribeAll: all, TopicSubscriptionStatus: []event.TopicSubscriptionStatus{}}
	for i := 0; i < len(kv); i += 2 {
		p.TopicSubscriptionStatus = append(p.TopicSubscriptionStatus, event.TopicSubscriptionStatus{TopicName: kv[i], SubscriptionStatus: kv[i+1]})
	}
	return p
}

// TestOneClick: a header unsubscribe with a topic opts the contact out of
// that topic only (a non-contact becomes one); without a topic it
// unsubscribes from the list; each change is one Subscription event on
// the message with the effective preferences before and after; a repeat
// changes nothing and records nothing; a deleted list or topic is ErrGone.
func TestOneClick(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, backend)
			ctx := t.Context()
			news := Token{Account: "acme", List: "main", Topic: "news", Email: "Jane@Example.com", MessageID: testMsgID}
			for i := range 2 {
				changed, err := u.OneClick(ctx, news, SourceHeader)
				if err != nil || changed != (i == 0) {
					t.Fatalf("OneClick #%d = %v, %v", i+1, changed, err)
				}
			}
			c, err := s.GetContact(ctx, "acme", "main", "jane@example.com")
			if err != nil || c.UnsubscribeAll || !reflect.DeepEqual(c.TopicPreferences, []TopicPreference{{"news", OptOut}}) {
				t.Fatalf("contact after topic one-click: %+v, %v", c, err)
			}
			evs, _ := ev.List(ctx, event.Filter{Kind: event.Subscription})
			if len(evs) != 1 || evs[0].MessageID != testMsgID || evs[0].Account != "acme" || evs[0].Recipient != "Jane@Example.com" {
				t.Fatalf("events: %+v", evs)
			}
			want := event.SubscriptionDetail{ContactList: "main", Timestamp: "2023-11-14T22:13:20.000Z", Source: "UnsubscribeHeader",
				NewTopicPreferences: prefs(false, "sports", "OptOut", "news", "OptOut"),
				OldTopicPreferences: prefs(false, "sports", "OptOut", "news", "OptIn")}
			if got := subscriptionEvents(t, ev); !reflect.DeepEqual(got, []event.SubscriptionDetail{want}) {
				t.Errorf("event detail:\n got %+v\nwant %+v", got, want)
			}

			whole := news
			whole.Topic = ""
			for i := range 2 {
				if changed, err := u.OneClick(ctx, whole, SourceHeader); err != nil || changed != (i == 0) {
					t.Fatalf("list OneClick #%d = %v, %v", i+1, changed, err)
				}
			}
			if c, _ := s.GetContact(ctx, "acme", "main", "jane@example.com"); !c.UnsubscribeAll {
				t.Errorf("not unsubscribed from the list: %+v", c)
			}
			if got := subscriptionEvents(t, ev); len(got) != 2 || !got[1].NewTopicPreferences.UnsubscribeAll || got[1].OldTopicPreferences.UnsubscribeAll {
				t.Errorf("events: %+v", got)
			}

			for _, tok := range []Token{{Account: "acme", List: "main", Topic: "gone", Email: "x@y.test"},
				{Account: "acme", List: "other", Email: "x@y.test"}, {Account: "nobody", List: "main", Email: "x@y.test"}} {
				if changed, err := u.OneClick(ctx, tok, SourceHeader); !errors.Is(err, ErrGone) || changed {
					t.Errorf("OneClick(%+v) = %v, %v; want ErrGone", tok, changed, err)
				}
				if _, err := s.GetContact(ctx, tok.Account, "main", "x@y.test"); !errors.Is(err, ErrNotFound) {
					t.Errorf("%+v: contact created: %v", tok, err)
				}
			}
			if n := len(subscriptionEvents(t, ev)); n != 2 {
				t.Errorf("%d events, want 2", n)
			}
		})
	}
}

// pageForm is the form a page that showed shown submits with chosen:
// every topic of chosen with its shown value, and the box's.
func pageForm(shown, chosen Preferences) PreferenceForm {
	all := shown.UnsubscribeAll
	f := PreferenceForm{UnsubscribeAll: chosen.UnsubscribeAll, ShownUnsubscribeAll: &all}
	for _, c := range chosen.Topics {
		tc := TopicChoice{Topic: c.Topic, Status: c.Status}
		for _, s := range shown.Topics {
			if s.Topic == c.Topic {
				tc.Shown = s.Status
			}
		}
		f.Topics = append(f.Topics, tc)
	}
	return f
}

// TestSetPreferences: the page's submission stores only what the user
// changed relative to what was shown; saving the shown state unchanged
// stores nothing (not even a contact) and records no event.
func TestSetPreferences(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, backend)
			ctx := t.Context()
			tok := Token{Account: "acme", List: "main", Email: "bob@example.com", MessageID: testMsgID}
			_, shown, err := u.State(ctx, tok)
			if err != nil || !reflect.DeepEqual(shown, Preferences{Topics: []TopicPreference{{"sports", OptOut}, {"news", OptIn}}}) {
				t.Fatalf("State = %+v, %v", shown, err)
			}
			if r, err := u.SetPreferences(ctx, tok, pageForm(shown, shown), SourceLink); err != nil || r != (SaveResult{}) {
				t.Fatalf("unchanged save = %+v, %v", r, err)
			}
			if _, err := s.GetContact(ctx, "acme", "main", "bob@example.com"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unchanged save created the contact: %v", err)
			}
			chosen := Preferences{Topics: []TopicPreference{{"sports", OptIn}, {"news", OptIn}}}
			f := pageForm(shown, chosen)
			f.Topics = append(f.Topics, TopicChoice{Topic: "nosuch", Status: OptOut, Shown: OptIn})
			if r, err := u.SetPreferences(ctx, tok, f, SourceLink); err != nil || r != (SaveResult{Changed: true}) {
				t.Fatalf("save = %+v, %v", r, err)
			}
			c, err := s.GetContact(ctx, "acme", "main", "bob@example.com")
			if err != nil || !reflect.DeepEqual(c.TopicPreferences, []TopicPreference{{"sports", OptIn}}) {
				t.Fatalf("contact: %+v, %v", c, err)
			}
			got := subscriptionEvents(t, ev)
			if len(got) != 1 || got[0].Source != "UnsubscribeLink" ||
				!reflect.DeepEqual(got[0].NewTopicPreferences, prefs(false, "sports", "OptIn", "news", "OptIn")) {
				t.Errorf("events: %+v", got)
			}
			// The same page submitted again: sports is now as chosen.
			if r, err := u.SetPreferences(ctx, tok, f, SourceLink); err != nil || r != (SaveResult{Stale: true}) {
				t.Errorf("repeat save = %+v, %v", r, err)
			}
			if n := len(subscriptionEvents(t, ev)); n != 1 {
				t.Errorf("%d events, want 1", n)
			}
		})
	}
}

// TestSetPreferencesStalePage: a page shown before a one-click
// unsubscribe (of the list, and of a topic) and saved afterwards
// unchanged subscribes no one again and records nothing; a page on which
// the user changed one control applies that control only, against the
// preferences as they are then; the user unchecking the box they were
// shown checked does subscribe again.
func TestSetPreferencesStalePage(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, backend)
			ctx := t.Context()
			whole := Token{Account: "acme", List: "main", Email: "jane@example.com", MessageID: testMsgID}
			news := whole
			news.Topic = "news"
			_, shown, err := u.State(ctx, whole)
			if err != nil || shown.UnsubscribeAll {
				t.Fatalf("State = %+v, %v", shown, err)
			}
			for _, tok := range []Token{whole, news} {
				if changed, err := u.OneClick(ctx, tok, SourceHeader); err != nil || !changed {
					t.Fatalf("OneClick(%q) = %v, %v", tok.Topic, changed, err)
				}
			}
			want := Contact{UnsubscribeAll: true, TopicPreferences: []TopicPreference{{"news", OptOut}}}
			check := func(what string, want Contact, events int) {
				t.Helper()
				c, err := s.GetContact(ctx, "acme", "main", "jane@example.com")
				if err != nil || c.UnsubscribeAll != want.UnsubscribeAll || !sameStored(c.TopicPreferences, want.TopicPreferences) {
					t.Errorf("%s: contact %+v (%v), want UnsubscribeAll %v %+v", what, c, err, want.UnsubscribeAll, want.TopicPreferences)
				}
				if n := len(subscriptionEvents(t, ev)); n != events {
					t.Errorf("%s: %d events, want %d", what, n, events)
				}
			}
			check("after one-click", want, 2)

			// The stale page saved unchanged.
			if r, err := u.SetPreferences(ctx, whole, pageForm(shown, shown), SourceLink); err != nil || r != (SaveResult{Stale: true}) {
				t.Fatalf("stale unchanged save = %+v, %v", r, err)
			}
			check("stale unchanged save", want, 2)

			// The stale page with sports turned on: only sports changes.
			chosen := Preferences{Topics: []TopicPreference{{"sports", OptIn}, {"news", OptIn}}}
			if r, err := u.SetPreferences(ctx, whole, pageForm(shown, chosen), SourceLink); err != nil || r != (SaveResult{Changed: true, Stale: true}) {
				t.Fatalf("stale save of sports = %+v, %v", r, err)
			}
			want.TopicPreferences = append(want.TopicPreferences, TopicPreference{"sports", OptIn})
			check("stale save of sports", want, 3)

			// A fresh page on which the user unchecks the box and
			// subscribes to news: applied.
			_, now, err := u.State(ctx, whole)
			if err != nil || !now.UnsubscribeAll {
				t.Fatalf("State = %+v, %v", now, err)
			}
			chosen = Preferences{Topics: []TopicPreference{{"sports", OptIn}, {"news", OptIn}}}
			if r, err := u.SetPreferences(ctx, whole, pageForm(now, chosen), SourceLink); err != nil || r != (SaveResult{Changed: true}) {
				t.Fatalf("fresh save = %+v, %v", r, err)
			}
			check("fresh save", Contact{TopicPreferences: []TopicPreference{{"sports", OptIn}, {"news", OptIn}}}, 4)
		})
	}
}

// TestSetPreferencesWithoutShown: a form that does not say what the page
// showed (an old page, a hand-made POST) unsubscribes but never
// subscribes again: the box and OPT_OUT apply, OPT_IN and an unchecked
// box do not (SaveResult.Ignored when they would have changed something).
func TestSetPreferencesWithoutShown(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, backend)
			ctx := t.Context()
			tok := Token{Account: "acme", List: "main", Email: "jane@example.com", MessageID: testMsgID}
			get := func() Contact {
				t.Helper()
				c, err := s.GetContact(ctx, "acme", "main", "jane@example.com")
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			if r, err := u.SetPreferences(ctx, tok, PreferenceForm{UnsubscribeAll: true, Topics: []TopicChoice{{Topic: "news", Status: OptOut}}}, SourceLink); err != nil ||
				r != (SaveResult{Changed: true}) {
				t.Fatalf("unsubscribing save = %+v, %v", r, err)
			}
			if c := get(); !c.UnsubscribeAll || !reflect.DeepEqual(c.TopicPreferences, []TopicPreference{{"news", OptOut}}) {
				t.Fatalf("after the unsubscribing save: %+v", c)
			}
			// The brief's repro body: action=save&topic:news=OPT_IN, no box.
			f := PreferenceForm{Topics: []TopicChoice{{Topic: "news", Status: OptIn}, {Topic: "sports", Status: OptIn}}}
			if r, err := u.SetPreferences(ctx, tok, f, SourceLink); err != nil || r != (SaveResult{Ignored: true}) {
				t.Fatalf("subscribing save = %+v, %v", r, err)
			}
			if c := get(); !c.UnsubscribeAll || !reflect.DeepEqual(c.TopicPreferences, []TopicPreference{{"news", OptOut}}) {
				t.Fatalf("a form without shown state subscribed again: %+v", c)
			}
			if n := len(subscriptionEvents(t, ev)); n != 1 {
				t.Errorf("%d events, want 1", n)
			}
			// Only the topic's shown value missing: the box (shown) applies.
			no := false
			f = PreferenceForm{UnsubscribeAll: true, ShownUnsubscribeAll: &no, Topics: []TopicChoice{{Topic: "news", Status: OptIn}}}
			if r, err := u.SetPreferences(ctx, tok, f, SourceLink); err != nil || r != (SaveResult{Stale: true, Ignored: true}) {
				t.Fatalf("partly shown save = %+v, %v", r, err)
			}
			if c := get(); !c.UnsubscribeAll || !reflect.DeepEqual(c.TopicPreferences, []TopicPreference{{"news", OptOut}}) {
				t.Fatalf("after the partly shown save: %+v", c)
			}
		})
	}
}

// BenchmarkOneClick: one-click unsubscribes of distinct contacts (each a
// new contact and a Subscription event in one transaction), SQLite.
func BenchmarkOneClick(b *testing.B) {
	db := store.OpenTest(b, "sqlite")
	s := New(db, nil)
	if err := s.CreateList(b.Context(), "acme", List{Name: "main", Topics: newsTopics}); err != nil {
		b.Fatal(err)
	}
	u := &Unsubscriber{Contacts: s, DB: db, Events: event.NewLog(db), Key: testTokenKey}
	b.ResetTimer()
	for i := range b.N {
		tok := Token{Account: "acme", List: "main", Topic: "news", Email: fmt.Sprintf("r%d@far.test", i), MessageID: testMsgID}
		if _, err := u.OneClick(b.Context(), tok, SourceHeader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseToken: verifying a typical token.
func BenchmarkParseToken(b *testing.B) {
	s := Token{Account: "123456789012", List: "Newsletter", Topic: "Sports", Email: "jane@example.com", MessageID: testMsgID}.Sign(testTokenKey)
	for range b.N {
		if _, err := ParseToken(s, testTokenKey); err != nil {
			b.Fatal(err)
		}
	}
}

// dropNews is what UpdateContactList does to the test list when it drops
// the topic news.
var dropNews = List{Name: "main", Description: "d", Topics: newsTopics[:1]}

// TestMailtoAppliesToListInTx: the mailto: unsubscribe readied before an
// UpdateContactList that drops a topic and applied after it applies to the
// list as it is then: a token for the dropped topic changes nothing (no
// error, no contact, no event) and a whole-list token unsubscribes with an
// event showing only the topics left. (Before, the list was read when
// readied: the first failed with an unknown-topic error, so inbound
// answered 451 and the sender retried, and the second's event showed the
// dropped topic.)
func TestMailtoAppliesToListInTx(t *testing.T) {
	cases := []struct {
		name, topic string
		changed     bool
		want        []event.SubscriptionDetail
	}{
		{"dropped topic", "news", false, nil},
		{"whole list", "", true, []event.SubscriptionDetail{{ContactList: "main", Timestamp: "2023-11-14T22:13:20.000Z", Source: SourceHeader,
			NewTopicPreferences: prefs(true, "sports", "OptOut"), OldTopicPreferences: prefs(false, "sports", "OptOut")}}},
	}
	for _, backend := range store.Backends() {
		for _, tc := range cases {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				u, s, ev := newUnsubscriber(t, backend)
				ctx := t.Context()
				tok := Token{Account: "acme", List: "main", Topic: tc.topic, Email: "jane@example.com", MessageID: testMsgID}
				if err := u.DB.Tx(ctx, func(tx *sql.Tx) error { return s.PutMailtoTx(tx, tok, testTokenKey, time.UnixMilli(1_700_000_000_000)) }); err != nil {
					t.Fatal(err)
				}
				local, _ := MailtoLocal(testMsgID, testTokenKey)
				_, _, apply, err := u.PrepareMailto(ctx, local[len(MailtoPrefix):])
				if err != nil || apply == nil {
					t.Fatalf("PrepareMailto: %v, apply %v", err, apply != nil)
				}
				if err := s.UpdateList(ctx, "acme", dropNews); err != nil {
					t.Fatal(err)
				}
				var changed bool
				if err := u.DB.Tx(ctx, func(tx *sql.Tx) (err error) { changed, err = apply(tx); return err }); err != nil || changed != tc.changed {
					t.Fatalf("apply = %v, %v; want %v, nil", changed, err, tc.changed)
				}
				if _, err := s.GetContact(ctx, "acme", "main", "jane@example.com"); errors.Is(err, ErrNotFound) == tc.changed {
					t.Errorf("contact after apply: %v", err)
				}
				if got := subscriptionEvents(t, ev); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
				}
			})
		}
	}
}

// TestOneClickWaitsForUpdateList (PostgreSQL, where readers do not wait
// for SQLite's write lock): a one-click unsubscribe arriving while an
// UpdateContactList that drops a topic is in flight waits for it and
// applies to the list it leaves: the dropped topic's token is ErrGone (the
// 410 it gets when it comes later) rather than an unknown-topic error (a
// 503), and a whole-list token's event shows only the topics left. (Before,
// the list was read outside the transaction, without waiting.)
func TestOneClickWaitsForUpdateList(t *testing.T) {
	cases := []struct {
		name, topic string
		gone        bool
		want        []event.SubscriptionDetail
	}{
		{"dropped topic", "news", true, nil},
		{"whole list", "", false, []event.SubscriptionDetail{{ContactList: "main", Timestamp: "2023-11-14T22:13:20.000Z", Source: SourceHeader,
			NewTopicPreferences: prefs(true, "sports", "OptOut"), OldTopicPreferences: prefs(false, "sports", "OptOut")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, s, ev := newUnsubscriber(t, "postgres")
			ctx := t.Context()
			topics, err := encodeTopics(dropNews.Topics)
			if err != nil {
				t.Fatal(err)
			}
			// UpdateList's writes, held uncommitted.
			tx, err := u.DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, "UPDATE contact_lists SET topics = $1 WHERE account = 'acme'", topics); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM contact_topic_preferences WHERE account = 'acme' AND topic = 'news'"); err != nil {
				t.Fatal(err)
			}
			type result struct {
				changed bool
				err     error
			}
			done := make(chan result, 1)
			go func() {
				changed, err := u.OneClick(ctx, Token{Account: "acme", List: "main", Topic: tc.topic, Email: "jane@example.com", MessageID: testMsgID}, SourceHeader)
				done <- result{changed, err}
			}()
			for waiting := 0; waiting == 0; {
				if err := u.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM contact_lists%FOR SHARE%'").Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				runtime.Gosched()
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if errors.Is(r.err, ErrGone) != tc.gone || !tc.gone && (r.err != nil || !r.changed) {
				t.Fatalf("OneClick = %v, %v; want ErrGone %v", r.changed, r.err, tc.gone)
			}
			if got := subscriptionEvents(t, ev); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tc.want)
			}
			if _, err := s.GetContact(ctx, "acme", "main", "jane@example.com"); errors.Is(err, ErrNotFound) != tc.gone {
				t.Errorf("contact: %v", err)
			}
		})
	}
}
