// Package dnstest is an in-process DNS server for tests, speaking real DNS
// messages (miekg/dns) over UDP and TCP on 127.0.0.1. Tests add MX, A,
// TXT, CNAME and SOA records (and null MX, RFC 7505), remove them again,
// and make a name fail (SERVFAIL, or no answer at all); every other name
// answers NXDOMAIN. A query for a name holding a CNAME follows it within
// the server's records, as a recursive resolver would; a negative answer
// carries the SOA of the enclosing zone, when one was added, in its
// authority section. Import only from _test.go files.
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
	fail    map[string]Failure  // names that fail
}

// Failure is how a name fails (Fail).
type Failure int

const (
	Healthy  Failure = iota // answers from its records
	ServFail                // rcode SERVFAIL
	Silent                  // no answer: the client times out
)

// New starts a server that stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]dns.RR{}, exists: map[string]bool{}, fail: map[string]Failure{}}
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

// TXT adds "name TXT value", one record per value; a value longer than
// 255 bytes is split into several character-strings, as zone files do.
func (s *Server) TXT(name string, values ...string) {
	for _, v := range values {
		var parts []string
		for len(v) > 255 {
			parts, v = append(parts, v[:255]), v[255:]
		}
		parts = append(parts, v)
		s.add(&dns.TXT{Hdr: dns.RR_Header{Name: fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: parts})
	}
}

// CNAME adds "name CNAME target".
func (s *Server) CNAME(name, target string) {
	s.add(&dns.CNAME{Hdr: dns.RR_Header{Name: fqdn(name), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: fqdn(target)})
}

// SOA adds the SOA record of zone: primary name server ns, administrator
// mailbox mbox (in DNS form: hostmaster.example.com), serial.
func (s *Server) SOA(zone, ns, mbox string, serial uint32) {
	s.add(&dns.SOA{Hdr: dns.RR_Header{Name: fqdn(zone), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: fqdn(ns), Mbox: fqdn(mbox), Serial: serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60})
}

// Remove deletes every record of name; the name then answers NXDOMAIN.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, fqdn(name))
	delete(s.exists, fqdn(name))
}

// Fail makes queries for name fail as f (Healthy: answer again).
func (s *Server) Fail(name string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == Healthy {
		delete(s.fail, fqdn(name))
		return
	}
	s.fail[fqdn(name)] = f
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
		switch s.fail[name] {
		case Silent:
			s.mu.Unlock()
			return
		case ServFail:
			s.mu.Unlock()
			m.Rcode = dns.RcodeServerFailure
			w.WriteMsg(m)
			return
		}
		for hops := 0; hops < 8; hops++ {
			if !s.exists[name] {
				m.Rcode = dns.RcodeNameError
				break
			}
			var cname *dns.CNAME
			for _, rr := range s.records[name] {
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, dns.Copy(rr))
				} else if c, ok := rr.(*dns.CNAME); ok && q.Qtype != dns.TypeCNAME {
					cname = c
				}
			}
			if cname == nil || len(m.Answer) > 0 {
				break
			}
			m.Answer = append(m.Answer, dns.Copy(cname))
			name = cname.Target
		}
		if len(m.Answer) == 0 || m.Answer[len(m.Answer)-1].Header().Rrtype != q.Qtype {
			if soa := s.zoneSOA(name); soa != nil {
				m.Ns = append(m.Ns, soa)
			}
		}
		s.mu.Unlock()
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		// As a real server: an answer too long for the client's buffer
		// (512 bytes, or its EDNS0 size) is truncated with TC set, and the
		// client asks again over TCP.
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// zoneSOA returns a copy of the SOA of the nearest zone holding name, or
// nil. s.mu is held.
func (s *Server) zoneSOA(name string) dns.RR {
	for n := name; ; {
		for _, rr := range s.records[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return dns.Copy(rr)
			}
		}
		i, end := dns.NextLabel(n, 0)
		if end || n == "." {
			return nil
		}
		n = n[i:]
	}
}
