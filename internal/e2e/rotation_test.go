package e2e

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// DKIM rotation end to end: mail sent through the API and delivered to a
// fake MX is verified (go-msgauth) against the test DNS server as it is
// when it arrives — before the rotation, while the API is sent to
// continuously during the switch, through the overlap, and after the old
// record is removed. The switch waits for the DNS checker to see the new
// record. The checker and the rotator run here on the daemon's store with
// the test's clock (the daemon's own rotator runs on the wall clock, whose
// overlap does not end during the test).
func TestDKIMRotation(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			ctx := t.Context()
			mx := e.mx("one.test", "127.0.0.3", 10)
			svc := e.d.Services()
			ids := svc.Identities
			if _, err := ids.Create(ctx, "default", "rot.test", false); err != nil {
				t.Fatal(err)
			}
			old, err := ids.GenerateDKIM(ctx, "default", "rot.test", dkim.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			clock := func() time.Time { return now }
			dns := &resolver.Resolver{Server: e.dns.Addr, Timeout: time.Second}
			checker := &identity.Checker{S: ids, DNS: dns, Now: clock}
			rot := &identity.Rotator{Identities: ids, Now: clock}
			check := func() {
				t.Helper()
				if _, err := checker.CheckDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			e.dns.TXT(old.Selector+"._domainkey.rot.test", old.Record)
			check()
			if st, _ := ids.DKIMStatus(ctx, "default", "rot.test", old.Selector); st != identity.StatusSuccess {
				t.Fatalf("first record: %s", st)
			}
			n := 0
			send := func() string {
				n++
				to := fmt.Sprintf("r%d@one.test", n)
				out, err := e.ses.SendEmail(context.Background(), simple("news@rot.test", to))
				if err != nil {
					t.Error(err)
					return ""
				}
				e.events(*out.MessageId, 10*time.Second, finalCount(1))
				return to
			}
			// verify checks the delivered message to rcpt against the DNS
			// of now and returns the selector that signed it.
			verify := func(rcpt string) string {
				t.Helper()
				for _, m := range mx.Messages() {
					if m.To[0] != rcpt {
						continue
					}
					vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(m.Data), &msgdkim.VerifyOptions{LookupTXT: func(n string) ([]string, error) { return dns.TXT(ctx, n) }})
					if err != nil || len(vs) != 1 || vs[0].Err != nil {
						t.Fatalf("message to %s: %v %+v\n%s", rcpt, err, vs, m.Data)
					}
					_, rest, _ := bytes.Cut(m.Data, []byte(" s="))
					sel, _, _ := bytes.Cut(rest, []byte(";"))
					return string(sel)
				}
				t.Fatalf("no message to %s", rcpt)
				return ""
			}
			before := send()
			if sel := verify(before); sel != old.Selector {
				t.Fatalf("signed by %s", sel)
			}

			next, err := ids.Rotate(ctx, "default", "rot.test", "", now)
			if err != nil {
				t.Fatal(err)
			}
			check()
			if err := rot.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if sel := verify(send()); sel != old.Selector {
				t.Fatalf("signed by %s before the new record was published", sel)
			}
			e.dns.TXT(next.Selector+"._domainkey.rot.test", next.Record)
			now = now.Add(10 * time.Minute)
			check()

			// Sending continuously through the switch.
			var wg sync.WaitGroup
			var during []string
			var mu sync.Mutex
			start := make(chan struct{})
			wg.Go(func() {
				close(start)
				for range 20 {
					to := send()
					mu.Lock()
					during = append(during, to)
					mu.Unlock()
				}
			})
			<-start
			if err := rot.Step(ctx); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			seen := map[string]int{}
			for _, rcpt := range during {
				seen[verify(rcpt)]++
			}
			after := send()
			if sel := verify(after); sel != next.Selector {
				t.Fatalf("after the switch signed by %s, want %s", sel, next.Selector)
			}
			t.Logf("during the switch: %v", seen)

			// Through the overlap the old record stays and mail signed
			// with either key verifies.
			now = now.Add(identity.DefaultDKIMOverlap - time.Minute)
			if err := rot.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := ids.DKIMKeys(ctx, "default", "rot.test"); len(keys) != 2 {
				t.Fatalf("keys during the overlap: %+v", keys)
			}
			verify(before)
			verify(after)
			// After it the old key is gone; its record is removed; mail
			// since the switch verifies.
			now = now.Add(time.Minute)
			if err := rot.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := ids.DKIMKeys(ctx, "default", "rot.test"); len(keys) != 1 || keys[0].Selector != next.Selector {
				t.Fatalf("keys after the overlap: %+v", keys)
			}
			e.dns.Remove(old.Selector + "._domainkey.rot.test")
			verify(after)
			if sel := verify(send()); sel != next.Selector {
				t.Fatalf("signed by %s", sel)
			}
		})
	}
}
