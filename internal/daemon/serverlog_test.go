package daemon

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestServerErrorsInLog (issue 11, finding 4): the servers' own error
// lines — go-smtp's ErrorLog (a *log.Logger to stderr by default) and
// net/http's (stderr when nil) — bypassed the daemon's log. They reach it
// now, with the component: a plain-text client on the implicit-TLS port
// (submission), a connection reset while the server reads (return path), and
// net/http's ErrorLog (the API).
func TestServerErrorsInLog(t *testing.T) {
	td := startDaemon(t, nil)

	c, err := net.Dial("tcp", td.d.Addr("smtps"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "EHLO plain.test\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, c) // until the server closes
	c.Close()
	td.waitLog(t, "component=smtp", "first record does not look like a TLS handshake")

	in, err := net.Dial("tcp", td.d.Addr("inbound"))
	if err != nil {
		t.Fatal(err)
	}
	in.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(in).ReadString('\n'); err != nil { // the greeting
		t.Fatal(err)
	}
	in.(*net.TCPConn).SetLinger(0) // close with a reset: the server's read fails
	in.Close()
	td.waitLog(t, "component=inbound", "connection reset by peer")

	td.d.httpSrv.ErrorLog.Printf("http: TLS handshake error from 127.0.0.1:1: EOF")
	td.waitLog(t, "component=api", "http: TLS handshake error from 127.0.0.1:1: EOF")
	td.d.httpSrv.ErrorLog.Printf("http: panic serving 127.0.0.1:2: boom\ngoroutine 1 [running]:")
	td.waitLog(t, "level=ERROR", "component=api", "panic serving 127.0.0.1:2: boom")
}
