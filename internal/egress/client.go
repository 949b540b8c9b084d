package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Client returns the HTTP client that delivers notifications (step 3 of the
// package doc). timeout bounds a whole request — connect, TLS, sending the
// body, response headers and reading the body (0 = 15 s, SNS's per-attempt
// timeout). The client:
//
//   - checks, in its dialer's Control hook, every address it connects to
//     (after DNS resolution, before the TCP connect) with Allowed and the
//     port rule, so DNS rebinding and TTL-0 names are refused at the
//     connection that matters;
//   - checks the request URL's scheme, userinfo, port and host syntax like
//     CheckURL before sending, but does not resolve names itself (the dialer
//     does, once);
//   - returns a 3xx response to the caller and never follows it;
//   - uses no proxy and no cookie jar;
//   - requires TLS 1.2 or later and verifies certificates against the
//     system roots;
//   - reuses keep-alive connections only per scheme, host and port (the
//     net/http pool key), each of them checked when it was dialled.
//
// Errors from refused addresses wrap ErrForbidden (through *url.Error and
// *net.OpError).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return g.ClientTLS(timeout, nil)
}

// ClientTLS is Client with a TLS configuration, e.g. RootCAs for a private
// CA or a test server; its MinVersion is raised to TLS 1.2 when lower. conf
// is cloned; nil is the default configuration.
func (g *Guard) ClientTLS(timeout time.Duration, conf *tls.Config) *http.Client {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	return &http.Client{
		Transport: &guardedTransport{g: g, next: g.transport(timeout, conf)},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: timeout,
	}
}

// transport is the net/http transport whose dialer checks each address.
func (g *Guard) transport(timeout time.Duration, conf *tls.Config) *http.Transport {
	if conf == nil {
		conf = &tls.Config{}
	} else {
		conf = conf.Clone()
	}
	if conf.MinVersion < tls.VersionTLS12 {
		conf.MinVersion = tls.VersionTLS12
	}
	dialer := &net.Dialer{
		Timeout:        min(timeout, 10*time.Second),
		KeepAlive:      30 * time.Second,
		Resolver:       g.resolver,
		ControlContext: g.control,
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialContext(dialer),
		TLSClientConfig:        conf,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// control is the dialer's Control hook: it sees the address actually being
// connected to, after resolution, before connect(2).
func (g *Guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &Error{Reason: fmt.Sprintf("%s is not a TCP address; notifications use TCP only", address)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Reason: fmt.Sprintf("cannot check the address %q before connecting", address)}
	}
	ip := ap.Addr()
	if reason, hint := g.verdict(ip); reason != "" {
		if hint {
			reason += allowHint
		}
		return &Error{Reason: ip.WithZone("").String() + " is " + reason}
	}
	if reason := portRefusal(ap.Port()); reason != "" {
		return &Error{Reason: reason}
	}
	return nil
}

// guardedTransport applies CheckURL's syntax rules to each request before
// handing it to the dialling transport: a caller that forgot CheckURL, or a
// URL edited since, still cannot use another scheme, userinfo, a forbidden
// port or an ambiguous IP literal. Addresses are checked by the dialer.
type guardedTransport struct {
	g    *Guard
	next *http.Transport
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, &Error{Reason: "request without a URL"}
	}
	if _, _, err := t.g.parse(req.URL.String()); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on errors
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes the transport's idle keep-alive connections
// (http.Client.CloseIdleConnections calls it).
func (t *guardedTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// dialContext wraps dialer.DialContext so that a failed name resolution is
// reported as a *LookupError, without the resolver's address.
func dialContext(dialer *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		var de *net.DNSError
		if err != nil && errors.As(err, &de) {
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: lookupError(host, err)}
		}
		return c, err
	}
}
