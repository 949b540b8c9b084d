package inbound

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/petrelmail/petrel/internal/admission"
)

// Listen wraps the receiver's listener so it keeps at most lim.MaxConns
// connections in all and lim.MaxConnsPerIP from one remote address; one
// over a limit is answered "421 4.7.0 Too many connections" (RFC 5321
// §3.8: 421 closes the channel) and closed.
func Listen(l net.Listener, lim admission.Limits) *admission.Listener {
	return admission.Listen(l, lim, func(c net.Conn, _ string) {
		c.Write([]byte("421 4.7.0 Too many connections\r\n"))
	})
}

// maxTrackedIPs bounds the per-IP limiters held at once (about 200 bytes
// each): past it, limiters whose bucket has refilled (an idle address) are
// forgotten, and if none has, an arbitrary one is.
const maxTrackedIPs = 10000

// ipRates is a token bucket per remote IP (golang.org/x/time/rate), in a
// bounded map.
type ipRates struct {
	limit rate.Limit // tokens per second; 0 = unlimited
	burst int
	max   int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// newIPRates allows perMinute messages a minute per IP, with a burst of as
// many; perMinute <= 0 allows everything.
func newIPRates(perMinute, max int) *ipRates {
	r := &ipRates{max: max, m: map[string]*rate.Limiter{}}
	if perMinute > 0 {
		r.limit, r.burst = rate.Limit(float64(perMinute)/60), perMinute
	}
	return r
}

// allow takes one token from ip's bucket at now.
func (r *ipRates) allow(ip string, now time.Time) bool {
	if r == nil || r.burst == 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.m[ip]
	if !ok {
		if len(r.m) >= r.max {
			r.evict(now)
		}
		l = rate.NewLimiter(r.limit, r.burst)
		r.m[ip] = l
	}
	return l.AllowN(now, 1)
}

// evict forgets limiters that are full again (forgetting them changes
// nothing), else one arbitrary limiter.
func (r *ipRates) evict(now time.Time) {
	for ip, l := range r.m {
		if l.TokensAt(now) >= float64(r.burst) {
			delete(r.m, ip)
		}
	}
	if len(r.m) >= r.max {
		for ip := range r.m {
			delete(r.m, ip)
			break
		}
	}
}

// tracked is how many IPs have a limiter now.
func (r *ipRates) tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
