// Package spool keeps accepted message bodies until every recipient is done,
// and each message's SES "mail" object for as long as its events are kept.
//
// Bodies live in the database (a row per message) on both backends, so the
// body, its queue rows and its Send event commit in one transaction: there is
// no window where a file exists without its row or the reverse, and no
// directory fsync to get wrong.
package spool

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
