package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/stats"
)

// statsCmd: petrel stats [--account A] [--since 24h] [--until T]
// [--by identity|configuration-set|isp] [--daily] [--json] — the sending
// statistics of each account (docs/statistics.md) from the counters
// (package stats), never the event log: volumes of every outcome and the
// bounce and complaint rates as SES computes them; with --daily, each
// day's volumes per identity.
func statsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	var acct, since, until, by string
	var daily, asJSON bool
	cfg, pos, err := adminFlags("stats", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", "", "only this account (default: every account)")
		fs.StringVar(&since, "since", "24h", "from this time (2026-01-02, 2026-01-02T15:04:05Z, or a duration ago: 7d, 12h)")
		fs.StringVar(&until, "until", "", "up to this time, same forms as --since (default: now)")
		fs.StringVar(&by, "by", "", "one row per identity, configuration-set or isp within each account")
		fs.BoolVar(&daily, "daily", false, "each UTC day's volumes per identity (GetDomainStatisticsReport's DailyVolumes)")
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per row")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %v", pos)
	}
	r, err := parseStatsRange(since, until, by, daily, time.Now())
	if err != nil {
		return err
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if acct != "" {
		if _, err := svc.Accounts.Get(ctx, acct); err != nil {
			return fmt.Errorf("account %s: %w", acct, err)
		}
	}
	rows, err := statsRows(ctx, svc.Stats, acct, r)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, row := range rows {
			if err := enc.Encode(row.json(r)); err != nil {
				return err
			}
		}
		return nil
	}
	return printStats(stdout, rows, r)
}

// statsRange is what petrel stats reports on: [Start, End), grouped By
// within each account, or per day and identity when Daily.
type statsRange struct {
	Start, End time.Time
	By         stats.Dimension
	Daily      bool
}

// parseStatsRange parses --since, --until (parseWhen's forms; "" until is
// now) and --by, with --daily (which groups by identity itself).
func parseStatsRange(since, until, by string, daily bool, now time.Time) (statsRange, error) {
	var r statsRange
	var err error
	if r.Start, err = parseWhen(since, now); err != nil {
		return r, fmt.Errorf("--since: %w", err)
	}
	if since == "" {
		return r, errors.New("--since: give a time or a duration ago (24h)")
	}
	r.End = now
	if until != "" {
		if r.End, err = parseWhen(until, now); err != nil {
			return r, fmt.Errorf("--until: %w", err)
		}
	}
	if !r.Start.Before(r.End) {
		return r, fmt.Errorf("--since (%s) must be before --until (%s)", rfc3339(r.Start), rfc3339(r.End))
	}
	switch by {
	case "":
	case "identity":
		r.By = stats.DimensionIdentity
	case "configuration-set":
		r.By = stats.DimensionConfigurationSet
	case "isp":
		r.By = stats.DimensionISP
	default:
		return r, fmt.Errorf("--by: %q is not identity, configuration-set or isp", by)
	}
	if daily {
		if r.By != "" && r.By != stats.DimensionIdentity {
			return r, errors.New("--daily: gives volumes per identity; it cannot be combined with --by " + by)
		}
		if r.End.Sub(r.Start) > maxStatsDays*24*time.Hour {
			return r, fmt.Errorf("--daily: at most %d days", maxStatsDays)
		}
		r.By, r.Daily = stats.DimensionIdentity, true
	}
	return r, nil
}

// maxStatsDays bounds --daily's range (one query per day).
const maxStatsDays = 366

// statsRow is one line of the report.
type statsRow struct {
	Day     time.Time // --daily only
	Account string
	Group   string
	Counts  map[stats.Metric]int64
	// The rates' terms (counted traffic only; see docs/statistics.md):
	// FeedbackSends and FeedbackComplaints at ISPs that send feedback.
	FeedbackSends, FeedbackComplaints int64
}

// statsRows reads the report's rows: per account (and group), or per day,
// account and identity.
func statsRows(ctx context.Context, c *stats.Counters, account string, r statsRange) ([]statsRow, error) {
	if r.Daily {
		var out []statsRow
		for day := r.Start.UTC().Truncate(24 * time.Hour); day.Before(r.End); day = day.Add(24 * time.Hour) {
			tot, err := c.Sum(ctx, stats.TotalsQuery{Account: account, Start: later(day, r.Start), End: earlier(day.Add(24*time.Hour), r.End), By: stats.DimensionIdentity})
			if err != nil {
				return nil, err
			}
			for _, t := range tot {
				out = append(out, statsRow{Day: day, Account: t.Account, Group: t.Group, Counts: t.Counts})
			}
		}
		return out, nil
	}
	tot, err := c.Sum(ctx, stats.TotalsQuery{Account: account, Start: r.Start, End: r.End, By: r.By})
	if err != nil {
		return nil, err
	}
	out := make([]statsRow, 0, len(tot))
	for _, t := range tot {
		row := statsRow{Account: t.Account, Group: t.Group, Counts: t.Counts}
		if err := feedbackTerms(ctx, c, &row, r); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// feedbackTerms fills the complaint rate's terms of row: counted sends
// and counted complaints at the ISPs that send feedback (stats.SendsFeedback),
// read per ISP from the series of the row's account and group.
func feedbackTerms(ctx context.Context, c *stats.Counters, row *statsRow, r statsRange) error {
	for _, isp := range stats.ISPs {
		if !stats.SendsFeedback(isp) || r.By == stats.DimensionISP && row.Group != isp {
			continue
		}
		dims := map[stats.Dimension]string{stats.DimensionISP: isp}
		if r.By != "" {
			dims[r.By] = row.Group
		}
		for _, m := range []struct {
			metric stats.Metric
			to     *int64
		}{{stats.MetricCountedSend, &row.FeedbackSends}, {stats.MetricCountedComplaint, &row.FeedbackComplaints}} {
			pts, err := c.Series(ctx, stats.Query{Account: row.Account, Metric: m.metric, Dimensions: dims,
				Start: r.Start, End: r.End, Step: 24 * time.Hour})
			if err != nil {
				return err
			}
			for _, p := range pts {
				*m.to += p.Value
			}
		}
	}
	return nil
}

// bounceRate is SES's bounce rate: counted hard bounces over counted
// sends (ok=false without counted sends).
func (row statsRow) bounceRate() (float64, bool) {
	sends := row.Counts[stats.MetricCountedSend]
	if sends == 0 {
		return 0, false
	}
	return float64(row.Counts[stats.MetricCountedBounce]) / float64(sends), true
}

// complaintRate is SES's complaint rate: complaints over counted sends, at
// ISPs that send feedback only.
func (row statsRow) complaintRate() (float64, bool) {
	if row.FeedbackSends == 0 {
		return 0, false
	}
	return float64(row.FeedbackComplaints) / float64(row.FeedbackSends), true
}

// statsJSON is a row of petrel stats --json.
type statsJSON struct {
	Day                string   `json:"day,omitempty"`
	Account            string   `json:"account"`
	Identity           *string  `json:"identity,omitempty"`
	ConfigurationSet   *string  `json:"configurationSet,omitempty"`
	ISP                *string  `json:"isp,omitempty"`
	Start              string   `json:"start"`
	End                string   `json:"end"`
	Sends              int64    `json:"sends"`
	Deliveries         int64    `json:"deliveries"`
	HardBounces        int64    `json:"hardBounces"`
	SoftBounces        int64    `json:"softBounces"`
	Complaints         int64    `json:"complaints"`
	Delays             int64    `json:"deliveryDelays"`
	Rejects            int64    `json:"rejects"`
	CountedSends       int64    `json:"countedSends"`
	CountedBounces     int64    `json:"countedHardBounces"`
	FeedbackSends      *int64   `json:"feedbackSends,omitempty"`
	FeedbackComplaints *int64   `json:"feedbackComplaints,omitempty"`
	BounceRate         *float64 `json:"bounceRate,omitempty"`
	ComplaintRate      *float64 `json:"complaintRate,omitempty"`
}

func (row statsRow) json(r statsRange) statsJSON {
	c := row.Counts
	j := statsJSON{Account: row.Account, Start: rfc3339(r.Start), End: rfc3339(r.End),
		Sends: c[stats.MetricSend], Deliveries: c[stats.MetricDelivery], HardBounces: c[stats.MetricPermanentBounce],
		SoftBounces: c[stats.MetricTransientBounce], Complaints: c[stats.MetricComplaint], Delays: c[stats.MetricDeliveryDelay],
		Rejects: c[stats.MetricReject], CountedSends: c[stats.MetricCountedSend], CountedBounces: c[stats.MetricCountedBounce]}
	g := row.Group
	switch r.By {
	case stats.DimensionIdentity:
		j.Identity = &g
	case stats.DimensionConfigurationSet:
		j.ConfigurationSet = &g
	case stats.DimensionISP:
		j.ISP = &g
	}
	if r.Daily {
		day := row.Day.Format("2006-01-02")
		j.Day = day
		j.Start, j.End = rfc3339(later(row.Day, r.Start)), rfc3339(earlier(row.Day.Add(24*time.Hour), r.End))
		return j
	}
	j.FeedbackSends, j.FeedbackComplaints = &row.FeedbackSends, &row.FeedbackComplaints
	if v, ok := row.bounceRate(); ok {
		j.BounceRate = &v
	}
	if v, ok := row.complaintRate(); ok {
		j.ComplaintRate = &v
	}
	return j
}

// printStats writes the report as a table, with what the rates count.
func printStats(w io.Writer, rows []statsRow, r statsRange) error {
	fmt.Fprintf(w, "from %s to %s\n", rfc3339(r.Start), rfc3339(r.End))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := []string{"ACCOUNT"}
	switch {
	case r.Daily:
		head = []string{"DAY", "ACCOUNT", "IDENTITY"}
	case r.By == stats.DimensionIdentity:
		head = append(head, "IDENTITY")
	case r.By == stats.DimensionConfigurationSet:
		head = append(head, "CONFIGURATION SET")
	case r.By == stats.DimensionISP:
		head = append(head, "ISP")
	}
	head = append(head, "SENT", "DELIVERED", "HARD BOUNCES", "SOFT BOUNCES", "COMPLAINTS", "DELAYS", "REJECTS")
	if !r.Daily {
		head = append(head, "BOUNCE RATE", "COMPLAINT RATE")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rows {
		var cells []string
		if r.Daily {
			cells = append(cells, row.Day.Format("2006-01-02"))
		}
		cells = append(cells, termText(row.Account))
		if r.By != "" {
			cells = append(cells, orDash(termText(row.Group)))
		}
		c := row.Counts
		for _, m := range []stats.Metric{stats.MetricSend, stats.MetricDelivery, stats.MetricPermanentBounce, stats.MetricTransientBounce,
			stats.MetricComplaint, stats.MetricDeliveryDelay, stats.MetricReject} {
			cells = append(cells, strconv.FormatInt(c[m], 10))
		}
		if !r.Daily {
			cells = append(cells, percent(row.bounceRate()), percent(row.complaintRate()))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no sending in this period")
		return err
	}
	if r.Daily {
		return nil
	}
	_, err := fmt.Fprint(w, `bounce rate: hard bounces / recipients, both counted as SES does (not to the mailbox simulator,
  to verified identities of the account or from the account's suppression list); complaint rate:
  complaints / counted recipients, at ISPs that send complaint feedback only; "-": nothing counted
`)
	return err
}

// percent formats a rate as a percentage with two decimals, or "-".
func percent(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
