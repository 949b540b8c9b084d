// Package quota enforces each account's sending quota at acceptance (SES
// SendQuota, ../shared/spec/ses.md §8.5; docs/quotas.md): Max24HourSend
// recipients over any rolling 24 hours, shared by every node, and
// MaxSendRate recipients per second, split between the live nodes.
//
// For each message, the accept path (package sending):
//
//  1. asks Check, before parsing, whether the account has any room left
//     (nothing is consumed);
//  2. asks Admit for the message's recipients (not account-suppressed
//     ones, which are not sent): all of them against the rate, all but
//     simulator ones against the 24-hour quota; Admit consumes rate tokens
//     and daily room on this node, or refuses with ErrRate or ErrDaily;
//  3. calls RecordTx in the message's group-committed transaction, which
//     adds the recipients to send_usage (account, minute, node);
//  4. calls Admission.Release when the message is not stored after all,
//     which gives the room and tokens back.
//
// Daily quota: the window is the current minute and the 1440 before it, so
// a recipient counts from its acceptance until 24 hours after the end of its
// minute (released at most one minute late, never early). This node's
// usage is kept exactly in memory (a ring of minutes, loaded from
// send_usage at the account's first limited send); other nodes' usage is
// read from send_usage at most one second old. Over-admission across nodes
// is thus bounded by what the other nodes accept within one second.
//
// Rate: a token bucket (golang.org/x/time/rate) per account per node
// filling at MaxSendRate / live nodes per second, holding
// max(1, ceil(that)) tokens: one second's allowance, SES's "short bursts".
// A message with more recipients than the bucket holds is admitted when it
// is full, empties it and owes the rest: the following sends wait until
// the bucket has refilled past that debt, so the rate holds in recipients
// whatever the message sizes. Nodes announce themselves in quota_nodes every
// HeartbeatEvery (Run); a node seen within LiveFor is live.
//
// An account whose two limits are both -1 (unlimited; the bootstrap
// account) costs nothing: no lookup, no lock, no row in send_usage (its
// GetAccount SentLast24Hours comes from the statistics counters, package
// stats). When such an account is given a limit, its quota counts from
// then on.
package quota

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/petrelmail/petrel/internal/store"
)

// Window is the daily quota's window, in minutes: usage in the current
// minute and the Window before it counts.
const Window = 24 * 60

// Heartbeats: a node writes its heartbeat every HeartbeatEvery; one seen
// within LiveFor is live; others' usage is reread after OthersTTL.
const (
	HeartbeatEvery = 10 * time.Second
	LiveFor        = 30 * time.Second
	OthersTTL      = time.Second
)

// Refusals (the edges answer TooManyRequestsException / SMTP 454 4.7.0
// Throttling failure, in SES's words: sending.ThrottledError).
var (
	ErrRate  = errors.New("maximum sending rate exceeded")
	ErrDaily = errors.New("daily message quota exceeded")
)

// Config configures a Quota.
type Config struct {
	Node string           // this node's name in send_usage and quota_nodes
	Now  func() time.Time // the clock; nil: time.Now
	Log  *slog.Logger     // for Run's failures; nil: slog.Default()
}

// Limits are an account's limits as the accept path read them (package
// account's Quota): -1 is unlimited.
type Limits struct {
	Account       string
	Max24HourSend int64   // recipients per rolling 24 h
	MaxSendRate   float64 // recipients per second
}

func (l Limits) unlimited() bool { return l.Max24HourSend < 0 && l.MaxSendRate < 0 }

// Quota is one node's enforcement of every account's quota.
type Quota struct {
	db  *store.DB
	cfg Config

	mu       sync.Mutex
	accounts map[string]*usage

	live atomic.Int64 // live nodes, this one included (at least 1)
}

// New returns a Quota over db.
func New(db *store.DB, cfg Config) *Quota {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	q := &Quota{db: db, cfg: cfg, accounts: map[string]*usage{}}
	q.live.Store(1)
	return q
}

// usage is one account's state on this node.
type usage struct {
	mu sync.Mutex

	loaded bool              // ring holds this node's rows of send_usage
	ring   *[Window + 2]slot // this node's recipients by minute (allocated by load: only accounts with a daily limit have one)
	last   time.Time         // when the account last asked (Check, Admit): Beat forgets accounts idle for a day
	low    int64             // the oldest minute counted
	total  int64             // sum of ring's counted minutes
	lim    *rate.Limiter     // nil until the rate is limited
	limFor [2]float64        // the rate and live nodes lim was set for
	others int64             // other nodes' usage since othersLow
	othAt  time.Time         // when others was read (zero: never)
	othLow int64             // the low it was read for
}

type slot struct{ minute, n int64 }

func minuteOf(t time.Time) int64 { return t.UnixMilli() / 60000 }

func (q *Quota) usage(account string) *usage {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.accounts[account]
	if u == nil {
		u = &usage{}
		q.accounts[account] = u
	}
	return u
}

// advance drops the minutes before now's window.
func (u *usage) advance(nowMin int64) {
	low := nowMin - Window
	if u.low == 0 || u.ring == nil {
		u.low = max(u.low, low)
		return
	}
	for m := u.low; m < low && m < u.low+int64(len(u.ring)); m++ {
		if s := &u.ring[m%int64(len(u.ring))]; s.minute == m {
			u.total -= s.n
			*s = slot{}
		}
	}
	u.low = max(u.low, low)
}

func (u *usage) add(m, n int64) {
	if m < u.low {
		return
	}
	s := &u.ring[m%int64(len(u.ring))]
	if s.minute != m {
		// The slot held a minute a whole ring ago, before the window:
		// it leaves the total as it leaves the ring.
		u.total -= s.n
		*s = slot{minute: m}
	}
	s.n += n
	u.total += n
}

// load reads this node's usage of the window (once per account).
func (q *Quota) load(ctx context.Context, account string, u *usage) error {
	u.ring, u.total = new([Window + 2]slot), 0
	rows, err := q.db.QueryContext(ctx, q.db.Rebind("SELECT minute_ms, recipients FROM send_usage WHERE account = ? AND node = ? AND minute_ms >= ?"),
		account, q.cfg.Node, u.low*60000)
	if err != nil {
		return fmt.Errorf("reading send usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ms, n int64
		if err := rows.Scan(&ms, &n); err != nil {
			return err
		}
		u.add(ms/60000, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	u.loaded = true
	return nil
}

// daily returns the account's usage in the window, every node's, with the
// other nodes' at most OthersTTL old.
func (q *Quota) daily(ctx context.Context, account string, u *usage, now time.Time) (int64, error) {
	u.advance(minuteOf(now))
	if !u.loaded {
		if err := q.load(ctx, account, u); err != nil {
			return 0, err
		}
	}
	if u.othAt.IsZero() || now.Sub(u.othAt) >= OthersTTL || now.Before(u.othAt) || u.othLow != u.low {
		var n int64
		err := q.db.QueryRowPrepared(ctx, "SELECT COALESCE(SUM(recipients), 0) FROM send_usage WHERE account = ? AND minute_ms >= ? AND node <> ?",
			account, u.low*60000, q.cfg.Node).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("reading send usage: %w", err)
		}
		u.others, u.othAt, u.othLow = n, now, u.low
	}
	return u.total + u.others, nil
}

// limiter returns the account's bucket, set for its rate share now. A
// bucket whose share changed (a new MaxSendRate, another number of live
// nodes) is replaced by one as full, in proportion, as the old one was.
func (q *Quota) limiter(u *usage, perSecond float64, now time.Time) *rate.Limiter {
	live := float64(q.live.Load())
	if u.lim != nil && u.limFor == [2]float64{perSecond, live} {
		return u.lim
	}
	share := perSecond / live
	burst := max(1, int(math.Ceil(share)))
	lim := rate.NewLimiter(rate.Limit(share), burst)
	if u.lim != nil {
		full := min(1, max(0, u.lim.TokensAt(now)/float64(u.lim.Burst())))
		if take := burst - int(math.Floor(full*float64(burst))); take > 0 {
			lim.ReserveN(now, take)
		}
	}
	u.lim, u.limFor = lim, [2]float64{perSecond, live}
	return lim
}

// Check reports whether the account has room for at least one more
// recipient now — against the 24-hour quota too when daily (some recipient
// may count towards it) — consuming nothing: nil, ErrDaily, ErrRate, or a
// store error. It lets the accept path refuse before reading the message.
func (q *Quota) Check(ctx context.Context, l Limits, daily bool) error {
	if l.unlimited() {
		return nil
	}
	u := q.usage(l.Account)
	u.mu.Lock()
	defer u.mu.Unlock()
	now := q.cfg.Now()
	u.last = now
	if daily && l.Max24HourSend >= 0 {
		used, err := q.daily(ctx, l.Account, u, now)
		if err != nil {
			return err
		}
		if used >= l.Max24HourSend {
			return ErrDaily
		}
	}
	if l.MaxSendRate >= 0 && q.limiter(u, l.MaxSendRate, now).TokensAt(now) < 1 {
		return ErrRate
	}
	return nil
}

// Admission is the recipients of one message admitted on this node.
type Admission struct {
	q        *Quota
	u        *usage // nil for an unlimited account
	account  string
	minute   int64
	n        int64 // recipients counted against the 24-hour quota
	inRing   bool  // n was added to u's ring
	released bool
	res      []*rate.Reservation // the rate tokens taken and owed; none when the rate is unlimited
}

// Admit admits a message's recipients: sent recipients against the rate
// (every recipient the message goes to, simulator ones included: SES
// limits them by the rate too) and, of those, counted against the 24-hour
// quota (not simulator ones; ../shared/spec/ses.md §5). It refuses with
// ErrDaily (the window would exceed Max24HourSend) or ErrRate (the bucket
// has not sent tokens; more than the bucket's size needs it full and takes
// it all); a refusal consumes nothing. An unlimited account is admitted
// without a check. A nil Admission with a nil error means there was
// nothing to admit (sent is 0). The Admission must be recorded with
// RecordTx in the transaction that stores the message, or released.
//
// Cost: a map lookup and a mutex; at most once per OthersTTL per account,
// one SELECT of the other nodes' usage (and one of this node's at the
// account's first limited send).
func (q *Quota) Admit(ctx context.Context, l Limits, sent, counted int) (*Admission, error) {
	if sent <= 0 {
		return nil, nil
	}
	counted = min(max(counted, 0), sent)
	if l.unlimited() {
		return nil, nil
	}
	u := q.usage(l.Account)
	u.mu.Lock()
	defer u.mu.Unlock()
	now := q.cfg.Now()
	u.last = now
	if u.loaded {
		u.advance(minuteOf(now))
	}
	a := &Admission{q: q, u: u, account: l.Account, minute: minuteOf(now), n: int64(counted)}
	if l.Max24HourSend >= 0 && counted > 0 {
		used, err := q.daily(ctx, l.Account, u, now)
		if err != nil {
			return nil, err
		}
		if used+int64(counted) > l.Max24HourSend {
			return nil, ErrDaily
		}
	}
	if l.MaxSendRate >= 0 {
		lim := q.limiter(u, l.MaxSendRate, now)
		first := min(sent, lim.Burst())
		r := lim.ReserveN(now, first)
		if !r.OK() || r.DelayFrom(now) > 0 {
			r.CancelAt(now)
			return nil, ErrRate
		}
		a.res = append(a.res, r)
		// The recipients beyond the bucket's size are reserved in the
		// coming seconds: a debt the next sends wait for.
		for rest := sent - first; rest > 0; rest -= first {
			first = min(rest, lim.Burst())
			a.res = append(a.res, lim.ReserveN(now, first))
		}
	}
	// This node's usage counts the admission at once, even before it is
	// stored, so that concurrent sends cannot overrun the quota together.
	// (Until the 24 hours are limited the ring is not kept: when they
	// become so, load reads what was recorded meanwhile.)
	if u.loaded {
		u.add(a.minute, a.n)
		a.inRing = true
	}
	return a, nil
}

// RecordTx adds the admitted recipients counted against the 24-hour quota
// to send_usage in tx, the transaction that stores the message. A nil a,
// or one with none counted, records nothing. It changes
// nothing in memory, so a transaction retried (store.Batcher) or rolled back
// counts once or not at all. The recipients of a transaction are gathered
// and written once, just before it commits (store.DB.Deferred): a group
// commit of many messages writes one row per account and minute, one
// statement in all.
func (q *Quota) RecordTx(tx *sql.Tx, a *Admission) error {
	if a == nil || a.n == 0 {
		return nil
	}
	key := usageKey{a.account, a.minute}
	f, ok := q.db.Deferred(tx, q, func() store.Flusher { return &pendingUsage{q: q, n: map[usageKey]int64{}} })
	if !ok {
		return q.db.ExecTx(tx, q.upsert(1), a.account, a.minute*60000, q.cfg.Node, a.n)
	}
	p := f.(*pendingUsage)
	if _, seen := p.n[key]; !seen {
		p.order = append(p.order, key)
	}
	p.n[key] += a.n
	return nil
}

// upsert adds to rows rows of send_usage. On PostgreSQL each transaction
// writes its connection's rows: concurrent group commits would otherwise
// queue on one hot row (3× slower sends, BenchmarkSendQuota) and could
// deadlock on two.
func (q *Quota) upsert(rows int) string {
	conn := "0"
	if q.db.Dialect == store.Postgres {
		conn = "pg_backend_pid()"
	}
	var b strings.Builder
	b.WriteString("INSERT INTO send_usage (account, minute_ms, node, conn, recipients) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, " + conn + ", ?)")
	}
	b.WriteString(" ON CONFLICT (account, minute_ms, node, conn) DO UPDATE SET recipients = send_usage.recipients + excluded.recipients")
	return b.String()
}

// maxUsageRows is the most rows one statement adds to (a prepared
// statement is kept for each count up to it).
const maxUsageRows = 32

type usageKey struct {
	account string
	minute  int64
}

// pendingUsage is what a transaction has recorded so far.
type pendingUsage struct {
	q     *Quota
	n     map[usageKey]int64
	order []usageKey
}

var _ store.Flusher = (*pendingUsage)(nil)

// Flush writes p's recipients in tx (store.Flusher).
func (p *pendingUsage) Flush(tx *sql.Tx) error {
	for len(p.order) > 0 {
		k := min(len(p.order), maxUsageRows)
		args := make([]any, 0, 4*k)
		for _, key := range p.order[:k] {
			args = append(args, key.account, key.minute*60000, p.q.cfg.Node, p.n[key])
		}
		if err := p.q.db.ExecTx(tx, p.q.upsert(k), args...); err != nil {
			return fmt.Errorf("recording send usage: %w", err)
		}
		p.order = p.order[k:]
	}
	return nil
}

// Release gives back an admission whose message was not stored: its
// recipients leave this node's usage and its tokens return to the bucket
// (unless later admissions took them meanwhile). A nil a, or one released
// before, is ignored.
func (a *Admission) Release() {
	if a == nil || a.released || a.u == nil {
		return
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if a.inRing && u.ring != nil {
		if s := &u.ring[a.minute%int64(len(u.ring))]; s.minute == a.minute && a.minute >= u.low {
			s.n -= a.n
			u.total -= a.n
		}
	}
	now := a.q.cfg.Now()
	for i := len(a.res) - 1; i >= 0; i-- {
		a.res[i].CancelAt(now)
	}
	a.released = true
}

// SentLast24Hours returns the recipients the account's stored messages
// counted in the daily window, on every node (GetAccount's
// SendQuota.SentLast24Hours): one SELECT.
func (q *Quota) SentLast24Hours(ctx context.Context, account string) (int64, error) {
	var n int64
	low := minuteOf(q.cfg.Now()) - Window
	err := q.db.QueryRowContext(ctx, q.db.Rebind("SELECT COALESCE(SUM(recipients), 0) FROM send_usage WHERE account = ? AND minute_ms >= ?"),
		account, low*60000).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading send usage: %w", err)
	}
	return n, nil
}

// LiveNodes returns how many nodes the last heartbeat found live (at least 1).
func (q *Quota) LiveNodes() int { return int(q.live.Load()) }

// Beat writes this node's heartbeat, counts the live nodes, and prunes
// send_usage of minutes before the window and quota_nodes of nodes gone for
// a day. Run calls it every HeartbeatEvery; tests call it with their clock.
func (q *Quota) Beat(ctx context.Context) error {
	now := q.cfg.Now()
	var live int64
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q.db.Rebind(`INSERT INTO quota_nodes (node, seen_ms) VALUES (?, ?)
			ON CONFLICT (node) DO UPDATE SET seen_ms = excluded.seen_ms`), q.cfg.Node, now.UnixMilli()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q.db.Rebind("SELECT COUNT(*) FROM quota_nodes WHERE seen_ms >= ?"), now.Add(-LiveFor).UnixMilli()).Scan(&live)
	})
	if err != nil {
		return fmt.Errorf("quota heartbeat: %w", err)
	}
	q.live.Store(max(1, live))
	q.forgetIdle(now)
	err = q.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q.db.Rebind("DELETE FROM send_usage WHERE minute_ms < ?"), (minuteOf(now)-Window)*60000); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, q.db.Rebind("DELETE FROM quota_nodes WHERE seen_ms < ?"), now.Add(-24*time.Hour).UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("pruning send usage: %w", err)
	}
	return nil
}

// Accounts returns how many accounts this node keeps state for.
func (q *Quota) Accounts() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.accounts)
}

// forgetIdle drops the state of accounts that asked nothing for a day
// (their usage has left the window; their rate bucket would be full): the
// map holds only accounts that send.
func (q *Quota) forgetIdle(now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, u := range q.accounts {
		u.mu.Lock()
		idle := now.Sub(u.last) > 24*time.Hour+2*time.Minute
		u.mu.Unlock()
		if idle {
			delete(q.accounts, name)
		}
	}
}

// Run beats every HeartbeatEvery until ctx ends; a failed beat is logged
// and the previous live count kept.
func (q *Quota) Run(ctx context.Context) error {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		if err := q.Beat(ctx); err != nil && ctx.Err() == nil {
			q.cfg.Log.Warn("quota heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
