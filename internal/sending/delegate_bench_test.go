package sending

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkDelegatedAuthorize is the sending-authorisation check of one
// delegated message (authorize: From and MAIL FROM under the owner's
// domain ARN) on each backend, the owner's domain carrying the most
// policies SES allows (20), each near the 4 KB limit, the last one the
// Allow that applies. It reports the time per message.
func BenchmarkDelegatedAuthorize(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			db := store.OpenTest(b, backend)
			accts, err := account.New(db, filepath.Join(b.TempDir(), "master.key"), "us-east-1")
			if err != nil {
				b.Fatal(err)
			}
			ids := identity.New(db, accts)
			owner, err := accts.CreateWith(ctx, "owner", account.CreateOptions{Unlimited: true})
			if err != nil {
				b.Fatal(err)
			}
			me, err := accts.CreateWith(ctx, "delegate", account.CreateOptions{Unlimited: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ids.Create(ctx, "owner", "owner.example", true); err != nil {
				b.Fatal(err)
			}
			ownerARN := "arn:aws:ses:us-east-1:" + owner.SendingAccountID + ":identity/owner.example"
			for i := range identity.MaxPoliciesPerIdent {
				principal := fmt.Sprintf("%012d", 100000000000+i)
				if i == identity.MaxPoliciesPerIdent-1 {
					principal = me.SendingAccountID
				}
				var rcpts []string
				for j := 0; len(strings.Join(rcpts, `","`)) < 3600; j++ {
					rcpts = append(rcpts, fmt.Sprintf("*@customer-%03d.example", j))
				}
				doc := `{"Version":"2012-10-17","Statement":[{"Sid":"s","Effect":"Allow","Principal":{"AWS":"` + principal +
					`"},"Action":["ses:SendEmail","ses:SendRawEmail"],"Resource":"` + ownerARN +
					`","Condition":{"ForAllValues:StringLike":{"ses:Recipients":["` + strings.Join(rcpts, `","`) + `"]}}}]}`
				p, err := identity.ParsePolicy(doc, ownerARN)
				if err != nil {
					b.Fatal(err)
				}
				if err := ids.CreatePolicy(ctx, "owner", "owner.example", fmt.Sprintf("p%02d", i), p); err != nil {
					b.Fatal(err)
				}
			}
			s := New(Config{MessageIDDomain: "petrel.example", Region: "us-east-1", NodeID: "bench",
				MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
				accts, ids, configset.New(db), queue.New(db), spool.New(db), event.NewLog(db), nil)
			from, _ := address.Parse("news@owner.example")
			rcpt, _ := address.Parse("someone@customer-007.example")
			req := Request{Account: "delegate", Operation: "SendRawEmail", Recipients: []address.Address{rcpt}, FromArn: ownerARN}
			a := arn{field: "FromEmailAddressIdentityArn", value: ownerARN}
			arns := senderARNs{from: a, source: a, returnPath: a}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				src, err := s.authorize(ctx, me, req, arns, from, from, nil)
				if err != nil || src.identity != "owner.example" {
					b.Fatal(src, err)
				}
			}
		})
	}
}
