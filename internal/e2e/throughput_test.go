package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// A network credential lets SMTP clients in its range submit without AUTH
// (and without TLS); everyone else still gets 530.
func TestNetworkCredential(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			send := func() (string, error) {
				c, err := smtp.Dial(e.d.Addr("smtp"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var status string
				err = func() error {
					if err := c.Mail("sender@example.com", nil); err != nil {
						return err
					}
					if err := c.Rcpt("a@one.test", nil); err != nil {
						return err
					}
					w, err := c.Data()
					if err != nil {
						return err
					}
					w.Write([]byte("From: sender@example.com\r\nTo: a@one.test\r\nSubject: trusted\r\n\r\nhello\r\n"))
					resp, err := w.CloseWithResponse()
					if resp != nil {
						status = resp.StatusText
					}
					return err
				}()
				return status, err
			}
			if _, err := send(); err == nil || !strings.Contains(err.Error(), "530") {
				t.Fatalf("without a network credential: %v, want 530", err)
			}
			if _, err := e.d.Services().Accounts.AddNetwork(t.Context(), "default", "127.0.0.0/8"); err != nil {
				t.Fatal(err)
			}
			status, err := send()
			if err != nil {
				t.Fatalf("from a trusted network: %v", err)
			}
			id, _ := strings.CutPrefix(status, "Ok ")
			evs := e.events(id, 10*time.Second, finalCount(1))
			if len(mx.Messages()) != 1 || count(evs, event.Delivery) != 1 {
				t.Fatalf("delivered %d, events %v", len(mx.Messages()), evs)
			}
			var m event.Mail
			if err := json.Unmarshal(evs[0].Mail, &m); err != nil || m.CallerIdentity != "network:127.0.0.1" {
				t.Errorf("mail.callerIdentity = %q (%v), want network:127.0.0.1", m.CallerIdentity, err)
			}
		})
	}
}

// With a delivery backlog of 2 entries, a burst of 60 messages to a slow MX
// overflows into the database and every message is still delivered, once.
func TestDeliveryBacklogOverflowsToDatabase(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, func(c *config.Config) { c.DeliveryBacklog = 2 })
			mx := e.mx("slow.test", "127.0.0.3", 10)
			mx.Rcpt = func(string, int) error { time.Sleep(5 * time.Millisecond); return nil }
			const n = 60
			ids := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					out, err := e.ses.SendEmail(t.Context(), simple("sender@example.com", fmt.Sprintf("r%d@slow.test", i)))
					if err != nil {
						t.Error(err)
						return
					}
					ids[i] = *out.MessageId
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			for _, id := range ids {
				evs := e.events(id, 20*time.Second, finalCount(1))
				if count(evs, event.Delivery) != 1 {
					t.Fatalf("message %s: events %v", id, evs)
				}
			}
			if got := len(mx.Messages()); got != n {
				t.Fatalf("MX received %d messages, want %d", got, n)
			}
		})
	}
}
