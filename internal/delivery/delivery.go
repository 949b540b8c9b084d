// Package delivery is the queue worker: it takes queue entries (handed over
// in memory at acceptance, or leased from the queue when due), delivers each
// recipient over SMTP, and records the outcome as SES events in the same
// transaction that retires or reschedules the entry.
//
// One attempt, step by step:
//  1. the entry joins the queue of its site (the recipient domain, or the
//     relay host when one is configured); at most MaxConnsPerSite workers
//     serve a site, each holding one connection it reuses for the next entry;
//  2. simulator recipients are answered by package simulator, without network;
//  3. otherwise the worker resolves the MX hosts (null MX → permanent failure;
//     no MX → the domain's own A/AAAA), then tries each address in order until
//     one accepts a connection;
//  4. it sends one transaction with the VERP return path of this recipient;
//  5. 2xx → Delivery event, entry retired; 5xx → Bounce (Permanent), retired;
//     4xx, timeouts, connection and DNS failures → DeliveryDelay and a retry
//     with exponential backoff and jitter, until the deadline, when it becomes
//     a Transient Bounce. Unknown errors are temporary.
package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/smtpreply"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
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
	Timeout          time.Duration      // per SMTP command / connect (default 60s)
	IdleTime         time.Duration      // keep an idle connection this long for reuse (default 2s)
	PollInterval     time.Duration      // longest sleep between queue scans (default 1s)
	MaxPending       int                // entries held in memory waiting for a worker, all sites (default 10,000)
	Rules            *bounce.Classifier // bounce rules in force (default: the built-in rules)
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Rules == nil {
		c.Rules, _ = bounce.NewClassifier("")
	}
	set(&c.RetryBase, time.Minute)
	set(&c.RetryMax, time.Hour)
	set(&c.LeaseFor, 5*time.Minute)
	set(&c.Timeout, 60*time.Second)
	set(&c.IdleTime, 2*time.Second)
	set(&c.PollInterval, time.Second)
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

	mu       sync.Mutex
	sites    map[string]*site
	pending  int             // entries in all sites' pending lists
	overflow bool            // work was turned away (Room false, or the poller held back): kick the poller when there is room
	ctx      context.Context // set by Run; nil before
	wg       sync.WaitGroup
	stopped  bool
}

type site struct {
	name    string
	pending []*queue.Entry
	active  int           // workers serving this site
	waiting int           // of which idle, waiting for work
	wake    chan struct{} // signals a waiting worker
}

// New returns a Deliverer.
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

// poll leases due entries (retries, and work left by other or earlier nodes)
// and sleeps until the next is due, at most PollInterval (other nodes may
// add work).
func (d *Deliverer) poll(ctx context.Context) {
	const batch = 256
	for ctx.Err() == nil {
		now := time.Now()
		d.mu.Lock()
		room := min(batch, d.cfg.MaxPending-d.pending)
		if room <= 0 {
			d.overflow = true // a worker kicks us when the backlog halves
		}
		d.mu.Unlock()
		var entries []*queue.Entry
		var err error
		if room > 0 {
			entries, err = d.queue.Lease(ctx, d.cfg.NodeID, now, room, d.cfg.LeaseFor)
			if err != nil && ctx.Err() == nil {
				d.log.Error("leasing queue entries", "err", err)
			}
		}
		if len(entries) > 0 {
			d.mu.Lock()
			for _, e := range entries {
				d.enqueueLocked(e)
			}
			d.mu.Unlock()
		}
		if room > 0 && len(entries) == room {
			continue
		}
		wait := d.cfg.PollInterval
		if next, ok, err := d.queue.NextDue(ctx, now); err == nil && ok {
			if w := time.Until(next); w < wait {
				wait = max(w, time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-d.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *Deliverer) siteName(e *queue.Entry) string {
	if d.cfg.RelayHost != "" {
		return "relay:" + d.cfg.RelayHost
	}
	return e.Domain
}

func (d *Deliverer) enqueueLocked(e *queue.Entry) {
	name := d.siteName(e)
	s := d.sites[name]
	if s == nil {
		s = &site{name: name, wake: make(chan struct{}, 1)}
		d.sites[name] = s
	}
	s.pending = append(s.pending, e)
	d.pending++
	if s.waiting > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
		return
	}
	if s.active < d.cfg.MaxConnsPerSite {
		s.active++
		d.wg.Go(func() { d.serve(s) })
	}
}

// next takes the next entry of s; a worker holding a connection waits up to
// IdleTime for one (to reuse the connection), one without returns at once.
// nil means the worker should exit (it has already been unregistered).
func (d *Deliverer) next(s *site, connected bool) *queue.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	deadline := time.Now()
	if connected {
		deadline = deadline.Add(d.cfg.IdleTime)
	}
	for {
		if len(s.pending) > 0 && !d.stopped {
			e := s.pending[0]
			s.pending[0] = nil
			s.pending = s.pending[1:]
			d.pending--
			if d.overflow && d.pending <= d.cfg.MaxPending/2 {
				d.overflow = false
				d.Kick()
			}
			return e
		}
		wait := time.Until(deadline)
		if d.stopped || wait <= 0 {
			s.active--
			if s.active == 0 && len(s.pending) == 0 {
				delete(d.sites, s.name)
			}
			return nil
		}
		s.waiting++
		d.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
		d.mu.Lock()
		s.waiting--
	}
}

// serve is one worker of a site: it delivers the site's entries one after
// another over one reused connection.
func (d *Deliverer) serve(s *site) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("delivery worker panic", "site", s.name, "panic", r)
		}
	}()
	var c *client
	defer func() {
		if c != nil {
			c.quit()
			<-d.conns
		}
	}()
	for {
		e := d.next(s, c != nil)
		if e == nil {
			return
		}
		c = d.attempt(e, c)
	}
}

// outcome is the result of one attempt for one recipient.
type outcome struct {
	reply    smtpreply.Reply
	command  string // the SMTP command the reply answered; "" before MAIL
	remoteIP string
}

// attempt delivers one entry and records the outcome; it returns the
// connection to reuse (nil when there is none).
func (d *Deliverer) attempt(e *queue.Entry, c *client) *client {
	ctx := d.ctx
	if simulator.Is(e.Domain) {
		local := e.Rcpt[:max(strings.LastIndexByte(e.Rcpt, '@'), 0)] // a quoted local part may hold "@"
		d.recordSimulated(e, simulator.Lookup(local), time.Now())
		return c
	}
	rp := bounce.ReturnPath(e.MessageID, rcptIndex(e.ID), d.cfg.ReturnPathDomain, d.cfg.VERPSecret)
	if r, command, ok := checkPaths(rp, e.Rcpt); !ok {
		// An address that cannot be written safely (accepted by an older
		// version, say) bounces at once, without a connection.
		d.record(e, outcome{reply: r, command: command}, time.Now())
		return c
	}
	body := e.Body
	e.Body = nil // the entry may wait for a retry: do not hold the body in memory
	if body == nil {
		var err error
		body, err = d.spool.Body(ctx, e.MessageID)
		if err != nil && ctx.Err() != nil {
			return c // shutting down: the entry stays leased and is reclaimed at restart
		}
		if err != nil {
			d.log.Error("loading message for delivery", "message_id", e.MessageID, "err", err)
			d.record(e, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem: message body unavailable"}}, time.Now())
			return c
		}
	}
	if c != nil && c.used >= 100 {
		c.quit()
		<-d.conns
		c = nil
	}
	var o outcome
	if c == nil {
		c, o = d.connect(ctx, e.Domain)
		if c == nil {
			// A failure caused by our own shutdown is not the destination's:
			// record nothing, the lease brings the entry back.
			if ctx.Err() == nil {
				d.record(e, o, time.Now())
			}
			return nil
		}
	}
	reply, command, err := c.send(ctx, rp, e.Rcpt, body)
	o = outcome{reply: reply, command: command, remoteIP: c.remoteIP}
	if err != nil {
		c.close()
		<-d.conns
		c = nil
		o.reply = smtpreply.Reply{Code: 451, Enhanced: "4.4.2", Text: "Connection lost during delivery: " + err.Error()}
		if ctx.Err() != nil {
			// Shutting down mid-attempt: leave the entry leased; a restart of
			// this node reclaims it at once, another node after the lease.
			return nil
		}
	}
	d.record(e, o, time.Now())
	return c
}

func rcptIndex(entryID string) string {
	_, idx, _ := strings.Cut(entryID, "/")
	return idx
}

// connect finds and connects to the destination of domain. On failure it
// returns a nil client and the outcome to record.
func (d *Deliverer) connect(ctx context.Context, domain string) (*client, outcome) {
	var addrs []string
	if d.cfg.RelayHost != "" {
		addrs = []string{d.cfg.RelayHost}
	} else {
		hosts, nullMX, err := d.dns.mxHosts(ctx, domain)
		if nullMX {
			return nil, outcome{reply: smtpreply.Reply{Code: 556, Enhanced: "5.1.10",
				Text: "Recipient address rejected: " + domain + " does not accept mail (null MX)"}}
		}
		if err != nil {
			return nil, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.4.3", Text: "DNS lookup failed: " + err.Error()}}
		}
		var lastErr error
		for _, h := range hosts {
			ips, err := d.dns.addrs(ctx, h)
			if err != nil {
				lastErr = err
				continue
			}
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(d.cfg.Port)))
			}
		}
		if len(addrs) == 0 {
			return nil, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.4.3", Text: fmt.Sprintf("DNS lookup failed for the MX hosts of %s: %v", domain, lastErr)}}
		}
	}
	select {
	case d.conns <- struct{}{}:
	case <-ctx.Done():
		return nil, outcome{reply: smtpreply.Reply{Code: 451, Enhanced: "4.3.2", Text: "Shutting down"}}
	}
	var last outcome
	for _, addr := range addrs {
		c, err := dialSMTP(ctx, addr, d.cfg.Hostname, d.cfg.Timeout, false)
		var te *tlsError
		if errors.As(err, &te) {
			c, err = dialSMTP(ctx, addr, d.cfg.Hostname, d.cfg.Timeout, true)
		}
		if err == nil {
			return c, outcome{}
		}
		host, _, _ := net.SplitHostPort(addr)
		var r smtpreply.Reply
		if errors.As(err, &r) {
			last = outcome{reply: smtpreply.Reply{Code: 421, Enhanced: "4.4.1", Text: "Greeting refused: " + r.String()}, remoteIP: host}
		} else {
			last = outcome{reply: smtpreply.Reply{Code: 421, Enhanced: "4.4.1", Text: "Unable to connect to remote host: " + err.Error()}, remoteIP: host}
		}
	}
	<-d.conns
	return nil, last
}

// record stores the outcome of an attempt: event plus queue change, in one
// group-committed transaction (see save).
func (d *Deliverer) record(e *queue.Entry, o outcome, now time.Time) {
	var fn func(tx *sql.Tx) error
	retry := false
	r := o.reply
	switch {
	case r.Positive():
		fn = d.finish(e, event.Delivery, event.DeliveryDetail{
			Timestamp: event.Timestamp(now), ProcessingTimeMillis: now.Sub(e.Created).Milliseconds(),
			Recipients: []string{e.Rcpt}, SMTPResponse: r.String(), ReportingMTA: d.cfg.Hostname, RemoteMtaIP: o.remoteIP})
	case r.Permanent():
		// A 5xx is final for this message, whatever the verdict: Transient
		// means the address is good but the receiver refused this mail
		// (policy, content, reputation), so it is not suppressed.
		fn = d.finish(e, event.Bounce, d.bounceDetail(e, d.classify(e, o), r, o.remoteIP, now))
	default:
		if r.Code == 0 {
			r = smtpreply.Reply{Code: 451, Enhanced: "4.0.0", Text: "Unknown delivery failure"}
		}
		attempts := e.Attempts + 1
		if !now.Before(e.Deadline) {
			// Retries ran out: the last answer decides, and an answer the
			// rules call Permanent (a 4.1.1, say) is reported as such.
			v := d.classify(e, o)
			if v.Type != bounce.Permanent {
				v.Type = bounce.Transient
				if v.SubType == bounce.Undetermined {
					v.SubType = bounce.General
				}
			}
			fn = d.finish(e, event.Bounce, d.bounceDetail(e, v, r, o.remoteIP, now))
			break
		}
		next := now.Add(d.backoff(attempts))
		if next.After(e.Deadline) {
			next = e.Deadline
		}
		delay := event.DeliveryDelayDetail{
			Timestamp: event.Timestamp(now), DelayType: bounce.DelayType(r, d.classify(e, o)), ExpirationTime: event.Timestamp(e.Deadline),
			DelayedRecipients: []event.DelayedRecipient{{EmailAddress: e.Rcpt, Status: r.Status(), DiagnosticCode: "smtp; " + r.String()}},
			ReportingMTA:      o.remoteIP,
		}
		fn = func(tx *sql.Tx) error {
			if err := d.events.AddTx(tx, event.DeliveryDelay, e.MessageID, e.Account, e.Rcpt, now, delay); err != nil {
				return err
			}
			return d.queue.RescheduleTx(tx, e.ID, attempts, next, r.String())
		}
		retry = true
	}
	d.save(e, fn, retry)
}

// save group-commits the record of an attempt without waiting for it: the
// worker goes on to its next entry. Should the record be lost (crash before
// the commit, or a failed transaction), the entry stays leased and is tried
// again after the lease or at restart — delivery is at-least-once.
func (d *Deliverer) save(e *queue.Entry, fn func(*sql.Tx) error, retry bool) {
	err := d.batch.Submit(fn, func(err error) {
		if err != nil {
			d.log.Error("recording delivery outcome", "message_id", e.MessageID, "rcpt", e.Rcpt, "err", err)
		}
		if retry {
			d.Kick() // the poller's next wake-up may now be earlier
		}
	})
	if err != nil {
		d.log.Error("recording delivery outcome", "message_id", e.MessageID, "rcpt", e.Rcpt, "err", err)
	}
}

// classify applies the bounce rules in force to an attempt's answer.
func (d *Deliverer) classify(e *queue.Entry, o outcome) bounce.Verdict {
	a := bounce.AnswerOf(o.reply)
	a.Command = o.command
	a.Domain = e.Domain
	return d.cfg.Rules.Classify(a)
}

func (d *Deliverer) bounceDetail(e *queue.Entry, v bounce.Verdict, r smtpreply.Reply, remoteIP string, now time.Time) event.BounceDetail {
	return event.BounceDetail{
		BounceType: v.Type, BounceSubType: v.SubType, Reason: v.Reason, Rule: v.Rule,
		BouncedRecipients: []event.BouncedRecipient{{EmailAddress: e.Rcpt, Action: "failed", Status: r.Status(), DiagnosticCode: "smtp; " + r.String()}},
		Timestamp:         event.Timestamp(now), FeedbackID: event.NewID(now), RemoteMtaIP: remoteIP, ReportingMTA: "dsn; " + d.cfg.Hostname,
	}
}

// finish returns the transaction that records a final event and retires e.
func (d *Deliverer) finish(e *queue.Entry, kind event.Kind, detail any) func(*sql.Tx) error {
	now := time.Now()
	return func(tx *sql.Tx) error {
		if err := d.events.AddTx(tx, kind, e.MessageID, e.Account, e.Rcpt, now, detail); err != nil {
			return err
		}
		if err := d.queue.DeleteTx(tx, e.ID); err != nil {
			return err
		}
		return d.spool.ReleaseBodyTx(tx, e.MessageID)
	}
}

// recordSimulated stores the events SES produces for a simulator recipient.
func (d *Deliverer) recordSimulated(e *queue.Entry, o simulator.Outcome, now time.Time) {
	ts := event.Timestamp(now)
	fn := func(tx *sql.Tx) error {
		if o.Delivered {
			if err := d.events.AddTx(tx, event.Delivery, e.MessageID, e.Account, e.Rcpt, now, event.DeliveryDetail{
				Timestamp: ts, ProcessingTimeMillis: now.Sub(e.Created).Milliseconds(), Recipients: []string{e.Rcpt},
				SMTPResponse: simulator.SMTPResponse, ReportingMTA: d.cfg.Hostname}); err != nil {
				return err
			}
		}
		if b := o.Bounce; b != nil {
			if err := d.events.AddTx(tx, event.Bounce, e.MessageID, e.Account, e.Rcpt, now, event.BounceDetail{
				BounceType: b.Type, BounceSubType: b.SubType,
				BouncedRecipients: []event.BouncedRecipient{{EmailAddress: e.Rcpt, Action: b.Action, Status: b.Status, DiagnosticCode: b.Diagnostic}},
				Timestamp:         ts, FeedbackID: event.NewID(now), ReportingMTA: reportingMTA(b, d.cfg.Hostname)}); err != nil {
				return err
			}
		}
		if c := o.Complaint; c != nil {
			if err := d.events.AddTx(tx, event.Complaint, e.MessageID, e.Account, e.Rcpt, now, event.ComplaintDetail{
				ComplainedRecipients: []event.Recipient{{EmailAddress: e.Rcpt}}, Timestamp: ts, FeedbackID: event.NewID(now),
				UserAgent: c.UserAgent, ComplaintFeedbackType: c.FeedbackType, ArrivalDate: ts}); err != nil {
				return err
			}
		}
		if err := d.queue.DeleteTx(tx, e.ID); err != nil {
			return err
		}
		return d.spool.ReleaseBodyTx(tx, e.MessageID)
	}
	d.save(e, fn, false)
}

func reportingMTA(b *simulator.Bounce, host string) string {
	if b.Action == "" {
		return ""
	}
	return "dsn; " + host
}

// backoff is the delay before attempt n+1: RetryBase·2^(n-1), at most
// RetryMax, with ±20 % jitter so retries of one outage spread out.
func (d *Deliverer) backoff(n int) time.Duration {
	b := float64(d.cfg.RetryBase) * math.Pow(2, float64(n-1))
	if b > float64(d.cfg.RetryMax) {
		b = float64(d.cfg.RetryMax)
	}
	return time.Duration(b * (0.8 + 0.4*mrand.Float64()))
}
