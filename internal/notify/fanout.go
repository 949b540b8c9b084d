package notify

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
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
	var rows []outboxRow
	err := e.db.Tx(ctx, func(tx *sql.Tx) error {
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
	for _, r := range rows {
		if ctx.Err() != nil {
			return len(rows), ctx.Err() // the leases expire, or this node takes them back at restart
		}
		if err := e.route(ctx, r); err != nil {
			e.log.Warn("routing notification", "event", r.ev.Kind, "message", r.ev.MessageID, "err", err)
		}
	}
	return len(rows), nil
}

func sortRows(rows []outboxRow) {
	slices.SortFunc(rows, func(a, b outboxRow) int { return cmp.Compare(a.id, b.id) })
}

// route turns one leased outbox row into jobs.
func (e *Engine) route(ctx context.Context, r outboxRow) error {
	var jobs []Job
	var err error
	if e.router != nil {
		jobs, err = e.router.Route(ctx, r.ev)
	}
	now := e.cfg.Now()
	if err != nil {
		// Keep the row; retry after a backoff (the same schedule as jobs).
		next := now.Add(backoff(r.attempts + 1))
		_, uerr := e.db.ExecContext(ctx, e.db.Rebind("UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, lease_until_ms = ? WHERE id = ? AND lease_owner = ?"),
			truncate(err.Error(), 500), next.UnixMilli(), r.id, e.cfg.NodeID)
		if uerr != nil {
			return fmt.Errorf("%w (and recording it: %v)", err, uerr)
		}
		return err
	}
	err = e.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, e.db.Rebind("DELETE FROM notify_outbox WHERE id = ? AND lease_owner = ?"), r.id, e.cfg.NodeID)
		if err != nil {
			return fmt.Errorf("deleting outbox row: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errLeaseLost
		}
		return e.insertJobsTx(tx, jobs, now)
	})
	if err == nil && len(jobs) > 0 {
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
