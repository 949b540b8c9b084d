package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// tenant is an account with a verified domain and an access key.
type tenant struct {
	account string
	creds   aws.Credentials
}

// startAPI serves the API (behind Guard, as petrel serve does) over a real
// SQLite store on loopback, with a memory budget of budget bytes, and
// creates the named tenants, each with the verified domain NAME.example.
// It returns the store too.
func startAPI(t testing.TB, budget int64, tenants ...string) (*httptest.Server, *Server, map[string]tenant, *store.DB) {
	t.Helper()
	return startAPIOn(t, "sqlite", budget, tenants...)
}

// startAPIOn is startAPI on the store backend named (store.Backends).
func startAPIOn(t testing.TB, backend string, budget int64, tenants ...string) (*httptest.Server, *Server, map[string]tenant, *store.DB) {
	t.Helper()
	ctx := t.Context()
	db := store.OpenTest(t, backend)
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, accts)
	out := map[string]tenant{}
	for _, name := range tenants {
		if _, err := accts.CreateWith(ctx, name, account.CreateOptions{Unlimited: true}); err != nil {
			t.Fatal(err)
		}
		key, err := accts.CreateKey(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ids.Create(ctx, name, name+".example", true); err != nil {
			t.Fatal(err)
		}
		out[name] = tenant{name, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}
	}
	batch := store.NewBatcher(db, 0, 0)
	bctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { batch.Run(bctx); close(done) }()
	sp := spool.New(db)
	events := event.NewLog(db)
	// Every event is counted, as the daemon does (daemon.Open).
	counters := stats.New(db, sp, stats.Config{Node: "test"})
	events.Observe(counters)
	configsets := configset.New(db)
	sender := sending.New(sending.Config{MessageIDDomain: "petrel.test", Region: "us-east-1", NodeID: "test",
		MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
		accts, ids, configsets, queue.New(db), sp, events, batch)
	sender.Quota = quota.New(db, quota.Config{Node: "test"})
	lists := contacts.New(db, nil)
	imports, err := importjob.New(db, suppression.New(db, nil), importjob.Config{ImportDir: t.TempDir(), Poll: 20 * time.Millisecond, Contacts: lists},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	importsDone := make(chan struct{})
	go func() { imports.Run(bctx); close(importsDone) }()
	s := &Server{Accounts: accts, Identities: ids, ConfigSets: configsets, Sender: sender, Events: events, Spool: sp,
		Suppression: suppression.New(db, nil), ImportJobs: imports, Contacts: lists, Quota: sender.Quota, Stats: counters,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Region: "us-east-1",
		Budget: admission.NewBudget(budget), BodyTimeout: 10 * time.Second, MinBodyRate: 64 << 10, Templates: template.New(db)}
	srv := httptest.NewServer(s.Guard(s.Handler()))
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		<-importsDone
	})
	return srv, s, out, db
}

// signedHead signs a SendEmail whose body will be n bytes hashing to
// bodySum, as the AWS SDKs sign it (no x-amz-content-sha256), and returns
// the request line and headers as a client sends them.
func signedHead(t *testing.T, host string, creds aws.Credentials, n int64, bodySum string) []byte {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+host+"/v2/email/outbound-emails", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/json")
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, bodySum, "ses", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), host, n)
	req.Header.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Finding C of the hardening review: a tenant used to be able to take the
// whole memory budget shared by all tenants, by starting several signed
// SendEmails of 59 MiB and sending their bodies slowly (each may take
// 10 s + size / 64 KiB/s, about 16 minutes); every other tenant's
// SendEmail then got 503. Now one account holds at most its share (a
// quarter of 256 MiB, 64 MiB): account A trickling five large bodies gets
// one admitted and the rest refused at once with 503, and account B's
// 2 MB SendEmail goes through meanwhile.
func TestBudgetFairAcrossAccounts(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "tenant-a", "tenant-b")
	host := srv.Listener.Addr().String()
	a, b := tenants["tenant-a"], tenants["tenant-b"]

	never := sha256Hex([]byte("a body that never arrives in full"))
	const mib = 1 << 20
	for i, size := range []int64{59 * mib, 59 * mib, 59 * mib, 59 * mib, 19 * mib} {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() }) // before the server's Close (cleanups run last first)
		if _, err := c.Write(append(signedHead(t, host, a.creds, size, never), `{"Content":`...)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The first is admitted and held while its body trickles.
			deadline := time.Now().Add(2 * time.Second)
			for s.Budget.InUse() < size && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if s.Budget.InUse() != size {
				t.Fatalf("A's first body: budget in use %d, want %d", s.Budget.InUse(), size)
			}
			continue
		}
		// The rest are over A's share: refused at once, retryable.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("A's body %d (%d MiB): no answer while the first trickles (budget in use %d): %v", i+1, size>>20, s.Budget.InUse(), err)
		}
		if resp.StatusCode != 503 || resp.Header.Get("x-amzn-ErrorType") != "ServiceUnavailable" {
			t.Fatalf("A's body %d: %d %s, want 503 ServiceUnavailable", i+1, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	}

	// B's 2 MB message fits in the rest of the budget.
	text := strings.Repeat("Some text of a long message from B.\n", 2<<20/37)
	body, err := json.Marshal(map[string]any{
		"FromEmailAddress": "sender@tenant-b.example",
		"Destination":      map[string]any{"ToAddresses": []string{"success@simulator.amazonses.com"}},
		"Content": map[string]any{"Simple": map[string]any{
			"Subject": map[string]string{"Data": "large"}, "Body": map[string]any{"Text": map[string]string{"Data": text}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	status, _, out := signedDo(t, srv, b, "POST", "/v2/email/outbound-emails", body)
	if status != 200 || !strings.Contains(string(out), "MessageId") {
		t.Fatalf("B's %d-byte SendEmail while A trickles: %d %s", len(body), status, out)
	}
	if held := s.Budget.InUse(); held != 59*mib {
		t.Fatalf("budget in use after B's send: %d, want A's one body (%d)", held, 59*mib)
	}
}

// The per-account share is never below one largest request body, so a
// tenant can always send its largest message alone.
func TestHolderFloorFitsLargestBody(t *testing.T) {
	if admission.HolderFloor < MaxBody {
		t.Fatalf("admission.HolderFloor %d < MaxBody %d", admission.HolderFloor, MaxBody)
	}
}
