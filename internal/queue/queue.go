// Package queue is the durable delivery schedule: one row per (message,
// recipient) that is not finished yet. It knows when each entry is due and
// who holds it; it knows nothing about SMTP.
//
// Lifecycle of an entry:
//  1. InsertTx at acceptance, in the same transaction as the body and the Send
//     event. The accepting node inserts it already leased to itself and hands
//     it to its delivery workers in memory, so the first attempt needs no
//     extra write and no poll.
//  2. Lease claims due, unleased (or lease-expired) entries for a node:
//     FOR UPDATE SKIP LOCKED on PostgreSQL, so several nodes can share one
//     queue; the database write lock on SQLite.
//  3. After an attempt, DeleteTx (finished: delivered or bounced) or
//     RescheduleTx (temporary failure: next attempt time, lease released).
//
// A node that dies holding leases loses them when they expire; a node that
// restarts with the same identity reclaims its own leases at once
// (ReleaseOwner), so nothing waits for expiry after a crash of a single node.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Entry is one recipient of one message.
type Entry struct {
	ID          string
	MessageID   string
	Account     string
	Rcpt        string
	Domain      string
	Attempts    int
	Created     time.Time
	NextAttempt time.Time
	Deadline    time.Time // after this, temporary failures become a Transient bounce

	// ConfigurationSet is the name of the configuration set the message
	// was sent with; "" for none.
	ConfigurationSet string
	// TLSRequired is the set's TlsPolicy REQUIRE (../shared/spec/ses.md
	// §1.8): deliver only over a TLS session, else retry until Deadline.
	TLSRequired bool

	// System marks Petrel's own mail (sending.Sender.SendSystemMail):
	// delivered with MailFrom as the envelope sender instead of the VERP
	// return path, and its outcomes never change the suppression lists.
	System bool
	// MailFrom is a System entry's envelope sender; "" is the null
	// reverse-path <> (RFC 5321 §4.5.5), so nothing ever bounces back to it.
	MailFrom string
	// ReturnPathDomain is the domain of the entry's VERP return path,
	// decided at acceptance: the custom MAIL FROM domain of the identity
	// that authorised the envelope sender, the owner's for a delegated send
	// (SES §1.7, §9.3, §11.6); "" for the
	// deployment's return-path domain.
	ReturnPathDomain string

	// Body is the message, carried in memory when the entry is handed to
	// delivery at acceptance (so the first attempt reads nothing back); nil
	// for entries leased from the queue. Not stored.
	Body []byte
}

// Queue is the delivery schedule.
type Queue struct{ db *store.DB }

// New returns a Queue over db.
func New(db *store.DB) *Queue { return &Queue{db: db} }

// InsertTx adds e in tx, leased to owner until leaseUntil (a zero leaseUntil
// leaves it unleased, for any node to pick up).
func (q *Queue) InsertTx(tx *sql.Tx, e *Entry, owner string, leaseUntil time.Time) error {
	var until int64
	if !leaseUntil.IsZero() {
		until = leaseUntil.UnixMilli()
	} else {
		owner = ""
	}
	tlsRequired, system := 0, 0
	if e.TLSRequired {
		tlsRequired = 1
	}
	if e.System {
		system = 1
	}
	return q.db.ExecTx(tx, "INSERT INTO queue (id, message_id, account, rcpt, domain, attempts, created_ms, next_attempt_ms, deadline_ms, "+
		"configuration_set, tls_required, system_mail, mail_from, return_path_domain, lease_owner, lease_until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.MessageID, e.Account, e.Rcpt, e.Domain, e.Attempts, e.Created.UnixMilli(), e.NextAttempt.UnixMilli(), e.Deadline.UnixMilli(),
		e.ConfigurationSet, tlsRequired, system, e.MailFrom, e.ReturnPathDomain, owner, until)
}

const columns = "id, message_id, account, rcpt, domain, attempts, created_ms, next_attempt_ms, deadline_ms, configuration_set, tls_required, system_mail, mail_from, return_path_domain"

// Lease claims up to n entries that are due at now and not leased by anyone
// (or whose lease has expired), leasing them to owner for leaseFor.
func (q *Queue) Lease(ctx context.Context, owner string, now time.Time, n int, leaseFor time.Duration) ([]*Entry, error) {
	var out []*Entry
	err := q.db.Tx(ctx, func(tx *sql.Tx) error {
		query := "UPDATE queue SET lease_owner = ?, lease_until_ms = ? WHERE id IN (" +
			"SELECT id FROM queue WHERE next_attempt_ms <= ? AND lease_until_ms <= ? ORDER BY next_attempt_ms LIMIT ?" +
			q.db.SkipLocked() + ") RETURNING " + columns
		rows, err := tx.QueryContext(ctx, q.db.Rebind(query), owner, now.Add(leaseFor).UnixMilli(), now.UnixMilli(), now.UnixMilli(), n)
		if err != nil {
			return fmt.Errorf("leasing queue entries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

func scan(rows *sql.Rows) (*Entry, error) {
	e := &Entry{}
	var created, next, deadline, tlsRequired, system int64
	if err := rows.Scan(&e.ID, &e.MessageID, &e.Account, &e.Rcpt, &e.Domain, &e.Attempts, &created, &next, &deadline,
		&e.ConfigurationSet, &tlsRequired, &system, &e.MailFrom, &e.ReturnPathDomain); err != nil {
		return nil, err
	}
	e.Created, e.NextAttempt, e.Deadline = time.UnixMilli(created), time.UnixMilli(next), time.UnixMilli(deadline)
	e.TLSRequired, e.System = tlsRequired != 0, system != 0
	return e, nil
}

// DeleteTx removes a finished entry.
func (q *Queue) DeleteTx(tx *sql.Tx, id string) error {
	return q.db.ExecTx(tx, "DELETE FROM queue WHERE id = ?", id)
}

// RescheduleTx records a failed attempt: the entry becomes due again at next
// and its lease is released.
func (q *Queue) RescheduleTx(tx *sql.Tx, id string, attempts int, next time.Time, lastErr string) error {
	return q.db.ExecTx(tx, "UPDATE queue SET attempts = ?, next_attempt_ms = ?, last_error = ?, lease_owner = '', lease_until_ms = 0 WHERE id = ?",
		attempts, next.UnixMilli(), lastErr, id)
}

// PendingTx returns which of messageIDs still have entries, read in tx:
// spool keeps a message's body while any recipient of it is unfinished
// (spool.InUse). One message, the common case as each entry is retired,
// is looked up through a prepared statement.
func (q *Queue) PendingTx(tx *sql.Tx, messageIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(messageIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(messageIDs))
	for i, id := range messageIDs {
		args[i] = id
	}
	query := "SELECT DISTINCT message_id FROM queue WHERE message_id IN (" + store.Placeholders(len(args)) + ")"
	var rows *sql.Rows
	var err error
	if len(args) == 1 {
		var st *sql.Stmt
		if st, err = q.db.Prepared(query); err == nil {
			rows, err = tx.Stmt(st).Query(args...)
		}
	} else {
		rows, err = tx.Query(q.db.Rebind(query), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("finding queue entries of messages: %w", err)
	}
	return store.StringSet(rows)
}

// ReleaseOwner drops every lease held by owner (a node starting up reclaims
// what it held before it stopped).
func (q *Queue) ReleaseOwner(ctx context.Context, owner string) (int64, error) {
	res, err := q.db.ExecContext(ctx, q.db.Rebind("UPDATE queue SET lease_owner = '', lease_until_ms = 0 WHERE lease_owner = ?"), owner)
	if err != nil {
		return 0, fmt.Errorf("releasing leases: %w", err)
	}
	return res.RowsAffected()
}

// ReleaseTx drops the lease on one entry (work handed back unstarted).
func (q *Queue) ReleaseTx(tx *sql.Tx, id string) error {
	return q.db.ExecTx(tx, "UPDATE queue SET lease_owner = '', lease_until_ms = 0 WHERE id = ?", id)
}

// NextDue returns when the earliest unleased entry becomes due, or ok=false
// when the queue holds no such entry.
func (q *Queue) NextDue(ctx context.Context, now time.Time) (t time.Time, ok bool, err error) {
	var ms int64
	err = q.db.QueryRowContext(ctx, q.db.Rebind("SELECT next_attempt_ms FROM queue WHERE lease_until_ms <= ? ORDER BY next_attempt_ms LIMIT 1"), now.UnixMilli()).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.UnixMilli(ms), true, nil
}

// Len returns the number of live entries.
func (q *Queue) Len(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM queue").Scan(&n)
	return n, err
}

// Depth returns the number of live entries (recipients not final yet, of
// every node sharing the store) and the acceptance time of the oldest one
// (zero when the queue is empty), in one query. It scans the table, so it
// is meant for a metrics scrape every few seconds, never the send path.
func (q *Queue) Depth(ctx context.Context) (n int, oldest time.Time, err error) {
	var ms sql.NullInt64
	if err := q.db.QueryRowContext(ctx, "SELECT COUNT(*), MIN(created_ms) FROM queue").Scan(&n, &ms); err != nil {
		return 0, time.Time{}, err
	}
	if ms.Valid {
		oldest = time.UnixMilli(ms.Int64)
	}
	return n, oldest, nil
}
