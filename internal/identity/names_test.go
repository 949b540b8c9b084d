package identity

import (
	"slices"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
)

// TestCoveringStopsBeforePublicSuffix: parent-domain coverage (and so the
// DKIM signer search) climbs to the registrable domain and never to a
// public suffix, ICANN (co.uk) or private (github.io) or unlisted (test).
func TestCoveringStopsBeforePublicSuffix(t *testing.T) {
	for _, tc := range []struct {
		domain string
		want   []string
	}{
		{"a.b.example.co.uk", []string{"x@a.b.example.co.uk", "a.b.example.co.uk", "b.example.co.uk", "example.co.uk"}},
		{"me.github.io", []string{"x@me.github.io", "me.github.io"}},
		{"mail.flap.test", []string{"x@mail.flap.test", "mail.flap.test", "flap.test"}},
		{"example.com", []string{"x@example.com", "example.com"}},
		{"co.uk", []string{"x@co.uk"}},
		{"localhost", []string{"x@localhost"}},
	} {
		got := slices.Collect(covering(address.Address{Local: "x", Domain: tc.domain}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("covering(x@%s) = %q, want %q", tc.domain, got, tc.want)
		}
	}
}

// TestRegistrable: domain identities may not be public suffixes, all-numeric
// TLDs or single labels.
func TestRegistrable(t *testing.T) {
	for d, want := range map[string]bool{
		"example.com": true, "ok.co.uk": true, "me.github.io": true, "flap.test": true, "xn--bcher-kva.example": true,
		"co.uk": false, "github.io": false, "com": false, "localhost": false, "1.2.3.4": false, "host.123": false,
	} {
		if got := registrable(d); got != want {
			t.Errorf("registrable(%s) = %v, want %v", d, got, want)
		}
	}
}
