package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCrashLosesNothing kills `petrel serve` with SIGKILL while clients are
// sending, twice (PETREL_CRASH_KILLS=N for more), restarts it each time, and
// checks that every message that got a 200 (a MessageId) reaches the MX:
// acknowledged means durable.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := petrelBinary(t)
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { crashRun(t, bin, backend) })
	}
}

func crashRun(t *testing.T, bin, backend string) {
	dataDir := t.TempDir()
	dns := dnstest.New(t)
	mx := mxtest.Start(t, "127.0.0.7", 0)
	dns.MX("crash.test", 10, "mx.crash.test")
	dns.A("mx.crash.test", "127.0.0.7")
	httpAddr := freeAddr(t)
	args := []string{"serve", "--data-dir", dataDir, "--http", httpAddr, "--smtp", "", "--smtps", "", "--inbound", "",
		"--hostname", "petrel.test", "--dns", dns.Addr, "--delivery-port", itoa(mx.Port()), "--retry-base", "100ms", "--retry-max", "500ms"}
	if backend == "postgres" {
		args = append(args, "--database", store.TestPostgresDSN(t))
	}
	srv := startKillable(t, httpAddr, args)

	id, secret := readCredentials(t, filepath.Join(dataDir, "credentials"))
	cli := append([]string{"identity", "add", "example.com", "--verified", "--data-dir", dataDir}, dbArgs(args)...)
	if out, err := exec.Command(bin, cli...).CombinedOutput(); err != nil {
		t.Fatalf("identity add: %v\n%s", err, out)
	}
	ses := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + httpAddr),
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		RetryMaxAttempts: 1})

	var mu sync.Mutex
	acked := map[string]bool{}
	kills := 2
	if n, err := strconv.Atoi(os.Getenv("PETREL_CRASH_KILLS")); err == nil && n > 0 {
		kills = n
	}
	for round := range kills {
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					out, err := ses.SendEmail(ctx, simple("sender@example.com", fmt.Sprintf("r%d-%d-%d@crash.test", round, w, i)))
					if err == nil {
						mu.Lock()
						acked[*out.MessageId] = true
						mu.Unlock()
					}
				}
			})
		}
		// Kill once a good number of messages have been acknowledged in this round.
		target := (round + 1) * 150
		if kills > 2 {
			target = (round + 1) * 60
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= target {
				break
			}
		}
		srv.kill()
		stop()
		wg.Wait()
		srv.start()
	}

	mu.Lock()
	want := len(acked)
	mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]int{}
		for _, m := range mx.Messages() {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				continue
			}
			mid := strings.TrimSuffix(strings.TrimPrefix(msg.Header.Get("Message-Id"), "<"), "@petrel.test>")
			got[mid]++
		}
		var missing []string
		for id := range acked {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			dups := 0
			for _, n := range got {
				dups += n - 1
			}
			t.Logf("%s: %d acknowledged messages, all delivered after %d SIGKILLs; %d delivered in all (%d extra: stored but unacknowledged at a kill), %d duplicate deliveries",
				backend, want, kills, len(got), len(got)-want, dups)
			// Graceful stop: SIGTERM drains and exits 0.
			srv.stop()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d acknowledged messages never delivered, e.g. %v", backend, len(missing), want, missing[:min(5, len(missing))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dbArgs(serveArgs []string) []string {
	for i, a := range serveArgs {
		if a == "--database" {
			return serveArgs[i : i+2]
		}
	}
	return nil
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func readCredentials(t *testing.T, path string) (id, secret string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " = ")
		switch {
		case !ok:
		case k == "aws_access_key_id":
			id = v
		case k == "aws_secret_access_key":
			secret = v
		}
	}
	return id, secret
}
