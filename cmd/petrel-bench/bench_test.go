package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The load generator against the sink directly (the protocol ceiling run):
// every message is accepted and arrives once, with its latency recorded.
func TestLoadIntoSink(t *testing.T) {
	for _, reuse := range []bool{true, false} {
		s, err := startSink("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		const n = 300
		s.reset("t1", n)
		l := &load{proto: protoSMTP, target: s.addr(), reuse: reuse, sessions: 4, messages: n, run: "t1", body: benchMessage(5120)}
		res := l.runLoad(context.Background())
		if res.ok != n || res.failed != 0 {
			t.Fatalf("reuse=%v: %d accepted, %d failed: %v", reuse, res.ok, res.failed, res.errs)
		}
		select {
		case <-s.done():
		case <-time.After(10 * time.Second):
			t.Fatalf("reuse=%v: sink counted %d of %d", reuse, s.count.Load(), n)
		}
		arrived, _ := s.snapshot()
		for i, a := range arrived {
			if a == 0 || res.began[i] == 0 || res.accepted[i] < res.began[i] {
				t.Fatalf("message %d: began %d accepted %d arrived %d", i, res.began[i], res.accepted[i], a)
			}
		}
		if s.dups.Load() != 0 || s.strays.Load() != 0 {
			t.Fatalf("dups %d strays %d", s.dups.Load(), s.strays.Load())
		}
	}
}

// The benchmark message is the ../shared/bench workload: about 5.1 KB,
// multipart/alternative, CRLF, no line a sink would take for the end of DATA.
func TestBenchMessage(t *testing.T) {
	m := string(benchMessage(5120))
	if len(m) < 4900 || len(m) > 5120 {
		t.Errorf("size %d", len(m))
	}
	if !strings.Contains(m, "multipart/alternative") || strings.Contains(strings.ReplaceAll(m, "\r\n", ""), "\n") {
		t.Error("not a CRLF multipart message")
	}
	for _, line := range strings.Split(m, "\r\n") {
		if strings.HasPrefix(line, ".") {
			t.Fatalf("line starts with a dot: %q", line)
		}
	}
}

func TestReplaceDBName(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable": "postgres://postgres@127.0.0.1:5432/petrel_bench?sslmode=disable",
		"postgres://u@h/db": "postgres://u@h/petrel_bench",
	} {
		if got := replaceDBName(in, "petrel_bench"); got != want {
			t.Errorf("replaceDBName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The lost count of a scenario is its messages that did not arrive, each
// counted once whether it was refused at the accept or accepted and lost.
func TestSummarizeLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   []result
		lost int
	}{
		{"all delivered", []result{{Messages: 10, Accepted: 10, Delivered: 10}}, 0},
		{"all refused", []result{{Messages: 10, Failed: 10}}, 10},
		{"accepted, not delivered", []result{{Messages: 10, Accepted: 10, Delivered: 7}}, 3},
		{"both, over two runs", []result{{Messages: 10, Accepted: 8, Failed: 2, Delivered: 8}, {Messages: 10, Accepted: 10, Delivered: 9}}, 3},
	} {
		if got := summarize(tc.rs).failed; got != tc.lost {
			t.Errorf("%s: lost %d, want %d", tc.name, got, tc.lost)
		}
	}
}
