package template

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

func eachBackend(t *testing.T, f func(t *testing.T, s *Service, clock *time.Time)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) {
			s := New(store.OpenTest(t, b))
			now := time.UnixMilli(1_700_000_000_000)
			s.Now = func() time.Time { return now }
			f(t, s, &now)
		})
	}
}

func TestServiceCRUD(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Service, clock *time.Time) {
		ctx := context.Background()
		c := Content{Subject: "Hi {{n}}", Text: "T {{n}}", HTML: "<b>{{n}}</b>"}
		if err := s.Create(ctx, "a1", Template{Name: "Welcome", Content: c, Tags: [][2]string{{"k", "v"}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, "a1", Template{Name: "Welcome", Content: c}); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if err := s.Create(ctx, "a2", Template{Name: "Welcome", Content: c}); err != nil {
			t.Fatalf("same name in another account: %v", err)
		}
		got, err := s.Get(ctx, "a1", "Welcome")
		if err != nil {
			t.Fatal(err)
		}
		want := Template{Name: "Welcome", Content: c, Tags: [][2]string{{"k", "v"}}, Created: *clock, Updated: *clock}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		*clock = clock.Add(time.Second)
		c2 := Content{Subject: "New"}
		if err := s.Update(ctx, "a1", "Welcome", c2); err != nil {
			t.Fatal(err)
		}
		// Get sees a local write at once, though its answer is < CacheTTL old.
		if got, _ := s.Get(ctx, "a1", "Welcome"); got.Content != c2 || !got.Updated.Equal(*clock) || len(got.Tags) != 1 {
			t.Fatalf("after update: %+v", got)
		}
		if err := s.Update(ctx, "a1", "Nope", c2); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if err := s.Tag(ctx, "a1", "Welcome", [][2]string{{"k", "v2"}, {"x", ""}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Untag(ctx, "a1", "Welcome", []string{"x", "absent"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(ctx, "a1", "Welcome"); !reflect.DeepEqual(got.Tags, [][2]string{{"k", "v2"}}) {
			t.Fatalf("tags: %v", got.Tags)
		}
		if err := s.Tag(ctx, "a1", "Nope", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("tag missing: %v", err)
		}
		if err := s.Delete(ctx, "a1", "Welcome"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a1", "Welcome"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.Delete(ctx, "a1", "Welcome"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestServiceValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Service, _ *time.Time) {
		ctx := context.Background()
		for _, tc := range []Template{
			{Name: "", Content: Content{Subject: "x"}},
			{Name: "bad name", Content: Content{Subject: "x"}},
			{Name: strings.Repeat("a", 65), Content: Content{Subject: "x"}},
			{Name: "ok", Content: Content{Subject: "{{#if}}"}},
			{Name: "ok", Content: Content{Subject: "s", Text: strings.Repeat("a", MaxSize/2), HTML: strings.Repeat("b", MaxSize/2)}},
		} {
			var ie *InvalidError
			if err := s.Create(ctx, "a", tc); !errors.As(err, &ie) {
				t.Errorf("%.40q: got %v, want *InvalidError", tc.Name+"/"+tc.Content.Subject, err)
			}
		}
		if err := s.Create(ctx, "a", Template{Name: strings.Repeat("a", 64), Content: Content{Text: strings.Repeat("a", MaxSize)}}); err != nil {
			t.Errorf("64-character name, MaxSize content: %v", err)
		}
	})
}

func TestServiceLimitAndList(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Service, _ *time.Time) {
		ctx := context.Background()
		s.Limit = 5
		for i := range 5 {
			if err := s.Create(ctx, "a", Template{Name: fmt.Sprintf("t%d", 4-i), Content: Content{Subject: "s"}}); err != nil {
				t.Fatal(err)
			}
		}
		var le *LimitError
		if err := s.Create(ctx, "a", Template{Name: "t9", Content: Content{Subject: "s"}}); !errors.As(err, &le) {
			t.Fatalf("over the limit: %v", err)
		}
		if err := s.Create(ctx, "b", Template{Name: "t9", Content: Content{Subject: "s"}}); err != nil {
			t.Fatalf("another account: %v", err)
		}
		page, err := s.List(ctx, "a", "", 3)
		if err != nil || len(page) != 3 || page[0].Name != "t0" || page[2].Name != "t2" {
			t.Fatalf("page 1: %v %v", page, err)
		}
		page, err = s.List(ctx, "a", page[2].Name, 3)
		if err != nil || len(page) != 2 || page[0].Name != "t3" || page[1].Name != "t4" {
			t.Fatalf("page 2: %v %v", page, err)
		}
	})
}

func TestGetCache(t *testing.T) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) {
			db := store.OpenTest(t, b)
			ctx := context.Background()
			now := time.UnixMilli(1_700_000_000_000)
			clock := func() time.Time { return now }
			local, other := New(db), New(db)
			local.Now, other.Now = clock, clock
			if err := local.Create(ctx, "a", Template{Name: "t", Content: Content{Subject: "v1"}}); err != nil {
				t.Fatal(err)
			}
			if got, _ := local.Get(ctx, "a", "t"); got.Content.Subject != "v1" {
				t.Fatal(got)
			}
			// Another node's write is seen once the cached answer is CacheTTL old.
			if err := other.Update(ctx, "a", "t", Content{Subject: "v2"}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(CacheTTL - time.Millisecond)
			if got, _ := local.Get(ctx, "a", "t"); got.Content.Subject != "v1" {
				t.Fatalf("within CacheTTL: %q", got.Content.Subject)
			}
			now = now.Add(time.Millisecond)
			if got, _ := local.Get(ctx, "a", "t"); got.Content.Subject != "v2" {
				t.Fatalf("after CacheTTL: %q", got.Content.Subject)
			}
		})
	}
}

func TestParseARN(t *testing.T) {
	a, err := ParseARN("arn:aws:ses:eu-west-1:123456789012:template/My_T-1")
	if err != nil || a.Region != "eu-west-1" || a.Account != "123456789012" || a.Name != "My_T-1" {
		t.Fatalf("got %+v %v", a, err)
	}
	if got := ARN("us-east-1", "123456789012", "My_T-1"); got != "arn:aws:ses:us-east-1:123456789012:template/My_T-1" {
		t.Fatal(got)
	}
	for _, bad := range []string{"", "MyT", "arn:aws:ses:us-east-1:123:identity/x", "arn:aws:sns:us-east-1:123:template/x",
		"arn:aws:ses:us-east-1::template/x", "arn:aws:ses:us-east-1:123:template/", "arn:aws:ses:us-east-1:123:template/a b", "arn:aws:ses::123:template/x"} {
		var ie *InvalidError
		if _, err := ParseARN(bad); !errors.As(err, &ie) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestCreateConcurrentLimit: creates racing at the limit never pass it
// (PostgreSQL: the advisory lock; SQLite: the write lock).
func TestCreateConcurrentLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Service, _ *time.Time) {
		s.Limit = 3
		errs := make(chan error, 10)
		for i := range 10 {
			go func() {
				errs <- s.Create(context.Background(), "a", Template{Name: fmt.Sprintf("t%d", i), Content: Content{Subject: "s"}})
			}()
		}
		ok := 0
		for range 10 {
			err := <-errs
			var le *LimitError
			switch {
			case err == nil:
				ok++
			case !errors.As(err, &le):
				t.Errorf("unexpected: %v", err)
			}
		}
		list, err := s.List(context.Background(), "a", "", 100)
		if err != nil || ok != 3 || len(list) != 3 {
			t.Fatalf("%d created, %d listed (%v), want 3", ok, len(list), err)
		}
	})
}

// FuzzParseARN: whatever ParseARN accepts is ARN's output for what it
// returns, in some region (and partition: aws-cn, aws-us-gov…).
func FuzzParseARN(f *testing.F) {
	f.Add("arn:aws:ses:us-east-1:123456789012:template/My_T-1")
	f.Add("arn:aws:ses:us-east-1:123:template/a/b")
	f.Add("arn:aws:ses:::template/")
	f.Fuzz(func(t *testing.T, arn string) {
		a, err := ParseARN(arn)
		if err != nil {
			return
		}
		if got := strings.Replace(ARN(a.Region, a.Account, a.Name), "arn:aws:", "arn:"+a.Partition+":", 1); got != arn {
			t.Fatalf("ParseARN(%q) = %+v; ARN gives %q", arn, a, got)
		}
	})
}
