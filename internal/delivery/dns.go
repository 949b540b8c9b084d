package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver looks up MX and address records with real DNS messages against
// one server (--dns, or the first nameserver of /etc/resolv.conf).
type resolver struct {
	server string
	client *dns.Client
}

func newResolver(server string) (*resolver, error) {
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("no DNS server configured (set --dns): %v", err)
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	return &resolver{server: server, client: &dns.Client{Timeout: 5 * time.Second}}, nil
}

// errNXDomain marks a name that does not exist. SES treats a missing domain
// as a soft failure and retries it, so callers do too.
var errNXDomain = errors.New("domain does not exist")

func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	resp, _, err := r.client.ExchangeContext(ctx, m, r.server)
	if err == nil && resp.Truncated {
		tcp := &dns.Client{Net: "tcp", Timeout: r.client.Timeout}
		resp, _, err = tcp.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		return nil, fmt.Errorf("DNS %s %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp.Answer, nil
	case dns.RcodeNameError:
		return nil, fmt.Errorf("DNS %s %s: %w", dns.TypeToString[qtype], name, errNXDomain)
	default:
		return nil, fmt.Errorf("DNS %s %s: %s", dns.TypeToString[qtype], name, dns.RcodeToString[resp.Rcode])
	}
}

// mxHosts returns the mail exchangers of domain in preference order (equal
// preferences shuffled, RFC 5321 §5.1), or nullMX when the domain publishes
// RFC 7505 "MX 0 .", or the domain itself when it has no MX (implicit MX).
func (r *resolver) mxHosts(ctx context.Context, domain string) (hosts []string, nullMX bool, err error) {
	rrs, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var mxs []*dns.MX
	for _, rr := range rrs {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	if len(mxs) == 0 {
		return []string{domain}, false, nil
	}
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return nil, true, nil
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Preference < mxs[j].Preference })
	for _, mx := range mxs {
		if mx.Mx != "." {
			hosts = append(hosts, strings.TrimSuffix(mx.Mx, "."))
		}
	}
	return hosts, false, nil
}

// addrs returns the IPv4 and IPv6 addresses of host (literal IPs as they are).
func (r *resolver) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	var out []netip.Addr
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, host, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s has no address records", host)
	}
	return out, nil
}
