// Package reputation watches each account's bounce and complaint rates, and
// each configuration set's when its ReputationMetricsEnabled is true, and
// enforces SES's thresholds (../shared/spec/ses.md §8): HEALTHY →
// PROBATION at the review threshold → SHUTDOWN, an automatic sending
// pause, at the pause threshold. It also grows the quota of healthy
// accounts that send near it (warm-up). docs/reputation.md is the
// operator's account of it.
//
// Steps:
//
//  1. Service observes every event (event.Observer) and notes, in memory,
//     the accounts with new counted sends, hard bounces or complaints, at
//     the end of the event's transaction: no SQL per event;
//  2. Run evaluates each noted account at most once per Tick (1 s), once
//     more at the next tick (an event noted in a transaction still
//     committing is seen then), and every Sweep (1 min) every account or
//     set that is not HEALTHY, so that recovery comes as time passes;
//  3. an evaluation (Evaluate) reads the counters of what counts
//     (stats.Counters.Reputation, §8.1–8.2) and takes the rates over the
//     window rule (Window): the most recent 15-minute buckets holding at
//     least MinVolume counted sends, at least MinWindow long, never longer
//     than MaxWindow nor reaching before the last fresh start. A window
//     below MinVolume reports its rates but enforces nothing, except that
//     PROBATION recovers. Only the last RereadRecent (1 h) of buckets is
//     read again at each evaluation, the whole window every RereadAll
//     (10 min): older buckets do not change;
//  4. a status change is written with a history row in one transaction
//     (compare-and-set, so that several nodes record it once), logged at
//     Warn, mailed to the account's contact addresses, and the pause cache
//     of this node is dropped at once;
//  5. the accept path asks Paused (cached for CacheTTL); only the operator
//     lifts a SHUTDOWN (Resume), which gives a fresh start;
//  6. a HEALTHY account with production access that used at least
//     Growth.Threshold of its finite daily quota in the last 24 hours gets
//     both limits multiplied by Growth.Factor, at most once per
//     Growth.Interval, never above the operator's caps.
package reputation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
)

// Status is an SES EnforcementStatus.
type Status string

// The statuses (SES GetAccount EnforcementStatus).
const (
	Healthy   Status = "HEALTHY"
	Probation Status = "PROBATION" // a rate reached its review threshold
	Shutdown  Status = "SHUTDOWN"  // a rate reached its pause threshold: sending is paused until the operator resumes
)

// Thresholds are the rates, as fractions (0.05 is 5 %), at which a status
// changes; a rate equal to a threshold has reached it.
type Thresholds struct {
	BounceReview    float64 // SES: 5 %
	BouncePause     float64 // SES: 10 %
	ComplaintReview float64 // SES: 0.1 %
	ComplaintPause  float64 // SES: 0.5 %
}

// DefaultThresholds are SES's (../shared/spec/ses.md §8).
var DefaultThresholds = Thresholds{BounceReview: 0.05, BouncePause: 0.10, ComplaintReview: 0.001, ComplaintPause: 0.005}

// Growth is the warm-up schedule of production quotas.
type Growth struct {
	Factor    float64       // each growth multiplies both limits by it; ≤ 1: no growth
	Threshold float64       // the fraction of Max24HourSend used in the last 24 h that earns a growth (0.8)
	Interval  time.Duration // the least time between two growths of an account (24 h)
	// Max24HourSend and MaxSendRate cap what growth gives (a quota the
	// operator set above them is left as it is); ≤ 0: no cap.
	Max24HourSend int64
	MaxSendRate   float64
}

// Config configures a Service.
type Config struct {
	MinVolume int64         // counted sends a window needs before its rates are enforced (500)
	MinWindow time.Duration // the shortest window (24 h)
	MaxWindow time.Duration // the longest window (14 days)
	Thresholds
	Growth Growth
	// Tick is how often noted accounts are evaluated (1 s when 0); Sweep
	// how often the statuses that are not HEALTHY are (1 min when 0).
	Tick, Sweep time.Duration
	// Now is the clock of evaluations and history (time.Now when nil).
	Now func() time.Time
	// From is the From address of the notification emails ("" sends none).
	From string
}

// Defaults of Config.
const (
	DefaultMinVolume = 500
	DefaultMinWindow = 24 * time.Hour
	DefaultMaxWindow = 14 * 24 * time.Hour
)

// CacheTTL is how old Paused's answer may be; a change made on this node
// is seen at once.
const CacheTTL = 5 * time.Second

// Quotas reads and sets an account's sending quota (package account and
// quota; wired by the daemon) for warm-up.
type Quotas interface {
	// Quota returns account's production access, limits (-1: unlimited)
	// and the recipients it sent in the last 24 hours.
	Quota(ctx context.Context, account string) (Quota, error)
	// SetQuota sets account's limits.
	SetQuota(ctx context.Context, account string, max24HourSend int64, maxSendRate float64) error
}

// Quota is what warm-up reads of an account.
type Quota struct {
	Production      bool
	Max24HourSend   int64   // recipients per rolling 24 h; -1: unlimited
	MaxSendRate     float64 // recipients per second; -1: unlimited
	SentLast24Hours int64
}

// Mailer sends Petrel's own mail (sending.Sender.SendSystemMail).
type Mailer interface {
	SendSystemMail(ctx context.Context, account, mailFrom, rcpt string, msg []byte) error
}

// Service evaluates and enforces reputation.
type Service struct {
	db       *store.DB
	counters *stats.Counters
	sets     *configset.Service
	cfg      Config

	// Quotas, when set, lets warm-up grow quotas; Contacts returns the
	// addresses an account's notifications go to and Mailer sends them;
	// Log gets status changes (Warn) and errors. Wired by the daemon; nil:
	// no growth, no emails, slog.Default().
	Quotas   Quotas
	Contacts func(ctx context.Context, account string) ([]string, error)
	Mailer   Mailer
	Log      *slog.Logger

	mu      sync.Mutex
	pending map[string]int        // account → evaluations still due (2 when noted)
	paused  map[scope]pausedEntry // Paused's cache
	windows map[scope]*window     // the buckets last read, for the next evaluation
	cacheAt func() time.Time      // the cache's clock (time.Now)
}

type scope struct{ account, set string }

type pausedEntry struct {
	paused bool
	at     time.Time
}

// New returns a Service over db reading counters; sets tells which
// configuration sets have reputation metrics enabled.
func New(db *store.DB, counters *stats.Counters, sets *configset.Service, cfg Config) *Service {
	if cfg.MinVolume <= 0 {
		cfg.MinVolume = DefaultMinVolume
	}
	if cfg.MinWindow <= 0 {
		cfg.MinWindow = DefaultMinWindow
	}
	if cfg.MaxWindow < cfg.MinWindow {
		cfg.MaxWindow = max(DefaultMaxWindow, cfg.MinWindow)
	}
	if cfg.Thresholds == (Thresholds{}) {
		cfg.Thresholds = DefaultThresholds
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: db, counters: counters, sets: sets, cfg: cfg,
		pending: map[string]int{}, paused: map[scope]pausedEntry{}, windows: map[scope]*window{}, cacheAt: time.Now}
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Config returns the configuration in force (defaults applied).
func (s *Service) Config() Config { return s.cfg }

var _ event.Observer = (*Service)(nil)

// ObserveTx notes e's account when e changes what counts towards its
// reputation: a Send with a counted recipient, a hard bounce, a
// complaint (event.Observer). The account is noted at the end of tx, just
// before its commit (store.DB.Deferred; at once for a transaction the
// store did not begin), so that the evaluations that follow see all of
// its events; a transaction that rolls back notes nothing. It costs an
// append, and a map write per transaction.
func (s *Service) ObserveTx(tx *sql.Tx, e event.Event) error {
	counts := false
	switch v := e.Value.(type) {
	case event.SendDetail:
		for _, r := range v.Recipients {
			counts = counts || r.Excluded == ""
		}
	case event.BounceDetail:
		counts = v.BounceType == bounce.Permanent && v.BounceSubType != bounce.OnAccountSuppressionList
	case event.ComplaintDetail:
		counts = true
	}
	if !counts {
		return nil
	}
	f, ok := s.db.Deferred(tx, s, func() store.Flusher { return &notes{s: s} })
	if !ok {
		s.note(e.Account)
		return nil
	}
	n := f.(*notes)
	if !slices.Contains(n.accounts, e.Account) {
		n.accounts = append(n.accounts, e.Account)
	}
	return nil
}

// notes are the accounts a transaction's events noted, noted when it ends.
type notes struct {
	s        *Service
	accounts []string
}

// Flush notes the accounts (store.Flusher).
func (n *notes) Flush(*sql.Tx) error {
	for _, a := range n.accounts {
		n.s.note(a)
	}
	return nil
}

func (s *Service) note(account string) {
	s.mu.Lock()
	s.pending[account] = 2
	s.mu.Unlock()
}

// Run evaluates the noted accounts every Tick and sweeps the statuses that
// are not HEALTHY every Sweep, until ctx ends. An evaluation's error is
// logged and the account tried again at the next tick.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	sweep := time.NewTicker(s.cfg.Sweep)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.evaluatePending(ctx)
		case <-sweep.C:
			s.dropWindows(s.cfg.Now())
			accounts, err := s.unhealthy(ctx)
			if err != nil {
				s.log().Error("reputation sweep", "err", err)
				continue
			}
			s.mu.Lock()
			for _, a := range accounts {
				s.pending[a] = max(s.pending[a], 1)
			}
			s.mu.Unlock()
		}
	}
}

// evaluatePending evaluates each pending account once.
func (s *Service) evaluatePending(ctx context.Context) {
	s.mu.Lock()
	due := make([]string, 0, len(s.pending))
	for a, n := range s.pending {
		due = append(due, a)
		if n <= 1 {
			delete(s.pending, a)
		} else {
			s.pending[a] = n - 1
		}
	}
	s.mu.Unlock()
	for _, a := range due {
		if ctx.Err() != nil {
			return
		}
		if err := s.Evaluate(ctx, a); err != nil {
			s.log().Error("evaluating reputation", "account", a, "err", err)
			s.mu.Lock()
			s.pending[a] = max(s.pending[a], 1)
			s.mu.Unlock()
		}
	}
}

// unhealthy returns the accounts with a status (of their own or of a
// set) that is not HEALTHY.
func (s *Service) unhealthy(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT DISTINCT account FROM reputation_status WHERE status <> ?"), string(Healthy))
	if err != nil {
		return nil, fmt.Errorf("reading statuses: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Figures are what an evaluation counted in its window
// (../shared/spec/ses.md §8.1–8.2).
type Figures struct {
	WindowStart   time.Time // the first bucket counted; the window ends at the evaluation
	Sends         int64     // counted sends
	HardBounces   int64
	FeedbackSends int64 // counted sends to ISPs that report complaints
	Complaints    int64
	Enforced      bool // the window held MinVolume counted sends
}

// BounceRate is HardBounces/Sends (0 without sends).
func (f Figures) BounceRate() float64 { return ratio(f.HardBounces, f.Sends) }

// ComplaintRate is Complaints/FeedbackSends (0 without such sends).
func (f Figures) ComplaintRate() float64 { return ratio(f.Complaints, f.FeedbackSends) }

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Window applies the window rule to buckets (oldest first, as
// stats.Counters.Reputation returns them, none before since): going back
// from the newest bucket until MinVolume counted sends are held, but over
// at least MinWindow before now and never before since (the later of
// MaxWindow before now and the fresh start). When even that holds fewer
// than MinVolume sends, the whole range from since is counted and not
// enforced.
func (s *Service) Window(buckets []stats.RepBucket, since, now time.Time) Figures {
	start := time.UnixMilli(stats.BucketOf(now.Add(-s.cfg.MinWindow)))
	if start.Before(since) {
		start = since
	}
	var acc int64
	reached := false
	for i := len(buckets) - 1; i >= 0; i-- {
		acc += buckets[i].Sends
		if acc >= s.cfg.MinVolume {
			reached = true
			if buckets[i].Start.Before(start) {
				start = buckets[i].Start
			}
			break
		}
	}
	if !reached {
		start = since
	}
	f := Figures{WindowStart: start}
	for _, b := range buckets {
		if b.Start.Before(start) {
			continue
		}
		f.Sends += b.Sends
		f.HardBounces += b.HardBounces
		f.FeedbackSends += b.FeedbackSends
		f.Complaints += b.Complaints
	}
	f.Enforced = f.Sends >= s.cfg.MinVolume
	return f
}

// level is the status f's rates call for.
func (s *Service) level(f Figures) Status {
	b, c := f.BounceRate(), f.ComplaintRate()
	switch {
	case b >= s.cfg.BouncePause || c >= s.cfg.ComplaintPause:
		return Shutdown
	case b >= s.cfg.BounceReview || c >= s.cfg.ComplaintReview:
		return Probation
	}
	return Healthy
}

// next is the status after cur for figures f: SHUTDOWN stays (only the
// operator lifts it); an enforced window sets the status its rates call
// for; a window below the minimum volume changes nothing but lets
// PROBATION recover.
func (s *Service) next(cur Status, f Figures) Status {
	if cur == Shutdown {
		return Shutdown
	}
	lv := s.level(f)
	if f.Enforced || (cur == Probation && lv == Healthy) {
		return lv
	}
	return cur
}

// Report is the state of an account or set.
type Report struct {
	Account          string
	ConfigurationSet string // "" for the account
	Status           Status
	Evaluated        time.Time // zero: never
	Figures
	FreshStart  time.Time // zero: never
	QuotaGrown  time.Time // the last warm-up growth (accounts; zero: never)
	Evaluations bool      // false: no row yet (HEALTHY, never evaluated)
}

// columns are a reputation_status row as scan reads it.
const columns = `account, configuration_set, status, evaluated_ms, window_start_ms, sends, hard_bounces, feedback_sends, complaints,
	enforced, fresh_start_ms, quota_grown_ms`

// scan reads one row of columns.
func scan(sc interface{ Scan(...any) error }) (Report, error) {
	var r Report
	var status string
	var eval, ws, fresh, grown int64
	var enforced int
	if err := sc.Scan(&r.Account, &r.ConfigurationSet, &status, &eval, &ws, &r.Sends, &r.HardBounces, &r.FeedbackSends, &r.Complaints,
		&enforced, &fresh, &grown); err != nil {
		return r, err
	}
	r.Status, r.Evaluations, r.Enforced = Status(status), true, enforced != 0
	r.Evaluated, r.WindowStart = time.UnixMilli(eval), time.UnixMilli(ws)
	r.FreshStart, r.QuotaGrown = msTime(fresh), msTime(grown)
	return r, nil
}

// row reads the state of one scope (HEALTHY when there is none).
func (s *Service) row(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, account, set string) (Report, error) {
	r, err := scan(q.QueryRowContext(ctx, s.db.Rebind(`SELECT `+columns+` FROM reputation_status WHERE account = ? AND configuration_set = ?`), account, set))
	if errors.Is(err, sql.ErrNoRows) {
		return Report{Account: account, ConfigurationSet: set, Status: Healthy}, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading the reputation of %s: %w", name(account, set), err)
	}
	return r, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func name(account, set string) string {
	if set == "" {
		return "account " + account
	}
	return "configuration set " + set + " of account " + account
}

// Get returns the state of account (set "") or of its configuration set.
func (s *Service) Get(ctx context.Context, account, set string) (Report, error) {
	return s.row(ctx, s.db, account, set)
}

// List returns the state of account's scopes (every account's when
// account is "") evaluated so far, in account then set order (the
// account's own, set "", first), in one query.
func (s *Service) List(ctx context.Context, account string) ([]Report, error) {
	q, args := `SELECT `+columns+` FROM reputation_status ORDER BY account, configuration_set`, []any{}
	if account != "" {
		q, args = `SELECT `+columns+` FROM reputation_status WHERE account = ? ORDER BY account, configuration_set`, []any{account}
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing reputation: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// EnforcementStatus returns account's SES EnforcementStatus (GetAccount).
func (s *Service) EnforcementStatus(ctx context.Context, account string) (string, error) {
	r, err := s.Get(ctx, account, "")
	return string(r.Status), err
}

// FreshStart returns the operator's last resume of account's set (zero:
// never), SES ReputationOptions.LastFreshStart.
func (s *Service) FreshStart(ctx context.Context, account, set string) (time.Time, error) {
	r, err := s.Get(ctx, account, set)
	return r.FreshStart, err
}

// Paused reports whether account's sending (set "") or its configuration
// set's is paused by enforcement (SHUTDOWN). The answer is at most
// CacheTTL old; a change made on this node is seen at once. Errors are the
// store's.
func (s *Service) Paused(ctx context.Context, account, set string) (bool, error) {
	k := scope{account, set}
	now := s.cacheAt()
	s.mu.Lock()
	e, ok := s.paused[k]
	s.mu.Unlock()
	if ok && now.Sub(e.at) < CacheTTL && !now.Before(e.at) {
		return e.paused, nil
	}
	var status string
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT status FROM reputation_status WHERE account = ? AND configuration_set = ?"), account, set).Scan(&status)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("reading the enforcement status of %s: %w", name(account, set), err)
	}
	p := Status(status) == Shutdown
	s.mu.Lock()
	if len(s.paused) >= 1<<16 {
		clear(s.paused)
	}
	s.paused[k] = pausedEntry{paused: p, at: now}
	s.mu.Unlock()
	return p, nil
}

func (s *Service) forget(account, set string) {
	s.mu.Lock()
	delete(s.paused, scope{account, set})
	s.mu.Unlock()
}

// Evaluate evaluates account and each of its configuration sets with
// reputation metrics enabled now (Config.Now), records and announces any
// status change, then considers the account's warm-up. Errors are the
// store's (a notification email that cannot be queued is logged).
func (s *Service) Evaluate(ctx context.Context, account string) error {
	now := s.cfg.Now()
	st, err := s.evaluate(ctx, account, "", now)
	if err != nil {
		return err
	}
	sets, err := s.reputationSets(ctx, account)
	if err != nil {
		return err
	}
	for _, set := range sets {
		if _, err := s.evaluate(ctx, account, set, now); err != nil {
			return err
		}
	}
	if st == Healthy && s.Quotas != nil && s.cfg.Growth.Factor > 1 {
		return s.warmUp(ctx, account, now)
	}
	return nil
}

// reputationSets returns account's configuration sets with reputation
// metrics enabled.
func (s *Service) reputationSets(ctx context.Context, account string) ([]string, error) {
	var out []string
	after := ""
	for {
		names, err := s.sets.List(ctx, account, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("listing the configuration sets of %s: %w", account, err)
		}
		for _, n := range names {
			cs, err := s.sets.Cached(ctx, account, n)
			if errors.Is(err, configset.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading configuration set %s: %w", n, err)
			}
			if cs.Reputation.ReputationMetricsEnabled {
				out = append(out, n)
			}
		}
		if len(names) < 1000 {
			return out, nil
		}
		after = names[len(names)-1]
	}
}

// since is where a scope's window may begin: MaxWindow before now, or the
// first bucket boundary at or after the fresh start when that is later.
func (s *Service) since(fresh, now time.Time) time.Time {
	since := time.UnixMilli(stats.BucketOf(now.Add(-s.cfg.MaxWindow)))
	if !fresh.IsZero() {
		f := time.UnixMilli(stats.BucketOf(fresh.Add(stats.Bucket - time.Millisecond)))
		if f.After(since) {
			since = f
		}
	}
	return since
}

// evaluate evaluates one scope and returns its status afterwards.
func (s *Service) evaluate(ctx context.Context, account, set string, now time.Time) (Status, error) {
	cur, err := s.Get(ctx, account, set)
	if err != nil {
		return "", err
	}
	since := s.since(cur.FreshStart, now)
	buckets, err := s.buckets(ctx, account, set, since, now)
	if err != nil {
		return "", err
	}
	f := s.Window(buckets, since, now)
	to := s.next(cur.Status, f)
	changed, err := s.write(ctx, cur, to, f, now, "evaluation")
	if err != nil {
		return "", err
	}
	if !changed {
		// Another node changed it meanwhile: the next evaluation starts
		// from its status.
		return cur.Status, nil
	}
	if to != cur.Status {
		s.announce(ctx, cur, to, f, "evaluation")
	}
	return to, nil
}

// write stores scope cur's new status and figures if its status and
// fresh start are still those read (compare-and-set), with a history row
// when the status changes. It reports whether it wrote.
func (s *Service) write(ctx context.Context, cur Report, to Status, f Figures, now time.Time, cause string) (bool, error) {
	wrote := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		args := []any{string(to), now.UnixMilli(), f.WindowStart.UnixMilli(), f.Sends, f.HardBounces, f.FeedbackSends, f.Complaints, boolInt(f.Enforced)}
		var res sql.Result
		var err error
		if !cur.Evaluations {
			res, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO reputation_status (status, evaluated_ms, window_start_ms, sends, hard_bounces,
				feedback_sends, complaints, enforced, account, configuration_set, fresh_start_ms, quota_grown_ms)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (account, configuration_set) DO NOTHING`),
				append(args, cur.Account, cur.ConfigurationSet, unixMilli(cur.FreshStart))...)
		} else {
			res, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE reputation_status SET status = ?, evaluated_ms = ?, window_start_ms = ?, sends = ?,
				hard_bounces = ?, feedback_sends = ?, complaints = ?, enforced = ?
				WHERE account = ? AND configuration_set = ? AND status = ? AND fresh_start_ms = ?`),
				append(args, cur.Account, cur.ConfigurationSet, string(cur.Status), unixMilli(cur.FreshStart))...)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		wrote = true
		if to == cur.Status {
			return nil
		}
		return s.historyTx(ctx, tx, history{account: cur.Account, set: cur.ConfigurationSet, at: now, kind: "status", cause: cause,
			from: cur.Status, to: to, f: f})
	})
	if err != nil {
		return false, fmt.Errorf("recording the reputation of %s: %w", name(cur.Account, cur.ConfigurationSet), err)
	}
	if wrote && to != cur.Status {
		s.forget(cur.Account, cur.ConfigurationSet)
	}
	return wrote, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// history is one reputation_history row.
type history struct {
	account, set string
	at           time.Time
	kind, cause  string
	from, to     Status
	f            Figures
	oldQuota     [2]float64 // Max24HourSend, MaxSendRate
	newQuota     [2]float64
}

func (s *Service) historyTx(ctx context.Context, tx *sql.Tx, h history) error {
	_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO reputation_history (account, configuration_set, at_ms, kind, cause, from_status, to_status,
		window_start_ms, sends, hard_bounces, feedback_sends, complaints, old_max_24h_send, new_max_24h_send, old_max_send_rate, new_max_send_rate)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		h.account, h.set, h.at.UnixMilli(), h.kind, h.cause, string(h.from), string(h.to),
		unixMilli(h.f.WindowStart), h.f.Sends, h.f.HardBounces, h.f.FeedbackSends, h.f.Complaints,
		int64(h.oldQuota[0]), int64(h.newQuota[0]), h.oldQuota[1], h.newQuota[1])
	return err
}

// Change is one row of an account's history.
type Change struct {
	At               time.Time
	ConfigurationSet string // "" for the account
	Kind             string // "status" or "quota"
	Cause            string // "evaluation", "resume" or "warm-up"
	From, To         Status // status changes
	Figures                 // status changes: the window's figures (none for a resume)
	// Quota changes: the limits before and after.
	OldMax24HourSend, NewMax24HourSend int64
	OldMaxSendRate, NewMaxSendRate     float64
}

// History returns account's last limit changes (status and quota, of the
// account and its sets), newest first.
func (s *Service) History(ctx context.Context, account string, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT at_ms, configuration_set, kind, cause, from_status, to_status, window_start_ms, sends,
		hard_bounces, feedback_sends, complaints, old_max_24h_send, new_max_24h_send, old_max_send_rate, new_max_send_rate
		FROM reputation_history WHERE account = ? ORDER BY at_ms DESC, id DESC LIMIT ?`), account, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the reputation history of %s: %w", account, err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var at, ws int64
		var from, to string
		if err := rows.Scan(&at, &c.ConfigurationSet, &c.Kind, &c.Cause, &from, &to, &ws, &c.Sends, &c.HardBounces, &c.FeedbackSends,
			&c.Complaints, &c.OldMax24HourSend, &c.NewMax24HourSend, &c.OldMaxSendRate, &c.NewMaxSendRate); err != nil {
			return nil, err
		}
		c.At, c.WindowStart, c.From, c.To = time.UnixMilli(at), msTime(ws), Status(from), Status(to)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ErrNotFound is Resume's answer for a configuration set the account does
// not have (and that has no enforcement status).
var ErrNotFound = errors.New("configuration set not found")

// Resume is the operator's lift of an enforcement pause: account's status
// (set "") or its set's becomes HEALTHY with a fresh start now — only
// traffic from the next 15-minute boundary on counts (SES
// ReputationOptions.LastFreshStart). It works whatever the status (a
// PROBATION account gets a fresh start too) and returns the status it
// replaced. Errors: ErrNotFound, the store's.
func (s *Service) Resume(ctx context.Context, account, set string) (Status, error) {
	if set != "" {
		if _, err := s.sets.Get(ctx, account, set); errors.Is(err, configset.ErrNotFound) {
			if r, err := s.Get(ctx, account, set); err != nil || !r.Evaluations {
				return "", errors.Join(ErrNotFound, err)
			}
		} else if err != nil {
			return "", err
		}
	}
	now := s.cfg.Now()
	var from Status
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.row(ctx, tx, account, set)
		if err != nil {
			return err
		}
		from = cur.Status
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO reputation_status (account, configuration_set, status, evaluated_ms, window_start_ms,
			sends, hard_bounces, feedback_sends, complaints, enforced, fresh_start_ms, quota_grown_ms) VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, 0)
			ON CONFLICT (account, configuration_set) DO UPDATE SET status = excluded.status, evaluated_ms = excluded.evaluated_ms,
			window_start_ms = excluded.window_start_ms, sends = 0, hard_bounces = 0, feedback_sends = 0, complaints = 0, enforced = 0,
			fresh_start_ms = excluded.fresh_start_ms`),
			account, set, string(Healthy), now.UnixMilli(), now.UnixMilli(), now.UnixMilli()); err != nil {
			return err
		}
		return s.historyTx(ctx, tx, history{account: account, set: set, at: now, kind: "status", cause: "resume", from: from, to: Healthy})
	})
	if err != nil {
		return "", fmt.Errorf("resuming %s: %w", name(account, set), err)
	}
	s.forget(account, set)
	s.announce(ctx, Report{Account: account, ConfigurationSet: set, Status: from}, Healthy, Figures{}, "resume")
	return from, nil
}

// warmUp grows account's quota when it earned it (Growth).
func (s *Service) warmUp(ctx context.Context, account string, now time.Time) error {
	g := s.cfg.Growth
	q, err := s.Quotas.Quota(ctx, account)
	if err != nil {
		return fmt.Errorf("reading the quota of %s: %w", account, err)
	}
	if !q.Production || q.Max24HourSend <= 0 || float64(q.SentLast24Hours) < g.Threshold*float64(q.Max24HourSend) {
		return nil
	}
	cur, err := s.Get(ctx, account, "")
	if err != nil {
		return err
	}
	if !cur.QuotaGrown.IsZero() && now.Sub(cur.QuotaGrown) < g.Interval {
		return nil
	}
	daily := int64(math.Ceil(float64(q.Max24HourSend) * g.Factor))
	if g.Max24HourSend > 0 {
		daily = min(daily, max(g.Max24HourSend, q.Max24HourSend))
	}
	rate := q.MaxSendRate
	if rate > 0 {
		rate = math.Round(rate*g.Factor*100) / 100
		if g.MaxSendRate > 0 {
			rate = min(rate, max(g.MaxSendRate, q.MaxSendRate))
		}
	}
	if daily == q.Max24HourSend && rate == q.MaxSendRate {
		return nil // at the caps
	}
	// Claim the growth first (compare-and-set on the account's row), so
	// that two nodes never both grow the quota.
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE reputation_status SET quota_grown_ms = ?
		WHERE account = ? AND configuration_set = '' AND quota_grown_ms = ? AND status = ?`),
		now.UnixMilli(), account, unixMilli(cur.QuotaGrown), string(Healthy))
	if err != nil {
		return fmt.Errorf("claiming the warm-up of %s: %w", account, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if err := s.Quotas.SetQuota(ctx, account, daily, rate); err != nil {
		return fmt.Errorf("growing the quota of %s: %w", account, err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.historyTx(ctx, tx, history{account: account, at: now, kind: "quota", cause: "warm-up", from: Healthy, to: Healthy,
			oldQuota: [2]float64{float64(q.Max24HourSend), q.MaxSendRate}, newQuota: [2]float64{float64(daily), rate}})
	})
	if err != nil {
		return fmt.Errorf("recording the warm-up of %s: %w", account, err)
	}
	s.log().Info("quota grown (warm-up)", "account", account, "sent_last_24h", q.SentLast24Hours,
		"max_24h_send", fmt.Sprintf("%d → %d", q.Max24HourSend, daily), "max_send_rate", fmt.Sprintf("%g → %g", q.MaxSendRate, rate))
	return nil
}

// Counters are kept per bucket of each event's time, so only the recent
// buckets of a window change: an evaluation reads again only the buckets
// of the last RereadRecent, and the whole window once every RereadAll
// (for an event written late, or by a node whose clock is behind).
const (
	RereadRecent = time.Hour
	RereadAll    = 10 * time.Minute
)

// window is a scope's buckets as last read.
type window struct {
	since   time.Time // the first bucket read
	buckets []stats.RepBucket
	full    time.Time // when it was last read whole
	used    time.Time
}

// buckets returns the counted traffic of account's scope set from since
// on, oldest first (stats.Counters.Reputation), reading the whole range
// only when the last whole read is RereadAll old.
func (s *Service) buckets(ctx context.Context, account, set string, since, now time.Time) ([]stats.RepBucket, error) {
	k := scope{account, set}
	s.mu.Lock()
	w := s.windows[k]
	s.mu.Unlock()
	if w == nil || since.Before(w.since) || now.Before(w.full) || now.Sub(w.full) >= RereadAll {
		b, err := s.counters.Reputation(ctx, account, set, since)
		if err != nil {
			return nil, err
		}
		s.keepWindow(k, &window{since: since, buckets: b, full: now, used: now})
		return b, nil
	}
	recent := time.UnixMilli(stats.BucketOf(now.Add(-RereadRecent)))
	if recent.Before(since) {
		recent = since
	}
	fresh, err := s.counters.Reputation(ctx, account, set, recent)
	if err != nil {
		return nil, err
	}
	out := make([]stats.RepBucket, 0, len(w.buckets)+len(fresh))
	for _, b := range w.buckets {
		if !b.Start.Before(since) && b.Start.Before(recent) {
			out = append(out, b)
		}
	}
	out = append(out, fresh...)
	s.keepWindow(k, &window{since: since, buckets: out, full: w.full, used: now})
	return out, nil
}

func (s *Service) keepWindow(k scope, w *window) {
	s.mu.Lock()
	s.windows[k] = w
	s.mu.Unlock()
}

// dropWindows forgets the windows no evaluation used for RereadAll.
func (s *Service) dropWindows(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, w := range s.windows {
		if now.Sub(w.used) >= RereadAll || now.Before(w.used) {
			delete(s.windows, k)
		}
	}
}
