package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	smithy "github.com/aws/smithy-go"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestMetrics: mail sent through the API and SMTP, delivered, deferred,
// bounced and complained about, shows in /metrics, scraped over HTTP from
// the --metrics listener: every series family with the values and labels
// this traffic gives it, and no label holding an address.
func TestMetrics(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.Metrics = "127.0.0.1:0" })
			mx := e.mx("one.test", "127.0.0.3", 10)
			mx.Rcpt = func(rcpt string, attempt int) error {
				switch {
				case strings.HasPrefix(rcpt, "unknown@"):
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
				case strings.HasPrefix(rcpt, "busy@") && attempt == 1:
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
				}
				return nil
			}
			// The bounce and the complaint are emailed to the sender
			// (feedback emails, Petrel's system mail): they are delivered
			// and counted too.
			feedback := e.mx("example.com", "127.0.0.4", 10)

			// API: one message to three recipients (delivered; bounced
			// 550 5.1.1; deferred once, then delivered), one to the
			// simulator's complaint address, one refused, one GetAccount.
			out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", "a@one.test", "unknown@one.test", "busy@one.test"))
			if err != nil {
				t.Fatal(err)
			}
			apiID := *out.MessageId
			out, err = e.ses.SendEmail(t.Context(), simple("sender@example.com", "complaint@simulator.amazonses.com"))
			if err != nil {
				t.Fatal(err)
			}
			simID := *out.MessageId
			if _, err := e.ses.SendEmail(t.Context(), simple("nobody@unverified.test", "a@one.test")); errCode(err) != "MessageRejected" {
				t.Fatalf("unverified sender: %v, want MessageRejected", err)
			}
			if _, err := e.ses.GetAccount(t.Context(), &sesv2.GetAccountInput{}); err != nil {
				t.Fatal(err)
			}

			// SMTP: a refused AUTH, then one message.
			c, err := smtp.DialStartTLS(e.d.Addr("smtp"), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k := e.d.Credentials
			if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, "wrong")); err == nil {
				t.Fatal("wrong password accepted")
			}
			if err := c.Auth(sasl.NewPlainClient("", k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, "us-east-1"))); err != nil {
				t.Fatal(err)
			}
			if err := c.SendMail("sender@example.com", []string{"b@one.test"},
				strings.NewReader("From: sender@example.com\r\nTo: b@one.test\r\nSubject: smtp\r\n\r\nhello\r\n")); err != nil {
				t.Fatal(err)
			}

			e.events(apiID, 15*time.Second, finalCount(3))
			e.events(simID, 15*time.Second, func(evs []event.Event) bool { return count(evs, event.Complaint) == 1 })
			for deadline := time.Now().Add(15 * time.Second); len(feedback.Messages()) < 2; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("feedback emails: %d, want 2", len(feedback.Messages()))
				}
			}
			// Each outcome is recorded just after its MX took the message;
			// the series move as the outcome's transaction records it, the
			// queue entry leaves when that transaction commits: wait for both.
			e.waitMetrics(t, `petrel_deliveries_total`, 6)
			got := e.waitFor(t, func(got map[string]float64) bool { return got[`petrel_queue_depth`] == 0 })

			want := map[string]float64{
				`petrel_messages_accepted_total`:                                                 3,
				`petrel_recipients_accepted_total{excluded="none"}`:                              4,
				`petrel_recipients_accepted_total{excluded="simulator"}`:                         1,
				`petrel_deliveries_total`:                                                        6,
				`petrel_bounces_total{reason="user-unknown",subtype="NoEmail",type="Permanent"}`: 1,
				`petrel_complaints_total{feedback_type="abuse"}`:                                 1,
				`petrel_delivery_delays_total{delay_type="RecipientServerError"}`:                1,
				`petrel_rejects_total`:                                                           0,
				`petrel_auto_responses_total`:                                                    0,
				`petrel_delivery_latency_seconds_count{outcome="delivered"}`:                     6,
				`petrel_delivery_latency_seconds_count{outcome="bounced"}`:                       1,
				`petrel_delivery_attempts_count{outcome="delivered"}`:                            6,
				`petrel_delivery_attempts_sum{outcome="delivered"}`:                              7, // busy@ took two
				`petrel_delivery_attempts_sum{outcome="bounced"}`:                                1,
				`petrel_delivery_attempts_bucket{outcome="delivered",le="1"}`:                    5,
				`petrel_queue_depth`:                                                             0,
				`petrel_queue_oldest_age_seconds`:                                                0,
				`petrel_api_requests_total{operation="SendEmail",result="OK"}`:                   2,
				`petrel_api_requests_total{operation="SendEmail",result="MessageRejected"}`:      1,
				`petrel_api_requests_total{operation="GetAccount",result="OK"}`:                  1,
				`petrel_api_request_duration_seconds_count{operation="SendEmail"}`:               3,
				`petrel_smtp_commands_total{code="535",command="AUTH"}`:                          1,
				`petrel_smtp_commands_total{code="235",command="AUTH"}`:                          1,
				`petrel_smtp_commands_total{code="250",command="MAIL"}`:                          1,
				`petrel_smtp_commands_total{code="250",command="RCPT"}`:                          1,
				`petrel_smtp_commands_total{code="250",command="DATA"}`:                          1,
				`petrel_smtp_command_duration_seconds_count{command="DATA"}`:                     1,
				`petrel_metrics_collect_errors_total{collector="queue"}`:                         0,
			}
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
				}
			}
			if s := got[`petrel_delivery_latency_seconds_sum{outcome="delivered"}`]; s <= 0 {
				t.Errorf("delivery latency sum %v, want > 0", s)
			}
			for _, k := range []string{"go_goroutines", "process_start_time_seconds"} {
				if _, ok := got[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			for k := range got {
				if strings.Contains(k, "@") {
					t.Errorf("an address in a series: %s", k)
				}
			}
		})
	}
}

// waitMetrics scrapes /metrics until series has at least min (the last
// outcome's transaction may still be committing when the MX has the
// message), and returns every sample keyed `name{labels}` as written.
func (e *env) waitMetrics(t *testing.T, series string, min float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, "http://"+e.d.Addr("metrics")+"/metrics")
		if got[series] >= min || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor scrapes /metrics until ok holds of the series (or 10 s have
// passed) and returns the last scrape.
func (e *env) waitFor(t *testing.T, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, "http://"+e.d.Addr("metrics")+"/metrics")
		if ok(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		got[line[:i]] = v
	}
	return got
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
