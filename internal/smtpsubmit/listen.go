package smtpsubmit

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/admission"
)

// DefaultAuthDeadline is how long a connection may take from its accept to
// a successful AUTH (or, from a network credential's range, to its EHLO)
// before it is closed with 421 4.4.2. Mail clients authenticate within a
// second; an idle or dribbling stranger is let go long before go-smtp's
// 5-minute per-command timeout.
const DefaultAuthDeadline = 60 * time.Second

// ListenConfig is how a submission listener admits connections.
type ListenConfig struct {
	Limits       admission.Limits // concurrent connections, in all and per remote IP
	AuthDeadline time.Duration    // from accept to authentication (0: DefaultAuthDeadline)
	// ImplicitTLS, when set, makes this a TLS-from-the-first-byte listener
	// (SMTPS); connections over the limits are then closed without a reply,
	// as no plaintext may be written there. Otherwise they are told
	// "421 4.7.0 Too many concurrent SMTP connections" (SES's text).
	ImplicitTLS *tls.Config
}

// Listen wraps a bound TCP listener for a server from NewServer: admission
// of connections within cfg.Limits (refusals logged, rate-limited), the
// authentication deadline, and TLS for implicit-TLS listeners.
func (b *Backend) Listen(l net.Listener, cfg ListenConfig) net.Listener {
	refuse := func(c net.Conn, reason string) {
		b.refused("connection limit", "remote_ip", admission.RemoteIP(c), "reason", reason)
		if cfg.ImplicitTLS == nil {
			io.WriteString(c, "421 4.7.0 Too many concurrent SMTP connections\r\n")
		}
	}
	deadline := cfg.AuthDeadline
	if deadline <= 0 {
		deadline = DefaultAuthDeadline
	}
	var out net.Listener = &authDeadlineListener{Listener: admission.Listen(l, cfg.Limits, refuse), d: deadline}
	if cfg.ImplicitTLS != nil {
		out = tls.NewListener(out, cfg.ImplicitTLS)
	}
	return out
}

type authDeadlineListener struct {
	net.Listener
	d time.Duration
}

func (l *authDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, authBy: time.Now().Add(l.d)}, nil
}

// conn is a submission connection under TLS (if any), where go-smtp's read
// deadlines arrive. Until the session authenticates, every read deadline is
// brought forward to authBy, so that a connection cannot stay
// unauthenticated by sending a line now and then.
type conn struct {
	net.Conn
	mu     sync.Mutex
	authBy time.Time // zero once authenticated
}

func (c *conn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *conn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }

func (c *conn) clamp(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.authBy.IsZero() && (t.IsZero() || t.After(c.authBy)) {
		return c.authBy
	}
	return t
}

// authenticated lifts the authentication deadline; the next command's read
// deadline is go-smtp's own.
func (c *conn) authenticated() {
	c.mu.Lock()
	c.authBy = time.Time{}
	c.mu.Unlock()
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

// connOf finds the conn under a session's connection (below TLS, if any);
// nil when the server was not given a listener from Listen.
func connOf(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, _ := c.(*conn)
	return sc
}
