package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/smtpreply"
)

// client is one outbound SMTP connection. It speaks just what delivery needs:
// EHLO (HELO fallback), opportunistic STARTTLS, PIPELINING (RFC 2920) when
// offered, SIZE, 8BITMIME and SMTPUTF8 as the message needs them, and one
// MAIL/RCPT/DATA transaction at a time with RSET between. Every wait for the
// server is bounded by the stage's limit in timeouts.
type client struct {
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer // writes to conn through a deadlineWriter
	ext      map[string]string
	remoteIP string
	tls      bool
	// tlsRefused is the server's negative reply to STARTTLS; zero when
	// STARTTLS was not sent or was accepted.
	tlsRefused smtpreply.Reply
	timeouts   Timeouts
	writeFor   time.Duration // limit on each write to conn, set by the stage writing
	used       int           // transactions done on this connection
}

// quitTimeout bounds the polite end of a connection (QUIT and its reply):
// nothing depends on the answer.
const quitTimeout = 2 * time.Second

// protocolError is a connection-level failure (I/O, malformed reply): the
// connection is unusable and the attempt's outcome unknown, so temporary.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// deadlineWriter writes to its client's connection, each write within the
// client's current writeFor (RFC 5321 §4.5.3.2.5 times each TCP send).
type deadlineWriter struct{ c *client }

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.conn.SetWriteDeadline(time.Now().Add(w.c.writeFor))
	return w.c.conn.Write(p)
}

// dialSMTP connects to addr, reads the greeting, says EHLO and upgrades to
// TLS when offered (unless noTLS).
func dialSMTP(ctx context.Context, addr, helo string, timeouts Timeouts, noTLS bool) (*client, error) {
	d := net.Dialer{Timeout: timeouts.Connect}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, r: bufio.NewReaderSize(conn, replyBufferSize), timeouts: timeouts}
	c.w = bufio.NewWriter(deadlineWriter{c})
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.remoteIP = ta.IP.String()
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	greet, _, err := c.read(timeouts.Greeting)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !greet.Positive() {
		c.quit()
		return nil, &refusal{reply: greet}
	}
	if err := c.hello(helo); err != nil {
		c.close()
		return nil, err
	}
	if _, ok := c.ext["STARTTLS"]; ok && !noTLS {
		r, _, err := c.cmd("STARTTLS", timeouts.Hello)
		if err != nil {
			c.close()
			return nil, err
		}
		if !r.Positive() {
			c.tlsRefused = r
		} else {
			// Anything the server sent after its 220 is discarded with the
			// old reader (STARTTLS response injection, CVE-2011-0411 class).
			host, _, _ := net.SplitHostPort(addr)
			// Opportunistic TLS (RFC 3207) without authentication: the
			// certificate is not verified, also for entries whose
			// configuration set requires TLS — SES's TlsPolicy REQUIRE asks
			// for an encrypted session, not an authenticated receiver
			// (../shared/spec/ses.md §1.8, §7).
			tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
			tc.SetDeadline(time.Now().Add(timeouts.Hello))
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, &tlsError{err}
			}
			c.conn, c.tls = tc, true
			c.r = bufio.NewReaderSize(tc, replyBufferSize) // c.w holds nothing and writes to c.conn
			if err := c.hello(helo); err != nil {
				c.close()
				return nil, err
			}
		}
	}
	return c, nil
}

// refusal is a negative answer before any transaction: to the greeting
// (command "") or to HELO after EHLO was refused too (RFC 5321 §4.1.1.1).
type refusal struct {
	command string
	reply   smtpreply.Reply
}

func (e *refusal) Error() string { return e.reply.Error() }

// tlsError marks a failed TLS handshake; the caller retries in plain text,
// as opportunistic TLS allows.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }

// hello says EHLO and reads the extensions from its reply, or falls back to
// HELO (no extensions) when EHLO is refused.
func (c *client) hello(helo string) error {
	r, lines, err := c.cmd("EHLO "+helo, c.timeouts.Hello)
	if err != nil {
		return err
	}
	if !r.Positive() {
		if r, _, err = c.cmd("HELO "+helo, c.timeouts.Hello); err != nil {
			return err
		}
		if !r.Positive() {
			return &refusal{command: "HELO", reply: r}
		}
		c.ext = map[string]string{}
		return nil
	}
	c.ext = extensions(lines)
	return nil
}

// cmd sends one command line and reads its reply, waiting at most timeout.
func (c *client) cmd(line string, timeout time.Duration) (smtpreply.Reply, []string, error) {
	if err := c.write(line, timeout); err != nil {
		return smtpreply.Reply{}, nil, err
	}
	if err := c.flush(); err != nil {
		return smtpreply.Reply{}, nil, err
	}
	return c.read(timeout)
}

// write buffers one command line; a write it causes may take timeout.
func (c *client) write(line string, timeout time.Duration) error {
	c.writeFor = timeout
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

// read reads one reply, waiting at most timeout for it to complete.
func (c *client) read(timeout time.Duration) (smtpreply.Reply, []string, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	return readReply(c.r)
}

// Petrel's verdicts on transactions it refuses to start because the server
// lacks an extension the message needs. Both are Permanent: retrying the
// same server cannot help, and SES reports an undeliverable message so.
var (
	verdictNoSMTPUTF8 = bounce.Verdict{Type: bounce.Permanent, SubType: bounce.General,
		Reason: bounce.ReasonNotAcceptingMail, Rule: bounce.RuleNoSMTPUTF8}
	verdictNo8BITMIME = bounce.Verdict{Type: bounce.Permanent, SubType: bounce.General,
		Reason: bounce.ReasonContentRejected, Rule: "delivery-8bitmime-not-offered"}
)

// send runs one transaction for msg (header and body, CRLF line endings).
// The outcome holds the RCPT reply when the recipient was refused, else the
// reply to the end of data, and the command it answered (MAIL, RCPT or
// DATA) for bounce classification: a refusal after DATA is about the
// message. An error means the connection failed and must be closed.
//
// from and rcpt must be canonical RFC 5321 Mailboxes (address.CheckEmail);
// when one is not, nothing is written and the refusal checkPaths builds is
// returned as the reply, with a nil error: the connection stays usable.
//
// The transaction needs SMTPUTF8 (RFC 6531) when an address or the header
// holds non-ASCII, and 8BITMIME (RFC 6152) when the message, header or
// body, holds 8-bit bytes (a UTF-8 header field is 8-bit content too).
// When the server offers what is needed, MAIL FROM says so (SMTPUTF8,
// BODY=8BITMIME, RFC 6531 §3.4); when it does not, nothing is written and
// the outcome is Petrel's permanent refusal, in Postfix's words: "550 5.6.7
// SMTPUTF8 is required, but was not offered by host <ip>", or "554 5.6.3
// Conversion required but not supported: …" (RFC 3463 §3.7). 8-bit data is
// never sent to a server that did not offer 8BITMIME.
func (c *client) send(ctx context.Context, from, rcpt string, msg []byte) (outcome, error) {
	o := outcome{remoteIP: c.remoteIP, tls: c.tls}
	if r, command, ok := checkPaths(from, rcpt); !ok {
		o.reply, o.command = r, command
		return o, nil
	}
	needUTF8, eightBit := needs(from, rcpt, msg)
	_, hasUTF8 := c.ext["SMTPUTF8"]
	_, has8bit := c.ext["8BITMIME"]
	switch {
	case needUTF8 && !hasUTF8:
		o.reply = smtpreply.Reply{Code: 550, Enhanced: "5.6.7", Text: "SMTPUTF8 is required, but was not offered by host " + c.remoteIP}
		o.command, o.verdict = "MAIL", &verdictNoSMTPUTF8
		return o, nil
	case eightBit && !has8bit:
		o.reply = smtpreply.Reply{Code: 554, Enhanced: "5.6.3", Text: "Conversion required but not supported: message has 8-bit content and host " +
			c.remoteIP + " does not offer 8BITMIME (RFC 6152)"}
		o.command, o.verdict = "MAIL", &verdictNo8BITMIME
		return o, nil
	}
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.used++
	mail := "MAIL FROM:<" + from + ">"
	if _, ok := c.ext["SIZE"]; ok {
		mail += fmt.Sprintf(" SIZE=%d", len(msg))
	}
	if eightBit {
		mail += " BODY=8BITMIME"
	}
	if needUTF8 {
		mail += " SMTPUTF8"
	}
	to := c.timeouts
	_, pipelining := c.ext["PIPELINING"]
	var mr, rr, dr smtpreply.Reply
	var err error
	fail := func(r smtpreply.Reply, command string, err error) (outcome, error) {
		o.reply, o.command = r, command
		return o, err
	}
	if pipelining {
		for _, l := range []string{mail, "RCPT TO:<" + rcpt + ">", "DATA"} {
			if err = c.write(l, to.Mail); err != nil {
				return fail(mr, "MAIL", err)
			}
		}
		if err = c.flush(); err != nil {
			return fail(mr, "MAIL", err)
		}
		if mr, _, err = c.read(to.Mail); err != nil {
			return fail(mr, "MAIL", err)
		}
		if rr, _, err = c.read(to.Rcpt); err != nil {
			return fail(rr, "RCPT", err)
		}
		if dr, _, err = c.read(to.Data); err != nil {
			return fail(dr, "DATA", err)
		}
	} else {
		if mr, _, err = c.cmd(mail, to.Mail); err != nil {
			return fail(mr, "MAIL", err)
		}
		if mr.Positive() {
			if rr, _, err = c.cmd("RCPT TO:<"+rcpt+">", to.Rcpt); err != nil {
				return fail(rr, "RCPT", err)
			}
			if rr.Positive() {
				if dr, _, err = c.cmd("DATA", to.Data); err != nil {
					return fail(dr, "DATA", err)
				}
			}
		}
	}
	switch {
	case !mr.Positive():
		return fail(mr, "MAIL", c.reset(dr.Code == 354))
	case !rr.Positive():
		return fail(rr, "RCPT", c.reset(dr.Code == 354))
	case dr.Code != 354:
		return fail(dr, "DATA", c.reset(false))
	}
	if err := c.writeData(msg); err != nil {
		return fail(smtpreply.Reply{}, "DATA", err)
	}
	r, _, err := c.read(to.DataEnd)
	return fail(r, "DATA", err)
}

// needs reports what a transaction of msg from from to rcpt needs beyond
// plain RFC 5321: SMTPUTF8 when an address or the header holds non-ASCII
// (UTF-8 local parts, RFC 6531, and the header fields acceptance could not
// make 7-bit, RFC 6532), 8BITMIME when the message holds 8-bit bytes.
func needs(from, rcpt string, msg []byte) (smtputf8, eightBit bool) {
	header, body := msg, []byte(nil)
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		header, body = nil, msg
	} else if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		header, body = msg[:i+2], msg[i+2:]
	}
	header8bit := has8bit(header)
	return has8bit(from) || has8bit(rcpt) || header8bit, header8bit || has8bit(body)
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
	// "" is the null reverse-path <> of system mail (RFC 5321 §4.5.5).
	if from != "" {
		if err := address.CheckEmail(from); err != nil {
			return smtpreply.Reply{Code: 553, Enhanced: "5.1.7", Text: "Sender address cannot be written in MAIL FROM: " + err.Error()}, "MAIL", false
		}
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
		if err := c.write(".", c.timeouts.DataBlock); err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		if _, _, err := c.read(c.timeouts.DataEnd); err != nil {
			return err
		}
	}
	r, _, err := c.cmd("RSET", c.timeouts.Mail)
	if err != nil {
		return err
	}
	if !r.Positive() {
		return &protocolError{fmt.Errorf("RSET refused: %s", r)}
	}
	return nil
}

// writeData sends the body dot-stuffed (RFC 5321 §4.5.2) and the final
// ".", each write to the connection within Timeouts.DataBlock. The body has
// CRLF line endings only (normalised at acceptance).
func (c *client) writeData(body []byte) error {
	c.writeFor = c.timeouts.DataBlock
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

// has8bit reports whether b holds a byte of 0x80 or more (not US-ASCII).
func has8bit[T string | []byte](b T) bool {
	for i := range len(b) {
		if b[i] >= 0x80 {
			return true
		}
	}
	return false
}

// quit ends the connection politely: QUIT, its reply, close.
func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(quitTimeout))
	c.writeFor = quitTimeout
	c.w.WriteString("QUIT\r\n")
	c.w.Flush()
	c.r.ReadSlice('\n')
	c.conn.Close()
}

func (c *client) close() { c.conn.Close() }
