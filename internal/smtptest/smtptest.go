// Package smtptest is a raw SMTP client for tests: a real socket from a
// chosen loopback address, sending exactly the lines a test writes and
// returning the server's replies as they are, so tests see what is on the
// wire (go-smtp's client would hide misbehaviour behind its own checks).
// Import only from _test.go files.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"testing"
	"time"
)

// Client is one SMTP connection. Conn and Text may be read and written
// directly, e.g. to send part of a message.
type Client struct {
	T    testing.TB
	Conn net.Conn
	Text *textproto.Conn
}

// Dial connects from the loopback address from (127.0.0.x) to addr and
// returns the client with the greeting's code and text. The connection is
// closed when the test ends.
func Dial(t testing.TB, from, addr string) (*Client, int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &Client{T: t, Conn: conn, Text: textproto.NewConn(conn)}
	code, msg := c.Read()
	return c, code, msg
}

// Read reads one (possibly multi-line) reply, waiting at most 10 s; code 0
// means the connection ended or the wait timed out, with the error as text.
func (c *Client) Read() (int, string) {
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, msg, err := c.Text.ReadResponse(0)
	if err != nil {
		return 0, err.Error()
	}
	return code, msg
}

// Cmd sends line and reads the reply.
func (c *Client) Cmd(line string) (int, string) {
	if err := c.Text.PrintfLine("%s", line); err != nil {
		return 0, err.Error()
	}
	return c.Read()
}

// Expect sends line ("" sends nothing, only reads) and fails the test
// unless the reply's code is want; it returns the reply's text.
func (c *Client) Expect(line string, want int) string {
	c.T.Helper()
	var code int
	var msg string
	if line == "" {
		code, msg = c.Read()
	} else {
		code, msg = c.Cmd(line)
	}
	if code != want {
		c.T.Fatalf("%.60q: %d %s, want %d", line, code, msg, want)
	}
	return msg
}

// StartTLS says EHLO, upgrades the connection with STARTTLS (any
// certificate) and says EHLO again.
func (c *Client) StartTLS() {
	c.T.Helper()
	c.Expect("EHLO client.test", 250)
	c.Expect("STARTTLS", 220)
	tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.T.Fatal(err)
	}
	c.Conn, c.Text = tc, textproto.NewConn(tc)
	c.Expect("EHLO client.test", 250)
}

// Send runs one transaction from sender@example.com to the mailbox
// simulator's success@ and returns the reply to the end of data (code 0
// when writing the body failed, with the error as text).
func (c *Client) Send(body string) (int, string) {
	c.T.Helper()
	c.Expect("MAIL FROM:<sender@example.com>", 250)
	c.Expect("RCPT TO:<success@simulator.amazonses.com>", 250)
	c.Expect("DATA", 354)
	w := c.Text.DotWriter()
	if _, err := io.WriteString(w, body); err != nil {
		return 0, err.Error()
	}
	if err := w.Close(); err != nil {
		return 0, err.Error()
	}
	return c.Read()
}

// Closed reports whether the server has closed the connection (waiting at
// most 5 s for it to).
func (c *Client) Closed() bool {
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Text.R.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}
