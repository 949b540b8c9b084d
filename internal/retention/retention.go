// Package retention deletes what Petrel no longer needs, so that no table
// grows without bound: message bodies once every recipient is final,
// events, message records and return-path mail after their retention
// periods. Each table is pruned by the package that owns it; this package
// only decides when and in which order.
//
// One pass, in this order (each step in transactions of at most Batch rows,
// with Pause between them, so sends are never stalled behind a long
// delete):
//
//  1. bodies: spool.ReleaseBodies empties the bodies of messages accepted
//     more than BodyGrace ago that no queue entry needs (queue.PendingTx;
//     a safety net: the transaction that retires a message's last
//     recipient already does it);
//  2. events older than Events (event.Log.PruneBefore);
//  3. message records older than max(Messages, Events) that have no queue
//     entry and no event left (spool.PruneBefore, asking queue.PendingTx
//     and event.Log.ReferencedTx) — events are rendered with their
//     message's "mail" object, so the record goes only after its last
//     event, and a message still in the queue is never touched — and,
//     with the same cutoff, the List-Unsubscribe mailto: unsubscribes of
//     messages accepted before it (contacts.Service.PruneMailtoBefore), so
//     a mailto: address works as long as the message record is kept;
//  4. return-path mail older than Inbound (inbound.Store.PruneBefore);
//  5. suppression rows that decide nothing any more: account-list entries
//     past their expiry (the soft-bounce policy's), global-list entries
//     past their listing and their bounce memory, soft-bounce counts older
//     than the longest window (suppression.List.PruneExpired). This step
//     runs whatever the periods: it removes only what has lapsed;
//  6. notification dead letters older than Events (notify.Engine.PruneDead):
//     an undeliverable notification is kept as long as its event, for
//     "petrel notifications replay", and no longer;
//  7. statistics counters of 15-minute buckets older than Statistics
//     (stats.Counters.PruneBucket, one bucket per transaction, until none
//     that old is left).
//
// A zero period keeps that kind forever. Since every message has its Send
// event, message records are kept forever when events are.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Policy says how long each kind is kept; 0 keeps it forever.
type Policy struct {
	Messages time.Duration // message records (the "mail" object GetMessageInsights reads)
	Events   time.Duration // events
	Inbound  time.Duration // mail received at the return path
	// Statistics is how long the statistics counters are kept (what
	// BatchGetMetricData, GetSendStatistics and petrel stats read).
	Statistics time.Duration
	// BodyGrace is how long after acceptance a message may still be in the
	// queue (the delivery deadline plus a retry interval); older bodies no
	// queue entry needs are emptied. 0 skips that step.
	BodyGrace time.Duration
}

// Defaults for Pruner's pacing.
const (
	DefaultBatch = 500
	DefaultPause = 50 * time.Millisecond
	DefaultEvery = 10 * time.Minute
	MinEvery     = time.Second
)

// Interval is the time between passes that keeps each kind within about a
// tenth of its period of its retention: DefaultEvery (10 min), or a tenth
// of the shortest non-zero period of Messages, Events and Inbound when
// that is shorter, but never under MinEvery (1 s). With the default
// periods (days) a pass runs every 10 minutes; with --retention-events 1m,
// every 6 s.
func (p Policy) Interval() time.Duration {
	every := DefaultEvery
	for _, d := range []time.Duration{p.Messages, p.Events, p.Inbound} {
		if d > 0 {
			every = min(every, d/10)
		}
	}
	return max(every, MinEvery)
}

// Pruner runs retention passes.
type Pruner struct {
	Policy  Policy
	Spool   *spool.Spool
	Queue   *queue.Queue // asked whether a message still has entries
	Events  *event.Log
	Inbound *inbound.Store
	// Contacts, when set, has its mailto: unsubscribes pruned with the
	// message records (step 3).
	Contacts *contacts.Service
	// Suppression, when set, has its lapsed rows pruned (step 5).
	Suppression *suppression.List
	// DeadLetters, when set, has its dead letters pruned with the events
	// (step 6; notify.Engine).
	DeadLetters DeadLetters
	// Stats, when set, has its counters pruned (step 7).
	Stats *stats.Counters
	Log   *slog.Logger

	Now   func() time.Time // the clock (time.Now when nil)
	Batch int              // rows per transaction (DefaultBatch when 0)
	Pause time.Duration    // between transactions (DefaultPause when 0; < 0: none)
	Every time.Duration    // between passes (Policy.Interval when 0)

	bodyCursor string // ReleaseBodies resumes here: each message is looked at once
}

// DeadLetters prunes notifications that could not be delivered
// (notify.Engine.PruneDead): up to limit of those that died before before.
type DeadLetters interface {
	PruneDead(ctx context.Context, before time.Time, limit int) (int, error)
}

// Result is what one pass deleted.
type Result struct {
	BodiesReleased int
	Events         int
	Messages       int
	Mailto         int // mailto: unsubscribes, pruned with the messages
	Inbound        int
	Suppression    int
	DeadLetters    int
	Statistics     int // counter rows
}

// Run prunes at once and then every Every (Policy.Interval when 0) until
// ctx is done; a pass that fails is logged and retried at the next.
func (p *Pruner) Run(ctx context.Context) {
	every := p.Every
	if every <= 0 {
		every = p.Policy.Interval()
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r, err := p.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.log().Error("retention pass failed; retrying at the next", "err", err)
		case r != Result{}:
			p.log().Info("retention pass", "bodies_released", r.BodiesReleased, "events", r.Events, "messages", r.Messages, "mailto", r.Mailto, "inbound", r.Inbound, "suppression", r.Suppression, "dead_letters", r.DeadLetters, "statistics", r.Statistics)
		}
		t.Reset(every)
	}
}

// Once runs one pass (see the package doc) and returns what it deleted.
func (p *Pruner) Once(ctx context.Context) (Result, error) {
	var r Result
	now := p.now()
	limit := p.Batch
	if limit <= 0 {
		limit = DefaultBatch
	}
	if g := p.Policy.BodyGrace; g > 0 {
		err := p.drain(ctx, &r.BodiesReleased, func() (n int, done bool, err error) {
			n, p.bodyCursor, done, err = p.Spool.ReleaseBodies(ctx, now.Add(-g), p.bodyCursor, limit, p.Queue.PendingTx)
			return n, done, err
		})
		if err != nil {
			return r, err
		}
	}
	if d := p.Policy.Events; d > 0 {
		err := p.drain(ctx, &r.Events, func() (int, bool, error) {
			n, err := p.Events.PruneBefore(ctx, now.Add(-d), limit)
			return n, n < limit, err
		})
		if err != nil {
			return r, err
		}
	}
	if p.Policy.Messages > 0 && p.Policy.Events > 0 {
		// A message younger than Events still has its Send event.
		before := now.Add(-max(p.Policy.Messages, p.Policy.Events))
		cursor := ""
		err := p.drain(ctx, &r.Messages, func() (n int, done bool, err error) {
			n, cursor, done, err = p.Spool.PruneBefore(ctx, before, cursor, limit, p.Queue.PendingTx, p.Events.ReferencedTx)
			return n, done, err
		})
		if err != nil {
			return r, err
		}
		if p.Contacts != nil {
			err := p.drain(ctx, &r.Mailto, func() (int, bool, error) {
				n, err := p.Contacts.PruneMailtoBefore(ctx, before, limit)
				return n, n < limit, err
			})
			if err != nil {
				return r, err
			}
		}
	}
	if d := p.Policy.Inbound; d > 0 {
		err := p.drain(ctx, &r.Inbound, func() (int, bool, error) {
			n, err := p.Inbound.PruneBefore(ctx, now.Add(-d), limit)
			return n, n < limit, err
		})
		if err != nil {
			return r, err
		}
	}
	if p.Suppression != nil {
		err := p.drain(ctx, &r.Suppression, func() (int, bool, error) {
			return p.Suppression.PruneExpired(ctx, now, limit)
		})
		if err != nil {
			return r, err
		}
	}
	if d := p.Policy.Events; d > 0 && p.DeadLetters != nil {
		err := p.drain(ctx, &r.DeadLetters, func() (int, bool, error) {
			n, err := p.DeadLetters.PruneDead(ctx, now.Add(-d), limit)
			return n, n < limit, err
		})
		if err != nil {
			return r, err
		}
	}
	if d := p.Policy.Statistics; d > 0 && p.Stats != nil {
		err := p.drain(ctx, &r.Statistics, func() (int, bool, error) {
			n, err := p.Stats.PruneBucket(ctx, now.Add(-d))
			return n, n == 0, err
		})
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// drain calls step, which deletes one batch, until it reports done,
// adding what each call deleted to *total and pausing between calls.
func (p *Pruner) drain(ctx context.Context, total *int, step func() (n int, done bool, err error)) error {
	for {
		n, done, err := step()
		if err != nil {
			return err
		}
		*total += n
		if done {
			return nil
		}
		if err := p.pause(ctx); err != nil {
			return err
		}
	}
}

func (p *Pruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pruner) pause(ctx context.Context) error {
	d := p.Pause
	if d == 0 {
		d = DefaultPause
	}
	if d < 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Pruner) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
