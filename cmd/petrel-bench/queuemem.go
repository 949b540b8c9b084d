package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// queueMemory measures Petrel's memory while its queue fills: the relay host
// is down (nothing listens on its port), so every accepted message stays
// queued after one failed attempt (retry in an hour), and the resident set
// is read every -step messages up to -messages. Memory must stay flat: the
// queue lives in the database, not in the process.
func queueMemory(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("queue-memory", flag.ContinueOnError)
	var o options
	step := 0
	fs.IntVar(&o.messages, "messages", 1_000_000, "messages to queue")
	fs.IntVar(&step, "step", 100_000, "read memory every this many messages")
	fs.IntVar(&o.sessions, "sessions", 20, "parallel SMTP sessions")
	fs.StringVar(&o.postgres, "postgres", "", "a postgres:// server URL to queue in PostgreSQL instead of SQLite")
	fs.StringVar(&o.petrelBin, "petrel", "", "petrel binary (default: built from ./cmd/petrel)")
	fs.StringVar(&o.workDir, "work", "", "scratch directory (default: a new temp dir; needs about 12 KB per message)")
	fs.StringVar(&o.sinkAddr, "sink", "127.0.0.1:2525", "address of the (unused) sink")
	fs.IntVar(&messageSize, "size", messageSize, "message size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := setup(ctx, &o)
	if err != nil {
		return err
	}
	defer env.close()
	cg, err := newCgroup("petrel-queue")
	if err != nil {
		return err
	}
	down := freeAddr() // nothing listens here: the destination is down
	p := &petrelRelay{label: "petrel-queue", bin: o.petrelBin, database: o.postgres, sink: down, workDir: o.workDir, cg: cg,
		extraArgs: []string{"--retry-base", "1h", "--retry-max", "1h"}}
	if err := p.start(ctx); err != nil {
		return err
	}
	defer p.stop()
	pid := p.cmd.Process.Pid
	rss := func() float64 { return float64(procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")) / (1 << 20) }
	fmt.Printf("queued\tRSS MB\tdata dir MB\taccepted/s\n0\t%.0f\t%.0f\t-\n", rss(), dirMB(p.dataDir))
	t0 := time.Now()
	for done := 0; done < o.messages; {
		n := min(step, o.messages-done)
		l := &load{proto: protoSMTP, target: p.smtpAddr(), reuse: true, sessions: o.sessions, messages: n,
			run: fmt.Sprintf("q%d", done), body: env.body}
		t := time.Now()
		lr := l.runLoad(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lr.failed > 0 {
			return fmt.Errorf("%d messages refused: %v", lr.failed, lr.errs)
		}
		done += n
		fmt.Printf("%d\t%.0f\t%.0f\t%.0f\n", done, rss(), dirMB(p.dataDir), float64(n)/time.Since(t).Seconds())
	}
	// Let the first (failing) attempts of the last messages finish.
	time.Sleep(10 * time.Second)
	fmt.Printf("settled\t%.0f\t%.0f\t(total %s; peak RSS %.0f MB)\n", rss(), dirMB(p.dataDir), time.Since(t0).Round(time.Second),
		float64(procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:"))/(1<<20))
	return nil
}

func dirMB(dir string) float64 {
	var total int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return float64(total) / (1 << 20)
}
