package egress

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/petrelmail/petrel/internal/dnstest"
)

// canary is a TCP listener on an address no vector may reach. It accepts
// and closes every connection and records where each came from.
type canary struct {
	addr  string
	ln    net.Listener
	conns chan string // remote address of each accepted connection
}

// listenCanary listens on addr (host:port, port 0 = any); ok is false when
// the address cannot be bound (the caller decides whether that is fatal).
func listenCanary(t *testing.T, addr string) (*canary, error) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &canary{addr: ln.Addr().String(), ln: ln, conns: make(chan string, 1024)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(c.conns)
				return
			}
			c.conns <- conn.RemoteAddr().String()
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c, nil
}

func mustCanary(t *testing.T, addr string) *canary {
	t.Helper()
	c, err := listenCanary(t, addr)
	if err != nil {
		t.Fatalf("canary on %s: %v", addr, err)
	}
	return c
}

func (c *canary) port() string {
	_, p, _ := net.SplitHostPort(c.addr)
	return p
}

// hits returns how many connections the canary accepted before now. It
// connects once itself (a sentinel) and counts the connections accepted
// before the sentinel: the kernel queues connections in order, so every
// earlier connection has been counted when the sentinel is seen. The
// sentinel also proves the canary was listening.
func (c *canary) hits(t *testing.T) int {
	t.Helper()
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatalf("canary %s is not listening: %v", c.addr, err)
	}
	defer conn.Close()
	sentinel := conn.LocalAddr().String()
	n := 0
	deadline := time.After(30 * time.Second)
	for {
		select {
		case remote := <-c.conns:
			if remote == sentinel {
				return n
			}
			t.Logf("canary %s: connection from %s", c.addr, remote)
			n++
		case <-deadline:
			t.Fatalf("canary %s never accepted its sentinel connection", c.addr)
		}
	}
}

// dnsServer is a miekg/dns server on 127.0.0.1 that serves rebinding names
// itself and every other name from a dnstest.Server's records.
type dnsServer struct {
	*dnstest.Server // static records (A)
	addr            string

	mu      sync.Mutex
	rebind  map[string][]string // FQDN → A answers, one per query, the last repeated
	queries map[string]int      // FQDN → A queries answered so far
}

func newDNS(t *testing.T) *dnsServer {
	t.Helper()
	s := &dnsServer{Server: dnstest.New(t), rebind: map[string][]string{}, queries: map[string]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: s}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

// Rebind makes name answer its A queries with answers[0], then answers[1],
// …, repeating the last, each with TTL 0.
func (s *dnsServer) Rebind(name string, answers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebind[dns.Fqdn(strings.ToLower(name))] = answers
}

// Queries is how many A queries name got.
func (s *dnsServer) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[dns.Fqdn(strings.ToLower(name))]
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 {
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		s.mu.Lock()
		answers, ok := s.rebind[name]
		var answer string
		if ok && q.Qtype == dns.TypeA {
			answer = answers[min(s.queries[name], len(answers)-1)]
			s.queries[name]++
		}
		s.mu.Unlock()
		if ok {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			if answer != "" {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
					A:   net.ParseIP(answer).To4(),
				})
			}
			w.WriteMsg(m)
			return
		}
	}
	s.Server.ServeDNS(w, r)
}

// resolver resolves through this server only.
func (s *dnsServer) resolver() *net.Resolver { return NewResolver(s.addr) }

func prefixes(t testing.TB, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// fill replaces {name} placeholders in s.
func fill(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// unfill puts the placeholders back into a message (for golden files that
// do not depend on the ports the kernel chose).
func unfill(s string, vars map[string]string) string {
	for k, v := range vars {
		if _, err := strconv.Atoi(v); err == nil && len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "{"+k+"}")
		}
	}
	return s
}
