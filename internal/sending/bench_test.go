package sending_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// BenchmarkSend is the store enqueue of the accept path on each backend: a
// 5 KB raw message checked, prepared and stored (body, queue entry, Send
// event) by 20 concurrent senders through the group-committing batcher;
// each op returns only once its transaction is durable.
func BenchmarkSend(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			s := newTestSender(b, backend, nil)
			para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 62)
			raw := []byte("From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nSubject: weekly\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n\r\n" + para)
			rcpt, _ := address.Parse("rcpt@example.net")
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.SetParallelism(10) // 20 senders on 2 CPUs
			start, cpu := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail",
						Recipients: []address.Address{rcpt}, Raw: raw})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/msg")
		})
	}
}

// BenchmarkSendBulk50 is SendBulkEmail's accept path on each backend: one
// op is a call of 50 entries, each a message of its own rendered from a
// stored 5 KB template with its data (checked, prepared and given its Send
// event), all 50 stored in one group commit. "20 callers" runs 20
// concurrent callers, as BenchmarkSend; "1 caller" one at a time, and
// "1 caller, 50 SendEmail" the same 50 messages as 50 templated Send calls
// in turn (50 commits), the cost the single commit saves. msgs/s and
// cpu-µs/msg compare with BenchmarkSend's.
func BenchmarkSendBulk50(b *testing.B) {
	for _, backend := range store.Backends() {
		ctx := context.Background()
		s, db := newTestStore(b, backend, nil)
		s.Templates = template.New(db)
		para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 62)
		if err := s.Templates.Create(ctx, testAccount, template.Template{Name: "weekly",
			Content: template.Content{Subject: "weekly for {{name}}", Text: "Dear {{name}},\r\n" + para}}); err != nil {
			b.Fatal(err)
		}
		entries := make([]sending.BulkEntry, 50)
		for i := range entries {
			rcpt, _ := address.Parse(fmt.Sprintf("rcpt%d@example.net", i))
			entries[i] = sending.BulkEntry{To: []address.Address{rcpt}, Data: fmt.Sprintf(`{"name":"Reader %d"}`, i)}
		}
		req := sending.BulkRequest{Account: testAccount, From: "Sender <sender@example.com>", Template: sending.Template{Name: "weekly"},
			Entries: entries}
		bulk := func(b *testing.B) {
			res, err := s.SendBulk(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if res[49].Status != sending.BulkSuccess {
				b.Fatal(res[49])
			}
		}
		measure := func(b *testing.B, run func()) {
			b.ReportAllocs()
			start, cpu := time.Now(), cpuTime()
			run()
			b.ReportMetric(float64(50*b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Microsecond)/float64(50*b.N), "cpu-µs/msg")
		}
		b.Run(backend+"/20 callers", func(b *testing.B) {
			b.SetParallelism(10)
			measure(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						bulk(b)
					}
				})
			})
		})
		b.Run(backend+"/1 caller", func(b *testing.B) {
			measure(b, func() {
				for b.Loop() {
					bulk(b)
				}
			})
		})
		b.Run(backend+"/1 caller, 50 SendEmail", func(b *testing.B) {
			measure(b, func() {
				for b.Loop() {
					for _, e := range entries {
						_, err := s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendEmail", Source: req.From, Recipients: e.To,
							Content: &sending.Content{From: req.From, To: e.To, Template: &sending.Template{Name: "weekly", Data: e.Data}}})
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
	}
}

// BenchmarkSendLarge accepts one DKIM-signed 40 MB message at a time, as
// the API does: its request body (53 MB of base64) held in the shared
// admission.Budget, which lowers the GC percent while it holds it
// ("budget"), or without a budget at GOGC=100 ("no budget"). It reports
// the process CPU time per message (cpu-ms/op: the GC's work on the other
// CPU included) and the collections per message, the price of the lower
// peak memory the budget's GC setting buys.
func BenchmarkSendLarge(b *testing.B) {
	for _, backend := range store.Backends() {
		for _, budgeted := range []bool{false, true} {
			name := backend + "/no budget"
			if budgeted {
				name = backend + "/budget"
			}
			b.Run(name, func(b *testing.B) {
				s := newLargeSender(b, backend)
				body := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 40_000_000/38)
				head := []byte("From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nSubject: large\r\nMIME-Version: 1.0\r\n" +
					"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
				rcpt, _ := address.Parse("rcpt@example.net")
				var budget *admission.Budget // nil: takes nothing
				held := int64(len(body) * 4 / 3)
				if budgeted {
					budget = admission.NewBudget(0)
				}
				b.SetBytes(int64(len(head) + len(body)))
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				gcs := ms.NumGC
				cpu := cpuTime()
				for b.Loop() {
					// A fresh buffer per message, with room, as the API's
					// request body is (sending.Request.RawScratch).
					raw := make([]byte, 0, held+int64(len(head)+len(body))+4096)
					raw = append(append(raw, head...), body...)
					budget.TryAcquire(held)
					_, err := s.Send(context.Background(), sending.Request{Account: testAccount, Operation: "SendEmail",
						Recipients: []address.Address{rcpt}, Raw: raw, RawScratch: true})
					budget.Release(held)
					if err != nil {
						b.Fatal(err)
					}
				}
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(ms.NumGC-gcs)/float64(b.N), "GCs/op")
			})
		}
	}
}

// newLargeSender is a Sender over a fresh store whose account may send
// from example.com, which has an RSA-2048 DKIM key.
func newLargeSender(b *testing.B, backend string) *sending.Sender {
	return newTestSender(b, backend, func(ctx context.Context, ids *identity.Service) error {
		_, err := ids.GenerateDKIM(ctx, testAccount, "example.com", dkim.RSA2048)
		return err
	})
}

// testAccount is the account of newTestSender's Sender.
const testAccount = "acct"

// newTestSender is a Sender over a fresh store on backend (its batcher
// stopped when tb ends) whose account testAccount may send from the
// verified domain identity example.com; setup, when set, then adds to the
// account's identities.
func newTestSender(tb testing.TB, backend string, setup func(context.Context, *identity.Service) error) *sending.Sender {
	tb.Helper()
	s, _ := newTestStore(tb, backend, setup)
	return s
}

// newTestStore is newTestSender also returning its store.
func newTestStore(tb testing.TB, backend string, setup func(context.Context, *identity.Service) error) (*sending.Sender, *store.DB) {
	tb.Helper()
	db := store.OpenTest(tb, backend)
	ctx := context.Background()
	accts, err := account.New(db, filepath.Join(tb.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := accts.CreateWith(ctx, testAccount, account.CreateOptions{Unlimited: true}); err != nil {
		tb.Fatal(err)
	}
	ids := identity.New(db, accts)
	if _, err := ids.Create(ctx, testAccount, "example.com", true); err != nil {
		tb.Fatal(err)
	}
	if setup != nil {
		if err := setup(ctx, ids); err != nil {
			tb.Fatal(err)
		}
	}
	batch := store.RunTestBatcher(tb, store.NewBatcher(db, 0, 0))
	s := sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "test",
		MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
		accts, ids, configset.New(db), queue.New(db), spool.New(db), event.NewLog(db), batch)
	// The suppression check, as the daemon wires it: part of every send.
	s.Suppression = suppression.New(db, nil)
	return s, db
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
