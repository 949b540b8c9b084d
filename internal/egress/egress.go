// Package egress is the SSRF guard for every URL a tenant gives Petrel to
// call: webhook event destinations and SNS http/https subscriptions. A
// tenant must not be able to make Petrel's servers connect to loopback,
// private, link-local (cloud metadata at 169.254.169.254 and
// fd00:ec2::254), CGNAT, multicast or reserved addresses, or to SMTP,
// Redis and other internal services on odd ports, and read or trigger
// anything there. The operator may open chosen networks with
// --notify-allow-networks (tests open 127.0.0.0/8 that way).
//
// Steps:
//
//  1. At creation (Subscribe, CreateConfigurationSetEventDestination),
//     Guard.CheckURL parses the URL and
//     refuses: schemes other than http and https; a user name or password;
//     ports other than 80, 443 and 1024–65535 (the ports SNS accepts), and
//     among those the ports of services that act on the bytes of an HTTP
//     request (Redis 6379, memcached 11211, the Fetch standard's bad ports);
//     hosts that are IP literals written in a form a resolver would read
//     differently from netip (decimal "2130706433", octal "0177.0.0.1", hex
//     "0x7f000001", short "127.1", a trailing dot — parsed the way
//     inet_aton and the WHATWG URL standard read them, so the message names
//     the address meant) or with an IPv6 zone; IP literals that Allowed
//     refuses; "localhost" names; and names for which any address the
//     resolver returns is refused (every A and AAAA record, not only the
//     first one).
//  2. Guard.Allowed is the address rule: refused are loopback, RFC 1918
//     private, link-local, CGNAT (RFC 6598), "this network" 0.0.0.0/8,
//     unspecified, multicast, broadcast, unique local fc00::/7, site-local,
//     documentation, benchmarking, reserved and other special-purpose ranges
//     (IANA special-purpose registries), every IPv6 address outside global
//     unicast 2000::/3, and the IPv4-mapped, IPv4-compatible, NAT64, 6to4
//     and Teredo IPv6 forms of refused IPv4 addresses — unless the address
//     lies inside an operator allow-listed prefix. The unspecified address,
//     multicast and broadcast are refused even then: they are never a
//     webhook's address (and connecting to 0.0.0.0 reaches the host itself).
//  3. Guard.Client is the HTTP client that delivers: its dialer checks every
//     address it actually connects to, after resolution and before the TCP
//     connect, so a name that resolved to a public address at creation and
//     to 127.0.0.1 now (DNS rebinding, TTL 0) is refused without a packet
//     sent; it never follows redirects (a 3xx is returned to the caller),
//     uses no proxy (HTTP_PROXY is ignored: a proxy would connect on our
//     behalf, unchecked), and speaks TLS 1.2 or later.
//
// Every refusal wraps ErrForbidden and says which address class was hit and
// how to allow it, e.g.
//
//	https://10.0.0.5/hook: 10.0.0.5 is a private address (RFC 1918); Petrel does not send notifications to internal networks unless --notify-allow-networks allows it
//
// Other errors (a name that does not resolve, a DNS timeout) do not wrap
// ErrForbidden: they may be temporary.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// ErrForbidden is wrapped by every error that refuses a URL or an address
// by policy (scheme, userinfo, port, address class, ambiguous IP literal).
// Such a refusal is permanent: retrying the same URL gives the same answer
// until the operator changes --notify-allow-networks or the name's DNS.
var ErrForbidden = errors.New("notification URL forbidden")

// MaxURLLength is the longest URL CheckURL accepts, in bytes.
const MaxURLLength = 2048

// lookupTimeout bounds the name resolution CheckURL does when its context
// has no earlier deadline.
const lookupTimeout = 10 * time.Second

// allowHint ends every refusal the allow list can lift.
const allowHint = "; Petrel does not send notifications to internal networks unless --notify-allow-networks allows it"

// Error is a policy refusal. Error() is "<URL>: <Reason>" (the URL with any
// password redacted), or only Reason when the refusal comes from the dialer,
// which knows the address but not the URL. It wraps ErrForbidden.
type Error struct {
	URL    string // the refused URL, password redacted; "" from the dialer
	Reason string // what was refused and why, e.g. "10.0.0.5 is a private address (RFC 1918); …"
}

func (e *Error) Error() string {
	if e.URL == "" {
		return e.Reason
	}
	return e.URL + ": " + e.Reason
}

// Unwrap returns ErrForbidden.
func (e *Error) Unwrap() error { return ErrForbidden }

// Guard applies the policy. It is safe for concurrent use.
type Guard struct {
	allow    []netip.Prefix
	resolver *net.Resolver
}

// New returns a guard that lets through, in addition to public unicast
// addresses, the addresses inside the allow prefixes (--notify-allow-networks;
// nil = none), resolving names with resolver (nil = net.DefaultResolver).
// The same resolver serves CheckURL and the dialer of Client.
func New(allow []netip.Prefix, resolver *net.Resolver) *Guard {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	a := make([]netip.Prefix, 0, len(allow))
	for _, p := range allow {
		if p.IsValid() {
			a = append(a, p.Masked())
		}
	}
	return &Guard{allow: a, resolver: resolver}
}

// NewResolver returns a resolver that sends every query to the DNS server at
// addr (host:port, e.g. Petrel's --dns setting), ignoring /etc/resolv.conf
// but still reading /etc/hosts; "" returns nil (use the system's).
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return nil
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Allowed reports whether Petrel may connect to ip: a public unicast address,
// or one inside an allow-listed prefix (step 2 of the package doc). An
// IPv4-mapped address is judged as its IPv4 address; the NAT64, 6to4,
// IPv4-translated and Teredo forms are refused when an embedded IPv4 address
// is (allow-listed IPv4 prefixes apply to it). A zone is ignored.
func (g *Guard) Allowed(ip netip.Addr) bool {
	reason, _ := g.verdict(ip)
	return reason == ""
}

// CheckURL checks a notification URL as described in step 1 of the package
// doc, resolving its host name (if any) with the guard's resolver. It returns
// nil when every address the URL can reach is allowed; an *Error wrapping
// ErrForbidden when the URL is refused by policy; or another error when the
// name could not be resolved (NXDOMAIN, no addresses, timeout).
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, host, err := g.parse(raw)
	if err != nil {
		return err
	}
	if ip, ok := literal(host); ok {
		if reason, hint := g.verdict(ip); reason != "" {
			return refuse(u, ip.String()+" is "+reason, hint)
		}
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%s: resolving %s: %w", u.Redacted(), host, lookupError(host, err))
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s: %s has no IP addresses", u.Redacted(), host)
	}
	for _, ip := range addrs {
		if reason, hint := g.verdict(ip); reason != "" {
			return refuse(u, host+" resolves to "+ip.WithZone("").String()+", "+reason, hint)
		}
	}
	return nil
}

// parse applies the syntax rules of CheckURL and returns the URL and its
// host as the HTTP client will dial it: lower case, IDNA A-labels, any
// trailing dot of a name kept.
func (g *Guard) parse(raw string) (*url.URL, string, error) {
	if len(raw) > MaxURLLength {
		return nil, "", &Error{Reason: fmt.Sprintf("notification URL is %d bytes long; at most %d are allowed", len(raw), MaxURLLength)}
	}
	if i := strings.IndexByte(raw, ' '); i >= 0 {
		// url.Parse takes a space in the path or query; a client sends it
		// as %20, so the URL stored would not be the one the tenant meant.
		return nil, "", &Error{Reason: fmt.Sprintf("the notification URL has a space at byte %d; write it as %%20", i)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL; keep the syntax problem.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// Not quoted back: the text may hold a password.
		return nil, "", &Error{Reason: fmt.Sprintf("the notification URL is not a valid URL: %v", err)}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, "", refuse(u, "the URL has no scheme; notification URLs must start with https:// or http://", false)
		}
		return nil, "", refuse(u, fmt.Sprintf("scheme %q is not allowed; notification URLs must be https or http", u.Scheme), false)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, "", refuse(u, "the URL has no host; write it as "+u.Scheme+"://host/path", false)
	}
	if u.User != nil {
		return nil, "", refuse(u, "a user name or password in a notification URL is not allowed (authenticate the request with the webhook signature, or put a token in the path or query)", false)
	}
	if err := checkPort(u); err != nil {
		return nil, "", err
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return nil, "", refuse(u, fmt.Sprintf("%q in brackets is not an IPv6 address", host), false)
		}
		if ip.Zone() != "" {
			return nil, "", refuse(u, fmt.Sprintf("the IPv6 zone %q is not allowed in a notification URL (zones name local interfaces)", ip.Zone()), false)
		}
		return u, host, nil
	}
	if a, err := idnaASCII(host); err != nil {
		return nil, "", refuse(u, fmt.Sprintf("host %q is not a valid internationalised domain name: %v", host, err), false)
	} else {
		host = strings.ToLower(a)
	}
	if ip, numeric, ok := parseIPv4(host); numeric {
		if !ok {
			return nil, "", refuse(u, fmt.Sprintf("host %q ends in a number but is not a valid IPv4 address", host), false)
		}
		if host != ip.String() {
			meaning := ip.String()
			if reason, _ := g.verdict(ip); reason != "" {
				meaning += ", " + reason
			}
			return nil, "", refuse(u, fmt.Sprintf("host %q is an unusual way of writing the IPv4 address %s; write IPv4 addresses as four decimal numbers without leading zeros", host, meaning), false)
		}
		return u, host, nil
	}
	if !validName(host) {
		return nil, "", refuse(u, fmt.Sprintf("host %q is not a valid host name", host), false)
	}
	if name := strings.TrimSuffix(host, "."); name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// RFC 6761 §6.3: such names are loopback whatever DNS says.
		if !g.Allowed(netip.AddrFrom4([4]byte{127, 0, 0, 1})) || !g.Allowed(netip.IPv6Loopback()) {
			return nil, "", refuse(u, name+" is a loopback name (RFC 6761)", true)
		}
	}
	return u, host, nil
}

// literal returns the IP address of a host that parse accepted as an IP
// literal.
func literal(host string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

// badPorts are ports from 1024 up that notifications may not use although
// SNS's rule would let them: the Fetch standard's "bad ports" (§2.9, the
// ports browsers refuse because the services there may act on bytes an HTTP
// request carries) and the in-memory stores that do so without
// authentication by default — Redis (6379) and memcached (11211), the usual
// cross-protocol SSRF targets.
var badPorts = map[uint16]string{
	1719: "H.323", 1720: "H.323", 1723: "PPTP", 2049: "NFS", 3659: "Apple SASL",
	4045: "NFS lockd", 4190: "ManageSieve", 5060: "SIP", 5061: "SIP over TLS",
	6000: "X11", 6379: "Redis", 6566: "SANE", 6665: "IRC", 6666: "IRC",
	6667: "IRC", 6668: "IRC", 6669: "IRC", 6679: "IRC over TLS", 6697: "IRC over TLS",
	10080: "Amanda", 11211: "memcached",
}

// checkPort applies the port rule: 80, 443, or 1024–65535 (SNS's rule)
// except badPorts.
func checkPort(u *url.URL) error {
	p := u.Port()
	if p == "" {
		return nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return refuse(u, fmt.Sprintf("port %s is not a valid port number", p), false)
	}
	if reason := portRefusal(uint16(n)); reason != "" {
		return refuse(u, reason, false)
	}
	return nil
}

// portRefusal returns why port p is refused, or "".
func portRefusal(p uint16) string {
	if service, bad := badPorts[p]; bad {
		return fmt.Sprintf("port %d (%s) is not allowed; notification URLs may use port 80, 443 or 1024-65535 except the ports of services an HTTP request could attack", p, service)
	}
	if p != 80 && p != 443 && p < 1024 {
		return fmt.Sprintf("port %d is not allowed; notification URLs may use port 80, 443 or 1024-65535", p)
	}
	return ""
}

// refuse builds the *Error for u; hint adds how the allow list lifts it.
func refuse(u *url.URL, reason string, hint bool) error {
	if hint {
		reason += allowHint
	}
	return &Error{URL: u.Redacted(), Reason: reason}
}

// idnaASCII converts a host name as net/http does before dialling
// (golang.org/x/net/idna's Lookup profile, which also maps full-width digits
// and dots to ASCII), so the check sees the name that is resolved.
func idnaASCII(host string) (string, error) {
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return idna.Lookup.ToASCII(host)
		}
	}
	return host, nil
}

// validName reports whether host is a syntactically valid DNS host name:
// at most 253 bytes (plus one trailing dot), labels of 1–63 letters, digits,
// hyphens and underscores.
func validName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// LookupError is a failed name resolution, as egress reports it: the name
// and what went wrong, never the resolver's address (a *net.DNSError's
// message names the server, "lookup h on 10.255.255.53:53: no such host",
// which would reveal Petrel's internal resolver to tenants). It is not
// ErrForbidden: the URL may work once the name resolves.
type LookupError struct {
	Host      string
	NotFound  bool // the name does not exist (NXDOMAIN or no such host)
	Temporary bool // a timeout or SERVFAIL: worth retrying
}

func (e *LookupError) Error() string {
	switch {
	case e.NotFound:
		return e.Host + ": no such host"
	case e.Temporary:
		return e.Host + ": DNS lookup failed (temporary)"
	}
	return e.Host + ": DNS lookup failed"
}

// Timeout and Temporary let net/http and callers classify the failure.
func (e *LookupError) Timeout() bool { return e.Temporary }

// lookupError turns a resolver error into a *LookupError (host is the name
// looked up); a context error is kept as it is, other errors become a
// generic lookup failure without their text.
func lookupError(host string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.Name != "" {
			host = strings.TrimSuffix(de.Name, ".")
		}
		return &LookupError{Host: host, NotFound: de.IsNotFound, Temporary: de.IsTimeout || de.IsTemporary}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &LookupError{Host: host, Temporary: true}
	}
	return &LookupError{Host: host}
}
