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
		next := e.cfg.Now().Add(backoff(r.attempts + 1))
		uerr := e.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, lease_until_ms = ? WHERE id = ? AND lease_owner = ?"),
				truncate(err.Error(), 500), next.UnixMilli(), r.id, e.cfg.NodeID)
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

// OutboxLen returns how many events wait for fan-out.
func (e *Engine) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM notify_outbox").Scan(&n)
	return n, err
}
