package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// TestClientTLSVersion: the client refuses a server that speaks at most
// TLS 1.1, also when the caller's configuration asks for less, and talks to
// the same kind of server at TLS 1.2.
func TestClientTLSVersion(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	old := httptest.NewUnstartedServer(handler)
	old.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	old.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	old.StartTLS()
	defer old.Close()
	current := httptest.NewUnstartedServer(handler)
	current.Config.ErrorLog = log.New(io.Discard, "", 0)
	current.StartTLS()
	defer current.Close()

	g := New(prefixes(t, "127.0.0.0/8"), nil)
	roots := func(s *httptest.Server) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(s.Certificate())
		return p
	}
	for _, conf := range []*tls.Config{
		{RootCAs: roots(old)},
		{RootCAs: roots(old), MinVersion: tls.VersionTLS10},
	} {
		_, err := g.ClientTLS(10*time.Second, conf).Get(old.URL)
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("TLS 1.1 server (client MinVersion %x): Get = %v, want a protocol version failure", conf.MinVersion, err)
		}
	}
	resp, err := g.ClientTLS(10*time.Second, &tls.Config{RootCAs: roots(current)}).Get(current.URL)
	if err != nil {
		t.Fatalf("TLS 1.2+ server: %v", err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("connection state %+v", resp.TLS)
	}
	// The default client verifies against the system roots: the test CA is
	// not one of them.
	if _, err := g.Client(10 * time.Second).Get(current.URL); err == nil {
		t.Error("the default client accepted a certificate from an unknown authority")
	}
}

// TestClientIgnoresProxy: with HTTP_PROXY pointing at a canary, a client
// honouring the environment would send the request there; the guard's
// client connects to the (checked) destination itself.
func TestClientIgnoresProxy(t *testing.T) {
	proxy := mustCanary(t, "127.0.0.1:0")
	t.Setenv("HTTP_PROXY", "http://"+proxy.addr)
	t.Setenv("http_proxy", "http://"+proxy.addr)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer srv.Close()
	d := newDNS(t)
	d.A("hook.test", "127.0.0.1")
	u := strings.Replace(srv.URL, "127.0.0.1", "hook.test", 1)

	// The environment does name the canary as this URL's proxy.
	pu, _ := url.Parse(u)
	if p, err := httpproxy.FromEnvironment().ProxyFunc()(pu); err != nil || p == nil || p.Host != proxy.addr {
		t.Fatalf("environment proxy for %s = %v, %v; the test setup is wrong", u, p, err)
	}

	g := New(prefixes(t, "127.0.0.0/8"), d.resolver())
	resp, err := g.Client(10 * time.Second).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "direct" {
		t.Fatalf("body %q", body)
	}
	if n := proxy.hits(t); n != 0 {
		t.Fatalf("the proxy saw %d connections", n)
	}
}

// TestClientRefusalShape: a refused dial surfaces as an error wrapping
// ErrForbidden and *Error through net/http's wrapping, and a refused request
// body is closed.
func TestClientRefusalShape(t *testing.T) {
	g := New(nil, nil)
	_, err := g.Client(0).Post("http://10.0.0.7:8080/hook", "application/json", strings.NewReader("{}"))
	var e *Error
	if !errors.Is(err, ErrForbidden) || !errors.As(err, &e) {
		t.Fatalf("Post = %v, want *Error / ErrForbidden", err)
	}
	if !strings.Contains(e.Error(), "10.0.0.7 is a private address (RFC 1918)") || !strings.Contains(e.Error(), "--notify-allow-networks") {
		t.Errorf("message %q", e)
	}

	body := &closeRecorder{Reader: strings.NewReader("{}")}
	req, _ := http.NewRequest("POST", "http://user:pw@example.com/", body)
	if _, err := g.Client(0).Do(req); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Do = %v", err)
	}
	if !body.closed {
		t.Error("the request body of a refused request was not closed")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestCheckURLResolution: a name that does not resolve is an error that is
// not ErrForbidden (it may be temporary); a name whose every address is
// allowed passes.
func TestCheckURLResolution(t *testing.T) {
	d := newDNS(t)
	d.A("two.test", "127.0.0.1")
	d.A("two.test", "127.0.0.3")
	g := New(prefixes(t, "127.0.0.0/8"), d.resolver())
	err := g.CheckURL(t.Context(), "https://missing.test/hook")
	if err == nil || errors.Is(err, ErrForbidden) {
		t.Fatalf("NXDOMAIN: %v, want a resolution error that is not ErrForbidden", err)
	}
	if !strings.Contains(err.Error(), "https://missing.test/hook: resolving missing.test") {
		t.Errorf("message %q", err)
	}
	if err := g.CheckURL(t.Context(), "https://two.test/hook"); err != nil {
		t.Fatalf("two allowed addresses: %v", err)
	}
	// Public IP literals pass without a lookup (nothing is dialled).
	for _, raw := range []string{
		"http://[2606:4700:4700::1111]/x",
		"https://8.8.8.8/",
		"https://8.8.8.8:443/a?b=c#d",
		"HTTPS://8.8.8.8:8443/",
		"http://[::ffff:8.8.8.8]:80/",
	} {
		if err := New(nil, nil).CheckURL(t.Context(), raw); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	long := "https://8.8.8.8/" + strings.Repeat("a", MaxURLLength)
	if err := g.CheckURL(t.Context(), long); !errors.Is(err, ErrForbidden) {
		t.Errorf("%d-byte URL: %v", len(long), err)
	}
}

// TestLookupErrorsHideResolver: a name that does not resolve is reported
// by CheckURL and by the client as "NAME: no such host", never with the
// resolver's address (net.DNSError names it: "lookup h on 10.0.0.53:53"),
// and is not ErrForbidden.
func TestLookupErrorsHideResolver(t *testing.T) {
	d := newDNS(t)
	g := New(prefixes(t, "127.0.0.0/8"), d.resolver())
	_, port, _ := net.SplitHostPort(d.addr)
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || errors.Is(err, ErrForbidden) {
			t.Fatalf("%s: %v, want a lookup error that is not ErrForbidden", what, err)
		}
		if strings.Contains(err.Error(), d.addr) || strings.Contains(err.Error(), ":"+port) || strings.Contains(err.Error(), " on ") {
			t.Errorf("%s: %q reveals the resolver %s", what, err, d.addr)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q, want it to contain %q", what, err, want)
		}
		var le *LookupError
		if !errors.As(err, &le) || !le.NotFound {
			t.Errorf("%s: %#v is not a not-found *LookupError", what, err)
		}
	}
	check("CheckURL", g.CheckURL(t.Context(), "https://hooks.missing.test/hook"), "hooks.missing.test: no such host")
	resp, err := g.Client(5 * time.Second).Get("http://hooks.missing.test:8080/hook")
	if err == nil {
		resp.Body.Close()
	}
	check("Client", err, "hooks.missing.test: no such host")
}
