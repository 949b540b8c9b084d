package notify

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/event"
)

// outboxLease is how long a node holds outbox rows it is routing.
const outboxLease = time.Minute

type outboxRow struct {
	id       int64
	ev       event.Event
	attempts int
}

// fanOut leases up to outboxBatch outbox rows, routes each, and in one
// transaction per row stores its jobs and deletes it. A routing failure
// leaves the row leased until a backoff expires (then any node retries
// it). It returns how many rows it leased.
func (e *Engine) fanOut(ctx context.Context) (int, error) {
	now := e.cfg.Now()
	// Read first: an idle poll writes nothing.
	var one int
	err := e.db.QueryRowContext(ctx, e.db.Rebind("SELECT 1 FROM notify_outbox WHERE lease_until_ms <= ? LIMIT 1"), now.UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the outbox: %w", err)
	}
	var rows []outboxRow
	err = e.tx(ctx, func(tx *sql.Tx) error {
		rows = rows[:0]
		q := "UPDATE notify_outbox SET lease_owner = ?, lease_until_ms = ? WHERE id IN (" +
			"SELECT id FROM notify_outbox WHERE lease_until_ms <= ? ORDER BY id LIMIT ?" + e.db.SkipLocked() + ") " +
			"RETURNING id, kind, message_id, account, recipient, created_ms, detail, mail, attempts"
		rs, err := tx.QueryContext(ctx, e.db.Rebind(q), e.cfg.NodeID, now.Add(outboxLease).UnixMilli(), now.UnixMilli(), outboxBatch)
		if err != nil {
			return fmt.Errorf("leasing outbox rows: %w", err)
		}
		defer rs.Close()
		for rs.Next() {
			var r outboxRow
			var kind, detail string
			var mail sql.NullString
			var ms int64
			if err := rs.Scan(&r.id, &kind, &r.ev.MessageID, &r.ev.Account, &r.ev.Recipient, &ms, &detail, &mail, &r.attempts); err != nil {
				return err
			}
			r.ev.Kind, r.ev.Time, r.ev.Detail = event.Kind(kind), time.UnixMilli(ms), json.RawMessage(detail)
			if mail.Valid {
				r.ev.Mail = json.RawMessage(mail.String)
			}
			rows = append(rows, r)
		}
		return rs.Err()
	})
	if err != nil {
		return 0, err
	}
	// RETURNING gives no order guarantee: route in the order recorded.
	sortRows(rows)
	var done []routed
	for _, r := range rows {
		if ctx.Err() != nil {
			return len(rows), ctx.Err() // the leases expire, or this node takes them back at restart
		}
		jobs, err := e.route(ctx, r)
		if err != nil {
			e.log.Warn("routing notification", "event", r.ev.Kind, "message", r.ev.MessageID, "err", err)
			continue
		}
		done = append(done, routed{r.id, jobs})
	}
	return len(rows), e.storeRouted(ctx, done)
}

func sortRows(rows []outboxRow) {
	slices.SortFunc(rows, func(a, b outboxRow) int { return cmp.Compare(a.id, b.id) })
}

// A dead outbox row (an event whose routing kept failing for the retry
// period) is marked in its lease columns, so no migration is needed and no
// node leases it again: lease_owner outboxDead, lease_until_ms
// outboxDeadBase + the time it died (ms), far beyond any real lease.
const (
	outboxDead     = "!dead"
	outboxDeadBase = int64(1) << 60
)

// routingExhausted says whether an outbox row whose routing has failed
// attempts times is a dead letter: the retries so far (the jobs' backoff
// schedule) span retryPeriod.
func routingExhausted(attempts int, retryPeriod time.Duration) bool {
	var spent time.Duration
	for i := 1; i < attempts; i++ {
		spent += backoff(i)
		if spent >= retryPeriod {
			return true
		}
	}
	return false
}

// routed is an outbox row and the jobs it produced.
type routed struct {
	id   int64
	jobs []Job
}

// route asks the router for r's jobs. On failure (the router's error, or a
// job it returned without ID, Target or Channel) the row is kept, leased
// until a backoff expires, and retried then by any node.
func (e *Engine) route(ctx context.Context, r outboxRow) ([]Job, error) {
	var jobs []Job
	var err error
	if e.router != nil {
		jobs, err = e.router.Route(ctx, r.ev)
	}
	if err == nil {
		err = validJobs(jobs)
	}
	if err != nil {
		now := e.cfg.Now()
		next, owner := now.Add(backoff(r.attempts+1)), e.cfg.NodeID
		if routingExhausted(r.attempts+1, e.cfg.RetryPeriod) {
			// Terminal: kept, listed by DeadLetters, until replayed.
			next, owner = time.UnixMilli(outboxDeadBase+now.UnixMilli()), outboxDead
			e.log.Warn("notification event is a dead letter: routing kept failing for the retry period", "outbox", r.id,
				"event", r.ev.Kind, "message", r.ev.MessageID, "account", r.ev.Account, "attempts", r.attempts+1, "err", err)
		}
		uerr := e.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, lease_until_ms = ?, lease_owner = ? WHERE id = ? AND lease_owner = ?"),
				truncate(err.Error(), 500), next.UnixMilli(), owner, r.id, e.cfg.NodeID)
			return err
		})
		if uerr != nil {
			return nil, fmt.Errorf("%w (and recording it: %v)", err, uerr)
		}
		return nil, err
	}
	return jobs, nil
}

// storeRouted stores the jobs of routed rows and deletes the rows, in one
// transaction; a row whose lease this node lost (another node took it after
// it expired) is skipped with its jobs.
func (e *Engine) storeRouted(ctx context.Context, done []routed) error {
	if len(done) == 0 {
		return nil
	}
	now := e.cfg.Now()
	kick := false
	err := e.tx(ctx, func(tx *sql.Tx) error {
		kick = false
		for _, d := range done {
			res, err := tx.ExecContext(ctx, e.db.Rebind("DELETE FROM notify_outbox WHERE id = ? AND lease_owner = ?"), d.id, e.cfg.NodeID)
			if err != nil {
				return fmt.Errorf("deleting outbox row: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue // errLeaseLost: the other node stores its jobs
			}
			if err := e.insertJobsTx(tx, d.jobs, now); err != nil {
				return err
			}
			kick = kick || len(d.jobs) > 0
		}
		return nil
	})
	if err == nil && kick {
		e.Kick()
	}
	return err
}

// OutboxLen returns how many events wait for fan-out (dead outbox rows
// not counted).
func (e *Engine) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, e.db.Rebind("SELECT COUNT(*) FROM notify_outbox WHERE lease_owner <> ?"), outboxDead).Scan(&n)
	return n, err
}

// OutboxRow is an event whose routing has failed at least once: it waits
// for its next try (Next), or, Dead, has failed for the whole retry
// period and is listed with the dead letters.
type OutboxRow struct {
	ID        int64
	Account   string
	Kind      event.Kind
	MessageID string
	Created   time.Time // the event's time
	Attempts  int
	LastError string
	Next      time.Time // the next routing try (zero when Dead)
	Dead      bool
	Died      time.Time // when it became a dead letter
}

// OutboxFailing returns up to limit outbox rows of account ("" = every
// account) whose routing has failed, waiting or dead, oldest first.
func (e *Engine) OutboxFailing(ctx context.Context, account string, limit int) ([]OutboxRow, error) {
	return e.outboxRows(ctx, account, false, limit)
}

func (e *Engine) outboxRows(ctx context.Context, account string, deadOnly bool, limit int) ([]OutboxRow, error) {
	q := "SELECT id, account, kind, message_id, created_ms, attempts, last_error, lease_owner, lease_until_ms FROM notify_outbox WHERE attempts > 0"
	var args []any
	if deadOnly {
		q += " AND lease_owner = ?"
		args = append(args, outboxDead)
	}
	if account != "" {
		q += " AND account = ?"
		args = append(args, account)
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rs, err := e.db.QueryContext(ctx, e.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing the outbox: %w", err)
	}
	defer rs.Close()
	var out []OutboxRow
	for rs.Next() {
		var r OutboxRow
		var kind, owner string
		var created, until int64
		if err := rs.Scan(&r.ID, &r.Account, &kind, &r.MessageID, &created, &r.Attempts, &r.LastError, &owner, &until); err != nil {
			return nil, err
		}
		r.Kind, r.Created = event.Kind(kind), time.UnixMilli(created)
		if owner == outboxDead {
			r.Dead, r.Died = true, time.UnixMilli(until-outboxDeadBase)
		} else {
			r.Next = time.UnixMilli(until)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
