package api

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestBatchGetMetricData: a real SendEmail through aws-sdk-go-v2 (three
// simulator recipients, configuration set s1) and its outcomes, plus
// traffic two days ago at Gmail and Yahoo, read back through
// BatchGetMetricData on both stores: one value per UTC day, zero days
// included; dimension filters; DELIVERY_COMPLAINT as deliveries to ISPs
// that send feedback; the tracking metrics zero; another account's
// traffic never seen.
func TestBatchGetMetricData(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testBatchGetMetricData(t, backend) })
	}
}

func testBatchGetMetricData(t *testing.T, backend string) {
	srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme", "other")
	ctx := t.Context()
	if err := s.ConfigSets.Create(ctx, configset.ConfigurationSet{Account: "acme", Name: "s1", SendingEnabled: true}); err != nil {
		t.Fatal(err)
	}
	ses := sesClient(srv.URL, tenants["acme"], 1)
	sent, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress:     aws.String("news@acme.example"),
		ConfigurationSetName: aws.String("s1"),
		Destination: &types.Destination{ToAddresses: []string{"success@simulator.amazonses.com",
			"bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com"}},
		Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
			Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	add := func(id, acct, rcpt string, at time.Time, d event.Detail) {
		t.Helper()
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return s.Events.AddTx(tx, id, acct, rcpt, at, d) }); err != nil {
			t.Fatal(err)
		}
	}
	id := *sent.MessageId
	add(id, "acme", "success@simulator.amazonses.com", now, event.DeliveryDetail{})
	add(id, "acme", "complaint@simulator.amazonses.com", now, event.DeliveryDetail{})
	add(id, "acme", "bounce@simulator.amazonses.com", now, event.BounceDetail{BounceType: "Permanent", BounceSubType: "General"})
	add(id, "acme", "complaint@simulator.amazonses.com", now, event.ComplaintDetail{})
	// Two days ago, without a set: Gmail and Yahoo.
	old := today.Add(-48*time.Hour + 9*time.Hour)
	add("old", "acme", "", old, event.SendDetail{Identity: "acme.example",
		Recipients: []event.SendRecipient{{Address: "x@gmail.com"}, {Address: "y@yahoo.com"}}})
	add("old", "acme", "x@gmail.com", old, event.DeliveryDetail{})
	add("old", "acme", "y@yahoo.com", old, event.DeliveryDetail{})
	// Another account's traffic today.
	add("theirs", "other", "", now, event.SendDetail{Identity: "other.example",
		Recipients: []event.SendRecipient{{Address: "a@yahoo.com"}, {Address: "b@yahoo.com"}}})
	add("theirs", "other", "a@yahoo.com", now, event.DeliveryDetail{})

	start := today.Add(-48 * time.Hour).Add(5 * time.Hour) // any time of the first day
	query := func(qid string, m types.Metric, dims map[string]string) types.BatchGetMetricDataQuery {
		return types.BatchGetMetricDataQuery{Id: aws.String(qid), Namespace: types.MetricNamespaceVdm, Metric: m,
			Dimensions: dims, StartDate: aws.Time(start), EndDate: aws.Time(now)}
	}
	out, err := ses.BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{Queries: []types.BatchGetMetricDataQuery{
		query("send", types.MetricSend, nil),
		query("gmail-deliveries", types.MetricDelivery, map[string]string{"ISP": "Gmail"}),
		query("delivery-complaint", types.MetricDeliveryComplaint, nil),
		query("s1-hard", types.MetricPermanentBounce, map[string]string{"CONFIGURATION_SET": "s1"}),
		query("identity-complaints", types.MetricComplaint, map[string]string{"EMAIL_IDENTITY": "acme.example"}),
		query("opens", types.MetricOpen, nil),
		query("no-such-set", types.MetricSend, map[string]string{"CONFIGURATION_SET": "nope"}),
		query("soft", types.MetricTransientBounce, nil),
		query("s1-other", types.MetricSend, map[string]string{"CONFIGURATION_SET": "s1", "ISP": "Other"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 0 {
		t.Errorf("errors: %+v", out.Errors)
	}
	want := map[string][]int64{
		"send":                {2, 0, 3},
		"gmail-deliveries":    {1, 0, 0},
		"delivery-complaint":  {1, 0, 2}, // Yahoo's, and the simulator's (Other: any domain may send ARF); Gmail sends none
		"s1-hard":             {0, 0, 1},
		"identity-complaints": {0, 0, 1},
		"opens":               {0, 0, 0},
		"no-such-set":         {0, 0, 0},
		"soft":                {0, 0, 0},
		"s1-other":            {0, 0, 3},
	}
	days := []time.Time{today.Add(-48 * time.Hour), today.Add(-24 * time.Hour), today}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(out.Results), len(want))
	}
	for _, r := range out.Results {
		w, ok := want[*r.Id]
		if !ok {
			t.Errorf("unexpected result %s", *r.Id)
			continue
		}
		if fmt.Sprint(r.Values) != fmt.Sprint(w) {
			t.Errorf("%s: values %v, want %v", *r.Id, r.Values, w)
		}
		if len(r.Timestamps) != len(days) {
			t.Errorf("%s: timestamps %v, want %v", *r.Id, r.Timestamps, days)
			continue
		}
		for i := range days {
			if !r.Timestamps[i].Equal(days[i]) {
				t.Errorf("%s: timestamp %d = %v, want %v", *r.Id, i, r.Timestamps[i], days[i])
			}
		}
	}

	// The other account sees its own traffic only; an EndDate at midnight
	// excludes the day it begins.
	theirs, err := sesClient(srv.URL, tenants["other"], 1).BatchGetMetricData(ctx, &sesv2.BatchGetMetricDataInput{
		Queries: []types.BatchGetMetricDataQuery{
			{Id: aws.String("a"), Namespace: types.MetricNamespaceVdm, Metric: types.MetricSend,
				StartDate: aws.Time(today.Add(-24 * time.Hour)), EndDate: aws.Time(today.Add(24 * time.Hour))},
			{Id: aws.String("b"), Namespace: types.MetricNamespaceVdm, Metric: types.MetricSend,
				StartDate: aws.Time(today.Add(-24 * time.Hour)), EndDate: aws.Time(today)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(theirs.Results) != 2 || fmt.Sprint(theirs.Results[0].Values) != "[0 2]" || fmt.Sprint(theirs.Results[1].Values) != "[0]" {
		t.Errorf("other account: %+v", theirs.Results)
	}
}

// TestBatchGetMetricDataBadInput: each of SES's rules on the request is a
// BadRequestException naming the member; nothing is read for a request
// with one bad query.
func TestBatchGetMetricDataBadInput(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	q := func(fields string) string {
		return `{"Id":"q","Namespace":"VDM","Metric":"SEND","StartDate":1764460800,"EndDate":1764547200` + fields + `}`
	}
	many := make([]string, 11)
	for i := range many {
		many[i] = strings.Replace(q(""), `"Id":"q"`, fmt.Sprintf(`"Id":"q%d"`, i), 1)
	}
	for _, tc := range []struct{ name, body, msg string }{
		{"no queries", `{"Queries":[]}`, "Queries must hold 1 to 10 queries; it holds 0."},
		{"no Queries member", `{}`, "Queries must hold 1 to 10 queries; it holds 0."},
		{"11 queries", `{"Queries":[` + strings.Join(many, ",") + `]}`, "Queries must hold 1 to 10 queries; it holds 11."},
		{"no Id", `{"Queries":[{"Namespace":"VDM","Metric":"SEND","StartDate":1,"EndDate":2}]}`, "Queries[0].Id is required: 1 to 255 characters."},
		{"empty Id", `{"Queries":[` + strings.Replace(q(""), `"Id":"q"`, `"Id":""`, 1) + `]}`, "Queries[0].Id is required: 1 to 255 characters."},
		{"long Id", `{"Queries":[` + strings.Replace(q(""), `"Id":"q"`, `"Id":"`+strings.Repeat("x", 256)+`"`, 1) + `]}`, "Queries[0].Id is required: 1 to 255 characters."},
		{"duplicate Id", `{"Queries":[` + q("") + `,` + q("") + `]}`, `Queries[1].Id "q" is not unique`},
		{"no Namespace", `{"Queries":[` + strings.Replace(q(""), `"Namespace":"VDM",`, ``, 1) + `]}`, "Queries[0].Namespace must be VDM; it is missing."},
		{"other Namespace", `{"Queries":[` + strings.Replace(q(""), `"VDM"`, `"AWS/SES"`, 1) + `]}`, `Queries[0].Namespace must be VDM; it is "AWS/SES".`},
		{"no Metric", `{"Queries":[` + strings.Replace(q(""), `"Metric":"SEND",`, ``, 1) + `]}`, "Queries[0].Metric is required: one of SEND, COMPLAINT,"},
		{"unknown Metric", `{"Queries":[` + strings.Replace(q(""), `"SEND"`, `"REJECT"`, 1) + `]}`, `Queries[0].Metric "REJECT" is not one of SEND, COMPLAINT, PERMANENT_BOUNCE, TRANSIENT_BOUNCE, OPEN, CLICK, DELIVERY, DELIVERY_OPEN, DELIVERY_CLICK, DELIVERY_COMPLAINT.`},
		{"unknown dimension", `{"Queries":[` + q(`,"Dimensions":{"REGION":"x"}`) + `]}`, `Queries[0].Dimensions key "REGION" is not one of EMAIL_IDENTITY, CONFIGURATION_SET, ISP.`},
		{"empty dimension value", `{"Queries":[` + q(`,"Dimensions":{"ISP":""}`) + `]}`, "Queries[0].Dimensions value of ISP must be 1 to 1024 characters."},
		{"no StartDate", `{"Queries":[` + strings.Replace(q(""), `"StartDate":1764460800,`, ``, 1) + `]}`, "Queries[0].StartDate is required."},
		{"null EndDate", `{"Queries":[` + strings.Replace(q(""), `"EndDate":1764547200`, `"EndDate":null`, 1) + `]}`, "Queries[0].EndDate is required."},
		{"bad StartDate", `{"Queries":[` + strings.Replace(q(""), `1764460800`, `"yesterday"`, 1) + `]}`, `Queries[0].StartDate: "yesterday" is not a timestamp`},
		{"negative EndDate", `{"Queries":[` + strings.Replace(q(""), `1764547200`, `-5`, 1) + `]}`, "Queries[0].EndDate: -5 is not a timestamp"},
		{"Start after End", `{"Queries":[` + strings.Replace(q(""), `1764547200`, `1764374400`, 1) + `]}`,
			"Queries[0].StartDate (2025-11-30T00:00:00Z) must be before its EndDate (2025-11-29T00:00:00Z)."},
		{"Start equals End", `{"Queries":[` + strings.Replace(q(""), `1764547200`, `1764460800`, 1) + `]}`, "must be before its EndDate"},
		{"too long a range", `{"Queries":[` + strings.Replace(q(""), `1764547200`, `"2026-12-01T00:00:01Z"`, 1) + `]}`,
			"Queries[0] covers 367 days (from StartDate's day through EndDate's); at most 366 are served."},
		{"second query bad", `{"Queries":[` + q("") + `,` + strings.Replace(strings.Replace(q(""), `"q"`, `"r"`, 1), `"VDM"`, `"X"`, 1) + `]}`, `Queries[1].Namespace must be VDM`},
		{"Queries an object", `{"Queries":{}}`, "Invalid type for field Queries: expected a list, got an object."},
		{"Dimensions a list", `{"Queries":[` + q(`,"Dimensions":["ISP"]`) + `]}`, "Invalid type for field Queries.Dimensions: expected an object, got a list."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := signedCall(t, srv, tenants["acme"], "POST", "/v2/email/metrics/batch", []byte(tc.body))
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if status != 400 || code != "BadRequestException" || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("%d %s %q, want 400 BadRequestException containing %q", status, code, eb.Message, tc.msg)
			}
		})
	}
	// Through the SDK: what it lets through reaches the caller as SES's error.
	ses := sesClient(srv.URL, tenants["acme"], 1)
	_, err := ses.BatchGetMetricData(t.Context(), &sesv2.BatchGetMetricDataInput{Queries: []types.BatchGetMetricDataQuery{{
		Id: aws.String("q"), Namespace: types.MetricNamespaceVdm, Metric: "BOUNCE",
		StartDate: aws.Time(time.Now().Add(-time.Hour)), EndDate: aws.Time(time.Now())}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), `Queries[0].Metric "BOUNCE"`) {
		t.Errorf("SDK: %v, want BadRequestException naming Queries[0].Metric", err)
	}
}

// TestMetricDateForms: timestamps are read as the SDKs and the CLI send
// them (epoch seconds) and as ISO 8601 strings, to the millisecond.
func TestMetricDateForms(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want time.Time
		ok   bool
		err  bool
	}{
		{`1764460800`, time.Date(2025, 11, 30, 0, 0, 0, 0, time.UTC), true, false},
		{`1764460800.5`, time.Date(2025, 11, 30, 0, 0, 0, 5e8, time.UTC), true, false},
		{`"1764460800"`, time.Date(2025, 11, 30, 0, 0, 0, 0, time.UTC), true, false},
		{`"2025-11-30T01:00:00+01:00"`, time.Date(2025, 11, 30, 0, 0, 0, 0, time.UTC), true, false},
		{`null`, time.Time{}, false, false},
		{``, time.Time{}, false, false},
		{`"2025-11-30"`, time.Time{}, false, true},
		{`1e12`, time.Time{}, false, true},
		{`true`, time.Time{}, false, true},
		{`"NaN"`, time.Time{}, false, true},
	} {
		got, ok, err := parseMetricDate(json.RawMessage(c.raw))
		if !got.Equal(c.want) || ok != c.ok || (err != nil) != c.err {
			t.Errorf("%s: %v %v %v; want %v %v err=%v", c.raw, got, ok, err, c.want, c.ok, c.err)
		}
	}
}

// FuzzBatchGetMetricDataRequest: any body decodes and validates without a
// panic, and a request accepted holds 1–10 queries with unique Ids, each
// covering whole UTC days, at least one and at most MaxMetricDays.
func FuzzBatchGetMetricDataRequest(f *testing.F) {
	f.Add(`{"Queries":[{"Id":"q","Namespace":"VDM","Metric":"SEND","StartDate":1764460800,"EndDate":1764547200}]}`)
	f.Add(`{"Queries":[{"Id":"q","Namespace":"VDM","Metric":"DELIVERY_COMPLAINT","Dimensions":{"ISP":"Yahoo"},"StartDate":"2025-11-30T00:00:00Z","EndDate":1764547200.25}]}`)
	f.Add(`{"Queries":[{"Id":"a","Namespace":"VDM","Metric":"OPEN","StartDate":0,"EndDate":0.001},{"Id":"a"}]}`)
	f.Add(`{"Queries":[{"StartDate":"99999999999.9","EndDate":-0}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in batchGetMetricDataInput
		if err := decodeJSON([]byte(body), &in); err != nil {
			return
		}
		qs, err := validateMetricQueries(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != "BadRequestException" {
				t.Fatalf("%s: %v, want a BadRequestException", body, err)
			}
			return
		}
		if len(qs) < 1 || len(qs) > MaxMetricQueries {
			t.Fatalf("%s: %d queries accepted", body, len(qs))
		}
		ids := map[string]bool{}
		for _, q := range qs {
			if ids[q.id] {
				t.Fatalf("%s: Id %q twice", body, q.id)
			}
			ids[q.id] = true
			n := len(q.days())
			if n < 1 || n > MaxMetricDays || !q.start.Equal(q.start.Truncate(24*time.Hour)) || !q.end.Equal(q.start.Add(time.Duration(n)*24*time.Hour)) {
				t.Fatalf("%s: query %+v covers %d days", body, q, n)
			}
		}
	})
}

// TestBatchGetMetricDataQueryFailure: a query the counters cannot answer is
// a MetricDataError INTERNAL_FAILURE naming its Id, with a message that
// shows no internals; a query that needs no counter (OPEN) is still
// answered.
func TestBatchGetMetricDataQueryFailure(t *testing.T) {
	srv, _, tenants, db := startAPI(t, 256<<20, "acme")
	if _, err := db.ExecContext(t.Context(), "DROP TABLE send_counters"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	out, err := sesClient(srv.URL, tenants["acme"], 1).BatchGetMetricData(t.Context(), &sesv2.BatchGetMetricDataInput{
		Queries: []types.BatchGetMetricDataQuery{
			{Id: aws.String("sends"), Namespace: types.MetricNamespaceVdm, Metric: types.MetricSend, StartDate: aws.Time(now.Add(-time.Hour)), EndDate: aws.Time(now)},
			{Id: aws.String("opens"), Namespace: types.MetricNamespaceVdm, Metric: types.MetricOpen, StartDate: aws.Time(now.Add(-time.Hour)), EndDate: aws.Time(now)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || *out.Errors[0].Id != "sends" || out.Errors[0].Code != types.QueryErrorCodeInternalFailure ||
		strings.Contains(*out.Errors[0].Message, "send_counters") {
		t.Errorf("errors: %+v", out.Errors)
	}
	if len(out.Results) != 1 || *out.Results[0].Id != "opens" || fmt.Sprint(out.Results[0].Values) != "[0]" {
		t.Errorf("results: %+v", out.Results)
	}
}

// TestBatchGetMetricDataWithoutStats: a server without counters refuses
// the operation instead of failing.
func TestBatchGetMetricDataWithoutStats(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme")
	s.Stats = nil
	status, code, _ := signedCall(t, srv, tenants["acme"], "POST", "/v2/email/metrics/batch", []byte(`{}`))
	if status != 404 || code != "UnknownOperationException" {
		t.Errorf("%d %s, want 404 UnknownOperationException", status, code)
	}
}

// TestMetricQueryLengthsInCharacters: an Id of 255 characters and a
// dimension value of 1,024 characters are valid however many bytes they
// take (SES's limits count characters: an identity or set name in
// Japanese), one character more is not.
func TestMetricQueryLengthsInCharacters(t *testing.T) {
	query := func(id, identity string) batchGetMetricDataInput {
		raw := json.RawMessage(`1764460800`)
		return batchGetMetricDataInput{Queries: []metricDataQuery{{Id: aws.String(id), Namespace: aws.String("VDM"), Metric: aws.String("SEND"),
			Dimensions: map[string]string{"EMAIL_IDENTITY": identity}, StartDate: raw, EndDate: json.RawMessage(`1764547200`)}}}
	}
	id, value := strings.Repeat("週", 255), strings.Repeat("配", 1024)
	if _, err := validateMetricQueries(query(id, value)); err != nil {
		t.Errorf("255-character Id, 1,024-character value: %v", err)
	}
	if _, err := validateMetricQueries(query(id+"週", value)); err == nil {
		t.Error("256-character Id accepted")
	}
	if _, err := validateMetricQueries(query(id, value+"配")); err == nil {
		t.Error("1,025-character dimension value accepted")
	}
}
