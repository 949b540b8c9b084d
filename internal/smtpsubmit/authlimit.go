package smtpsubmit

import (
	"net/netip"
	"sync"
	"time"
)

// AuthPolicy bounds password guessing over SMTP AUTH. Failures are counted
// per remote IP (IPv6 per /64) and per username; a count falls back to zero
// once Window has passed without a failure. Successful authentications
// clear nothing: they end the session's own count only. Only an IP is ever
// locked out: a username's failures (from any IPs) slow down the answers
// to further failed attempts for it, never a correct password, so a
// stranger cannot lock a user out by failing on purpose (and SMTP
// passwords, derived from 30 random bytes, cannot be guessed from many IPs
// anyway).
type AuthPolicy struct {
	Free      int           // failures (of the IP or the username) answered 535 without delay
	Delay     time.Duration // wait before the 535 of the first failure beyond Free; doubles with each further one
	MaxDelay  time.Duration // longest wait before a 535
	LockAfter int           // failures of one IP within Window that lock it out
	Window    time.Duration // how long a failure counts
	LockFor   time.Duration // how long an IP's lockout lasts: AUTH answers 454 4.7.0 without checking the password
	PerConn   int           // refused AUTH attempts on one connection after which it is closed with 421 4.7.0
	MaxKeys   int           // IPs, and usernames, tracked at most (memory bound; the stalest-looking are dropped)
}

// DefaultAuthPolicy returns the policy of petrel serve: three failures free,
// then waits of 1 s, 2 s, 4 s, 8 s, 8 s … (counted per IP and per
// username, the larger count wins); an IP locked out for 15 minutes after
// 10 failures in 15 minutes; a connection closed at its third refused
// attempt; 100,000 IPs and usernames tracked.
func DefaultAuthPolicy() AuthPolicy {
	return AuthPolicy{Free: 3, Delay: time.Second, MaxDelay: 8 * time.Second, LockAfter: 10,
		Window: 15 * time.Minute, LockFor: 15 * time.Minute, PerConn: 3, MaxKeys: 100000}
}

// AuthLimiter applies an AuthPolicy. It is safe for concurrent use.
type AuthLimiter struct {
	p     AuthPolicy
	mu    sync.Mutex
	ips   authTable
	users authTable
}

// NewAuthLimiter returns a limiter with policy p.
func NewAuthLimiter(p AuthPolicy) *AuthLimiter {
	return &AuthLimiter{p: p, ips: authTable{m: map[string]*authRecord{}}, users: authTable{m: map[string]*authRecord{}}}
}

// Policy returns the limiter's policy.
func (l *AuthLimiter) Policy() AuthPolicy { return l.p }

// Locked reports whether ip is locked out now.
func (l *AuthLimiter) Locked(ip string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.ips.m[ipKey(ip)]
	return r != nil && now.Before(r.lockedUntil)
}

// Failed records a failed attempt by ip for username. It returns how long
// to wait before answering it (by the larger of the IP's and the
// username's failure counts), and whether this failure locked the IP out.
func (l *AuthLimiter) Failed(ip, username string) (wait time.Duration, locked bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ipN, ipLocked := l.ips.fail(ipKey(ip), now, l.p, l.p.LockAfter)
	userN, _ := l.users.fail(userKey(username), now, l.p, 0)
	return l.p.delay(max(ipN, userN)), ipLocked
}

// delay is the wait before answering the nth failure.
func (p AuthPolicy) delay(n int) time.Duration {
	if n <= p.Free || p.Delay <= 0 {
		return 0
	}
	d := p.Delay
	for i := p.Free + 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

type authRecord struct {
	failures    int       // within Window of last
	last        time.Time // last failure
	lockedUntil time.Time
}

type authTable struct {
	m         map[string]*authRecord
	lastSweep time.Time
}

// fail counts a failure for key and returns its count and whether it has
// just locked key out.
func (t *authTable) fail(key string, now time.Time, p AuthPolicy, lockAfter int) (int, bool) {
	r := t.m[key]
	if r == nil {
		t.makeRoom(now, p)
		r = &authRecord{}
		t.m[key] = r
	}
	if now.Sub(r.last) > p.Window {
		r.failures = 0
	}
	r.failures++
	r.last = now
	if lockAfter > 0 && r.failures >= lockAfter && !now.Before(r.lockedUntil) {
		r.lockedUntil = now.Add(p.LockFor)
		return r.failures, true
	}
	return r.failures, false
}

// makeRoom keeps the table under MaxKeys entries: it drops the records that
// no longer matter (at most once per second, as that walks the table) and,
// if the table is still full, one arbitrary record.
func (t *authTable) makeRoom(now time.Time, p AuthPolicy) {
	if p.MaxKeys <= 0 || len(t.m) < p.MaxKeys {
		return
	}
	if now.Sub(t.lastSweep) >= time.Second {
		t.lastSweep = now
		for k, r := range t.m {
			if now.Sub(r.last) > p.Window && !now.Before(r.lockedUntil) {
				delete(t.m, k)
			}
		}
	}
	for k := range t.m {
		if len(t.m) < p.MaxKeys {
			break
		}
		delete(t.m, k)
	}
}

// ipKey is the address an IP's failures are counted under: IPv4 addresses
// as they are, IPv6 addresses by their /64 (one subscriber's allocation).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// userKey bounds the length of a client-chosen username kept in memory
// (access key ids are 20 characters).
func userKey(u string) string {
	if len(u) > 64 {
		return u[:64]
	}
	return u
}
