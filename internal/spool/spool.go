// Package spool keeps accepted message bodies until every recipient is done,
// and each message's SES "mail" object for as long as its events are kept.
//
// Bodies live in the database (a row per message) on both backends, so the
// body, its queue rows and its Send event commit in one transaction: there is
// no window where a file exists without its row or the reverse, and no
// directory fsync to get wrong.
//
// A body of up to ChunkSize bytes (all normal mail) is stored inline in its
// message row; a larger one is stored in rows of ChunkSize bytes of the
// message_chunks table, in the same transaction, with the row's body left
// empty. Database drivers copy a bound value (modernc's SQLite twice, to
// bind it and to build the record; pgx once), so a 40 MB body bound whole
// would cost 40–80 MB more at its peak; in chunks it costs 1–2 MiB at a
// time, garbage the collector takes as it goes. Body reads a chunked body
// back into one buffer of its exact size.
//
// A message's life here: PutTx at acceptance; ReleaseBodyTx empties the body
// when its last queue entry is retired (ReleaseBodies catches the few that
// concurrent retirements miss); PruneBefore deletes the record once the
// retention period has passed and no queue entry or event refers to it.
//
// Spool reads and writes only its own tables (messages, message_chunks).
// Whether a message still has queue entries or events is answered by the
// packages that own those tables (queue.Queue.PendingTx,
// event.Log.ReferencedTx), passed in as an InUse and asked in the same
// transaction that acts on the answer.
package spool

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Message is a stored message.
type Message struct {
	ID       string
	Account  string
	Created  time.Time
	MailFrom string // envelope sender the customer used
	// FeedbackAddress is the API's FeedbackForwardingEmailAddress (v1
	// ReturnPath) the message was sent with, "" for none: where feedback
	// forwarding emails its bounces and complaints.
	FeedbackAddress string
	Mail            json.RawMessage // the SES "mail" object
	Body            []byte          // the message as delivered; empty once every recipient is done
}

// ErrNotFound is returned for an unknown message.
var ErrNotFound = errors.New("message not found")

// InUse reports which of messageIDs another package still needs, read in
// tx: queue.Queue.PendingTx (queue entries left, so the body is needed) or
// event.Log.ReferencedTx (events left, so the record is needed). Spool
// asks it in the transaction that then releases or deletes, so the answer
// holds when it acts: entries are only ever added with their message, in
// the transaction that stores it.
type InUse func(tx *sql.Tx, messageIDs []string) (map[string]bool, error)

// Spool stores messages.
type Spool struct{ db *store.DB }

// New returns a Spool over db.
func New(db *store.DB) *Spool { return &Spool{db: db} }

// ChunkSize is the largest body stored inline in its message row, in
// bytes, and the size of the pieces a larger body is stored in.
const ChunkSize = 1 << 20

// PutTx stores m in tx: its row, and its body in ChunkSize pieces when it
// is larger than ChunkSize.
func (s *Spool) PutTx(tx *sql.Tx, m *Message) error {
	inline := m.Body
	if len(m.Body) > ChunkSize {
		inline = []byte{}
	}
	if err := s.db.ExecTx(tx, "INSERT INTO messages (id, account, created_ms, mail_from, feedback_address, mail_json, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
		m.ID, m.Account, m.Created.UnixMilli(), m.MailFrom, m.FeedbackAddress, string(m.Mail), inline); err != nil {
		return err
	}
	if len(m.Body) <= ChunkSize {
		return nil
	}
	for seq, rest := 0, m.Body; len(rest) > 0; seq++ {
		n := min(len(rest), ChunkSize)
		if err := s.db.ExecTx(tx, "INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)", m.ID, seq, rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// Body returns the body of a message, for delivery: empty once it has
// been released. A chunked body is read into one buffer of its size.
func (s *Spool) Body(ctx context.Context, id string) ([]byte, error) {
	var body []byte
	err := s.db.QueryRowPrepared(ctx, "SELECT body FROM messages WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err == nil && len(body) == 0 {
		body, err = s.chunks(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", id, err)
	}
	return body, nil
}

// chunks reads a body stored in message_chunks (empty when it has none).
func (s *Spool) chunks(ctx context.Context, id string) ([]byte, error) {
	var size int64
	if err := s.db.QueryRowPrepared(ctx, "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM message_chunks WHERE message_id = ?", id).
		Scan(&size); err != nil {
		return nil, err
	}
	body := make([]byte, 0, size)
	if size == 0 {
		return body, nil
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT data FROM message_chunks WHERE message_id = ? ORDER BY seq"), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var chunk sql.RawBytes // the driver's copy, not another one
		if err := rows.Scan(&chunk); err != nil {
			return nil, err
		}
		if int64(len(body)+len(chunk)) > size {
			return nil, errors.New("body changed while it was read")
		}
		body = append(body, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(body)) != size {
		return nil, errors.New("body released while it was read")
	}
	return body, nil
}

// MailObjects returns the "mail" objects of the messages ids (duplicates
// allowed), keyed by message ID, in one query; a message without a record
// (pruned, or never stored) has no entry. Readers of events use it to
// render a page of them whole (event.Event.Mail).
func (s *Spool) MailObjects(ctx context.Context, ids []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	uniq := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(uniq) == 0 {
		return out, nil
	}
	args := make([]any, len(uniq))
	for i, id := range uniq {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT id, mail_json FROM messages WHERE id IN ("+store.Placeholders(len(args))+")"), args...)
	if err != nil {
		return nil, fmt.Errorf("reading mail objects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, mail string
		if err := rows.Scan(&id, &mail); err != nil {
			return nil, fmt.Errorf("reading mail objects: %w", err)
		}
		out[id] = json.RawMessage(mail)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading mail objects: %w", err)
	}
	return out, nil
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

// MailTx returns a message's "mail" object, read in tx (the transaction
// that may have just stored it); ErrNotFound for an unknown message.
func (s *Spool) MailTx(tx *sql.Tx, id string) (json.RawMessage, error) {
	var m string
	err := tx.QueryRow(s.db.Rebind("SELECT mail_json FROM messages WHERE id = ?"), id).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return json.RawMessage(m), err
}

// Envelope is what feedback forwarding needs of a message to address a
// bounce or complaint report (../shared/spec/ses.md §4.1): its account,
// envelope sender (MAIL FROM as the customer used it), feedback address
// ("" for none) and "mail" object, without the body.
type Envelope struct {
	Account         string
	MailFrom        string
	FeedbackAddress string
	Mail            json.RawMessage
}

// Envelope returns a message's Envelope. ErrNotFound for an unknown message.
func (s *Spool) Envelope(ctx context.Context, id string) (Envelope, error) {
	var e Envelope
	var m string
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT account, mail_from, feedback_address, mail_json FROM messages WHERE id = ?"), id).
		Scan(&e.Account, &e.MailFrom, &e.FeedbackAddress, &m)
	if errors.Is(err, sql.ErrNoRows) {
		return Envelope{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Envelope{}, fmt.Errorf("reading message %s: %w", id, err)
	}
	e.Mail = json.RawMessage(m)
	return e, nil
}

// ReleaseBodyTx drops a message's body (inline or chunked) in tx unless
// pending (queue.Queue.PendingTx) says a queue entry still needs it; it is
// called as each recipient's entry is retired, so the body goes with the
// last. An inline body it empties has no chunks, so the common case (small
// mail, last recipient) costs the check and one statement.
func (s *Spool) ReleaseBodyTx(tx *sql.Tx, id string, pending InUse) error {
	p, err := pending(tx, []string{id})
	if err != nil || p[id] {
		return err
	}
	st, err := s.db.Prepared("UPDATE messages SET body = ? WHERE id = ? AND LENGTH(body) > 0")
	if err != nil {
		return err
	}
	res, err := tx.Stmt(st).Exec([]byte{}, id)
	if err != nil {
		return fmt.Errorf("releasing body of %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return s.db.ExecTx(tx, "DELETE FROM message_chunks WHERE message_id = ?", id)
}

// ReleaseBodies empties the bodies that no queue entry needs any more
// (pending: queue.Queue.PendingTx), among up to limit messages after cursor
// in ID order (which is acceptance order: event.NewID starts with the time)
// accepted before before, in one transaction. It returns how many it
// emptied, the cursor for the next call, and done once it reached messages
// accepted at or after before.
//
// ReleaseBodyTx does this as each message's last recipient is retired, but
// on PostgreSQL two recipients retired at once in separate transactions
// each still see the other's queue entry, and neither releases the body;
// this catches those. before should be later than any entry can live
// (the delivery deadline and a retry interval), so each message is looked
// at once.
func (s *Spool) ReleaseBodies(ctx context.Context, before time.Time, cursor string, limit int, pending InUse) (released int, next string, done bool, err error) {
	return s.sweep(ctx, "releasing message bodies", before, cursor, limit, func(tx *sql.Tx, ids []string) (int, error) {
		free, err := unused(tx, ids, pending)
		if err != nil || len(free) == 0 {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE messages SET body = ? WHERE id IN ("+store.Placeholders(len(free))+
			") AND LENGTH(body) > 0"), append([]any{[]byte{}}, free...)...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		chunked, err := s.releaseChunks(ctx, tx, free)
		return int(n) + chunked, err
	})
}

// PruneBefore deletes the records of messages accepted before before that
// nothing needs any more: no queue entry is left (pending:
// queue.Queue.PendingTx; so the body is already released) and no event
// refers to them (referenced: event.Log.ReferencedTx) — events are
// rendered with the record's "mail" object, so a record outlives its last
// event. Both are asked in the transaction that deletes. It looks at up to
// limit messages after cursor in ID order and returns how many it deleted,
// the cursor for the next call, and done once it reached messages accepted
// at or after before.
func (s *Spool) PruneBefore(ctx context.Context, before time.Time, cursor string, limit int,
	pending, referenced InUse) (deleted int, next string, done bool, err error) {
	return s.sweep(ctx, "pruning messages", before, cursor, limit, func(tx *sql.Tx, ids []string) (int, error) {
		del, err := unused(tx, ids, pending, referenced)
		if err != nil || len(del) == 0 {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM messages WHERE id IN ("+store.Placeholders(len(del))+")"), del...)
		if err != nil {
			return 0, err
		}
		if _, err := s.releaseChunks(ctx, tx, del); err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		return int(n), err
	})
}

// sweep runs one step of ReleaseBodies or PruneBefore (what names it in
// errors): in one transaction, it scans up to limit messages after cursor
// accepted before before and, when there are any, calls fn with their ids.
// It returns what fn returned, the cursor for the next call, and done once
// the scan reached messages accepted at or after before.
func (s *Spool) sweep(ctx context.Context, what string, before time.Time, cursor string, limit int,
	fn func(tx *sql.Tx, ids []string) (int, error)) (n int, next string, done bool, err error) {
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
		n, err = fn(tx, ids)
		return err
	})
	if err != nil {
		return 0, cursor, false, fmt.Errorf("%s: %w", what, err)
	}
	return n, next, done, nil
}

// unused returns those of ids that none of inUse needs, as arguments for
// an IN list.
func unused(tx *sql.Tx, ids []string, inUse ...InUse) ([]any, error) {
	needed := make([]map[string]bool, len(inUse))
	for i, f := range inUse {
		var err error
		if needed[i], err = f(tx, ids); err != nil {
			return nil, err
		}
	}
	var out []any
next:
	for _, id := range ids {
		for _, n := range needed {
			if n[id] {
				continue next
			}
		}
		out = append(out, id)
	}
	return out, nil
}

// releaseChunks deletes the chunked bodies of the messages ids (which no
// queue entry needs any more), and returns how many bodies it deleted.
func (s *Spool) releaseChunks(ctx context.Context, tx *sql.Tx, ids []any) (int, error) {
	where := " FROM message_chunks WHERE message_id IN (" + store.Placeholders(len(ids)) + ")"
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT COUNT(*)"+where+" AND seq = 0"), ids...).Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	_, err := tx.ExecContext(ctx, s.db.Rebind("DELETE"+where), ids...)
	return n, err
}

// scan returns the ids of up to limit messages after cursor in ID order
// that were accepted before before, the last id looked at, and whether it
// reached the end of those (a message accepted at or after before, or the
// end of the table).
func (s *Spool) scan(ctx context.Context, tx *sql.Tx, before time.Time, cursor string, limit int) (ids []string, last string, reached bool, err error) {
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
// needed for delivery (messages and body bytes, inline or chunked), Records
// every message record (rows and the bytes of its "mail" object and body).
func (s *Spool) Usage(ctx context.Context) (pendingRows, pendingBytes, recordRows, recordBytes int64, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(OCTET_LENGTH(mail_json) + LENGTH(body)), 0), "+
		"COALESCE(SUM(CASE WHEN LENGTH(body) > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(LENGTH(body)), 0) FROM messages").
		Scan(&recordRows, &recordBytes, &pendingRows, &pendingBytes)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("message usage: %w", err)
	}
	var chunkedRows, chunkedBytes int64
	err = s.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(CASE WHEN seq = 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(LENGTH(data)), 0) FROM message_chunks").
		Scan(&chunkedRows, &chunkedBytes)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("message usage: %w", err)
	}
	return pendingRows + chunkedRows, pendingBytes + chunkedBytes, recordRows, recordBytes + chunkedBytes, nil
}
