// Package spool keeps accepted message bodies until every recipient is done,
// and each message's SES "mail" object for as long as its events are kept.
//
// Bodies live in the database (a row per message) on both backends, so the
// body, its queue rows and its Send event commit in one transaction: there is
// no window where a file exists without its row or the reverse, and no
// directory fsync to get wrong.
//
// A message's life here: PutTx at acceptance; ReleaseBodyTx empties the body
// when its last queue entry is retired (ReleaseBodies catches the few that
// concurrent retirements miss); PruneBefore deletes the record once the
// retention period has passed and no queue entry or event refers to it.
package spool

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Message is a stored message.
type Message struct {
	ID       string
	Account  string
	Created  time.Time
	MailFrom string          // envelope sender the customer used
	Mail     json.RawMessage // the SES "mail" object
	Body     []byte          // the message as delivered; empty once every recipient is done
}

// ErrNotFound is returned for an unknown message.
var ErrNotFound = errors.New("message not found")

// Spool stores messages.
type Spool struct{ db *store.DB }

// New returns a Spool over db.
func New(db *store.DB) *Spool { return &Spool{db: db} }

// PutTx stores m in tx.
func (s *Spool) PutTx(tx *sql.Tx, m *Message) error {
	return s.db.ExecTx(tx, "INSERT INTO messages (id, account, created_ms, mail_from, mail_json, body) VALUES (?, ?, ?, ?, ?, ?)",
		m.ID, m.Account, m.Created.UnixMilli(), m.MailFrom, string(m.Mail), m.Body)
}

// Body returns the body of a message, for delivery.
func (s *Spool) Body(ctx context.Context, id string) ([]byte, error) {
	var body []byte
	err := s.db.QueryRowPrepared(ctx, "SELECT body FROM messages WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", id, err)
	}
	return body, nil
}

// Mail returns a message's account and "mail" object without the body.
func (s *Spool) Mail(ctx context.Context, id string) (account string, mail json.RawMessage, err error) {
	var m string
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT account, mail_json FROM messages WHERE id = ?"), id).Scan(&account, &m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return account, json.RawMessage(m), err
}

// ReleaseBodyTx drops a message's body once no queue entry needs it.
func (s *Spool) ReleaseBodyTx(tx *sql.Tx, id string) error {
	return s.db.ExecTx(tx, "UPDATE messages SET body = ? WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = ?)",
		[]byte{}, id, id)
}

// CountSince counts the messages account accepted at or after sinceMs.
func (s *Spool) CountSince(ctx context.Context, account string, sinceMs int64, n *int64) error {
	return s.db.QueryRowContext(ctx, s.db.Rebind("SELECT COUNT(*) FROM messages WHERE account = ? AND created_ms >= ?"), account, sinceMs).Scan(n)
}

// ReleaseBodies empties the bodies that no queue entry needs any more,
// among up to limit messages after cursor in ID order (which is acceptance
// order: event.NewID starts with the time) accepted before before, in one
// transaction. It returns how many it emptied, the cursor for the next call,
// and done once it reached messages accepted at or after before.
//
// ReleaseBodyTx does this as each message's last recipient is retired, but
// on PostgreSQL two recipients retired at once in separate transactions
// each still see the other's queue entry, and neither releases the body;
// this catches those. before should be later than any entry can live
// (the delivery deadline and a retry interval), so each message is looked
// at once.
func (s *Spool) ReleaseBodies(ctx context.Context, before time.Time, cursor string, limit int) (released int, next string, done bool, err error) {
	next, done = cursor, true
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		ids, last, reached, err := s.scan(ctx, tx, before, cursor, limit)
		if err != nil {
			return err
		}
		next, done = last, reached
		if len(ids) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE messages SET body = ? WHERE id IN ("+placeholders(len(ids))+
			") AND LENGTH(body) > 0 AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.message_id = messages.id)"), append([]any{[]byte{}}, ids...)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		released = int(n)
		return err
	})
	if err != nil {
		return 0, cursor, false, fmt.Errorf("releasing message bodies: %w", err)
	}
	return released, next, done, nil
}

// PruneBefore deletes the records of messages accepted before before that
// nothing needs any more: no queue entry is left (so the body is already
// released) and no event refers to them — events are read joined with the
// record's "mail" object, so a record outlives its last event. referenced
// is the event log's check (event.Log.ReferencedTx), run in the same
// transaction. It looks at up to limit messages after cursor in ID order
// and returns how many it deleted, the cursor for the next call, and done
// once it reached messages accepted at or after before.
func (s *Spool) PruneBefore(ctx context.Context, before time.Time, cursor string, limit int,
	referenced func(tx *sql.Tx, messageIDs []string) (map[string]bool, error)) (deleted int, next string, done bool, err error) {
	next, done = cursor, true
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		ids, last, reached, err := s.scan(ctx, tx, before, cursor, limit)
		if err != nil {
			return err
		}
		next, done = last, reached
		if len(ids) == 0 {
			return nil
		}
		strs := make([]string, len(ids))
		for i, id := range ids {
			strs[i] = id.(string)
		}
		keep, err := referenced(tx, strs)
		if err != nil {
			return err
		}
		var del []any
		for _, id := range strs {
			if !keep[id] {
				del = append(del, id)
			}
		}
		if len(del) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM messages WHERE id IN ("+placeholders(len(del))+
			") AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.message_id = messages.id)"), del...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		deleted = int(n)
		return err
	})
	if err != nil {
		return 0, cursor, false, fmt.Errorf("pruning messages: %w", err)
	}
	return deleted, next, done, nil
}

// scan returns the ids of up to limit messages after cursor in ID order
// that were accepted before before, the last id looked at, and whether it
// reached the end of those (a message accepted at or after before, or the
// end of the table).
func (s *Spool) scan(ctx context.Context, tx *sql.Tx, before time.Time, cursor string, limit int) (ids []any, last string, reached bool, err error) {
	rows, err := tx.QueryContext(ctx, s.db.Rebind("SELECT id, created_ms FROM messages WHERE id > ? ORDER BY id LIMIT ?"), cursor, limit)
	if err != nil {
		return nil, cursor, false, err
	}
	defer rows.Close()
	last, n := cursor, 0
	for rows.Next() {
		var id string
		var ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, cursor, false, err
		}
		n++
		if ms >= before.UnixMilli() {
			return ids, last, true, rows.Err()
		}
		ids, last = append(ids, id), id
	}
	return ids, last, n < limit, rows.Err()
}

// Usage is what the stored messages take: Pending are the bodies still
// needed for delivery (rows and body bytes), Records every message record
// (rows and the bytes of its "mail" object and body).
func (s *Spool) Usage(ctx context.Context) (pendingRows, pendingBytes, recordRows, recordBytes int64, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(OCTET_LENGTH(mail_json) + LENGTH(body)), 0), "+
		"COALESCE(SUM(CASE WHEN LENGTH(body) > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(LENGTH(body)), 0) FROM messages").
		Scan(&recordRows, &recordBytes, &pendingRows, &pendingBytes)
	if err != nil {
		err = fmt.Errorf("message usage: %w", err)
	}
	return
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
