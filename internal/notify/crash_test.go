package notify

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCrashChild is the process TestKillNine kills: it records events with
// the engine as the event log's outbox and, in mode "deliver", runs the
// engine (whose receiver hangs), printing "ready" when the events are
// committed. It does nothing unless started by TestKillNine.
func TestCrashChild(t *testing.T) {
	dir, mode, url := os.Getenv("PETREL_NOTIFY_CRASH_DIR"), os.Getenv("PETREL_NOTIFY_CRASH_MODE"), os.Getenv("PETREL_NOTIFY_CRASH_URL")
	if dir == "" {
		t.Skip("run by TestKillNine")
	}
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	e := New(db, Config{NodeID: "node1"}, webhookRouter(func(string) string { return url }, testSecret), nil)
	log := event.NewLog(db)
	log.SetOutbox(e)
	for i := range 5 {
		addEvent(t, db, log, "a", fmt.Sprintf("m%d", i), time.Now())
	}
	fmt.Println("ready")
	if mode == "deliver" {
		e.Run(context.Background())
	}
	select {} // until killed
}

// TestKillNine: Petrel killed with SIGKILL (a) right after committing
// events, before any fan-out, and (b) while their notifications are being
// attempted (leased, the receiver not answering) loses none of them: the
// store reopened by a new engine of the same node delivers each one.
func TestKillNine(t *testing.T) {
	if os.Getenv("PETREL_NOTIFY_CRASH_DIR") != "" {
		t.Skip("child")
	}
	for _, mode := range []string{"before-fan-out", "deliver"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var mu sync.Mutex
			got := map[string]int{}
			hang := make(chan struct{})
			arrived := make(chan struct{}, 100)
			var hanging sync.WaitGroup
			up := false
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ok := up
				if ok {
					got[r.Header.Get("X-Petrel-Event-Id")]++
				}
				mu.Unlock()
				if !ok { // the child's attempts: never answered
					hanging.Add(1)
					defer hanging.Done()
					arrived <- struct{}{}
					select {
					case <-hang:
					case <-r.Context().Done():
					}
				}
			}))
			t.Cleanup(rcv.Close)
			t.Cleanup(func() { close(hang) })

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), "PETREL_NOTIFY_CRASH_DIR="+dir, "PETREL_NOTIFY_CRASH_MODE="+mode, "PETREL_NOTIFY_CRASH_URL="+rcv.URL)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			sc := bufio.NewScanner(out)
			for sc.Scan() && !strings.Contains(sc.Text(), "ready") {
			}
			if mode == "deliver" {
				for range 4 { // PerTarget attempts in flight at the receiver
					select {
					case <-arrived:
					case <-time.After(30 * time.Second):
						t.Fatal("the child's attempts did not arrive")
					}
				}
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			cmd.Wait()

			mu.Lock()
			up = true
			mu.Unlock()
			db, err := store.Open(context.Background(), "", dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			e := New(db, Config{NodeID: "node1"}, webhookRouter(func(string) string { return rcv.URL }, testSecret), nil)
			runEngine(t, e)
			waitFor(t, "all 5 delivered", 30*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == 5
			})
			for i := range 5 {
				if id := fmt.Sprintf("job-m%d", i); got[id] != 1 {
					t.Errorf("%s delivered %d times", id, got[id])
				}
			}
		})
	}
}
