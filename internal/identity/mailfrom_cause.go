package identity

import (
	"context"
	"fmt"
	"strings"
)

// MailFromCause says, in words, why the custom MAIL FROM domain of
// identity (of account) is not verified, from its MX and SPF records'
// last checks (identity_records, purposes MAIL_FROM_MX and MAIL_FROM_SPF):
// for each record not SUCCESS, its name, status, SES ErrorType and the
// check's explanation, e.g. "MX record of bounce.example.com is
// TEMPORARY_FAILURE (DNS_SERVER_ERROR: SERVFAIL)". When the checker has
// not looked yet it says so. For the refusal of a send
// (MailFromDomainNotVerified): one query, only on that path.
func (s *Service) MailFromCause(ctx context.Context, account, identity string) (string, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+recordColumns+" FROM identity_records WHERE account = ? AND identity = ? AND purpose IN (?, ?) ORDER BY purpose DESC, name"),
		account, identity, PurposeMailFromMX, PurposeMailFromSPF)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var causes []string
	seen := 0
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return "", err
		}
		seen++
		if r.Status == StatusSuccess {
			continue
		}
		kind := "MX"
		if r.Purpose == PurposeMailFromSPF {
			kind = "SPF"
		}
		c := fmt.Sprintf("its %s record at %s is %s", kind, r.Name, r.Status)
		var why []string
		for _, w := range []string{r.ErrorType, r.Detail} {
			if w != "" {
				why = append(why, w)
			}
		}
		if len(why) > 0 {
			c += " (" + strings.Join(why, ": ") + ")"
		}
		causes = append(causes, c)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch {
	case seen == 0:
		return "its MX and SPF records have not been checked yet", nil
	case len(causes) == 0:
		return "its MX and SPF records were found since the status was read", nil
	}
	return strings.Join(causes, "; "), nil
}
