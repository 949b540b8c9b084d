package resolver

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/dnstest"
)

// TestLookups: each lookup against the in-process DNS server, and each
// failure told apart with errors.Is.
func TestLookups(t *testing.T) {
	s := dnstest.New(t)
	r := &Resolver{Server: s.Addr, Timeout: 200 * time.Millisecond}
	ctx := t.Context()
	long := strings.Repeat("k", 600) // two character-strings on the wire
	s.TXT("txt.example", "v=spf1 -all", long)
	s.CNAME("alias.example", "target.zone.test")
	s.TXT("target.zone.test", "at the target")
	s.MX("mx.example", 10, "mail.example")
	s.SOA("example", "ns1.example", "hostmaster.example", 42)
	s.A("host.example", "192.0.2.1")
	s.TXT("fail.example", "x")
	s.Fail("fail.example", dnstest.ServFail)
	s.Fail("silent.example", dnstest.Silent)
	// Fifteen 200-byte TXT records: over 1232 bytes, so only over TCP.
	var many []string
	for i := range 15 {
		many = append(many, strings.Repeat(string(rune('a'+i)), 200))
	}
	s.TXT("big.example", many...)

	if got, err := r.TXT(ctx, "txt.example"); err != nil || len(got) != 2 || got[0] != "v=spf1 -all" || got[1] != long {
		t.Errorf("TXT = %d records, %v", len(got), err)
	}
	if got, err := r.TXT(ctx, "big.example"); err != nil || len(got) != 15 {
		t.Errorf("TXT over TCP = %d records, %v", len(got), err)
	}
	if got, err := r.CNAME(ctx, "alias.example"); err != nil || got != "target.zone.test" {
		t.Errorf("CNAME = %q, %v", got, err)
	}
	if got, err := r.TXT(ctx, "alias.example"); err != nil || len(got) != 1 || got[0] != "at the target" {
		t.Errorf("TXT through a CNAME = %q, %v", got, err)
	}
	if got, err := r.MX(ctx, "mx.example"); err != nil || len(got) != 1 || got[0].Mx != "mail.example." || got[0].Preference != 10 {
		t.Errorf("MX = %v, %v", got, err)
	}
	for _, name := range []string{"example", "mx.example", "missing.sub.example"} {
		if soa, err := r.SOA(ctx, name); err != nil || soa.Ns != "ns1.example." || soa.Mbox != "hostmaster.example." || soa.Serial != 42 {
			t.Errorf("SOA(%s) = %v, %v", name, soa, err)
		}
	}
	if _, err := r.SOA(ctx, "nozone.test"); !errors.Is(err, ErrNoData) {
		t.Errorf("SOA without a zone: %v", err)
	}
	for _, c := range []struct {
		name string
		f    func() error
		want error
	}{
		{"NXDOMAIN", func() error { _, err := r.TXT(ctx, "nope.example"); return err }, ErrNXDomain},
		{"no data", func() error { _, err := r.TXT(ctx, "host.example"); return err }, ErrNoData},
		{"no CNAME", func() error { _, err := r.CNAME(ctx, "txt.example"); return err }, ErrNoData},
		{"SERVFAIL", func() error { _, err := r.TXT(ctx, "fail.example"); return err }, ErrServerFailure},
		{"timeout", func() error { _, err := r.TXT(ctx, "silent.example"); return err }, ErrTimeout},
		{"SOA SERVFAIL", func() error { _, err := r.SOA(ctx, "fail.example"); return err }, ErrServerFailure},
	} {
		err := c.f()
		var e *Error
		if !errors.Is(err, c.want) || !errors.As(err, &e) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		for _, other := range []error{ErrNXDomain, ErrNoData, ErrServerFailure, ErrTimeout} {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("%s: %v is also %v", c.name, err, other)
			}
		}
	}
	if _, err := r.TXT(ctx, "fail.example"); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("SERVFAIL error text: %v", err)
	}
	s.Fail("fail.example", dnstest.Healthy)
	if got, err := r.TXT(ctx, "fail.example"); err != nil || got[0] != "x" {
		t.Errorf("healed: %v, %v", got, err)
	}
	s.Remove("txt.example")
	if _, err := r.TXT(ctx, "txt.example"); !errors.Is(err, ErrNXDomain) {
		t.Errorf("removed: %v", err)
	}
}

// TestNew: an explicit server is used as given; without one, the first
// nameserver of /etc/resolv.conf (when the file has one).
func TestNew(t *testing.T) {
	r, err := New("192.0.2.53:53")
	if err != nil || r.Server != "192.0.2.53:53" {
		t.Fatalf("New = %+v, %v", r, err)
	}
	if r, err := New(""); err == nil && r.Server == "" {
		t.Fatal("no server from /etc/resolv.conf")
	}
}
