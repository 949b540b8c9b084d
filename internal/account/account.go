// Package account owns tenants and their credentials: accounts, AWS-style
// access keys (used for SigV4 on the API) and the SES SMTP passwords derived
// from them.
//
// Secret access keys are sealed (AES-256-GCM) with a key kept in a file in
// the data directory, outside the database, so a copy of the database alone
// does not yield them; SigV4 needs the plaintext, so they cannot be hashed.
package account

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Account is a tenant.
type Account struct {
	Name             string
	SendingAccountID string // 12 digits, as in ARNs and mail.sendingAccountId
	SendingEnabled   bool
	Created          time.Time
}

// Key is an access key with its secret, as handed to the user once.
type Key struct {
	Account         string
	AccessKeyID     string
	SecretAccessKey string
}

var (
	// ErrExists is returned when creating something that already exists.
	ErrExists = errors.New("already exists")
	// ErrNotFound is returned for an unknown account or key.
	ErrNotFound = errors.New("not found")
	// ErrBadCredentials is returned by AuthSMTP for a wrong username or password.
	ErrBadCredentials = errors.New("bad credentials")
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Service manages accounts and keys.
type Service struct {
	db     *store.DB
	aead   cipher.AEAD
	region string

	mu    sync.RWMutex
	cache map[string]cachedKey // access key id → secret, for SigV4 and SMTP AUTH

	accounts       map[string]cachedAccount // for Cached
	networks       []Network                // network credentials, reloaded after cacheTTL
	networksLoaded time.Time
}

type cachedKey struct {
	secret, account string
	loaded          time.Time
}

// cacheTTL bounds how long a deactivated key keeps working on a node.
const cacheTTL = 30 * time.Second

// New returns a Service sealing secrets with the 32-byte key in keyFile
// (created, mode 0600, when absent). region is the one SMTP passwords are
// derived for.
func New(db *store.DB, keyFile, region string) (*Service, error) {
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, aead: aead, region: region, cache: map[string]cachedKey{}, accounts: map[string]cachedAccount{}}, nil
}

func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("secret key file %s: want 32 bytes, have %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading secret key file: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadOrCreateKey(path)
		}
		return nil, fmt.Errorf("creating secret key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return b, f.Close()
}

// Create makes a new account.
func (s *Service) Create(ctx context.Context, name string) (Account, error) {
	if !nameRE.MatchString(name) {
		return Account{}, fmt.Errorf("invalid account name %q: use 1-64 letters, digits, '.', '_' or '-'", name)
	}
	a := Account{Name: name, SendingAccountID: randomDigits(12), SendingEnabled: true, Created: time.Now()}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM accounts WHERE name = ?"), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("account %q: %w", name, ErrExists)
		}
		return s.db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, sending_enabled, created_ms) VALUES (?, ?, 1, ?)",
			a.Name, a.SendingAccountID, a.Created.UnixMilli())
	})
	return a, err
}

// Get returns the named account.
func (s *Service) Get(ctx context.Context, name string) (Account, error) {
	var a Account
	var enabled int
	var created int64
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT name, sending_account_id, sending_enabled, created_ms FROM accounts WHERE name = ?"), name).
		Scan(&a.Name, &a.SendingAccountID, &enabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	a.SendingEnabled, a.Created = enabled != 0, time.UnixMilli(created)
	return a, err
}

// stateTTL bounds how long the accept path works from a cached account: a
// change made by another process (the CLI, another node) shows within it.
const stateTTL = 5 * time.Second

// Cached returns the named account as read at most stateTTL ago, for the
// accept path, which checks the account on every message.
func (s *Service) Cached(ctx context.Context, name string) (Account, error) {
	s.mu.RLock()
	c, ok := s.accounts[name]
	s.mu.RUnlock()
	if ok && time.Since(c.loaded) < stateTTL {
		return c.Account, nil
	}
	a, err := s.Get(ctx, name)
	if err != nil {
		return a, err
	}
	s.mu.Lock()
	s.accounts[name] = cachedAccount{Account: a, loaded: time.Now()}
	s.mu.Unlock()
	return a, nil
}

type cachedAccount struct {
	Account
	loaded time.Time
}

// List returns all accounts by name.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, sending_account_id, sending_enabled, created_ms FROM accounts ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		var enabled int
		var created int64
		if err := rows.Scan(&a.Name, &a.SendingAccountID, &enabled, &created); err != nil {
			return nil, err
		}
		a.SendingEnabled, a.Created = enabled != 0, time.UnixMilli(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// CreateKey makes a new access key for account.
func (s *Service) CreateKey(ctx context.Context, account string) (Key, error) {
	if _, err := s.Get(ctx, account); err != nil {
		return Key{}, err
	}
	var id [10]byte
	rand.Read(id[:])
	var sec [30]byte
	rand.Read(sec[:])
	k := Key{
		Account:         account,
		AccessKeyID:     "AKIA" + base32.StdEncoding.EncodeToString(id[:]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(sec[:]),
	}
	sealed := s.Seal([]byte(k.SecretAccessKey), k.AccessKeyID)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.db.ExecTx(tx, "INSERT INTO access_keys (access_key_id, account, secret_sealed, active, created_ms) VALUES (?, ?, ?, 1, ?)",
			k.AccessKeyID, account, sealed, time.Now().UnixMilli())
	})
	return k, err
}

// Keys returns the access key ids of account.
func (s *Service) Keys(ctx context.Context, account string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT access_key_id FROM access_keys WHERE account = ? AND active = 1 ORDER BY created_ms"), account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Seal encrypts a secret with the data-dir key (AES-256-GCM). binding — the
// row's key, such as an access key id — is the associated data, so a sealed
// value moved to another row does not open.
func (s *Service) Seal(plain []byte, binding string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(binding))
}

// Open decrypts what Seal sealed with the same binding.
func (s *Service) Open(sealed []byte, binding string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secret too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(binding))
}

// Secret returns the secret access key and account of an active key; the
// error wraps ErrNotFound for an unknown or inactive key.
func (s *Service) Secret(ctx context.Context, accessKeyID string) (secret, account string, err error) {
	s.mu.RLock()
	c, ok := s.cache[accessKeyID]
	s.mu.RUnlock()
	if ok && time.Since(c.loaded) < cacheTTL {
		return c.secret, c.account, nil
	}
	var sealed []byte
	err = s.db.QueryRowContext(ctx, s.db.Rebind("SELECT secret_sealed, account FROM access_keys WHERE access_key_id = ? AND active = 1"), accessKeyID).
		Scan(&sealed, &account)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("access key: %w", ErrNotFound)
	}
	if err != nil {
		return "", "", fmt.Errorf("looking up access key: %w", err)
	}
	plain, err := s.Open(sealed, accessKeyID)
	if err != nil {
		return "", "", fmt.Errorf("opening sealed secret (wrong key file?): %w", err)
	}
	s.mu.Lock()
	s.cache[accessKeyID] = cachedKey{secret: string(plain), account: account, loaded: time.Now()}
	s.mu.Unlock()
	return string(plain), account, nil
}

// AuthSMTP checks SMTP AUTH credentials — the access key id and the SES SMTP
// password derived from its secret — and returns the account.
func (s *Service) AuthSMTP(ctx context.Context, username, password string) (string, error) {
	secret, account, err := s.Secret(ctx, username)
	if errors.Is(err, ErrNotFound) {
		return "", ErrBadCredentials
	}
	if err != nil {
		return "", err
	}
	want := SMTPPassword(secret, s.region)
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return "", ErrBadCredentials
	}
	return account, nil
}

// SMTPPassword derives the SES SMTP password (version 4) for a secret access
// key and region (../shared/spec/ses.md §3.2).
func SMTPPassword(secret, region string) string {
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), "11111111")
	k = mac(k, region)
	k = mac(k, "ses")
	k = mac(k, "aws4_request")
	k = mac(k, "SendRawEmail")
	return base64.StdEncoding.EncodeToString(append([]byte{0x04}, k...))
}

// Region returns the region SMTP passwords are derived for.
func (s *Service) Region() string { return s.region }

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}
