package egress

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Stages at which a vector must be refused.
const (
	atCreation = "creation" // CheckURL refuses it (and so does the client)
	atDial     = "dial"     // CheckURL accepts it; the client's dialer refuses
	redirect   = "redirect" // the client returns the 3xx and does not follow it
)

// Expectations for the bare transport (no CheckURL, no URL pre-check in the
// client): what happens when only the dialer's check stands in the way.
const (
	rawForbidden = "forbidden" // the dialer refuses with ErrForbidden
	rawFails     = "fails"     // the request fails otherwise (scheme, no such name)
	rawSkip      = ""          // not meaningful: the refusal is about syntax only
)

type vector struct {
	s4    string   // the reliability.md S4 vector this row covers
	url   string   // {p}: canary port on 127.0.0.1 and ::1; {p2}: canary on 127.0.0.2; {srv}: HTTP server on 127.0.0.1
	allow []string // --notify-allow-networks for this row
	stage string
	want  string // in the error message
	raw   string
	// creationOnly: the row is about creation alone (a name with allowed
	// and refused addresses: at delivery each address is checked as it is
	// dialled, and the allowed one may be used).
	creationOnly bool
}

// TestS4 refuses every SSRF vector of ../shared/design/reliability.md S4,
// at creation (CheckURL), through the delivering client, and — where the URL
// names an address — through the bare dialling transport, while canary
// listeners on every loopback address and port the vectors name count the
// connections that got through: none may.
func TestS4(t *testing.T) {
	ctx := t.Context()

	// Canaries: 127.0.0.1:p and [::1]:p (the same port when it is free on
	// both), 127.0.0.2:p2 (rebinding and redirect targets), and the
	// service ports of the "ports 25/6379" vector on 127.0.0.2 (127.0.0.1:6379
	// is this machine's Redis).
	var c4, c6 *canary
	for range 20 {
		c4 = mustCanary(t, "127.0.0.1:0")
		var err error
		if c6, err = listenCanary(t, "[::1]:"+c4.port()); err == nil {
			break
		}
		c4.ln.Close()
	}
	if c6 == nil {
		t.Fatal("no port free on both 127.0.0.1 and ::1")
	}
	c2 := mustCanary(t, "127.0.0.2:0")
	canaries := []*canary{c4, c6, c2}
	for _, port := range []string{"25", "6379"} {
		if c, err := listenCanary(t, "127.0.0.2:"+port); err != nil {
			t.Logf("no canary on 127.0.0.2:%s (%v); the vector is still checked", port, err)
		} else {
			canaries = append(canaries, c)
		}
	}

	// A real server that answers 200, for the positive controls, and one
	// that redirects to the canaries.
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer ok.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 302
		fmt.Sscan(r.URL.Query().Get("code"), &code)
		http.Redirect(w, r, r.URL.Query().Get("to"), code)
	}))
	defer redirector.Close()

	vars := map[string]string{
		"p":   c4.port(),
		"p2":  c2.port(),
		"srv": strings.TrimPrefix(ok.URL, "http://127.0.0.1:"),
		"rdr": strings.TrimPrefix(redirector.URL, "http://127.0.0.1:"),
	}

	d := newDNS(t)
	d.A("private.test", "10.0.0.5")
	d.A("loop.test", "127.0.0.1")
	d.A("metadata.test", "169.254.169.254")
	d.A("mixed.test", "127.0.0.1") // allow-listed below, so only the second answer refuses
	d.A("mixed.test", "127.0.0.2")
	d.A("good.test", "127.0.0.1")
	// TTL-0 rebinding: the first answer (at creation) is an allow-listed
	// documentation address this test never connects to, every later one
	// the loopback canary; and a loopback-only variant whose first answer
	// is the real server's address and later ones the 127.0.0.2 canary.
	d.Rebind("rebind.test", "198.51.100.7", "127.0.0.1")
	d.Rebind("rebind2.test", "127.0.0.1", "127.0.0.2")
	d.Rebind("stable.test", "127.0.0.1")

	const (
		loopback = "127.0.0.0/8"
		doc      = "198.51.100.0/24"
	)
	vectors := []vector{
		{s4: "127.0.0.1", url: "http://127.0.0.1:{p}/", stage: atCreation, want: "127.0.0.1 is a loopback address (127.0.0.0/8); Petrel does not send notifications to internal networks unless --notify-allow-networks allows it", raw: rawForbidden},
		{s4: "127.0.0.1", url: "https://127.0.0.1/", stage: atCreation, want: "loopback address", raw: rawForbidden},
		{s4: "127.0.0.1", url: "http://127.255.255.254:{p}/", stage: atCreation, want: "loopback address", raw: rawForbidden},
		{s4: "localhost", url: "http://localhost:{p}/", stage: atCreation, want: "localhost is a loopback name (RFC 6761)", raw: rawForbidden},
		{s4: "localhost", url: "http://LocalHost.:{p}/", stage: atCreation, want: "loopback name", raw: rawFails},
		{s4: "localhost", url: "http://api.localhost:{p}/", stage: atCreation, want: "loopback name", raw: rawFails},
		{s4: "[::1]", url: "http://[::1]:{p}/", stage: atCreation, want: "::1 is the IPv6 loopback address", raw: rawForbidden},
		{s4: "[::1]", url: "http://[0:0:0:0:0:0:0:1]:{p}/", stage: atCreation, want: "::1 is the IPv6 loopback address", raw: rawForbidden},
		{s4: "0.0.0.0", url: "http://0.0.0.0:{p}/", stage: atCreation, want: "0.0.0.0 is the unspecified address", raw: rawForbidden},
		{s4: "0.0.0.0", url: "http://0.0.0.0:{p}/", allow: []string{"0.0.0.0/0"}, stage: atCreation, want: "Petrel never sends notifications to it", raw: rawForbidden},
		{s4: "0.0.0.0", url: "http://[::]:{p}/", stage: atCreation, want: ":: is the unspecified address", raw: rawForbidden},
		{s4: "0.0.0.0", url: "http://0.1.2.3:{p}/", stage: atCreation, want: `"this network" address`, raw: rawForbidden},
		{s4: "10/8", url: "https://10.0.0.5/hook", stage: atCreation, want: "https://10.0.0.5/hook: 10.0.0.5 is a private address (RFC 1918); Petrel does not send notifications to internal networks unless --notify-allow-networks allows it", raw: rawForbidden},
		{s4: "10/8", url: "http://10.255.255.255:8080/", stage: atCreation, want: "private address (RFC 1918)", raw: rawForbidden},
		{s4: "172.16/12", url: "http://172.16.0.1/", stage: atCreation, want: "172.16.0.1 is a private address (RFC 1918)", raw: rawForbidden},
		{s4: "172.16/12", url: "http://172.31.255.254:8443/", stage: atCreation, want: "private address (RFC 1918)", raw: rawForbidden},
		{s4: "192.168/16", url: "http://192.168.1.1/", stage: atCreation, want: "192.168.1.1 is a private address (RFC 1918)", raw: rawForbidden},
		{s4: "169.254.169.254", url: "http://169.254.169.254/latest/meta-data/iam/security-credentials/", stage: atCreation, want: "169.254.169.254 is the cloud metadata service address", raw: rawForbidden},
		{s4: "169.254.169.254", url: "http://169.254.1.1/", stage: atCreation, want: "link-local address (169.254.0.0/16", raw: rawForbidden},
		{s4: "169.254.169.254", url: "http://[::ffff:169.254.169.254]/", stage: atCreation, want: "IPv4-mapped IPv6 address of 169.254.169.254, the cloud metadata service address", raw: rawForbidden},
		{s4: "100.64/10", url: "http://100.64.0.1/", stage: atCreation, want: "carrier-grade NAT shared address (100.64.0.0/10, RFC 6598)", raw: rawForbidden},
		{s4: "100.100.100.200", url: "http://100.100.100.200/latest/meta-data/", stage: atCreation, want: "100.100.100.200 is the Alibaba Cloud metadata service address", raw: rawForbidden},
		{s4: "fd00::/8", url: "http://[fd00::1]/", stage: atCreation, want: "fd00::1 is a unique local address (fc00::/7, RFC 4193)", raw: rawForbidden},
		{s4: "fd00:ec2::254", url: "http://[fd00:ec2::254]/latest/meta-data/", stage: atCreation, want: "fd00:ec2::254 is the AWS metadata service IPv6 address", raw: rawForbidden},
		{s4: "fd00::/8", url: "http://[fe80::1]/", stage: atCreation, want: "link-local address (fe80::/10", raw: rawForbidden},
		{s4: "fd00::/8", url: "http://[fe80::1%25lo]:{p}/", stage: atCreation, want: `the IPv6 zone "lo" is not allowed`, raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[::ffff:127.0.0.1]:{p}/", stage: atCreation, want: "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address of 127.0.0.1, a loopback address", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[::ffff:7f00:1]:{p}/", stage: atCreation, want: "IPv4-mapped IPv6 address of 127.0.0.1", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[::127.0.0.1]:{p}/", stage: atCreation, want: "deprecated IPv4-compatible IPv6 address", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[64:ff9b::127.0.0.1]:{p}/", stage: atCreation, want: "a NAT64 address (RFC 6052) of 127.0.0.1, a loopback address", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[64:ff9b::a9fe:a9fe]/", stage: atCreation, want: "NAT64 address (RFC 6052) of 169.254.169.254", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[2002:7f00:1::1]:{p}/", stage: atCreation, want: "a 6to4 address (RFC 3056) of 127.0.0.1", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", stage: atCreation, want: "Teredo address (RFC 4380) with client 10.0.0.1", raw: rawForbidden},
		{s4: "::ffff:127.0.0.1", url: "http://[::ffff:0:7f00:1]:{p}/", stage: atCreation, want: "IPv4-translated IPv6 address (RFC 2765) of 127.0.0.1", raw: rawForbidden},
		{s4: "2130706433", url: "http://2130706433:{p}/", stage: atCreation, want: `host "2130706433" is an unusual way of writing the IPv4 address 127.0.0.1, a loopback address`, raw: rawFails},
		{s4: "2130706433", url: "http://2130706433:{p}/", allow: []string{loopback}, stage: atCreation, want: `unusual way of writing the IPv4 address 127.0.0.1;`, raw: rawFails},
		{s4: "0177.0.0.1", url: "http://0177.0.0.1:{p}/", stage: atCreation, want: `host "0177.0.0.1" is an unusual way of writing the IPv4 address 127.0.0.1, a loopback address`, raw: rawFails},
		{s4: "0177.0.0.1", url: "http://017700000001:{p}/", stage: atCreation, want: "127.0.0.1, a loopback address", raw: rawFails},
		{s4: "0177.0.0.1", url: "http://127.000.000.001:{p}/", stage: atCreation, want: "127.0.0.1, a loopback address", raw: rawFails},
		{s4: "0x7f000001", url: "http://0x7f000001:{p}/", stage: atCreation, want: `host "0x7f000001" is an unusual way of writing the IPv4 address 127.0.0.1`, raw: rawFails},
		{s4: "0x7f000001", url: "http://0X7F.0x00.0.1:{p}/", stage: atCreation, want: "127.0.0.1, a loopback address", raw: rawFails},
		{s4: "0x7f000001", url: "http://127.1:{p}/", stage: atCreation, want: `host "127.1" is an unusual way of writing the IPv4 address 127.0.0.1`, raw: rawFails},
		{s4: "0x7f000001", url: "http://127.0.0.1.:{p}/", stage: atCreation, want: `host "127.0.0.1." is an unusual way`, raw: rawFails},
		{s4: "0x7f000001", url: "http://0xa9fea9fe/", stage: atCreation, want: "169.254.169.254, the cloud metadata service address", raw: rawFails},
		{s4: "0x7f000001", url: "http://1.2.3.256/", stage: atCreation, want: "ends in a number but is not a valid IPv4 address", raw: rawFails},
		{s4: "0x7f000001", url: "http://example.0x10/", stage: atCreation, want: "ends in a number but is not a valid IPv4 address", raw: rawFails},
		{s4: "0x7f000001", url: "http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:{p}/", stage: atCreation, want: "127.0.0.1 is a loopback address", raw: rawForbidden},
		{s4: "name → private IP", url: "https://private.test/hook", stage: atCreation, want: "private.test resolves to 10.0.0.5, a private address (RFC 1918); Petrel does not send notifications to internal networks unless --notify-allow-networks allows it", raw: rawForbidden},
		{s4: "name → private IP", url: "http://loop.test:{p}/", stage: atCreation, want: "loop.test resolves to 127.0.0.1, a loopback address", raw: rawForbidden},
		{s4: "name → private IP", url: "http://Metadata.Test/latest/meta-data/", stage: atCreation, want: "metadata.test resolves to 169.254.169.254, the cloud metadata service address", raw: rawForbidden},
		{s4: "name → private IP", url: "http://mixed.test:{srv}/", allow: []string{"127.0.0.1/32"}, stage: atCreation, want: "mixed.test resolves to 127.0.0.2, a loopback address", creationOnly: true},
		{s4: "TTL-0 rebinding", url: "http://rebind.test:{p}/", allow: []string{doc}, stage: atDial, want: "dial tcp 127.0.0.1:{p}: 127.0.0.1 is a loopback address", raw: rawForbidden},
		{s4: "TTL-0 rebinding", url: "http://rebind2.test:{p2}/", allow: []string{"127.0.0.1/32"}, stage: atDial, want: "dial tcp 127.0.0.2:{p2}: 127.0.0.2 is a loopback address", raw: rawForbidden},
		{s4: "30x to private", url: "http://127.0.0.1:{rdr}/?to=http://127.0.0.2:{p2}/", allow: []string{"127.0.0.1/32"}, stage: redirect},
		{s4: "30x to private", url: "http://127.0.0.1:{rdr}/?code=301&to=http://127.0.0.1:{p}/", allow: []string{"127.0.0.1/32"}, stage: redirect},
		{s4: "30x to private", url: "http://127.0.0.1:{rdr}/?code=307&to=http://[::1]:{p}/", allow: []string{"127.0.0.1/32"}, stage: redirect},
		{s4: "30x to private", url: "http://127.0.0.1:{rdr}/?code=308&to=http://169.254.169.254/", allow: []string{"127.0.0.1/32"}, stage: redirect},
		{s4: "30x to private", url: "http://127.0.0.1:{rdr}/?code=303&to=http://127.0.0.2:{p2}/", allow: []string{loopback}, stage: redirect},
		{s4: "file:/gopher:", url: "file:///etc/passwd", stage: atCreation, want: `scheme "file" is not allowed; notification URLs must be https or http`, raw: rawFails},
		{s4: "file:/gopher:", url: "gopher://127.0.0.1:{p}/_SET%20x%201", stage: atCreation, want: `scheme "gopher" is not allowed`, raw: rawFails},
		{s4: "file:/gopher:", url: "gopher://127.0.0.1:{p}/_SET%20x%201", allow: []string{loopback}, stage: atCreation, want: `scheme "gopher" is not allowed`, raw: rawFails},
		{s4: "file:/gopher:", url: "dict://127.0.0.1:{p}/info", stage: atCreation, want: `scheme "dict" is not allowed`, raw: rawFails},
		{s4: "file:/gopher:", url: "//127.0.0.1:{p}/", stage: atCreation, want: "has no scheme", raw: rawFails},
		{s4: "file:/gopher:", url: "http:127.0.0.1", stage: atCreation, want: "has no host", raw: rawFails},
		{s4: "ports 25/6379", url: "http://127.0.0.2:25/", allow: []string{loopback}, stage: atCreation, want: "port 25 is not allowed; notification URLs may use port 80, 443 or 1024-65535", raw: rawForbidden},
		{s4: "ports 25/6379", url: "http://127.0.0.2:6379/", allow: []string{loopback}, stage: atCreation, want: "port 6379 (Redis) is not allowed", raw: rawForbidden},
		{s4: "ports 25/6379", url: "http://127.0.0.1:6379/", stage: atCreation, want: "port 6379 (Redis) is not allowed", raw: rawForbidden},
		{s4: "ports 25/6379", url: "http://127.0.0.2:11211/", allow: []string{loopback}, stage: atCreation, want: "port 11211 (memcached) is not allowed", raw: rawForbidden},
		{s4: "ports 25/6379", url: "https://127.0.0.2:0025/", allow: []string{loopback}, stage: atCreation, want: "port 25 is not allowed", raw: rawForbidden},
		{s4: "ports 25/6379", url: "http://127.0.0.2:65536/", allow: []string{loopback}, stage: atCreation, want: "port 65536 is not a valid port number", raw: rawFails},
		{s4: "http://user@127.0.0.1", url: "http://user@127.0.0.1:{p}/", stage: atCreation, want: "a user name or password in a notification URL is not allowed", raw: rawForbidden},
		{s4: "http://user@127.0.0.1", url: "http://user@127.0.0.1:{p}/", allow: []string{loopback}, stage: atCreation, want: "http://user@127.0.0.1:{p}/: a user name or password", raw: rawSkip},
		{s4: "http://user@127.0.0.1", url: "http://user:hunter2@127.0.0.1:{p}/", allow: []string{loopback}, stage: atCreation, want: "http://user:xxxxx@127.0.0.1:{p}/: a user name or password", raw: rawSkip},
		{s4: "http://user@127.0.0.1", url: "http://good.test@127.0.0.1:{p}/", stage: atCreation, want: "a user name or password", raw: rawForbidden},
	}

	var golden strings.Builder
	refused := 0
	for _, v := range vectors {
		u := fill(v.url, vars)
		name := v.s4 + " " + u
		if len(v.allow) > 0 {
			name += " allow=" + strings.Join(v.allow, ",")
		}
		t.Run(name, func(t *testing.T) {
			g := New(prefixes(t, v.allow...), d.resolver())
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			want := fill(v.want, vars)

			// 1. At creation.
			err := g.CheckURL(ctx, u)
			switch v.stage {
			case atCreation:
				if !errors.Is(err, ErrForbidden) {
					t.Fatalf("CheckURL = %v, want an error wrapping ErrForbidden", err)
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("CheckURL error\n  %s\nwant it to contain\n  %s", err, want)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %s", err)
				}
				fmt.Fprintf(&golden, "%s%s\n\t%s\n", v.url, allowNote(v.allow), unfill(err.Error(), vars))
			case atDial, redirect:
				if err != nil {
					t.Fatalf("CheckURL = %v, want nil (the refusal must come later)", err)
				}
			}

			if v.creationOnly {
				refused++
				return
			}

			// 2. Through the delivering client.
			resp, err := g.Client(10 * time.Second).Get(u)
			if v.stage == redirect {
				if err != nil {
					t.Fatalf("Get = %v, want the 3xx response", err)
				}
				resp.Body.Close()
				if resp.StatusCode < 300 || resp.StatusCode > 399 {
					t.Fatalf("status %d, want the redirect itself", resp.StatusCode)
				}
				if resp.Request.URL.String() != u {
					t.Fatalf("the client went on to %s", resp.Request.URL)
				}
				refused++
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Get succeeded with status %d", resp.StatusCode)
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("Get = %v, want an error wrapping ErrForbidden", err)
			}
			if v.stage == atDial {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Get error\n  %s\nwant it to contain\n  %s", err, want)
				}
				fmt.Fprintf(&golden, "%s%s\n\t(accepted at creation) %s\n", v.url, allowNote(v.allow), unfill(err.Error(), vars))
			}

			// 3. Through the bare transport: only the dialer's check.
			if v.raw != rawSkip {
				bare := &http.Client{Transport: g.transport(10*time.Second, nil)}
				resp, err := bare.Get(u)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("bare transport: Get succeeded with status %d", resp.StatusCode)
				}
				if v.raw == rawForbidden && !errors.Is(err, ErrForbidden) {
					t.Errorf("bare transport: Get = %v, want the dialer's refusal (ErrForbidden)", err)
				}
			}
			refused++
		})
	}

	// The positive controls: the same machinery reaches a real server when
	// the operator allow-lists loopback, so the refusals above are the
	// guard's doing, not an unreachable address.
	for _, c := range []struct{ url, allow string }{
		{"http://127.0.0.1:{srv}/", loopback},
		{"http://[::ffff:127.0.0.1]:{srv}/", loopback},
		{"http://good.test:{srv}/", loopback},
		{"http://stable.test:{srv}/", loopback},
		{"http://localhost:{srv}/", loopback + ",::1/128"},
	} {
		u := fill(c.url, vars)
		t.Run("allowed "+u, func(t *testing.T) {
			g := New(prefixes(t, strings.Split(c.allow, ",")...), d.resolver())
			if err := g.CheckURL(ctx, u); err != nil {
				t.Fatalf("CheckURL = %v", err)
			}
			resp, err := g.Client(10 * time.Second).Get(u)
			if err != nil {
				t.Fatalf("Get = %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
		})
	}
	if n := d.Queries("stable.test"); n < 2 {
		t.Errorf("stable.test was resolved %d times; want at creation and again at the dial", n)
	}
	if n := d.Queries("rebind.test"); n < 2 {
		t.Errorf("rebind.test was resolved %d times; the rebinding was not exercised", n)
	}

	hits := 0
	for _, c := range canaries {
		if n := c.hits(t); n != 0 {
			t.Errorf("canary %s: %d connections got through", c.addr, n)
			hits += n
		}
	}
	t.Logf("S4: %d/%d vectors refused; canary connections: %d (canaries: %d)", refused, len(vectors), hits, len(canaries))

	path := filepath.Join("testdata", "refusals.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if wantGolden, err := os.ReadFile(path); err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	} else if string(wantGolden) != golden.String() {
		t.Errorf("refusal messages differ from %s (review, then go test -update):\n%s", path, golden.String())
	}
}

func allowNote(allow []string) string {
	if len(allow) == 0 {
		return ""
	}
	return "  [--notify-allow-networks " + strings.Join(allow, ",") + "]"
}
