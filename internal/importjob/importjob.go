// Package importjob owns SES's import jobs into the account-level
// suppression list and into contact lists (../shared/spec/ses.md §1.13,
// §6.3, §1.12: CreateImportJob, GetImportJob, ListImportJobs) and the files
// uploaded for them, without
// S3: a job reads a file:// under the account's subdirectory of the
// operator's import directory or a petrel-upload:// (PUT
// /v2/email/import-data/{Name}, Petrel's extension), and runs in the
// background (Service.Run, accounts taking turns) with SES's states
// CREATED → PROCESSING → COMPLETED or FAILED. docs/suppression.md, "Bulk
// import" and docs/contacts.md, "Importing contacts" are the user's guides.
// A contact-list job writes through package contacts (PutContacts,
// DeleteContacts), which owns the contact tables.
package importjob

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// Action is what a job does with each address (SES:
// SuppressionListImportAction).
type Action string

// The actions.
const (
	Put    Action = "PUT"    // add, overwriting an entry of the same address
	Delete Action = "DELETE" // remove
)

// Format is the data format (SES: DataFormat).
type Format string

// The formats.
const (
	CSV  Format = "CSV"
	JSON Format = "JSON" // newline-delimited
)

// Status is a job's state (SES: JobStatus).
type Status string

// The states a job goes through.
const (
	Created    Status = "CREATED"
	Processing Status = "PROCESSING"
	Completed  Status = "COMPLETED"
	Failed     Status = "FAILED"
)

// SES's limits of records per job (../shared/spec/ses.md §1.13): a file
// with more fails whole, nothing imported.
const (
	MaxPutRecords    = 100_000
	MaxDeleteRecords = 10_000
)

// MaxData is the largest import file, in bytes: an upload's body limit
// (the API's largest body, 60 MiB) and a file://'s size limit.
const MaxData = 60 << 20

// MaxFailures is how many failed records a job keeps (the first), with
// their lines; FailedRecordsCount counts them all.
const MaxFailures = 1000

// BatchSize is the records written per transaction; the job's counts and
// lease are updated after each batch.
const BatchSize = 1000

// UploadTTL is how long an upload is kept: a job must be created within
// it (a job being run holds its data in memory).
const UploadTTL = 7 * 24 * time.Hour

// MaxUnfinishedJobs is how many jobs an account may have CREATED or
// PROCESSING at once; CreateImportJob past it is *LimitError (SES:
// LimitExceededException). It bounds what one account can queue ahead of
// the others (the runner also takes accounts in turn: see Run).
const MaxUnfinishedJobs = 10

// MaxUploadBytes is how many bytes of uploads an account may keep stored
// at once (uploads younger than UploadTTL); an upload past it is
// *LimitError (SES: LimitExceededException).
const MaxUploadBytes = 256 << 20

// LeaseFor is how long a runner holds a PROCESSING job without renewing
// (it renews after each batch); a job whose lease ran out (its node
// crashed) is taken over by any node's runner and restarted.
const LeaseFor = time.Minute

// URL schemes of an ImportDataSource.S3Url.
const (
	UploadScheme = "petrel-upload://"
	FileScheme   = "file://"
)

// Job is an import job (SES: GetImportJobResponse, ImportJobSummary).
type Job struct {
	ID      string // SES: JobId, a UUID
	Account string
	Action  Action // of the SuppressionListDestination or ContactListDestination
	// ContactList is the ContactListDestination's ContactListName; "" for
	// a SuppressionListDestination job.
	ContactList string
	SourceURL   string // SES: ImportDataSource.S3Url
	Format      Format // SES: ImportDataSource.DataFormat
	Status      Status
	Created     time.Time
	Completed   time.Time // zero until COMPLETED or FAILED
	Processed   int       // SES: ProcessedRecordsCount: records put or deleted
	Failed      int       // SES: FailedRecordsCount: records refused (Failures)
	// ErrorMessage says why a FAILED job failed (SES:
	// FailureInfo.ErrorMessage); "" otherwise.
	ErrorMessage string
}

// InputError is a request Petrel refuses (SES: BadRequestException); its
// text is for the caller.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func badInput(format string, a ...any) error { return &InputError{fmt.Sprintf(format, a...)} }

// LimitError is a request past one of an account's limits
// (MaxUnfinishedJobs, MaxUploadBytes): SES's LimitExceededException. Its
// text is for the caller.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// Errors of lookups.
var (
	ErrNotFound     = errors.New("import job not found")
	ErrInvalidToken = errors.New("invalid NextToken")
)

// Config configures a Service.
type Config struct {
	// ImportDir is the directory whose subdirectory <ImportDir>/<account>/
	// an account's file:// sources must be under ("": file:// sources are
	// refused).
	ImportDir string
	// Owner names this runner in leases: the node ID for a daemon.
	Owner string
	// Poll is how often Run looks for jobs other nodes created (0: 1 s);
	// jobs created through this Service wake it at once.
	Poll time.Duration
	// Contacts are the contact lists ContactListDestination jobs write to
	// (nil: such jobs are refused).
	Contacts *contacts.Service
}

// Service is the import job store and runner.
type Service struct {
	db   *store.DB
	list *suppression.List
	cfg  Config
	dir  string // ImportDir, absolute with symlinks resolved; "" = none
	log  *slog.Logger
	wake chan struct{}
	now  func() time.Time
}

// New returns the Service over db writing to list. An ImportDir that does
// not exist or is not a directory is an error.
func New(db *store.DB, list *suppression.List, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Owner == "" {
		cfg.Owner = "runner-" + randomHex(6)
	}
	s := &Service{db: db, list: list, cfg: cfg, log: log, wake: make(chan struct{}, 1), now: time.Now}
	if cfg.ImportDir != "" {
		abs, err := filepath.Abs(cfg.ImportDir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("import-dir: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("import-dir: %s is not a directory", cfg.ImportDir)
		}
		s.dir = abs
	}
	return s, nil
}

// ImportDir is the directory whose subdirectory <ImportDir>/<account>/
// holds an account's file:// sources, absolute with symlinks resolved (""
// when file:// sources are refused).
func (s *Service) ImportDir() string { return s.dir }

const jobColumns = "id, account, action, source_url, format, status, created_ms, completed_ms, processed, failed, error_message, contact_list"

// Create records a job for account (SES: CreateImportJob) and wakes the
// runner. The source is checked now (and read when the job runs): an s3://
// URL, a file:// outside the account's import directory, an upload that is
// not account's are *InputError; a job past MaxUnfinishedJobs is
// *LimitError.
func (s *Service) Create(ctx context.Context, account string, action Action, source string, format Format) (Job, error) {
	return s.CreateFor(ctx, account, "", action, source, format)
}

// CreateFor is Create for a destination: the suppression list when list
// is "", else account's contact list list (SES: ContactListDestination;
// a list the account does not have is *InputError).
func (s *Service) CreateFor(ctx context.Context, account, list string, action Action, source string, format Format) (Job, error) {
	j, err := s.create(ctx, account, list, action, source, format, "")
	if err == nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return j, err
}

// create inserts the job, already PROCESSING and leased to owner when
// owner is not "".
func (s *Service) create(ctx context.Context, account, list string, action Action, source string, format Format, owner string) (Job, error) {
	member := "SuppressionListImportAction"
	if list != "" {
		member = "ContactListImportAction"
	}
	if action != Put && action != Delete {
		return Job{}, badInput("%s %q is not one of PUT, DELETE.", member, action)
	}
	if list != "" {
		if s.cfg.Contacts == nil {
			return Job{}, badInput("Contact lists are not available on this Petrel.")
		}
		if _, err := s.cfg.Contacts.GetList(ctx, account, list); errors.Is(err, contacts.ErrNotFound) {
			return Job{}, badInput("Contact list %s does not exist.", list)
		} else if err != nil {
			return Job{}, err
		}
	}
	if format != CSV && format != JSON {
		return Job{}, badInput("DataFormat %q is not one of CSV, JSON.", format)
	}
	if err := s.checkSource(ctx, account, source); err != nil {
		return Job{}, err
	}
	j := Job{ID: newUUID(), Account: account, Action: action, ContactList: list, SourceURL: source, Format: format, Status: Created,
		Created: s.now().Truncate(time.Millisecond)}
	var lease int64
	if owner != "" {
		j.Status, lease = Processing, s.now().Add(LeaseFor).UnixMilli()
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(tx, lockJobs, account); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT COUNT(*) FROM import_jobs WHERE account = ? AND status IN (?, ?)"),
			account, string(Created), string(Processing)).Scan(&n); err != nil {
			return err
		}
		if n >= MaxUnfinishedJobs {
			return &LimitError{fmt.Sprintf("The account already has %d import jobs CREATED or PROCESSING, the most it may have: create more when some have finished.", n)}
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO import_jobs (id, account, action, source_url, format, status, created_ms, lease_owner, lease_until_ms, contact_list)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), j.ID, account, string(action), source, string(format), string(j.Status), j.Created.UnixMilli(), owner, lease, list)
		return err
	})
	return j, err
}

// Advisory lock classes of lockAccount.
const (
	lockJobs    = 7462702 // MaxUnfinishedJobs
	lockUploads = 7462703 // MaxUploadBytes
)

// lockAccount serialises, within account, the transactions that check one
// of its limits (class lockJobs or lockUploads) on PostgreSQL, so that
// the count checked holds until commit on every node; SQLite's write
// lock, taken at BEGIN, does so already.
func (s *Service) lockAccount(tx *sql.Tx, class int, account string) error {
	if s.db.Dialect != store.Postgres {
		return nil
	}
	_, err := tx.Exec("SELECT pg_advisory_xact_lock($1, hashtext($2))", class, account)
	return err
}

// checkSource checks that source names data account may import.
func (s *Service) checkSource(ctx context.Context, account, source string) error {
	switch {
	case strings.HasPrefix(source, UploadScheme):
		id := strings.TrimPrefix(source, UploadScheme)
		var n int
		err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT 1 FROM import_uploads WHERE account = ? AND id = ?"), account, id).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return badInput("No upload %s: upload the file with PUT /v2/email/import-data/{Name} first (uploads are kept %s).", source, UploadTTL)
		}
		return err
	case strings.HasPrefix(source, FileScheme):
		f, err := s.openFile(account, source)
		if err != nil {
			return err
		}
		return f.Close()
	case strings.HasPrefix(strings.ToLower(source), "s3://"):
		return badInput("S3 is not available in Petrel: upload the file with PUT /v2/email/import-data/{Name} and give the petrel-upload:// URL it returns, or have the operator put it in the account's import directory and give its file:// URL.")
	}
	return badInput("S3Url %q is not a petrel-upload:// or file:// URL (S3 is not available in Petrel).", source)
}

// openFile opens account's file:// source: an absolute path naming a
// regular file under <import directory>/<account>/, after resolving
// symbolic links. Every path refused for where it is or what it names
// (absent, another account's, outside, not a regular file, unreadable)
// gets the same *InputError, so that the answer does not tell which files
// exist.
func (s *Service) openFile(account, source string) (*os.File, error) {
	if s.dir == "" {
		return nil, badInput("file:// sources are disabled on this Petrel (its operator sets --import-dir to enable them); upload the file with PUT /v2/email/import-data/{Name} instead.")
	}
	u, err := url.Parse(source)
	if err != nil || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) || u.RawQuery != "" || u.Fragment != "" {
		return nil, badInput("S3Url %q is not a file:///absolute/path URL.", source)
	}
	own := filepath.Join(s.dir, account)
	outside := badInput("%s is not a regular file under this account's import directory %s/ (an account may import only the files the operator put there).", source, own)
	if account == "" || account == "." || account == ".." || strings.ContainsAny(account, "/\\\x00") {
		return nil, outside
	}
	dir, err := filepath.EvalSymlinks(own)
	if err != nil {
		return nil, outside
	}
	p, err := filepath.EvalSymlinks(filepath.Clean(u.Path))
	if err != nil || !within(dir, p) || p == dir {
		return nil, outside
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, outside
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, outside
	}
	return f, nil
}

// within reports whether path p is dir or below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// Get returns account's job id; another account's is ErrNotFound.
func (s *Service) Get(ctx context.Context, account, id string) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+jobColumns+" FROM import_jobs WHERE account = ? AND id = ?"), account, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	return j, err
}

// FailedRecords returns the first MaxFailures failed records of account's
// job id, in line order; another account's job is ErrNotFound.
func (s *Service) FailedRecords(ctx context.Context, account, id string) ([]Failure, error) {
	var text string
	err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT failed_records FROM import_jobs WHERE account = ? AND id = ?"), account, id).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil || text == "" {
		return nil, err
	}
	var out []Failure
	return out, json.Unmarshal([]byte(text), &out)
}

// DestinationType selects jobs by destination in List (SES:
// ImportDestinationType).
type DestinationType string

// The destination types; AnyDestination lists every job.
const (
	AnyDestination  DestinationType = ""
	SuppressionList DestinationType = "SUPPRESSION_LIST"
	ContactList     DestinationType = "CONTACT_LIST"
)

// List returns up to pageSize of account's jobs into destinations of type
// dest, newest first, and the token of the next page ("" on the last); a
// token List did not issue is ErrInvalidToken (SES: ListImportJobs).
func (s *Service) List(ctx context.Context, account string, dest DestinationType, token string, pageSize int) ([]Job, string, error) {
	q := "SELECT " + jobColumns + " FROM import_jobs WHERE account = ?"
	args := []any{account}
	switch dest {
	case SuppressionList:
		q += " AND contact_list = ''"
	case ContactList:
		q += " AND contact_list <> ''"
	}
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		ms, id, ok := strings.Cut(strings.TrimPrefix(string(b), listPrefix), ":")
		n, perr := strconv.ParseInt(ms, 10, 64)
		if err != nil || !strings.HasPrefix(string(b), listPrefix) || !ok || perr != nil {
			return nil, "", ErrInvalidToken
		}
		q += " AND (created_ms < ? OR created_ms = ? AND id < ?)"
		args = append(args, n, n, id)
	}
	q += " ORDER BY created_ms DESC, id DESC LIMIT ?"
	args = append(args, pageSize+1)
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		last := out[len(out)-1]
		next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d:%s", listPrefix, last.Created.UnixMilli(), last.ID))
	}
	return out, next, nil
}

// listPrefix marks List's tokens.
const listPrefix = "ij1:"

type scanner interface{ Scan(...any) error }

func scanJob(r scanner) (Job, error) {
	var (
		j                      Job
		action, format, status string
		created, completed     int64
		processed, failed      int64
	)
	if err := r.Scan(&j.ID, &j.Account, &action, &j.SourceURL, &format, &status, &created, &completed, &processed, &failed, &j.ErrorMessage, &j.ContactList); err != nil {
		return Job{}, err
	}
	j.Action, j.Format, j.Status = Action(action), Format(format), Status(status)
	j.Created, j.Processed, j.Failed = time.UnixMilli(created), int(processed), int(failed)
	if completed != 0 {
		j.Completed = time.UnixMilli(completed)
	}
	return j, nil
}

// Upload is a file uploaded for import jobs.
type Upload struct {
	ID      string
	Account string
	Name    string // the client's name for it
	Size    int64  // bytes
	Created time.Time
}

// URL is the upload's ImportDataSource.S3Url: petrel-upload://ID.
func (u Upload) URL() string { return UploadScheme + u.ID }

// Upload stores data for account's import jobs, durably (it is committed
// to the store before Upload returns), and returns it; its URL is what
// CreateImportJob takes. name is 1–256 of A–Z a–z 0–9 . _ -; data is at
// most MaxData bytes (else *InputError); an upload that would take the
// account's stored uploads past MaxUploadBytes is *LimitError.
func (s *Service) Upload(ctx context.Context, account, name string, data []byte) (Upload, error) {
	if err := checkName(name); err != nil {
		return Upload{}, err
	}
	if len(data) > MaxData {
		return Upload{}, badInput("The import data is larger than %d bytes.", MaxData)
	}
	u := Upload{ID: randomHex(16), Account: account, Name: name, Size: int64(len(data)), Created: s.now().Truncate(time.Millisecond)}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(tx, lockUploads, account); err != nil {
			return err
		}
		var stored int64
		if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT COALESCE(SUM(size), 0) FROM import_uploads WHERE account = ? AND created_ms >= ?"),
			account, s.now().Add(-UploadTTL).UnixMilli()).Scan(&stored); err != nil {
			return err
		}
		if stored+u.Size > MaxUploadBytes {
			return &LimitError{fmt.Sprintf("The account's stored uploads (%d bytes) and this one (%d bytes) would exceed its quota of %d bytes (%d MiB): uploads are kept %d days; wait for older ones to expire.",
				stored, u.Size, MaxUploadBytes, MaxUploadBytes>>20, UploadTTL/(24*time.Hour))}
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO import_uploads (id, account, name, size, created_ms, data) VALUES (?, ?, ?, ?, ?, ?)"),
			u.ID, account, name, u.Size, u.Created.UnixMilli(), data)
		return err
	})
	return u, err
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > 256 {
		return badInput("The upload name must be 1-256 characters.")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return badInput("The upload name %q may contain only letters, digits, '.', '_' and '-'.", name)
		}
	}
	return nil
}

// read returns the job's data: the upload's or the file's bytes.
func (s *Service) read(ctx context.Context, j Job) ([]byte, error) {
	if id, ok := strings.CutPrefix(j.SourceURL, UploadScheme); ok {
		var data []byte
		err := s.db.QueryRowContext(ctx, s.db.Rebind("SELECT data FROM import_uploads WHERE account = ? AND id = ?"), j.Account, id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, badInput("The upload %s is gone (uploads are kept %s).", j.SourceURL, UploadTTL)
		}
		return data, err
	}
	if !strings.HasPrefix(j.SourceURL, FileScheme) {
		return nil, badInput("S3Url %q cannot be read by Petrel.", j.SourceURL)
	}
	f, err := s.openFile(j.Account, j.SourceURL)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxData+1))
	if err != nil {
		return nil, badInput("Reading %s: %v.", j.SourceURL, err)
	}
	if len(data) > MaxData {
		return nil, badInput("%s is larger than %d bytes.", j.SourceURL, MaxData)
	}
	return data, nil
}

// newUUID returns a random (version 4) UUID, as SES's JobIds are.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// UploadUsage is the rows and bytes of the import uploads stored in db,
// every account's, for petrel storage.
func UploadUsage(ctx context.Context, db *store.DB) (rows, bytes int64, err error) {
	err = db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM import_uploads").Scan(&rows, &bytes)
	return rows, bytes, err
}
