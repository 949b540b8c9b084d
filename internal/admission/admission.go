// Package admission decides what Petrel lets in before any work is done for
// it: how many connections a listener keeps open (in all and per remote IP),
// and how many bytes of message bodies may be held in memory at once. Both
// answer at once and never queue: a refused connection gets its listener's
// reply and is closed, a refused body gets a retryable error (HTTP 503, SMTP
// 451), so an attacker cannot exhaust file descriptors or memory and a
// legitimate client retries later.
//
// The steps for a connection:
//  1. Accept takes the next connection from the wrapped listener;
//  2. it is counted against the total and its remote IP's count;
//  3. over either limit it is handed to the refuse callback (in its own
//     goroutine, with a write deadline) and closed, and Accept goes on;
//  4. within them it is returned, and closing it frees its slot.
package admission

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bounds the connections a listener keeps open.
type Limits struct {
	MaxConns      int // concurrent connections in all (0 = unlimited)
	MaxConnsPerIP int // concurrent connections from one remote IP (0 = unlimited)
}

// Reasons passed to the refuse callback.
const (
	ReasonTotal = "too many connections"
	ReasonPerIP = "too many connections from one address"
)

// refuseDeadline bounds how long a refused connection may take to be told.
const refuseDeadline = 5 * time.Second

// Listener is a net.Listener that keeps its connections within Limits.
type Listener struct {
	net.Listener
	lim    Limits
	refuse func(net.Conn, string)

	mu      sync.Mutex
	open    int
	perIP   map[string]int
	refused atomic.Int64
}

// Listen wraps l. Accept returns only connections within lim; a connection
// over a limit is passed to refuse (in its own goroutine, with a 5 s write
// deadline; refuse may write a reply such as "421 4.7.0 Too many concurrent
// SMTP connections") and then closed. refuse may be nil. Closing an
// accepted connection frees its slot.
func Listen(l net.Listener, lim Limits, refuse func(c net.Conn, reason string)) *Listener {
	return &Listener{Listener: l, lim: lim, refuse: refuse, perIP: map[string]int{}}
}

// Accept waits for the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if reason := l.take(ip); reason != "" {
			l.refused.Add(1)
			go func() {
				if l.refuse != nil {
					c.SetDeadline(time.Now().Add(refuseDeadline))
					l.refuse(c, reason)
				}
				c.Close()
			}()
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// take counts a new connection from ip, or says which limit it is over.
func (l *Listener) take(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.MaxConns > 0 && l.open >= l.lim.MaxConns {
		return ReasonTotal
	}
	if l.lim.MaxConnsPerIP > 0 && l.perIP[ip] >= l.lim.MaxConnsPerIP {
		return ReasonPerIP
	}
	l.open++
	l.perIP[ip]++
	return ""
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// Open returns the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused returns how many connections were refused so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// conn frees its slot once, on the first Close.
type conn struct {
	net.Conn
	l    *Listener
	ip   string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// NetConn returns the wrapped connection, for code that needs the concrete
// type (net/http's ResponseController, TLS state).
func (c *conn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes a TCP connection, as net/http does before closing
// one it refuses, so the client reads the reply before the reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// ErrOverBudget is returned when a body does not fit in the memory budget;
// the client should retry later (HTTP 503, SMTP 451).
var ErrOverBudget = errors.New("too many large messages in memory at once; retry later")

// Budget is a memory budget for message bodies held in memory at once, in
// bytes. It is shared by every listener that reads bodies, so that peak
// memory is bounded whatever the mix of API and SMTP traffic.
type Budget struct {
	max   int64
	inUse atomic.Int64
}

// NewBudget returns a budget of max bytes; max <= 0 means unlimited.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// TryAcquire takes n bytes of the budget, or takes nothing and returns false
// when n more would exceed it.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		cur := b.inUse.Load()
		if b.max > 0 && cur+n > b.max {
			return false
		}
		if b.inUse.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Release gives back n bytes taken with TryAcquire.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.inUse.Add(-n)
}

// InUse returns the bytes taken now.
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.inUse.Load()
}

// Max returns the budget's size in bytes (0: unlimited).
func (b *Budget) Max() int64 {
	if b == nil || b.max < 0 {
		return 0
	}
	return b.max
}
