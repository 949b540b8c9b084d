// Package mxtest runs fake receiving mail servers for tests on loopback
// addresses, recording every message: Start and StartTLS run go-smtp with
// scripted RCPT replies; StartScript runs a raw-SMTP server whose every
// stage (greeting, EHLO, STARTTLS, MAIL, RCPT, DATA, end of data) a Script
// can answer with any reply, late, or by hanging up. Import only from
// _test.go files.
package mxtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message a server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	TLS  bool // received over a STARTTLS-protected connection
}

// Reply scripts an answer: return nil to accept, or an *smtp.SMTPError.
// attempt counts this recipient's RCPTs so far, starting at 1.
type Reply func(rcpt string, attempt int) error

// Server is a running fake MX.
type Server struct {
	Addr string // ip:port
	IP   string

	// Rcpt, when set, answers each RCPT TO (Start and StartTLS servers;
	// a Script has its own hooks).
	Rcpt Reply

	mu       sync.Mutex
	commands []string
	messages []Message
	attempts map[string]int
	conns    int
}

// StartTLS is Start with STARTTLS offered (a self-signed certificate).
func StartTLS(t testing.TB, ip string, port int) *Server {
	t.Helper()
	return start(t, ip, port, selfSigned(t))
}

// Start listens on ip:port (port 0 picks one) and serves until the test ends.
func Start(t testing.TB, ip string, port int) *Server {
	t.Helper()
	return start(t, ip, port, nil)
}

func start(t testing.TB, ip string, port int, tlsConfig *tls.Config) *Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), IP: ip, attempts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.TLSConfig = tlsConfig
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // resets from killed clients are expected
	go srv.Serve(recordingListener{l, s})
	t.Cleanup(func() { srv.Close() })
	return s
}

// Port returns the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Messages returns a copy of the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Commands returns the MAIL FROM and RCPT TO command lines the server
// received, byte for byte without their CRLF, in order. A Start or StartTLS
// server records them from sessions in plain text (after STARTTLS it sees
// only ciphertext here), counting any line starting with "MAIL FROM:" or
// "RCPT TO:", message content included; a Script server records the MAIL
// and RCPT commands it reads, under TLS too.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// recordingListener hands go-smtp connections whose input is also split
// into lines for Commands.
type recordingListener struct {
	net.Listener
	s *Server
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, s: l.s}, nil
}

type recordingConn struct {
	net.Conn
	s    *Server
	line []byte // the incomplete line read so far
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for _, ch := range b[:n] {
		if ch != '\n' {
			if len(c.line) < 4096 {
				c.line = append(c.line, ch)
			}
			continue
		}
		line := string(bytes.TrimSuffix(c.line, []byte("\r")))
		c.line = c.line[:0]
		if u := strings.ToUpper(line); strings.HasPrefix(u, "MAIL FROM:") || strings.HasPrefix(u, "RCPT TO:") {
			c.s.mu.Lock()
			c.s.commands = append(c.s.commands, line)
			c.s.mu.Unlock()
		}
	}
	return n, err
}

// Attempts returns how many RCPTs for rcpt the server has seen.
func (s *Server) Attempts(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[rcpt]
}

// Connections returns how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error { ss.from = from; return nil }

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.attempts[to]++
	n := ss.s.attempts[to]
	reply := ss.s.Rcpt
	ss.s.mu.Unlock()
	if reply != nil {
		if err := reply(to, n); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: ss.to, Data: b.Bytes(), TLS: isTLS})
	ss.s.mu.Unlock()
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok queued as test"}
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func selfSigned(t testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mx.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
