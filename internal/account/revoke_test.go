package account

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// revocationBound is the promise: a change is in force on every node within
// a second (independent of Recheck, which is how it is kept).
const revocationBound = time.Second

// refusedBy polls check on a node until it refuses, and fails the test if a
// check that began revocationBound or more after changed (when the change was
// committed on the other node) was still accepted. It returns how long after
// changed the first refusal came, and whether it came in time. It may run on
// any goroutine.
func refusedBy(t *testing.T, what string, changed time.Time, check func() (accepted bool)) (time.Duration, bool) {
	t.Helper()
	for {
		began := time.Now()
		if !check() {
			return began.Sub(changed), true
		}
		if began.Sub(changed) >= revocationBound {
			t.Errorf("%s: still accepted %v after the change on the other node (want refused within %v)", what, began.Sub(changed), revocationBound)
			return began.Sub(changed), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newTestService returns a Service on db with its own key file and the
// given accounts created.
func newTestService(t testing.TB, db *store.DB, accounts ...string) *Service {
	t.Helper()
	s, err := New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if _, err := s.Create(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestRevocationAcrossNodes runs two Services on one database (two nodes):
// credentials revoked on node B are refused by node A within a second, for
// SigV4 (Secret), SMTP AUTH (AuthSMTP) and network credentials
// (AccountForIP), whatever node A had read before.
func TestRevocationAcrossNodes(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			keyFile := filepath.Join(t.TempDir(), "master.key") // shared by the nodes, as in a cluster
			nodeA, err := New(db, keyFile, "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			nodeB, _ := New(db, keyFile, "us-east-1")
			for _, a := range []string{"acme", "beta"} {
				if _, err := nodeB.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			newKey := func(acct string) Key {
				k, err := nodeB.CreateKey(ctx, acct)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			disabled, deleted, inDB, kept := newKey("acme"), newKey("acme"), newKey("acme"), newKey("acme")
			if _, err := nodeB.AddNetwork(ctx, "acme", "10.1.0.0/16"); err != nil {
				t.Fatal(err)
			}
			if _, err := nodeB.AddNetwork(ctx, "beta", "10.2.0.0/16"); err != nil {
				t.Fatal(err)
			}
			sigv4OK := func(k Key) func() bool {
				return func() bool {
					sec, acct, err := nodeA.Secret(ctx, k.AccessKeyID)
					if err != nil && !errors.Is(err, ErrNotFound) {
						t.Errorf("Secret(%s): %v", k.AccessKeyID, err)
					}
					return err == nil && sec == k.SecretAccessKey && acct == k.Account
				}
			}
			smtpOK := func(k Key) func() bool {
				return func() bool {
					acct, err := nodeA.AuthSMTP(ctx, k.AccessKeyID, SMTPPassword(k.SecretAccessKey, "us-east-1"))
					if err != nil && !errors.Is(err, ErrBadCredentials) {
						t.Errorf("AuthSMTP(%s): %v", k.AccessKeyID, err)
					}
					return err == nil && acct == k.Account
				}
			}
			networkOK := func() bool {
				acct, err := nodeA.AccountForIP(ctx, netip.MustParseAddr("10.1.2.3"))
				if err != nil {
					t.Error(err)
				}
				return acct == "acme"
			}
			// Node A reads everything first, so that any cache it keeps is warm.
			for name, ok := range map[string]func() bool{
				"disabled": sigv4OK(disabled), "disabled smtp": smtpOK(disabled), "deleted": sigv4OK(deleted),
				"deleted smtp": smtpOK(deleted), "in-db": sigv4OK(inDB), "kept": sigv4OK(kept), "network": networkOK,
			} {
				if !ok() {
					t.Fatalf("%s: refused before any change", name)
				}
			}

			// The operator's commands on node B; one key is disabled by hand
			// in the database, which no node hears about.
			if err := nodeB.SetKeyStatus(ctx, "acme", disabled.AccessKeyID, Inactive); err != nil {
				t.Fatal(err)
			}
			if err := nodeB.DeleteKey(ctx, "acme", deleted.AccessKeyID); err != nil {
				t.Fatal(err)
			}
			if err := nodeB.DeleteNetwork(ctx, "acme", "10.1.0.0/16"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE access_keys SET active = 0 WHERE access_key_id = ?"), inDB.AccessKeyID); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()

			var wg sync.WaitGroup
			for _, c := range []struct {
				name  string
				check func() bool
			}{
				{"disabled key, SigV4", sigv4OK(disabled)},
				{"disabled key, SMTP AUTH", smtpOK(disabled)},
				{"deleted key, SigV4", sigv4OK(deleted)},
				{"deleted key, SMTP AUTH", smtpOK(deleted)},
				{"key disabled in the database", sigv4OK(inDB)},
				{"deleted network credential", networkOK},
			} {
				wg.Go(func() {
					if d, ok := refusedBy(t, c.name, changed, c.check); ok {
						t.Logf("%s: refused by node A %v after the change", c.name, d)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if !sigv4OK(kept)() || !smtpOK(kept)() {
				t.Fatal("an untouched key of the same account was refused")
			}
			if acct, _ := nodeA.AccountForIP(ctx, netip.MustParseAddr("10.2.0.1")); acct != "beta" {
				t.Fatalf("untouched network credential: %q", acct)
			}

			// Re-enabled on node B: node A accepts it again within a second.
			if err := nodeB.SetKeyStatus(ctx, "acme", disabled.AccessKeyID, Active); err != nil {
				t.Fatal(err)
			}
			enabled := time.Now()
			wg.Go(func() {
				refusedBy(t, "re-enabled key, SigV4", enabled, func() bool { return !sigv4OK(disabled)() })
			})
			wg.Go(func() {
				refusedBy(t, "re-enabled key, SMTP AUTH", enabled, func() bool { return !smtpOK(disabled)() })
			})
			wg.Wait()
		})
	}
}

// TestKeyManagement covers listing keys and the refusals of SetKeyStatus,
// DeleteKey and DeleteNetwork.
func TestKeyManagement(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s := newTestService(t, store.OpenTest(t, backend), "acme", "beta")
			before := time.Now().Add(-time.Second)
			k1, _ := s.CreateKey(ctx, "acme")
			k2, _ := s.CreateKey(ctx, "acme")
			kb, _ := s.CreateKey(ctx, "beta")
			if _, err := s.AddNetwork(ctx, "beta", "192.0.2.0/24"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetKeyStatus(ctx, "acme", k2.AccessKeyID, Inactive); err != nil {
				t.Fatal(err)
			}
			// Disabling twice is not an error.
			if err := s.SetKeyStatus(ctx, "acme", k2.AccessKeyID, Inactive); err != nil {
				t.Fatal(err)
			}
			list, err := s.ListKeys(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]KeyStatus{k1.AccessKeyID: Active, k2.AccessKeyID: Inactive}
			if len(list) != len(want) {
				t.Fatalf("ListKeys = %+v, want %v", list, want)
			}
			for _, k := range list {
				if want[k.AccessKeyID] != k.Status || k.Account != "acme" || k.Created.Before(before) || k.Created.After(time.Now()) {
					t.Errorf("ListKeys entry %+v, want status %q", k, want[k.AccessKeyID])
				}
			}
			if _, err := s.ListKeys(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ListKeys(unknown account): %v", err)
			}

			for _, tc := range []struct {
				name string
				do   func() error
				want error
			}{
				{"disable another account's key", func() error { return s.SetKeyStatus(ctx, "acme", kb.AccessKeyID, Inactive) }, ErrOtherAccount},
				{"delete another account's key", func() error { return s.DeleteKey(ctx, "acme", kb.AccessKeyID) }, ErrOtherAccount},
				{"delete another account's network", func() error { return s.DeleteNetwork(ctx, "acme", "192.0.2.0/24") }, ErrOtherAccount},
				{"disable an unknown key", func() error { return s.SetKeyStatus(ctx, "acme", "AKIANOPE", Inactive) }, ErrNotFound},
				{"delete an unknown key", func() error { return s.DeleteKey(ctx, "acme", "AKIANOPE") }, ErrNotFound},
				{"delete an unknown network", func() error { return s.DeleteNetwork(ctx, "acme", "198.51.100.0/24") }, ErrNotFound},
				{"delete a bad network", func() error { return s.DeleteNetwork(ctx, "acme", "198.51.100.1") }, ErrInvalidNetwork},
			} {
				if err := tc.do(); !errors.Is(err, tc.want) {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
				}
			}
			// The refusals changed nothing.
			if _, acct, err := s.Secret(ctx, kb.AccessKeyID); err != nil || acct != "beta" {
				t.Errorf("beta's key after refusals: %q %v", acct, err)
			}
			if acct, _ := s.AccountForIP(ctx, netip.MustParseAddr("192.0.2.9")); acct != "beta" {
				t.Errorf("beta's network after refusal: %q", acct)
			}
			// On the node that made the change it shows at once.
			if err := s.DeleteKey(ctx, "acme", k1.AccessKeyID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Secret(ctx, k1.AccessKeyID); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted key: %v", err)
			}
		})
	}
}

// TestSecretConcurrentRecheck has many callers race through rechecks of one
// key (run with -race): all get the secret, none an error.
func TestSecretConcurrentRecheck(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, store.OpenTest(t, "sqlite"), "acme")
	k, _ := s.CreateKey(ctx, "acme")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if sec, _, err := s.Secret(ctx, k.AccessKeyID); err != nil || sec != k.SecretAccessKey {
					t.Errorf("Secret: %v", err)
					return
				}
			}
		})
	}
	for range 20 {
		s.forgetKey(k.AccessKeyID, nil)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// BenchmarkSecret measures Secret per call when the key's reading is fresh
// (the common case) and when every call rechecks the row (what one caller
// per key pays once per Recheck).
func BenchmarkSecret(b *testing.B) {
	for _, backend := range store.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			s := newTestService(b, store.OpenTest(b, backend), "acme")
			k, _ := s.CreateKey(ctx, "acme")
			b.Run("fresh", func(b *testing.B) {
				for b.Loop() {
					if _, _, err := s.Secret(ctx, k.AccessKeyID); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("recheck", func(b *testing.B) {
				s.Secret(ctx, k.AccessKeyID)
				s.mu.RLock()
				e := s.keys[k.AccessKeyID]
				s.mu.RUnlock()
				for b.Loop() {
					st := *e.state.Load()
					st.checked = time.Time{}
					e.state.Store(&st)
					if _, _, err := s.Secret(ctx, k.AccessKeyID); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
