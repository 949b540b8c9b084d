package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// TestAllowed classifies addresses: public ones pass, every special range
// is refused with its own words, the allow list lifts refusals except for
// the unspecified, multicast and broadcast addresses.
func TestAllowed(t *testing.T) {
	tests := []struct {
		ip    string
		allow string // comma-separated prefixes
		want  string // "" = allowed, else a substring of the reason
	}{
		// Public unicast, and its translated forms.
		{ip: "8.8.8.8"},
		{ip: "1.1.1.1"},
		{ip: "93.184.216.34"},
		{ip: "9.255.255.255"},
		{ip: "11.0.0.0"},
		{ip: "100.63.255.255"},
		{ip: "100.128.0.0"},
		{ip: "169.253.255.255"},
		{ip: "172.15.255.255"},
		{ip: "172.32.0.0"},
		{ip: "192.167.255.255"},
		{ip: "192.169.0.0"},
		{ip: "223.255.255.255"},
		{ip: "2606:4700:4700::1111"},
		{ip: "2a00:1450:4001:80b::200e"},
		{ip: "::ffff:8.8.8.8"},
		{ip: "64:ff9b::8.8.8.8"},
		{ip: "2002:808:808::1"},
		{ip: "2001:0:4136:e378:8000:63bf:f7f7:f7f7"}, // Teredo, server 65.54.227.120, client 8.8.8.8

		// Refused classes.
		{ip: "127.0.0.1", want: "a loopback address"},
		{ip: "127.255.255.255", want: "a loopback address"},
		{ip: "0.0.0.0", want: "the unspecified address"},
		{ip: "0.255.255.255", want: `"this network"`},
		{ip: "10.0.0.0", want: "private address (RFC 1918)"},
		{ip: "172.16.0.0", want: "private address (RFC 1918)"},
		{ip: "172.31.255.255", want: "private address (RFC 1918)"},
		{ip: "192.168.255.255", want: "private address (RFC 1918)"},
		{ip: "169.254.169.254", want: "cloud metadata service"},
		{ip: "169.254.170.2", want: "ECS task metadata"},
		{ip: "169.254.0.1", want: "link-local"},
		{ip: "100.64.0.0", want: "carrier-grade NAT"},
		{ip: "100.127.255.255", want: "carrier-grade NAT"},
		{ip: "100.100.100.200", want: "Alibaba Cloud metadata"},
		{ip: "192.0.0.170", want: "IETF protocol assignment"},
		{ip: "192.0.2.1", want: "TEST-NET-1"},
		{ip: "198.51.100.1", want: "TEST-NET-2"},
		{ip: "203.0.113.255", want: "TEST-NET-3"},
		{ip: "192.88.99.1", want: "6to4 relay anycast"},
		{ip: "198.18.0.1", want: "benchmarking"},
		{ip: "198.19.255.255", want: "benchmarking"},
		{ip: "224.0.0.1", want: "multicast"},
		{ip: "239.255.255.250", want: "multicast"},
		{ip: "240.0.0.1", want: "reserved"},
		{ip: "255.255.255.254", want: "reserved"},
		{ip: "255.255.255.255", want: "limited broadcast"},
		{ip: "::", want: "unspecified"},
		{ip: "::1", want: "IPv6 loopback"},
		{ip: "::ffff:10.1.2.3", want: "IPv4-mapped IPv6 address of 10.1.2.3, a private address"},
		{ip: "::ffff:0.0.0.0", want: "unspecified"},
		{ip: "::10.1.2.3", want: "IPv4-compatible"},
		{ip: "::8.8.8.8", want: "IPv4-compatible"},
		{ip: "::ffff:0:a01:203", want: "IPv4-translated IPv6 address (RFC 2765) of 10.1.2.3"},
		{ip: "64:ff9b::10.1.2.3", want: "NAT64 address (RFC 6052) of 10.1.2.3"},
		{ip: "64:ff9b:1::8.8.8.8", want: "local-use NAT64"},
		{ip: "2002:a01:203::", want: "6to4 address (RFC 3056) of 10.1.2.3"},
		{ip: "2002:c0a8:101::1", want: "6to4 address (RFC 3056) of 192.168.1.1"},
		{ip: "2001:0:a00:1::1", want: "Teredo address (RFC 4380) with server 10.0.0.1"},
		{ip: "2001:0:4136:e378:8000:63bf:80ff:fffe", want: "Teredo address (RFC 4380) with client 127.0.0.1"},
		{ip: "100::1", want: "discard-only"},
		{ip: "2001:2::1", want: "benchmarking"},
		{ip: "2001:10::1", want: "ORCHID"},
		{ip: "2001:db8::1", want: "documentation"},
		{ip: "3fff::1", want: "documentation"},
		{ip: "5f00::1", want: "SRv6"},
		{ip: "fc00::1", want: "unique local"},
		{ip: "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", want: "unique local"},
		{ip: "fd00:ec2::254", want: "AWS metadata service IPv6"},
		{ip: "fe80::1", want: "link-local"},
		{ip: "fe80::1%eth0", want: "link-local"},
		{ip: "febf::1", want: "link-local"},
		{ip: "fec0::1", want: "site-local"},
		{ip: "ff02::1", want: "multicast"},
		{ip: "4000::1", want: "outside 2000::/3"},
		{ip: "1::1", want: "outside 2000::/3"},

		// The allow list.
		{ip: "10.1.2.3", allow: "10.1.2.0/24"},
		{ip: "10.1.3.3", allow: "10.1.2.0/24", want: "private address"},
		{ip: "127.0.0.1", allow: "127.0.0.0/8"},
		{ip: "::ffff:127.0.0.1", allow: "127.0.0.0/8"},
		{ip: "::1", allow: "127.0.0.0/8", want: "IPv6 loopback"},
		{ip: "64:ff9b::127.0.0.1", allow: "127.0.0.0/8"},
		{ip: "fd00:ec2::254", allow: "fd00::/8"},
		{ip: "fe80::1%eth0", allow: "fe80::/10"},
		{ip: "10.9.9.9", allow: "10.9.9.9/8"}, // unmasked prefix
		{ip: "10.0.0.1", allow: "0.0.0.0/0"},
		{ip: "0.0.0.0", allow: "0.0.0.0/0", want: "unspecified"},
		{ip: "224.0.0.1", allow: "0.0.0.0/0", want: "multicast"},
		{ip: "255.255.255.255", allow: "0.0.0.0/0", want: "limited broadcast"},
		{ip: "::", allow: "::/0", want: "unspecified"},
		{ip: "ff02::1", allow: "::/0", want: "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.ip+" "+tt.allow, func(t *testing.T) {
			var allow []netip.Prefix
			if tt.allow != "" {
				allow = prefixes(t, strings.Split(tt.allow, ",")...)
			}
			g := New(allow, nil)
			ip := netip.MustParseAddr(tt.ip)
			reason, _ := g.verdict(ip)
			if got := g.Allowed(ip); got != (tt.want == "") {
				t.Fatalf("Allowed = %v (%s)", got, reason)
			}
			if !strings.Contains(reason, tt.want) {
				t.Errorf("reason %q, want it to contain %q", reason, tt.want)
			}
		})
	}
	if (&Guard{}).Allowed(netip.Addr{}) {
		t.Error("the zero netip.Addr is allowed")
	}
}

// TestSpecialsBoundaries checks the first and last address of every listed
// range, and that netip's own predicates agree for the ranges it knows.
func TestSpecialsBoundaries(t *testing.T) {
	g := New(nil, nil)
	for _, s := range specials {
		first := s.prefix.Addr()
		last := lastAddr(s.prefix)
		for _, ip := range []netip.Addr{first, last} {
			if g.Allowed(ip) {
				t.Errorf("%s (in %s) is allowed", ip, s.prefix)
			}
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.0.1", "fe80::1", "fc00::1", "::1", "224.0.0.1", "ff01::1", "0.0.0.0", "::"} {
		a := netip.MustParseAddr(ip)
		if a.IsGlobalUnicast() && !a.IsPrivate() {
			t.Fatalf("netip calls %s global", a)
		}
		if g.Allowed(a) {
			t.Errorf("%s is allowed", a)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// FuzzAllowed checks the address rule against netip's independent
// predicates and its own consistency: whatever netip calls loopback,
// private, link-local, multicast or unspecified is refused; an IPv4-mapped
// address is judged as its IPv4 address; a zone changes nothing.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "8.8.8.8", "2606:4700::1", "fd00:ec2::254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	g := New(nil, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 && len(b) != 16 {
			return
		}
		ip, _ := netip.AddrFromSlice(b)
		allowed := g.Allowed(ip)
		if allowed && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
			ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsUnspecified() || !ip.IsGlobalUnicast()) {
			t.Fatalf("%s is allowed but netip says it is not a public unicast address", ip)
		}
		if ip.Is4In6() && allowed != g.Allowed(ip.Unmap()) {
			t.Fatalf("%s and %s are judged differently", ip, ip.Unmap())
		}
		if ip.Is4() && allowed != g.Allowed(netip.AddrFrom16(ip.As16())) {
			t.Fatalf("%s and its IPv4-mapped form are judged differently", ip)
		}
		if ip.Is6() && allowed != g.Allowed(ip.WithZone("eth0")) {
			t.Fatalf("a zone changes the verdict for %s", ip)
		}
	})
}

// BenchmarkAllowed measures the address rule (run at every dial).
func BenchmarkAllowed(b *testing.B) {
	g := New(prefixes(b, "10.1.2.0/24"), nil)
	ips := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700::1111"), netip.MustParseAddr("10.0.0.1")}
	for i := 0; b.Loop(); i++ {
		g.Allowed(ips[i%len(ips)])
	}
}

// BenchmarkCheckURLLiteral measures CheckURL without a DNS lookup.
func BenchmarkCheckURLLiteral(b *testing.B) {
	g := New(nil, nil)
	ctx := b.Context()
	for b.Loop() {
		if err := g.CheckURL(ctx, "https://8.8.8.8:8443/hooks/petrel?x=1"); err != nil {
			b.Fatal(err)
		}
	}
}
