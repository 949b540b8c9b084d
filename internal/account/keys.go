package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// KeyStatus is the state of an access key, named as AWS IAM names it
// (ListAccessKeys, UpdateAccessKey): an Inactive key is refused by the API
// (UnrecognizedClientException) and by SMTP AUTH (535 5.7.8), since the SMTP
// username is the access key id and the SMTP password derives from its
// secret.
type KeyStatus string

const (
	Active   KeyStatus = "Active"
	Inactive KeyStatus = "Inactive"
)

// KeyInfo describes an access key without its secret.
type KeyInfo struct {
	AccessKeyID string
	Account     string
	Status      KeyStatus
	Created     time.Time
}

// ErrOtherAccount is returned when a key or network credential named for one
// account belongs to another: nothing is changed.
var ErrOtherAccount = errors.New("belongs to another account")

// ListKeys returns the access keys of account, active or not, oldest first.
// The error wraps ErrNotFound for an unknown account.
func (s *Service) ListKeys(ctx context.Context, account string) ([]KeyInfo, error) {
	if _, err := s.Get(ctx, account); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(
		"SELECT access_key_id, active, created_ms FROM access_keys WHERE account = ? ORDER BY created_ms, access_key_id"), account)
	if err != nil {
		return nil, fmt.Errorf("listing access keys: %w", err)
	}
	defer rows.Close()
	var out []KeyInfo
	for rows.Next() {
		k := KeyInfo{Account: account, Status: Inactive}
		var active int
		var created int64
		if err := rows.Scan(&k.AccessKeyID, &active, &created); err != nil {
			return nil, err
		}
		if active != 0 {
			k.Status = Active
		}
		k.Created = time.UnixMilli(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// SetKeyStatus makes account's access key Active or Inactive. Every node
// refuses (or accepts again) the key within Recheck. The error wraps
// ErrNotFound for an unknown key and ErrOtherAccount for a key of another
// account.
func (s *Service) SetKeyStatus(ctx context.Context, account, accessKeyID string, status KeyStatus) error {
	var active int
	switch status {
	case Active:
		active = 1
	case Inactive:
	default:
		return fmt.Errorf("access key status %q: want %s or %s", status, Active, Inactive)
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE access_keys SET active = ? WHERE access_key_id = ? AND account = ?"),
		active, accessKeyID, account)
	if err != nil {
		return fmt.Errorf("updating access key: %w", err)
	}
	s.forgetKey(accessKeyID, nil)
	return s.checkAffected(ctx, res, account, accessKeyID)
}

// DeleteKey deletes account's access key (and so its SMTP credential). Every
// node refuses the key within Recheck. The error wraps ErrNotFound for an
// unknown key and ErrOtherAccount for a key of another account.
func (s *Service) DeleteKey(ctx context.Context, account, accessKeyID string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM access_keys WHERE access_key_id = ? AND account = ?"),
		accessKeyID, account)
	if err != nil {
		return fmt.Errorf("deleting access key: %w", err)
	}
	s.forgetKey(accessKeyID, nil)
	return s.checkAffected(ctx, res, account, accessKeyID)
}

// checkAffected explains why a statement restricted to account's key
// touched no row: the key is unknown, or it is another account's.
func (s *Service) checkAffected(ctx context.Context, res sql.Result, account, accessKeyID string) error {
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var owner string
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT account FROM access_keys WHERE access_key_id = ?"), accessKeyID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("access key %s: %w", accessKeyID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("looking up access key: %w", err)
	}
	return fmt.Errorf("access key %s: %w (%q, not %q)", accessKeyID, ErrOtherAccount, owner, account)
}
