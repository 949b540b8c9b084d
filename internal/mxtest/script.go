package mxtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Script describes a scripted fake MX: a small SMTP server written on the
// raw protocol (no library), so a test can make it answer anything at any
// stage, late, or not at all. Each hook, when set, decides how one stage is
// answered; a nil hook, or a Step without Reply, gives the stage's default
// reply (listed with each hook). The server also answers RSET, NOOP
// and QUIT, and 503 to commands out of sequence.
type Script struct {
	// Greeting is the reply sent on connection; "" → "220 mx.test ESMTP mxtest".
	Greeting string
	// EHLO is the reply to EHLO, one string per line with its code, as
	// sent ({"250-mx.test Hello", "250-PIPELINING", "250 SIZE 1000"});
	// nil → DefaultEHLO, plus STARTTLS when TLS is set (before STARTTLS only).
	EHLO []string
	// TLS offers STARTTLS in the default EHLO reply. The server takes
	// STARTTLS (with a self-signed certificate) whether it offered it or not.
	TLS bool

	Greet    func(Call) Step // the greeting (default Greeting)
	Hello    func(Call) Step // EHLO (default EHLO's lines) and HELO (default "250 mx.test"); Call.Line tells which
	StartTLS func(Call) Step // STARTTLS (default "220 2.0.0 Ready to start TLS", then the handshake)
	Mail     func(Call) Step // MAIL FROM (default "250 2.1.0 Ok")
	Rcpt     func(Call) Step // RCPT TO (default "250 2.1.5 Ok")
	Data     func(Call) Step // DATA (default "354 End data with <CR><LF>.<CR><LF>")
	DataEnd  func(Call) Step // the final "." (default "250 2.0.0 Ok queued as test")
}

// DefaultEHLO is a Script's EHLO reply when it sets none.
var DefaultEHLO = []string{"250-mx.test", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8", "250 SIZE 104857600"}

// Call is what a hook is asked to answer.
type Call struct {
	Line    string   // the command line as received, without CRLF; "" for the greeting and the final "."
	Path    string   // MAIL, RCPT: the address between the angle brackets
	Params  []string // MAIL, RCPT: the ESMTP parameters ("SIZE=120", "BODY=8BITMIME", "SMTPUTF8")
	N       int      // how often the stage was reached on this server, this time included; RCPT: for this recipient (Attempts)
	TLS     bool     // the connection runs under STARTTLS
	Message *Message // the final ".": the message received (dot-unstuffed)
}

// Step is how a stage is answered.
type Step struct {
	Reply string        // the reply, lines separated by "\r\n" (the last CRLF is added); "" → the stage's default
	Delay time.Duration // wait this long before answering (or closing)
	Close bool          // close the connection instead of answering
}

// StartScript starts a fake MX on ip:port (port 0 picks one) that follows
// sc, until the test ends. Messages holds the messages it answered with 2xx
// at the final "."; Commands, Attempts and Connections work as for Start
// (Commands also sees the commands sent after STARTTLS).
func StartScript(t testing.TB, ip string, port int, sc Script) *Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), IP: ip, attempts: map[string]int{}}
	ss := &scriptServer{s: s, sc: sc, tls: selfSigned(t), done: make(chan struct{}), counts: map[string]int{}, open: map[net.Conn]bool{}}
	ss.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			select {
			case <-ss.done: // the test is over: cleanup has closed the others
				s.mu.Unlock()
				c.Close()
				return
			default:
			}
			s.conns++
			ss.open[c] = true
			s.mu.Unlock()
			ss.wg.Go(func() {
				ss.serve(c)
				s.mu.Lock()
				delete(ss.open, c)
				s.mu.Unlock()
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		close(ss.done)
		l.Close()
		s.mu.Lock()
		for c := range ss.open {
			c.Close()
		}
		s.mu.Unlock()
		ss.wg.Wait()
	})
	return s
}

type scriptServer struct {
	s    *Server
	sc   Script
	tls  *tls.Config
	done chan struct{} // closed when the test ends
	wg   sync.WaitGroup

	// guarded by s.mu
	counts map[string]int // stage → times reached
	open   map[net.Conn]bool
}

// conversation is the state of one connection.
type conversation struct {
	conn  net.Conn
	r     *bufio.Reader
	tls   bool
	from  string
	to    []string
	inTxn bool // MAIL accepted
}

var errClosed = errors.New("closed by script")

// serve runs one connection until it ends.
func (ss *scriptServer) serve(conn net.Conn) {
	c := &conversation{conn: conn, r: bufio.NewReader(conn)}
	if _, err := ss.step(c, ss.sc.Greet, "greeting", Call{}, ss.greeting()); err != nil {
		return
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			c.from, c.to, c.inTxn = "", nil, false
			_, err = ss.step(c, ss.sc.Hello, "EHLO", Call{Line: line}, strings.Join(ss.ehlo(c.tls), "\r\n"))
		case "HELO":
			c.from, c.to, c.inTxn = "", nil, false
			_, err = ss.step(c, ss.sc.Hello, "HELO", Call{Line: line}, "250 mx.test")
		case "STARTTLS":
			err = ss.startTLS(c, line)
		case "MAIL":
			err = ss.mail(c, line, arg)
		case "RCPT":
			err = ss.rcpt(c, line, arg)
		case "DATA":
			err = ss.data(c, line)
		case "RSET":
			c.from, c.to, c.inTxn = "", nil, false
			err = c.reply("250 2.0.0 Ok")
		case "NOOP":
			err = c.reply("250 2.0.0 Ok")
		case "QUIT":
			c.reply("221 2.0.0 Bye")
			return
		default:
			err = c.reply("500 5.5.2 Error: command not recognized")
		}
		if err != nil {
			return
		}
	}
}

func (ss *scriptServer) greeting() string {
	if ss.sc.Greeting != "" {
		return ss.sc.Greeting
	}
	return "220 mx.test ESMTP mxtest"
}

func (ss *scriptServer) ehlo(underTLS bool) []string {
	if ss.sc.EHLO != nil {
		return ss.sc.EHLO
	}
	lines := append([]string(nil), DefaultEHLO...)
	if ss.sc.TLS && !underTLS {
		lines = append(lines[:1], append([]string{"250-STARTTLS"}, lines[1:]...)...)
	}
	return lines
}

// step asks hook (when set) how to answer stage and does it: the hook's
// reply or def, after its delay, or closing the connection. It returns the
// reply sent, or an error when the connection is done.
func (ss *scriptServer) step(c *conversation, hook func(Call) Step, stage string, call Call, def string, before ...func(reply string)) (string, error) {
	s := ss.s
	s.mu.Lock()
	ss.counts[stage]++
	if call.N == 0 {
		call.N = ss.counts[stage]
	}
	s.mu.Unlock()
	call.TLS = c.tls
	var st Step
	if hook != nil {
		st = hook(call)
	}
	if st.Delay > 0 {
		t := time.NewTimer(st.Delay)
		select {
		case <-t.C:
		case <-ss.done:
			t.Stop()
			return "", errClosed
		}
	}
	if st.Close {
		return "", errClosed
	}
	r := st.Reply
	if r == "" {
		r = def
	}
	for _, f := range before {
		f(r)
	}
	return r, c.reply(r)
}

func (c *conversation) reply(r string) error {
	_, err := c.conn.Write([]byte(r + "\r\n"))
	return err
}

func (ss *scriptServer) startTLS(c *conversation, line string) error {
	if c.tls {
		return c.reply("503 5.5.1 Error: TLS already active")
	}
	r, err := ss.step(c, ss.sc.StartTLS, "STARTTLS", Call{Line: line}, "220 2.0.0 Ready to start TLS")
	if err != nil || !strings.HasPrefix(r, "2") {
		return err
	}
	tc := tls.Server(c.conn, ss.tls)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.conn, c.r, c.tls = tc, bufio.NewReader(tc), true
	c.from, c.to, c.inTxn = "", nil, false // RFC 3207 §4.2: the client starts over with EHLO
	return nil
}

// path splits "FROM:<a@b> SIZE=1" (or "TO:…") into the address and the
// parameters; ok false when it is not of that form.
func path(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.LastIndex(rest, ">")
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

func (ss *scriptServer) record(line string) {
	ss.s.mu.Lock()
	ss.s.commands = append(ss.s.commands, line)
	ss.s.mu.Unlock()
}

func (ss *scriptServer) mail(c *conversation, line, arg string) error {
	ss.record(line)
	addr, params, ok := path(arg, "FROM:")
	switch {
	case !ok:
		return c.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
	case c.inTxn:
		return c.reply("503 5.5.1 Error: nested MAIL command")
	}
	r, err := ss.step(c, ss.sc.Mail, "MAIL", Call{Line: line, Path: addr, Params: params}, "250 2.1.0 Ok")
	if err == nil && strings.HasPrefix(r, "2") {
		c.from, c.to, c.inTxn = unquote(addr), nil, true
	}
	return err
}

func (ss *scriptServer) rcpt(c *conversation, line, arg string) error {
	ss.record(line)
	addr, params, ok := path(arg, "TO:")
	switch {
	case !ok:
		return c.reply("501 5.5.4 Syntax: RCPT TO:<address>")
	case !c.inTxn:
		return c.reply("503 5.5.1 Error: need MAIL command")
	}
	rcpt := unquote(addr)
	ss.s.mu.Lock()
	ss.s.attempts[rcpt]++
	n := ss.s.attempts[rcpt]
	ss.s.mu.Unlock()
	r, err := ss.step(c, ss.sc.Rcpt, "RCPT", Call{Line: line, Path: rcpt, Params: params, N: n}, "250 2.1.5 Ok")
	if err == nil && strings.HasPrefix(r, "2") {
		c.to = append(c.to, rcpt)
	}
	return err
}

func (ss *scriptServer) data(c *conversation, line string) error {
	if !c.inTxn || len(c.to) == 0 {
		return c.reply("503 5.5.1 Error: need RCPT command")
	}
	r, err := ss.step(c, ss.sc.Data, "DATA", Call{Line: line}, "354 End data with <CR><LF>.<CR><LF>")
	if err != nil || !strings.HasPrefix(r, "3") {
		return err
	}
	var b bytes.Buffer
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return err
		}
		if l == ".\r\n" || l == ".\n" {
			break
		}
		b.WriteString(strings.TrimPrefix(l, ".")) // RFC 5321 §4.5.2
	}
	m := Message{From: c.from, To: c.to, Data: b.Bytes(), TLS: c.tls}
	// The message is recorded before the 250 is written: a client that
	// has read the reply finds it in Messages.
	_, err = ss.step(c, ss.sc.DataEnd, "DataEnd", Call{Message: &m}, "250 2.0.0 Ok queued as test", func(r string) {
		if strings.HasPrefix(r, "2") {
			ss.s.mu.Lock()
			ss.s.messages = append(ss.s.messages, m)
			ss.s.mu.Unlock()
		}
	})
	c.from, c.to, c.inTxn = "", nil, false
	return err
}

// unquote returns a path's Mailbox with a quoted local part unquoted
// ("\"a b\"@x" → "a b@x"), as go-smtp reports it for Start servers.
func unquote(addr string) string {
	if !strings.HasPrefix(addr, `"`) {
		return addr
	}
	i := strings.LastIndex(addr, `"@`)
	if i <= 0 {
		return addr
	}
	var b strings.Builder
	q := addr[1:i]
	for j := 0; j < len(q); j++ {
		if q[j] == '\\' && j+1 < len(q) {
			j++
		}
		b.WriteByte(q[j])
	}
	return b.String() + addr[i+1:]
}
