package configset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// eachBackend runs f on a fresh store of each backend.
func eachBackend(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) { f(t, store.OpenTest(t, b)) })
	}
}

// TestRoundTrip: every field Create stores reads back from Get as given;
// each setter changes its aspect only.
func TestRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		in := ConfigurationSet{Account: "a", Name: "Full_set-1", SendingEnabled: false,
			Delivery:    DeliveryOptions{TlsPolicy: TLSRequire, SendingPoolName: "pool", MaxDeliverySeconds: 600},
			Reputation:  ReputationOptions{ReputationMetricsEnabled: true, LastFreshStart: time.UnixMilli(1700000000123)},
			Suppression: &suppression.Policy{Reasons: []suppression.Reason{suppression.Complaint}, SoftBounce: &suppression.SoftBounce{Count: 3, Window: time.Hour, SuppressFor: 2 * time.Hour}},
			Tracking:    TrackingOptions{CustomRedirectDomain: "t.example", HttpsPolicy: HTTPSRequire},
			Vdm:         &VdmOptions{DashboardOptions: &DashboardOptions{EngagementMetrics: FeatureEnabled}},
			Archiving:   &ArchivingOptions{ArchiveArn: "arn:aws:ses:us-east-1:1:mailmanager-archive/a"},
			Tags:        []Tag{{Key: "k", Value: "v"}, {Key: "empty", Value: ""}},
		}
		if err := s.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "a", "Full_set-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Created.IsZero() || !got.TLSRequired() || got.MaxDelivery() != 10*time.Minute {
			t.Errorf("Created %v TLSRequired %v MaxDelivery %v", got.Created, got.TLSRequired(), got.MaxDelivery())
		}
		got.Created = time.Time{}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("read back\n%+v\nwant\n%+v", got, in)
		}

		if err := s.PutDeliveryOptions(ctx, "a", "Full_set-1", DeliveryOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSendingOptions(ctx, "a", "Full_set-1", true); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSuppressionOptions(ctx, "a", "Full_set-1", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.PutVdmOptions(ctx, "a", "Full_set-1", nil); err != nil {
			t.Fatal(err)
		}
		got, err = s.Get(ctx, "a", "Full_set-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Delivery != (DeliveryOptions{TlsPolicy: TLSOptional}) || got.TLSRequired() || got.MaxDelivery() != 0 || !got.SendingEnabled ||
			got.Suppression != nil || got.Vdm != nil || got.Archiving == nil || got.Tracking.HttpsPolicy != HTTPSRequire || len(got.Tags) != 2 {
			t.Errorf("after setters: %+v", got)
		}
	})
}

// TestValidation: Create and the setters refuse bad values with
// ErrInvalid, naming the value; nothing is stored.
func TestValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "ok"}); err != nil {
			t.Fatal(err)
		}
		tags := make([]Tag, MaxTags+1)
		for i := range tags {
			tags[i] = Tag{Key: fmt.Sprint(i)}
		}
		for _, c := range []struct {
			name, says string
			err        error
		}{
			{"empty name", "1-64", s.Create(ctx, ConfigurationSet{Account: "a"})},
			{"name with a dot", "only letters", s.Create(ctx, ConfigurationSet{Account: "a", Name: "a.b"})},
			{"name of 65", "1-64", s.Create(ctx, ConfigurationSet{Account: "a", Name: strings.Repeat("x", 65)})},
			{"MaxDeliverySeconds 299", "MaxDeliverySeconds 299", s.PutDeliveryOptions(ctx, "a", "ok", DeliveryOptions{MaxDeliverySeconds: 299})},
			{"MaxDeliverySeconds 50401", "MaxDeliverySeconds 50401", s.PutDeliveryOptions(ctx, "a", "ok", DeliveryOptions{MaxDeliverySeconds: 50401})},
			{"TlsPolicy", "TlsPolicy", s.PutDeliveryOptions(ctx, "a", "ok", DeliveryOptions{TlsPolicy: "require"})},
			{"HttpsPolicy", "HttpsPolicy", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{HttpsPolicy: "ALWAYS"})},
			{"domain", "CustomRedirectDomain", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: "a b"})},
			{"reason", "SuppressedReasons", s.PutSuppressionOptions(ctx, "a", "ok", &suppression.Policy{Reasons: []suppression.Reason{"SPAM"}})},
			{"reason twice", "twice", s.PutSuppressionOptions(ctx, "a", "ok", &suppression.Policy{Reasons: []suppression.Reason{"BOUNCE", "BOUNCE"}})},
			{"soft bounce", "BounceCount", s.PutSuppressionOptions(ctx, "a", "ok", &suppression.Policy{Reasons: []suppression.Reason{"BOUNCE"}, SoftBounce: &suppression.SoftBounce{Count: 1}})},
			{"EngagementMetrics", "VdmOptions.DashboardOptions.EngagementMetrics \"maybe\"", s.PutVdmOptions(ctx, "a", "ok", &VdmOptions{DashboardOptions: &DashboardOptions{EngagementMetrics: "maybe"}})},
			{"OptimizedSharedDelivery", "VdmOptions.GuardianOptions.OptimizedSharedDelivery", s.PutVdmOptions(ctx, "a", "ok", &VdmOptions{GuardianOptions: &GuardianOptions{OptimizedSharedDelivery: "enabled"}})},
			{"ArchiveArn not an ARN", "ArchiveArn", s.PutArchivingOptions(ctx, "a", "ok", &ArchivingOptions{ArchiveArn: "archive-1"})},
			{"ArchiveArn with a space", "ArchiveArn", s.PutArchivingOptions(ctx, "a", "ok", &ArchivingOptions{ArchiveArn: "arn:aws:ses:us-east-1:1:mailmanager-archive/a b"})},
			{"ArchiveArn too long", "ArchiveArn is longer", s.PutArchivingOptions(ctx, "a", "ok", &ArchivingOptions{ArchiveArn: "arn:aws:ses:r:1:" + strings.Repeat("x", MaxArchiveArnLen)})},
			{"LastFreshStart negative", "LastFreshStart", s.Create(ctx, ConfigurationSet{Account: "a", Name: "neg", Reputation: ReputationOptions{LastFreshStart: time.Unix(-1e9, 0)}})},
			{"LastFreshStart far future", "LastFreshStart", s.Create(ctx, ConfigurationSet{Account: "a", Name: "fut", Reputation: ReputationOptions{LastFreshStart: time.Now().AddDate(100, 0, 0)}})},
			{"domain without a dot", "CustomRedirectDomain", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: "localhost"})},
			{"domain empty label", "CustomRedirectDomain", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: "a..example"})},
			{"domain label with hyphen", "CustomRedirectDomain", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: "-a.example"})},
			{"domain label of 64", "CustomRedirectDomain", s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: strings.Repeat("a", 64) + ".example"})},
			{"SendingPoolName of 65", "SendingPoolName", s.PutDeliveryOptions(ctx, "a", "ok", DeliveryOptions{SendingPoolName: strings.Repeat("p", 65)})},
			{"SendingPoolName control", "SendingPoolName", s.PutDeliveryOptions(ctx, "a", "ok", DeliveryOptions{SendingPoolName: "p\x00"})},
			{"key aws:", "reserved", s.Tag(ctx, "a", "ok", []Tag{{Key: "aws:x", Value: "v"}})},
			{"key AWS:", "reserved", s.Tag(ctx, "a", "ok", []Tag{{Key: "AWS:x", Value: "v"}})},
			{"value aws:", "reserved", s.Tag(ctx, "a", "ok", []Tag{{Key: "k", Value: "aws:v"}})},
			{"key NUL", "Key", s.Tag(ctx, "a", "ok", []Tag{{Key: "k\x00", Value: "v"}})},
			{"key with *", "Key", s.Tag(ctx, "a", "ok", []Tag{{Key: "k*", Value: "v"}})},
			{"key not UTF-8", "Key", s.Tag(ctx, "a", "ok", []Tag{{Key: "k\xff", Value: "v"}})},
			{"value with <", "Value", s.Tag(ctx, "a", "ok", []Tag{{Key: "k", Value: "<v>"}})},
			{"51 tags", "too many tags", s.Tag(ctx, "a", "ok", tags)},
			{"empty key", "Key", s.Tag(ctx, "a", "ok", []Tag{{Key: ""}})},
			{"key twice", "twice", s.Tag(ctx, "a", "ok", []Tag{{Key: "k"}, {Key: "k"}})},
			{"value of 257", "Value", s.Tag(ctx, "a", "ok", []Tag{{Key: "k", Value: strings.Repeat("é", 257)}})},
		} {
			if !errors.Is(c.err, ErrInvalid) || !strings.Contains(c.err.Error(), c.says) {
				t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, c.err, c.says)
			}
		}
		// 128 and 256 characters (not bytes) are allowed.
		if err := s.Tag(ctx, "a", "ok", []Tag{{Key: strings.Repeat("ü", 128), Value: strings.Repeat("é", 256)}}); err != nil {
			t.Errorf("longest tag: %v", err)
		}
		// Every character SES allows, Unicode letters and digits included;
		// the value may be empty.
		if err := s.Tag(ctx, "a", "ok", []Tag{{Key: "Ünï 2_.:/=+-@", Value: "データ ٣ _.:/=+-@"}, {Key: "no-value"}}); err != nil {
			t.Errorf("tag of every allowed character: %v", err)
		}
		if err := s.Untag(ctx, "a", "ok", []string{"Ünï 2_.:/=+-@", "no-value"}); err != nil {
			t.Fatal(err)
		}
		// Domain names that are fine.
		for _, d := range []string{"t.example", "xn--bcher-kva.example", "a-b.c-d.example"} {
			if err := s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{CustomRedirectDomain: d}); err != nil {
				t.Errorf("CustomRedirectDomain %q: %v", d, err)
			}
		}
		if err := s.PutTrackingOptions(ctx, "a", "ok", TrackingOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "a", "ok")
		if err != nil {
			t.Fatal(err)
		}
		if got.Delivery.TlsPolicy != TLSOptional || got.Suppression != nil || got.Tracking != (TrackingOptions{}) || got.Vdm != nil || len(got.Tags) != 1 {
			t.Errorf("bad input changed the set: %+v", got)
		}
		if names, _ := s.List(ctx, "a", "", 10); !slices.Equal(names, []string{"ok"}) { // nor neg, nor fut
			t.Errorf("sets: %v", names)
		}
	})
}

// TestNotFoundAndExists: operations on a set that does not exist, or of
// another account, are ErrNotFound; creating an existing name ErrExists.
func TestNotFoundAndExists(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "x"}); !errors.Is(err, ErrExists) {
			t.Errorf("duplicate: %v", err)
		}
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "X"}); err != nil {
			t.Errorf("names are case-sensitive: %v", err)
		}
		for op, err := range map[string]error{
			"Get":                   func() error { _, err := s.Get(ctx, "b", "x"); return err }(),
			"Cached":                func() error { _, err := s.Cached(ctx, "b", "x"); return err }(),
			"PutDeliveryOptions":    s.PutDeliveryOptions(ctx, "b", "x", DeliveryOptions{}),
			"PutSendingOptions":     s.PutSendingOptions(ctx, "b", "x", true),
			"PutReputationOptions":  s.PutReputationOptions(ctx, "b", "x", true),
			"PutSuppressionOptions": s.PutSuppressionOptions(ctx, "b", "x", nil),
			"PutTrackingOptions":    s.PutTrackingOptions(ctx, "b", "x", TrackingOptions{}),
			"PutVdmOptions":         s.PutVdmOptions(ctx, "b", "x", nil),
			"PutArchivingOptions":   s.PutArchivingOptions(ctx, "b", "x", nil),
			"Tag":                   s.Tag(ctx, "b", "x", []Tag{{Key: "k"}}),
			"Untag":                 s.Untag(ctx, "b", "x", []string{"k"}),
			"Delete":                s.Delete(ctx, "b", "x"),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of another account's set: %v", op, err)
			}
		}
		if err := s.Delete(ctx, "a", "x"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a", "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: %v", err)
		}
	})
}

// TestCached: Cached answers from memory for CacheTTL; a write through the
// same Service is seen at once, one through another Service (another
// node) once the answer is CacheTTL old; a miss is not remembered; a
// deleted set is ErrNotFound at once.
func TestCached(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		now := time.Unix(1700000000, 0)
		s, other := New(db), New(db)
		s.now = func() time.Time { return now }
		if _, err := s.Cached(ctx, "a", "cs"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("before Create: %v", err)
		}
		if err := other.Create(ctx, ConfigurationSet{Account: "a", Name: "cs", SendingEnabled: true}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Cached(ctx, "a", "cs")
		if err != nil || !c.SendingEnabled {
			t.Fatalf("miss not remembered: %+v %v", c, err)
		}

		// Another node pauses the set: seen once the answer is 5 s old.
		if err := other.PutSendingOptions(ctx, "a", "cs", false); err != nil {
			t.Fatal(err)
		}
		now = now.Add(CacheTTL - time.Millisecond)
		if c, _ := s.Cached(ctx, "a", "cs"); !c.SendingEnabled {
			t.Errorf("answer reread before CacheTTL")
		}
		now = now.Add(time.Millisecond)
		if c, _ := s.Cached(ctx, "a", "cs"); c.SendingEnabled {
			t.Errorf("answer older than CacheTTL")
		}

		// Writes through s are seen at once.
		writes := []struct {
			op    string
			write func() error
			check func(ConfigurationSet) bool
		}{
			{"PutSendingOptions", func() error { return s.PutSendingOptions(ctx, "a", "cs", true) }, func(c ConfigurationSet) bool { return c.SendingEnabled }},
			{"PutDeliveryOptions", func() error { return s.PutDeliveryOptions(ctx, "a", "cs", DeliveryOptions{TlsPolicy: TLSRequire}) }, ConfigurationSet.TLSRequired},
			{"PutSuppressionOptions", func() error { return s.PutSuppressionOptions(ctx, "a", "cs", &suppression.Policy{}) }, func(c ConfigurationSet) bool { return c.Suppression != nil }},
			{"PutTrackingOptions", func() error { return s.PutTrackingOptions(ctx, "a", "cs", TrackingOptions{HttpsPolicy: HTTPSOptional}) }, func(c ConfigurationSet) bool { return c.Tracking.HttpsPolicy == HTTPSOptional }},
			{"PutReputationOptions", func() error { return s.PutReputationOptions(ctx, "a", "cs", true) }, func(c ConfigurationSet) bool { return c.Reputation.ReputationMetricsEnabled }},
			{"PutVdmOptions", func() error { return s.PutVdmOptions(ctx, "a", "cs", &VdmOptions{}) }, func(c ConfigurationSet) bool { return c.Vdm != nil }},
			{"PutArchivingOptions", func() error {
				return s.PutArchivingOptions(ctx, "a", "cs", &ArchivingOptions{ArchiveArn: "arn:aws:ses:r:1:mailmanager-archive/a"})
			}, func(c ConfigurationSet) bool { return c.Archiving != nil }},
			{"Tag", func() error { return s.Tag(ctx, "a", "cs", []Tag{{Key: "k"}}) }, func(c ConfigurationSet) bool { return len(c.Tags) == 1 }},
			{"Untag", func() error { return s.Untag(ctx, "a", "cs", []string{"k"}) }, func(c ConfigurationSet) bool { return len(c.Tags) == 0 }},
		}
		for _, w := range writes {
			if _, err := s.Cached(ctx, "a", "cs"); err != nil { // cache it
				t.Fatal(err)
			}
			if err := w.write(); err != nil {
				t.Fatalf("%s: %v", w.op, err)
			}
			c, err := s.Cached(ctx, "a", "cs")
			if err != nil || !w.check(c) {
				t.Errorf("%s not seen by Cached at once: %+v %v", w.op, c, err)
			}
		}

		if p, err := s.SuppressionOverride(ctx, "a", "cs"); err != nil || p == nil || len(p.Reasons) != 0 {
			t.Errorf("SuppressionOverride: %v %v", p, err)
		}
		if err := s.Delete(ctx, "a", "cs"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cached(ctx, "a", "cs"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after Delete: %v", err)
		}
		for _, name := range []string{"", "cs"} {
			if p, err := s.SuppressionOverride(ctx, "a", name); p != nil || err != nil {
				t.Errorf("SuppressionOverride(%q) = %v, %v; want nil", name, p, err)
			}
		}
	})
}

// fill inserts n minimal sets of account, 500 to a statement.
func fill(t *testing.T, db *store.DB, account string, n int) {
	t.Helper()
	for i := 0; i < n; i += 500 {
		var q strings.Builder
		var args []any
		q.WriteString("INSERT INTO configuration_sets (account, name, created_ms) VALUES ")
		for j := i; j < min(n, i+500); j++ {
			if j > i {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, 0)")
			args = append(args, account, fmt.Sprintf("f%05d", j))
		}
		if _, err := db.ExecContext(t.Context(), db.Rebind(q.String()), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLimit: an account holds at most MaxPerAccount sets, also when
// creates race for the last places; other accounts are not affected.
func TestLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		fill(t, db, "a", MaxPerAccount-10)
		var ok, limited atomic.Int32
		var wg sync.WaitGroup
		for i := range 25 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Create(context.WithoutCancel(ctx), ConfigurationSet{Account: "a", Name: fmt.Sprintf("race-%d", i)})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrLimit):
					limited.Add(1)
				default:
					t.Errorf("create %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 10 || limited.Load() != 15 {
			t.Errorf("%d created, %d limited; want 10 and 15", ok.Load(), limited.Load())
		}
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "f00000"}); !errors.Is(err, ErrExists) {
			t.Errorf("existing name at the limit: %v (ErrExists first)", err)
		}
		if err := s.Create(ctx, ConfigurationSet{Account: "b", Name: "x"}); err != nil {
			t.Errorf("another account: %v", err)
		}
		if err := s.Delete(ctx, "a", "f00001"); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "again"}); err != nil {
			t.Errorf("after a Delete: %v", err)
		}
	})
}

// TestTagsConcurrent: tags added at once by many callers are all kept (no
// lost update).
func TestTagsConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: "cs"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Tag(context.WithoutCancel(ctx), "a", "cs", []Tag{{Key: fmt.Sprint(i), Value: "v"}}); err != nil {
					t.Errorf("Tag %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		c, err := s.Get(ctx, "a", "cs")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Tags) != 20 {
			t.Errorf("%d tags kept of 20", len(c.Tags))
		}
	})
}

// TestCachedBounded: Cached keeps at most cache.Max entries however many
// sets are looked up, dropping stale entries first; a fresh entry that
// survives eviction is still answered from the cache.
func TestCachedBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		if s.cache.Max != MaxCacheEntries || s.cache.TTL != CacheTTL {
			t.Fatalf("cache Max %d, TTL %v; want MaxCacheEntries %d, CacheTTL %v", s.cache.Max, s.cache.TTL, MaxCacheEntries, CacheTTL)
		}
		s.cache.Max = 20
		now := time.Unix(1_800_000_000, 0)
		s.now = func() time.Time { return now }
		for i := range 100 {
			name := fmt.Sprintf("cs%03d", i)
			if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: name}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Cached(ctx, "a", name); err != nil {
				t.Fatal(err)
			}
			if n := s.cache.Len(); n > s.cache.Max {
				t.Fatalf("after %d sets looked up the cache has %d entries, more than %d", i+1, n, s.cache.Max)
			}
		}
		// Stale entries go first: 10 fresh lookups after the clock moves
		// past CacheTTL leave only those 10 once the cache is full again.
		now = now.Add(CacheTTL)
		for i := range s.cache.Max + 1 {
			if _, err := s.Cached(ctx, "a", fmt.Sprintf("cs%03d", 50+i)); err != nil {
				t.Fatal(err)
			}
		}
		fresh := 0
		for i := range s.cache.Max + 1 {
			if _, err := s.cache.Load(cacheKey{"a", fmt.Sprintf("cs%03d", 50+i)}, now, func() (ConfigurationSet, error) {
				return ConfigurationSet{}, errors.New("not cached")
			}); err == nil {
				fresh++
			}
		}
		if n := s.cache.Len(); n != fresh || fresh == 0 {
			t.Errorf("%d entries kept, %d of them fresh: stale entries kept while fresh ones were dropped", n, fresh)
		}
	})
}

// TestLegacyRows: rows stored before options were typed (any JSON as
// VdmOptions and ArchivingOptions, a negative LastFreshStart) read back in
// the canonical shape: unknown members dropped, invalid objects and the
// negative time as not set.
func TestLegacyRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := New(db)
		for _, n := range []string{"junk", "bad"} {
			if err := s.Create(ctx, ConfigurationSet{Account: "a", Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []struct{ name, vdm, archiving string }{
			{"junk", `{"Junk":"xxx","DashboardOptions":{"EngagementMetrics":"ENABLED","More":1}}`, `{"ArchiveArn":"arn:aws:ses:r:1:mailmanager-archive/a","Junk":[1]}`},
			{"bad", `{"DashboardOptions":{"EngagementMetrics":"maybe"}}`, `[1]`},
		} {
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE configuration_sets SET vdm = ?, archiving = ?, last_fresh_start_ms = ? WHERE account = 'a' AND name = ?"),
				u.vdm, u.archiving, int64(-1e15), u.name); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, "a", "junk")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Vdm, &VdmOptions{DashboardOptions: &DashboardOptions{EngagementMetrics: FeatureEnabled}}) ||
			!reflect.DeepEqual(got.Archiving, &ArchivingOptions{ArchiveArn: "arn:aws:ses:r:1:mailmanager-archive/a"}) || !got.Reputation.LastFreshStart.IsZero() {
			t.Errorf("junk: Vdm %+v Archiving %+v LastFreshStart %v", got.Vdm, got.Archiving, got.Reputation.LastFreshStart)
		}
		got, err = s.Get(ctx, "a", "bad")
		if err != nil {
			t.Fatal(err)
		}
		if got.Vdm != nil || got.Archiving != nil {
			t.Errorf("bad: Vdm %+v Archiving %+v, want none", got.Vdm, got.Archiving)
		}
	})
}
