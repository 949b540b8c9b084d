package egress

import (
	"net/netip"
	"strings"
)

// parseIPv4 reads host the way the WHATWG URL standard's host parser does
// (§3.5 "ends in a number checker" and "IPv4 parser"), which is also how
// inet_aton(3) — and so getaddrinfo and curl — read it: one to four
// dot-separated parts, each decimal, octal with a leading 0, or hex after
// 0x; the last part fills the remaining bytes ("127.1" is 127.0.0.1,
// "2130706433" is 127.0.0.1); one trailing dot is ignored.
//
// numeric reports whether host ends in a number, i.e. must be an IPv4
// address rather than a name; ok reports whether it is a valid one, then ip
// is it.
func parseIPv4(host string) (ip netip.Addr, numeric, ok bool) {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return netip.Addr{}, false, false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if !allDigits(last) {
		if _, valid := ipv4Number(last); !valid {
			return netip.Addr{}, false, false
		}
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, false
	}
	var nums [4]uint64
	for i, p := range parts {
		n, valid := ipv4Number(p)
		if !valid {
			return netip.Addr{}, true, false
		}
		nums[i] = n
	}
	var v uint64
	for i := 0; i < len(parts)-1; i++ {
		if nums[i] > 255 {
			return netip.Addr{}, true, false
		}
		v |= nums[i] << (8 * (3 - i))
	}
	lastNum := nums[len(parts)-1]
	if lastNum >= 1<<(8*(5-len(parts))) {
		return netip.Addr{}, true, false
	}
	v |= lastNum
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ipv4Number is WHATWG's "IPv4 number parser": "" fails, "0x"/"0X" prefix is
// hex (and "0x" alone is 0), a leading "0" is octal, else decimal. Values
// above 2^32 are reported as 2^32 (too large for any part).
func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	radix := uint64(10)
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		radix, s = 16, s[2:]
	case len(s) >= 2 && s[0] == '0':
		radix, s = 8, s[1:]
	}
	const tooLarge = 1 << 32
	var n uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= radix {
			return 0, false
		}
		if n < tooLarge {
			n = n*radix + d
		}
	}
	return min(n, tooLarge), true
}
