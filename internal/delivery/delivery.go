// Package delivery is the queue worker: it takes queue entries (handed over
// in memory at acceptance, or leased from the queue when due), delivers each
// recipient over SMTP, and records the outcome as SES events in the same
// transaction that retires or reschedules the entry.
//
// One attempt, step by step:
//  1. the entry joins the queue of its site (the recipient domain, or the
//     relay host when one is configured); at most MaxConnsPerSite workers
//     serve a site, each holding one connection it reuses for the next entry
//     (worker.go);
//  2. simulator recipients are answered by package simulator, without network;
//  3. otherwise the worker resolves the MX hosts (null MX → permanent failure;
//     no MX → the domain's own A/AAAA), then tries each address in order until
//     one accepts a connection (attempt.go, dns.go);
//  4. it sends one transaction with the VERP return path of this recipient,
//     asking for SMTPUTF8 and 8BITMIME as the message needs them
//     (smtpclient.go, reply.go), within the time limits of RFC 5321 §4.5.3.2
//     (Timeouts). An entry whose configuration set requires TLS (TlsPolicy
//     REQUIRE) goes only over a connection upgraded by STARTTLS, certificate
//     unverified: a host without it is a temporary failure (421 4.7.4 or
//     4.7.5), the next MX is tried, and a worker's plain-text connection is
//     closed rather than reused for it (attempt.go);
//  5. 2xx → Delivery event, entry retired; 5xx → Bounce (Permanent), retired;
//     4xx, timeouts, connection and DNS failures → DeliveryDelay and a retry
//     with exponential backoff and jitter, until the deadline, when it becomes
//     a Bounce with SES's "Message expired" diagnostic (record.go). Unknown
//     errors are temporary.
//
// A panic in an attempt is recovered: the worker drops its connection and
// slot, logs the stack, records the entry as a temporary failure and goes on.
package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Config holds delivery settings. Zero values get the defaults noted.
type Config struct {
	Hostname         string             // EHLO name and reportingMTA
	NodeID           string             // lease owner
	RelayHost        string             // "host:port": deliver everything there instead of to MX hosts
	DNSServer        string             // "host:port" for MX/A/AAAA; "" = /etc/resolv.conf
	Port             int                // SMTP port of MX hosts (default 25)
	ReturnPathDomain string             // domain of VERP return paths (default Hostname)
	VERPSecret       []byte             // key of the VERP MAC
	MaxConnsPerSite  int                // concurrent connections per site (default 20)
	MaxConns         int                // concurrent connections in all (default 500)
	RetryBase        time.Duration      // first retry delay (default 1m), doubling
	RetryMax         time.Duration      // longest retry delay (default 1h)
	LeaseFor         time.Duration      // lease length for polled entries (default 5m)
	Timeouts         Timeouts           // SMTP client time limits (defaults: RFC 5321 §4.5.3.2)
	IdleTime         time.Duration      // keep an idle connection this long for reuse (default 2s)
	PollInterval     time.Duration      // longest sleep between queue scans (default 1s)
	MaxPending       int                // entries held in memory waiting for a worker, all sites (default 10,000)
	Rules            *bounce.Classifier // bounce rules in force (default: the built-in rules)
}

// Timeouts are how long the SMTP client waits for the receiving server at
// each stage. The stages RFC 5321 §4.5.3.2 names get its minimums as
// defaults: a server may take that long, and giving up sooner at the end of
// DATA delivers the message twice (it was received, the client retries).
// Each is the limit for one reply (or, for DataBlock, one write); a zero
// field gets the default noted.
type Timeouts struct {
	// Connect limits the TCP connect to one address (default 30s). RFC 5321
	// sets none; 30s is Postfix's smtp_connect_timeout, short enough to reach
	// the next MX address soon.
	Connect time.Duration
	// Greeting limits the wait for the 220 greeting (default 5m, §4.5.3.2.1).
	Greeting time.Duration
	// Hello limits the replies to EHLO, HELO and STARTTLS and the TLS
	// handshake (default 5m). RFC 5321 sets none; 5m is Postfix's
	// smtp_helo_timeout and smtp_starttls_timeout.
	Hello time.Duration
	// Mail limits the reply to MAIL, and to RSET (default 5m, §4.5.3.2.2).
	Mail time.Duration
	// Rcpt limits the reply to RCPT (default 5m, §4.5.3.2.3).
	Rcpt time.Duration
	// Data limits the 354 reply to DATA (default 2m, §4.5.3.2.4).
	Data time.Duration
	// DataBlock limits each write of message data (default 3m, §4.5.3.2.5).
	DataBlock time.Duration
	// DataEnd limits the reply to the final "." (default 10m, §4.5.3.2.6).
	DataEnd time.Duration
}

func setDuration(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func (t *Timeouts) defaults() {
	setDuration(&t.Connect, 30*time.Second)
	setDuration(&t.Greeting, 5*time.Minute)
	setDuration(&t.Hello, 5*time.Minute)
	setDuration(&t.Mail, 5*time.Minute)
	setDuration(&t.Rcpt, 5*time.Minute)
	setDuration(&t.Data, 2*time.Minute)
	setDuration(&t.DataBlock, 3*time.Minute)
	setDuration(&t.DataEnd, 10*time.Minute)
}

func (c *Config) defaults() {
	if c.Rules == nil {
		c.Rules, _ = bounce.NewClassifier("")
	}
	setDuration(&c.RetryBase, time.Minute)
	setDuration(&c.RetryMax, time.Hour)
	setDuration(&c.LeaseFor, 5*time.Minute)
	c.Timeouts.defaults()
	setDuration(&c.IdleTime, 2*time.Second)
	setDuration(&c.PollInterval, time.Second)
	if c.Port == 0 {
		c.Port = 25
	}
	if c.MaxConnsPerSite <= 0 {
		c.MaxConnsPerSite = 20
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 500
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 10000
	}
	if c.ReturnPathDomain == "" {
		c.ReturnPathDomain = c.Hostname
	}
}

// panics counts the panics delivery workers recovered from; the package's
// TestMain fails the run when one happened that a test did not expect.
var panics atomic.Int64

// Deliverer runs deliveries.
type Deliverer struct {
	cfg    Config
	queue  *queue.Queue
	spool  *spool.Spool
	events *event.Log
	batch  *store.Batcher
	dns    *resolver
	log    *slog.Logger

	conns chan struct{} // global connection slots
	kick  chan struct{}

	// beforeAttempt, when set (by tests), runs at the start of every
	// attempt, inside the worker's panic recovery.
	beforeAttempt func(*queue.Entry)

	// Suppression receives every Bounce and Complaint outcome, in the
	// transaction that records it (suppression.List.ObserveTx: automatic
	// additions). Set by daemon before Run; nil: none.
	Suppression *suppression.List
	// ConfigSets gives the suppression override of an entry's
	// configuration set to Suppression. Set by daemon; nil: no overrides.
	ConfigSets *configset.Service

	mu       sync.Mutex
	sites    map[string]*site
	pending  int             // entries in all sites' pending lists
	overflow bool            // work was turned away (Room false, or the poller held back): kick the poller when there is room
	ctx      context.Context // set by Run; nil before
	wg       sync.WaitGroup
	stopped  bool
}

// New returns a Deliverer. A nil log discards.
func New(cfg Config, q *queue.Queue, sp *spool.Spool, events *event.Log, batch *store.Batcher, log *slog.Logger) (*Deliverer, error) {
	cfg.defaults()
	cfg.ReturnPathDomain = strings.ToLower(strings.TrimSuffix(cfg.ReturnPathDomain, "."))
	if err := address.CheckEmail("postmaster@" + cfg.ReturnPathDomain); err != nil {
		return nil, fmt.Errorf("return path domain %q (from --return-path-domain or --hostname) cannot be written in MAIL FROM: %w", cfg.ReturnPathDomain, err)
	}
	var r *resolver
	if cfg.RelayHost == "" {
		var err error
		if r, err = newResolver(cfg.DNSServer); err != nil {
			return nil, err
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{cfg: cfg, queue: q, spool: sp, events: events, batch: batch, dns: r, log: log,
		conns: make(chan struct{}, cfg.MaxConns), kick: make(chan struct{}, 1), sites: map[string]*site{}}, nil
}

// Room reports whether n more entries fit in memory now. The queue in memory
// is bounded (MaxPending): past it, new entries wait in the database, where
// the poller finds them as workers catch up — memory does not grow with the
// length of the queue.
func (d *Deliverer) Room(n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.stopped || d.pending+n > d.cfg.MaxPending {
		d.overflow = true
		return false
	}
	return true
}

// Handoff takes entries accepted by this node (already leased to it). It
// reports false when the deliverer is not running.
func (d *Deliverer) Handoff(entries []*queue.Entry) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.stopped {
		return false
	}
	for _, e := range entries {
		d.enqueueLocked(e)
	}
	return true
}

// Run reclaims this node's old leases, then delivers until ctx is done. On
// return every worker has finished its current attempt and entries not
// started are handed back to the queue.
func (d *Deliverer) Run(ctx context.Context) error {
	if n, err := d.queue.ReleaseOwner(ctx, d.cfg.NodeID); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	} else if n > 0 {
		d.log.Info("reclaimed queue entries held before restart", "entries", n)
	}
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	d.poll(ctx)
	d.mu.Lock()
	d.stopped = true
	var unstarted []*queue.Entry
	for _, s := range d.sites {
		unstarted = append(unstarted, s.pending...)
		s.pending = nil
		d.pending = 0
		for range s.waiting {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	d.mu.Unlock()
	d.wg.Wait()
	if len(unstarted) > 0 {
		d.batch.Do(context.Background(), func(tx *sql.Tx) error {
			for _, e := range unstarted {
				if err := d.queue.ReleaseTx(tx, e.ID); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return nil
}

// Kick makes the poller look at the queue now.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}
