package sending_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkSend is the store enqueue of the accept path on each backend: a
// 5 KB raw message checked, prepared and stored (body, queue entry, Send
// event) by 20 concurrent senders through the group-committing batcher;
// each op returns only once its transaction is durable.
func BenchmarkSend(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			db := store.OpenTest(b, backend)
			ctx := context.Background()
			accts, err := account.New(db, filepath.Join(b.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := accts.Create(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			ids := identity.New(db, accts)
			if _, err := ids.Create(ctx, "bench", "example.com", true); err != nil {
				b.Fatal(err)
			}
			batch := store.NewBatcher(db, 0, 0)
			bctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { batch.Run(bctx); close(done) }()
			defer func() { stop(); <-done }()
			s := sending.New(sending.Config{Hostname: "petrel.example", Region: "us-east-1", NodeID: "bench",
				MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
				accts, ids, queue.New(db), spool.New(db), event.NewLog(db), batch)
			para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 62)
			raw := []byte("From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nSubject: weekly\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n\r\n" + para)
			rcpt, _ := address.Parse("rcpt@example.net")
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.SetParallelism(10) // 20 senders on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, err := s.Send(ctx, sending.Request{Account: "bench", Operation: "SendRawEmail",
						Recipients: []address.Address{rcpt}, Raw: raw})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
