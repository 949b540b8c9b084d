package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckURL checks CheckURL on arbitrary input against what the URL
// means to net/http. Names never resolve here (the resolver cannot reach
// any server), so an accepted URL must be an http(s) URL without userinfo
// whose host is an IP literal that Allowed accepts and whose port passes
// the port rule; every refusal is an *Error wrapping ErrForbidden that does
// not show the password; and the client's pre-check (parse) never accepts
// what CheckURL refuses by syntax.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://10.0.0.5/hook", "http://127.0.0.1:8080/", "http://localhost/", "http://[::1]/",
		"http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0177.0.0.1/",
		"http://0x7f000001/", "http://127.1/", "http://[fe80::1%25eth0]/", "file:///etc/passwd",
		"gopher://127.0.0.1:6379/_x", "http://user:hunter2@8.8.8.8/", "https://8.8.8.8:25/",
		"https://8.8.8.8/", "http://[2606:4700::1111]:8443/p?q#f", "http://[64:ff9b::a00:1]/",
		"http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/", "http://8.8.8.8./",
		"http://[::]/", "HTTP://8.8.8.8:0080/", "http:8.8.8.8", "//8.8.8.8/", "http://8.8.8.8:/",
	} {
		f.Add(s)
	}
	unreachable := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	g := New(nil, unreachable)
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(context.Background(), raw)
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && !strings.Contains(u.Redacted(), pw) && strings.Contains(err.Error(), pw) {
					t.Fatalf("the error shows the password %q: %v", pw, err)
				}
			}
			var e *Error
			if errors.As(err, &e) != errors.Is(err, ErrForbidden) {
				t.Fatalf("%v: *Error and ErrForbidden disagree", err)
			}
			if _, _, perr := g.parse(raw); perr != nil && !errors.Is(perr, ErrForbidden) {
				t.Fatalf("parse error %v does not wrap ErrForbidden", perr)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which net/url cannot parse: %v", raw, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Opaque != "" {
			t.Fatalf("accepted %q: scheme %q user %v opaque %q", raw, u.Scheme, u.User, u.Opaque)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || portRefusal(uint16(n)) != "" {
				t.Fatalf("accepted %q with port %q", raw, p)
			}
		}
		host, _ := idnaASCII(u.Hostname())
		ip, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("accepted %q, whose host %q is not an IP literal although no name resolves", raw, u.Hostname())
		}
		if !g.Allowed(ip) || ip.Zone() != "" {
			t.Fatalf("accepted %q, whose address %s is not allowed", raw, ip)
		}
		if _, _, err := g.parse(u.String()); err != nil {
			t.Fatalf("the client would refuse %q (as %q) that CheckURL accepted: %v", raw, u.String(), err)
		}
	})
}
