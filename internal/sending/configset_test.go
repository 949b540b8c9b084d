package sending_test

import (
	"errors"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
)

// TestConfigSetLookup: resolving the configuration set costs the send path
// no store read when the message names none, and at most one cached read
// when it names one, on both stores. Shown on a real store by taking the
// table away: once the set is cached, a send naming it is accepted (with
// the set's deadline, MaxDeliverySeconds after acceptance) although its row
// is gone; a send naming none is accepted with the table dropped; a set
// never looked up is then a *StorageError, not a *ConfigSetNotFoundError
// (Petrel's failure, temporary).
func TestConfigSetLookup(t *testing.T) {
	rcpt, _ := address.Parse("rcpt@example.net")
	raw := []byte("From: sender@example.com\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			s, db := newTestStore(t, backend, nil)
			ctx := t.Context()
			sets := configset.New(db)
			for _, name := range []string{"cached", "never"} {
				if err := sets.Create(ctx, configset.ConfigurationSet{Account: testAccount, Name: name, SendingEnabled: true,
					Delivery: configset.DeliveryOptions{TlsPolicy: configset.TLSRequire, MaxDeliverySeconds: 300}}); err != nil {
					t.Fatal(err)
				}
			}
			send := func(set string) (string, error) {
				return s.Send(ctx, sending.Request{Account: testAccount, Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
					Raw: raw, ConfigSet: set})
			}
			if _, err := send("cached"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "DROP TABLE configuration_sets"); err != nil {
				t.Fatal(err)
			}
			id, err := send("cached")
			if err != nil {
				t.Fatalf("send naming a cached set, its table gone: %v", err)
			}
			var ms, tls int64
			if err := db.QueryRowContext(ctx, db.Rebind("SELECT deadline_ms - created_ms, tls_required FROM queue WHERE message_id = ?"), id).Scan(&ms, &tls); err != nil {
				t.Fatal(err)
			}
			if time.Duration(ms)*time.Millisecond != 300*time.Second || tls != 1 {
				t.Errorf("entry deadline %v after acceptance, tls_required %d; want 5m0s, 1", time.Duration(ms)*time.Millisecond, tls)
			}
			if _, err := send(""); err != nil {
				t.Fatalf("send naming no set, the table gone: %v", err)
			}
			_, err = send("never")
			var se *sending.StorageError
			if !errors.As(err, &se) {
				t.Fatalf("send naming a set not cached, the table gone: %v, want a StorageError", err)
			}
		})
	}
}
