package inbound

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// Store is the inbound_messages table — what arrived at the return path —
// with the budget of its bodies (inbound_budget) and the record of the
// events inbound mail produced (inbound_outcomes). Backend writes through
// it; the retention pruner and the CLI read and prune through it.
type Store struct{ db *store.DB }

// NewStore returns the Store over db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// DelayInterval is the least time between two DeliveryDelay events that
// return-path mail produces for one recipient of one message; Bounce,
// Complaint and AutoResponse are produced at most once.
const DelayInterval = time.Hour

// row is one stored inbound message.
type row struct {
	received                             time.Time
	mailFrom, rcpt, messageID, recipient string
	body                                 []byte
	kind, state, account, report, digest string
}

// chargeTx adds n bytes of a body about to be stored to the budget,
// taking the budget row's lock (PostgreSQL; SQLite transactions are
// serialised anyway), so messages get their ids in the order they are
// charged and the oldest-first cursor never skips one, and two reports of
// the same event cannot both find it fresh. It is the first statement of
// the transaction that stores the body.
func (s *Store) chargeTx(tx *sql.Tx, n int64) error {
	return s.db.ExecTx(tx, "UPDATE inbound_budget SET bytes = bytes + ? WHERE id = 1", n)
}

// freshOutcomesTx returns the outcomes of an attributed message (body
// digest, original messageID) that are new from the return path and records
// them (freshTx): none when a message with the same digest was stored
// before, whose events were recorded then.
func (s *Store) freshOutcomesTx(ctx context.Context, tx *sql.Tx, digest, messageID string, outcomes []Outcome, now time.Time) ([]Outcome, error) {
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT COUNT(*) FROM inbound_messages WHERE digest = ?"), digest).Scan(&n); err != nil || n > 0 {
		return nil, err
	}
	var fresh []Outcome
	for _, o := range outcomes {
		ok, err := s.freshTx(ctx, tx, messageID, o.Recipient, o.Detail.Kind(), now)
		if err != nil {
			return nil, err
		}
		if ok {
			fresh = append(fresh, o)
		}
	}
	return fresh, nil
}

func (s *Store) insertTx(tx *sql.Tx, r row) error {
	return s.db.ExecTx(tx, "INSERT INTO inbound_messages (received_ms, mail_from, rcpt, message_id, recipient, body, kind, state, account, report, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.received.UnixMilli(), r.mailFrom, r.rcpt, r.messageID, r.recipient, r.body, r.kind, r.state, r.account, r.report, r.digest)
}

// freshTx reports whether an event of kind for recipient of messageID is
// new from the return path — none was produced before, or for a
// DeliveryDelay none in the last DelayInterval — and if so records it at
// now. Callers hold the budget lock (chargeTx), which serialises them.
func (s *Store) freshTx(ctx context.Context, tx *sql.Tx, messageID, recipient string, kind event.Kind, now time.Time) (bool, error) {
	recipient = strings.ToLower(recipient)
	var last int64
	err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT last_ms FROM inbound_outcomes WHERE message_id = ? AND recipient = ? AND kind = ?"),
		messageID, recipient, string(kind)).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, s.db.ExecTx(tx, "INSERT INTO inbound_outcomes (message_id, recipient, kind, last_ms) VALUES (?, ?, ?, ?)",
			messageID, recipient, string(kind), now.UnixMilli())
	case err != nil:
		return false, fmt.Errorf("inbound outcomes: %w", err)
	case kind != event.DeliveryDelay || now.Sub(time.UnixMilli(last)) < DelayInterval:
		return false, nil
	}
	return true, s.db.ExecTx(tx, "UPDATE inbound_outcomes SET last_ms = ? WHERE message_id = ? AND recipient = ? AND kind = ?",
		now.UnixMilli(), messageID, recipient, string(kind))
}

// trimTx, while the charged total is over budget (bytes; <= 0 means no
// budget), drops the bodies of the oldest messages, whatever their state —
// the row and its parsed report stay (the events were recorded when each
// arrived). It returns how many bodies it dropped.
func (s *Store) trimTx(ctx context.Context, tx *sql.Tx, budget int64) (int, error) {
	if budget <= 0 {
		return 0, nil
	}
	var total, through int64
	if err := tx.QueryRowContext(ctx, "SELECT bytes, dropped_through FROM inbound_budget WHERE id = 1").Scan(&total, &through); err != nil {
		return 0, fmt.Errorf("reading the inbound budget: %w", err)
	}
	if total <= budget {
		return 0, nil
	}
	dropped := 0
	for total > budget {
		rows, err := tx.QueryContext(ctx, s.db.Rebind("SELECT id, LENGTH(body) FROM inbound_messages WHERE id > ? ORDER BY id LIMIT 100"), through)
		if err != nil {
			return dropped, err
		}
		var ids []any
		for rows.Next() && total > budget {
			var id, size int64
			if err := rows.Scan(&id, &size); err != nil {
				rows.Close()
				return dropped, err
			}
			ids = append(ids, id)
			total -= size
			through = id
		}
		rows.Close()
		if len(ids) == 0 {
			total = 0 // nothing left to drop: every body is gone
			break
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE inbound_messages SET body = ? WHERE id IN ("+store.Placeholders(len(ids))+")"),
			append([]any{[]byte{}}, ids...)...); err != nil {
			return dropped, err
		}
		dropped += len(ids)
	}
	total = max(total, 0)
	return dropped, s.db.ExecTx(tx, "UPDATE inbound_budget SET bytes = ?, dropped_through = ? WHERE id = 1", total, through)
}

// deleteTx deletes rows by id, taking their bodies off the budget.
func (s *Store) deleteTx(ctx context.Context, tx *sql.Tx, ids []any) error {
	in := store.Placeholders(len(ids))
	if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE inbound_budget SET bytes = bytes - (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM inbound_messages WHERE id IN ("+
		in+")) WHERE id = 1"), ids...); err != nil {
		return fmt.Errorf("inbound budget: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM inbound_messages WHERE id IN ("+in+")"), ids...); err != nil {
		return fmt.Errorf("deleting inbound messages: %w", err)
	}
	return nil
}

// PruneBefore deletes, in one transaction, up to limit of the oldest stored
// messages received before before (with their reports) and up to limit
// records of events last produced before before, and returns the larger of
// the two counts; fewer than limit means none older is left. Rows are taken
// in id order, which is arrival order.
func (s *Store) PruneBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM inbound_outcomes WHERE (message_id, recipient, kind) IN "+
			"(SELECT message_id, recipient, kind FROM inbound_outcomes WHERE last_ms < ? LIMIT ?)"), before.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("inbound outcomes: %w", err)
		}
		outcomes, err := res.RowsAffected()
		if err != nil {
			return err
		}
		ids, err := s.db.OldestBeforeTx(ctx, tx, "inbound_messages", "received_ms", before, limit)
		if err != nil {
			return err
		}
		n = max(len(ids), int(outcomes))
		if len(ids) == 0 {
			return nil
		}
		return s.deleteTx(ctx, tx, ids)
	})
	if err != nil {
		return 0, fmt.Errorf("pruning inbound messages: %w", err)
	}
	return n, nil
}

// Purge deletes the stored messages in state (any state when "") received
// before before (any time when zero), limit rows per transaction, and
// returns how many it deleted.
func (s *Store) Purge(ctx context.Context, state string, before time.Time, limit int) (int64, error) {
	q := "SELECT id FROM inbound_messages WHERE id > ?"
	args := []any{int64(0)}
	if state != "" {
		q += " AND state = ?"
		args = append(args, state)
	}
	if !before.IsZero() {
		q += " AND received_ms < ?"
		args = append(args, before.UnixMilli())
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	var total int64
	for {
		var n int
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, s.db.Rebind(q), args...)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n = len(ids); n == 0 {
				return nil
			}
			args[0] = ids[n-1]
			return s.deleteTx(ctx, tx, ids)
		})
		if err != nil {
			return total, fmt.Errorf("purging inbound messages: %w", err)
		}
		total += int64(n)
		if n < limit {
			return total, nil
		}
	}
}

// Usage is what the stored messages of one kind and state take.
type Usage struct {
	Kind, State string
	Rows        int64
	BodyBytes   int64 // message bodies as received (0 once dropped)
	ReportBytes int64 // the parsed reports (JSON)
}

// Usage returns what is stored, by kind and state, ordered by both.
func (s *Store) Usage(ctx context.Context) ([]Usage, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT kind, state, COUNT(*), COALESCE(SUM(LENGTH(body)), 0), COALESCE(SUM(OCTET_LENGTH(report)), 0) "+
		"FROM inbound_messages GROUP BY kind, state ORDER BY kind, state")
	if err != nil {
		return nil, fmt.Errorf("inbound usage: %w", err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.Kind, &u.State, &u.Rows, &u.BodyBytes, &u.ReportBytes); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Budget returns the bytes of stored bodies counted against the inbound
// body budget now (every body not yet dropped).
func (s *Store) Budget(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT bytes FROM inbound_budget WHERE id = 1").Scan(&n)
	return n, err
}

// Entry is one stored message, as listed.
type Entry struct {
	ID        int64
	Received  time.Time
	Kind      string
	State     string
	MessageID string // the original message, when attributed
	MailFrom  string
	BodyBytes int64 // 0 once the budget dropped the body
}

// Recent returns the limit most recent messages, newest first, in state
// (any when "").
func (s *Store) Recent(ctx context.Context, state string, limit int) ([]Entry, error) {
	q := "SELECT id, received_ms, kind, state, message_id, mail_from, LENGTH(body) FROM inbound_messages"
	var args []any
	if state != "" {
		q += " WHERE state = ?"
		args = append(args, state)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing inbound messages: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ms int64
		if err := rows.Scan(&e.ID, &ms, &e.Kind, &e.State, &e.MessageID, &e.MailFrom, &e.BodyBytes); err != nil {
			return nil, err
		}
		e.Received = time.UnixMilli(ms)
		out = append(out, e)
	}
	return out, rows.Err()
}
