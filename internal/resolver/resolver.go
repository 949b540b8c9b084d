// Package resolver looks names up with real DNS messages (miekg/dns)
// against one server: the --dns flag, or the first nameserver of
// /etc/resolv.conf. Queries go over UDP and are repeated over TCP when the
// answer is truncated. Every failure is an *Error that wraps one of the
// sentinel outcomes, so callers tell them apart with errors.Is:
//
//   - ErrNXDomain: the name does not exist (rcode NXDOMAIN);
//   - ErrNoData: the name exists but has no record of the type asked;
//   - ErrServerFailure: SERVFAIL or any other error rcode (REFUSED, …);
//   - ErrTimeout: no answer (timeout, or the server could not be reached).
//
// Package delivery (MX and address lookups) and package identity (the
// verification records of identities) use it: Petrel has one DNS client.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// udpSize is the UDP answer size advertised (EDNS0, RFC 6891): 1232
// bytes, the DNS flag day 2020 value, which fits the common MTUs; longer
// answers come truncated and are asked again over TCP.
const udpSize = 1232

// DefaultTimeout bounds one exchange with the server.
const DefaultTimeout = 5 * time.Second

// Resolver queries one DNS server.
type Resolver struct {
	Server  string        // host:port
	Timeout time.Duration // per exchange; 0: DefaultTimeout
}

// New returns a Resolver for server (host:port); "" means the first
// nameserver of /etc/resolv.conf.
func New(server string) (*Resolver, error) {
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("no DNS server configured (set --dns): %v", err)
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	return &Resolver{Server: server}, nil
}

// The outcomes a lookup can fail with (see the package comment).
var (
	ErrNXDomain      = errors.New("domain does not exist")
	ErrNoData        = errors.New("no record of that type")
	ErrServerFailure = errors.New("server failure")
	ErrTimeout       = errors.New("no answer from the DNS server")
)

// Error is a failed lookup: the question, the outcome (one of the Err
// sentinels) and, for ErrServerFailure, the rcode; Cause is the transport
// error behind ErrTimeout.
type Error struct {
	Name    string // the name asked, as given
	Type    uint16 // dns.TypeTXT, …
	Outcome error
	Rcode   int
	Cause   error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("DNS %s %s: %v", dns.TypeToString[e.Type], e.Name, e.Outcome)
	if errors.Is(e.Outcome, ErrServerFailure) {
		s += " (" + dns.RcodeToString[e.Rcode] + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Outcome }

// Query sends one question and returns the server's reply when its rcode
// is NOERROR; otherwise an *Error (ErrNXDomain, ErrServerFailure,
// ErrTimeout). An NXDOMAIN error still returns the reply, whose authority
// section may hold the zone's SOA.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(udpSize, false)
	timeout := r.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	resp, _, err := (&dns.Client{Timeout: timeout}).ExchangeContext(ctx, m, r.Server)
	if err == nil && resp.Truncated {
		resp, _, err = (&dns.Client{Net: "tcp", Timeout: timeout}).ExchangeContext(ctx, m, r.Server)
	}
	if err != nil {
		return nil, &Error{Name: name, Type: qtype, Outcome: ErrTimeout, Cause: err}
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp, nil
	case dns.RcodeNameError:
		return resp, &Error{Name: name, Type: qtype, Outcome: ErrNXDomain, Rcode: resp.Rcode}
	default:
		return nil, &Error{Name: name, Type: qtype, Outcome: ErrServerFailure, Rcode: resp.Rcode}
	}
}

// Records returns the answer records of type qtype for name (a CNAME
// chain in the answer is skipped over); ErrNoData when there are none.
func (r *Resolver) Records(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	resp, err := r.Query(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil, &Error{Name: name, Type: qtype, Outcome: ErrNoData}
	}
	return out, nil
}

// TXT returns the TXT records of name, each one string: the record's
// character-strings joined without separator (RFC 7208 §3.3, RFC 6376
// §3.6.2.2).
func (r *Resolver) TXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.Records(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// CNAME returns the target of name's CNAME record, lower case without the
// trailing dot.
func (r *Resolver) CNAME(ctx context.Context, name string) (string, error) {
	rrs, err := r.Records(ctx, name, dns.TypeCNAME)
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSuffix(rrs[0].(*dns.CNAME).Target, ".")), nil
}

// MX returns the MX records of name, in the order the server gave them.
func (r *Resolver) MX(ctx context.Context, name string) ([]*dns.MX, error) {
	rrs, err := r.Records(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*dns.MX, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.MX))
	}
	return out, nil
}

// SOA returns the SOA record of the zone that holds name: the SOA in the
// answer or the authority section of a query for name's SOA, else the same
// for its parent, up to the root. ErrNoData when none was found.
func (r *Resolver) SOA(ctx context.Context, name string) (*dns.SOA, error) {
	n := dns.Fqdn(name)
	for {
		resp, err := r.Query(ctx, n, dns.TypeSOA)
		if err != nil && !errors.Is(err, ErrNXDomain) {
			return nil, err
		}
		for _, sec := range [][]dns.RR{resp.Answer, resp.Ns} {
			for _, rr := range sec {
				if soa, ok := rr.(*dns.SOA); ok {
					return soa, nil
				}
			}
		}
		if n == "." {
			return nil, &Error{Name: name, Type: dns.TypeSOA, Outcome: ErrNoData}
		}
		i, _ := dns.NextLabel(n, 0)
		n = n[i:]
		if n == "" {
			n = "."
		}
	}
}
