package notify

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// Config configures an Engine. Zero fields take the defaults named.
type Config struct {
	// NodeID names this node's leases (outbox rows and jobs it holds); a
	// node restarting with the same ID takes its leases back at once.
	// Default "node".
	NodeID string
	// RetryPeriod is how long after its creation (or replay) a job is
	// retried before it becomes a dead letter. Default 24 h.
	RetryPeriod time.Duration
	// PerTarget bounds the attempts in flight to one Target on this node
	// (default 4); PerAccount bounds them over all the targets of one
	// account (default 16); Workers bounds them over all accounts
	// (default 256: it bounds the sockets the engine holds open). Free
	// slots are handed out round-robin: accounts with the fewest attempts
	// in flight first, one slot per account per round, and within an
	// account one per target per round; so no account — however many slow
	// targets it has — holds more than PerAccount slots, and with fewer
	// than Workers/PerAccount accounts saturated, another account's
	// notifications never wait for a slot.
	PerTarget  int
	PerAccount int
	Workers    int
	// HTTPTimeout bounds one HTTP attempt, connection to last byte of the
	// answer (default 15 s, as SNS).
	HTTPTimeout time.Duration
	// HTTP is the client for webhook and SNS HTTP attempts (the daemon
	// passes the SSRF guard's client). nil: a plain client that never
	// follows redirects.
	HTTP *http.Client
	// Wants says whether anything may want account's events of kind; AddTx
	// writes an outbox row only then. nil wants everything.
	Wants func(account string, kind event.Kind) bool
	// Refresh returns the job as it should be attempted now — its endpoint's current URL and secrets —
	// or false when the endpoint no longer exists (the job is dropped, and logged); an error retries later.
	// nil: jobs are attempted as stored.
	//
	// It is called before every attempt (replays included), so a job
	// queued before its destination was changed, deleted or unsubscribed,
	// or before a secret rotation, goes to the endpoint as it is now. The
	// job's ID, Account, Target and Channel are kept whatever it returns;
	// a dropped job is deleted (not a dead letter) and counted (Dropped).
	// An error counts as a failed attempt (retried with backoff).
	Refresh func(ctx context.Context, j Job) (Job, bool, error)
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Log receives delivery failures (nil discards them).
	Log *slog.Logger
	// Batch, when set, runs the engine's write transactions (leases,
	// fan-out, outcomes) through the daemon's group committer, with the
	// rest of the process's writes: on SQLite, writers that bypass it
	// contend for the database lock and wait in SQLite's busy handler.
	// nil: each write is its own transaction.
	Batch *store.Batcher
	// Sealer, when set, encrypts a webhook job's signing secrets at rest
	// in the job table (the daemon passes account.Service, which seals
	// with the data-dir key, as configset seals the destination's own
	// copy). nil stores them as they are.
	Sealer Sealer
}

// Sealer encrypts and decrypts small secrets bound to a context string
// (account.Service implements it).
type Sealer interface {
	Seal(plain []byte, binding string) []byte
	Open(sealed []byte, binding string) ([]byte, error)
}

// sealedPrefix marks a sealed secrets column: "sealed:" + base64(sealed JSON).
const sealedPrefix = "sealed:"

// sealBinding ties a job's sealed secrets to the job.
func sealBinding(id string) string { return "notify-job-secrets:" + id }

// Engine is the outbox, the fan-out and the delivery workers. Its methods
// are safe for concurrent use; Run runs once per process.
type Engine struct {
	db     *store.DB
	cfg    Config
	router Router
	mailer Mailer
	client *http.Client
	log    *slog.Logger

	kick chan struct{}
	done chan struct{} // an attempt finished: slots are free

	dropped atomic.Int64 // jobs dropped by Refresh

	mu       sync.Mutex
	inflight map[string]int // target → attempts running on this node
	accounts map[string]int // account → attempts running on this node
	total    int
	wg       sync.WaitGroup

	// Outcomes waiting for the group commit (see record).
	rmu      sync.Mutex
	rpending []*outcome
	rrunning bool
}

// Poll is how often Run looks for work other nodes (or other processes,
// such as "petrel notifications replay") left in the database.
const Poll = time.Second

// outboxBatch is how many outbox rows one fan-out transaction leases.
const outboxBatch = 100

// New returns an Engine over db: router turns events into jobs; mailer
// sends Email jobs (nil: Email jobs fail and are retried).
func New(db *store.DB, cfg Config, router Router, mailer Mailer) *Engine {
	if cfg.NodeID == "" {
		cfg.NodeID = "node"
	}
	if cfg.RetryPeriod <= 0 {
		cfg.RetryPeriod = 24 * time.Hour
	}
	if cfg.PerTarget <= 0 {
		cfg.PerTarget = 4
	}
	if cfg.PerAccount <= 0 {
		cfg.PerAccount = 16
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTP
	if client == nil {
		client = &http.Client{
			Timeout:       cfg.HTTPTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: cfg.PerTarget, IdleConnTimeout: 90 * time.Second},
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{db: db, cfg: cfg, router: router, mailer: mailer, client: client, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{}, 1), inflight: map[string]int{}, accounts: map[string]int{}}
}

// tx runs fn in a write transaction: through Config.Batch when set. fn
// may run twice (the batcher retries a failed batch's functions alone), so
// it must reset what it collects.
func (e *Engine) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if e.cfg.Batch != nil {
		return e.cfg.Batch.Do(ctx, fn)
	}
	return e.db.Tx(ctx, fn)
}

// Dropped returns how many jobs this engine dropped because Config.Refresh
// said their endpoint no longer exists.
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// Kick wakes Run: new outbox rows or jobs are waiting.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

const insertOutbox = "INSERT INTO notify_outbox (kind, message_id, account, recipient, created_ms, detail, mail) VALUES (?, ?, ?, ?, ?, ?, ?)"

// AddTx implements event.Outbox: when Config.Wants says anything may want
// ev, it writes one outbox row in tx (one prepared INSERT), and wakes Run;
// otherwise it does nothing. The row commits or rolls back with the event.
func (e *Engine) AddTx(tx *sql.Tx, ev event.Event) error {
	if e.cfg.Wants != nil && !e.cfg.Wants(ev.Account, ev.Kind) {
		return nil
	}
	if err := e.insertOutboxTx(tx, ev); err != nil {
		return err
	}
	e.Kick()
	return nil
}

func (e *Engine) insertOutboxTx(tx *sql.Tx, ev event.Event) error {
	at := ev.Time
	if at.IsZero() {
		at = e.cfg.Now()
	}
	var mail any // NULL unless the event carries its mail object
	if len(ev.Mail) > 0 {
		mail = string(ev.Mail)
	}
	detail := string(ev.Detail)
	if detail == "" {
		detail = "{}"
	}
	if err := e.db.ExecTx(tx, insertOutbox, string(ev.Kind), ev.MessageID, ev.Account, ev.Recipient, at.UnixMilli(), detail, mail); err != nil {
		return fmt.Errorf("notification outbox: %w", err)
	}
	return nil
}

// AddTest writes an outbox row for ev carrying ev.Mail (the router uses
// it instead of reading the message's), regardless of Config.Wants: "petrel
// notifications test". The running daemon routes and delivers it.
func (e *Engine) AddTest(ctx context.Context, ev event.Event) error {
	if err := e.tx(ctx, func(tx *sql.Tx) error { return e.insertOutboxTx(tx, ev) }); err != nil {
		return err
	}
	e.Kick()
	return nil
}

const insertJob = "INSERT INTO notify_deliveries (id, account, target, channel, kind, url, headers, body, secrets, mail_from, rcpt, " +
	"created_ms, next_attempt_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"

// Enqueue stores jobs for delivery (SNS subscription confirmations,
// Publish), due at once. A job whose ID is already stored is skipped, so
// enqueueing twice delivers once. Errors: a job without ID, Target or
// Channel, or a storage error (nothing is stored then).
func (e *Engine) Enqueue(ctx context.Context, jobs ...Job) error {
	if len(jobs) == 0 {
		return nil
	}
	now := e.cfg.Now()
	if err := e.tx(ctx, func(tx *sql.Tx) error { return e.insertJobsTx(tx, jobs, now) }); err != nil {
		return err
	}
	e.Kick()
	return nil
}

// validJobs checks the fields every job needs.
func validJobs(jobs []Job) error {
	for _, j := range jobs {
		if j.ID == "" || j.Target == "" || j.Channel == "" {
			return fmt.Errorf("notification job %q: ID, Target and Channel are required", j.ID)
		}
	}
	return nil
}

func (e *Engine) insertJobsTx(tx *sql.Tx, jobs []Job, now time.Time) error {
	if err := validJobs(jobs); err != nil {
		return err
	}
	for _, j := range jobs {
		var headers, secrets string
		if len(j.Headers) > 0 {
			b, _ := json.Marshal(j.Headers)
			headers = string(b)
		}
		if len(j.Secrets) > 0 {
			b, _ := json.Marshal(j.Secrets)
			secrets = string(b)
			if e.cfg.Sealer != nil {
				secrets = sealedPrefix + base64.StdEncoding.EncodeToString(e.cfg.Sealer.Seal(b, sealBinding(j.ID)))
			}
		}
		body := j.Body
		if body == nil {
			body = []byte{}
		}
		if err := e.db.ExecTx(tx, insertJob, j.ID, j.Account, j.Target, string(j.Channel), j.Kind, j.URL, headers, body, secrets,
			j.MailFrom, j.Rcpt, now.UnixMilli(), now.UnixMilli()); err != nil {
			return fmt.Errorf("storing notification job: %w", err)
		}
	}
	return nil
}

// Run fans out the outbox and delivers jobs until ctx is done, then waits
// for the attempts in flight (cancelled with ctx: their jobs are released
// unattempted). It first takes back the leases this NodeID held before a
// restart.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.releaseOwn(ctx); err != nil {
		return err
	}
	defer e.wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// A kick comes from inside the producer's transaction, before its
	// commit: when it finds nothing, look again a few times, soon (reads
	// only).
	rechecks := []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond}
	recheck := len(rechecks)
	for {
		kicked := false
		select {
		case <-ctx.Done():
			return nil
		case <-e.kick:
			kicked = true
		case <-e.done:
		case <-timer.C:
		}
		fanned, err := e.fanOut(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("notification fan-out", "err", err)
		}
		if err := e.schedule(ctx, false); err != nil && ctx.Err() == nil {
			e.log.Warn("notification delivery", "err", err)
		}
		wait := Poll
		if fanned == outboxBatch {
			wait = 0 // more outbox rows are waiting
		} else if kicked && fanned == 0 {
			recheck = 0
		}
		if fanned == 0 && recheck < len(rechecks) {
			wait = rechecks[recheck]
			recheck++
		} else if fanned > 0 {
			recheck = len(rechecks)
		}
		if next, ok, err := e.nextDue(ctx); err == nil && ok {
			if d := next.Sub(e.cfg.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// releaseOwn drops the leases cfg.NodeID holds (left by a previous run of
// this node).
func (e *Engine) releaseOwn(ctx context.Context) error {
	return e.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_outbox SET lease_owner = '', lease_until_ms = 0 WHERE lease_owner = ?"), e.cfg.NodeID); err != nil {
			return fmt.Errorf("releasing outbox leases: %w", err)
		}
		if _, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_deliveries SET lease_owner = '', lease_until_ms = 0 WHERE lease_owner = ?"), e.cfg.NodeID); err != nil {
			return fmt.Errorf("releasing notification leases: %w", err)
		}
		return nil
	})
}

// nextDue is when the earliest pending job this node could start becomes
// due: not in flight, and not of a target whose slots are all taken here
// (a finished attempt wakes Run for those). ok is false when there is none
// (or every worker is busy).
func (e *Engine) nextDue(ctx context.Context) (time.Time, bool, error) {
	now := e.cfg.Now().UnixMilli()
	q := "SELECT MIN(next_attempt_ms) FROM notify_deliveries WHERE state = 'pending' AND lease_until_ms <= ?"
	args := []any{now}
	e.mu.Lock()
	if e.total >= e.cfg.Workers {
		e.mu.Unlock()
		return time.Time{}, false, nil
	}
	q, args = e.excludeFullLocked(q, args)
	e.mu.Unlock()
	var ms sql.NullInt64
	err := e.db.QueryRowContext(ctx, e.db.Rebind(q), args...).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, false, err
	}
	return time.UnixMilli(ms.Int64), true, nil
}

// excludeFullLocked adds to a query of notify_deliveries the conditions
// that leave out the targets and accounts whose slots on this node are all
// taken. e.mu is held.
func (e *Engine) excludeFullLocked(q string, args []any) (string, []any) {
	var full []any
	for t, n := range e.inflight {
		if n >= e.cfg.PerTarget {
			full = append(full, t)
		}
	}
	if len(full) > 0 {
		q += " AND target NOT IN (" + store.Placeholders(len(full)) + ")"
		args = append(args, full...)
	}
	full = full[:0]
	for a, n := range e.accounts {
		if n >= e.cfg.PerAccount {
			full = append(full, a)
		}
	}
	if len(full) > 0 {
		q += " AND account NOT IN (" + store.Placeholders(len(full)) + ")"
		args = append(args, full...)
	}
	return q, args
}

// truncate bounds an error text stored in last_error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// errLeaseLost: another node took the row (its lease expired first).
var errLeaseLost = errors.New("lease lost")
