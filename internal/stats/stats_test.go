package stats_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

var backends = []string{"sqlite", "postgres"}

type fixture struct {
	db    *store.DB
	log   *event.Log
	sp    *spool.Spool
	c     *stats.Counters
	ids   *identity.Service
	accts *account.Service
}

func newFixture(t *testing.T, backend string, cfg stats.Config) *fixture {
	t.Helper()
	db := store.OpenTest(t, backend)
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, log: event.NewLog(db), sp: spool.New(db), ids: identity.New(db, nil), accts: accts}
	if cfg.Node == "" {
		cfg.Node = "n1"
	}
	f.c = stats.New(db, f.sp, cfg)
	f.log.Observe(f.c)
	for _, a := range []string{"acme", "other"} {
		if _, err := accts.Create(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// add records events in one transaction, as the accept path and delivery do.
func (f *fixture) add(t *testing.T, fn func(tx *sql.Tx) error) {
	t.Helper()
	if err := f.db.Tx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) send(t *testing.T, id, acct string, at time.Time, set, ident string, rcpts ...event.SendRecipient) {
	t.Helper()
	f.add(t, func(tx *sql.Tx) error {
		mail := `{"sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/` + ident + `","tags":{"ses:configuration-set":["` + set + `"]}}`
		if set == "" {
			mail = `{"sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/` + ident + `","tags":{}}`
		}
		if err := f.sp.PutTx(tx, &spool.Message{ID: id, Account: acct, Created: at, MailFrom: "s@" + ident, Mail: []byte(mail), Body: []byte("x")}); err != nil {
			return err
		}
		return f.log.AddTx(tx, id, acct, "", at, event.SendDetail{ConfigurationSet: set, Identity: ident, Recipients: rcpts})
	})
}

func (f *fixture) outcome(t *testing.T, id, acct, rcpt string, at time.Time, d event.Detail) {
	t.Helper()
	f.add(t, func(tx *sql.Tx) error { return f.log.AddTx(tx, id, acct, rcpt, at, d) })
}

func hard(subtype string) event.BounceDetail {
	return event.BounceDetail{BounceType: "Permanent", BounceSubType: subtype}
}

func sum(t *testing.T, c *stats.Counters, acct string, start, end time.Time) map[stats.Metric]int64 {
	t.Helper()
	tot, err := c.Sum(context.Background(), stats.TotalsQuery{Account: acct, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if len(tot) == 0 {
		return map[stats.Metric]int64{}
	}
	if len(tot) != 1 {
		t.Fatalf("Sum: %d groups, want 1: %+v", len(tot), tot)
	}
	return tot[0].Counts
}

// TestWhatCounts: every recipient is counted as sent; only what SES counts
// towards reputation (§8.1–8.2) is counted apart: hard bounces, not to the
// simulator, not to verified identities, not from the account's
// suppression list; global-suppression bounces count.
func TestWhatCounts(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{})
			ctx := context.Background()
			if _, err := f.ids.Create(ctx, "acme", "verified.example", true); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 30, 10, 7, 0, 0, time.UTC)
			f.send(t, "m1", "acme", now, "", "acme.example",
				event.SendRecipient{Address: "a@example.com"},
				event.SendRecipient{Address: "b@example.com"},
				event.SendRecipient{Address: "bounce@simulator.amazonses.com", Excluded: event.ExcludedSimulator},
				event.SendRecipient{Address: "me@verified.example", Excluded: event.ExcludedVerified},
				event.SendRecipient{Address: "gone@example.com", Excluded: event.ExcludedSuppressed},
				event.SendRecipient{Address: "global@example.com"},
			)
			f.outcome(t, "m1", "acme", "gone@example.com", now, hard("OnAccountSuppressionList"))
			f.outcome(t, "m1", "acme", "global@example.com", now, hard("Suppressed"))
			f.outcome(t, "m1", "acme", "a@example.com", now, hard("General"))
			f.outcome(t, "m1", "acme", "bounce@simulator.amazonses.com", now, hard("General"))
			f.outcome(t, "m1", "acme", "me@verified.example", now, hard("NoEmail"))
			f.outcome(t, "m1", "acme", "b@example.com", now, event.BounceDetail{BounceType: "Transient", BounceSubType: "MailboxFull"})
			f.outcome(t, "m1", "acme", "b@example.com", now, event.DeliveryDelayDetail{})
			f.outcome(t, "m1", "acme", "b@example.com", now, event.DeliveryDetail{})
			f.outcome(t, "m1", "acme", "b@example.com", now, event.ComplaintDetail{})
			f.outcome(t, "m1", "acme", "complaint@simulator.amazonses.com", now, event.ComplaintDetail{})
			f.outcome(t, "m1", "acme", "b@example.com", now, event.AutoResponseDetail{})

			got := sum(t, f.c, "acme", now.Add(-time.Hour), now.Add(time.Hour))
			want := map[stats.Metric]int64{
				stats.MetricSend: 6, stats.MetricCountedSend: 3, stats.MetricSimulatorSend: 1, stats.MetricSuppressedSend: 1,
				stats.MetricPermanentBounce: 5, stats.MetricCountedBounce: 2, // a@ and global@
				stats.MetricTransientBounce: 1, stats.MetricDeliveryDelay: 1, stats.MetricDelivery: 1,
				stats.MetricComplaint: 2, stats.MetricCountedComplaint: 1,
			}
			for m, n := range want {
				if got[m] != n {
					t.Errorf("%s = %d, want %d", m, got[m], n)
				}
			}
			if len(got) != len(want) {
				t.Errorf("metrics %v, want exactly %v", got, want)
			}
			// The quota counts the verified and globally suppressed
			// recipients, not the simulator or account-suppressed ones.
			if n, err := f.c.Sent(context.Background(), "acme", now.Add(-time.Minute)); err != nil || n != 4 {
				t.Errorf("Sent = %d, %v; want 4", n, err)
			}
			if other := sum(t, f.c, "other", now.Add(-time.Hour), now.Add(time.Hour)); len(other) != 0 {
				t.Errorf("another account has counts: %v", other)
			}
		})
	}
}

// TestReputationBuckets: Reputation returns counted traffic per
// 15-minute bucket; the complaint side only for ISPs that send feedback;
// a set's own traffic when asked for a set.
func TestReputationBuckets(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{})
			t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			f.send(t, "m1", "acme", t0.Add(time.Minute), "Marketing", "acme.example",
				event.SendRecipient{Address: "x@yahoo.com"}, event.SendRecipient{Address: "y@gmail.com"})
			f.send(t, "m2", "acme", t0.Add(20*time.Minute), "", "acme.example", event.SendRecipient{Address: "z@yahoo.com"})
			f.outcome(t, "m1", "acme", "x@yahoo.com", t0.Add(2*time.Minute), event.ComplaintDetail{})
			f.outcome(t, "m1", "acme", "y@gmail.com", t0.Add(3*time.Minute), event.ComplaintDetail{}) // Gmail sends no feedback
			f.outcome(t, "m2", "acme", "z@yahoo.com", t0.Add(21*time.Minute), hard("General"))

			got, err := f.c.Reputation(context.Background(), "acme", "", t0)
			if err != nil {
				t.Fatal(err)
			}
			want := []stats.RepBucket{
				{Start: t0, Sends: 2, FeedbackSends: 1, Complaints: 1},
				{Start: t0.Add(15 * time.Minute), Sends: 1, FeedbackSends: 1, HardBounces: 1},
			}
			if len(got) != len(want) {
				t.Fatalf("buckets %+v, want %+v", got, want)
			}
			for i := range want {
				if !got[i].Start.Equal(want[i].Start) || got[i].Sends != want[i].Sends || got[i].FeedbackSends != want[i].FeedbackSends ||
					got[i].Complaints != want[i].Complaints || got[i].HardBounces != want[i].HardBounces {
					t.Errorf("bucket %d = %+v, want %+v", i, got[i], want[i])
				}
			}
			set, err := f.c.Reputation(context.Background(), "acme", "Marketing", t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(set) != 1 || set[0].Sends != 2 || set[0].HardBounces != 0 {
				t.Errorf("set Marketing: %+v, want one bucket of 2 sends", set)
			}
		})
	}
}

// TestDimensionsFromMailObject: a message whose dimensions are no longer
// remembered (another node sent it, or it was evicted) is counted under
// the configuration set and identity its "mail" object names.
func TestDimensionsFromMailObject(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{CacheSize: 1})
			now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			f.send(t, "m1", "acme", now, "Marketing", "acme.example", event.SendRecipient{Address: "a@example.com"})
			f.send(t, "m2", "acme", now, "", "other.example", event.SendRecipient{Address: "b@example.com"}) // evicts m1
			f.outcome(t, "m1", "acme", "a@example.com", now, event.DeliveryDetail{})
			for _, c := range []struct {
				dim   stats.Dimension
				value string
			}{{stats.DimensionConfigurationSet, "Marketing"}, {stats.DimensionIdentity, "acme.example"}, {stats.DimensionISP, stats.Other}} {
				pts, err := f.c.Series(context.Background(), stats.Query{Account: "acme", Metric: stats.MetricDelivery,
					Dimensions: map[stats.Dimension]string{c.dim: c.value}, Start: now.Add(-time.Hour), End: now.Add(time.Hour), Step: 24 * time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if len(pts) != 1 || pts[0].Value != 1 {
					t.Errorf("%s=%s: %+v, want the delivery", c.dim, c.value, pts)
				}
			}
		})
	}
}

// TestSeriesAndStatistics: daily series with dimension filters, and SES's
// 15-minute GetSendStatistics points over two weeks (hard bounces only).
func TestSeriesAndStatistics(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{})
			day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
			f.send(t, "m1", "acme", day.Add(9*time.Hour), "S", "acme.example", event.SendRecipient{Address: "a@gmail.com"}, event.SendRecipient{Address: "b@example.com"})
			f.send(t, "m2", "acme", day.Add(33*time.Hour), "", "acme.example", event.SendRecipient{Address: "c@gmail.com"})
			f.outcome(t, "m1", "acme", "b@example.com", day.Add(9*time.Hour+time.Minute), event.BounceDetail{BounceType: "Transient"})
			f.outcome(t, "m2", "acme", "c@gmail.com", day.Add(33*time.Hour+time.Minute), hard("General"))
			f.send(t, "old", "acme", day.Add(-20*24*time.Hour), "", "acme.example", event.SendRecipient{Address: "z@gmail.com"})

			pts, err := f.c.Series(context.Background(), stats.Query{Account: "acme", Metric: stats.MetricSend,
				Dimensions: map[stats.Dimension]string{stats.DimensionISP: stats.Gmail}, Start: day, End: day.Add(72 * time.Hour), Step: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 2 || !pts[0].Start.Equal(day) || pts[0].Value != 1 || !pts[1].Start.Equal(day.Add(24*time.Hour)) || pts[1].Value != 1 {
				t.Errorf("daily Gmail sends: %+v", pts)
			}
			sp, err := f.c.SendStatistics(context.Background(), "acme", day.Add(48*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			want := []stats.SendDataPoint{
				{Timestamp: day.Add(9 * time.Hour), DeliveryAttempts: 2},
				{Timestamp: day.Add(33 * time.Hour), DeliveryAttempts: 1, Bounces: 1},
			}
			if len(sp) != len(want) {
				t.Fatalf("points %+v, want %+v", sp, want)
			}
			for i := range want {
				if sp[i] != want[i] {
					t.Errorf("point %d = %+v, want %+v", i, sp[i], want[i])
				}
			}
			if _, err := f.c.Series(context.Background(), stats.Query{Account: "acme", Metric: stats.MetricSend, Start: day, End: day, Step: time.Minute}); err == nil {
				t.Error("a step that is not a multiple of 15 minutes was accepted")
			}
		})
	}
}

// TestNodesAndPrune: two nodes write their own rows, read as one sum; old
// buckets are pruned one at a time.
func TestNodesAndPrune(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{Node: "n1"})
			log2 := event.NewLog(f.db)
			log2.Observe(stats.New(f.db, f.sp, stats.Config{Node: "n2"}))
			now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			f.send(t, "m1", "acme", now, "", "acme.example", event.SendRecipient{Address: "a@example.com"}, event.SendRecipient{Address: "b@example.com"})
			f.add(t, func(tx *sql.Tx) error {
				return log2.AddTx(tx, "m1", "acme", "a@example.com", now, event.DeliveryDetail{})
			})
			f.outcome(t, "m1", "acme", "b@example.com", now, event.DeliveryDetail{})
			f.send(t, "m0", "acme", now.Add(-30*24*time.Hour), "", "acme.example", event.SendRecipient{Address: "a@example.com"})
			if got := sum(t, f.c, "acme", now.Add(-time.Hour), now.Add(time.Hour)); got[stats.MetricDelivery] != 2 || got[stats.MetricSend] != 2 {
				t.Errorf("sums across nodes: %v", got)
			}
			var rows int
			if err := f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM send_counters WHERE metric = 'delivery'").Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != 2 {
				t.Errorf("%d delivery rows, want one per node", rows)
			}
			n, err := f.c.PruneBucket(context.Background(), now.Add(-24*time.Hour))
			if err != nil || n != 2 { // m0's send and counted_send
				t.Fatalf("PruneBucket = %d, %v; want 2 rows", n, err)
			}
			if n, err := f.c.PruneBucket(context.Background(), now.Add(-24*time.Hour)); err != nil || n != 0 {
				t.Fatalf("second PruneBucket = %d, %v; want 0", n, err)
			}
			if got := sum(t, f.c, "acme", now.Add(-40*24*time.Hour), now.Add(time.Hour)); got[stats.MetricSend] != 2 {
				t.Errorf("after pruning: %v", got)
			}
		})
	}
}

// TestSystemMailNotCounted: the outcomes of Petrel's own mail (feedback
// reports and notification emails to the tenant, which have no Send event)
// are not the tenant's sending: a bounce of one must not count towards the
// account's bounce rate.
func TestSystemMailNotCounted(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{})
			now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			f.add(t, func(tx *sql.Tx) error {
				return f.sp.PutTx(tx, &spool.Message{ID: "sys1", Account: "acme", Created: now, Mail: []byte(`{"sourceArn":"","tags":{"ses:operation":["` + sending.SystemOperation + `"]}}`), Body: []byte("x")})
			})
			f.outcome(t, "sys1", "acme", "ops@example.com", now, hard("General"))
			f.outcome(t, "sys1", "acme", "ops2@example.com", now, event.DeliveryDetail{})
			if got := sum(t, f.c, "acme", now.Add(-time.Hour), now.Add(time.Hour)); len(got) != 0 {
				t.Errorf("system mail counted: %v", got)
			}
		})
	}
}

// TestCountedInSendBucket: a late bounce counts towards reputation in the
// bucket of its message's acceptance (so a rate is the outcomes of the mail
// sent in its window, and a fresh start leaves out the late bounces of
// mail sent before it), while the plain count is in the bucket of the
// bounce.
func TestCountedInSendBucket(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, stats.Config{})
			sent := time.Date(2026, 11, 30, 9, 5, 0, 0, time.UTC)
			id := event.NewID(sent)
			f.send(t, id, "acme", sent, "", "acme.example", event.SendRecipient{Address: "a@example.com"})
			late := sent.Add(3 * time.Hour)
			f.outcome(t, id, "acme", "a@example.com", late, hard("General"))
			rep, err := f.c.Reputation(context.Background(), "acme", "", sent.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep) != 1 || !rep[0].Start.Equal(sent.Add(-5*time.Minute)) || rep[0].Sends != 1 || rep[0].HardBounces != 1 {
				t.Errorf("reputation buckets %+v, want the send and its bounce in 09:00", rep)
			}
			pts, err := f.c.Series(context.Background(), stats.Query{Account: "acme", Metric: stats.MetricPermanentBounce,
				Start: sent.Add(-time.Hour), End: late.Add(time.Hour), Step: stats.Bucket})
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 1 || !pts[0].Start.Equal(late.Add(-5*time.Minute)) {
				t.Errorf("permanent bounces %+v, want one in the bounce's bucket (12:00)", pts)
			}
		})
	}
}

// TestVerifiedFromSendFacts: whether a recipient is a verified identity is
// decided once, at acceptance (the Send facts), and no store is asked
// while the outcome's transaction is open: an identity verified after the
// send does not change how its bounce counts.
func TestVerifiedFromSendFacts(t *testing.T) {
	f := newFixture(t, "sqlite", stats.Config{})
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	f.send(t, "m1", "acme", now, "", "acme.example",
		event.SendRecipient{Address: "me@mine.example", Excluded: event.ExcludedVerified}, event.SendRecipient{Address: "b@later.example"})
	if _, err := f.ids.Create(context.Background(), "acme", "later.example", true); err != nil {
		t.Fatal(err)
	}
	f.outcome(t, "m1", "acme", "me@mine.example", now, hard("General"))
	f.outcome(t, "m1", "acme", "b@later.example", now, hard("General"))
	got := sum(t, f.c, "acme", now.Add(-time.Hour), now.Add(time.Hour))
	if got[stats.MetricCountedBounce] != 1 || got[stats.MetricPermanentBounce] != 2 {
		t.Errorf("counts %v: want b@'s bounce counted (it was not verified when sent), me@'s not", got)
	}
}

func TestISPOf(t *testing.T) {
	for domain, want := range map[string]string{
		"gmail.com": stats.Gmail, "GMail.com.": stats.Gmail, "yahoo.co.jp": stats.Yahoo, "hotmail.com": stats.Hotmail,
		"outlook.com": stats.Hotmail, "aol.com": stats.AOL, "icloud.com": stats.Apple, "comcast.net": stats.Comcast,
		"web.de": stats.GMX, "example.com": stats.Other, "mail.gmail.com": stats.Other, "": stats.Other,
	} {
		if got := stats.ISPOf(domain); got != want {
			t.Errorf("ISPOf(%q) = %q, want %q", domain, got, want)
		}
	}
	if stats.SendsFeedback(stats.Gmail) || stats.SendsFeedback(stats.Apple) || !stats.SendsFeedback(stats.Yahoo) || !stats.SendsFeedback(stats.Other) {
		t.Error("SendsFeedback: Gmail and Apple send none, Yahoo and Other may")
	}
}
