package notify

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TargetStatus is one target's queue, for "petrel notifications list".
type TargetStatus struct {
	Target  string
	Account string
	Channel Channel
	// Pending counts jobs waiting or being attempted; InFlight those being
	// attempted (leased) now, by any node; Dead the dead letters.
	Pending, InFlight, Dead int
	Oldest                  time.Time // creation of the oldest pending job (zero: none)
	LastError               string    // the most recent failure of a pending or dead job
}

// Targets returns the state of every target with jobs, of account ("" =
// every account), ordered by account and target.
func (e *Engine) Targets(ctx context.Context, account string) ([]TargetStatus, error) {
	now := e.cfg.Now().UnixMilli()
	q := "SELECT target, account, channel, " +
		"SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), " +
		"SUM(CASE WHEN state = 'pending' AND lease_until_ms > ? THEN 1 ELSE 0 END), " +
		"SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), " +
		"MIN(CASE WHEN state = 'pending' THEN created_ms END) " +
		"FROM notify_deliveries"
	args := []any{now}
	if account != "" {
		q += " WHERE account = ?"
		args = append(args, account)
	}
	q += " GROUP BY target, account, channel ORDER BY account, target"
	rows, err := e.db.QueryContext(ctx, e.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing notification targets: %w", err)
	}
	var out []TargetStatus
	for rows.Next() {
		var t TargetStatus
		var channel string
		var oldest sql.NullInt64
		if err := rows.Scan(&t.Target, &t.Account, &channel, &t.Pending, &t.InFlight, &t.Dead, &oldest); err != nil {
			rows.Close()
			return nil, err
		}
		t.Channel = Channel(channel)
		if oldest.Valid {
			t.Oldest = time.UnixMilli(oldest.Int64)
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		err := e.db.QueryRowContext(ctx, e.db.Rebind("SELECT last_error FROM notify_deliveries WHERE target = ? AND last_error <> '' "+
			"ORDER BY CASE WHEN dead_ms > next_attempt_ms THEN dead_ms ELSE next_attempt_ms END DESC LIMIT 1"), out[i].Target).Scan(&out[i].LastError)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
	}
	return out, nil
}

// DeadLetter is a job that was not delivered within the retry period (or
// was answered 410 Gone).
type DeadLetter struct {
	ID, Account, Target string
	Channel             Channel
	Kind                string
	Endpoint            string // URL, or the Rcpt of an Email job
	Attempts            int
	Created, Died       time.Time
	LastError           string
}

// OutboxIDPrefix starts the DeadLetter.ID of an event whose routing failed
// for the whole retry period ("outbox-<row id>"): it has no job yet;
// Replay routes it again.
const OutboxIDPrefix = "outbox-"

// DeadLetters returns up to limit (0 = 1000) dead letters of account (""
// = every account), oldest first: the jobs, then the events whose routing
// failed for the retry period (ID OutboxIDPrefix + row, Target "(routing)").
func (e *Engine) DeadLetters(ctx context.Context, account string, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 1000
	}
	out, err := e.deadJobs(ctx, account, limit)
	if err != nil || len(out) >= limit {
		return out, err
	}
	rows, err := e.outboxRows(ctx, account, true, limit-len(out))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out = append(out, DeadLetter{ID: fmt.Sprintf("%s%d", OutboxIDPrefix, r.ID), Account: r.Account, Target: "(routing)",
			Kind: string(r.Kind), Endpoint: "message " + r.MessageID, Attempts: r.Attempts, Created: r.Created, Died: r.Died, LastError: r.LastError})
	}
	return out, nil
}

func (e *Engine) deadJobs(ctx context.Context, account string, limit int) ([]DeadLetter, error) {
	q := "SELECT id, account, target, channel, kind, url, rcpt, attempts, created_ms, dead_ms, last_error FROM notify_deliveries WHERE state = 'dead'"
	var args []any
	if account != "" {
		q += " AND account = ?"
		args = append(args, account)
	}
	q += " ORDER BY dead_ms, id LIMIT ?"
	args = append(args, limit)
	rows, err := e.db.QueryContext(ctx, e.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var channel, url, rcpt string
		var created, died int64
		if err := rows.Scan(&d.ID, &d.Account, &d.Target, &channel, &d.Kind, &url, &rcpt, &d.Attempts, &created, &died, &d.LastError); err != nil {
			return nil, err
		}
		d.Channel, d.Created, d.Died = Channel(channel), time.UnixMilli(created), time.UnixMilli(died)
		d.Endpoint = url
		if d.Channel == Email {
			d.Endpoint = rcpt
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Replay makes dead letters pending again, due at once, with their attempts
// reset and the retry period restarted; their IDs stay the same (consumers
// dedupe on them). ids nil replays every dead letter of account ("" =
// every account); otherwise only those of ids that are dead letters of
// account. Dead outbox rows (IDs OutboxIDPrefix + row, see DeadLetters)
// are routed again, at once, with their attempts reset. It returns how
// many it replayed.
func (e *Engine) Replay(ctx context.Context, account string, ids []string) (int, error) {
	var jobIDs, rowIDs []string
	for _, id := range ids {
		if rest, ok := strings.CutPrefix(id, OutboxIDPrefix); ok {
			rowIDs = append(rowIDs, rest)
		} else {
			jobIDs = append(jobIDs, id)
		}
	}
	if ids == nil {
		rowIDs = nil // every one
	} else if rowIDs == nil {
		rowIDs = []string{}
	}
	n, err := e.replayOutbox(ctx, account, rowIDs)
	if err != nil {
		return 0, err
	}
	if ids != nil && jobIDs == nil {
		jobIDs = []string{}
	}
	m, err := e.replayJobs(ctx, account, jobIDs)
	return n + m, err
}

// replayOutbox makes dead outbox rows (ids: row numbers; nil: all of
// account) wait for routing again, at once, with attempts reset.
func (e *Engine) replayOutbox(ctx context.Context, account string, ids []string) (int, error) {
	q := "UPDATE notify_outbox SET attempts = 0, last_error = '', lease_owner = '', lease_until_ms = 0 WHERE lease_owner = ?"
	args := []any{outboxDead}
	if account != "" {
		q += " AND account = ?"
		args = append(args, account)
	}
	if ids != nil {
		var nums []any
		for _, id := range ids {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				nums = append(nums, n)
			}
		}
		if len(nums) == 0 {
			return 0, nil
		}
		q += " AND id IN (" + store.Placeholders(len(nums)) + ")"
		args = append(args, nums...)
	}
	res, err := e.db.ExecContext(ctx, e.db.Rebind(q), args...)
	if err != nil {
		return 0, fmt.Errorf("replaying dead outbox rows: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		e.Kick()
	}
	return int(n), nil
}

func (e *Engine) replayJobs(ctx context.Context, account string, ids []string) (int, error) {
	now := e.cfg.Now().UnixMilli()
	q := "UPDATE notify_deliveries SET state = 'pending', attempts = 0, created_ms = ?, next_attempt_ms = ?, dead_ms = 0, " +
		"last_error = '', lease_owner = '', lease_until_ms = 0 WHERE state = 'dead'"
	args := []any{now, now}
	if account != "" {
		q += " AND account = ?"
		args = append(args, account)
	}
	if ids != nil {
		if len(ids) == 0 {
			return 0, nil
		}
		q += " AND id IN (" + store.Placeholders(len(ids)) + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	res, err := e.db.ExecContext(ctx, e.db.Rebind(q), args...)
	if err != nil {
		return 0, fmt.Errorf("replaying dead letters: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		e.Kick()
	}
	return int(n), nil
}

// PruneDead deletes up to limit dead letters that died before before —
// dead jobs first, then events whose routing kept failing (dead outbox
// rows) — and returns how many (the retention task calls it with the
// events' retention period; dead letters are otherwise kept until
// replayed).
func (e *Engine) PruneDead(ctx context.Context, before time.Time, limit int) (int, error) {
	q := "DELETE FROM notify_deliveries WHERE id IN (SELECT id FROM notify_deliveries WHERE state = 'dead' AND dead_ms < ? ORDER BY dead_ms LIMIT ?)"
	res, err := e.db.ExecContext(ctx, e.db.Rebind(q), before.UnixMilli(), limit)
	if err != nil {
		return 0, fmt.Errorf("pruning dead letters: %w", err)
	}
	n, _ := res.RowsAffected()
	if int(n) >= limit {
		return int(n), nil
	}
	q = "DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox WHERE lease_owner = ? AND lease_until_ms < ? ORDER BY id LIMIT ?)"
	res, err = e.db.ExecContext(ctx, e.db.Rebind(q), outboxDead, outboxDeadBase+before.UnixMilli(), limit-int(n))
	if err != nil {
		return int(n), fmt.Errorf("pruning dead outbox rows: %w", err)
	}
	m, _ := res.RowsAffected()
	return int(n + m), nil
}
