package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// The MAIL FROM records as a source of the verification engine (Checker):
// for every identity with a custom MAIL FROM domain, a MAIL_FROM_MX record
// (type MX) and a MAIL_FROM_SPF record (type TXT), both named the MAIL
// FROM domain, checked by EvaluateMailFromMX / EvaluateMailFromSPF against
// Checker.MailFrom and moved through the engine's states like the DKIM
// records. After each check the identity's MailFromDomainStatus
// (identity_mail_from.status, what the send path reads) becomes
// MailFromStatus of the two.

var mailFromSource = recordSource{
	purposes: []string{PurposeMailFromMX, PurposeMailFromSPF},
	list:     listMailFromRecords,
	check:    checkMailFromRecord,
	settle:   settleMailFromTx,
}

// listMailFromRecords: the two records of every identity (of one, when
// account is set) with a MAIL FROM domain.
func listMailFromRecords(ctx context.Context, s *Service, account, identity string) ([]recordKey, error) {
	db := s.db
	where, args := whereIdentity(account, identity, "identity")
	rows, err := db.QueryContext(ctx, db.Rebind("SELECT account, identity, domain FROM identity_mail_from WHERE domain <> ''"+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordKey
	for rows.Next() {
		var a, id, d string
		if err := rows.Scan(&a, &id, &d); err != nil {
			return nil, err
		}
		out = append(out, recordKey{Account: a, Identity: id, Purpose: PurposeMailFromMX, Name: d, Type: "MX"},
			recordKey{Account: a, Identity: id, Purpose: PurposeMailFromSPF, Name: d, Type: "TXT"})
	}
	return out, rows.Err()
}

// dnsAnswer turns a resolver error into the evaluators' outcome.
func dnsAnswer(err error) DNSAnswer {
	switch {
	case errors.Is(err, resolver.ErrNXDomain):
		return DNSAnswer{Outcome: DNSNXDomain}
	case errors.Is(err, resolver.ErrNoData):
		return DNSAnswer{}
	}
	return DNSAnswer{Outcome: DNSServerFailure, Detail: err.Error()}
}

// checkMailFromRecord looks up the MX or TXT records of the MAIL FROM
// domain and evaluates them.
func checkMailFromRecord(ctx context.Context, c *Checker, k recordKey) verdict {
	var v RecordVerdict
	if k.Purpose == PurposeMailFromMX {
		a := DNSAnswer{}
		mxs, err := c.DNS.MX(ctx, k.Name)
		if err != nil {
			a = dnsAnswer(err)
		}
		for _, mx := range mxs {
			a.MX = append(a.MX, MXRecord{Preference: mx.Preference, Host: mx.Mx})
		}
		v = EvaluateMailFromMX(k.Name, c.MailFrom, a)
	} else {
		a := DNSAnswer{}
		txts, err := c.DNS.TXT(ctx, k.Name)
		if err != nil {
			a = dnsAnswer(err)
		}
		a.TXT = txts
		v = EvaluateMailFromSPF(k.Name, c.MailFrom, a)
	}
	return verdict{ok: v.Status == StatusSuccess, temporary: v.Status == StatusTemporaryFailure, permanent: v.Status == StatusFailed,
		errType: v.ErrorType, found: v.Found, detail: v.Explanation, expected: v.Expected}
}

// settleMailFromTx sets the MailFromDomainStatus of the identity whose
// MAIL FROM record k was just checked: MailFromStatus of its MX and SPF
// records (PENDING while one has not been checked yet). It reports whether
// the status changed.
func settleMailFromTx(db *store.DB, tx *sql.Tx, k recordKey) (bool, error) {
	st := map[string]string{PurposeMailFromMX: StatusPending, PurposeMailFromSPF: StatusPending}
	rows, err := tx.Query(db.Rebind("SELECT purpose, status FROM identity_records WHERE account = ? AND identity = ? AND name = ? AND purpose IN (?, ?)"),
		k.Account, k.Identity, k.Name, PurposeMailFromMX, PurposeMailFromSPF)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var p, s string
		if err := rows.Scan(&p, &s); err != nil {
			rows.Close()
			return false, err
		}
		st[p] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	status := MailFromStatus(st[PurposeMailFromMX], st[PurposeMailFromSPF])
	res, err := tx.Exec(db.Rebind("UPDATE identity_mail_from SET status = ? WHERE account = ? AND identity = ? AND domain = ? AND status <> ?"),
		status, k.Account, k.Identity, k.Name, status)
	if err != nil {
		return false, fmt.Errorf("recording MAIL FROM status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
