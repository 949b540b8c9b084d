package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/smtpreply"
)

// client is one outbound SMTP connection. It speaks just what delivery needs:
// EHLO (HELO fallback), opportunistic STARTTLS, PIPELINING (RFC 2920) when
// offered, and one MAIL/RCPT/DATA transaction at a time with RSET between.
type client struct {
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	ext      map[string]string
	remoteIP string
	tls      bool
	timeout  time.Duration
	used     int // transactions done on this connection
}

// protocolError is a connection-level failure (I/O, malformed reply): the
// connection is unusable and the attempt's outcome unknown, so temporary.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// dialSMTP connects to addr, reads the greeting, says EHLO and upgrades to
// TLS when offered (unless noTLS).
func dialSMTP(ctx context.Context, addr, helo string, timeout time.Duration, noTLS bool) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn), timeout: timeout}
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.remoteIP = ta.IP.String()
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	greet, err := c.readReply()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !greet.Positive() {
		c.quit()
		return nil, greet
	}
	if err := c.hello(helo); err != nil {
		c.close()
		return nil, err
	}
	if _, ok := c.ext["STARTTLS"]; ok && !noTLS {
		r, err := c.cmd("STARTTLS")
		if err != nil {
			c.close()
			return nil, err
		}
		if r.Positive() {
			// Anything the server sent after its 220 is discarded with the
			// old reader (STARTTLS response injection, CVE-2011-0411 class).
			host, _, _ := net.SplitHostPort(addr)
			tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // opportunistic TLS (RFC 3207), no authentication
			tc.SetDeadline(time.Now().Add(timeout))
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, &tlsError{err}
			}
			c.conn, c.tls = tc, true
			c.r, c.w = bufio.NewReader(tc), bufio.NewWriter(tc)
			if err := c.hello(helo); err != nil {
				c.close()
				return nil, err
			}
		}
	}
	return c, nil
}

// tlsError marks a failed TLS handshake; the caller retries in plain text,
// as opportunistic TLS allows.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }

func (c *client) hello(helo string) error {
	r, err := c.cmd("EHLO " + helo)
	if err != nil {
		return err
	}
	if !r.Positive() {
		if r, err = c.cmd("HELO " + helo); err != nil {
			return err
		}
		if !r.Positive() {
			return r
		}
		c.ext = map[string]string{}
		return nil
	}
	c.ext = map[string]string{}
	for _, line := range strings.Split(r.Text, "; ")[1:] {
		k, v, _ := strings.Cut(line, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *client) cmd(line string) (smtpreply.Reply, error) {
	if err := c.write(line); err != nil {
		return smtpreply.Reply{}, err
	}
	if err := c.flush(); err != nil {
		return smtpreply.Reply{}, err
	}
	return c.readReply()
}

func (c *client) write(line string) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return &protocolError{err}
	}
	return nil
}

func (c *client) flush() error {
	if err := c.w.Flush(); err != nil {
		return &protocolError{err}
	}
	return nil
}

// readReply reads one (possibly multi-line) reply.
func (c *client) readReply() (smtpreply.Reply, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	var buf bytes.Buffer
	for n := 0; ; n++ {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return smtpreply.Reply{}, &protocolError{fmt.Errorf("reading reply: %w", err)}
		}
		if n > 100 || len(line) > 4096 {
			return smtpreply.Reply{}, &protocolError{errors.New("reply too long")}
		}
		buf.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	r, err := smtpreply.Parse(buf.String())
	if err != nil {
		return r, &protocolError{err}
	}
	return r, nil
}

// send runs one transaction. It returns the RCPT reply when the recipient was
// refused, else the reply to the end of data. An error means the connection
// failed and must be closed.
//
// The command the final reply answered (MAIL, RCPT or DATA) is returned for
// bounce classification: a refusal after DATA is about the message.
//
// from and rcpt must be canonical RFC 5321 Mailboxes (address.CheckEmail);
// when one is not, nothing is written and the refusal checkPaths builds is
// returned as the reply, with a nil error: the connection stays usable.
func (c *client) send(ctx context.Context, from, rcpt string, body []byte) (smtpreply.Reply, string, error) {
	if r, command, ok := checkPaths(from, rcpt); !ok {
		return r, command, nil
	}
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.used++
	mail := "MAIL FROM:<" + from + ">"
	if _, ok := c.ext["SIZE"]; ok {
		mail += fmt.Sprintf(" SIZE=%d", len(body))
	}
	if _, ok := c.ext["8BITMIME"]; ok && has8bit(body) {
		mail += " BODY=8BITMIME"
	}
	_, pipelining := c.ext["PIPELINING"]
	var mr, rr, dr smtpreply.Reply
	var err error
	if pipelining {
		for _, l := range []string{mail, "RCPT TO:<" + rcpt + ">", "DATA"} {
			if err = c.write(l); err != nil {
				return mr, "MAIL", err
			}
		}
		if err = c.flush(); err != nil {
			return mr, "MAIL", err
		}
		if mr, err = c.readReply(); err != nil {
			return mr, "MAIL", err
		}
		if rr, err = c.readReply(); err != nil {
			return rr, "RCPT", err
		}
		if dr, err = c.readReply(); err != nil {
			return dr, "DATA", err
		}
	} else {
		if mr, err = c.cmd(mail); err != nil {
			return mr, "MAIL", err
		}
		if mr.Positive() {
			if rr, err = c.cmd("RCPT TO:<" + rcpt + ">"); err != nil {
				return rr, "RCPT", err
			}
			if rr.Positive() {
				if dr, err = c.cmd("DATA"); err != nil {
					return dr, "DATA", err
				}
			}
		}
	}
	switch {
	case !mr.Positive():
		return mr, "MAIL", c.reset(dr.Code == 354)
	case !rr.Positive():
		return rr, "RCPT", c.reset(dr.Code == 354)
	case dr.Code != 354:
		return dr, "DATA", c.reset(false)
	}
	if err := c.writeData(body); err != nil {
		return smtpreply.Reply{}, "DATA", err
	}
	r, err := c.readReply()
	return r, "DATA", err
}

// checkPaths is the last check before a reverse-path and a forward-path
// are written into MAIL FROM and RCPT TO: each must be a canonical RFC 5321
// §4.1.2 Mailbox (address.CheckEmail), which cannot end the command early,
// add ESMTP parameters (RCPT TO:<a> NOTIFY=NEVER@x>) or start another
// command. Otherwise it returns ok false and a permanent refusal for this
// recipient, as a reply to the command that could not be written: 553 5.1.7
// for the sender (RFC 3463 bad sender's mailbox address syntax), 553 5.1.3
// for the recipient (bad destination mailbox address syntax).
func checkPaths(from, rcpt string) (r smtpreply.Reply, command string, ok bool) {
	if err := address.CheckEmail(from); err != nil {
		return smtpreply.Reply{Code: 553, Enhanced: "5.1.7", Text: "Sender address cannot be written in MAIL FROM: " + err.Error()}, "MAIL", false
	}
	if err := address.CheckEmail(rcpt); err != nil {
		return smtpreply.Reply{Code: 553, Enhanced: "5.1.3", Text: "Recipient address cannot be written in RCPT TO: " + err.Error()}, "RCPT", false
	}
	return smtpreply.Reply{}, "", true
}

// reset ends a failed transaction. When the server nevertheless started
// DATA (pipelined DATA after a refused RCPT), an empty message is sent and
// its reply ignored — the server must refuse it for lack of recipients.
func (c *client) reset(inData bool) error {
	if inData {
		if err := c.write("."); err != nil {
			return err
		}
		c.flush()
		if _, err := c.readReply(); err != nil {
			return err
		}
	}
	r, err := c.cmd("RSET")
	if err != nil {
		return err
	}
	if !r.Positive() {
		return &protocolError{fmt.Errorf("RSET refused: %s", r)}
	}
	return nil
}

// writeData sends the body dot-stuffed (RFC 5321 §4.5.2) and the final
// ".". The body has CRLF line endings only (normalised at acceptance).
func (c *client) writeData(body []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout + time.Duration(len(body)/1024)*time.Millisecond))
	atLineStart := true
	for len(body) > 0 {
		if atLineStart && body[0] == '.' {
			if err := c.w.WriteByte('.'); err != nil {
				return &protocolError{err}
			}
		}
		i := bytes.Index(body, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, body = body, nil
			atLineStart = false
		} else {
			line, body = body[:i+2], body[i+2:]
			atLineStart = true
		}
		if _, err := c.w.Write(line); err != nil {
			return &protocolError{err}
		}
	}
	end := ".\r\n"
	if !atLineStart {
		end = "\r\n.\r\n"
	}
	if _, err := io.WriteString(c.w, end); err != nil {
		return &protocolError{err}
	}
	return c.flush()
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	c.w.WriteString("QUIT\r\n")
	c.w.Flush()
	c.r.ReadString('\n')
	c.conn.Close()
}

func (c *client) close() { c.conn.Close() }
