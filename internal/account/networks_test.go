package account

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

func TestNetworkCredentials(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s := newTestService(t, store.OpenTest(t, backend), "wide", "narrow")
			if _, err := s.AddNetwork(ctx, "wide", "10.0.0.0/8"); err != nil {
				t.Fatal(err)
			}
			// Host bits are masked: 10.1.2.3/16 is stored as 10.1.0.0/16.
			if n, err := s.AddNetwork(ctx, "narrow", "10.1.2.3/16"); err != nil || n.Prefix.String() != "10.1.0.0/16" {
				t.Fatalf("AddNetwork = %v, %v", n, err)
			}
			if _, err := s.AddNetwork(ctx, "narrow", "10.1.0.0/16"); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate network: %v", err)
			}
			if _, err := s.AddNetwork(ctx, "wide", "10.0.0.1"); !errors.Is(err, ErrInvalidNetwork) {
				t.Fatalf("bare address: %v", err)
			}
			if _, err := s.AddNetwork(ctx, "nobody", "192.0.2.0/24"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown account: %v", err)
			}
			for _, tc := range []struct{ ip, want string }{
				{"10.9.9.9", "wide"},
				{"10.1.200.1", "narrow"}, // most specific prefix wins
				{"::ffff:10.1.0.5", "narrow"},
				{"192.0.2.1", ""},
				{"::1", ""},
			} {
				got, err := s.AccountForIP(ctx, netip.MustParseAddr(tc.ip))
				if err != nil || got != tc.want {
					t.Errorf("AccountForIP(%s) = %q, %v; want %q", tc.ip, got, err, tc.want)
				}
			}
			if err := s.DeleteNetwork(ctx, "narrow", "10.1.0.0/16"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteNetwork(ctx, "narrow", "10.1.0.0/16"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if got, _ := s.AccountForIP(ctx, netip.MustParseAddr("10.1.200.1")); got != "wide" {
				t.Fatalf("after delete: %q, want wide", got)
			}
		})
	}
}
