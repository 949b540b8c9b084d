package notify

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Retry policy (SNS's HTTP delivery policy as the model, docs/notifications.md):
// after each of the first ImmediateRetries failures the job is retried
// ImmediateDelay later; then the delay starts at MinBackoff and doubles up
// to MaxBackoff. The last attempt is made RetryPeriod after the job was
// created (or replayed); if it fails too, the job is a dead letter. A 410
// Gone answer makes it a dead letter at once.
const (
	ImmediateRetries = 3
	ImmediateDelay   = 20 * time.Second
	MinBackoff       = time.Minute
	MaxBackoff       = time.Hour
)

// backoff is the delay after the failed attempt number n (1-based).
func backoff(n int) time.Duration {
	if n <= ImmediateRetries {
		return ImmediateDelay
	}
	d := MinBackoff
	for i := ImmediateRetries + 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// claimedJob is a job this node holds a lease on.
type claimedJob struct {
	Job
	attempts int
	created  time.Time
	until    time.Time // lease expiry
	// bad is why the stored job cannot be sent as it is (its secrets do
	// not decode or unseal): its attempts fail with it, so it ends as a
	// dead letter instead of blocking its target.
	bad error
}

// leaseFor is how long an attempt's lease lasts: longer than any attempt
// (bounded by HTTPTimeout), so no other node takes a job being attempted.
func (e *Engine) leaseFor() time.Duration { return e.cfg.HTTPTimeout + time.Minute }

const jobColumns = "id, account, target, channel, kind, url, headers, body, secrets, mail_from, rcpt, attempts, created_ms"

// schedule claims due jobs and starts their attempts. Free slots are handed
// out fairly (see Config.PerAccount): round-robin over the accounts with
// due jobs, those with the fewest attempts in flight first (then the
// oldest-waiting), one slot per account per round; within an account
// round-robin over its targets, oldest-waiting first; never more than
// PerTarget per target, PerAccount per account, Workers in all. With wait
// it returns after the attempts have finished (tests step the engine with
// it).
func (e *Engine) schedule(ctx context.Context, wait bool) error {
	now := e.cfg.Now()
	e.mu.Lock()
	free := e.cfg.Workers - e.total
	// Which targets have due jobs, read outside the write transaction
	// (an idle poll writes nothing); the claims below re-check. Full
	// targets and accounts are left out, so a busy account's many
	// targets do not crowd the others out of the LIMIT.
	q, args := e.excludeFullLocked("SELECT target, account, MIN(next_attempt_ms) FROM notify_deliveries "+
		"WHERE state = 'pending' AND next_attempt_ms <= ? AND lease_until_ms <= ?", []any{now.UnixMilli(), now.UnixMilli()})
	e.mu.Unlock()
	if free <= 0 {
		return nil
	}
	rs, err := e.db.QueryContext(ctx, e.db.Rebind(q+" GROUP BY target, account ORDER BY 3 LIMIT 5000"), args...)
	if err != nil {
		return fmt.Errorf("finding due notification targets: %w", err)
	}
	var due []dueTarget
	for rs.Next() {
		var d dueTarget
		if err := rs.Scan(&d.target, &d.account, &d.oldest); err != nil {
			rs.Close()
			return err
		}
		due = append(due, d)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	type claim struct {
		target string
		n      int
	}
	var plan []claim
	e.mu.Lock()
	for t, n := range fairShare(due, free, e.cfg.PerTarget, e.cfg.PerAccount, e.inflight, e.accounts) {
		plan = append(plan, claim{t, n})
	}
	e.mu.Unlock()
	if len(plan) == 0 {
		return nil
	}
	var claimed []*claimedJob
	err = e.tx(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		claimQ := e.db.Rebind("UPDATE notify_deliveries SET lease_owner = ?, lease_until_ms = ? WHERE id IN (" +
			"SELECT id FROM notify_deliveries WHERE target = ? AND state = 'pending' AND next_attempt_ms <= ? AND lease_until_ms <= ? " +
			"ORDER BY next_attempt_ms LIMIT ?" + e.db.SkipLocked() + ") RETURNING " + jobColumns)
		until := now.Add(e.leaseFor())
		for _, c := range plan {
			rs, err := tx.QueryContext(ctx, claimQ, e.cfg.NodeID, until.UnixMilli(), c.target, now.UnixMilli(), now.UnixMilli(), c.n)
			if err != nil {
				return fmt.Errorf("claiming notification jobs: %w", err)
			}
			for rs.Next() {
				j, err := e.scanJob(rs)
				if err != nil {
					rs.Close()
					return err
				}
				j.until = until
				claimed = append(claimed, j)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	for _, j := range claimed {
		e.inflight[j.Target]++
		e.accounts[j.Account]++
		e.total++
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range claimed {
		e.wg.Add(1)
		wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer wg.Done()
			e.deliver(ctx, j)
		}()
	}
	if wait {
		wg.Wait()
	}
	return nil
}

// dueTarget is a target with due jobs.
type dueTarget struct {
	target, account string
	oldest          int64 // next_attempt_ms of its oldest due job
}

// fairShare decides how many slots each due target gets out of free:
// round-robin over accounts (fewest attempts in flight first, then the
// oldest-waiting), one slot per account per round, each account's slot
// going to its targets in turn (oldest-waiting first); a target gets at
// most perTarget minus its attempts in flight (inflight), an account at
// most perAccount minus its own (accounts). due is ordered oldest first.
func fairShare(due []dueTarget, free, perTarget, perAccount int, inflight, accounts map[string]int) map[string]int {
	type acct struct {
		name    string
		targets []dueTarget
		next    int // the target getting the account's next slot
		used    int // attempts in flight, and planned
		oldest  int64
	}
	var order []*acct
	byName := map[string]*acct{}
	for _, d := range due {
		a := byName[d.account]
		if a == nil {
			a = &acct{name: d.account, used: accounts[d.account], oldest: d.oldest}
			byName[d.account] = a
			order = append(order, a)
		}
		a.targets = append(a.targets, d)
	}
	slices.SortStableFunc(order, func(x, y *acct) int {
		return cmp.Or(cmp.Compare(x.used, y.used), cmp.Compare(x.oldest, y.oldest))
	})
	plan := map[string]int{}
	for free > 0 {
		progress := false
		for _, a := range order {
			if free == 0 {
				break
			}
			if a.used >= perAccount {
				continue
			}
			// The account's next target with a free slot.
			for range a.targets {
				t := a.targets[a.next%len(a.targets)]
				a.next++
				if inflight[t.target]+plan[t.target] < perTarget {
					plan[t.target]++
					a.used++
					free--
					progress = true
					break
				}
			}
		}
		if !progress {
			break
		}
	}
	return plan
}

func (e *Engine) scanJob(rs *sql.Rows) (*claimedJob, error) {
	j := &claimedJob{}
	var channel, headers, secrets string
	var created int64
	if err := rs.Scan(&j.ID, &j.Account, &j.Target, &channel, &j.Kind, &j.URL, &headers, &j.Body, &secrets,
		&j.MailFrom, &j.Rcpt, &j.attempts, &created); err != nil {
		return nil, err
	}
	j.Channel, j.created = Channel(channel), time.UnixMilli(created)
	if headers != "" {
		if err := json.Unmarshal([]byte(headers), &j.Headers); err != nil {
			j.bad = fmt.Errorf("stored headers: %w", err)
		}
	}
	if secrets != "" {
		plain, err := e.openSecrets(j.ID, secrets)
		if err == nil {
			err = json.Unmarshal(plain, &j.Secrets)
		}
		if err != nil {
			j.bad = fmt.Errorf("stored signing secrets: %w", err)
		}
	}
	return j, nil
}

// openSecrets returns the JSON of a job's secrets column.
func (e *Engine) openSecrets(id, stored string) ([]byte, error) {
	b64, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return []byte(stored), nil
	}
	if e.cfg.Sealer == nil {
		return nil, errors.New("sealed, and no sealer configured")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	return e.cfg.Sealer.Open(raw, sealBinding(id))
}

// deliver makes one attempt at j and records the outcome.
func (e *Engine) deliver(ctx context.Context, j *claimedJob) {
	defer func() {
		e.mu.Lock()
		if e.inflight[j.Target]--; e.inflight[j.Target] <= 0 {
			delete(e.inflight, j.Target)
		}
		if e.accounts[j.Account]--; e.accounts[j.Account] <= 0 {
			delete(e.accounts, j.Account)
		}
		e.total--
		e.mu.Unlock()
		select {
		case e.done <- struct{}{}:
		default:
		}
	}()
	actx, cancel := context.WithTimeout(ctx, e.cfg.HTTPTimeout)
	dropped, err := e.refresh(actx, j)
	if err == nil && !dropped {
		err = e.attempt(actx, j)
	}
	cancel()
	rctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		// Shutting down: hand the job back unattempted (a retry soon).
		e.tx(rctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(rctx, e.db.Rebind("UPDATE notify_deliveries SET lease_owner = '', lease_until_ms = 0 WHERE id = ? AND lease_owner = ?"), j.ID, e.cfg.NodeID)
			return err
		})
		return
	}
	if dropped {
		err = errDropped
	}
	if err := e.record(rctx, j, err); err != nil {
		e.log.Warn("recording notification attempt", "job", j.ID, "err", err)
	}
}

// errDropped is the outcome of a job whose endpoint no longer exists.
var errDropped = errors.New("the endpoint no longer exists")

// refresh applies Config.Refresh to j before an attempt: j takes the
// endpoint's current URL, headers, body and secrets (its ID, account,
// target and channel stay). dropped: the endpoint is gone. An error (the
// hook's, or a stored job that cannot be read) fails the attempt.
func (e *Engine) refresh(ctx context.Context, j *claimedJob) (dropped bool, err error) {
	if e.cfg.Refresh == nil {
		return false, j.bad
	}
	nj, ok, err := e.cfg.Refresh(ctx, j.Job)
	if err != nil {
		return false, fmt.Errorf("looking up the endpoint: %w", err)
	}
	if !ok {
		return true, nil
	}
	nj.ID, nj.Account, nj.Target, nj.Channel = j.ID, j.Account, j.Target, j.Channel
	if len(nj.Secrets) > 0 || j.Channel != Webhook {
		j.bad = nil // the stored secrets are replaced
	}
	j.Job = nj
	return false, j.bad
}

// outcome is an attempt's result waiting to be recorded.
type outcome struct {
	j    *claimedJob
	err  error     // the attempt's
	at   time.Time // when it ended
	done chan error
}

// record stores the outcome of an attempt: delivered jobs are deleted,
// failed ones rescheduled or made dead letters. Outcomes of concurrent
// attempts are committed together (group commit: one transaction, one
// fsync on SQLite, for all the attempts that ended meanwhile).
func (e *Engine) record(ctx context.Context, j *claimedJob, attemptErr error) error {
	o := &outcome{j: j, err: attemptErr, at: e.cfg.Now(), done: make(chan error, 1)}
	e.rmu.Lock()
	e.rpending = append(e.rpending, o)
	if !e.rrunning {
		e.rrunning = true
		go e.flushOutcomes(context.WithoutCancel(ctx))
	}
	e.rmu.Unlock()
	return <-o.done
}

func (e *Engine) flushOutcomes(ctx context.Context) {
	for {
		e.rmu.Lock()
		batch := e.rpending
		e.rpending = nil
		if len(batch) == 0 {
			e.rrunning = false
			e.rmu.Unlock()
			return
		}
		e.rmu.Unlock()
		errs := make([]error, len(batch))
		err := e.tx(ctx, func(tx *sql.Tx) error {
			clear(errs)
			for i, o := range batch {
				n, err := e.recordTx(ctx, tx, o)
				if err != nil {
					return err
				}
				if n != 1 {
					errs[i] = errLeaseLost
				}
			}
			return nil
		})
		for i, o := range batch {
			if err != nil {
				errs[i] = err
			}
			o.done <- errs[i]
		}
	}
}

// recordTx records o in tx. Only the lease holder's record counts
// (compare-and-set on lease_owner and lease_until_ms): it returns the rows
// changed, 0 when the lease was lost.
func (e *Engine) recordTx(ctx context.Context, tx *sql.Tx, o *outcome) (int64, error) {
	j, now := o.j, o.at
	var res sql.Result
	var err error
	switch {
	case o.err == nil || o.err == errDropped:
		if o.err == errDropped {
			e.dropped.Add(1)
			e.log.Warn("notification dropped: its endpoint no longer exists", "job", j.ID, "account", j.Account, "target", j.Target, "kind", j.Kind)
		}
		res, err = tx.ExecContext(ctx, e.db.Rebind("DELETE FROM notify_deliveries WHERE id = ? AND lease_owner = ? AND lease_until_ms = ?"),
			j.ID, e.cfg.NodeID, j.until.UnixMilli())
	default:
		attempts := j.attempts + 1
		msg := truncate(o.err.Error(), 500)
		deadline := j.created.Add(e.cfg.RetryPeriod)
		var gone *goneError
		if errors.As(o.err, &gone) || !now.Before(deadline) {
			e.log.Warn("notification is a dead letter", "job", j.ID, "target", j.Target, "attempts", attempts, "err", msg)
			res, err = tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_deliveries SET state = 'dead', attempts = ?, last_error = ?, dead_ms = ?, url = ?, rcpt = ?, "+
				"lease_owner = '', lease_until_ms = 0 WHERE id = ? AND lease_owner = ? AND lease_until_ms = ?"),
				attempts, msg, now.UnixMilli(), j.URL, j.Rcpt, j.ID, e.cfg.NodeID, j.until.UnixMilli())
			break
		}
		next := now.Add(backoff(attempts))
		if next.After(deadline) {
			next = deadline // the last attempt, at the end of the retry period
		}
		res, err = tx.ExecContext(ctx, e.db.Rebind("UPDATE notify_deliveries SET attempts = ?, last_error = ?, next_attempt_ms = ?, url = ?, rcpt = ?, "+
			"lease_owner = '', lease_until_ms = 0 WHERE id = ? AND lease_owner = ? AND lease_until_ms = ?"),
			attempts, msg, next.UnixMilli(), j.URL, j.Rcpt, j.ID, e.cfg.NodeID, j.until.UnixMilli())
	}
	if err != nil {
		return 0, fmt.Errorf("recording notification attempt: %w", err)
	}
	return res.RowsAffected()
}

// goneError is a 410 answer: the endpoint says it is gone for good.
type goneError struct{ status string }

func (g *goneError) Error() string { return "HTTP " + g.status + " (a dead letter at once)" }

// maxAnswer is how much of an endpoint's answer is read (and kept in
// last_error) before the connection is closed.
const maxAnswer = 64 << 10

// attempt sends j once: nil means delivered.
func (e *Engine) attempt(ctx context.Context, j *claimedJob) error {
	switch j.Channel {
	case Email:
		if e.mailer == nil {
			return errors.New("no mailer configured for email notifications")
		}
		return e.mailer.SendSystemMail(ctx, j.Account, j.MailFrom, j.Rcpt, j.Body)
	case Webhook, SNSHTTP:
	default:
		return fmt.Errorf("unknown channel %q", j.Channel)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(j.Body))
	if err != nil {
		return err
	}
	switch j.Channel {
	case Webhook:
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Petrel-Webhook/1")
		req.Header.Set("X-Petrel-Event-Id", j.ID)
		req.Header.Set("X-Petrel-Event-Type", j.Kind)
		if len(j.Secrets) > 0 {
			req.Header.Set("X-Petrel-Signature", SignWebhook(j.Secrets, e.cfg.Now(), j.Body))
		}
	case SNSHTTP:
		req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
		req.Header.Set("User-Agent", "Petrel-SNS/1")
	}
	for k, v := range j.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return &goneError{status: resp.Status}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("HTTP %s to %s (redirects are not followed)", resp.Status, resp.Header.Get("Location"))
	default:
		msg := "HTTP " + resp.Status
		if len(answer) > 0 {
			msg += ": " + strconv.Quote(truncate(string(answer), 200))
		}
		return errors.New(msg)
	}
}
