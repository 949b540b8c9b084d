package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/stats"
)

// BatchGetMetricData (POST /v2/email/metrics/batch; docs/statistics.md):
// the VDM namespace's daily metrics of the calling account, each query one
// metric with optional dimension filters, read from the counters package
// stats keeps as events are written (stats.Counters.Series), never from
// the event log.
//
// Steps:
//  1. decode and validate every query (validateMetricQueries): a problem
//     with the request is a BadRequestException naming the member;
//  2. answer each query with one value per UTC day, zero days included
//     (a continuous series, what a dashboard plots), from the UTC day of
//     StartDate through the last day that begins before EndDate, each day
//     whole (so EndDate = now gives today's count so far);
//  3. a query the counters cannot answer is a MetricDataError
//     INTERNAL_FAILURE in Errors (as SES reports a query's failure), the
//     others still answered.

// MaxMetricQueries is the most queries one request may hold (SES:
// BatchGetMetricDataInput.Queries, 1–10).
const MaxMetricQueries = 10

// MaxMetricDays is the most days one query may cover: a year and a day,
// so that a query of "the last 12 months" fits; older counters are pruned
// anyway (--retention-statistics, default 90 days), and days beyond what
// is kept read as zero.
const MaxMetricDays = 366

// metricDay is the step of VDM metrics.
const metricDay = 24 * time.Hour

// vdmMetrics maps SES's Metric values to the counter each is served
// from. The tracking metrics (OPEN, CLICK, DELIVERY_OPEN, DELIVERY_CLICK)
// have none: Petrel does not track opens and clicks yet, so they are all
// zero. DELIVERY_COMPLAINT is deliveries to ISPs that send complaint
// feedback (stats.SendsFeedback), the complaint rate's denominator.
var vdmMetrics = map[string]stats.Metric{
	"SEND":               stats.MetricSend,
	"COMPLAINT":          stats.MetricComplaint,
	"PERMANENT_BOUNCE":   stats.MetricPermanentBounce,
	"TRANSIENT_BOUNCE":   stats.MetricTransientBounce,
	"DELIVERY":           stats.MetricDelivery,
	"DELIVERY_COMPLAINT": stats.MetricDelivery,
	"OPEN":               "",
	"CLICK":              "",
	"DELIVERY_OPEN":      "",
	"DELIVERY_CLICK":     "",
}

// vdmMetricNames lists vdmMetrics in SES's order, for messages.
var vdmMetricNames = []string{"SEND", "COMPLAINT", "PERMANENT_BOUNCE", "TRANSIENT_BOUNCE", "OPEN", "CLICK",
	"DELIVERY", "DELIVERY_OPEN", "DELIVERY_CLICK", "DELIVERY_COMPLAINT"}

// vdmDimensions are SES's MetricDimensionName values.
var vdmDimensions = []stats.Dimension{stats.DimensionIdentity, stats.DimensionConfigurationSet, stats.DimensionISP}

// batchGetMetricDataInput is BatchGetMetricDataRequest.
type batchGetMetricDataInput struct {
	Queries []metricDataQuery
}

// metricDataQuery is BatchGetMetricDataQuery.
type metricDataQuery struct {
	Id         *string
	Namespace  *string
	Metric     *string
	Dimensions map[string]string
	StartDate  json.RawMessage // a timestamp: parseMetricDate
	EndDate    json.RawMessage
}

// parseMetricDate parses a timestamp member of a JSON body: epoch seconds
// (a number, fractional or not: what aws-sdk-go-v2 and the AWS CLI send,
// restJson1's default), or a string holding RFC 3339 (ISO 8601) or epoch
// seconds; null or absent is ok=false. Epoch seconds run from 0 to 1e11
// (about the year 5138); milliseconds are kept; the time is in UTC.
func parseMetricDate(raw json.RawMessage) (t time.Time, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, false, err
		}
	}
	t, err = parseTimestamp(s)
	return t, err == nil, err
}

func parseTimestamp(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < 0 || f >= 1e11 {
			return time.Time{}, fmt.Errorf("%s is not a timestamp between 1970 and 5138", s)
		}
		ms := int64(math.Round(f * 1000))
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 || t.Year() > 5000 {
		return time.Time{}, fmt.Errorf("%q is not a timestamp: give ISO 8601 (2026-01-02T15:04:05Z) or epoch seconds", s)
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

// metricDataResult is MetricDataResult; Timestamps are epoch seconds.
type metricDataResult struct {
	Id         string    `json:"Id"`
	Timestamps []float64 `json:"Timestamps"`
	Values     []int64   `json:"Values"`
}

// metricDataError is MetricDataError.
type metricDataError struct {
	Id      string `json:"Id"`
	Code    string `json:"Code"` // INTERNAL_FAILURE or ACCESS_DENIED
	Message string `json:"Message"`
}

// batchGetMetricDataOutput is BatchGetMetricDataResponse.
type batchGetMetricDataOutput struct {
	Results []metricDataResult `json:"Results"`
	Errors  []metricDataError  `json:"Errors"`
}

// metricRequest is a validated query: its counter, filters and days.
type metricRequest struct {
	id         string
	metric     string // SES's name
	dims       map[stats.Dimension]string
	start, end time.Time // first day's 00:00 UTC; the end of the last day
}

// days returns the request's days, oldest first.
func (q metricRequest) days() []time.Time {
	var out []time.Time
	for d := q.start; d.Before(q.end); d = d.Add(metricDay) {
		out = append(out, d)
	}
	return out
}

// validateMetricQueries checks a request as SES does (lengths in
// characters) and returns its queries, or a BadRequestException naming the
// member at fault.
func validateMetricQueries(in batchGetMetricDataInput) ([]metricRequest, error) {
	if len(in.Queries) < 1 || len(in.Queries) > MaxMetricQueries {
		return nil, badRequest("Queries must hold 1 to %d queries; it holds %d.", MaxMetricQueries, len(in.Queries))
	}
	seen := map[string]bool{}
	out := make([]metricRequest, 0, len(in.Queries))
	for i, q := range in.Queries {
		at := fmt.Sprintf("Queries[%d]", i)
		if q.Id == nil || *q.Id == "" || utf8.RuneCountInString(*q.Id) > 255 {
			return nil, badRequest("%s.Id is required: 1 to 255 characters.", at)
		}
		if seen[*q.Id] {
			return nil, badRequest("%s.Id %q is not unique: each query needs its own Id.", at, *q.Id)
		}
		seen[*q.Id] = true
		if q.Namespace == nil || *q.Namespace != "VDM" {
			got := "missing"
			if q.Namespace != nil {
				got = strconv.Quote(*q.Namespace)
			}
			return nil, badRequest("%s.Namespace must be VDM; it is %s.", at, got)
		}
		if q.Metric == nil {
			return nil, badRequest("%s.Metric is required: one of %s.", at, strings.Join(vdmMetricNames, ", "))
		}
		if _, ok := vdmMetrics[*q.Metric]; !ok {
			return nil, badRequest("%s.Metric %q is not one of %s.", at, *q.Metric, strings.Join(vdmMetricNames, ", "))
		}
		r := metricRequest{id: *q.Id, metric: *q.Metric, dims: map[stats.Dimension]string{}}
		for k, v := range q.Dimensions {
			if !slices.Contains(vdmDimensions, stats.Dimension(k)) {
				return nil, badRequest("%s.Dimensions key %q is not one of EMAIL_IDENTITY, CONFIGURATION_SET, ISP.", at, k)
			}
			if v == "" || utf8.RuneCountInString(v) > 1024 {
				return nil, badRequest("%s.Dimensions value of %s must be 1 to 1024 characters.", at, k)
			}
			r.dims[stats.Dimension(k)] = v
		}
		var dates [2]time.Time
		for j, d := range []struct {
			name string
			raw  json.RawMessage
		}{{"StartDate", q.StartDate}, {"EndDate", q.EndDate}} {
			t, ok, err := parseMetricDate(d.raw)
			if err != nil {
				return nil, badRequest("%s.%s: %v.", at, d.name, err)
			}
			if !ok {
				return nil, badRequest("%s.%s is required.", at, d.name)
			}
			dates[j] = t
		}
		start, end := dates[0], dates[1]
		if !start.Before(end) {
			return nil, badRequest("%s.StartDate (%s) must be before its EndDate (%s).", at,
				start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		r.start = start.Truncate(metricDay)
		r.end = end.Truncate(metricDay)
		if r.end.Before(end) {
			r.end = r.end.Add(metricDay)
		}
		if n := int(r.end.Sub(r.start) / metricDay); n > MaxMetricDays {
			return nil, badRequest("%s covers %d days (from StartDate's day through EndDate's); at most %d are served.", at, n, MaxMetricDays)
		}
		out = append(out, r)
	}
	return out, nil
}

// batchGetMetricData is BatchGetMetricData.
func (s *Server) batchGetMetricData(ctx context.Context, c *call) (any, error) {
	if s.Stats == nil {
		return nil, &Error{Code: "UnknownOperationException", Status: 404, Message: "BatchGetMetricData is not served by this server."}
	}
	var in batchGetMetricDataInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	queries, err := validateMetricQueries(in)
	if err != nil {
		return nil, err
	}
	out := batchGetMetricDataOutput{Results: []metricDataResult{}, Errors: []metricDataError{}}
	for _, q := range queries {
		res, err := s.metricSeries(ctx, c.account, q)
		if err != nil {
			s.Log.Error("BatchGetMetricData query failed", "account", c.account, "id", q.id, "metric", q.metric, "err", err)
			out.Errors = append(out.Errors, metricDataError{Id: q.id, Code: "INTERNAL_FAILURE",
				Message: "The statistics could not be read; retry the request."})
			continue
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// metricSeries answers one query: a value for every day, zero when the
// counters hold none.
func (s *Server) metricSeries(ctx context.Context, account string, q metricRequest) (metricDataResult, error) {
	days := q.days()
	res := metricDataResult{Id: q.id, Timestamps: make([]float64, len(days)), Values: make([]int64, len(days))}
	index := make(map[int64]int, len(days))
	for i, d := range days {
		res.Timestamps[i] = epochSeconds(d)
		index[d.UnixMilli()] = i
	}
	counter := vdmMetrics[q.metric]
	if counter == "" {
		return res, nil // a tracking metric: no tracking yet
	}
	// Each series to add: one, or for DELIVERY_COMPLAINT one per ISP that
	// sends feedback (within the ISP asked for, if any).
	filters := []map[stats.Dimension]string{q.dims}
	if q.metric == "DELIVERY_COMPLAINT" {
		filters = nil
		for _, isp := range stats.ISPs {
			if !stats.SendsFeedback(isp) {
				continue
			}
			if want, ok := q.dims[stats.DimensionISP]; ok && want != isp {
				continue
			}
			f := map[stats.Dimension]string{stats.DimensionISP: isp}
			for k, v := range q.dims {
				f[k] = v
			}
			filters = append(filters, f)
		}
	}
	for _, f := range filters {
		pts, err := s.Stats.Series(ctx, stats.Query{Account: account, Metric: counter, Dimensions: f,
			Start: q.start, End: q.end, Step: metricDay})
		if err != nil {
			return res, err
		}
		for _, p := range pts {
			if i, ok := index[p.Start.UnixMilli()]; ok {
				res.Values[i] += p.Value
			}
		}
	}
	return res, nil
}
