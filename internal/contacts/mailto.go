package contacts

// The List-Unsubscribe mailto: addresses' table: the unsubscribe each short
// address (MailtoLocal) stands for, kept with the message record.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutMailtoTx stores, in tx — the transaction that stores the message —
// the unsubscribe t stands behind t's mailto: address (MailtoLocal of
// t.MessageID): t signed with key, under the message ID, with created (the
// message's acceptance) for pruning. A message ID MailtoLocal cannot pack
// has no mailto: address, and nothing is stored. One INSERT.
func (s *Service) PutMailtoTx(tx *sql.Tx, t Token, key []byte, created time.Time) error {
	if _, ok := packSESID(t.MessageID); !ok {
		return nil
	}
	if _, err := tx.Exec(s.db.Rebind("INSERT INTO unsubscribe_mailto (message_id, token, created_ms) VALUES (?, ?, ?)"),
		t.MessageID, t.Sign(key), created.UnixMilli()); err != nil {
		return fmt.Errorf("storing the mailto: unsubscribe: %w", err)
	}
	return nil
}

// mailtoToken returns the signed token stored for messageID; ok is false
// when there is none (never stored, or pruned).
func (s *Service) mailtoToken(ctx context.Context, messageID string) (token string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT token FROM unsubscribe_mailto WHERE message_id = ?"), messageID).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the mailto: unsubscribe: %w", err)
	}
	return token, true, nil
}

// PruneMailtoBefore deletes, in one transaction, up to limit of the
// mailto: rows of messages accepted before before, oldest first, and
// returns how many; fewer than limit means none older is left. Package
// retention calls it with the message records' cutoff, so a mailto:
// address works as long as its message record is kept.
func (s *Service) PruneMailtoBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM unsubscribe_mailto WHERE message_id IN "+
		"(SELECT message_id FROM unsubscribe_mailto WHERE created_ms < ? ORDER BY created_ms LIMIT ?)"), before.UnixMilli(), limit)
	if err != nil {
		return 0, fmt.Errorf("pruning mailto: unsubscribes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
