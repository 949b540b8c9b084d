package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/store"
)

// TestNotifyCrashLosesNothing runs `petrel serve` with a webhook event
// destination and sends a stream of messages to the mailbox simulator
// (success@, bounce@, complaint@), SIGKILLing Petrel four times while
// notifications flow — once while the webhook receiver answers nothing and
// once while it is down (connections refused), so that rows sit in the
// outbox and the job table at the kill — and restarting it each time. Then every event in the events table must
// have reached the webhook (deduplicated on X-Petrel-Event-Id, each ID
// always with the same body and a valid signature): duplicates are
// allowed, losses are not.
func TestNotifyCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := petrelBinary(t)
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { notifyCrashRun(t, bin, backend) })
	}
}

func notifyCrashRun(t *testing.T, bin, backend string) {
	dataDir := t.TempDir()
	dns := dnstest.New(t)
	// The sender's mailbox, where feedback emails for the bounces and
	// complaints go.
	mx := mxtest.Start(t, "127.0.0.8", 0)
	dns.MX("example.com", 10, "mx.example.com")
	dns.A("mx.example.com", "127.0.0.8")
	hook := startHookReceiver(t, "127.0.0.1:0")
	httpAddr := freeAddr(t)
	args := []string{"serve", "--data-dir", dataDir, "--http", httpAddr, "--smtp", "", "--smtps", "", "--inbound", "",
		"--hostname", "petrel.test", "--dns", dns.Addr, "--delivery-port", itoa(mx.Port()), "--retry-base", "100ms", "--retry-max", "500ms",
		"--notify-allow-networks", "127.0.0.0/8"}
	cfg := config.Default()
	cfg.DataDir = dataDir
	if backend == "postgres" {
		cfg.Database = store.TestPostgresDSN(t)
		args = append(args, "--database", cfg.Database)
	}
	srv := startKillable(t, httpAddr, args)

	keyID, secretKey := readCredentials(t, filepath.Join(dataDir, "credentials"))
	cli := append([]string{"identity", "add", "example.com", "--verified", "--data-dir", dataDir}, dbArgs(args)...)
	if out, err := exec.Command(bin, cli...).CombinedOutput(); err != nil {
		t.Fatalf("identity add: %v\n%s", err, out)
	}
	ses := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + httpAddr),
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secretKey, ""),
		RetryMaxAttempts: 1})
	if _, err := ses.CreateConfigurationSet(t.Context(), &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	secret := createWebhookDestination(t, "http://"+httpAddr, keyID, secretKey, "crash", "hook", hook.URL(),
		[]string{"SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY", "REJECT"})

	var mu sync.Mutex
	acked := 0
	sims := []string{"success", "bounce", "complaint"}
	pending := func() (outbox, jobs int) {
		db, err := store.Open(t.Context(), cfg.Database, dataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("SELECT COUNT(*) FROM notify_outbox").Scan(&outbox); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM notify_deliveries").Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		return outbox, jobs
	}
	// Round 1: the receiver holds every request unanswered; round 2: it
	// is down (connections refused), so attempts fail and are retried
	// (ImmediateDelay, 20 s, later) by the restarted Petrel.
	const rounds, heldRound, downRound = 4, 1, 2
	for round := range rounds {
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					in := simple("sender@example.com", fmt.Sprintf("%s+r%dw%di%d@simulator.amazonses.com", sims[i%3], round, w, i))
					in.ConfigurationSetName = aws.String("crash")
					if _, err := ses.SendEmail(ctx, in); err == nil {
						mu.Lock()
						acked++
						mu.Unlock()
					}
				}
			})
		}
		switch round {
		case heldRound:
			hook.holdAll() // the receiver stops answering: jobs pile up
		case downRound:
			hook.down()
		}
		// Kill once this round has acknowledged messages and (unless the
		// receiver is holding) notifications are arriving.
		before := len(hook.requests())
		mu.Lock()
		target := acked + 90
		mu.Unlock()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := acked
			mu.Unlock()
			if n >= target && (round == heldRound || round == downRound || len(hook.requests()) >= before+30) {
				break
			}
		}
		srv.kill()
		stop()
		wg.Wait()
		outbox, jobs := pending()
		mu.Lock()
		n := acked
		mu.Unlock()
		t.Logf("%s: kill %d: %d acknowledged so far, %d webhook POSTs answered, %d outbox rows and %d jobs left", backend, round+1, n, len(hook.requests()), outbox, jobs)
		switch round {
		case heldRound, downRound:
			if outbox+jobs == 0 {
				t.Errorf("kill %d with the receiver not answering: no rows in the outbox or the job table", round+1)
			}
			srv.start()
			hook.release()
			if round == downRound {
				hook.up(t)
			}
		default:
			srv.start()
		}
	}

	// Every event recorded has reached the webhook.
	svc, err := daemon.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.DB.Close()
	type key struct{ id, kind string }
	var missing []key
	var nEvents int
	// Jobs that failed while the receiver was down wait ImmediateDelay.
	deadline := time.Now().Add(notify.ImmediateDelay + 30*time.Second)
	for {
		got := map[key]bool{}
		bodies := map[string]string{} // X-Petrel-Event-Id → canonical body
		posts := hook.requests()
		for _, r := range posts {
			p := parsePublished(t, r.body)
			got[key{p.id, p.kind}] = true
			eid := r.header.Get("X-Petrel-Event-Id")
			if b, ok := bodies[eid]; ok && b != canonical(t, r.body) {
				t.Fatalf("X-Petrel-Event-Id %s came with two different bodies", eid)
			}
			bodies[eid] = canonical(t, r.body)
		}
		missing, nEvents = missing[:0], 0
		var after int64
		for {
			evs, err := svc.Events.List(t.Context(), event.Filter{AfterID: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			ids := map[string]bool{}
			for _, ev := range evs {
				ids[ev.MessageID] = true
			}
			var list []string
			for id := range ids {
				list = append(list, id)
			}
			mails, err := svc.Spool.MailObjects(t.Context(), list)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				after = ev.ID
				var m struct{ Tags map[string][]string }
				if err := json.Unmarshal(mails[ev.MessageID], &m); err != nil {
					t.Fatalf("event %d of %s: no mail object in the spool (%v)", ev.ID, ev.MessageID, err)
				}
				if len(m.Tags["ses:configuration-set"]) == 0 || m.Tags["ses:configuration-set"][0] != "crash" {
					continue // Petrel's feedback emails: no destination
				}
				nEvents++
				if !got[key{ev.MessageID, string(ev.Kind)}] {
					missing = append(missing, key{ev.MessageID, string(ev.Kind)})
				}
			}
		}
		if len(missing) == 0 && nEvents > 0 {
			for _, r := range posts {
				if err := notify.VerifyWebhook(r.header.Get("X-Petrel-Signature"), r.body, secret, time.Now(), 0); err != nil {
					t.Errorf("signature: %v", err)
					break
				}
			}
			mu.Lock()
			t.Logf("%s: %d messages acknowledged, %d events with the destination, all delivered to the webhook after %d SIGKILLs; %d POSTs, %d distinct event IDs (%d duplicates)",
				backend, acked, nEvents, rounds, len(posts), len(bodies), len(posts)-len(bodies))
			mu.Unlock()
			srv.stop()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d events never reached the webhook, e.g. %v", backend, len(missing), nEvents, missing[:min(5, len(missing))])
		}
		time.Sleep(200 * time.Millisecond)
	}
}
