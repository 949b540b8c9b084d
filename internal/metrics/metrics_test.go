package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// sample is one series' value in a gathered registry: a counter's or
// gauge's value, a histogram's count and sum.
type sample struct {
	value, count, sum float64
}

// gather returns every series of reg keyed `name{l1="v1",l2="v2"}`, labels
// in the order the registry writes them (sorted by name).
func gather(t testing.TB, reg prometheus.Gatherer) map[string]sample {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sample{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			out[key(f.GetName(), m.GetLabel())] = sampleOf(m)
		}
	}
	return out
}

func key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	var parts []string
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func sampleOf(m *dto.Metric) sample {
	switch {
	case m.Counter != nil:
		return sample{value: m.Counter.GetValue()}
	case m.Gauge != nil:
		return sample{value: m.Gauge.GetValue()}
	case m.Histogram != nil:
		return sample{count: float64(m.Histogram.GetSampleCount()), sum: m.Histogram.GetSampleSum()}
	}
	return sample{}
}

// petrel returns only the petrel_* series of got.
func petrel(got map[string]sample) map[string]sample {
	out := map[string]sample{}
	for k, v := range got {
		if strings.HasPrefix(k, "petrel_") {
			out[k] = v
		}
	}
	return out
}

// diff returns the series whose sample differs between before and after.
func diff(before, after map[string]sample) map[string]sample {
	out := map[string]sample{}
	for k, a := range after {
		b := before[k]
		if d := (sample{a.value - b.value, a.count - b.count, a.sum - b.sum}); d != (sample{}) {
			out[k] = d
		}
	}
	return out
}

// TestObserve: each event kind moves exactly its series, with bounded
// labels.
func TestObserve(t *testing.T) {
	cases := []struct {
		name string
		d    event.Detail
		want map[string]sample
	}{
		{"send", event.SendDetail{Recipients: []event.SendRecipient{{Address: "a@x.test"}, {Address: "b@x.test"},
			{Address: "success@simulator.amazonses.com", Excluded: event.ExcludedSimulator},
			{Address: "me@x.test", Excluded: event.ExcludedVerified},
			{Address: "gone@x.test", Excluded: event.ExcludedSuppressed}}},
			map[string]sample{
				"petrel_messages_accepted_total":                                  {value: 1},
				`petrel_recipients_accepted_total{excluded="none"}`:               {value: 2},
				`petrel_recipients_accepted_total{excluded="simulator"}`:          {value: 1},
				`petrel_recipients_accepted_total{excluded="verified"}`:           {value: 1},
				`petrel_recipients_accepted_total{excluded="account-suppressed"}`: {value: 1},
			}},
		{"delivery", event.DeliveryDetail{ProcessingTimeMillis: 1500, Attempts: 2},
			map[string]sample{
				"petrel_deliveries_total":                              {value: 1},
				`petrel_delivery_latency_seconds{outcome="delivered"}`: {count: 1, sum: 1.5},
				`petrel_delivery_attempts{outcome="delivered"}`:        {count: 1, sum: 2},
			}},
		{"bounce after attempts", event.BounceDetail{BounceType: "Permanent", BounceSubType: "NoEmail", Reason: bounce.ReasonUserUnknown,
			Attempts: 1, ProcessingTimeMillis: 250},
			map[string]sample{
				`petrel_bounces_total{reason="user-unknown",subtype="NoEmail",type="Permanent"}`: {value: 1},
				`petrel_delivery_latency_seconds{outcome="bounced"}`:                             {count: 1, sum: 0.25},
				`petrel_delivery_attempts{outcome="bounced"}`:                                    {count: 1, sum: 1},
			}},
		// A bounce not ending a delivery (suppressed at acceptance, or a
		// receiver's report later) is no delivery outcome: no histograms.
		{"bounce without attempts", event.BounceDetail{BounceType: "Permanent", BounceSubType: "OnAccountSuppressionList"},
			map[string]sample{
				`petrel_bounces_total{reason="none",subtype="OnAccountSuppressionList",type="Permanent"}`: {value: 1},
			}},
		{"complaint", event.ComplaintDetail{ComplaintFeedbackType: "abuse"},
			map[string]sample{`petrel_complaints_total{feedback_type="abuse"}`: {value: 1}}},
		{"complaint without feedback type", event.ComplaintDetail{},
			map[string]sample{`petrel_complaints_total{feedback_type="none"}`: {value: 1}}},
		{"delay", event.DeliveryDelayDetail{DelayType: "RecipientServerError"},
			map[string]sample{`petrel_delivery_delays_total{delay_type="RecipientServerError"}`: {value: 1}}},
		{"reject", event.RejectDetail{Reason: "Bad content"},
			map[string]sample{"petrel_rejects_total": {value: 1}}},
		{"auto response", event.AutoResponseDetail{AutoResponseType: "vacation"},
			map[string]sample{"petrel_auto_responses_total": {value: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(Config{})
			before := petrel(gather(t, m.reg))
			if err := m.ObserveTx(nil, event.Event{Kind: c.d.Kind(), Value: c.d}); err != nil {
				t.Fatal(err)
			}
			got := diff(before, petrel(gather(t, m.reg)))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("moved %v\nwant  %v", got, c.want)
			}
		})
	}
}

// TestLabelsBounded: values Petrel does not know — an unknown bounce
// reason (free text), type, subtype, feedback or delay type — become
// "unknown", never the raw text; an operator rule's own reason is kept,
// but only for the rule that gives it.
func TestLabelsBounded(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.toml")
	if err := os.WriteFile(rules, []byte(`
[[rule]]
name = "acme-greylist"
code = "550"
text = "acme greylisted"
bounce-type = "Transient"
bounce-sub-type = "General"
reason = "acme-greylist"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := bounce.NewClassifier(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := New(Config{Rules: cl})
	for _, d := range []event.Detail{
		event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", Reason: "550 user a@b.test does not exist"},
		event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", Reason: "acme-greylist", Rule: "other-rule"},
		event.BounceDetail{BounceType: "Transient", BounceSubType: "General", Reason: "acme-greylist", Rule: "acme-greylist"},
		event.BounceDetail{BounceType: "Weird", BounceSubType: "AlsoWeird", Reason: bounce.ReasonMailboxFull},
		event.ComplaintDetail{ComplaintFeedbackType: "x-made-up <script>"},
		event.DeliveryDelayDetail{DelayType: "a@b.test timed out"},
	} {
		m.Observe(event.Event{Kind: d.Kind(), Value: d})
	}
	got := petrel(gather(t, m.reg))
	for _, k := range []string{
		`petrel_bounces_total{reason="unknown",subtype="General",type="Permanent"}`,
		`petrel_bounces_total{reason="acme-greylist",subtype="General",type="Transient"}`,
		`petrel_bounces_total{reason="mailbox-full",subtype="unknown",type="unknown"}`,
		`petrel_complaints_total{feedback_type="unknown"}`,
		`petrel_delivery_delays_total{delay_type="unknown"}`,
	} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	if v := got[`petrel_bounces_total{reason="unknown",subtype="General",type="Permanent"}`].value; v != 2 {
		t.Errorf("unknown reasons counted %v, want 2 (free text, and a reason its rule does not give)", v)
	}
	for k := range got {
		if strings.Contains(k, "@") || strings.Contains(k, "550 ") || strings.Contains(k, "script") || strings.Contains(k, "Weird") {
			t.Errorf("raw text in a label: %s", k)
		}
	}
	// Every label value is one of the documented ones.
	allowed := map[string][]string{
		"type":          append(slices.Clone(bounceTypes), unknown),
		"subtype":       append(slices.Clone(bounceSubTypes), unknown),
		"feedback_type": append(slices.Clone(feedbackTypes), unknown, "none"),
		"delay_type":    append(slices.Clone(delayTypes), unknown),
	}
	fams, _ := m.reg.Gather()
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if vals, ok := allowed[l.GetName()]; ok && !slices.Contains(vals, l.GetValue()) {
					t.Errorf("%s: label %s=%q is not a documented value", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestRequests: API operations and SMTP commands, with their results and
// durations; a nil Metrics (and its nil Operation) records nothing.
func TestRequests(t *testing.T) {
	m := New(Config{})
	send := m.Operation("SendEmail")
	start := time.Now().Add(-2 * time.Second)
	send.Done(start, "OK")
	send.Done(start, "OK")
	send.Done(start, "MessageRejected")
	m.SMTPCommand(SMTPAuth, start, 535)
	m.SMTPCommand(SMTPAuth, start, 235)
	m.SMTPCommand(SMTPData, start, 250)
	m.SMTPCommand(SMTPMail, start, 99) // not a reply code
	got := petrel(gather(t, m.reg))
	want := map[string]float64{
		`petrel_api_requests_total{operation="SendEmail",result="OK"}`:              2,
		`petrel_api_requests_total{operation="SendEmail",result="MessageRejected"}`: 1,
		`petrel_smtp_commands_total{code="535",command="AUTH"}`:                     1,
		`petrel_smtp_commands_total{code="235",command="AUTH"}`:                     1,
		`petrel_smtp_commands_total{code="250",command="DATA"}`:                     1,
		`petrel_smtp_commands_total{code="unknown",command="MAIL"}`:                 1,
	}
	for k, v := range want {
		if got[k].value != v {
			t.Errorf("%s = %v, want %v", k, got[k].value, v)
		}
	}
	if h := got[`petrel_api_request_duration_seconds{operation="SendEmail"}`]; h.count != 3 || h.sum < 6 {
		t.Errorf("API duration = %+v, want 3 requests of at least 2 s", h)
	}
	if h := got[`petrel_smtp_command_duration_seconds{command="AUTH"}`]; h.count != 2 || h.sum < 4 {
		t.Errorf("AUTH duration = %+v, want 2 commands of at least 2 s", h)
	}

	var none *Metrics
	none.Observe(event.Event{Kind: event.Send, Value: event.SendDetail{}})
	none.Operation("SendEmail").Done(start, "OK")
	none.SMTPCommand(SMTPMail, start, 250)
}

// TestQueueCollector: depth and the oldest entry's age are read from the
// queue (a real store) when the registry is gathered, with the clock of
// Config.Now; an empty queue is depth 0, age 0.
func TestQueueCollector(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			q := queue.New(db)
			now := time.UnixMilli(1_700_000_000_000)
			m := New(Config{Queue: q, Now: func() time.Time { return now }})
			got := gather(t, m.reg)
			if got["petrel_queue_depth"].value != 0 || got["petrel_queue_oldest_age_seconds"].value != 0 {
				t.Fatalf("empty queue: depth %v, age %v", got["petrel_queue_depth"], got["petrel_queue_oldest_age_seconds"])
			}
			sp := spool.New(db)
			err := db.Tx(t.Context(), func(tx *sql.Tx) error {
				if err := sp.PutTx(tx, &spool.Message{ID: "m1", Account: "a", Created: now, Mail: []byte("{}"), Body: []byte("x")}); err != nil {
					return err
				}
				for i, age := range []time.Duration{90 * time.Second, 10 * time.Second, 0} {
					c := now.Add(-age)
					if err := q.InsertTx(tx, &queue.Entry{ID: fmt.Sprintf("m1/%d", i), MessageID: "m1", Account: "a", Rcpt: fmt.Sprintf("r%d@x.test", i),
						Domain: "x.test", Created: c, NextAttempt: c, Deadline: c.Add(time.Hour)}, "", time.Time{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got = gather(t, m.reg)
			if got["petrel_queue_depth"].value != 3 || got["petrel_queue_oldest_age_seconds"].value != 90 {
				t.Fatalf("depth %v, age %v; want 3, 90", got["petrel_queue_depth"], got["petrel_queue_oldest_age_seconds"])
			}
			// A store that cannot answer: the series are left out, the
			// error counted, the rest still served.
			db.Close()
			got = gather(t, m.reg)
			if _, ok := got["petrel_queue_depth"]; ok {
				t.Error("queue depth served from a closed store")
			}
			// The registry gathers its collectors concurrently: the error
			// counted in one scrape shows in it or in the next.
			got = gather(t, m.reg)
			if n := got[`petrel_metrics_collect_errors_total{collector="queue"}`].value; n < 1 || n > 2 {
				t.Errorf("collect errors = %v, want 1 or 2 after two failed scrapes", n)
			}
		})
	}
}

// TestReputationCollector: per-account rates and a state set for the
// enforcement status, from a plain func standing in for package reputation.
func TestReputationCollector(t *testing.T) {
	var fail error
	m := New(Config{Reputation: func(ctx context.Context) ([]AccountReputation, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("reputation asked without a deadline")
		}
		return []AccountReputation{
			{Account: "default", BounceRate: 0.012, ComplaintRate: 0.0004, Status: "HEALTHY"},
			{Account: "tenant-b", BounceRate: 0.11, ComplaintRate: 0, Status: "SHUTDOWN"},
			{Account: "tenant-c", Status: "SOMETHING-NEW"},
			{Account: "tenant-b", BounceRate: 0.5, Status: "HEALTHY"}, // a duplicate is ignored
		}, fail
	}})
	got := petrel(gather(t, m.reg))
	want := map[string]float64{
		`petrel_account_bounce_rate{account="default"}`:                           0.012,
		`petrel_account_complaint_rate{account="default"}`:                        0.0004,
		`petrel_account_bounce_rate{account="tenant-b"}`:                          0.11,
		`petrel_account_enforcement_status{account="default",status="HEALTHY"}`:   1,
		`petrel_account_enforcement_status{account="default",status="PROBATION"}`: 0,
		`petrel_account_enforcement_status{account="default",status="SHUTDOWN"}`:  0,
		`petrel_account_enforcement_status{account="tenant-b",status="SHUTDOWN"}`: 1,
		`petrel_account_enforcement_status{account="tenant-b",status="HEALTHY"}`:  0,
		`petrel_account_enforcement_status{account="tenant-c",status="unknown"}`:  1,
		`petrel_account_enforcement_status{account="tenant-c",status="HEALTHY"}`:  0,
	}
	for k, v := range want {
		s, ok := got[k]
		if !ok || s.value != v {
			t.Errorf("%s = %v (present %v), want %v", k, s.value, ok, v)
		}
	}
	fail = errors.New("store down")
	got = petrel(gather(t, m.reg))
	if _, ok := got[`petrel_account_bounce_rate{account="default"}`]; ok {
		t.Error("rates served although reputation failed")
	}
	// The registry gathers its collectors concurrently: the error counted
	// in one scrape shows in it or in the next.
	got = petrel(gather(t, m.reg))
	if n := got[`petrel_metrics_collect_errors_total{collector="reputation"}`].value; n < 1 || n > 2 {
		t.Errorf("reputation failures counted %v, want 1 or 2 after two failed scrapes", n)
	}
}

// TestHandler: /metrics over HTTP in Prometheus's text format, with the
// Go and process collectors and Petrel's series.
func TestHandler(t *testing.T) {
	m := New(Config{})
	m.Observe(event.Event{Kind: event.Send, Value: event.SendDetail{Recipients: []event.SendRecipient{{Address: "a@x.test"}}}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"\npetrel_messages_accepted_total 1\n", "\ngo_goroutines ", "\nprocess_start_time_seconds ",
		"# TYPE petrel_delivery_latency_seconds histogram"} {
		if !strings.Contains("\n"+string(b), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	// Not the global registry.
	fams, _ := prometheus.DefaultGatherer.Gather()
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "petrel_") {
			t.Errorf("%s is on the default registry", f.GetName())
		}
	}
}

// BenchmarkObserve is the observer's cost per event, which every
// accepted message and every outcome pays inside its transaction.
func BenchmarkObserve(b *testing.B) {
	m := New(Config{})
	evs := map[string]event.Event{
		"Send":     {Kind: event.Send, Value: event.SendDetail{Recipients: []event.SendRecipient{{Address: "a@x.test"}}}},
		"Delivery": {Kind: event.Delivery, Value: event.DeliveryDetail{ProcessingTimeMillis: 1200, Attempts: 1}},
		"Bounce": {Kind: event.Bounce, Value: event.BounceDetail{BounceType: "Permanent", BounceSubType: "NoEmail",
			Reason: bounce.ReasonUserUnknown, Attempts: 1, ProcessingTimeMillis: 800}},
		"DeliveryDelay": {Kind: event.DeliveryDelay, Value: event.DeliveryDelayDetail{DelayType: "RecipientServerError"}},
	}
	for _, name := range []string{"Send", "Delivery", "Bounce", "DeliveryDelay"} {
		e := evs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.ObserveTx(nil, e)
			}
		})
	}
}
