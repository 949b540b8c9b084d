package importjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/suppression"
)

// errLeaseLost stops a job whose lease another runner took over (this one
// stalled past LeaseFor).
var errLeaseLost = errors.New("import job lease lost")

// Run runs jobs until ctx is done: it claims CREATED jobs, and PROCESSING
// jobs whose lease ran out or that this owner held before a restart, one at
// a time, and prunes uploads older than UploadTTL. Accounts take turns
// (claimNext): one account's queued jobs do not hold up another's. Several
// nodes may run over one store: a job is claimed by one conditional UPDATE,
// so only one runs it. A job is restarted from its first record when taken
// over (PUT and DELETE are idempotent). Run returns nil when ctx ends; a job
// in flight then keeps its lease and is restarted later.
func (s *Service) Run(ctx context.Context) error {
	var pruned time.Time
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if time.Since(pruned) > time.Hour {
			if err := s.prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning import uploads", "err", err)
			}
			pruned = time.Now()
		}
		for ctx.Err() == nil {
			j, ok, err := s.claimNext(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("claiming an import job", "err", err)
				}
				break
			}
			if !ok {
				break
			}
			s.log.Info("import job started", "job_id", j.ID, "account", j.Account, "action", j.Action, "source", j.SourceURL)
			j, err = s.run(ctx, j, s.cfg.Owner, nil)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case errors.Is(err, errLeaseLost):
				s.log.Warn("import job taken over by another runner (this one stalled past its lease)", "job_id", j.ID)
			case err != nil:
				// Retried at the next poll (this owner reclaims it), not at
				// once: the store may need time.
				s.log.Warn("import job interrupted; it is restarted later", "job_id", j.ID, "err", err)
			default:
				s.log.Info("import job finished", "job_id", j.ID, "status", j.Status, "processed", j.Processed, "failed", j.Failed, "error", j.ErrorMessage)
			}
			if err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// claimNext claims the next job this runner may run, taking accounts in
// turn: first the accounts with the fewest jobs running (PROCESSING under a
// live lease) on any node, then among those the account served longest ago
// (its latest job to finish, or now if one is running; never served
// first), then that account's oldest job. Each account has at most
// MaxUnfinishedJobs candidates, so the ordering reads a bounded number of
// rows per account (the import_jobs_account index).
func (s *Service) claimNext(ctx context.Context) (Job, bool, error) {
	now := s.now().UnixMilli()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT j.id FROM import_jobs j
		WHERE (j.status = ? OR (j.status = ? AND (j.lease_until_ms < ? OR j.lease_owner = ?)))
		ORDER BY
			(SELECT COUNT(*) FROM import_jobs r WHERE r.account = j.account AND r.id <> j.id AND r.status = ? AND r.lease_until_ms >= ?),
			(SELECT COALESCE(MAX(CASE WHEN r.status = ? THEN ? ELSE r.completed_ms END), 0) FROM import_jobs r
				WHERE r.account = j.account AND r.id <> j.id AND r.status <> ?),
			j.created_ms, j.id
		LIMIT 20`),
		string(Created), string(Processing), now, s.cfg.Owner,
		string(Processing), now,
		string(Processing), now, string(Created))
	if err != nil {
		return Job{}, false, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return Job{}, false, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Job{}, false, err
	}
	for _, id := range ids {
		res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE import_jobs SET status = ?, lease_owner = ?, lease_until_ms = ?, processed = 0, failed = 0
			WHERE id = ? AND (status = ? OR (status = ? AND (lease_until_ms < ? OR lease_owner = ?)))`),
			string(Processing), s.cfg.Owner, s.now().Add(LeaseFor).UnixMilli(), id, string(Created), string(Processing), now, s.cfg.Owner)
		if err != nil {
			return Job{}, false, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			continue // another runner claimed it
		}
		var j Job
		j, err = scanJob(s.db.QueryRowContext(ctx, s.db.Rebind("SELECT "+jobColumns+" FROM import_jobs WHERE id = ?"), id))
		return j, err == nil, err
	}
	return Job{}, false, nil
}

// Import creates a job for account and runs it in this process to its end
// (the CLI's petrel suppression import), calling progress (if not nil)
// after each batch. The job is leased from its creation to an owner of
// its own, so no runner starts it too; interrupted, it is left PROCESSING
// and a runner restarts it once the lease runs out. It returns the
// finished job; a refused request is *InputError, as for Create.
func (s *Service) Import(ctx context.Context, account string, action Action, source string, format Format, progress func(Job)) (Job, error) {
	owner := s.cfg.Owner + "/import-" + randomHex(4)
	j, err := s.create(ctx, account, "", action, source, format, owner)
	if err != nil {
		return j, err
	}
	return s.run(ctx, j, owner, progress)
}

// run runs job j, leased to owner, to COMPLETED or FAILED. An error means
// the job was left PROCESSING (ctx ended, the store failed, the lease was
// lost).
func (s *Service) run(ctx context.Context, j Job, owner string, progress func(Job)) (Job, error) {
	data, err := s.read(ctx, j)
	if err != nil {
		var in *InputError
		if errors.As(err, &in) {
			return s.finish(ctx, j, owner, Failed, in.Msg, nil)
		}
		return j, err
	}
	limit := MaxPutRecords
	if j.Action == Delete {
		limit = MaxDeleteRecords
	}
	if j.ContactList != "" {
		return s.runContacts(ctx, j, owner, data, limit, progress)
	}
	p := Parse(data, j.Format, j.Action, limit)
	if p.Over {
		return s.finish(ctx, j, owner, Failed, fmt.Sprintf("The file has more than %d records, the most a %s import takes. Nothing was imported: split the file.", limit, j.Action), nil)
	}
	recs := p.Records
	j.Failed = p.Failed
	now := s.list.Now()
	cause := "import job " + j.ID
	for len(recs) > 0 {
		n := min(BatchSize, len(recs))
		batch := recs[:n]
		recs = recs[n:]
		if j.Action == Put {
			entries := make([]suppression.Entry, len(batch))
			for i, r := range batch {
				entries[i] = suppression.Entry{Address: r.Address, Reason: r.Reason, LastUpdate: now, Cause: cause}
			}
			err = s.list.PutMany(ctx, j.Account, entries)
		} else {
			addrs := make([]address.Address, len(batch))
			for i, r := range batch {
				addrs[i] = r.Address
			}
			_, err = s.list.DeleteMany(ctx, j.Account, addrs)
		}
		if err != nil {
			return j, err
		}
		j.Processed += n
		if len(recs) > 0 {
			if err := s.progress(ctx, j, owner); err != nil {
				return j, err
			}
		}
		if progress != nil {
			progress(j)
		}
	}
	return s.finish(ctx, j, owner, Completed, "", p.Failures)
}

// runContacts runs contact-list job j over data: each record is checked
// against the list (contacts.ValidateContact; a refused one is a failed
// record), then written BatchSize at a time (contacts.PutContacts,
// DeleteContacts). A list deleted before or during the run fails the job.
func (s *Service) runContacts(ctx context.Context, j Job, owner string, data []byte, limit int, progress func(Job)) (Job, error) {
	if s.cfg.Contacts == nil {
		return s.finish(ctx, j, owner, Failed, "Contact lists are not available on this Petrel.", nil)
	}
	p := ParseContacts(data, j.Format, j.Action, limit)
	if p.Over {
		return s.finish(ctx, j, owner, Failed, fmt.Sprintf("The file has more than %d records, the most a %s import takes. Nothing was imported: split the file.", limit, j.Action), nil)
	}
	gone := func() (Job, error) {
		return s.finish(ctx, j, owner, Failed, fmt.Sprintf("Contact list %s does not exist.", j.ContactList), nil)
	}
	l, err := s.cfg.Contacts.GetList(ctx, j.Account, j.ContactList)
	if errors.Is(err, contacts.ErrNotFound) {
		return gone()
	} else if err != nil {
		return j, err
	}
	recs := p.Records[:0]
	for _, r := range p.Records {
		r.Contact.List = j.ContactList
		if j.Action == Put {
			if err := contacts.ValidateContact(l, r.Contact); err != nil {
				p.fail(r.Line, []byte(r.Text), err)
				continue
			}
		}
		recs = append(recs, r)
	}
	slices.SortFunc(p.Failures, func(a, b Failure) int { return a.Line - b.Line })
	j.Failed = p.Failed
	for len(recs) > 0 {
		n := min(BatchSize, len(recs))
		batch := recs[:n]
		recs = recs[n:]
		if j.Action == Put {
			cs := make([]contacts.Contact, len(batch))
			for i, r := range batch {
				cs[i] = r.Contact
			}
			err = s.cfg.Contacts.PutContacts(ctx, j.Account, j.ContactList, cs)
		} else {
			emails := make([]string, len(batch))
			for i, r := range batch {
				emails[i] = r.Contact.Email
			}
			_, err = s.cfg.Contacts.DeleteContacts(ctx, j.Account, j.ContactList, emails)
		}
		if errors.Is(err, contacts.ErrNotFound) {
			return gone()
		}
		if err != nil {
			return j, err
		}
		j.Processed += n
		if len(recs) > 0 {
			if err := s.progress(ctx, j, owner); err != nil {
				return j, err
			}
		}
		if progress != nil {
			progress(j)
		}
	}
	s.cfg.Contacts.Analyze(ctx)
	return s.finish(ctx, j, owner, Completed, "", p.Failures)
}

// progress records j's counts and renews its lease.
func (s *Service) progress(ctx context.Context, j Job, owner string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE import_jobs SET processed = ?, failed = ?, lease_until_ms = ? WHERE id = ? AND lease_owner = ? AND status = ?"),
		j.Processed, j.Failed, s.now().Add(LeaseFor).UnixMilli(), j.ID, owner, string(Processing))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errLeaseLost
	}
	return nil
}

// finish ends j with status and message, keeping its failed records.
func (s *Service) finish(ctx context.Context, j Job, owner string, status Status, msg string, fails []Failure) (Job, error) {
	text := ""
	if len(fails) > 0 {
		b, err := json.Marshal(fails)
		if err != nil {
			return j, err
		}
		text = string(b)
	}
	if status == Failed {
		j.Processed, j.Failed = 0, 0
	}
	j.Status, j.ErrorMessage, j.Completed = status, msg, s.now().Truncate(time.Millisecond)
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE import_jobs SET status = ?, error_message = ?, completed_ms = ?, processed = ?, failed = ?,
		failed_records = ?, lease_owner = '', lease_until_ms = 0 WHERE id = ? AND lease_owner = ? AND status = ?`),
		string(status), msg, j.Completed.UnixMilli(), j.Processed, j.Failed, text, j.ID, owner, string(Processing))
	if err != nil {
		return j, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return j, errLeaseLost
	}
	return j, nil
}

// prune deletes uploads older than UploadTTL.
func (s *Service) prune(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM import_uploads WHERE created_ms < ?"), s.now().Add(-UploadTTL).UnixMilli())
	return err
}
