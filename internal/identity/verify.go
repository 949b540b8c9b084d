package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// Checker verifies identities by DNS (issue 16; SES §9.2, §9.3): it keeps
// one row per record an identity must publish (identity_records), looks
// each up when it is due, and moves it through SES's states:
//
//   - PENDING until found; not found within Window (72 h) of the start →
//     FAILED, then looked up only every FailedRecheck (24 h) until found
//     (→ SUCCESS) or Check restarts its window;
//   - SERVFAIL or no answer before any success → TEMPORARY_FAILURE (the
//     Window runs on);
//   - SUCCESS, re-checked every Recheck (24 h);
//   - after a success, missing or wrong → TEMPORARY_FAILURE with
//     MissingSince; still so after Grace (72 h) → FAILED; found again
//     before → SUCCESS. SERVFAIL, no answer or Petrel's own failure after
//     a success change no state (see advance): an outage of Petrel's
//     resolver does not unverify anything.
//
// A domain identity is verified (identities.verified, what Authorizing
// reads) when the operator vouched for it, or a DKIM or token record is
// SUCCESS or within its grace period; the checker writes the flag in the
// transaction that writes the records. It never changes an address
// identity's flag.
//
// Several daemons may run CheckDue on one database: each claims the due
// records in a transaction by moving their next check a lease ahead (SELECT
// … FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write lock serialises
// the claims), so a record is checked by one node at a time; a node that
// dies mid-check leaves its records due again after the lease, which
// covers the worst case of a whole batch (lease).
type Checker struct {
	S   *Service
	DNS *resolver.Resolver
	Now func() time.Time // nil: time.Now
	Log *slog.Logger     // nil: discard

	Window      time.Duration // from the start to FAILED while never found; 0: 72 h
	Grace       time.Duration // from missing after a success to FAILED; 0: 72 h
	Recheck     time.Duration // between checks of a SUCCESS record; 0: 24 h
	PendingFast time.Duration // between checks for the first hour of a window; 0: 5 min
	PendingSlow time.Duration // between checks after that, and after a temporary failure following a success; 0: 30 min
	// FailedRecheck is between checks of a FAILED record; 0: 24 h.
	FailedRecheck time.Duration

	// RecordBudget bounds the DNS lookups of one record; 0: 30 s (see
	// lease).
	RecordBudget time.Duration

	// MailFrom is what custom MAIL FROM domains' MX and SPF records must
	// name (mailfrom_records.go).
	MailFrom MailFromExpect
}

// dueBatch is how many due records one claim takes.
const dueBatch = 10

// leaseMargin is what a claim's lease adds to the lookups' worst case: the
// transactions that record the checks.
const leaseMargin = time.Minute

// recordBudget is how long the lookups of one record may take in all; 0:
// 30 s. Each record's lookups (up to a CNAME, a TXT and the zone's SOA,
// each one or two exchanges of up to the resolver's 5 s timeout) run
// under this deadline, so a claim's batch cannot outlast its lease.
func (c *Checker) recordBudget() time.Duration { return orDefault(c.RecordBudget, 30*time.Second) }

// lease is how long a claimed record is not offered to another node: the
// worst case of a whole batch, dueBatch × recordBudget, plus leaseMargin,
// so that a claim never expires while its node is still checking the
// batch (6 minutes by default).
func (c *Checker) lease() time.Duration { return dueBatch*c.recordBudget() + leaseMargin }

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// recordKey names one wanted record.
type recordKey struct {
	Account, Identity, Purpose, Name, Type string
}

// verdict is the outcome of looking a record up.
type verdict struct {
	ok        bool
	temporary bool   // the lookup failed (SERVFAIL, no answer, Petrel's own error): says nothing about the record
	permanent bool   // wrong in a way that fails at once, before any success (several MX records of a MAIL FROM domain)
	errType   string // SES ErrorType when not ok
	found     string
	detail    string
	expected  string
}

// recordSource is one kind of record identities publish. Adding a kind
// (custom MAIL FROM's MX and SPF) is adding a recordSource to
// recordSources: the checker syncs, schedules and checks every kind alike.
// list says which records are wanted now (a record it stops listing — a
// key deleted, a setting cleared — loses its row; one it starts listing
// starts PENDING); check fills verdict.expected and, for a failed lookup,
// uses lookupFailure, which makes SERVFAIL and timeouts temporary.
type recordSource struct {
	purposes []string
	// list returns the records identities want now: those of every
	// identity when account is "", else of one identity.
	list func(ctx context.Context, s *Service, account, identity string) ([]recordKey, error)
	// check looks one record up.
	check func(ctx context.Context, c *Checker, k recordKey) verdict
	// verifies: a SUCCESS record of this kind verifies its domain.
	verifies bool
	// settle, when set, runs in the transaction that records a check of
	// one of its records, and reports whether it changed what the send
	// path caches (the MAIL FROM status).
	settle func(db *store.DB, tx *sql.Tx, k recordKey) (bool, error)
}

var recordSources = []recordSource{
	{purposes: []string{PurposeDKIM}, list: listDKIMRecords, check: checkDKIMRecord, verifies: true},
	{purposes: []string{PurposeDomainToken}, list: listTokenRecords, check: checkTokenRecord, verifies: true},
	mailFromSource,
}

// verifyingPurposes are the purposes of the records that verify a domain.
func verifyingPurposes() []string {
	var out []string
	for _, s := range recordSources {
		if s.verifies {
			out = append(out, s.purposes...)
		}
	}
	return out
}

func sourceOf(purpose string) (recordSource, bool) {
	for _, s := range recordSources {
		for _, p := range s.purposes {
			if p == purpose {
				return s, true
			}
		}
	}
	return recordSource{}, false
}

// whereIdentity filters a query on account and identity when account is set.
func whereIdentity(account, identity string, col string) (string, []any) {
	if account == "" {
		return "", nil
	}
	return " AND account = ? AND " + col + " = ?", []any{account, identity}
}

// listDKIMRecords: one record per dkim_keys row (a domain may have several
// keys while one is rotated in).
func listDKIMRecords(ctx context.Context, s *Service, account, identity string) ([]recordKey, error) {
	db := s.db
	where, args := whereIdentity(account, identity, "identity")
	rows, err := db.QueryContext(ctx, db.Rebind("SELECT account, identity, selector, origin FROM dkim_keys WHERE 1 = 1"+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordKey
	for rows.Next() {
		var a, id, sel, origin string
		if err := rows.Scan(&a, &id, &sel, &origin); err != nil {
			return nil, err
		}
		typ := "TXT"
		if s.cnameStyle(origin) {
			typ = "CNAME"
		}
		out = append(out, recordKey{Account: a, Identity: id, Purpose: PurposeDKIM, Name: DKIMRecordName(sel, id), Type: typ})
	}
	return out, rows.Err()
}

// listTokenRecords: the `_amazonses` token of every domain identity.
func listTokenRecords(ctx context.Context, s *Service, account, identity string) ([]recordKey, error) {
	db := s.db
	where, args := whereIdentity(account, identity, "name")
	rows, err := db.QueryContext(ctx, db.Rebind("SELECT account, name FROM identities WHERE kind = ?"+where), append([]any{string(Domain)}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordKey
	for rows.Next() {
		var a, n string
		if err := rows.Scan(&a, &n); err != nil {
			return nil, err
		}
		out = append(out, recordKey{Account: a, Identity: n, Purpose: PurposeDomainToken, Name: TokenRecordName(n), Type: "TXT"})
	}
	return out, rows.Err()
}

// lookupFailure turns a failed lookup into a verdict.
func lookupFailure(err error, expected string) verdict {
	v := verdict{expected: expected, detail: err.Error()}
	switch {
	case errors.Is(err, resolver.ErrNXDomain):
		v.errType, v.found = ErrorHostMissing, "NXDOMAIN"
	case errors.Is(err, resolver.ErrNoData):
		v.errType, v.found = ErrorTypeMissing, "no record of that type"
	case errors.Is(err, resolver.ErrServerFailure):
		v.errType, v.temporary, v.found = ErrorDNSServer, true, "server failure"
	default:
		v.errType, v.temporary, v.found = ErrorDNSServer, true, "no answer"
	}
	return v
}

// checkDKIMRecord: the TXT at <selector>._domainkey.<domain>, following a
// CNAME, must have our public key as p=; in CNAME style the name must also
// be a CNAME to <selector>.<zone>.
func checkDKIMRecord(ctx context.Context, c *Checker, k recordKey) verdict {
	db := c.S.db
	sel, _, _ := strings.Cut(k.Name, "._domainkey.")
	var sealed []byte
	var origin string
	err := db.QueryRowContext(ctx, db.Rebind("SELECT key_sealed, origin FROM dkim_keys WHERE account = ? AND identity = ? AND selector = ?"), k.Account, k.Identity, sel).Scan(&sealed, &origin)
	if err != nil {
		return verdict{temporary: true, errType: ErrorService, detail: "reading the DKIM key: " + err.Error()}
	}
	key, err := c.S.openKey(k.Account, k.Identity, sealed)
	if err != nil {
		return verdict{temporary: true, errType: ErrorService, detail: err.Error()}
	}
	rec, err := dkim.Record(key)
	if err != nil {
		return verdict{temporary: true, errType: ErrorService, detail: err.Error()}
	}
	want, _ := dkimKeyOf(rec)
	expected := rec
	var foundCNAME string
	if c.S.cnameStyle(origin) {
		target := sel + "." + c.S.DKIMCNAMEZone
		expected = target
		got, err := c.DNS.CNAME(ctx, k.Name)
		if err != nil {
			return lookupFailure(err, expected)
		}
		if got != target {
			return verdict{expected: expected, errType: ErrorBadValue, found: got,
				detail: fmt.Sprintf("%s is a CNAME to %s, not to %s", k.Name, got, target)}
		}
		foundCNAME = got + "; "
	}
	txts, err := c.DNS.TXT(ctx, k.Name)
	if err != nil {
		v := lookupFailure(err, expected)
		if foundCNAME != "" {
			v.found = foundCNAME + "TXT: " + v.found
			v.detail = "the CNAME target " + foundCNAME[:len(foundCNAME)-2] + " has no DKIM key record: " + v.detail
		}
		return v
	}
	for _, t := range txts {
		if p, ok := dkimKeyOf(t); ok && p == want {
			return verdict{ok: true, expected: expected, found: foundCNAME + t}
		}
	}
	return verdict{expected: expected, errType: ErrorBadValue, found: foundCNAME + strings.Join(txts, " | "),
		detail: fmt.Sprintf("no TXT record at %s has this key's p=%s", k.Name, want)}
}

// checkTokenRecord: a TXT at _amazonses.<domain> is the token.
func checkTokenRecord(ctx context.Context, c *Checker, k recordKey) verdict {
	tok, err := c.S.tokenOf(ctx, k.Account, k.Identity)
	if err != nil {
		return verdict{temporary: true, errType: ErrorService, detail: "reading the token: " + err.Error()}
	}
	txts, err := c.DNS.TXT(ctx, k.Name)
	if err != nil {
		return lookupFailure(err, tok)
	}
	for _, t := range txts {
		if strings.TrimSpace(t) == tok {
			return verdict{ok: true, expected: tok, found: t}
		}
	}
	return verdict{expected: tok, errType: ErrorBadValue, found: strings.Join(txts, " | "),
		detail: "no TXT record at " + k.Name + " is the token"}
}

// advance is the state machine: the record r after a lookup with verdict v
// at now.
//
// A temporary verdict — SERVFAIL, no answer (a timeout), or Petrel's own
// failure (SERVICE_ERROR: the key or token could not be read) — says
// nothing about the record, so after a success it changes nothing but the
// error shown and the time of the next try: the record stays SUCCESS (or,
// when it had already been seen missing, keeps that MissingSince, which a
// temporary verdict never starts, moves or ends in FAILED), and is asked
// again after PendingSlow. An outage of Petrel's own resolver therefore
// never unverifies a domain whose records did not change. Before any
// success a SERVFAIL or timeout is TEMPORARY_FAILURE and the Window runs on
// (SES §9.2: the customer's DNS is not answering); Petrel's own failure
// never ends a window.
//
// FAILED is not the end: a FAILED record is looked up again every
// FailedRecheck (24 h), and a lookup that finds it makes it SUCCESS — a
// record published after its window, or one lost during a DNS outage that
// has ended, recovers without `petrel identity check`. (SES leaves a domain
// FAILED until verification is restarted; Petrel's slow re-check is an
// extension that only ever moves a record to SUCCESS.)
func (c *Checker) advance(r Record, v verdict, now time.Time) Record {
	window, grace := orDefault(c.Window, 72*time.Hour), orDefault(c.Grace, 72*time.Hour)
	failedNext := now.Add(orDefault(c.FailedRecheck, 24*time.Hour))
	r.LastChecked = now
	if v.ok {
		r.Expected, r.Found = v.expected, v.found
		r.Status, r.LastSuccess, r.MissingSince, r.ErrorType, r.Detail = StatusSuccess, now, time.Time{}, "", ""
		r.NextCheck = now.Add(orDefault(c.Recheck, 24*time.Hour))
		return r
	}
	succeeded := r.Status == StatusSuccess || !r.MissingSince.IsZero()
	own := v.errType == ErrorService
	if v.temporary && (succeeded || own || r.Status == StatusFailed) {
		r.ErrorType, r.Detail = v.errType, v.detail
		if v.expected != "" {
			r.Expected = v.expected
		}
		switch {
		case r.Status == StatusFailed:
			r.NextCheck = failedNext
		case !succeeded && r.Status == StatusPending:
			r.Status = StatusTemporaryFailure
			fallthrough
		default:
			r.NextCheck = now.Add(orDefault(c.PendingSlow, 30*time.Minute))
		}
		return r
	}
	r.Expected, r.Found, r.Detail, r.ErrorType = v.expected, v.found, v.detail, v.errType
	if r.Status == StatusFailed {
		r.NextCheck = failedNext
		return r
	}
	if succeeded {
		if r.MissingSince.IsZero() {
			r.MissingSince = now
		}
		r.Status = StatusTemporaryFailure
		if now.Sub(r.MissingSince) >= grace {
			r.Status, r.NextCheck = StatusFailed, failedNext
			return r
		}
		r.NextCheck = c.pendingNext(r.MissingSince, now, grace)
		return r
	}
	if now.Sub(r.Started) >= window || v.permanent {
		r.Status, r.NextCheck = StatusFailed, failedNext
		return r
	}
	r.Status = StatusPending
	if v.temporary {
		r.Status = StatusTemporaryFailure
	}
	r.NextCheck = c.pendingNext(r.Started, now, window)
	return r
}

// pendingNext schedules the next look at a record missing since since:
// every PendingFast for the first hour, then every PendingSlow, and once at
// the end of the period so that FAILED comes on time.
func (c *Checker) pendingNext(since, now time.Time, period time.Duration) time.Time {
	step := orDefault(c.PendingSlow, 30*time.Minute)
	if now.Sub(since) < time.Hour {
		step = orDefault(c.PendingFast, 5*time.Minute)
	}
	next, end := now.Add(step), since.Add(period)
	if next.After(end) && end.After(now) {
		next = end
	}
	return next
}

// sync brings the records in line with the identities and keys (syncRecords).
func (c *Checker) sync(ctx context.Context, account, identity string) error {
	return c.S.syncRecords(ctx, c.now(), account, identity)
}

// StartVerification makes the records an identity must publish known to
// the checker now, PENDING and due (CreateEmailIdentity calls it; the
// checker would find them at its next pass otherwise).
func (s *Service) StartVerification(ctx context.Context, account, name string) error {
	n, _, err := Normalize(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return s.syncRecords(ctx, time.Now(), account, n)
}

// syncRecords makes identity_records hold exactly the records the sources
// want — of every identity (account "") or of one — adding new ones
// PENDING and due at now and deleting those no longer wanted. Identities
// that lost a record have their verified flag recomputed.
func (s *Service) syncRecords(ctx context.Context, now time.Time, account, identity string) error {
	// Records are keyed without their type: a record whose publication
	// style changed (--dkim-cname-zone) keeps its state and is checked
	// again at once, in its new style.
	want := map[recordKey]string{}
	for _, src := range recordSources {
		keys, err := src.list(ctx, s, account, identity)
		if err != nil {
			return fmt.Errorf("listing verification records: %w", err)
		}
		for _, k := range keys {
			typ := k.Type
			k.Type = ""
			want[k] = typ
		}
	}
	db := s.db
	where, args := whereIdentity(account, identity, "identity")
	rows, err := db.QueryContext(ctx, db.Rebind("SELECT account, identity, purpose, name, rtype FROM identity_records WHERE 1 = 1"+where), args...)
	if err != nil {
		return err
	}
	have := map[recordKey]string{}
	for rows.Next() {
		var k recordKey
		var typ string
		if err := rows.Scan(&k.Account, &k.Identity, &k.Purpose, &k.Name, &typ); err != nil {
			rows.Close()
			return err
		}
		have[k] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	changed := map[string]bool{} // accounts whose verified set changed
	for k := range have {
		if _, ok := want[k]; ok {
			continue
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := db.ExecTx(tx, "DELETE FROM identity_records WHERE account = ? AND identity = ? AND purpose = ? AND name = ?", k.Account, k.Identity, k.Purpose, k.Name); err != nil {
				return err
			}
			ch, err := recomputeVerifiedTx(db, tx, k.Account, k.Identity)
			if ch {
				changed[k.Account] = true
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	for k, typ := range want {
		old, ok := have[k]
		switch {
		case !ok:
			_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO identity_records (account, identity, purpose, name, rtype, status, started_ms, next_check_ms)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, identity, purpose, name) DO NOTHING`),
				k.Account, k.Identity, k.Purpose, k.Name, typ, StatusPending, now.UnixMilli(), now.UnixMilli())
		case old != typ:
			_, err = db.ExecContext(ctx, db.Rebind(`UPDATE identity_records SET rtype = ?, next_check_ms = CASE WHEN next_check_ms = 0 THEN next_check_ms ELSE CAST(? AS BIGINT) END
				WHERE account = ? AND identity = ? AND purpose = ? AND name = ?`), typ, now.UnixMilli(), k.Account, k.Identity, k.Purpose, k.Name)
		}
		if err != nil {
			return err
		}
	}
	for a := range changed {
		s.forget(a)
	}
	return nil
}

// CheckDue checks every record that is due (the daemon's loop calls it
// every minute or so; tests drive it with their clock) and returns how
// many it checked. It first brings the records in line with the
// identities and keys.
func (c *Checker) CheckDue(ctx context.Context) (int, error) {
	if err := c.sync(ctx, "", ""); err != nil {
		return 0, err
	}
	checked := 0
	for {
		keys, err := c.claim(ctx)
		if err != nil {
			return checked, err
		}
		for _, k := range keys {
			if _, err := c.checkOne(ctx, k, false); err != nil {
				return checked, err
			}
			checked++
		}
		if len(keys) < dueBatch {
			return checked, nil
		}
	}
}

// claim takes up to dueBatch due records, moving their next check a lease
// ahead so that no other node takes them meanwhile.
func (c *Checker) claim(ctx context.Context) ([]recordKey, error) {
	now := c.now()
	db := c.S.db
	var keys []recordKey
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		keys = nil
		rows, err := tx.QueryContext(ctx, db.Rebind(`SELECT account, identity, purpose, name, rtype FROM identity_records
			WHERE next_check_ms > 0 AND next_check_ms <= ? ORDER BY next_check_ms LIMIT ?`+db.SkipLocked()), now.UnixMilli(), dueBatch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k recordKey
			if err := rows.Scan(&k.Account, &k.Identity, &k.Purpose, &k.Name, &k.Type); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range keys {
			if err := db.ExecTx(tx, "UPDATE identity_records SET next_check_ms = ? WHERE account = ? AND identity = ? AND purpose = ? AND name = ?",
				now.Add(c.lease()).UnixMilli(), k.Account, k.Identity, k.Purpose, k.Name); err != nil {
				return err
			}
		}
		return nil
	})
	return keys, err
}

// checkOne looks one record up and writes its new state, with the
// identity's verified flag, in one transaction. restart first starts a
// FAILED record's window again (Check).
func (c *Checker) checkOne(ctx context.Context, k recordKey, restart bool) (Record, error) {
	src, ok := sourceOf(k.Purpose)
	if !ok {
		return Record{}, fmt.Errorf("verification record %s of %s: unknown purpose %q", k.Name, k.Identity, k.Purpose)
	}
	lookups, cancel := context.WithTimeout(ctx, c.recordBudget())
	defer cancel()
	v := src.check(lookups, c, k)
	var soaJSON string
	if soa := c.soaOf(lookups, k.Name, v); soa != nil {
		b, _ := json.Marshal(soa)
		soaJSON = string(b)
	}
	now := c.now()
	db := c.S.db
	var out Record
	var changed bool
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRecord(tx.QueryRow(db.Rebind("SELECT "+recordColumns+" FROM identity_records WHERE account = ? AND identity = ? AND purpose = ? AND name = ?"),
			k.Account, k.Identity, k.Purpose, k.Name))
		if errors.Is(err, sql.ErrNoRows) {
			out = Record{Account: k.Account, Identity: k.Identity, Purpose: k.Purpose, Name: k.Name, Type: k.Type, Status: StatusPending}
			return nil // the identity or key went away meanwhile
		}
		if err != nil {
			return err
		}
		if restart && r.Status == StatusFailed {
			r.Status, r.Started, r.MissingSince = StatusPending, now, time.Time{}
		}
		before := r.Status
		r = c.advance(r, v, now)
		soa := soaJSON
		if soa == "" && r.SOA != nil {
			b, _ := json.Marshal(r.SOA)
			soa = string(b)
		}
		if err := db.ExecTx(tx, `UPDATE identity_records SET status = ?, started_ms = ?, last_checked_ms = ?, last_success_ms = ?, missing_since_ms = ?,
			next_check_ms = ?, error_type = ?, expected = ?, found = ?, detail = ?, soa = ? WHERE account = ? AND identity = ? AND purpose = ? AND name = ?`,
			r.Status, timeMS(r.Started), timeMS(r.LastChecked), timeMS(r.LastSuccess), timeMS(r.MissingSince), timeMS(r.NextCheck),
			r.ErrorType, r.Expected, r.Found, r.Detail, soa, k.Account, k.Identity, k.Purpose, k.Name); err != nil {
			return err
		}
		if soa != "" {
			r.SOA = new(SOARecord)
			json.Unmarshal([]byte(soa), r.SOA)
		}
		out = r
		if before != r.Status {
			c.log().Info("identity record changed state", "account", k.Account, "identity", k.Identity, "purpose", k.Purpose,
				"name", k.Name, "from", before, "to", r.Status, "error_type", r.ErrorType, "detail", r.Detail)
		}
		// A DKIM record's state decides whether its key signs (Signer):
		// any change drops the account's cached signers.
		dkimChanged := k.Purpose == PurposeDKIM && before != r.Status
		if src.settle != nil {
			if changed, err = src.settle(db, tx, k); err != nil {
				return err
			}
		}
		if !src.verifies {
			return nil
		}
		ch, err := recomputeVerifiedTx(db, tx, k.Account, k.Identity)
		changed = changed || ch || dkimChanged
		return err
	})
	if changed {
		c.S.forget(k.Account)
	}
	return out, err
}

// soaOf is the SOA of the zone holding name, after a lookup with verdict
// v; nil when the lookup failed for want of an answer or the SOA cannot be
// had.
func (c *Checker) soaOf(ctx context.Context, name string, v verdict) *SOARecord {
	if v.temporary {
		return nil
	}
	soa, err := c.DNS.SOA(ctx, name)
	if err != nil {
		return nil
	}
	return &SOARecord{PrimaryNameServer: strings.TrimSuffix(soa.Ns, "."), AdminEmail: strings.TrimSuffix(soa.Mbox, "."), SerialNumber: int64(soa.Serial)}
}

// Report is what Check (or Preview) found for one identity.
type Report struct {
	Identity string
	Kind     Kind
	Verified bool // verified for sending after the check (Preview: as stored)
	Vouched  bool // by the operator
	Records  []Record
	// ReportOnly: Preview's report, nothing was written.
	ReportOnly bool
}

// Check looks up every record of an identity now (petrel identity check)
// and returns, per record, what was expected and what DNS returned. A
// FAILED record starts a new window. ErrNotFound for an unknown identity.
func (c *Checker) Check(ctx context.Context, account, name string) (Report, error) {
	id, err := c.S.Get(ctx, account, name)
	if err != nil {
		return Report{}, err
	}
	if err := c.sync(ctx, account, id.Name); err != nil {
		return Report{}, err
	}
	recs, err := c.S.Records(ctx, account, id.Name)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Identity: id.Name, Kind: id.Kind}
	for _, r := range recs {
		out, err := c.checkOne(ctx, recordKey{Account: r.Account, Identity: r.Identity, Purpose: r.Purpose, Name: r.Name, Type: r.Type}, true)
		if err != nil {
			return rep, err
		}
		rep.Records = append(rep.Records, out)
	}
	var vouched, verified int
	err = c.S.db.QueryRowContext(ctx, c.S.db.Rebind("SELECT vouched, verified FROM identities WHERE account = ? AND name = ?"), account, id.Name).Scan(&vouched, &verified)
	rep.Vouched, rep.Verified = vouched != 0, verified != 0
	return rep, err
}

// Run calls CheckDue every interval, the first time one interval after
// the start (out of the way of the start's own work), until ctx is done,
// logging failures.
func (c *Checker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.CheckDue(ctx); err != nil && ctx.Err() == nil {
			c.log().Warn("checking identity records", "err", err)
		}
	}
}
