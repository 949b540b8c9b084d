package api

// SES v1's account actions (API 2010-12-01, ../shared/spec/ses.md §2.3,
// §1.10): GetSendQuota, GetSendStatistics, GetAccountSendingEnabled,
// UpdateAccountSendingEnabled.

import (
	"context"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/awsquery"
)

// v1AccountActions are the SES v1 API's account actions (v1.go).
func (s *Server) v1AccountActions() map[string]v1Action {
	return map[string]v1Action{
		"GetSendQuota":                {fn: s.v1GetSendQuota},
		"GetSendStatistics":           {fn: s.v1GetSendStatistics},
		"GetAccountSendingEnabled":    {fn: s.v1GetAccountSendingEnabled},
		"UpdateAccountSendingEnabled": {fn: s.v1UpdateAccountSendingEnabled},
	}
}

// sendQuotaDouble is a double of GetSendQuota, written in plain decimal
// (200, -1, 0.5; not 1e+06).
type sendQuotaDouble float64

func (d sendQuotaDouble) MarshalText() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(d), 'f', -1, 64), nil
}

// v1GetSendQuota is GetSendQuota → Max24HourSend, MaxSendRate,
// SentLast24Hours (doubles; -1 unlimited): v2 GetAccount's SendQuota
// (sendQuotaOf).
func (s *Server) v1GetSendQuota(ctx context.Context, c *call, _ *awsquery.Request) (any, error) {
	acct, err := s.Accounts.Get(ctx, c.account)
	if err != nil {
		return nil, err
	}
	q, err := s.sendQuotaOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	return struct {
		Max24HourSend, MaxSendRate, SentLast24Hours sendQuotaDouble
	}{sendQuotaDouble(q.Max24HourSend), sendQuotaDouble(q.MaxSendRate), sendQuotaDouble(q.SentLast24Hours)}, nil
}

// v1SendDataPoint is GetSendStatistics' SendDataPoint.
type v1SendDataPoint struct {
	Timestamp                                      time.Time
	DeliveryAttempts, Bounces, Complaints, Rejects int64
}

// v1SendDataPoints is GetSendStatistics' SendDataPoints, written even when
// empty.
type v1SendDataPoints struct {
	Member []v1SendDataPoint `xml:"member"`
}

// v1GetSendStatistics is GetSendStatistics → SendDataPoints[{Timestamp,
// DeliveryAttempts, Bounces, Complaints, Rejects}]: the 15-minute points
// of the last two weeks that had activity, oldest first, from the
// statistics counters (stats.Counters.SendStatistics; Bounces counts hard
// bounces only, as SES). Without counters the list is empty.
func (s *Server) v1GetSendStatistics(ctx context.Context, c *call, _ *awsquery.Request) (any, error) {
	var out struct{ SendDataPoints v1SendDataPoints }
	if s.Stats == nil {
		return out, nil
	}
	points, err := s.Stats.SendStatistics(ctx, c.account, time.Now())
	if err != nil {
		return nil, err
	}
	for _, p := range points {
		out.SendDataPoints.Member = append(out.SendDataPoints.Member, v1SendDataPoint{p.Timestamp.UTC(), p.DeliveryAttempts, p.Bounces, p.Complaints, p.Rejects})
	}
	return out, nil
}

// v1GetAccountSendingEnabled is GetAccountSendingEnabled → Enabled: v2
// GetAccount's SendingEnabled, the tenant's own switch (an enforcement
// pause is not shown here, as in SES).
func (s *Server) v1GetAccountSendingEnabled(ctx context.Context, c *call, _ *awsquery.Request) (any, error) {
	acct, err := s.Accounts.Get(ctx, c.account)
	if err != nil {
		return nil, err
	}
	return struct{ Enabled bool }{acct.SendingEnabled}, nil
}

// v1UpdateAccountSendingEnabled is UpdateAccountSendingEnabled: Enabled
// (true/false; absent: false, as v2 reads it) → no result (v2
// PutAccountSendingAttributes). A value other than true or false is
// InvalidParameterValue.
func (s *Server) v1UpdateAccountSendingEnabled(ctx context.Context, c *call, q *awsquery.Request) (any, error) {
	body := struct{ SendingEnabled *bool }{}
	if q.Has("Enabled") {
		on, err := q.Bool("Enabled", false, func(name string) error { return v1Invalid("%s must be true or false.", name) })
		if err != nil {
			return nil, err
		}
		body.SendingEnabled = &on
	}
	if _, err := s.viaV2(ctx, c, s.putAccountSendingAttributes, v2Request{Body: body}); err != nil {
		return nil, err
	}
	return v1NoResult{}, nil
}
