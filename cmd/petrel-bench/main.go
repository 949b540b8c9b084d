// Command petrel-bench measures Petrel against Postfix on the same machine,
// in the same run, on the workload of ../shared/bench: a 5.1 KB multipart
// message, one distinct recipient per message, 20 sessions, 20,000 messages
// per run, 3 runs, medians.
//
//	load generator ──SMTP, SESv2 or SES v1 HTTP──► relay under test ──SMTP──► sink
//	(this process)                                  (Petrel or Postfix)        (this process)
//
// For each scenario and relay it reports accepted and delivered msg/s, accept
// latency and accept→delivered latency (p50/p99), CPU per message (the
// relay's cgroup) and peak memory, and the ratios Petrel/Postfix. Runs of the
// relays alternate, so drift of the shared machine hits both alike.
//
// Usage (as root: cgroups, and Postfix's configuration in /etc/postfix):
//
//	go run ./cmd/petrel-bench                 # the full comparison → docs/benchmarks.md
//	go run ./cmd/petrel-bench -quick          # a short trial, nothing written
//	go run ./cmd/petrel-bench queue-memory    # Petrel's memory with 1,000,000 messages queued
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// messageSize is the benchmark message's size in bytes (make_msg.py 5120).
var messageSize = 5120

// scenario is one kind of load.
type scenario struct {
	name     string
	proto    string
	reuse    bool
	rate     float64 // 0 = closed loop
	relays   func(string) bool
	messages int // 0 = the -messages flag
	about    string
}

func petrelOnly(r string) bool { return strings.HasPrefix(r, "petrel") }
func anyRelay(string) bool     { return true }

func scenarios(rateMessages int, rate float64) []scenario {
	return []scenario{
		{name: "smtp-persistent", proto: protoSMTP, reuse: true, relays: anyRelay,
			about: "SMTP, persistent connections (smtp-source -d)"},
		{name: "smtp-newconn", proto: protoSMTP, relays: anyRelay,
			about: "SMTP, a new connection per message"},
		{name: "api-raw", proto: protoAPIRaw, relays: petrelOnly,
			about: "SESv2 SendEmail, Raw content, SigV4, keep-alive HTTP"},
		{name: "api-raw-v1", proto: protoAPIRawV1, relays: petrelOnly,
			about: "SES v1 Query API SendRawEmail (form-encoded POST /, SigV4, XML reply), the messages of api-raw"},
		{name: "api-simple", proto: protoAPISimple, relays: petrelOnly,
			about: "SESv2 SendEmail, Simple content (Petrel builds the MIME message)"},
		{name: fmt.Sprintf("smtp-rate%.0f", rate), proto: protoSMTP, reuse: true, rate: rate, relays: anyRelay,
			messages: rateMessages, about: fmt.Sprintf("SMTP, persistent connections, %.0f msg/s offered", rate)},
		{name: fmt.Sprintf("api-raw-rate%.0f", rate), proto: protoAPIRaw, rate: rate, relays: petrelOnly,
			messages: rateMessages, about: fmt.Sprintf("SESv2 SendEmail Raw, %.0f msg/s offered", rate)},
	}
}

type options struct {
	messages, sessions, runs, rateMessages int
	rate                                   float64
	relays, only                           string
	postgres                               string
	sinkAddr                               string
	petrelBin                              string
	out, jsonOut                           string
	workDir                                string
	timeout                                time.Duration
	profile                                string
	profileSeconds                         int
}

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if len(os.Args) > 1 && os.Args[1] == "queue-memory" {
		if err := queueMemory(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "petrel-bench:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	quick := false
	flag.IntVar(&o.messages, "messages", 20000, "messages per run")
	flag.IntVar(&o.sessions, "sessions", 20, "parallel client sessions")
	flag.IntVar(&o.runs, "runs", 3, "runs of each scenario and relay (medians are reported)")
	flag.IntVar(&o.rateMessages, "rate-messages", 3000, "messages per fixed-rate run")
	flag.Float64Var(&o.rate, "rate", 100, "offered load of the fixed-rate scenarios, msg/s")
	flag.StringVar(&o.relays, "relays", "postfix,petrel,petrel-pg", "relays to measure: postfix, petrel (SQLite), petrel-pg (PostgreSQL)")
	flag.StringVar(&o.only, "scenarios", "", "comma-separated scenario names (default: all)")
	flag.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for petrel-pg (a database petrel_bench is created on it)")
	flag.StringVar(&o.sinkAddr, "sink", "127.0.0.1:2525", "address of the counting sink")
	flag.StringVar(&o.petrelBin, "petrel", "", "petrel binary (default: built from ./cmd/petrel)")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "Markdown report to update (between the bench markers); empty = none")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run as JSON here")
	flag.StringVar(&o.workDir, "work", "", "scratch directory (default: a new temp dir)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest wait for one run's deliveries")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of each Petrel run into this directory (Petrel's --debug endpoint)")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 8, "length of each CPU profile")
	flag.BoolVar(&quick, "quick", false, "a short trial: 2,000 messages, 1 run, 500 at the fixed rate, no report")
	flag.IntVar(&messageSize, "size", messageSize, "message size in bytes")
	flag.Parse()
	if quick {
		o.messages, o.runs, o.rateMessages, o.out = 2000, 1, 500, ""
	}
	if err := compare(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "petrel-bench:", err)
		os.Exit(1)
	}
}

func compare(ctx context.Context, o options) error {
	env, err := setup(ctx, &o)
	if err != nil {
		return err
	}
	defer env.close()
	relays := map[string]relay{}
	var order []string
	for _, name := range strings.Split(o.relays, ",") {
		name = strings.TrimSpace(name)
		cg, err := newCgroup(name)
		if err != nil {
			return err
		}
		switch name {
		case "postfix":
			if env.postfixVersion, err = postfixVersion(); err != nil {
				return err
			}
			pf := &postfixRelay{sink: env.sink.addr(), cg: cg}
			if err := pf.configure(); err != nil {
				return err
			}
			relays[name] = pf
		case "petrel":
			relays[name] = &petrelRelay{label: name, bin: o.petrelBin, sink: env.sink.addr(), workDir: o.workDir, cg: cg, debug: o.profile != ""}
		case "petrel-pg":
			relays[name] = &petrelRelay{label: name, bin: o.petrelBin, database: o.postgres, sink: env.sink.addr(), workDir: o.workDir, cg: cg, debug: o.profile != ""}
		default:
			return fmt.Errorf("unknown relay %q", name)
		}
		order = append(order, name)
	}
	var chosen []scenario
	for _, sc := range scenarios(o.rateMessages, o.rate) {
		if o.only == "" || slices.Contains(strings.Split(o.only, ","), sc.name) {
			chosen = append(chosen, sc)
		}
	}
	var results []result
	for run := 1; run <= o.runs; run++ {
		for _, sc := range chosen {
			for _, name := range order {
				if !sc.relays(name) {
					continue
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res, err := measure(ctx, env, o, sc, relays[name], run)
				if err != nil {
					return fmt.Errorf("%s on %s, run %d: %w", sc.name, name, run, err)
				}
				fmt.Fprintln(os.Stderr, res.line())
				results = append(results, res)
			}
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	report := renderReport(env, o, chosen, order, results)
	fmt.Println(report)
	if o.out != "" {
		return updateReport(o.out, report)
	}
	return nil
}

// environment is what all runs share.
type environment struct {
	sink           *sink
	body           []byte
	postfixVersion string
	commit         string
	started        time.Time
	tmp            string
}

func (e *environment) close() {
	e.sink.close()
	if e.tmp != "" && os.Getenv("PETREL_BENCH_KEEP") == "" {
		os.RemoveAll(e.tmp)
	}
}

func setup(ctx context.Context, o *options) (*environment, error) {
	env := &environment{body: benchMessage(messageSize), started: time.Now()}
	if o.workDir == "" {
		dir, err := os.MkdirTemp("", "petrel-bench-")
		if err != nil {
			return nil, err
		}
		o.workDir, env.tmp = dir, dir
	}
	if o.petrelBin == "" {
		o.petrelBin = filepath.Join(o.workDir, "bin", "petrel")
		fmt.Fprintln(os.Stderr, "building ./cmd/petrel …")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.petrelBin, "./cmd/petrel")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building petrel (run from the repository root): %w", err)
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		env.commit = strings.TrimSpace(string(out))
		if st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
			env.commit += "+changes"
		}
	}
	var err error
	if env.sink, err = startSink(o.sinkAddr); err != nil {
		return nil, fmt.Errorf("starting the sink: %w", err)
	}
	return env, nil
}

// result is one measured run.
type result struct {
	Scenario     string         `json:"scenario"`
	Relay        string         `json:"relay"`
	Run          int            `json:"run"`
	Messages     int            `json:"messages"`
	Accepted     int            `json:"accepted"`
	Failed       int            `json:"failed"`
	Delivered    int            `json:"delivered"`
	Duplicates   int            `json:"duplicates"`
	AcceptMPS    float64        `json:"accepted_per_s"`
	DeliverMPS   float64        `json:"delivered_per_s"`
	AcceptP50    float64        `json:"accept_p50_ms"`
	AcceptP99    float64        `json:"accept_p99_ms"`
	E2EP50       float64        `json:"accept_to_delivered_p50_ms"`
	E2EP99       float64        `json:"accept_to_delivered_p99_ms"`
	CPUPerMsg    float64        `json:"cpu_ms_per_msg"`
	PeakMemMB    float64        `json:"peak_pss_mb"`
	PeakRSSMB    float64        `json:"peak_rss_mb,omitempty"`
	Errors       map[string]int `json:"errors,omitempty"`
	TimedOut     bool           `json:"timed_out,omitempty"`
	WallSeconds  float64        `json:"wall_s"`
	FirstDeliver float64        `json:"first_delivery_s"`
}

func (r result) line() string {
	s := fmt.Sprintf("%-16s %-10s run %d: accepted %6.0f/s delivered %6.0f/s  accept p50/p99 %6.2f/%7.2f ms  →delivered p50/p99 %7.2f/%8.2f ms  cpu %.3f ms/msg  mem %.0f MB  (%d/%d delivered, %d failed, %d dup)",
		r.Scenario, r.Relay, r.Run, r.AcceptMPS, r.DeliverMPS, r.AcceptP50, r.AcceptP99, r.E2EP50, r.E2EP99, r.CPUPerMsg, r.PeakMemMB, r.Delivered, r.Messages, r.Failed, r.Duplicates)
	for e, n := range r.Errors {
		s += fmt.Sprintf("\n    %d× %s", n, e)
	}
	return s
}

func measure(ctx context.Context, env *environment, o options, sc scenario, r relay, run int) (result, error) {
	n := o.messages
	if sc.messages > 0 {
		n = sc.messages
	}
	if err := r.start(ctx); err != nil {
		return result{}, err
	}
	defer r.stop()
	target := r.smtpAddr()
	if sc.proto != protoSMTP {
		target = r.apiAddr()
	}
	tag := fmt.Sprintf("%s-%s-%d-%d", sc.name, r.name(), run, time.Now().UnixNano()%1e6)
	env.sink.reset(tag, n)
	waitQuiet(10 * time.Second)
	cg := r.group()
	mem := sampleMemory(cg.memory)
	cpu0 := cg.cpu()
	l := &load{proto: sc.proto, target: target, reuse: sc.reuse, sessions: o.sessions, messages: n, rate: sc.rate,
		run: tag, body: env.body, creds: r.credentials(), region: "us-east-1"}
	var profiled sync.WaitGroup
	if p, ok := r.(*petrelRelay); ok && p.debugAddr != "" {
		out := filepath.Join(o.profile, fmt.Sprintf("%s-%s-%d.pprof", sc.name, r.name(), run))
		profiled.Go(func() { p.profile(ctx, out, o.profileSeconds) })
	}
	lr := l.runLoad(ctx)
	profiled.Wait()
	timedOut := false
	if lr.ok > 0 {
		select {
		case <-env.sink.done():
		case <-time.After(o.timeout):
			timedOut = true
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	cpu := cg.cpu() - cpu0
	peak := mem.finish()
	arrived, first := env.sink.snapshot()
	r.stop()

	res := result{Scenario: sc.name, Relay: r.name(), Run: run, Messages: n, Accepted: lr.ok, Failed: lr.failed,
		Errors: lr.errs, TimedOut: timedOut, PeakMemMB: float64(peak) / (1 << 20), PeakRSSMB: float64(r.peakRSS()) / (1 << 20),
		Duplicates: int(env.sink.dups.Load())}
	var accLat, e2e []float64
	var lastArrival time.Time
	for i := range n {
		if lr.accepted[i] != 0 {
			accLat = append(accLat, float64(lr.accepted[i]-lr.began[i])/1e6)
		}
		if arrived[i] != 0 {
			res.Delivered++
			if t := time.Unix(0, arrived[i]); t.After(lastArrival) {
				lastArrival = t
			}
			if lr.accepted[i] != 0 {
				// A relay may deliver before the client has read its 250: that
				// is a latency of 0, not a negative one.
				e2e = append(e2e, max(0, float64(arrived[i]-lr.accepted[i])/1e6))
			}
		}
	}
	if lr.ok > 0 {
		res.AcceptMPS = float64(lr.ok) / lr.end.Sub(lr.start).Seconds()
	}
	if res.Delivered > 0 {
		res.DeliverMPS = float64(res.Delivered) / lastArrival.Sub(lr.start).Seconds()
		res.CPUPerMsg = float64(cpu) / 1e6 / float64(res.Delivered)
		res.FirstDeliver = first.Sub(lr.start).Seconds()
		res.WallSeconds = lastArrival.Sub(lr.start).Seconds()
	}
	res.AcceptP50, res.AcceptP99 = percentile(accLat, 50), percentile(accLat, 99)
	res.E2EP50, res.E2EP99 = percentile(e2e, 50), percentile(e2e, 99)
	return res, nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// waitQuiet waits (at most max) until the machine's CPUs are nearly idle,
// so that one run's leftovers (Postfix's exiting daemons, PostgreSQL's
// checkpoints) do not land in the next.
func waitQuiet(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		a, ai := procStat()
		time.Sleep(500 * time.Millisecond)
		b, bi := procStat()
		if b > a && float64(bi-ai)/float64(b-a) > 0.85 {
			return
		}
	}
}

func procStat() (total, idle uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		var n uint64
		fmt.Sscan(v, &n)
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total, idle
}
