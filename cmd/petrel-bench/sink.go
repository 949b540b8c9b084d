package main

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sink is the counting SMTP server both relays deliver to. It speaks just
// enough ESMTP (with PIPELINING, so a relay may batch its commands), accepts
// every transaction, and for each message finds the "X-Bench-Id: <run>.<seq>"
// header and stamps the arrival time of that sequence number.
type sink struct {
	ln net.Listener

	mu      sync.Mutex
	run     string    // messages of other runs are counted as strays
	arrived []int64   // unix nanos per seq; 0 = not yet
	first   time.Time // first arrival of this run
	count   atomic.Int64
	dups    atomic.Int64
	strays  atomic.Int64
	notify  chan struct{} // closed when count reaches want
	want    int64
}

func startSink(addr string) (*sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	go s.accept()
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }
func (s *sink) close()       { s.ln.Close() }

// reset prepares the sink for a run of n messages tagged with run.
func (s *sink) reset(run string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = run
	s.arrived = make([]int64, n)
	s.first = time.Time{}
	s.count.Store(0)
	s.dups.Store(0)
	s.strays.Store(0)
	s.want = int64(n)
	s.notify = make(chan struct{})
}

// done is closed once every message of the run has arrived.
func (s *sink) done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *sink) snapshot() (arrived []int64, first time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.arrived...), s.first
}

func (s *sink) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

var benchHeader = []byte("X-Bench-Id: ")

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	w.WriteString("220 sink ESMTP\r\n")
	w.Flush()
	inData, inHeader := false, false
	var id []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		if inData {
			if len(line) <= 3 && (string(line) == ".\r\n" || string(line) == ".\n") {
				inData = false
				s.arrive(id)
				id = id[:0]
				w.WriteString("250 2.0.0 Ok: queued\r\n")
			} else if inHeader {
				if len(line) <= 2 {
					inHeader = false
				} else if len(id) == 0 && bytes.HasPrefix(line, benchHeader) {
					id = append(id[:0], bytes.TrimRight(line[len(benchHeader):], "\r\n")...)
				}
			}
		} else {
			cmd := line
			if len(cmd) > 4 {
				cmd = cmd[:4]
			}
			switch string(bytes.ToUpper(cmd)) {
			case "EHLO":
				w.WriteString("250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES\r\n")
			case "HELO":
				w.WriteString("250 sink\r\n")
			case "MAIL", "RCPT", "RSET", "NOOP":
				w.WriteString("250 2.0.0 Ok\r\n")
			case "DATA":
				inData, inHeader = true, true
				w.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
			case "QUIT":
				w.WriteString("221 2.0.0 Bye\r\n")
				w.Flush()
				return
			default:
				w.WriteString("502 5.5.2 Command not recognized\r\n")
			}
		}
		// Answer a pipelined group at once, when the client waits for us.
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func (s *sink) arrive(id []byte) {
	now := time.Now().UnixNano()
	run, seqText, ok := bytes.Cut(id, []byte("."))
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, err := strconv.Atoi(string(seqText))
	if !ok || err != nil || string(run) != s.run || seq < 0 || seq >= len(s.arrived) {
		s.strays.Add(1)
		return
	}
	if s.arrived[seq] != 0 {
		s.dups.Add(1)
		return
	}
	s.arrived[seq] = now
	if s.first.IsZero() {
		s.first = time.Unix(0, now)
	}
	if s.count.Add(1) == s.want {
		close(s.notify)
	}
}
