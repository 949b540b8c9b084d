package reputation_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/logtest"
	"github.com/petrelmail/petrel/internal/reputation"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

var backends = []string{"sqlite", "postgres"}

// t0 is the tests' start, on a bucket boundary.
var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

type fixture struct {
	db    *store.DB
	log   *event.Log
	sets  *configset.Service
	rep   *reputation.Service
	now   time.Time
	mail  *mailer
	logs  *logtest.Buffer
	msgID int
}

// mailer records the notification emails.
type mailer struct {
	mu   sync.Mutex
	sent []string // "rcpt\nmessage"
}

func (m *mailer) SendSystemMail(_ context.Context, account, mailFrom, rcpt string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mailFrom != "" {
		return fmt.Errorf("notification with reverse path %q", mailFrom)
	}
	m.sent = append(m.sent, account+"\n"+rcpt+"\n"+string(msg))
	return nil
}

func (m *mailer) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

func newFixture(t *testing.T, backend string, tweak func(*reputation.Config)) *fixture {
	t.Helper()
	return newFixtureTB(t, backend, tweak)
}

func newBenchFixture(b *testing.B, backend string) *fixture { return newFixtureTB(b, backend, nil) }

func newFixtureTB(t testing.TB, backend string, tweak func(*reputation.Config)) *fixture {
	t.Helper()
	db := store.OpenTest(t, backend)
	f := &fixture{db: db, log: event.NewLog(db), sets: configset.New(db), now: t0, mail: &mailer{}, logs: &logtest.Buffer{}}
	counters := stats.New(db, spool.New(db), stats.Config{Node: "n1"})
	f.log.Observe(counters)
	cfg := reputation.Config{Now: func() time.Time { return f.now }, From: "postmaster@petrel.test"}
	if tweak != nil {
		tweak(&cfg)
	}
	f.rep = reputation.New(db, counters, f.sets, cfg)
	f.rep.Mailer = f.mail
	f.rep.Contacts = func(_ context.Context, account string) ([]string, error) {
		return []string{"ops@" + account + ".test"}, nil
	}
	f.rep.Log = slog.New(slog.NewTextHandler(f.logs, nil))
	f.log.Observe(f.rep)
	return f
}

// traffic records, at the fixture's clock, one message of account (sent
// with set) to sends recipients at domain, of which the first bounces
// bounce hard and the next complaints complain.
func (f *fixture) traffic(t *testing.T, account, set string, sends, bounces, complaints int, domain string) {
	t.Helper()
	f.msgID++
	id := fmt.Sprintf("msg-%d", f.msgID)
	d := event.SendDetail{ConfigurationSet: set}
	for i := range sends {
		d.Recipients = append(d.Recipients, event.SendRecipient{Address: fmt.Sprintf("r%d@%s", i, domain)})
	}
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		if err := f.log.AddTx(tx, id, account, "", f.now, d); err != nil {
			return err
		}
		for i := range bounces {
			r := d.Recipients[i].Address
			if err := f.log.AddTx(tx, id, account, r, f.now, event.BounceDetail{BounceType: bounce.Permanent, BounceSubType: "General",
				BouncedRecipients: []event.BouncedRecipient{{EmailAddress: r}}}); err != nil {
				return err
			}
		}
		for i := bounces; i < bounces+complaints; i++ {
			r := d.Recipients[i].Address
			if err := f.log.AddTx(tx, id, account, r, f.now, event.ComplaintDetail{ComplainedRecipients: []event.Recipient{{EmailAddress: r}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) evaluate(t *testing.T, account string) {
	t.Helper()
	if err := f.rep.Evaluate(context.Background(), account); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t *testing.T, account, set string) reputation.Report {
	t.Helper()
	r, err := f.rep.Get(context.Background(), account, set)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) paused(t *testing.T, account, set string) bool {
	t.Helper()
	p, err := f.rep.Paused(context.Background(), account, set)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// statuses returns account's status changes, oldest first, as "FROM>TO".
func (f *fixture) statuses(t *testing.T, account, set string) []string {
	t.Helper()
	h, err := f.rep.History(context.Background(), account, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Kind == "status" && h[i].ConfigurationSet == set {
			out = append(out, string(h[i].From)+">"+string(h[i].To))
		}
	}
	return out
}

// TestThresholds: each threshold crossing, at SES's default thresholds
// and the minimum volume of 500 counted sends.
func TestThresholds(t *testing.T) {
	cases := []struct {
		name                      string
		sends, bounces, complaint int
		domain                    string
		want                      reputation.Status
		enforced                  bool
		bounceRate, complaintRate float64
	}{
		{"below review", 1000, 49, 0, "example.com", reputation.Healthy, true, 0.049, 0},
		{"bounce review", 1000, 50, 0, "example.com", reputation.Probation, true, 0.05, 0},
		{"bounce between", 1000, 99, 0, "example.com", reputation.Probation, true, 0.099, 0},
		{"bounce pause", 1000, 100, 0, "example.com", reputation.Shutdown, true, 0.10, 0},
		{"complaint review", 1000, 0, 1, "yahoo.com", reputation.Probation, true, 0, 0.001},
		{"complaint pause", 1000, 0, 5, "yahoo.com", reputation.Shutdown, true, 0, 0.005},
		// Complaints count only over mail to ISPs that report them (§8.2).
		{"complaints at an ISP without feedback", 1000, 0, 10, "gmail.com", reputation.Healthy, true, 0, 0},
		{"below the minimum volume", 499, 200, 0, "example.com", reputation.Healthy, false, 200.0 / 499, 0},
		{"minimum volume reached", 500, 200, 0, "example.com", reputation.Shutdown, true, 0.4, 0},
	}
	for _, backend := range backends {
		for _, c := range cases {
			t.Run(backend+"/"+c.name, func(t *testing.T) {
				f := newFixture(t, backend, nil)
				f.traffic(t, "acme", "", c.sends, c.bounces, c.complaint, c.domain)
				f.now = t0.Add(10 * time.Minute)
				f.evaluate(t, "acme")
				r := f.get(t, "acme", "")
				if r.Status != c.want || r.Enforced != c.enforced {
					t.Fatalf("status %s enforced %v, want %s %v (figures %+v)", r.Status, r.Enforced, c.want, c.enforced, r.Figures)
				}
				if r.Sends != int64(c.sends) || abs(r.BounceRate()-c.bounceRate) > 1e-9 || abs(r.ComplaintRate()-c.complaintRate) > 1e-9 {
					t.Fatalf("figures %+v: rates %v %v, want %v %v", r.Figures, r.BounceRate(), r.ComplaintRate(), c.bounceRate, c.complaintRate)
				}
				if got := f.paused(t, "acme", ""); got != (c.want == reputation.Shutdown) {
					t.Fatalf("Paused = %v with status %s", got, c.want)
				}
				var want []string
				if c.want != reputation.Healthy {
					want = []string{"HEALTHY>" + string(c.want)}
				}
				if got := f.statuses(t, "acme", ""); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("history %v, want %v", got, want)
				}
				if c.want == reputation.Healthy {
					if m := f.mail.messages(); len(m) != 0 {
						t.Fatalf("notifications without a change: %q", m)
					}
					return
				}
				m := f.mail.messages()
				if len(m) != 1 || !strings.HasPrefix(m[0], "acme\nops@acme.test\n") || !strings.Contains(m[0], "Status: HEALTHY -> "+string(c.want)) {
					t.Fatalf("notifications %q", m)
				}
				if l := f.logs.String(); !strings.Contains(l, "level=WARN msg=\"reputation status changed\" account=acme configuration_set=\"\" from=HEALTHY to="+string(c.want)) {
					t.Fatalf("log:\n%s", l)
				}
			})
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestRecovery: PROBATION recovers by itself once the window has moved
// past the bad traffic; SHUTDOWN does not.
func TestRecovery(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, nil)
			f.traffic(t, "acme", "", 1000, 60, 0, "example.com") // 6 %: review
			f.traffic(t, "bad", "", 1000, 150, 0, "example.com") // 15 %: pause
			f.evaluate(t, "acme")
			f.evaluate(t, "bad")
			f.now = t0.Add(time.Hour)
			f.evaluate(t, "acme")
			if s := f.get(t, "acme", "").Status; s != reputation.Probation {
				t.Fatalf("after an hour: %s", s)
			}
			// A day on without new traffic: the window reaches back to the
			// minimum volume, which is still the bad traffic.
			f.now = t0.Add(25 * time.Hour)
			f.evaluate(t, "acme")
			if r := f.get(t, "acme", ""); r.Status != reputation.Probation || !r.WindowStart.Equal(t0) {
				t.Fatalf("a day later, no traffic: %s over %v", r.Status, r.WindowStart)
			}
			// 600 clean sends: the last 24 h hold the minimum volume.
			f.traffic(t, "acme", "", 600, 0, 0, "example.com")
			f.traffic(t, "bad", "", 600, 0, 0, "example.com")
			f.evaluate(t, "acme")
			f.evaluate(t, "bad")
			r := f.get(t, "acme", "")
			if r.Status != reputation.Healthy || r.Sends != 600 || r.HardBounces != 0 {
				t.Fatalf("after clean traffic: %s %+v", r.Status, r.Figures)
			}
			if got := f.statuses(t, "acme", ""); fmt.Sprint(got) != "[HEALTHY>PROBATION PROBATION>HEALTHY]" {
				t.Fatalf("history %v", got)
			}
			if r := f.get(t, "bad", ""); r.Status != reputation.Shutdown || r.BounceRate() != 0 || !f.paused(t, "bad", "") {
				t.Fatalf("SHUTDOWN recovered by itself: %s %+v", r.Status, r.Figures)
			}
		})
	}
}

// TestWindow: the window is at least MinWindow long even when less holds
// the minimum volume, reaches back as far as it takes to hold it, never
// beyond MaxWindow; below the minimum volume nothing is enforced but
// PROBATION recovers.
func TestWindow(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, nil)
			f.traffic(t, "acme", "", 1000, 0, 0, "example.com")
			f.now = t0.Add(2 * time.Hour)
			f.traffic(t, "acme", "", 600, 90, 0, "example.com") // 15 % alone, 5.6 % over the day
			f.evaluate(t, "acme")
			r := f.get(t, "acme", "")
			if r.Status != reputation.Probation || r.Sends != 1600 || r.HardBounces != 90 {
				t.Fatalf("MinWindow: %s %+v", r.Status, r.Figures)
			}
			// Three days on, 400 sends: the window reaches back to t0+2h (9 %).
			f.now = t0.Add(72 * time.Hour)
			f.traffic(t, "acme", "", 400, 0, 0, "example.com")
			f.evaluate(t, "acme")
			r = f.get(t, "acme", "")
			if !r.WindowStart.Equal(t0.Add(2*time.Hour)) || r.Sends != 1000 || r.Status != reputation.Probation {
				t.Fatalf("reaching back for volume: %s %+v", r.Status, r.Figures)
			}
			// Fifteen days on: MaxWindow leaves only 400 sends, below the
			// minimum volume: reported, not enforced, and PROBATION recovers.
			f.now = t0.Add(15 * 24 * time.Hour)
			f.evaluate(t, "acme")
			r = f.get(t, "acme", "")
			if r.Enforced || r.Sends != 400 || r.Status != reputation.Healthy {
				t.Fatalf("MaxWindow: %s %+v", r.Status, r.Figures)
			}
			// Bad traffic below the minimum volume changes nothing.
			f.traffic(t, "acme", "", 99, 99, 0, "example.com")
			f.evaluate(t, "acme")
			if r := f.get(t, "acme", ""); r.Enforced || r.Status != reputation.Healthy || r.Sends != 499 || r.HardBounces != 99 {
				t.Fatalf("below volume: %s %+v", r.Status, r.Figures)
			}
		})
	}
}

// TestResume: only the operator lifts SHUTDOWN, and the resumed account
// starts afresh: only traffic from the next bucket boundary on counts.
func TestResume(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, nil)
			ctx := context.Background()
			f.traffic(t, "acme", "", 1000, 150, 0, "example.com")
			f.evaluate(t, "acme")
			if !f.paused(t, "acme", "") {
				t.Fatal("not paused at 15 %")
			}
			f.now = t0.Add(10 * time.Minute)
			from, err := f.rep.Resume(ctx, "acme", "")
			if err != nil || from != reputation.Shutdown {
				t.Fatalf("Resume = %s, %v", from, err)
			}
			if f.paused(t, "acme", "") {
				t.Fatal("paused after resume")
			}
			r := f.get(t, "acme", "")
			if r.Status != reputation.Healthy || !r.FreshStart.Equal(f.now) {
				t.Fatalf("after resume: %+v", r)
			}
			// More of the same bucket: before the fresh start's boundary.
			f.traffic(t, "acme", "", 1000, 500, 0, "example.com")
			f.now = t0.Add(20 * time.Minute)
			f.traffic(t, "acme", "", 600, 6, 0, "example.com")
			f.evaluate(t, "acme")
			r = f.get(t, "acme", "")
			if r.Status != reputation.Healthy || r.Sends != 600 || r.HardBounces != 6 || !r.WindowStart.Equal(t0.Add(15*time.Minute)) {
				t.Fatalf("after the fresh start: %s %+v", r.Status, r.Figures)
			}
			if got := f.statuses(t, "acme", ""); fmt.Sprint(got) != "[HEALTHY>SHUTDOWN SHUTDOWN>HEALTHY]" {
				t.Fatalf("history %v", got)
			}
			if m := f.mail.messages(); len(m) != 2 || !strings.Contains(m[1], "Subject: Sending resumed for account acme") {
				t.Fatalf("notifications %q", m)
			}
			if _, err := f.rep.Resume(ctx, "acme", "nosuchset"); err == nil {
				t.Fatal("resumed a set that does not exist")
			}
		})
	}
}

// TestConfigurationSet: a set with reputation metrics enabled is judged on
// its own traffic and paused alone; a set without them is not judged.
func TestConfigurationSet(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, nil)
			ctx := context.Background()
			for _, cs := range []configset.ConfigurationSet{
				{Account: "acme", Name: "marketing", SendingEnabled: true, Reputation: configset.ReputationOptions{ReputationMetricsEnabled: true}},
				{Account: "acme", Name: "plain", SendingEnabled: true},
			} {
				if err := f.sets.Create(ctx, cs); err != nil {
					t.Fatal(err)
				}
			}
			f.traffic(t, "acme", "", 10000, 0, 0, "example.com")
			f.traffic(t, "acme", "marketing", 1000, 150, 0, "example.com")
			f.traffic(t, "acme", "plain", 1000, 150, 0, "example.com")
			f.evaluate(t, "acme")
			if r := f.get(t, "acme", ""); r.Status != reputation.Healthy || r.Sends != 12000 || r.HardBounces != 300 {
				t.Fatalf("account: %s %+v", r.Status, r.Figures)
			}
			if r := f.get(t, "acme", "marketing"); r.Status != reputation.Shutdown || r.Sends != 1000 {
				t.Fatalf("marketing: %s %+v", r.Status, r.Figures)
			}
			if r := f.get(t, "acme", "plain"); r.Evaluations || r.Status != reputation.Healthy {
				t.Fatalf("plain (metrics disabled) was judged: %+v", r)
			}
			if !f.paused(t, "acme", "marketing") || f.paused(t, "acme", "plain") || f.paused(t, "acme", "") {
				t.Fatal("wrong pauses")
			}
			if m := f.mail.messages(); len(m) != 1 || !strings.Contains(m[0], "Subject: Sending paused for configuration set marketing of account acme") {
				t.Fatalf("notifications %q", m)
			}
			if _, err := f.rep.Resume(ctx, "acme", "marketing"); err != nil {
				t.Fatal(err)
			}
			if f.paused(t, "acme", "marketing") {
				t.Fatal("set paused after resume")
			}
			fresh, err := f.rep.FreshStart(ctx, "acme", "marketing")
			if err != nil || !fresh.Equal(t0) {
				t.Fatalf("FreshStart = %v, %v", fresh, err)
			}
			if got := f.statuses(t, "acme", "marketing"); fmt.Sprint(got) != "[HEALTHY>SHUTDOWN SHUTDOWN>HEALTHY]" {
				t.Fatalf("history %v", got)
			}
		})
	}
}

// TestPausedCache: another process's resume is seen within CacheTTL; this
// node's own change at once.
func TestPausedCache(t *testing.T) {
	f := newFixture(t, "sqlite", nil)
	ctx := context.Background()
	clock := time.Now()
	reputation.SetCacheClock(f.rep, func() time.Time { return clock })
	if f.paused(t, "acme", "") {
		t.Fatal("paused before any traffic")
	}
	f.traffic(t, "acme", "", 1000, 150, 0, "example.com")
	f.evaluate(t, "acme")
	if !f.paused(t, "acme", "") {
		t.Fatal("this node's own change not seen at once")
	}
	// The CLI: another Service over the same store.
	other := reputation.New(f.db, stats.New(f.db, spool.New(f.db), stats.Config{Node: "n2"}), f.sets, reputation.Config{Now: func() time.Time { return f.now }})
	other.Log = f.rep.Log
	if _, err := other.Resume(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(reputation.CacheTTL - time.Millisecond)
	if !f.paused(t, "acme", "") {
		t.Fatal("cached answer not used")
	}
	clock = clock.Add(time.Millisecond)
	if f.paused(t, "acme", "") {
		t.Fatal("the other process's resume not seen after CacheTTL")
	}
}

// TestRun: events noted by the observer are evaluated by Run, without a
// call to Evaluate.
func TestRun(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			// The second evaluation after a note, one tick later, sees a
			// transaction that was still committing at the first.
			f := newFixture(t, backend, func(c *reputation.Config) { c.Tick = 100 * time.Millisecond })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { f.rep.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			f.traffic(t, "acme", "", 1000, 150, 0, "example.com")
			deadline := time.Now().Add(10 * time.Second)
			for !f.paused(t, "acme", "") {
				if time.Now().After(deadline) {
					t.Fatal("Run did not pause the account")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// quotas is the account quotas warm-up reads and sets (package account's
// until it is wired by the daemon).
type quotas struct {
	q   map[string]reputation.Quota
	set int
}

func (q *quotas) Quota(_ context.Context, account string) (reputation.Quota, error) {
	return q.q[account], nil
}

func (q *quotas) SetQuota(_ context.Context, account string, daily int64, rate float64) error {
	v := q.q[account]
	v.Max24HourSend, v.MaxSendRate = daily, rate
	q.q[account] = v
	q.set++
	return nil
}

// TestWarmUp: a healthy production account sending near its quota grows
// it by the factor once per interval, up to the caps; others do not.
func TestWarmUp(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, func(c *reputation.Config) {
				c.Growth = reputation.Growth{Factor: 1.5, Threshold: 0.8, Interval: 24 * time.Hour, Max24HourSend: 3000, MaxSendRate: 30}
			})
			q := &quotas{q: map[string]reputation.Quota{
				"acme":      {Production: true, Max24HourSend: 1000, MaxSendRate: 10, SentLast24Hours: 800},
				"quiet":     {Production: true, Max24HourSend: 1000, MaxSendRate: 10, SentLast24Hours: 799},
				"sandbox":   {Production: false, Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 200},
				"unlimited": {Production: true, Max24HourSend: -1, MaxSendRate: -1, SentLast24Hours: 100000},
				"review":    {Production: true, Max24HourSend: 1000, MaxSendRate: 10, SentLast24Hours: 1000},
			}}
			f.rep.Quotas = q
			f.traffic(t, "review", "", 1000, 60, 0, "example.com")
			step := func(at time.Duration, sent int64) reputation.Quota {
				t.Helper()
				f.now = t0.Add(at)
				v := q.q["acme"]
				v.SentLast24Hours = sent
				q.q["acme"] = v
				for a := range q.q {
					f.evaluate(t, a)
				}
				return q.q["acme"]
			}
			if v := step(0, 800); v.Max24HourSend != 1500 || v.MaxSendRate != 15 {
				t.Fatalf("first growth: %+v", v)
			}
			if v := step(23*time.Hour, 1500); v.Max24HourSend != 1500 {
				t.Fatalf("grown twice within the interval: %+v", v)
			}
			if v := step(24*time.Hour, 1200); v.Max24HourSend != 2250 || v.MaxSendRate != 22.5 {
				t.Fatalf("second growth: %+v", v)
			}
			if v := step(48*time.Hour, 2000); v.Max24HourSend != 3000 || v.MaxSendRate != 30 {
				t.Fatalf("capped growth: %+v", v)
			}
			if v := step(72*time.Hour, 3000); v.Max24HourSend != 3000 || v.MaxSendRate != 30 {
				t.Fatalf("above the caps: %+v", v)
			}
			if q.set != 3 {
				t.Fatalf("SetQuota called %d times, want 3 (acme only)", q.set)
			}
			h, err := f.rep.History(context.Background(), "acme", 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range h {
				got = append(got, fmt.Sprintf("%s %d>%d %g>%g", c.Cause, c.OldMax24HourSend, c.NewMax24HourSend, c.OldMaxSendRate, c.NewMaxSendRate))
			}
			if want := "[warm-up 2250>3000 22.5>30 warm-up 1500>2250 15>22.5 warm-up 1000>1500 10>15]"; fmt.Sprint(got) != want {
				t.Fatalf("history %v, want %s", got, want)
			}
			if s := f.get(t, "review", "").Status; s != reputation.Probation {
				t.Fatalf("review account: %s", s)
			}
		})
	}
}

// TestWindowReread: an evaluation reads again only the last hour's
// buckets; traffic counted in an older bucket after the last whole read
// (a late event, a node whose clock is behind) is seen at the next whole
// read, RereadAll later.
func TestWindowReread(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend, nil)
			f.now = t0.Add(2 * time.Hour)
			f.traffic(t, "acme", "", 1000, 0, 0, "example.com")
			f.evaluate(t, "acme")
			f.now = t0
			f.traffic(t, "acme", "", 1000, 150, 0, "example.com") // counted two hours back
			f.now = t0.Add(2*time.Hour + reputation.RereadAll - time.Second)
			f.traffic(t, "acme", "", 10, 0, 0, "example.com") // recent: read again
			f.evaluate(t, "acme")
			if r := f.get(t, "acme", ""); r.Sends != 1010 || r.Status != reputation.Healthy {
				t.Fatalf("before the whole read: %s %+v", r.Status, r.Figures)
			}
			f.now = f.now.Add(time.Second)
			f.evaluate(t, "acme")
			if r := f.get(t, "acme", ""); r.Sends != 2010 || r.HardBounces != 150 || r.Status != reputation.Probation {
				t.Fatalf("after the whole read: %s %+v", r.Status, r.Figures)
			}
		})
	}
}
