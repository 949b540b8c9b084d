package smtpsubmit

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/petrelmail/petrel/internal/metrics"
)

// TestCommandMetrics: each AUTH, MAIL, RCPT and DATA is counted with the
// reply code the client got, and timed; commands go-smtp answers alone
// (EHLO, NOOP, RSET) are not.
func TestCommandMetrics(t *testing.T) {
	m := metrics.New(metrics.Config{})
	ts := startServer(t, serverOpts{policy: testPolicy(), metrics: m})
	c := ts.secure(t, "127.0.0.2")
	c.Expect("AUTH CRAM-MD5", 504)
	c.Expect(plain(ts.key.AccessKeyID, "wrong"), 535)
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	c.Expect("MAIL FROM:<bad@@example.com>", 553)
	c.Expect("NOOP", 250)
	if code, msg := c.Send(testMessage); code != 250 {
		t.Fatalf("send: %d %s", code, msg)
	}
	c.Expect("RSET", 250)
	c.Expect("MAIL FROM:<nobody@unverified.test>", 250)
	c.Expect("RCPT TO:<success@simulator.amazonses.com>", 250)
	c.Expect("DATA", 354)
	if code, msg := c.Cmd("From: nobody@unverified.test\r\n\r\nx\r\n."); code != 554 {
		t.Fatalf("unverified sender: %d %s, want 554", code, msg)
	}

	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]float64{}
	timed := map[string]uint64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch f.GetName() {
			case "petrel_smtp_commands_total":
				got[[2]string{label(mt, "command"), label(mt, "code")}] = mt.GetCounter().GetValue()
			case "petrel_smtp_command_duration_seconds":
				timed[label(mt, "command")] = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[[2]string]float64{
		{"AUTH", "504"}: 1, {"AUTH", "535"}: 1, {"AUTH", "235"}: 1,
		{"MAIL", "553"}: 1, {"MAIL", "250"}: 2,
		{"RCPT", "250"}: 2,
		{"DATA", "250"}: 1, {"DATA", "554"}: 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s counted %v, want %v", k[0], k[1], got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counted %v, want only %v", got, want)
	}
	for cmd, n := range map[string]uint64{"AUTH": 3, "MAIL": 3, "RCPT": 2, "DATA": 2} {
		if timed[cmd] != n {
			t.Errorf("%s timed %d times, want %d", cmd, timed[cmd], n)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
