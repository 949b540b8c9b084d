package stats

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// RepBucket is one 15-minute bucket of what counts towards reputation
// (../shared/spec/ses.md §8.1–8.2).
type RepBucket struct {
	Start       time.Time
	Sends       int64 // recipients that count (MetricCountedSend)
	HardBounces int64 // hard bounces that count (MetricCountedBounce)
	// FeedbackSends and Complaints are restricted to recipients at ISPs
	// that send complaint feedback (SendsFeedback): SES's complaint rate
	// is over mail sent to such domains only.
	FeedbackSends int64
	Complaints    int64
}

// Reputation returns, oldest first, the buckets of account (of its
// configuration set set, or all of the account's traffic when set is "")
// from since on that hold counted traffic.
func (c *Counters) Reputation(ctx context.Context, account, set string, since time.Time) ([]RepBucket, error) {
	q := `SELECT bucket_ms, metric, isp, SUM(n) FROM send_counters
		WHERE account = ? AND bucket_ms >= ? AND metric IN (?, ?, ?)`
	args := []any{account, BucketOf(since), string(MetricCountedSend), string(MetricCountedBounce), string(MetricCountedComplaint)}
	if set != "" {
		q += " AND configuration_set = ?"
		args = append(args, set)
	}
	q += " GROUP BY bucket_ms, metric, isp ORDER BY bucket_ms"
	rows, err := c.db.QueryContext(ctx, c.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("reading reputation counters: %w", err)
	}
	defer rows.Close()
	var out []RepBucket
	for rows.Next() {
		var ms, n int64
		var metric, isp string
		if err := rows.Scan(&ms, &metric, &isp, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Start.UnixMilli() != ms {
			out = append(out, RepBucket{Start: time.UnixMilli(ms)})
		}
		b := &out[len(out)-1]
		fb := SendsFeedback(isp)
		switch Metric(metric) {
		case MetricCountedSend:
			b.Sends += n
			if fb {
				b.FeedbackSends += n
			}
		case MetricCountedBounce:
			b.HardBounces += n
		case MetricCountedComplaint:
			if fb {
				b.Complaints += n
			}
		}
	}
	return out, rows.Err()
}

// Dimension names a metric dimension (SES MetricDimensionName).
type Dimension string

const (
	DimensionIdentity         Dimension = "EMAIL_IDENTITY"
	DimensionConfigurationSet Dimension = "CONFIGURATION_SET"
	DimensionISP              Dimension = "ISP"
)

// column is the send_counters column of a dimension.
func (d Dimension) column() (string, error) {
	switch d {
	case DimensionIdentity:
		return "identity", nil
	case DimensionConfigurationSet:
		return "configuration_set", nil
	case DimensionISP:
		return "isp", nil
	}
	return "", fmt.Errorf("unknown dimension %q", d)
}

// Query selects one metric's series.
type Query struct {
	Account    string
	Metric     Metric
	Dimensions map[Dimension]string // each must match; none: the whole account
	Start, End time.Time            // [Start, End), rounded down to buckets
	Step       time.Duration        // a multiple of Bucket (a day for SES VDM)
}

// Point is one step of a series.
type Point struct {
	Start time.Time
	Value int64
}

// Series returns q's steps that have a count, oldest first. Steps are
// aligned on multiples of Step since the Unix epoch (days start at 00:00
// UTC).
func (c *Counters) Series(ctx context.Context, q Query) ([]Point, error) {
	step := q.Step.Milliseconds()
	if step <= 0 || step%Bucket.Milliseconds() != 0 {
		return nil, fmt.Errorf("step %v is not a multiple of %v", q.Step, Bucket)
	}
	sql := `SELECT (bucket_ms / ?) * ? AS t, SUM(n) FROM send_counters WHERE account = ? AND metric = ? AND bucket_ms >= ? AND bucket_ms < ?`
	args := []any{step, step, q.Account, string(q.Metric), BucketOf(q.Start), q.End.UnixMilli()}
	where, wargs, err := dimensionFilter(q.Dimensions)
	if err != nil {
		return nil, err
	}
	sql += where + " GROUP BY t ORDER BY t"
	rows, err := c.db.QueryContext(ctx, c.db.Rebind(sql), append(args, wargs...)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s series: %w", q.Metric, err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var t, n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		if n != 0 {
			out = append(out, Point{Start: time.UnixMilli(t).UTC(), Value: n})
		}
	}
	return out, rows.Err()
}

func dimensionFilter(dims map[Dimension]string) (string, []any, error) {
	keys := make([]string, 0, len(dims))
	for d := range dims {
		keys = append(keys, string(d))
	}
	sort.Strings(keys)
	var b strings.Builder
	var args []any
	for _, k := range keys {
		col, err := Dimension(k).column()
		if err != nil {
			return "", nil, err
		}
		b.WriteString(" AND " + col + " = ?")
		args = append(args, dims[Dimension(k)])
	}
	return b.String(), args, nil
}

// SendDataPoint is one point of SES's v1 GetSendStatistics
// (../shared/spec/ses.md §2.3): 15 minutes of activity.
type SendDataPoint struct {
	Timestamp        time.Time
	DeliveryAttempts int64 // recipients sent to (MetricSend)
	Bounces          int64 // hard bounces only (MetricPermanentBounce)
	Complaints       int64
	Rejects          int64
}

// StatisticsPeriod is how far back GetSendStatistics reaches (SES: "the
// last two weeks").
const StatisticsPeriod = 14 * 24 * time.Hour

// SendStatistics returns account's 15-minute points of the two weeks
// before now that had activity, oldest first (SES GetSendStatistics).
func (c *Counters) SendStatistics(ctx context.Context, account string, now time.Time) ([]SendDataPoint, error) {
	rows, err := c.db.QueryContext(ctx, c.db.Rebind(`SELECT bucket_ms, metric, SUM(n) FROM send_counters
		WHERE account = ? AND bucket_ms >= ? AND metric IN (?, ?, ?, ?) GROUP BY bucket_ms, metric ORDER BY bucket_ms`),
		account, BucketOf(now.Add(-StatisticsPeriod)), string(MetricSend), string(MetricPermanentBounce), string(MetricComplaint), string(MetricReject))
	if err != nil {
		return nil, fmt.Errorf("reading send statistics: %w", err)
	}
	defer rows.Close()
	var out []SendDataPoint
	for rows.Next() {
		var ms, n int64
		var metric string
		if err := rows.Scan(&ms, &metric, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Timestamp.UnixMilli() != ms {
			out = append(out, SendDataPoint{Timestamp: time.UnixMilli(ms).UTC()})
		}
		p := &out[len(out)-1]
		switch Metric(metric) {
		case MetricSend:
			p.DeliveryAttempts += n
		case MetricPermanentBounce:
			p.Bounces += n
		case MetricComplaint:
			p.Complaints += n
		case MetricReject:
			p.Rejects += n
		}
	}
	return out, rows.Err()
}

// Totals is one group's sums of every metric.
type Totals struct {
	Account string
	Group   string // the value of the grouping dimension ("" when not grouped)
	Counts  map[Metric]int64
}

// TotalsQuery selects what Sum adds up.
type TotalsQuery struct {
	Account    string    // "" = every account
	Start, End time.Time // [Start, End)
	By         Dimension // group by this dimension too; "" = per account only
}

// Sum returns the sums of every metric over q's range, per account (and
// per value of q.By), in account then group order.
func (c *Counters) Sum(ctx context.Context, q TotalsQuery) ([]Totals, error) {
	group := "''"
	if q.By != "" {
		col, err := q.By.column()
		if err != nil {
			return nil, err
		}
		group = col
	}
	sql := `SELECT account, ` + group + ` AS g, metric, SUM(n) FROM send_counters WHERE bucket_ms >= ? AND bucket_ms < ?`
	args := []any{BucketOf(q.Start), q.End.UnixMilli()}
	if q.Account != "" {
		sql += " AND account = ?"
		args = append(args, q.Account)
	}
	sql += " GROUP BY account, g, metric ORDER BY account, g"
	rows, err := c.db.QueryContext(ctx, c.db.Rebind(sql), args...)
	if err != nil {
		return nil, fmt.Errorf("summing statistics: %w", err)
	}
	defer rows.Close()
	var out []Totals
	for rows.Next() {
		var acct, g, metric string
		var n int64
		if err := rows.Scan(&acct, &g, &metric, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Account != acct || out[len(out)-1].Group != g {
			out = append(out, Totals{Account: acct, Group: g, Counts: map[Metric]int64{}})
		}
		out[len(out)-1].Counts[Metric(metric)] += n
	}
	return out, rows.Err()
}

// Sent returns the recipients account sent to from since on that count
// towards a sending quota (SES: all but mailbox simulator ones; the
// account-suppressed ones were not sent): GetAccount's SentLast24Hours for
// accounts whose quota is unlimited, which package quota does not track.
// since is rounded down to its bucket, so up to 15 minutes more are
// counted.
func (c *Counters) Sent(ctx context.Context, account string, since time.Time) (int64, error) {
	var n int64
	err := c.db.QueryRowContext(ctx, c.db.Rebind(`SELECT COALESCE(SUM(CASE WHEN metric = ? THEN n ELSE -n END), 0) FROM send_counters
		WHERE account = ? AND bucket_ms >= ? AND metric IN (?, ?, ?)`),
		string(MetricSend), account, BucketOf(since), string(MetricSend), string(MetricSimulatorSend), string(MetricSuppressedSend)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading sends: %w", err)
	}
	return n, nil
}
