package identity

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Preview is Check without writing anything: it looks every record the
// identity must publish up now and returns the states Check would give
// them, leaving identity_records, the schedule and the verified flag as
// they are (Report.ReportOnly; Verified and Vouched are the stored flags).
// `petrel identity check` previews when its settings differ from the
// running daemon's, whose verdicts must not be overwritten by others.
// ErrNotFound for an unknown identity.
func (c *Checker) Preview(ctx context.Context, account, name string) (Report, error) {
	id, err := c.S.Get(ctx, account, name)
	if err != nil {
		return Report{}, err
	}
	stored, err := c.S.Records(ctx, account, id.Name)
	if err != nil {
		return Report{}, err
	}
	have := map[[2]string]Record{}
	for _, r := range stored {
		have[[2]string{r.Purpose, r.Name}] = r
	}
	rep := Report{Identity: id.Name, Kind: id.Kind, Verified: id.Verified, ReportOnly: true}
	now := c.now()
	for _, src := range recordSources {
		keys, err := src.list(ctx, c.S, account, id.Name)
		if err != nil {
			return rep, err
		}
		for _, k := range keys {
			r, ok := have[[2]string{k.Purpose, k.Name}]
			if !ok {
				r = Record{Account: k.Account, Identity: k.Identity, Purpose: k.Purpose, Name: k.Name, Status: StatusPending, Started: now}
			}
			r.Type = k.Type
			if r.Status == StatusFailed {
				r.Status, r.Started, r.MissingSince = StatusPending, now, time.Time{}
			}
			v := src.check(ctx, c, k)
			r = c.advance(r, v, now)
			if soa := c.soaOf(ctx, k.Name, v); soa != nil {
				r.SOA = soa
			}
			rep.Records = append(rep.Records, r)
		}
	}
	slices.SortFunc(rep.Records, func(a, b Record) int {
		return cmp.Or(strings.Compare(a.Purpose, b.Purpose), strings.Compare(a.Name, b.Name))
	})
	var vouched int
	err = c.S.db.QueryRowContext(ctx, c.S.db.Rebind("SELECT vouched FROM identities WHERE account = ? AND name = ?"), account, id.Name).Scan(&vouched)
	rep.Vouched = vouched != 0
	return rep, err
}
