package e2e

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/smtptest"
)

// Hostile SMTP clients against a whole Petrel with its default limits
// (issue 10, findings 4, 9, 10). Connection handling does not depend on
// the store, so these run on SQLite only.

// starttls dials the STARTTLS port from ip and says EHLO under TLS.
func (e *env) starttls(ip string) *smtptest.Client {
	e.t.Helper()
	c, code, msg := smtptest.Dial(e.t, ip, e.d.Addr("smtp"))
	if code != 220 {
		e.t.Fatalf("greeting for %s: %d %s", ip, code, msg)
	}
	c.StartTLS()
	return c
}

func (e *env) authPlain(pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+e.d.Credentials.AccessKeyID+"\x00"+pass))
}

func (e *env) smtpPassword() string {
	return account.SMTPPassword(e.d.Credentials.SecretAccessKey, "us-east-1")
}

const hostileMsg = "From: sender@example.com\r\nTo: success@simulator.amazonses.com\r\nSubject: hi\r\n\r\nhello\r\n"

// Finding 4: 1,100 idle connections (22 addresses × 50) no longer exhaust
// file descriptors: 1,000 are held (smtp-max-conns), the rest get
// "421 4.7.0 Too many concurrent SMTP connections" at once, the API still
// answers within a second; a 51st connection from one address is refused
// while other addresses are served.
func TestHostileSMTPIdleConnections(t *testing.T) {
	e := start(t, "sqlite", nil)
	addr := e.d.Addr("smtp")
	// One address over its cap; a legitimate client elsewhere is served.
	for i := range 51 {
		_, code, msg := smtptest.Dial(t, "127.0.0.2", addr)
		if i < 50 && code != 220 {
			t.Fatalf("connection %d: %d %s", i+1, code, msg)
		}
		if i == 50 && (code != 421 || msg != "4.7.0 Too many concurrent SMTP connections") {
			t.Fatalf("51st connection from one address: %d %s, want 421 4.7.0", code, msg)
		}
	}
	c := e.starttls("127.0.0.3")
	c.Expect(e.authPlain(e.smtpPassword()), 235)
	if code, msg := c.Send(hostileMsg); code != 250 {
		t.Fatalf("legitimate client beside the idle ones: %d %s", code, msg)
	}
	c.Conn.Close()

	// 1,100 idle connections from 22 addresses (50 from 127.0.0.2 already).
	var mu sync.Mutex
	replies := map[int]int{}
	var wg sync.WaitGroup
	startAt := time.Now()
	for a := 10; a < 31; a++ {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.1.%d", a))}, Timeout: 5 * time.Second}
			for range 50 {
				code := -1 // dial failed
				if conn, err := d.Dial("tcp", addr); err == nil {
					t.Cleanup(func() { conn.Close() })
					conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					code, _, _ = textproto.NewConn(conn).ReadResponse(0)
				}
				mu.Lock()
				replies[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("1,050 more connections in %v: %v (220 held, 421 refused)", time.Since(startAt).Round(time.Millisecond), replies)
	if replies[220] != 950 || replies[421] != 100 {
		t.Fatalf("replies %v, want 950 × 220 (1,000 held in all) and 100 × 421", replies)
	}
	// The API still answers at once.
	startAt = time.Now()
	if _, err := e.ses.GetAccount(t.Context(), &sesv2.GetAccountInput{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(startAt); took > time.Second {
		t.Errorf("GetAccount took %v with 1,000 idle SMTP connections", took)
	}
	// A new SMTP client is told to come back later, not left hanging.
	if _, code, msg := smtptest.Dial(t, "127.0.0.4", addr); code != 421 {
		t.Fatalf("client at the total cap: %d %s, want 421", code, msg)
	}
}

// Finding 9: a third wrong password ends the connection (421 4.7.0), and
// failures beyond the first three from an address are answered only after
// a delay (1 s, 2 s, … then a 15-minute lockout); before, 100 wrong
// passwords on one connection were answered at once.
func TestHostileSMTPAuthGuessing(t *testing.T) {
	e := start(t, "sqlite", nil)
	c := e.starttls("127.0.0.2")
	for i := 1; i <= 3; i++ {
		start := time.Now()
		code, msg := c.Cmd(e.authPlain(fmt.Sprintf("guess-%d", i)))
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("failure %d answered after %v, want at once", i, took)
		}
		switch {
		case i < 3 && code != 535:
			t.Fatalf("failure %d: %d %s, want 535", i, code, msg)
		case i == 3 && (code != 421 || !strings.HasPrefix(msg, "4.7.0 Too many authentication failures")):
			t.Fatalf("failure %d on one connection: %d %s, want 421 4.7.0", i, code, msg)
		}
	}
	if code, msg := c.Cmd("NOOP"); code != 0 {
		t.Fatalf("connection still open after 421: NOOP got %d %s", code, msg)
	}
	c = e.starttls("127.0.0.2")
	start := time.Now()
	if code, msg := c.Cmd(e.authPlain("guess-4")); code != 535 {
		t.Fatalf("failure 4: %d %s", code, msg)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("failure 4 answered after %v, want a delay of 1 s", took)
	}
	// The right password from another address is not delayed.
	other := e.starttls("127.0.0.3")
	start = time.Now()
	other.Expect(e.authPlain(e.smtpPassword()), 235)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("legitimate AUTH took %v", took)
	}
}

// Finding 10: permanent problems get permanent replies: undecodable AUTH
// data 501 5.5.2 (RFC 4954 §4; was 454), a line over the limit in DATA
// 554 5.6.0 with the session going on (was 451, then 500 and a reset).
func TestHostileSMTPMalformed(t *testing.T) {
	e := start(t, "sqlite", nil)
	c := e.starttls("127.0.0.2")
	if code, msg := c.Cmd("AUTH PLAIN not*base64"); code != 501 || !strings.HasPrefix(msg, "5.5.2") {
		t.Fatalf("undecodable AUTH PLAIN: %d %s, want 501 5.5.2", code, msg)
	}
	c.Expect("AUTH LOGIN", 334)
	if code, msg := c.Cmd("%%%"); code != 501 || !strings.HasPrefix(msg, "5.5.2") {
		t.Fatalf("undecodable AUTH LOGIN response: %d %s, want 501 5.5.2", code, msg)
	}
	c.Expect(e.authPlain(e.smtpPassword()), 235)
	long := hostileMsg + strings.Repeat("x", 100_000) + "\r\n"
	if code, msg := c.Send(long); code != 554 || !strings.HasPrefix(msg, "5.6.0") {
		t.Fatalf("100 kB line in DATA: %d %s, want 554 5.6.0", code, msg)
	}
	if code, msg := c.Send(hostileMsg); code != 250 || !strings.HasPrefix(msg, "Ok ") {
		t.Fatalf("next message on the same connection: %d %s", code, msg)
	}
}
