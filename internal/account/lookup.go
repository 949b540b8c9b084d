package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// BySendingAccountID returns the account whose 12-digit sending account
// id (as in ARNs) is id: sending authorisation resolves the owner of the
// identity an ARN names this way. Errors: ErrNotFound.
func (s *Service) BySendingAccountID(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+accountColumns+" FROM accounts WHERE sending_account_id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("sending account id %q: %w", id, ErrNotFound)
	}
	return a, err
}
