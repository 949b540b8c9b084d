// Package dnstest is an in-process DNS server for tests, speaking real DNS
// messages (miekg/dns) over UDP and TCP on 127.0.0.1. Tests add MX and A
// records (and null MX, RFC 7505); every other name answers NXDOMAIN.
// Import only from _test.go files.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	Addr string // host:port, for --dns

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	exists  map[string]bool     // names that exist (NOERROR even without records of a type)
}

// New starts a server that stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]dns.RR{}, exists: map[string]bool{}}
	// UDP and TCP on one port: the UDP port is free, its TCP twin may not
	// be (another process's ephemeral port), so try a few.
	var pc net.PacketConn
	var tl net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		s.Addr = pc.LocalAddr().String()
		if tl, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		pc.Close()
		if attempt == 10 {
			t.Fatal(err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: tl, Handler: s}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return s
}

func fqdn(name string) string { return strings.ToLower(dns.Fqdn(name)) }

func (s *Server) add(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := rr.Header().Name
	s.records[n] = append(s.records[n], rr)
	s.exists[n] = true
}

// MX adds "domain MX pref host".
func (s *Server) MX(domain string, pref uint16, host string) {
	s.add(&dns.MX{Hdr: dns.RR_Header{Name: fqdn(domain), Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}, Preference: pref, Mx: fqdn(host)})
}

// NullMX adds "domain MX 0 ." (RFC 7505: the domain accepts no mail).
func (s *Server) NullMX(domain string) {
	s.add(&dns.MX{Hdr: dns.RR_Header{Name: fqdn(domain), Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}, Preference: 0, Mx: "."})
}

// A adds "host A ip".
func (s *Server) A(host, ip string) {
	s.add(&dns.A{Hdr: dns.RR_Header{Name: fqdn(host), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip).To4()})
}

// ServeDNS answers from the records.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		s.mu.Lock()
		name := strings.ToLower(q.Name)
		if !s.exists[name] {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range s.records[name] {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		s.mu.Unlock()
	}
	w.WriteMsg(m)
}
