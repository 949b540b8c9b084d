// Package metrics is Petrel's Prometheus instrumentation: one registry of
// its own (never the global default), the series below, and the
// http.Handler that serves them at /metrics (the daemon's --metrics
// listener). docs/metrics.md explains them with PromQL and alert rules.
//
// Where the numbers come from:
//  1. events: Metrics is an event.Observer (event.Log.Observe), told of
//     every event in the transaction that records it;
//  2. requests: the API (api.Server) and SMTP submission (smtpsubmit)
//     report each request or command with its result and duration;
//  3. at scrape time: the queue (queue.Queue.Depth) and the accounts'
//     reputation (Config.Reputation) are asked when /metrics is read.
//
// Series, their labels and every value a label can take (unknown values map
// to "unknown", so no label ever holds a recipient, a message ID, an IP
// address or free text):
//
//	petrel_messages_accepted_total                  counter  messages accepted (Send events)
//	petrel_recipients_accepted_total{excluded}      counter  their recipients; excluded: none, simulator,
//	                                                         verified, account-suppressed (event.Exclusion: why a
//	                                                         recipient does not count towards quota and reputation)
//	petrel_deliveries_total                         counter  Delivery events
//	petrel_bounces_total{type,subtype,reason}       counter  Bounce events; type: Permanent, Transient, Undetermined;
//	                                                         subtype: SES's bounceSubType (General, NoEmail, Suppressed,
//	                                                         OnAccountSuppressionList, MailboxFull, MessageTooLarge,
//	                                                         ContentRejected, AttachmentRejected, Undetermined);
//	                                                         reason: Petrel's reason (bounce.Reason*, or an operator
//	                                                         rule's own reason from the bounce rule file), "none"
//	                                                         when the bounce has none
//	petrel_complaints_total{feedback_type}          counter  Complaint events; feedback_type: abuse, auth-failure,
//	                                                         fraud, not-spam, other, virus (RFC 5965), "none"
//	petrel_delivery_delays_total{delay_type}        counter  DeliveryDelay events (deferrals); delay_type: SES's
//	                                                         delayType (InternalFailure, General, MailboxFull,
//	                                                         SpamDetected, RecipientServerError, IPFailure,
//	                                                         TransientCommunicationFailure, Undetermined)
//	petrel_rejects_total                            counter  Reject events
//	petrel_auto_responses_total                     counter  AutoResponse events (Petrel's addition)
//	petrel_delivery_latency_seconds{outcome}        histogram acceptance to the final outcome of a recipient's
//	                                                         delivery; outcome: delivered, bounced
//	petrel_delivery_attempts{outcome}               histogram attempts a recipient took until that outcome
//	petrel_queue_depth                              gauge    live queue entries (recipients not final), every node's
//	petrel_queue_oldest_age_seconds                 gauge    age of the oldest live entry (0 when empty)
//	petrel_api_requests_total{operation,result}     counter  SESv2 API requests; operation: the SES operation of the
//	                                                         route (SendEmail, GetAccount, …, UnknownOperation);
//	                                                         result: OK or the SES error code (MessageRejected, …)
//	petrel_api_request_duration_seconds{operation}  histogram their duration, from the request to its response
//	petrel_smtp_commands_total{command,code}        counter  SMTP submission commands; command: AUTH, MAIL, RCPT,
//	                                                         DATA; code: the reply code (250, 235, 535, 554, …)
//	petrel_smtp_command_duration_seconds{command}   histogram their duration (DATA: the body's transfer and Send)
//	petrel_account_bounce_rate{account}             gauge    an account's bounce rate, 0..1 (Config.Reputation)
//	petrel_account_complaint_rate{account}          gauge    its complaint rate, 0..1
//	petrel_account_enforcement_status{account,status} gauge  1 for the account's EnforcementStatus, 0 for the
//	                                                         others; status: HEALTHY, PROBATION, SHUTDOWN, unknown
//	petrel_metrics_collect_errors_total{collector}  counter  scrape-time queries that failed; collector: queue,
//	                                                         reputation
//
// plus the Go runtime's go_* and the process's process_* series.
// Accounts are the only per-tenant label: the operator creates them, so
// their number is bounded.
//
// The event counters move inside the event's transaction: a transaction
// that then rolls back (a store failure; a group commit that fails is
// retried one request at a time) may count an event that was not stored,
// or count one twice. They are operational counters, not accounting; the
// event log and the statistics (package stats) are exact.
//
// Cost: an event costs a type switch and one or two atomic adds; labels
// are resolved once at construction where their values are few (the
// histograms' outcome, recipients' exclusion, an API route's OK result)
// and otherwise looked up in the client library's map (bounces,
// complaints, delays, SMTP replies, API errors). Nothing is allocated per
// event; the collectors' queries run only when /metrics is read.
package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
)

// Config is what the scrape-time collectors read.
type Config struct {
	// Queue answers petrel_queue_depth and petrel_queue_oldest_age_seconds;
	// nil: those series are absent.
	Queue *queue.Queue
	// Rules is the bounce classifier in force: a bounce reason that is not
	// one of bounce's Reason constants is kept when the rule the bounce
	// names (BounceDetail.Rule) gives that reason, so the operator's rule
	// file bounds the reason label; nil: only the built-in reasons.
	Rules *bounce.Classifier
	// Reputation returns every account's rates and status when /metrics is
	// read (package reputation); nil: the petrel_account_* series are absent.
	Reputation func(ctx context.Context) ([]AccountReputation, error)
	// Now is the clock of petrel_queue_oldest_age_seconds; nil: time.Now.
	Now func() time.Time
	// Log receives the scrape-time collectors' errors; nil: discarded.
	Log *slog.Logger
	// CollectTimeout bounds each scrape-time query; 0: 5 s.
	CollectTimeout time.Duration
}

// AccountReputation is one account's reputation figures, as package
// reputation computes them (../shared/spec/ses.md §8): rates as fractions
// (0.05 is 5 %), Status an SES EnforcementStatus (HEALTHY, PROBATION,
// SHUTDOWN).
type AccountReputation struct {
	Account       string
	BounceRate    float64
	ComplaintRate float64
	Status        string
}

// Enforcement statuses, SES's EnforcementStatus values.
var statuses = []string{"HEALTHY", "PROBATION", "SHUTDOWN"}

// Outcomes of a recipient's delivery, the histograms' outcome label.
const (
	outcomeDelivered = 0
	outcomeBounced   = 1
)

// exclusions are the excluded label's values, in event.Exclusion's order
// ("" is "none").
var exclusions = []event.Exclusion{"", event.ExcludedSimulator, event.ExcludedVerified, event.ExcludedSuppressed}

// Metrics holds Petrel's series. A nil *Metrics is valid and records
// nothing, so components built without metrics need no checks.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry

	accepted      prometheus.Counter
	recipients    []prometheus.Counter // by exclusions' index
	recipientsVec *prometheus.CounterVec
	deliveries    prometheus.Counter
	bounces       *prometheus.CounterVec
	complaints    *prometheus.CounterVec
	delays        *prometheus.CounterVec
	rejects       prometheus.Counter
	autoResponses prometheus.Counter
	latency       [2]prometheus.Observer // by outcome
	attempts      [2]prometheus.Observer

	apiRequests  *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
	smtpCommands *prometheus.CounterVec
	smtpDuration *prometheus.HistogramVec

	collectErrors *prometheus.CounterVec
}

var _ event.Observer = (*Metrics)(nil)

// latencyBuckets span a simulator delivery (milliseconds) to the longest
// retry period (--max-delivery-time, 14 h by default), in seconds.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 57600}

// attemptBuckets: most mail takes one attempt; retries double their
// interval, so 14 h of retries is about 12 attempts.
var attemptBuckets = []float64{1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20}

// requestBuckets span a GetAccount (a millisecond) to a 40 MB SendEmail or
// DATA over a slow link, and AUTH's throttling delays, in seconds.
var requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// New returns Petrel's metrics on a registry of their own, with the Go and
// process collectors and the scrape-time collectors cfg asks for.
func New(cfg Config) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CollectTimeout <= 0 {
		cfg.CollectTimeout = 5 * time.Second
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry()}
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "petrel_messages_accepted_total",
		Help: "Messages accepted (Send events)."})
	m.recipientsVec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_recipients_accepted_total",
		Help: "Recipients of the accepted messages, by why one does not count towards quota and reputation (none: it counts)."},
		[]string{"excluded"})
	for _, x := range exclusions {
		m.recipients = append(m.recipients, m.recipientsVec.WithLabelValues(exclusionLabel(x)))
	}
	m.deliveries = prometheus.NewCounter(prometheus.CounterOpts{Name: "petrel_deliveries_total",
		Help: "Delivery events: a receiving server accepted the message for a recipient."})
	m.bounces = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_bounces_total",
		Help: "Bounce events, by SES bounce type and subtype and Petrel's reason."}, []string{"type", "subtype", "reason"})
	m.complaints = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_complaints_total",
		Help: "Complaint events, by feedback type (RFC 5965)."}, []string{"feedback_type"})
	m.delays = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_delivery_delays_total",
		Help: "DeliveryDelay events (deferrals, retried later), by SES delay type."}, []string{"delay_type"})
	m.rejects = prometheus.NewCounter(prometheus.CounterOpts{Name: "petrel_rejects_total",
		Help: "Reject events: messages accepted and then refused for delivery."})
	m.autoResponses = prometheus.NewCounter(prometheus.CounterOpts{Name: "petrel_auto_responses_total",
		Help: "AutoResponse events: automatic replies (vacation, out-of-office) that came back."})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "petrel_delivery_latency_seconds",
		Help:    "Time from a message's acceptance to the final outcome of a recipient's delivery.",
		Buckets: latencyBuckets}, []string{"outcome"})
	attempts := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "petrel_delivery_attempts",
		Help:    "Delivery attempts a recipient took until its final outcome.",
		Buckets: attemptBuckets}, []string{"outcome"})
	m.latency = [2]prometheus.Observer{latency.WithLabelValues("delivered"), latency.WithLabelValues("bounced")}
	m.attempts = [2]prometheus.Observer{attempts.WithLabelValues("delivered"), attempts.WithLabelValues("bounced")}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_api_requests_total",
		Help: "SESv2 API requests, by SES operation and result (OK or the SES error code)."}, []string{"operation", "result"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "petrel_api_request_duration_seconds",
		Help: "Duration of SESv2 API requests, by SES operation.", Buckets: requestBuckets}, []string{"operation"})
	m.smtpCommands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_smtp_commands_total",
		Help: "SMTP submission commands, by command and reply code."}, []string{"command", "code"})
	m.smtpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "petrel_smtp_command_duration_seconds",
		Help: "Duration of SMTP submission commands (DATA: from the DATA command to the final reply).", Buckets: requestBuckets},
		[]string{"command"})
	m.collectErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "petrel_metrics_collect_errors_total",
		Help: "Scrape-time queries that failed (their series are missing from that scrape)."}, []string{"collector"})
	m.reg.MustRegister(m.accepted, m.recipientsVec, m.deliveries, m.bounces, m.complaints, m.delays, m.rejects,
		m.autoResponses, latency, attempts, m.apiRequests, m.apiDuration, m.smtpCommands, m.smtpDuration, m.collectErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Queue != nil {
		m.collectErrors.WithLabelValues("queue")
		m.reg.MustRegister(queueCollector{m})
	}
	if cfg.Reputation != nil {
		m.collectErrors.WithLabelValues("reputation")
		m.reg.MustRegister(reputationCollector{m})
	}
	return m
}

// Handler serves the registry in Prometheus's text format (or OpenMetrics,
// when the scraper asks). A failing scrape-time query leaves its series
// out of that scrape (counted in petrel_metrics_collect_errors_total); the
// rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.cfg.Log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
		EnableOpenMetrics:   true,
	})
}

// Registry is the registry the series are on (tests, and a caller that
// serves it elsewhere).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveTx counts e (event.Observer). It never fails and keeps nothing
// of tx.
func (m *Metrics) ObserveTx(_ *sql.Tx, e event.Event) error {
	m.Observe(e)
	return nil
}

// Observe counts e: the series its kind moves (see the package doc). A
// nil Metrics counts nothing.
func (m *Metrics) Observe(e event.Event) {
	if m == nil {
		return
	}
	switch d := e.Value.(type) {
	case event.SendDetail:
		m.accepted.Inc()
		var n [4]int
		for _, r := range d.Recipients {
			n[exclusionIndex(r.Excluded)]++
		}
		for i, c := range n {
			if c > 0 {
				m.recipients[i].Add(float64(c))
			}
		}
	case event.DeliveryDetail:
		m.deliveries.Inc()
		if d.Attempts > 0 {
			m.latency[outcomeDelivered].Observe(float64(d.ProcessingTimeMillis) / 1000)
			m.attempts[outcomeDelivered].Observe(float64(d.Attempts))
		}
	case event.BounceDetail:
		m.bounces.WithLabelValues(oneOf(d.BounceType, bounceTypes), oneOf(d.BounceSubType, bounceSubTypes), m.reasonLabel(d.Reason, d.Rule)).Inc()
		if d.Attempts > 0 {
			m.latency[outcomeBounced].Observe(float64(d.ProcessingTimeMillis) / 1000)
			m.attempts[outcomeBounced].Observe(float64(d.Attempts))
		}
	case event.ComplaintDetail:
		ft := "none"
		if d.ComplaintFeedbackType != "" {
			ft = oneOf(d.ComplaintFeedbackType, feedbackTypes)
		}
		m.complaints.WithLabelValues(ft).Inc()
	case event.DeliveryDelayDetail:
		m.delays.WithLabelValues(oneOf(d.DelayType, delayTypes)).Inc()
	case event.RejectDetail:
		m.rejects.Inc()
	case event.AutoResponseDetail:
		m.autoResponses.Inc()
	}
}

// Label values. Each label's value is one of a fixed list or "unknown".
var (
	bounceTypes    = []string{bounce.Permanent, bounce.Transient, bounce.Undetermined}
	bounceSubTypes = []string{bounce.General, bounce.NoEmail, bounce.Suppressed, bounce.OnAccountSuppressionList,
		bounce.MailboxFull, bounce.MessageTooLarge, bounce.ContentRejected, bounce.AttachmentRejected, bounce.Undetermined}
	feedbackTypes = []string{"abuse", "auth-failure", "fraud", "not-spam", "other", "virus"}
	delayTypes    = []string{bounce.DelayInternalFailure, bounce.DelayGeneral, bounce.DelayMailboxFull, bounce.DelaySpamDetected,
		bounce.DelayRecipientServerError, bounce.DelayIPFailure, bounce.DelayTransientCommunication, bounce.DelayUndetermined}
)

// unknown is the value of a label whose input is none of its values.
const unknown = "unknown"

// oneOf returns v when it is one of values, else "unknown".
func oneOf(v string, values []string) string {
	for _, x := range values {
		if v == x {
			return x
		}
	}
	return unknown
}

// reasonLabel bounds a bounce's reason: "none" when it has none, the
// reason when it is one of bounce's own or the one its rule (in the rules
// in force) gives, else "unknown".
func (m *Metrics) reasonLabel(reason, rule string) string {
	switch {
	case reason == "":
		return "none"
	case bounce.KnownReason(reason):
		return reason
	case m.cfg.Rules != nil && rule != "":
		if r, ok := m.cfg.Rules.RuleSet().Rule(rule); ok && r.Reason == reason {
			return reason
		}
	}
	return unknown
}

func exclusionIndex(x event.Exclusion) int {
	for i, v := range exclusions {
		if x == v {
			return i
		}
	}
	return 0 // a new kind of exclusion counts as none until it is listed
}

func exclusionLabel(x event.Exclusion) string {
	if x == "" {
		return "none"
	}
	return string(x)
}

// Operation is one API operation's instruments, resolved once for its
// route (Metrics.Operation).
type Operation struct {
	m        *Metrics
	name     string
	ok       prometheus.Counter
	duration prometheus.Observer
}

// Operation returns the instruments of the SES operation name (the API
// resolves it once per route); nil when m is nil.
func (m *Metrics) Operation(name string) *Operation {
	if m == nil {
		return nil
	}
	return &Operation{m: m, name: name, ok: m.apiRequests.WithLabelValues(name, "OK"), duration: m.apiDuration.WithLabelValues(name)}
}

// Done records a request of the operation that began at start: result is
// "OK" or the SES error code of its response. Codes come from Petrel's own
// error values (a bounded set), never from the request.
func (o *Operation) Done(start time.Time, result string) {
	if o == nil {
		return
	}
	if result == "OK" {
		o.ok.Inc()
	} else {
		o.m.apiRequests.WithLabelValues(o.name, result).Inc()
	}
	o.duration.Observe(time.Since(start).Seconds())
}

// SMTP submission commands, the command label.
const (
	SMTPAuth = "AUTH"
	SMTPMail = "MAIL"
	SMTPRcpt = "RCPT"
	SMTPData = "DATA"
)

// SMTPCommand records an SMTP submission command (SMTPAuth, SMTPMail,
// SMTPRcpt, SMTPData) that began at start and was answered with code.
func (m *Metrics) SMTPCommand(command string, start time.Time, code int) {
	if m == nil {
		return
	}
	m.smtpCommands.WithLabelValues(command, codeLabel(code)).Inc()
	m.smtpDuration.WithLabelValues(command).Observe(time.Since(start).Seconds())
}

// codes holds "200" … "599", so a reply code becomes a label without an
// allocation.
var codes = func() []string {
	s := make([]string, 400)
	for i := range s {
		s[i] = strconv.Itoa(200 + i)
	}
	return s
}()

func codeLabel(code int) string {
	if code < 200 || code > 599 {
		return unknown
	}
	return codes[code-200]
}

// queueCollector asks the queue at scrape time.
type queueCollector struct{ m *Metrics }

var (
	queueDepthDesc = prometheus.NewDesc("petrel_queue_depth",
		"Live queue entries: recipients whose delivery is not final yet (the whole queue, shared by every node on the store).", nil, nil)
	queueOldestDesc = prometheus.NewDesc("petrel_queue_oldest_age_seconds",
		"Age of the oldest live queue entry since its acceptance (0 when the queue is empty).", nil, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueOldestDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.cfg.CollectTimeout)
	defer cancel()
	n, oldest, err := c.m.cfg.Queue.Depth(ctx)
	if err != nil {
		c.m.collectFailed("queue", err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.m.cfg.Now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age)
}

// reputationCollector asks Config.Reputation at scrape time.
type reputationCollector struct{ m *Metrics }

var (
	bounceRateDesc = prometheus.NewDesc("petrel_account_bounce_rate",
		"The account's bounce rate (hard bounces over counted sends, 0..1) over its representative window.", []string{"account"}, nil)
	complaintRateDesc = prometheus.NewDesc("petrel_account_complaint_rate",
		"The account's complaint rate (0..1) over its representative window.", []string{"account"}, nil)
	statusDesc = prometheus.NewDesc("petrel_account_enforcement_status",
		"1 for the account's EnforcementStatus (HEALTHY, PROBATION, SHUTDOWN), 0 for the others.", []string{"account", "status"}, nil)
)

func (c reputationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bounceRateDesc
	ch <- complaintRateDesc
	ch <- statusDesc
}

func (c reputationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.cfg.CollectTimeout)
	defer cancel()
	reps, err := c.m.cfg.Reputation(ctx)
	if err != nil {
		c.m.collectFailed("reputation", err)
		return
	}
	seen := make(map[string]bool, len(reps))
	for _, r := range reps {
		if seen[r.Account] {
			continue // one series per account: a scrape with two would fail
		}
		seen[r.Account] = true
		ch <- prometheus.MustNewConstMetric(bounceRateDesc, prometheus.GaugeValue, r.BounceRate, r.Account)
		ch <- prometheus.MustNewConstMetric(complaintRateDesc, prometheus.GaugeValue, r.ComplaintRate, r.Account)
		status := oneOf(r.Status, statuses)
		for _, s := range statuses {
			ch <- prometheus.MustNewConstMetric(statusDesc, prometheus.GaugeValue, b2f(s == status), r.Account, s)
		}
		if status == unknown {
			ch <- prometheus.MustNewConstMetric(statusDesc, prometheus.GaugeValue, 1, r.Account, unknown)
		}
	}
}

func (m *Metrics) collectFailed(collector string, err error) {
	m.collectErrors.WithLabelValues(collector).Inc()
	m.cfg.Log.Error("metrics: scrape-time query failed; its series are left out of this scrape", "collector", collector, "err", err)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
