package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
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

// CachedBySendingAccountID is BySendingAccountID for the accept path, which
// resolves the owner of a delegated send's identity on every message: the
// id → name mapping and the account (Cached) are read at most stateTTL
// ago, so a change made through this Service shows at once and one made
// elsewhere (the CLI, another node) within 5 s. Errors: ErrNotFound.
func (s *Service) CachedBySendingAccountID(ctx context.Context, id string) (Account, error) {
	s.mu.RLock()
	c, ok := s.bySendingID[id]
	s.mu.RUnlock()
	if ok && time.Since(c.loaded) < stateTTL {
		return s.Cached(ctx, c.name)
	}
	a, err := s.BySendingAccountID(ctx, id)
	if err != nil {
		return a, err
	}
	s.mu.Lock()
	s.bySendingID[id] = cachedName{name: a.Name, loaded: time.Now()}
	s.accounts[a.Name] = cachedAccount{Account: a, loaded: time.Now()}
	s.mu.Unlock()
	return a, nil
}

type cachedName struct {
	name   string
	loaded time.Time
}
