package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// The generated part of docs/benchmarks.md sits between these markers; the
// rest of the file (profiles, analysis) is written by hand.
const (
	beginMarker = "<!-- petrel-bench:begin -->"
	endMarker   = "<!-- petrel-bench:end -->"
)

type summary struct {
	acceptMPS, deliverMPS, accP50, accP99, e2eP50, e2eP99, cpu, mem, rss float64
	runs, failed, dups, timedOut                                         int
}

func summarize(rs []result) summary {
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s := summary{runs: len(rs),
		acceptMPS: med(func(r result) float64 { return r.AcceptMPS }), deliverMPS: med(func(r result) float64 { return r.DeliverMPS }),
		accP50: med(func(r result) float64 { return r.AcceptP50 }), accP99: med(func(r result) float64 { return r.AcceptP99 }),
		e2eP50: med(func(r result) float64 { return r.E2EP50 }), e2eP99: med(func(r result) float64 { return r.E2EP99 }),
		cpu: med(func(r result) float64 { return r.CPUPerMsg }), mem: med(func(r result) float64 { return r.PeakMemMB }),
		rss: med(func(r result) float64 { return r.PeakRSSMB }),
	}
	for _, r := range rs {
		// A message is lost when it did not arrive, refused or not: one
		// refused at the accept is not counted twice.
		s.failed += r.Messages - r.Delivered
		s.dups += r.Duplicates
		if r.TimedOut {
			s.timedOut++
		}
	}
	return s
}

func renderReport(env *environment, o options, scs []scenario, relays []string, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s, commit `%s`, by `go run ./cmd/petrel-bench` (%d run(s) of each, medians).\n\n",
		env.started.UTC().Format("2006-01-02 15:04 MST"), env.commit, o.runs)
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s, kernel %s; %s; Postfix %s.\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), runtime.Version(), env.postfixVersion)
	fmt.Fprintf(&b, "Workload: %d-byte multipart message, 1 distinct recipient per message, %d sessions, %d messages per run (%d at the fixed rate of %.0f msg/s). ",
		len(env.body), o.sessions, o.messages, o.rateMessages, o.rate)
	b.WriteString("Petrel: SQLite (`petrel`) or PostgreSQL on 127.0.0.1 (`petrel-pg`), `--relay-host` to the sink; the load generator submits without AUTH from a network credential (127.0.0.0/8), as Postfix accepts from `mynetworks`.\n\n")
	b.WriteString("| scenario | relay | accepted msg/s | delivered msg/s | accept p50 / p99 ms | accept→delivered p50 / p99 ms | CPU ms/msg | peak memory MB | lost / dup |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	sums := map[string]summary{}
	for _, sc := range scs {
		for _, rl := range relays {
			var rs []result
			for _, r := range results {
				if r.Scenario == sc.name && r.Relay == rl {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			s := summarize(rs)
			sums[sc.name+"/"+rl] = s
			memText := fmt.Sprintf("%.0f", s.mem)
			if s.rss > 0 {
				memText += fmt.Sprintf(" (RSS %.0f)", s.rss)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.2f / %.2f | %.2f / %.2f | %.3f | %s | %d / %d |\n",
				sc.name, rl, s.acceptMPS, s.deliverMPS, s.accP50, s.accP99, s.e2eP50, s.e2eP99, s.cpu, memText, s.failed, s.dups)
		}
	}
	b.WriteString("\nScenarios: ")
	for i, sc := range scs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "`%s` = %s", sc.name, sc.about)
	}
	b.WriteString(". Memory is the peak of the summed PSS of the relay's processes, sampled every 250 ms (Petrel's kernel high-water RSS in brackets). CPU is the relay's cgroup CPU time over delivered messages.\n\n")

	// Ratios against Postfix, and the targets.
	pfPersist, okP := sums["smtp-persistent/postfix"]
	pfNew, okN := sums["smtp-newconn/postfix"]
	pfRate, okR := sums[fmt.Sprintf("smtp-rate%.0f/postfix", o.rate)]
	if !okP && !okN {
		return b.String()
	}
	b.WriteString("| check (Petrel / Postfix in this run) | target | petrel (SQLite) | petrel-pg |\n|---|---|---:|---:|\n")
	check := func(what, target string, f func(rl string) (float64, bool), pass func(float64) bool, format string) {
		fmt.Fprintf(&b, "| %s | %s |", what, target)
		for _, rl := range []string{"petrel", "petrel-pg"} {
			v, ok := f(rl)
			if !ok {
				b.WriteString(" – |")
				continue
			}
			mark := "✅"
			if !pass(v) {
				mark = "❌"
			}
			fmt.Fprintf(&b, " "+format+" %s |", v, mark)
		}
		b.WriteString("\n")
	}
	ratio := func(sc string, base summary, ok bool, f func(summary) float64) func(string) (float64, bool) {
		return func(rl string) (float64, bool) {
			s, found := sums[sc+"/"+rl]
			if !ok || !found || f(base) == 0 {
				return 0, false
			}
			return f(s) / f(base), true
		}
	}
	deliv := func(s summary) float64 { return s.deliverMPS }
	check("delivered msg/s, SMTP persistent", "≥ 4×", ratio("smtp-persistent", pfPersist, okP, deliv), func(v float64) bool { return v >= 4 }, "%.1f×")
	check("delivered msg/s, SMTP new connection per message", "≥ 3×", ratio("smtp-newconn", pfNew, okN, deliv), func(v float64) bool { return v >= 3 }, "%.1f×")
	check("delivered msg/s, API SendEmail Raw vs Postfix SMTP persistent", "≥ 4×", ratio("api-raw", pfPersist, okP, deliv), func(v float64) bool { return v >= 4 }, "%.1f×")
	check("delivered msg/s, API v1 SendRawEmail vs Postfix SMTP persistent", "≥ 4×", ratio("api-raw-v1", pfPersist, okP, deliv), func(v float64) bool { return v >= 4 }, "%.1f×")
	check("CPU per message, SMTP persistent", "≤ 0.25×", ratio("smtp-persistent", pfPersist, okP, func(s summary) float64 { return s.cpu }), func(v float64) bool { return v <= 0.25 }, "%.2f×")
	rateName := fmt.Sprintf("smtp-rate%.0f", o.rate)
	check(fmt.Sprintf("accept p99 at %.0f msg/s", o.rate), "≤ 1×", ratio(rateName, pfRate, okR, func(s summary) float64 { return s.accP99 }), func(v float64) bool { return v <= 1 }, "%.2f×")
	abs := func(sc string) func(string) (float64, bool) {
		return func(rl string) (float64, bool) {
			s, ok := sums[sc+"/"+rl]
			return s.e2eP50, ok
		}
	}
	check(fmt.Sprintf("accept→delivered p50 at %.0f msg/s, SMTP (ms)", o.rate), "≤ 5 ms", abs(rateName), func(v float64) bool { return v <= 5 }, "%.2f")
	check(fmt.Sprintf("accept→delivered p50 at %.0f msg/s, API Raw (ms)", o.rate), "≤ 5 ms", abs(fmt.Sprintf("api-raw-rate%.0f", o.rate)), func(v float64) bool { return v <= 5 }, "%.2f")
	return b.String()
}

// updateReport replaces the generated section of path, creating the file
// (with an empty hand-written part) when it does not exist.
func updateReport(path, report string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# Benchmarks\n\n" + beginMarker + "\n" + endMarker + "\n")
	} else if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s section to replace", path, beginMarker, endMarker)
	}
	s = s[:i+len(beginMarker)] + "\n" + report + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(v, " \t:"))
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	return fmt.Sprintf("%.0f GiB RAM", float64(procField("/proc/meminfo", "MemTotal:"))/(1<<30))
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
