package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/stats"
)

// statsFixture makes a data directory whose counters hold two days of two
// accounts' traffic, written through the event log as a running Petrel
// writes it (daemon.Open counts every event): simulator and counted
// recipients, every outcome, ISPs with and without complaint feedback.
func statsFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	svc := openServices(t, dir)
	defer svc.Close()
	ctx := t.Context()
	for _, a := range []string{"acme", "beta"} {
		if _, err := svc.Accounts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id, acct, rcpt string, at time.Time, d event.Detail) {
		t.Helper()
		if err := svc.DB.Tx(ctx, func(tx *sql.Tx) error { return svc.Events.AddTx(tx, id, acct, rcpt, at, d) }); err != nil {
			t.Fatal(err)
		}
	}
	rcpts := func(addrs ...string) []event.SendRecipient {
		var out []event.SendRecipient
		for _, a := range addrs {
			r := event.SendRecipient{Address: a}
			if strings.HasSuffix(a, "@simulator.amazonses.com") {
				r.Excluded = event.ExcludedSimulator
			}
			out = append(out, r)
		}
		return out
	}
	d1 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	add("m1", "acme", "", d1, event.SendDetail{ConfigurationSet: "news", Identity: "acme.example",
		Recipients: rcpts("a@yahoo.com", "b@yahoo.com", "c@gmail.com", "d@example.com", "success@simulator.amazonses.com")})
	for _, r := range []string{"a@yahoo.com", "b@yahoo.com", "c@gmail.com", "success@simulator.amazonses.com"} {
		add("m1", "acme", r, d1.Add(time.Minute), event.DeliveryDetail{})
	}
	add("m1", "acme", "d@example.com", d1.Add(time.Minute), event.BounceDetail{BounceType: "Permanent", BounceSubType: "General"})
	add("m1", "acme", "a@yahoo.com", d1.Add(time.Hour), event.ComplaintDetail{})
	add("m1", "acme", "c@gmail.com", d1.Add(30*time.Second), event.DeliveryDelayDetail{})
	d2 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	add("m2", "acme", "", d2, event.SendDetail{Identity: "shop.acme.example", Recipients: rcpts("e@hotmail.com", "f@example.com")})
	add("m2", "acme", "e@hotmail.com", d2.Add(time.Minute), event.DeliveryDetail{})
	add("m2", "acme", "f@example.com", d2.Add(time.Minute), event.BounceDetail{BounceType: "Transient", BounceSubType: "MailboxFull"})
	add("m3", "acme", "", d2.Add(time.Hour), event.RejectDetail{Reason: "Bad content"})
	add("m4", "beta", "", d2.Add(time.Hour), event.SendDetail{Identity: "beta.example", Recipients: rcpts("g@gmail.com")})
	add("m4", "beta", "g@gmail.com", d2.Add(time.Hour+time.Minute), event.DeliveryDetail{})
	return dir
}

// TestStatsCommand: petrel stats per account, by ISP and --daily, as a
// table (testdata/stats.golden) and as JSON, with SES's rates: counted hard
// bounces over counted sends (the simulator recipient not counted), and
// complaints over counted sends at ISPs that send feedback (Yahoo and
// Hotmail here, not Gmail).
func TestStatsCommand(t *testing.T) {
	dir := statsFixture(t)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := statsCmd(t.Context(), append(args, "--data-dir", dir), &out)
		return out.String(), err
	}
	window := []string{"--since", "2026-11-28", "--until", "2026-11-30"}
	var all strings.Builder
	for _, args := range [][]string{
		window,
		append([]string{"--account", "acme", "--by", "isp"}, window...),
		append([]string{"--account", "acme", "--by", "configuration-set"}, window...),
		append([]string{"--daily"}, window...),
	} {
		out, err := run(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		all.WriteString("$ petrel stats " + strings.Join(args, " ") + "\n" + out + "\n")
	}
	golden(t, "stats.golden", all.String(), nil)

	out, err := run(append([]string{"--account", "acme", "--json"}, window...)...)
	if err != nil {
		t.Fatal(err)
	}
	var got statsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Sends != 7 || got.CountedSends != 6 || got.HardBounces != 1 || got.Deliveries != 5 || got.Rejects != 1 ||
		got.BounceRate == nil || *got.BounceRate != 1.0/6 || got.ComplaintRate == nil || *got.ComplaintRate != 1.0/5 {
		t.Errorf("acme: %s", out)
	}
	if out, err := run("--account", "beta", "--since", "2026-11-28", "--until", "2026-11-29"); err != nil || !strings.Contains(out, "no sending in this period") {
		t.Errorf("beta before it sent: %q, %v", out, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "domain"}, `--by: "domain" is not identity, configuration-set or isp`},
		{[]string{"--since", "2026-11-30", "--until", "2026-11-28"}, "--since (2026-11-30T00:00:00Z) must be before --until (2026-11-28T00:00:00Z)"},
		{[]string{"--since", "yesterday"}, `--since: "yesterday" is not a date`},
		{[]string{"--daily", "--by", "isp"}, "--daily: gives volumes per identity"},
		{[]string{"--account", "nobody"}, "account nobody"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		if _, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// FuzzStatsRange: --since, --until, --by and --daily never panic, and
// what they accept is a non-empty range with a known grouping (per
// identity with --daily).
func FuzzStatsRange(f *testing.F) {
	for _, s := range [][3]string{{"24h", "", ""}, {"7d", "1d", "isp"}, {"2026-11-28", "2026-11-30T00:00:00Z", "identity"},
		{"", "", "configuration-set"}, {"1d", "2d", "x"}, {"65535d", "", ""}, {"-1h", "", ""}} {
		f.Add(s[0], s[1], s[2], false)
		f.Add(s[0], s[1], s[2], true)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, since, until, by string, daily bool) {
		r, err := parseStatsRange(since, until, by, daily, now)
		if err != nil {
			return
		}
		if !r.Start.Before(r.End) {
			t.Fatalf("%q %q: empty range %v–%v accepted", since, until, r.Start, r.End)
		}
		switch r.By {
		case "", stats.DimensionIdentity, stats.DimensionConfigurationSet, stats.DimensionISP:
		default:
			t.Fatalf("--by %q gave %q", by, r.By)
		}
		if daily && (r.By != stats.DimensionIdentity || !r.Daily) {
			t.Fatalf("--daily gave %+v", r)
		}
	})
}
