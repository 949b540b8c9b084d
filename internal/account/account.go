// Package account owns tenants and their credentials: accounts, AWS-style
// access keys (used for SigV4 on the API) and the SES SMTP passwords derived
// from them.
//
// Secret access keys are sealed (AES-256-GCM) with a key kept in a file in
// the data directory, outside the database, so a copy of the database alone
// does not yield them; SigV4 needs the plaintext, so they cannot be hashed.
package account

import (
	"bytes"
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
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// Account is a tenant.
type Account struct {
	Name             string
	SendingAccountID string // 12 digits, as in ARNs and mail.sendingAccountId
	SendingEnabled   bool   // false: paused by the tenant (PutAccountSendingAttributes); enforcement pauses are package reputation's
	Created          time.Time

	// ProductionAccessEnabled is false while the account is in the sandbox:
	// it may send only to its verified identities and the mailbox simulator
	// (SES §1.10; docs/quotas.md).
	ProductionAccessEnabled bool
	Quota                   // SES SendQuota's limits
	Details                 Details
}

// Quota is an account's sending limits (SES SendQuota): Max24HourSend
// recipients over any rolling 24 hours and MaxSendRate recipients per
// second; -1 is unlimited (for MaxSendRate, Petrel's extension, used by the
// bootstrap account).
type Quota struct {
	Max24HourSend int64
	MaxSendRate   float64
}

// SandboxQuota is the quota of an account in the sandbox (SES: 200
// messages per 24 hours, 1 per second).
var SandboxQuota = Quota{Max24HourSend: 200, MaxSendRate: 1}

// DefaultProductionQuota is the quota an account gets with production
// access unless the deployment configures another (SES's usual first
// production quota: 50,000 per 24 hours, 14 per second).
var DefaultProductionQuota = Quota{Max24HourSend: 50000, MaxSendRate: 14}

// Unlimited is no limit on either figure.
var Unlimited = Quota{Max24HourSend: -1, MaxSendRate: -1}

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
//
// Revocation: a key disabled or deleted, or a network credential deleted, on
// any node (or directly in the database) is refused by every node within
// Recheck (1 s). Each node keeps the decrypted secret of a key it has seen,
// but rereads the key's row by primary key when its copy is Recheck old, and
// rereads the network-credential list when it is Recheck old; there is no
// cross-node signalling and no clock agreement is needed.
type Service struct {
	db     *store.DB
	aead   cipher.AEAD
	region string

	mu   sync.RWMutex
	keys map[string]*keyEntry // access key id → last reading, for SigV4 and SMTP AUTH

	accounts    map[string]cachedAccount // for Cached
	bySendingID map[string]cachedName    // sending account id → account name, for CachedBySendingAccountID

	netRefresh sync.Mutex // held while one caller rereads the network list
	nets       netState   // guarded by mu

	// ProductionQuota is the quota given with production access (CreateWith
	// Production, DecideProduction granted); DefaultProductionQuota unless
	// the daemon sets the deployment's (set before use).
	ProductionQuota Quota
	// Now is the clock for review timestamps (nil: time.Now).
	Now func() time.Time
}

// Recheck is how old a node's copy of a credential's state may be: a change
// made anywhere takes effect on every node within Recheck.
const Recheck = time.Second

// keyEntry is one node's reading of an access key row. refresh is held by
// the one caller rereading it; the others wait for its result instead of
// querying too.
type keyEntry struct {
	refresh sync.Mutex
	state   atomic.Pointer[keyState]
}

type keyState struct {
	checked         time.Time // when the reading began (not ended): a change committed after it is seen by the next one
	found           bool      // the key exists and is active
	sealed          []byte
	secret, account string
}

type netState struct {
	list    []Network
	checked time.Time
}

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
	return &Service{db: db, aead: aead, region: region, keys: map[string]*keyEntry{}, accounts: map[string]cachedAccount{}, bySendingID: map[string]cachedName{},
		ProductionQuota: DefaultProductionQuota}, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
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

// CreateOptions are the choices for a new account.
type CreateOptions struct {
	// Production creates the account with production access and
	// ProductionQuota instead of in the sandbox with SandboxQuota.
	Production bool
	// Unlimited creates it with production access and no limits (the
	// bootstrap account); it overrides Production.
	Unlimited bool
}

// Create makes a new account in the sandbox (SandboxQuota), as SES starts
// every account.
func (s *Service) Create(ctx context.Context, name string) (Account, error) {
	return s.CreateWith(ctx, name, CreateOptions{})
}

// CreateWith makes a new account as opts say.
func (s *Service) CreateWith(ctx context.Context, name string, opts CreateOptions) (Account, error) {
	if !nameRE.MatchString(name) {
		return Account{}, fmt.Errorf("invalid account name %q: use 1-64 letters, digits, '.', '_' or '-'", name)
	}
	a := Account{Name: name, SendingAccountID: randomDigits(12), SendingEnabled: true, Created: time.Now(), Quota: SandboxQuota}
	switch {
	case opts.Unlimited:
		a.ProductionAccessEnabled, a.Quota = true, Unlimited
	case opts.Production:
		a.ProductionAccessEnabled, a.Quota = true, s.ProductionQuota
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM accounts WHERE name = ?"), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("account %q: %w", name, ErrExists)
		}
		return s.db.ExecTx(tx, "INSERT INTO accounts (name, sending_account_id, sending_enabled, created_ms, production_access, max_24h_send, max_send_rate) VALUES (?, ?, 1, ?, ?, ?, ?)",
			a.Name, a.SendingAccountID, a.Created.UnixMilli(), boolInt(a.ProductionAccessEnabled), a.Max24HourSend, a.MaxSendRate)
	})
	return a, err
}

// accountColumns are the columns scanAccount reads, in its order.
const accountColumns = `name, sending_account_id, sending_enabled, created_ms, production_access, max_24h_send, max_send_rate,
	mail_type, website_url, contact_language, use_case, contact_addresses, review_status, review_case_id, review_requested_ms, review_decided_ms`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var enabled, production int
	var created, requested, decided int64
	var contacts string
	d := &a.Details
	err := row.Scan(&a.Name, &a.SendingAccountID, &enabled, &created, &production, &a.Max24HourSend, &a.MaxSendRate,
		&d.MailType, &d.WebsiteURL, &d.ContactLanguage, &d.UseCaseDescription, &contacts, &d.Review.Status, &d.Review.CaseID, &requested, &decided)
	if err != nil {
		return a, err
	}
	a.SendingEnabled, a.ProductionAccessEnabled, a.Created = enabled != 0, production != 0, time.UnixMilli(created)
	if err := json.Unmarshal([]byte(contacts), &d.AdditionalContactEmailAddresses); err != nil {
		return a, fmt.Errorf("account %s: contact addresses: %w", a.Name, err)
	}
	if requested != 0 {
		d.Review.Requested = time.UnixMilli(requested)
	}
	if decided != 0 {
		d.Review.Decided = time.UnixMilli(decided)
	}
	return a, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Get returns the named account.
func (s *Service) Get(ctx context.Context, name string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+accountColumns+" FROM accounts WHERE name = ?"), name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	return a, err
}

// stateTTL bounds how long the accept path works from a cached account: a
// change made by another process (the CLI, another node) shows within it.
const stateTTL = 5 * time.Second

// Cached returns the named account as read at most stateTTL ago, for the
// accept path, which checks the account on every message. A change made
// through this Service shows at once (the methods that change an account
// drop this node's copy); one made elsewhere within stateTTL.
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

// forget drops this node's cached copy of an account after a change.
func (s *Service) forget(name string) {
	s.mu.Lock()
	delete(s.accounts, name)
	s.mu.Unlock()
}

type cachedAccount struct {
	Account
	loaded time.Time
}

// List returns all accounts by name.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+accountColumns+" FROM accounts ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
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
// error wraps ErrNotFound for an unknown or inactive key. The answer
// reflects the database as it was at most Recheck (1 s) ago.
//
// Cost per call: one map lookup under a read lock and an atomic load (about
// 55 ns, no allocation). In addition, at most once per Recheck per key per
// node, one caller runs one primary-key SELECT on access_keys (about 13 µs
// on SQLite, 65 µs on PostgreSQL over loopback; BenchmarkSecret) and, only
// if the sealed secret changed, one AES-GCM open; concurrent callers for
// that key wait for its result instead of querying. Unknown and inactive
// keys are not remembered: each lookup of one runs the SELECT.
func (s *Service) Secret(ctx context.Context, accessKeyID string) (secret, account string, err error) {
	s.mu.RLock()
	e := s.keys[accessKeyID]
	s.mu.RUnlock()
	if e != nil {
		if st := e.state.Load(); st != nil && time.Since(st.checked) < Recheck {
			return st.result()
		}
	} else {
		s.mu.Lock()
		if e = s.keys[accessKeyID]; e == nil {
			e = &keyEntry{}
			s.keys[accessKeyID] = e
		}
		s.mu.Unlock()
	}
	e.refresh.Lock()
	defer e.refresh.Unlock()
	prev := e.state.Load()
	if prev != nil && time.Since(prev.checked) < Recheck {
		return prev.result()
	}
	st, err := s.readKey(ctx, accessKeyID, prev)
	if err != nil {
		return "", "", err
	}
	e.state.Store(st)
	if !st.found {
		s.forgetKey(accessKeyID, e)
	}
	return st.result()
}

// readKey reads an access key's row. prev, the previous reading or nil,
// spares the AES-GCM open when the sealed secret is unchanged.
func (s *Service) readKey(ctx context.Context, accessKeyID string, prev *keyState) (*keyState, error) {
	st := &keyState{checked: time.Now()}
	var active int
	err := s.db.QueryRowPrepared(ctx, "SELECT secret_sealed, account, active FROM access_keys WHERE access_key_id = ?", accessKeyID).
		Scan(&st.sealed, &st.account, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up access key: %w", err)
	}
	if active == 0 {
		return st, nil
	}
	st.found = true
	if prev != nil && prev.found && prev.account == st.account && bytes.Equal(prev.sealed, st.sealed) {
		st.secret = prev.secret
		return st, nil
	}
	plain, err := s.Open(st.sealed, accessKeyID)
	if err != nil {
		return nil, fmt.Errorf("opening sealed secret (wrong key file?): %w", err)
	}
	st.secret = string(plain)
	return st, nil
}

func (st *keyState) result() (secret, account string, err error) {
	if !st.found {
		return "", "", fmt.Errorf("access key: %w", ErrNotFound)
	}
	return st.secret, st.account, nil
}

// forgetKey drops this node's reading of a key (e, or whatever reading
// there is when e is nil), so the next lookup rereads the row.
func (s *Service) forgetKey(accessKeyID string, e *keyEntry) {
	s.mu.Lock()
	if cur := s.keys[accessKeyID]; cur != nil && (e == nil || cur == e) {
		delete(s.keys, accessKeyID)
	}
	s.mu.Unlock()
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
