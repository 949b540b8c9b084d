package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	dnsresolver "github.com/petrelmail/petrel/internal/resolver"
)

// resolver looks up MX and address records through package resolver.
type resolver struct{ *dnsresolver.Resolver }

func newResolver(server string) (*resolver, error) {
	r, err := dnsresolver.New(server)
	if err != nil {
		return nil, err
	}
	return &resolver{r}, nil
}

// mxHosts returns the mail exchangers of domain in preference order (equal
// preferences shuffled, RFC 5321 §5.1), or nullMX when the domain publishes
// RFC 7505 "MX 0 .", or the domain itself when it has no MX (implicit MX).
func (r *resolver) mxHosts(ctx context.Context, domain string) (hosts []string, nullMX bool, err error) {
	mxs, err := r.MX(ctx, domain)
	if err != nil && !errors.Is(err, dnsresolver.ErrNoData) {
		return nil, false, err
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
		rrs, err := r.Records(ctx, host, t)
		if errors.Is(err, dnsresolver.ErrNoData) {
			continue
		}
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
