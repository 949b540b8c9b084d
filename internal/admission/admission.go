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
//
// The steps for a body: TryAcquireFor takes its size from the Budget
// before it is read (or refuses it), on behalf of a holder (the account
// that sends it), ReleaseFor gives it back once the body is stored. One
// holder may hold at most HolderMax bytes at once (a quarter of the budget,
// but at least HolderFloor, one largest body), so a tenant that trickles
// large bodies slowly cannot take the budget from the others: their
// bodies still fit in the rest. While more than GCThreshold bytes of bodies are held, the
// garbage collector runs more often: the Budget lowers the GC percent
// (runtime/debug.SetGCPercent) to GCPercent, and restores the previous
// setting when the bodies held fall below the threshold again. Accepting
// a large message makes garbage proportional to it (DKIM canonicalization,
// the database driver's copies of the stored chunks), in pieces; with the
// default GOGC=100 and a 53 MB request body live, the heap would grow by
// another 53 MB before the collector ran (peak RSS for one 40 MB
// SendEmail: 131 MB at GOGC=100, 86–88 MB with the lower setting). Marking large bodies is cheap (they hold no
// pointers), so collecting more often costs no CPU that shows: accepting
// a DKIM-signed 40 MB message took 0.6–0.9 s of CPU with the lower
// setting and 0.7–1.3 s without (sending.BenchmarkSendLarge; the smaller
// heap touches fewer fresh pages). Small mail does not cross the
// threshold: a 5 KB message holds 5 KB (API) or at most 16 KiB (SMTP)
// while it is read, so it would take 500 of them at once.
// The switch is made only when the threshold is crossed, is counted over
// every Budget in the process, and never raises an operator's lower
// GOGC (or turns on a GC set off).
package admission

import (
	"errors"
	"net"
	"runtime/debug"
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
		ip := RemoteIP(c)
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

// RemoteIP returns the IP address of c's remote end as text ("192.0.2.1",
// "2001:db8::1"), without the port; for an address that is not host:port
// (not TCP), the address as it is.
func RemoteIP(c net.Conn) string {
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
// memory is bounded whatever the mix of API and SMTP traffic; while it
// holds more than GCThreshold bytes, the GC runs at GCPercent (package
// doc).
type Budget struct {
	max   int64
	inUse atomic.Int64

	mu      sync.Mutex       // guards held
	held    map[string]int64 // bytes taken per holder (TryAcquireFor), holders with none absent
	lowered bool             // this budget counts in gc.holders; guarded by gc.mu
}

// HolderShare is the fraction of a Budget one holder may hold at once:
// 1/HolderShare of it (but at least HolderFloor).
const HolderShare = 4

// HolderFloor is the least one holder may hold at once, in bytes, however
// small the budget's share: one largest body (the API's SendEmail limit,
// 60 MiB; an SMTP body of 40 MB read in chunks holds at most 41 MiB).
const HolderFloor = 60 << 20

// GCThreshold is the bytes of bodies held above which the GC percent is
// lowered to GCPercent.
const GCThreshold = 8 << 20

// GCPercent is the GC percent (GOGC) while more than GCThreshold bytes of
// bodies are held: the heap may grow by a fiftieth of what is live before
// the collector runs, instead of doubling. (20 gave a peak of 91 MB for
// one 40 MB SendEmail, 10 gave 86–88 MB at the same CPU; with two busy
// loops on the two cores, 10 gave 94.8–96.2 MB and 5 gave 92.0–92.4 MB.
// Issue 15's larger binary (Prometheus, quotas, reputation: +1.5 MB of code
// pages) took 5 to 95.9–96.5 MB under the two loops; 2 gives 92.0 MB, and
// 89.9–91.0 MB on a quiet machine. Small messages never hold GCThreshold,
// so the relay path is untouched.)
const GCPercent = 2

// gc is the process-wide state of the lowered GC percent: holders counts
// the budgets over their threshold; prev is the setting to restore when
// the last of them falls below it.
var gc struct {
	mu      sync.Mutex
	holders int
	prev    int
}

// crossed brings the GC percent in line with whether b holds at least
// GCThreshold bytes now. It is called after every crossing of the
// threshold, and reads the count afresh under the lock, so concurrent
// crossings in either direction leave the setting right.
func (b *Budget) crossed() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	over := b.inUse.Load() >= GCThreshold
	if over == b.lowered {
		return
	}
	b.lowered = over
	if over {
		if gc.holders++; gc.holders == 1 {
			gc.prev = debug.SetGCPercent(GCPercent)
			if gc.prev < GCPercent { // the operator's GOGC is lower, or off
				debug.SetGCPercent(gc.prev)
			}
		}
		return
	}
	if gc.holders--; gc.holders == 0 {
		debug.SetGCPercent(gc.prev)
	}
}

// NewBudget returns a budget of max bytes; max <= 0 means unlimited.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// TryAcquire takes n bytes of the budget, or takes nothing and returns false
// when n more would exceed it. The bytes are held on behalf of no one in
// particular: no holder's share limits them (TryAcquireFor).
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	return b.take(n)
}

// TryAcquireFor takes n bytes of the budget on behalf of holder (an
// account id), or takes nothing and returns false when n more would exceed
// the budget or make holder hold more than HolderMax bytes. holder "" is
// no one: TryAcquire. Give the bytes back with ReleaseFor(holder, n).
func (b *Budget) TryAcquireFor(holder string, n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	if holder == "" || b.max <= 0 {
		return b.take(n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[holder]+n > b.HolderMax() || !b.take(n) {
		return false
	}
	if b.held == nil {
		b.held = map[string]int64{}
	}
	b.held[holder] += n
	return true
}

// ReleaseFor gives back n bytes taken with TryAcquireFor(holder, n).
func (b *Budget) ReleaseFor(holder string, n int64) {
	if b == nil || n <= 0 {
		return
	}
	if holder != "" && b.max > 0 {
		b.mu.Lock()
		if h := b.held[holder] - n; h > 0 {
			b.held[holder] = h
		} else {
			delete(b.held, holder)
		}
		b.mu.Unlock()
	}
	b.Release(n)
}

// HolderMax returns the most one holder may hold at once, in bytes: a
// HolderShare-th of the budget, but at least HolderFloor (and at most the
// whole budget); 0 for an unlimited budget.
func (b *Budget) HolderMax() int64 {
	if b == nil || b.max <= 0 {
		return 0
	}
	return min(max(b.max/HolderShare, HolderFloor), b.max)
}

// HeldBy returns the bytes holder holds now (taken with TryAcquireFor).
func (b *Budget) HeldBy(holder string) int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held[holder]
}

// take takes n > 0 bytes of the budget as a whole, if they fit.
func (b *Budget) take(n int64) bool {
	for {
		cur := b.inUse.Load()
		if b.max > 0 && cur+n > b.max {
			return false
		}
		if b.inUse.CompareAndSwap(cur, cur+n) {
			if cur < GCThreshold && cur+n >= GCThreshold {
				b.crossed()
			}
			return true
		}
	}
}

// Release gives back n bytes taken with TryAcquire.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	if now := b.inUse.Add(-n); now < GCThreshold && now+n >= GCThreshold {
		b.crossed()
	}
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
