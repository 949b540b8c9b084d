package suppression

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
)

func listAddr(t testing.TB, s string) address.Address {
	t.Helper()
	a, err := address.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// allEntries pages through account's list with f, pageSize at a time.
func allEntries(t *testing.T, l *List, account string, f Filter) []Entry {
	t.Helper()
	var out []Entry
	for {
		page, next, err := l.ListPage(t.Context(), account, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.NextToken = next
	}
}

func emails(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Address.Email()
	}
	return out
}

func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// TestPutGetDelete: an entry is put, read back with every field,
// overwritten (by another spelling of the same address, which it is then
// shown as), and deleted; the comparison key folds ASCII case in the local
// part and takes a U-label domain as its A-label; UTF-8 local parts are
// kept as written; accounts do not see each other's entries.
func TestPutGetDelete(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		l, clock := openList(t, backend)
		ctx := t.Context()
		at := clock.now().Add(-time.Hour).Truncate(time.Millisecond)
		e := Entry{Address: listAddr(t, "Jane@Example.COM"), Reason: Bounce, LastUpdate: at,
			MessageID: "0100-abc", FeedbackID: "0100-fb", Cause: "bounce rule user-unknown"}
		if err := l.Put(ctx, "acme", e); err != nil {
			t.Fatal(err)
		}
		got, err := l.Get(ctx, "acme", listAddr(t, "jane@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Address.Email() != "Jane@example.com" || got.Reason != Bounce || !got.LastUpdate.Equal(at) ||
			got.MessageID != "0100-abc" || got.FeedbackID != "0100-fb" || got.Cause != e.Cause || !got.Expires.IsZero() {
			t.Fatalf("Get: %+v", got)
		}
		if _, err := l.Get(ctx, "other", e.Address); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another account's Get: %v, want ErrNotFound", err)
		}

		// Overwrite with another spelling and no LastUpdate (the clock's now).
		if err := l.Put(ctx, "acme", Entry{Address: listAddr(t, "JANE@example.com"), Reason: Complaint, Cause: "PutSuppressedDestination"}); err != nil {
			t.Fatal(err)
		}
		got, err = l.Get(ctx, "acme", listAddr(t, "jAnE@EXAMPLE.com"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Address.Email() != "JANE@example.com" || got.Reason != Complaint || !got.LastUpdate.Equal(clock.now()) ||
			got.MessageID != "" || got.FeedbackID != "" || got.Cause != "PutSuppressedDestination" {
			t.Fatalf("Get after overwrite: %+v", got)
		}
		if all := allEntries(t, l, "acme", Filter{}); len(all) != 1 {
			t.Fatalf("one address, two spellings: %d entries", len(all))
		}

		// IDN domains: the U-label and the A-label are one entry; UTF-8
		// local parts are kept byte for byte, and only ASCII is folded.
		for _, c := range []struct{ put, get, shown string }{
			{"kunde@bücher.example", "KUNDE@xn--bcher-kva.example", "kunde@xn--bcher-kva.example"},
			{"Jürgen@example.de", "jürgen@EXAMPLE.de", "Jürgen@example.de"},
			{"用户@例え.jp", "用户@xn--r8jz45g.jp", "用户@xn--r8jz45g.jp"},
		} {
			if err := l.Put(ctx, "acme", Entry{Address: listAddr(t, c.put), Reason: Bounce}); err != nil {
				t.Fatal(err)
			}
			got, err := l.Get(ctx, "acme", listAddr(t, c.get))
			if err != nil || got.Address.Email() != c.shown {
				t.Errorf("put %s, get %s: %+v %v, want it shown as %s", c.put, c.get, got.Address, err, c.shown)
			}
		}
		if _, err := l.Get(ctx, "acme", listAddr(t, "JÜRGEN@example.de")); !errors.Is(err, ErrNotFound) {
			t.Errorf("non-ASCII letters are not folded: %v, want ErrNotFound", err)
		}

		if err := l.Delete(ctx, "other", listAddr(t, "jane@example.com")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another account's Delete: %v, want ErrNotFound", err)
		}
		if err := l.Delete(ctx, "acme", listAddr(t, "Jane@example.com")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Get(ctx, "acme", listAddr(t, "jane@example.com")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := l.Delete(ctx, "acme", listAddr(t, "jane@example.com")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete twice: %v, want ErrNotFound", err)
		}
	})
}

// TestPutManyDeleteMany: PutMany writes 2,500 entries in batches, the later
// of duplicates winning (in one batch and across batches); DeleteMany
// removes 1,200 of them, more than one batch, and counts only those that
// were on the list.
func TestPutManyDeleteMany(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		l, clock := openList(t, backend)
		ctx := t.Context()
		var entries []Entry
		for i := range 2500 {
			entries = append(entries, Entry{Address: listAddr(t, fmt.Sprintf("user%04d@example.com", i)), Reason: Bounce, Cause: "import"})
		}
		// Duplicates: in the same batch as the first, and 1,000+ rows later.
		entries = append(entries[:10], append([]Entry{{Address: listAddr(t, "USER0003@example.com"), Reason: Complaint}}, entries[10:]...)...)
		entries = append(entries, Entry{Address: listAddr(t, "User0004@Example.com"), Reason: Complaint, LastUpdate: clock.now().Add(-time.Minute)})
		if err := l.PutMany(ctx, "acme", entries); err != nil {
			t.Fatal(err)
		}
		all := allEntries(t, l, "acme", Filter{})
		if len(all) != 2500 {
			t.Fatalf("%d entries, want 2500", len(all))
		}
		for _, c := range []struct {
			addr, shown string
			reason      Reason
		}{{"user0003@example.com", "USER0003@example.com", Complaint}, {"user0004@example.com", "User0004@example.com", Complaint},
			{"user0005@example.com", "user0005@example.com", Bounce}} {
			e, err := l.Get(ctx, "acme", listAddr(t, c.addr))
			if err != nil || e.Address.Email() != c.shown || e.Reason != c.reason {
				t.Errorf("%s: %+v %v, want %s %s", c.addr, e, err, c.shown, c.reason)
			}
		}
		if e, _ := l.Get(ctx, "acme", listAddr(t, "user2000@example.com")); !e.LastUpdate.Equal(clock.now()) {
			t.Errorf("zero LastUpdate stored as %v, want the clock's %v", e.LastUpdate, clock.now())
		}

		var del []address.Address
		for i := 0; i < 1200; i++ {
			del = append(del, listAddr(t, fmt.Sprintf("USER%04d@example.com", i)))
		}
		del = append(del, listAddr(t, "nobody@example.com"), listAddr(t, "user0000@example.com"))
		n, err := l.DeleteMany(ctx, "acme", del)
		if err != nil || n != 1200 {
			t.Fatalf("DeleteMany: %d, %v; want 1200", n, err)
		}
		all = allEntries(t, l, "acme", Filter{PageSize: 1000})
		if len(all) != 1300 || all[0].Address.Email() != "user1200@example.com" {
			t.Fatalf("after DeleteMany: %d entries from %s", len(all), all[0].Address.Email())
		}
	})
}

// TestListPage: filters by reason and by LastUpdateTime (Start and End
// inclusive, to the millisecond), pages in address order with each entry
// once, and refuses a token it did not issue.
func TestListPage(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		l, _ := openList(t, backend)
		ctx := t.Context()
		day := func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }
		fixture := []struct {
			addr   string
			reason Reason
			day    int
		}{
			{"a@example.com", Bounce, 1}, {"b@example.com", Complaint, 2}, {"c@example.com", Bounce, 3},
			{"d@example.com", Complaint, 4}, {"e@example.com", Bounce, 5}, {"f@example.com", Bounce, 6},
		}
		for _, f := range fixture {
			if err := l.Put(ctx, "acme", Entry{Address: listAddr(t, f.addr), Reason: f.reason, LastUpdate: day(f.day)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Put(ctx, "other", Entry{Address: listAddr(t, "z@example.com"), Reason: Bounce, LastUpdate: day(3)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			f    Filter
			want []string
		}{
			{"all", Filter{}, []string{"a", "b", "c", "d", "e", "f"}},
			{"BOUNCE", Filter{Reasons: []Reason{Bounce}}, []string{"a", "c", "e", "f"}},
			{"COMPLAINT", Filter{Reasons: []Reason{Complaint}}, []string{"b", "d"}},
			{"both reasons", Filter{Reasons: []Reason{Complaint, Bounce}}, []string{"a", "b", "c", "d", "e", "f"}},
			{"Start inclusive", Filter{Start: day(4)}, []string{"d", "e", "f"}},
			{"Start a millisecond later", Filter{Start: day(4).Add(time.Millisecond)}, []string{"e", "f"}},
			{"End inclusive", Filter{End: day(2)}, []string{"a", "b"}},
			{"End a millisecond earlier", Filter{End: day(2).Add(-time.Millisecond)}, []string{"a"}},
			{"Start and End", Filter{Start: day(2), End: day(5)}, []string{"b", "c", "d", "e"}},
			{"Start and End equal", Filter{Start: day(3), End: day(3)}, []string{"c"}},
			{"Start after End", Filter{Start: day(5), End: day(2)}, nil},
			{"dates and reason", Filter{Reasons: []Reason{Bounce}, Start: day(2), End: day(5)}, []string{"c", "e"}},
		} {
			for _, size := range []int{0, 1, 2, 1000} {
				f := c.f
				f.PageSize = size
				var got []string
				for _, e := range allEntries(t, l, "acme", f) {
					got = append(got, e.Address.Local)
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%s, PageSize %d: %q, want %q", c.name, size, got, c.want)
				}
			}
		}

		// Pages: full but for the last; no empty page after a full last one.
		var sizes []int
		f := Filter{PageSize: 2}
		for {
			page, next, err := l.ListPage(ctx, "acme", f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page))
			if next == "" {
				break
			}
			f.NextToken = next
		}
		if !slices.Equal(sizes, []int{2, 2, 2}) {
			t.Errorf("pages of 2: %v", sizes)
		}

		for _, tok := range []string{"not base64!", base64.RawURLEncoding.EncodeToString([]byte("a@example.com")), "c2Qx"} {
			if _, _, err := l.ListPage(ctx, "acme", Filter{NextToken: tok}); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("token %q: %v, want ErrInvalidToken", tok, err)
			}
		}
	})
}

// TestExpiry: an entry with Expires is on the list until then and not
// after: Get, ListPage and Delete no longer see it; a Put makes it anew.
func TestExpiry(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		l, clock := openList(t, backend)
		ctx := t.Context()
		start := clock.now()
		soft := Entry{Address: listAddr(t, "soft@example.com"), Reason: Bounce, Expires: start.Add(24 * time.Hour), Cause: "soft-bounce policy"}
		hard := Entry{Address: listAddr(t, "hard@example.com"), Reason: Bounce}
		if err := l.PutMany(ctx, "acme", []Entry{soft, hard}); err != nil {
			t.Fatal(err)
		}
		e, err := l.Get(ctx, "acme", soft.Address)
		if err != nil || !e.Expires.Equal(soft.Expires) {
			t.Fatalf("before expiry: %+v %v", e, err)
		}
		clock.advance(24 * time.Hour)
		if _, err := l.Get(ctx, "acme", soft.Address); !errors.Is(err, ErrNotFound) {
			t.Fatalf("at expiry: %v, want ErrNotFound", err)
		}
		if got := emails(allEntries(t, l, "acme", Filter{})); !slices.Equal(got, []string{"hard@example.com"}) {
			t.Fatalf("listed after expiry: %q", got)
		}
		if err := l.Delete(ctx, "acme", soft.Address); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete of an expired entry: %v, want ErrNotFound", err)
		}
		soft.Expires = time.Time{}
		if err := l.Put(ctx, "acme", soft); err != nil {
			t.Fatal(err)
		}
		if e, err := l.Get(ctx, "acme", soft.Address); err != nil || !e.Expires.IsZero() || !e.LastUpdate.Equal(clock.now()) {
			t.Fatalf("put again: %+v %v", e, err)
		}
	})
}

// TestAttributes: an account that never set its attributes has SES's
// default (BOUNCE and COMPLAINT, no soft-bounce policy); what is set is
// read back, a soft-bounce policy with it, and an empty reason list stays
// empty (the list not in use) rather than falling back to the default.
func TestAttributes(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		l, _ := openList(t, backend)
		ctx := t.Context()
		p, err := l.Attributes(ctx, "acme")
		if err != nil || !reflect.DeepEqual(p, DefaultPolicy()) || !p.Has(Bounce) || !p.Has(Complaint) {
			t.Fatalf("default: %+v %v", p, err)
		}
		sb := &SoftBounce{Count: 3, Window: 72 * time.Hour, SuppressFor: 7 * 24 * time.Hour, Reasons: []string{"mailbox-full"}}
		for _, want := range []Policy{
			{Reasons: []Reason{Complaint}, SoftBounce: sb},
			{Reasons: []Reason{Bounce, Complaint}},
			{SoftBounce: &SoftBounce{Count: 2, Window: time.Hour, SuppressFor: time.Hour}},
			{},
		} {
			if err := l.SetAttributes(ctx, "acme", want); err != nil {
				t.Fatal(err)
			}
			got, err := l.Attributes(ctx, "acme")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("set %+v, got %+v %v", want, got, err)
			}
		}
		if p, _ := l.Attributes(ctx, "other"); !reflect.DeepEqual(p, DefaultPolicy()) {
			t.Errorf("another account: %+v", p)
		}
		j := sb.JSON()
		if back, err := j.Policy(); err != nil || !reflect.DeepEqual(back, *sb) {
			t.Errorf("SoftBounceJSON round trip: %+v %v", back, err)
		}
		for _, bad := range []SoftBounceJSON{
			{BounceCount: 1, WindowSeconds: 3600, SuppressSeconds: 3600},
			{BounceCount: 2, WindowSeconds: 60, SuppressSeconds: 3600},
			{BounceCount: 2, WindowSeconds: 3600, SuppressSeconds: 366 * 86400},
			{BounceCount: 2, WindowSeconds: 3600, SuppressSeconds: 3600, Reasons: []string{""}},
		} {
			if _, err := bad.Policy(); err == nil {
				t.Errorf("%+v: no error", bad)
			}
		}
	})
}
