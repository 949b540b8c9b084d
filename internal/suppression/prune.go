package suppression

import (
	"context"
	"database/sql"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// PruneExpired deletes, in one transaction, up to limit rows of each kind
// that no longer decide anything at now: account-list entries past their
// Expires (the soft-bounce policy's), global entries past their listing
// and their Memory (their bounce history no longer lengthens a listing),
// and soft-bounce counts older than the longest window a policy may have
// (MaxSoftWindow). It returns how many rows it deleted; fewer than limit of
// each kind means nothing more is due. The retention pruner calls it.
func (l *List) PruneExpired(ctx context.Context, now time.Time, limit int) (n int, done bool, err error) {
	done = true
	err = l.db.Tx(ctx, func(tx *sql.Tx) error {
		n, done = 0, true
		ms := now.UnixMilli()
		steps := []struct {
			query string
			args  []any
		}{
			{`DELETE FROM suppressed_destinations WHERE (account, address) IN (SELECT account, address FROM suppressed_destinations
				WHERE expires_ms > 0 AND expires_ms <= ? ORDER BY expires_ms LIMIT ?)`, []any{ms, limit}},
			{`DELETE FROM global_suppressions WHERE address IN (SELECT address FROM global_suppressions
				WHERE expires_ms <= ? AND updated_ms < ? ORDER BY expires_ms LIMIT ?)`, []any{ms, now.Add(-l.global.Memory).UnixMilli(), limit}},
		}
		for _, s := range steps {
			res, err := tx.ExecContext(ctx, l.db.Rebind(s.query), s.args...)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(d)
			done = done && int(d) < limit
		}
		ids, err := l.db.OldestBeforeTx(ctx, tx, "soft_bounces", "at_ms", now.Add(-MaxSoftWindow), limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, l.db.Rebind("DELETE FROM soft_bounces WHERE id IN ("+store.Placeholders(len(ids))+")"), ids...); err != nil {
			return err
		}
		n += len(ids)
		done = done && len(ids) < limit
		return nil
	})
	return n, done, err
}
