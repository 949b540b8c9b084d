package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cgroup holds the processes of one relay under test, so that their CPU time
// (including children that come and go, as Postfix's do) and their memory
// can be read. cgroup v1 (cpuacct) and v2 are both handled.
type cgroup struct {
	dir string
	v2  bool
}

func newCgroup(name string) (*cgroup, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cpuacct/cpuacct.usage"); err == nil {
		dir := filepath.Join("/sys/fs/cgroup/cpuacct", "petrel-bench", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup: %w (run as root)", err)
		}
		return &cgroup{dir: dir}, nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dir := filepath.Join("/sys/fs/cgroup", "petrel-bench-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup: %w (run as root)", err)
		}
		return &cgroup{dir: dir, v2: true}, nil
	}
	return nil, fmt.Errorf("no cgroup filesystem at /sys/fs/cgroup")
}

// joinCommand prefixes argv so that the command runs inside the cgroup.
func (g *cgroup) joinCommand(argv ...string) []string {
	return append([]string{"sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(g.dir, "cgroup.procs")}, argv...)
}

// cpu returns the CPU time used by the cgroup's processes so far.
func (g *cgroup) cpu() time.Duration {
	if !g.v2 {
		b, _ := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage"))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(n)
	}
	b, _ := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Duration(n) * time.Microsecond
		}
	}
	return 0
}

func (g *cgroup) pids() []int {
	b, _ := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// memory returns the summed proportional set size (PSS) of the cgroup's
// processes, in bytes: shared pages (Postfix's many processes share their
// libraries) count once in all.
func (g *cgroup) memory() int64 {
	var total int64
	for _, pid := range g.pids() {
		total += procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	}
	return total
}

// procField reads a "Name:  1234 kB" line of a /proc file, in bytes.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte(name)); ok {
			fields := strings.Fields(string(v))
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// memSampler records the peak of a memory reading while a run goes on.
type memSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak int64
}

func sampleMemory(read func() int64) *memSampler {
	m := &memSampler{stop: make(chan struct{})}
	m.done.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			m.peak = max(m.peak, read())
			select {
			case <-m.stop:
				m.peak = max(m.peak, read())
				return
			case <-t.C:
			}
		}
	})
	return m
}

func (m *memSampler) finish() int64 {
	close(m.stop)
	m.done.Wait()
	return m.peak
}
