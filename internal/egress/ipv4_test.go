package egress

import (
	"net/netip"
	"testing"
)

// TestParseIPv4 follows the WHATWG URL standard's IPv4 parser (and
// inet_aton's reading of the same strings).
func TestParseIPv4(t *testing.T) {
	tests := []struct {
		host    string
		numeric bool
		ip      string // "" = invalid
	}{
		{"127.0.0.1", true, "127.0.0.1"},
		{"2130706433", true, "127.0.0.1"},
		{"0177.0.0.1", true, "127.0.0.1"},
		{"0x7f000001", true, "127.0.0.1"},
		{"0X7F000001", true, "127.0.0.1"},
		{"0x7f.1", true, "127.0.0.1"},
		{"127.1", true, "127.0.0.1"},
		{"127.0.1", true, "127.0.0.1"},
		{"127.0.0.1.", true, "127.0.0.1"},
		{"0", true, "0.0.0.0"},
		{"0x", true, "0.0.0.0"},
		{"00", true, "0.0.0.0"},
		{"4294967295", true, "255.255.255.255"},
		{"0xffffffff", true, "255.255.255.255"},
		{"037777777777", true, "255.255.255.255"},
		{"169.254.43518", true, "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", true, "169.254.169.254"},
		{"000000000000000000000000000000177.0.0.1", true, "127.0.0.1"},
		{"4294967296", true, ""},
		{"0x100000000", true, ""},
		{"99999999999999999999999999", true, ""},
		{"256.0.0.1", true, ""},
		{"1.2.3.256", true, ""},
		{"1.2.65536", true, ""},
		{"1.2.3.4.5", true, ""},
		{"09", true, ""},
		{"08.1", true, ""},
		{"0xg.1", true, ""},
		{"1..2", true, ""},
		{".1", true, ""},
		{"foo.1", true, ""},
		{"foo.0x10", true, ""},
		{"example.com", false, ""},
		{"1.2.3.4x", false, ""},
		{"0xg", false, ""},
		{"1e3", false, ""},
		{"1.2.3.4..", false, ""},
		{"", false, ""},
		{".", false, ""},
		{"a.", false, ""},
	}
	for _, tt := range tests {
		ip, numeric, ok := parseIPv4(tt.host)
		if numeric != tt.numeric {
			t.Errorf("%q: numeric = %v, want %v", tt.host, numeric, tt.numeric)
		}
		if ok != (tt.ip != "") || (ok && ip != netip.MustParseAddr(tt.ip)) {
			t.Errorf("%q = %v, %v; want %q", tt.host, ip, ok, tt.ip)
		}
	}
}
