// Package stats keeps Petrel's sending statistics: counters of what
// happened to every recipient, kept as events are written, from which the
// reputation rates (../shared/spec/ses.md §8.1–8.2), SES's statistics
// operations (v2 BatchGetMetricData, v1 GetSendStatistics) and `petrel
// stats` are served without ever scanning the event log.
//
// Counting, for each event, in the transaction that records it
// (event.Observer):
//
//  1. the event's dimensions are found: the message's configuration set
//     and sending identity (from the Send event's facts, remembered per
//     message, or else read from the message's "mail" object), and the
//     recipient's ISP (ISPOf);
//  2. the event's metrics are added to its 15-minute bucket in
//     send_counters, one row per (account, bucket, set, identity, ISP,
//     metric, node) — each node its own rows, summed when read — gathered
//     over the transaction and written once just before it commits
//     (store.DB.Deferred): a group commit of many messages writes each
//     counter row once;
//  3. besides the plain counts (MetricSend, MetricDelivery, …) the
//     recipients and outcomes that count towards reputation are counted
//     apart (MetricCountedSend, MetricCountedBounce, MetricCountedComplaint):
//     hard bounces only; mailbox-simulator recipients, recipients that are
//     verified identities of the account and account-suppressed recipients
//     excluded; bounces because of the global suppression list included.
//     The plain counts are in the bucket of the event; the counted outcomes
//     in the bucket of their message's acceptance, with its send.
//
// Reading sums the rows of a time range (Reputation, Series, Totals).
package stats

import (
	"container/list"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// Bucket is the counters' granularity (SES GetSendStatistics: "each data
// point ... represents 15 minutes of activity").
const Bucket = 15 * time.Minute

// Metric names a counter.
type Metric string

// The counters. The plain ones count every recipient; the Counted ones
// only what counts towards reputation (see the package doc).
const (
	MetricSend            Metric = "send"             // recipients of accepted messages
	MetricDelivery        Metric = "delivery"         // Delivery events
	MetricPermanentBounce Metric = "permanent_bounce" // Bounce events of type Permanent
	MetricTransientBounce Metric = "transient_bounce" // Bounce events of type Transient or Undetermined
	MetricComplaint       Metric = "complaint"        // Complaint events
	MetricDeliveryDelay   Metric = "delivery_delay"   // DeliveryDelay events
	MetricReject          Metric = "reject"           // Reject events

	// Recipients of MetricSend not sent or not counted towards the
	// sending quota: account-suppressed ones and mailbox simulator ones
	// (written only when there are any, so ordinary mail pays nothing).
	MetricSuppressedSend Metric = "suppressed_send"
	MetricSimulatorSend  Metric = "simulator_send"

	MetricCountedSend      Metric = "counted_send"      // recipients that count towards reputation
	MetricCountedBounce    Metric = "counted_bounce"    // hard bounces that count
	MetricCountedComplaint Metric = "counted_complaint" // complaints that count
)

// Config configures Counters.
type Config struct {
	Node string // this node's id: the node column of the rows it writes
	// CacheSize is how many messages' dimensions are remembered between
	// their Send event and their later events (DefaultCacheSize when 0);
	// a message not remembered has them read from its "mail" object.
	CacheSize int
}

// DefaultCacheSize is Config.CacheSize's default: about 10 MB.
const DefaultCacheSize = 65536

// Counters keeps and reads the counters.
type Counters struct {
	db    *store.DB
	spool *spool.Spool
	cfg   Config

	mu    sync.Mutex
	dims  map[string]*list.Element // message id → its element in order
	order *list.List               // of *cached, most recent first
}

// dimensions are a message's configuration set and sending identity, or
// that it is Petrel's own mail.
type dimensions struct {
	set, identity string
	// verified are the recipients the accept path found covered by a
	// verified identity of the account (event.ExcludedVerified): their
	// bounces and complaints do not count (nil: none).
	verified map[string]bool
	// system: Petrel's own mail (feedback reports, notification emails:
	// sending.SendSystemMail), which is not the tenant's sending and is
	// not counted.
	system bool
}

// systemOperation is the "ses:operation" tag of Petrel's own mail
// (sending.SystemOperation; a test keeps the two equal).
const systemOperation = "PetrelSystemMail"

type cached struct {
	id string
	d  dimensions
}

// New returns Counters over db; sp reads the "mail" object of messages
// whose dimensions are not remembered.
func New(db *store.DB, sp *spool.Spool, cfg Config) *Counters {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	return &Counters{db: db, spool: sp, cfg: cfg, dims: map[string]*list.Element{}, order: list.New()}
}

var _ event.Observer = (*Counters)(nil)

// upsert adds to rows counters: the statement for rows rows. On
// PostgreSQL the node column also names the connection
// ("node/backend pid"): concurrent group commits of one node (several
// committers) then never wait on each other's counter rows, nor deadlock.
func (c *Counters) upsert(rows int) string {
	node := "?"
	if c.db.Dialect == store.Postgres {
		node = "? || '/' || pg_backend_pid()"
	}
	var b strings.Builder
	b.WriteString("INSERT INTO send_counters (account, bucket_ms, configuration_set, identity, isp, metric, node, n) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, " + node + ", ?)")
	}
	b.WriteString(" ON CONFLICT (account, bucket_ms, configuration_set, identity, isp, metric, node) DO UPDATE SET n = send_counters.n + excluded.n")
	return b.String()
}

// maxRows is the most rows one statement adds to (a prepared statement is
// kept for each count up to it).
const maxRows = 32

// counterKey is one counter row (of this node).
type counterKey struct {
	account       string
	bucket        int64
	set, identity string
	isp           string
	metric        Metric
}

// pending is what a transaction has counted so far: written once, just
// before it commits (store.DB.Deferred), one statement per maxRows rows, so
// that a group commit of many messages costs a statement or two, not one
// per event.
type pending struct {
	c     *Counters
	n     map[counterKey]int64
	order []counterKey
}

var _ store.Flusher = (*pending)(nil)

// Flush writes p's counts in tx (store.Flusher).
func (p *pending) Flush(tx *sql.Tx) error {
	for len(p.order) > 0 {
		k := min(len(p.order), maxRows)
		args := make([]any, 0, 8*k)
		for _, key := range p.order[:k] {
			args = append(args, key.account, key.bucket, key.set, key.identity, key.isp, string(key.metric), p.c.cfg.Node, p.n[key])
		}
		if err := p.c.db.ExecTx(tx, p.c.upsert(k), args...); err != nil {
			return fmt.Errorf("writing statistics counters: %w", err)
		}
		p.order = p.order[k:]
	}
	return nil
}

// add counts n for key in tx: gathered for the end of tx when the store
// can defer (store.DB.Deferred), else written at once.
func (c *Counters) add(tx *sql.Tx, key counterKey, n int64) error {
	f, ok := c.db.Deferred(tx, c, func() store.Flusher { return &pending{c: c, n: map[counterKey]int64{}} })
	if !ok {
		if err := c.db.ExecTx(tx, c.upsert(1), key.account, key.bucket, key.set, key.identity, key.isp, string(key.metric), c.cfg.Node, n); err != nil {
			return fmt.Errorf("counting %s: %w", key.metric, err)
		}
		return nil
	}
	p := f.(*pending)
	if _, seen := p.n[key]; !seen {
		p.order = append(p.order, key)
	}
	p.n[key] += n
	return nil
}

// ObserveTx counts e in tx (event.Observer). Errors are the store's.
func (c *Counters) ObserveTx(tx *sql.Tx, e event.Event) error {
	switch v := e.Value.(type) {
	case event.SendDetail:
		return c.countSend(tx, e, v)
	case event.DeliveryDetail:
		return c.countOne(tx, e, MetricDelivery, false)
	case event.BounceDetail:
		if v.BounceType == bounce.Permanent {
			counted := v.BounceSubType != bounce.OnAccountSuppressionList
			return c.countOne(tx, e, MetricPermanentBounce, counted)
		}
		return c.countOne(tx, e, MetricTransientBounce, false)
	case event.ComplaintDetail:
		return c.countOne(tx, e, MetricComplaint, true)
	case event.DeliveryDelayDetail:
		return c.countOne(tx, e, MetricDeliveryDelay, false)
	case event.RejectDetail:
		return c.countOne(tx, e, MetricReject, false)
	}
	return nil
}

// countSend counts a Send event's recipients per ISP: every one as
// MetricSend, those without an exclusion as MetricCountedSend, simulator
// and account-suppressed ones also as MetricSimulatorSend and
// MetricSuppressedSend.
func (c *Counters) countSend(tx *sql.Tx, e event.Event, v event.SendDetail) error {
	d := dimensions{set: v.ConfigurationSet, identity: v.Identity}
	for _, r := range v.Recipients {
		if r.Excluded == event.ExcludedVerified {
			if d.verified == nil {
				d.verified = map[string]bool{}
			}
			d.verified[r.Address] = true
		}
	}
	c.remember(e.MessageID, d)
	type key struct {
		isp    string
		metric Metric
	}
	n := map[key]int64{}
	var order []key
	add := func(k key) {
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	for _, r := range v.Recipients {
		isp := ISPOf(domainOf(r.Address))
		add(key{isp, MetricSend})
		switch r.Excluded {
		case "":
			add(key{isp, MetricCountedSend})
		case event.ExcludedSimulator:
			add(key{isp, MetricSimulatorSend})
		case event.ExcludedSuppressed:
			add(key{isp, MetricSuppressedSend})
		}
	}
	bucket := BucketOf(e.Time)
	for _, k := range order {
		if err := c.add(tx, counterKey{e.Account, bucket, d.set, d.identity, k.isp, k.metric}, n[k]); err != nil {
			return err
		}
	}
	return nil
}

// countOne counts one recipient's event as metric (nothing for Petrel's
// own mail) and, when counted is true and the recipient counts towards reputation (not a simulator
// address, not a verified identity of the account), as metric's Counted
// metric too.
func (c *Counters) countOne(tx *sql.Tx, e event.Event, metric Metric, counted bool) error {
	d, err := c.dimensionsOf(tx, e.MessageID)
	if err != nil || d.system {
		return err
	}
	isp := ISPOf(domainOf(e.Recipient))
	bucket := BucketOf(e.Time)
	if err := c.add(tx, counterKey{e.Account, bucket, d.set, d.identity, isp, metric}, 1); err != nil {
		return err
	}
	if !counted {
		return nil
	}
	if !d.counts(e.Recipient) {
		return nil
	}
	cm := MetricCountedBounce
	if metric == MetricComplaint {
		cm = MetricCountedComplaint
	}
	// What counts towards reputation is counted in the bucket of the
	// message's acceptance, with its send: a rate over a window is then the
	// outcomes of the mail sent in it, and a fresh start leaves out the late
	// bounces of mail sent before it.
	if sent, ok := event.IDTime(e.MessageID); ok {
		bucket = BucketOf(sent)
	}
	return c.add(tx, counterKey{e.Account, bucket, d.set, d.identity, isp, cm}, 1)
}

// counts reports whether an outcome for recipient counts towards the
// account's reputation: not a simulator address, not one the accept path
// found to be a verified identity of the account. (A message whose Send
// facts are not remembered — sent by another node, or before a restart —
// has its verified recipients counted: the facts are not stored.)
func (d dimensions) counts(recipient string) bool {
	if simulator.Is(domainOf(recipient)) {
		return false
	}
	return !d.verified[recipient]
}

// dimensionsOf returns a message's dimensions: remembered from its Send
// event, or read from its "mail" object (tags "ses:configuration-set" and
// the identity at the end of sourceArn). A message whose record is gone
// has none (counted under no set and no identity).
func (c *Counters) dimensionsOf(tx *sql.Tx, id string) (dimensions, error) {
	c.mu.Lock()
	if el, ok := c.dims[id]; ok {
		c.order.MoveToFront(el)
		d := el.Value.(*cached).d
		c.mu.Unlock()
		return d, nil
	}
	c.mu.Unlock()
	raw, err := c.spool.MailTx(tx, id)
	if errors.Is(err, spool.ErrNotFound) {
		return dimensions{}, nil
	}
	if err != nil {
		return dimensions{}, fmt.Errorf("reading the mail object of %s: %w", id, err)
	}
	var m struct {
		SourceArn string              `json:"sourceArn"`
		Tags      map[string][]string `json:"tags"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return dimensions{}, nil // an unreadable record: count without dimensions
	}
	var d dimensions
	if op := m.Tags["ses:operation"]; len(op) > 0 && op[0] == systemOperation {
		d.system = true
	}
	if s := m.Tags["ses:configuration-set"]; len(s) > 0 {
		d.set = s[0]
	}
	if i := strings.Index(m.SourceArn, ":identity/"); i >= 0 {
		d.identity = m.SourceArn[i+len(":identity/"):]
	}
	c.remember(id, d)
	return d, nil
}

func (c *Counters) remember(id string, d dimensions) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.dims[id]; ok {
		el.Value.(*cached).d = d
		c.order.MoveToFront(el)
		return
	}
	c.dims[id] = c.order.PushFront(&cached{id: id, d: d})
	for c.order.Len() > c.cfg.CacheSize {
		old := c.order.Remove(c.order.Back()).(*cached)
		delete(c.dims, old.id)
	}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// BucketOf returns the start of t's 15-minute bucket, in Unix milliseconds.
func BucketOf(t time.Time) int64 {
	ms := t.UnixMilli()
	return ms - ms%Bucket.Milliseconds()
}

// PruneBucket deletes the rows of the oldest bucket that began before
// before, in one transaction, and returns how many rows it deleted; 0
// means no bucket that old is left. Retention calls it until it returns 0.
func (c *Counters) PruneBucket(ctx context.Context, before time.Time) (int, error) {
	res, err := c.db.ExecContext(ctx, c.db.Rebind(`DELETE FROM send_counters WHERE bucket_ms =
		(SELECT MIN(bucket_ms) FROM send_counters WHERE bucket_ms < ?)`), before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("pruning statistics: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
