package retention

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

const day = 24 * time.Hour

type world struct {
	t      *testing.T
	db     *store.DB
	spool  *spool.Spool
	queue  *queue.Queue
	events *event.Log
	in     *inbound.Backend
	now    time.Time
}

func newWorld(t *testing.T, backend string) *world {
	db := store.OpenTest(t, backend)
	batch := store.RunTestBatcher(t, store.NewBatcher(db, 0, 0))
	rules, err := bounce.NewClassifier("")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, spool: spool.New(db), queue: queue.New(db), events: event.NewLog(db),
		now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	w.in = &inbound.Backend{DB: db, Batch: batch, Spool: w.spool, Events: w.events, Rules: rules, Domain: "bounces.petrel.test",
		Mailboxes: []string{"postmaster"}, VERPSecret: []byte("s"), Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return w.now }}
	return w
}

// accept stores a message accepted at `at` with its Send event; queued says
// whether its recipient is still in the queue (then its body is kept).
func (w *world) accept(at time.Time, queued bool) string {
	w.t.Helper()
	id := event.NewID(at)
	mail, _ := json.Marshal(event.Mail{MessageID: id, Destination: []string{"r@far.test"}})
	err := w.db.Tx(context.Background(), func(tx *sql.Tx) error {
		if err := w.spool.PutTx(tx, &spool.Message{ID: id, Account: "acme", Created: at, MailFrom: "s@example.com", Mail: mail, Body: []byte("the body")}); err != nil {
			return err
		}
		if err := w.queue.InsertTx(tx, &queue.Entry{ID: id + "/0", MessageID: id, Account: "acme", Rcpt: "r@far.test", Domain: "far.test",
			Created: at, NextAttempt: at, Deadline: at.Add(14 * time.Hour)}, "", time.Time{}); err != nil {
			return err
		}
		return w.events.AddTx(tx, id, "acme", "", at, event.SendDetail{})
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if !queued {
		w.finish(id, at.Add(time.Minute), true)
	}
	return id
}

// finish retires the message's recipient with a Delivery event, as delivery
// does; release=false leaves the body behind, as two concurrent retirements
// on PostgreSQL can.
func (w *world) finish(id string, at time.Time, release bool) {
	w.t.Helper()
	err := w.db.Tx(context.Background(), func(tx *sql.Tx) error {
		if err := w.events.AddTx(tx, id, "acme", "r@far.test", at, event.DeliveryDetail{}); err != nil {
			return err
		}
		if err := w.queue.DeleteTx(tx, id+"/0"); err != nil {
			return err
		}
		if release {
			return w.spool.ReleaseBodyTx(tx, id, w.queue.PendingTx)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) event(id string, at time.Time, d event.Detail) {
	w.t.Helper()
	if err := w.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return w.events.AddTx(tx, id, "acme", "r@far.test", at, d)
	}); err != nil {
		w.t.Fatal(err)
	}
}

// state is what is stored of a message: its body, whether its record
// exists, and its events, each of which must still find the message's
// "mail" object (spool.MailObjects), which events are rendered with.
func (w *world) state(id string) (body string, record bool, kinds []string) {
	w.t.Helper()
	b, err := w.spool.Body(context.Background(), id)
	record = err == nil
	evs, err := w.events.List(context.Background(), event.Filter{MessageID: id})
	if err != nil {
		w.t.Fatal(err)
	}
	mails, err := w.spool.MailObjects(context.Background(), []string{id})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, e := range evs {
		if !strings.Contains(string(mails[e.MessageID]), id) {
			w.t.Errorf("event %s of %s kept without its mail object: %s", e.Kind, id, mails[e.MessageID])
		}
		kinds = append(kinds, string(e.Kind))
	}
	return string(b), record, kinds
}

func (w *world) receive(at time.Time, n int) {
	w.t.Helper()
	saved := w.now
	w.now = at
	defer func() { w.now = saved }()
	for i := range n {
		raw := fmt.Appendf(nil, "From: someone@else.test\r\nSubject: hello %d %s\r\n\r\nnot a bounce\r\n", i, at)
		if _, err := w.in.Receive(context.Background(), "", []inbound.Rcpt{{Addr: "postmaster@bounces.petrel.test"}}, raw); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) inboundRows() int64 {
	use, err := inbound.NewStore(w.db).Usage(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	var n int64
	for _, u := range use {
		n += u.Rows
	}
	return n
}

// TestPruneOnSchedule: with a controllable clock, bodies, events, message
// records and inbound mail go when their periods say, in small batches,
// while a message still in the queue keeps its body, record and events,
// and an event is never read without its message's mail object.
func TestPruneOnSchedule(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			t0 := w.now
			// In the order a running Petrel would record them (ids follow time).
			done := w.accept(t0.Add(-40*day), false) // finished long ago
			late := w.accept(t0.Add(-40*day), false) // finished long ago, complaint 5 days ago
			var many []string
			for i := range 12 {
				many = append(many, w.accept(t0.Add(-35*day+time.Duration(i)*time.Second), false))
			}
			w.event(late, t0.Add(-5*day), event.ComplaintDetail{})
			leaked := w.accept(t0.Add(-2*day), true) // body left behind by a racing retirement
			w.finish(leaked, t0.Add(-2*day+time.Minute), false)
			queued := w.accept(t0.Add(-3*time.Hour), true) // still in the queue
			fresh := w.accept(t0.Add(-time.Hour), false)   // finished an hour ago
			w.receive(t0.Add(-20*day), 7)
			w.receive(t0.Add(-1*day), 2)

			p := &Pruner{
				Policy: Policy{Messages: 30 * day, Events: 30 * day, Inbound: 14 * day, BodyGrace: 15 * time.Hour},
				Spool:  w.spool, Queue: w.queue, Events: w.events, Inbound: inbound.NewStore(w.db), Log: slog.New(slog.DiscardHandler),
				Now: func() time.Time { return w.now }, Batch: 5, Pause: -1,
			}
			r, err := p.Once(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// 14 messages × 2 events older than 30 days; 14 records minus the
			// one whose complaint is recent; 7 inbound messages; one body.
			if r != (Result{BodiesReleased: 1, Events: 28, Messages: 13, Inbound: 7}) {
				t.Errorf("first pass: %+v", r)
			}
			check := func(name, id, wantBody string, wantRecord bool, wantKinds string) {
				t.Helper()
				body, record, kinds := w.state(id)
				if body != wantBody || record != wantRecord || strings.Join(kinds, ",") != wantKinds {
					t.Errorf("%s: body %q record %v events %v; want %q %v [%s]", name, body, record, kinds, wantBody, wantRecord, wantKinds)
				}
			}
			check("finished 40 days ago", done, "", false, "")
			check("late complaint", late, "", true, "Complaint")
			check("leaked body", leaked, "", true, "Send,Delivery")
			check("in the queue", queued, "the body", true, "Send")
			check("fresh", fresh, "", true, "Send,Delivery")
			for _, id := range many {
				check("finished 35 days ago", id, "", false, "")
			}
			if n := w.inboundRows(); n != 2 {
				t.Errorf("inbound rows after the first pass: %d, want 2", n)
			}
			// What petrel storage shows: one body pending (the queued
			// message), four records, six events.
			pr, pb, rr, rb, err := w.spool.Usage(t.Context())
			if err != nil || pr != 1 || pb != int64(len("the body")) || rr != 4 || rb <= pb {
				t.Errorf("spool usage: pending %d rows %d bytes, records %d rows %d bytes, %v", pr, pb, rr, rb, err)
			}
			if er, eb, err := w.events.Usage(t.Context()); err != nil || er != 6 || eb == 0 {
				t.Errorf("event usage: %d rows %d bytes, %v", er, eb, err)
			}

			// Nothing is due again until time passes.
			if r, err := p.Once(t.Context()); err != nil || r != (Result{}) {
				t.Errorf("second pass at the same time: %+v, %v", r, err)
			}

			// 26 days on: the complaint is 31 days old, so it goes, and then
			// the record it kept; the message still queued keeps everything.
			w.now = t0.Add(26 * day)
			if _, err := p.Once(t.Context()); err != nil {
				t.Fatal(err)
			}
			check("late complaint, 26 days on", late, "", false, "")
			check("leaked, 26 days on", leaked, "", true, "Send,Delivery")
			check("in the queue, 26 days on", queued, "the body", true, "Send")
			if n := w.inboundRows(); n != 0 {
				t.Errorf("inbound rows 26 days on: %d, want 0", n)
			}
			w.now = t0.Add(40 * day)
			if _, err := p.Once(t.Context()); err != nil {
				t.Fatal(err)
			}
			check("leaked, 40 days on", leaked, "", false, "")
			// Events go by age; the record and body of a queued message stay.
			check("in the queue, 40 days on", queued, "the body", true, "")
		})
	}
}

// TestKeepForever: zero periods keep everything, and message records stay
// while events do (every message has its Send event).
func TestKeepForever(t *testing.T) {
	w := newWorld(t, "sqlite")
	id := w.accept(w.now.Add(-400*day), false)
	w.receive(w.now.Add(-400*day), 1)
	p := &Pruner{Policy: Policy{Messages: day}, Spool: w.spool, Queue: w.queue, Events: w.events, Inbound: inbound.NewStore(w.db),
		Now: func() time.Time { return w.now }, Pause: -1}
	if r, err := p.Once(t.Context()); err != nil || r != (Result{}) {
		t.Errorf("pass: %+v, %v", r, err)
	}
	if _, record, kinds := w.state(id); !record || len(kinds) != 2 || w.inboundRows() != 1 {
		t.Errorf("record %v events %v inbound %d: want all kept", record, kinds, w.inboundRows())
	}
}

// TestRunStops: Run prunes at once and returns when its context ends.
func TestRunStops(t *testing.T) {
	w := newWorld(t, "sqlite")
	id := w.accept(w.now.Add(-40*day), false)
	p := &Pruner{Policy: Policy{Messages: 30 * day, Events: 30 * day}, Spool: w.spool, Queue: w.queue, Events: w.events, Inbound: inbound.NewStore(w.db),
		Now: func() time.Time { return w.now }, Log: slog.New(slog.DiscardHandler), Every: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, record, _ := w.state(id); !record {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestInterval (issue 10, H): with --retention-events 1s the pruner ran at
// start and then only every 10 minutes; passes must follow the shortest
// retention (a tenth of it, between 1 s and 10 min).
func TestInterval(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want time.Duration
	}{
		{Policy{}, 10 * time.Minute},
		{Policy{Messages: 30 * day, Events: 30 * day, Inbound: 14 * day}, 10 * time.Minute},
		{Policy{Events: time.Second}, time.Second},
		{Policy{Events: 5 * time.Second, Inbound: 14 * day}, time.Second},
		{Policy{Messages: 30 * day, Events: time.Minute}, 6 * time.Second},
		{Policy{Inbound: time.Hour}, 6 * time.Minute},
		{Policy{Messages: 100 * time.Minute}, 10 * time.Minute},
		{Policy{BodyGrace: time.Second}, 10 * time.Minute},
	} {
		if got := c.p.Interval(); got != c.want {
			t.Errorf("%+v: every %v, want %v", c.p, got, c.want)
		}
	}

	// Run with a 1 s event retention passes again within the second.
	w := newWorld(t, "sqlite")
	passes := make(chan struct{}, 16)
	p := &Pruner{Policy: Policy{Events: time.Second}, Spool: w.spool, Queue: w.queue, Events: w.events, Inbound: inbound.NewStore(w.db),
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { passes <- struct{}{}; return time.Now() }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 2 {
		select {
		case <-passes:
		case <-time.After(3 * time.Second):
			t.Fatalf("pass %d did not run within 3 s with a 1 s retention", i+1)
		}
	}
}
