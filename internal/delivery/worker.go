package delivery

import (
	"context"
	"runtime/debug"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/smtpreply"
)

// site is the queue in memory of one destination and its workers.
type site struct {
	name    string
	pending []*queue.Entry
	active  int           // workers serving this site
	waiting int           // of which idle, waiting for work
	wake    chan struct{} // signals a waiting worker
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

// worker is one worker of a site: it delivers the site's entries one after
// another over one reused connection.
type worker struct {
	d    *Deliverer
	site *site
	c    *client // the open connection kept for the next entry; nil when none
	slot bool    // holds one of d.conns (from before dialing until the connection is closed)
}

// serve runs a worker of s until the site has no work for it.
func (d *Deliverer) serve(s *site) {
	w := &worker{d: d, site: s}
	defer w.hangUp()
	for {
		e := d.next(s, w.c != nil)
		if e == nil {
			return
		}
		w.deliver(e)
	}
}

// internalError is the outcome recorded for an attempt that panicked: a
// temporary failure, so the entry is retried after the usual backoff.
var internalError = smtpreply.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem: internal error during delivery"}

// deliver makes one attempt for e and records its outcome. A panic is
// recovered here, at the root of the attempt: the connection (whose state is
// unknown) is dropped and its slot returned, the stack is logged, and e is
// recorded as a temporary failure unless its outcome was already recorded.
// The worker stays registered with its site and goes on with the next entry.
func (w *worker) deliver(e *queue.Entry) {
	recorded := false
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		panics.Add(1)
		w.d.log.Error("delivery attempt panicked", "site", w.site.name, "message_id", e.MessageID, "rcpt", e.Rcpt,
			"panic", p, "stack", string(debug.Stack()))
		w.drop()
		if !recorded {
			w.d.record(e, outcome{reply: internalError}, time.Now())
		}
	}()
	if w.d.beforeAttempt != nil {
		w.d.beforeAttempt(e)
	}
	if simulator.Is(e.Domain) {
		local := e.Rcpt[:max(strings.LastIndexByte(e.Rcpt, '@'), 0)] // a quoted local part may hold "@"
		recorded = true
		w.d.recordSimulated(e, simulator.Lookup(local), time.Now())
		return
	}
	o, ok := w.attempt(e)
	if !ok {
		return
	}
	recorded = true
	w.d.record(e, o, time.Now())
}

// hangUp ends the worker's connection politely (QUIT) and returns its slot.
func (w *worker) hangUp() {
	if w.c != nil {
		w.c.quit()
		w.c = nil
	}
	w.release()
}

// drop closes the worker's connection at once and returns its slot.
func (w *worker) drop() {
	if w.c != nil {
		w.c.close()
		w.c = nil
	}
	w.release()
}

func (w *worker) release() {
	if w.slot {
		w.slot = false
		<-w.d.conns
	}
}

// acquire takes a global connection slot, waiting for one; false when ctx
// ends first.
func (w *worker) acquire(ctx context.Context) bool {
	select {
	case w.d.conns <- struct{}{}:
		w.slot = true
		return true
	case <-ctx.Done():
		return false
	}
}
