package egress

import (
	"net/netip"
)

// special is a range of addresses Petrel does not connect to, with the words
// an error uses for it. Sources: the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890) and the cloud metadata endpoints.
type special struct {
	prefix netip.Prefix
	what   string
}

// specials is searched in order, so more specific ranges come first.
var specials = func() []special {
	list := []struct{ prefix, what string }{
		// Cloud metadata services: the classic SSRF target.
		{"169.254.169.254/32", "the cloud metadata service address (link-local, RFC 3927)"},
		{"169.254.170.2/32", "the AWS ECS task metadata address (link-local, RFC 3927)"},
		{"100.100.100.200/32", "the Alibaba Cloud metadata service address (shared address space, RFC 6598)"},
		{"fd00:ec2::254/128", "the AWS metadata service IPv6 address (unique local, RFC 4193)"},
		{"fd00:ec2::23/128", "the AWS DNS resolver IPv6 address (unique local, RFC 4193)"},

		// IPv4.
		{"0.0.0.0/8", `a "this network" address (0.0.0.0/8, RFC 1122)`},
		{"10.0.0.0/8", "a private address (RFC 1918)"},
		{"100.64.0.0/10", "a carrier-grade NAT shared address (100.64.0.0/10, RFC 6598)"},
		{"127.0.0.0/8", "a loopback address (127.0.0.0/8)"},
		{"169.254.0.0/16", "a link-local address (169.254.0.0/16, RFC 3927)"},
		{"172.16.0.0/12", "a private address (RFC 1918)"},
		{"192.0.0.0/24", "an IETF protocol assignment address (192.0.0.0/24, RFC 6890)"},
		{"192.0.2.0/24", "a documentation address (TEST-NET-1, RFC 5737)"},
		{"192.31.196.0/24", "an AS112 service address (RFC 7535)"},
		{"192.52.193.0/24", "an AMT relay address (RFC 7450)"},
		{"192.88.99.0/24", "a deprecated 6to4 relay anycast address (RFC 7526)"},
		{"192.168.0.0/16", "a private address (RFC 1918)"},
		{"192.175.48.0/24", "an AS112 direct delegation address (RFC 7534)"},
		{"198.18.0.0/15", "a benchmarking address (198.18.0.0/15, RFC 2544)"},
		{"198.51.100.0/24", "a documentation address (TEST-NET-2, RFC 5737)"},
		{"203.0.113.0/24", "a documentation address (TEST-NET-3, RFC 5737)"},
		{"240.0.0.0/4", "a reserved address (240.0.0.0/4, RFC 1112)"},

		// IPv6 (multicast, unspecified, mapped and the translation forms are
		// handled before this list; anything outside 2000::/3 after it).
		{"::1/128", "the IPv6 loopback address"},
		{"64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48, RFC 8215)"},
		{"100::/64", "a discard-only address (100::/64, RFC 6666)"},
		{"2001:2::/48", "a benchmarking address (2001:2::/48, RFC 5180)"},
		{"2001:10::/28", "a deprecated ORCHID address (2001:10::/28, RFC 4843)"},
		{"2001:db8::/32", "a documentation address (2001:db8::/32, RFC 3849)"},
		{"3fff::/20", "a documentation address (3fff::/20, RFC 9637)"},
		{"5f00::/16", "an SRv6 SID address (5f00::/16, RFC 9602)"},
		{"fc00::/7", "a unique local address (fc00::/7, RFC 4193)"},
		{"fe80::/10", "a link-local address (fe80::/10, RFC 4291)"},
		{"fec0::/10", "a deprecated site-local address (fec0::/10, RFC 3879)"},
	}
	out := make([]special, len(list))
	for i, s := range list {
		out[i] = special{netip.MustParsePrefix(s.prefix), s.what}
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")        // RFC 6052 well-known prefix
	sixToFour = netip.MustParsePrefix("2002::/16")           // RFC 3056
	teredo    = netip.MustParsePrefix("2001::/32")           // RFC 4380
	compat    = netip.MustParsePrefix("::/96")               // RFC 4291 §2.5.5.1, deprecated
	xlated    = netip.MustParsePrefix("::ffff:0:0:0/96")     // RFC 2765 IPv4-translated
	global6   = netip.MustParsePrefix("2000::/3")            // RFC 4291 global unicast
	bcast     = netip.AddrFrom4([4]byte{255, 255, 255, 255}) // RFC 919 limited broadcast
)

// verdict returns "" when Petrel may connect to ip, else the words for what
// ip is ("a private address (RFC 1918)"), and whether the allow list could
// change the answer (false for the unspecified address, multicast and
// broadcast, which are refused whatever the allow list says).
func (g *Guard) verdict(ip netip.Addr) (reason string, hint bool) {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return "not an IP address", false
	}
	if ip.Is4In6() {
		v4 := ip.Unmap()
		if r, h := g.verdict(v4); r != "" {
			return "an IPv4-mapped IPv6 address of " + v4.String() + ", " + r, h
		}
		return "", false
	}
	switch {
	case ip.IsUnspecified():
		return "the unspecified address (connecting to it reaches this host); Petrel never sends notifications to it", false
	case ip.IsMulticast():
		return "a multicast address; notifications go to unicast addresses only", false
	case ip == bcast:
		return "the limited broadcast address; notifications go to unicast addresses only", false
	}
	for _, p := range g.allow {
		if p.Contains(ip) {
			return "", false
		}
	}
	if ip.Is6() && ip != netip.IPv6Loopback() {
		forms := embedded(ip)
		for _, e := range forms {
			if r, h := g.verdict(e.v4); r != "" {
				return e.form + " " + e.v4.String() + ", " + r, h
			}
		}
		switch {
		case nat64.Contains(ip):
			return "", false // a NAT64 gateway reaches a public IPv4 address
		case len(forms) == 0 && compat.Contains(ip):
			return "a deprecated IPv4-compatible IPv6 address (::/96, RFC 4291)", true
		}
	}
	for _, s := range specials {
		if s.prefix.Contains(ip) {
			return s.what, true
		}
	}
	if ip.Is6() && !global6.Contains(ip) {
		return "not a global unicast IPv6 address (outside 2000::/3)", true
	}
	return "", false
}

// embeddedV4 is an IPv4 address carried inside an IPv6 address.
type embeddedV4 struct {
	v4   netip.Addr
	form string // "a NAT64 address (RFC 6052) of"
}

// embedded returns the IPv4 addresses an IPv6 address carries in a
// translation or tunnelling form through which a connection would reach
// them: NAT64, IPv4-translated, 6to4, and both the server and the client
// (obfuscated in the last 32 bits, RFC 4380 §4) of a Teredo address.
func embedded(ip netip.Addr) []embeddedV4 {
	b := ip.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case nat64.Contains(ip):
		return []embeddedV4{{v4(12), "a NAT64 address (RFC 6052) of"}}
	case xlated.Contains(ip):
		return []embeddedV4{{v4(12), "an IPv4-translated IPv6 address (RFC 2765) of"}}
	case sixToFour.Contains(ip):
		return []embeddedV4{{v4(2), "a 6to4 address (RFC 3056) of"}}
	case teredo.Contains(ip):
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return []embeddedV4{
			{v4(4), "a Teredo address (RFC 4380) with server"},
			{client, "a Teredo address (RFC 4380) with client"},
		}
	}
	return nil
}
