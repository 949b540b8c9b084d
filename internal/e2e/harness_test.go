// Package e2e drives a whole Petrel in-process: the official AWS SDK SESv2
// client and real SMTP clients on one side, fake MX servers (mxtest) found
// through a real DNS server (dnstest) on the other, on SQLite and on
// PostgreSQL (when PETREL_TEST_POSTGRES is set).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
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
	"github.com/petrelmail/petrel/internal/store"
)

type env struct {
	t      *testing.T
	d      *daemon.Daemon
	dns    *dnstest.Server
	ses    *sesv2.Client
	cfg    config.Config
	port   int // SMTP port of every fake MX
	cancel context.CancelFunc
	done   chan error
}

// start runs Petrel on backend with delivery through dns to MX servers on
// port. tweak may change the config.
func start(t *testing.T, backend string, tweak func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP, cfg.SMTP, cfg.SMTPS, cfg.Inbound = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Hostname = "petrel.test"
	cfg.RetryBase = config.Duration(50 * time.Millisecond)
	cfg.RetryMax = config.Duration(200 * time.Millisecond)
	cfg.ShutdownGrace = config.Duration(5 * time.Second)
	if backend == "postgres" {
		cfg.Database = store.TestPostgresDSN(t)
	}
	e := &env{t: t, dns: dnstest.New(t), cfg: cfg}
	// All fake MXes share one port on different loopback addresses, because
	// MX records carry no port: the port must be free on each of them.
	probe := mxtest.Start(t, "127.0.0.2", sharedPort(t))
	e.port = probe.Port()
	e.cfg.DNS = e.dns.Addr
	e.cfg.DeliveryPort = e.port
	if tweak != nil {
		tweak(&e.cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := daemon.New(t.Context(), e.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- d.Run(ctx) }()
	t.Cleanup(e.stop)
	k := d.Credentials
	e.ses = sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + d.Addr("http")),
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""),
	})
	if _, err := d.Services().Identities.Create(t.Context(), "default", "example.com", true); err != nil {
		t.Fatal(err)
	}
	return e
}

// sharedPort returns a port free on 127.0.0.2 to 127.0.0.9, the addresses
// the tests' fake MXes listen on: a port picked on one address alone may
// be held on another by a listener of a test running alongside.
func sharedPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		first, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		held := []net.Listener{first}
		free := true
		for ip := 3; ip <= 9 && free; ip++ {
			l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.0.0.%d", ip), strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free on 127.0.0.2 to 127.0.0.9")
	return 0
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("daemon.Run: %v", err)
	}
	e.cancel = nil
}

// mx starts a fake MX on ip (same port as the others) and publishes it as
// the MX of domain with preference pref.
func (e *env) mx(domain, ip string, pref uint16) *mxtest.Server {
	s := mxtest.Start(e.t, ip, e.port)
	host := "mx-" + ip + ".test"
	e.dns.MX(domain, pref, host)
	e.dns.A(host, ip)
	return s
}

// events waits until the message has events satisfying done, and returns
// them, each with the message's "mail" object, as petrel events prints them.
func (e *env) events(id string, timeout time.Duration, done func([]event.Event) bool) []event.Event {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs, err := e.d.Services().Events.List(context.Background(), event.Filter{MessageID: id})
		if err != nil {
			e.t.Fatal(err)
		}
		if done(evs) {
			mails, err := e.d.Services().Spool.MailObjects(context.Background(), []string{id})
			if err != nil {
				e.t.Fatal(err)
			}
			for i := range evs {
				evs[i].Mail = mails[id]
			}
			return evs
		}
		if time.Now().After(deadline) {
			var kinds []event.Kind
			for _, ev := range evs {
				kinds = append(kinds, ev.Kind)
			}
			e.t.Fatalf("message %s: timed out waiting for events; have %v", id, kinds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many events of kind there are.
func count(evs []event.Event, kind event.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func kinds(evs []event.Event) []event.Kind {
	var out []event.Kind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// finalCount reports when every recipient has reached a final event
// (Delivery or Bounce; Delivery+Bounce counts once).
func finalCount(n int) func([]event.Event) bool {
	return func(evs []event.Event) bool {
		done := map[string]bool{}
		for _, e := range evs {
			if e.Kind == event.Delivery || e.Kind == event.Bounce {
				done[e.Recipient] = true
			}
		}
		return len(done) >= n
	}
}

func detail[T any](t *testing.T, e event.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Detail, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func find(evs []event.Event, kind event.Kind, rcpt string) *event.Event {
	for i := range evs {
		if evs[i].Kind == kind && (rcpt == "" || evs[i].Recipient == rcpt) {
			return &evs[i]
		}
	}
	return nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func itoa(n int) string { return strconv.Itoa(n) }
