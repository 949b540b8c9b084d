package sending_test

import (
	"context"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkSendQuota is BenchmarkSend with the quota as the daemon wires
// it: "off" without a Quota (as before quotas), "unlimited" for an
// account of -1/-1 (the bootstrap account: no check, nothing recorded),
// "limited" for an account with a finite (never reached) quota, checked
// and recorded. The difference to "off" is the quota's cost per message on
// the send path.
func BenchmarkSendQuota(b *testing.B) {
	for _, backend := range store.Backends() {
		for _, mode := range []string{"off", "unlimited", "limited"} {
			b.Run(backend+"/"+mode, func(b *testing.B) {
				ctx := context.Background()
				var s *sending.Sender
				s, db := newTestStore(b, backend, func(ctx context.Context, ids *identity.Service) error { return nil })
				if mode != "off" {
					s.Quota = quota.New(db, quota.Config{Node: "bench"})
				}
				if mode == "limited" {
					accts, err := account.New(db, b.TempDir()+"/master.key", "us-east-1")
					if err != nil {
						b.Fatal(err)
					}
					if err := accts.SetQuota(ctx, testAccount, account.Quota{Max24HourSend: 1 << 50, MaxSendRate: 1e9}); err != nil {
						b.Fatal(err)
					}
				}
				para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 62)
				raw := []byte("From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nSubject: weekly\r\nMIME-Version: 1.0\r\n" +
					"Content-Type: text/plain; charset=utf-8\r\n\r\n" + para)
				rcpt, _ := address.Parse("rcpt@example.net")
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				b.SetParallelism(10)
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
			})
		}
	}
}
