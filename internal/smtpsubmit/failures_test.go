package smtpsubmit

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/smtptest"
)

// assertNothingStored fails unless the store holds no message, queue
// entry or event.
func (ts *testServer) assertNothingStored(t *testing.T) {
	t.Helper()
	for _, table := range []string{"messages", "queue", "events"} {
		var n int
		if err := ts.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows (%v) after a refused message", table, n, err)
		}
	}
}

// TestDKIMFailureIsTemporary (issue 11, finding 1): a DKIM key that cannot
// sign was answered "554 5.6.0 Transaction failed" — permanent, the
// message's fault, so the client gives it up. It is Petrel's fault:
// "451 4.3.0" (the client retries), logged at Error with the identity, and
// nothing is stored.
func TestDKIMFailureIsTemporary(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	if _, err := ts.ids.GenerateDKIM(t.Context(), "acme", "example.com", dkim.Ed25519); err != nil {
		t.Fatal(err)
	}
	// A key the signer refuses (a row written wrong).
	if _, err := ts.db.ExecContext(t.Context(), "UPDATE dkim_keys SET selector = '' WHERE identity = 'example.com'"); err != nil {
		t.Fatal(err)
	}
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	code, msg := c.Send(testMessage)
	if code != 451 || !strings.HasPrefix(msg, "4.3.0 ") {
		t.Fatalf("send with a key that cannot sign: %d %s, want 451 4.3.0", code, msg)
	}
	if log := ts.log.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "identity=example.com") ||
		!strings.Contains(log, `op="DKIM signing"`) {
		t.Errorf("not logged at Error with the identity:\n%s", log)
	}
	ts.assertNothingStored(t)
	// The session goes on.
	c.Expect("RSET", 250)
	c.Expect("NOOP", 250)
}

// TestShutdownCancelsSession (issue 11, finding 5): sessions ran on
// context.Background, so a shutdown did not reach their work in flight.
// Their context now derives from Backend.BaseContext: once it is
// cancelled, a message whose DATA ends is answered 421 4.3.2 and the
// connection closed (nothing stored: the client retries it elsewhere or
// later), and an idle session is told 421 at its next MAIL.
func TestShutdownCancelsSession(t *testing.T) {
	run, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	ts := startServer(t, serverOpts{policy: testPolicy(), baseContext: func() context.Context { return run }})
	inData := ts.secure(t, "127.0.0.2")
	inData.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	inData.Expect("MAIL FROM:<sender@example.com>", 250)
	inData.Expect("RCPT TO:<success@simulator.amazonses.com>", 250)
	inData.Expect("DATA", 354)
	w := inData.Text.DotWriter()
	if _, err := io.WriteString(w, testMessage); err != nil {
		t.Fatal(err)
	}
	idle := ts.secure(t, "127.0.0.3")
	idle.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)

	shutdown()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if code, msg := inData.Read(); code != 421 || !strings.HasPrefix(msg, "4.3.2 ") {
		t.Fatalf("end of DATA after shutdown: %d %s, want 421 4.3.2", code, msg)
	}
	if !inData.Closed() {
		t.Error("connection open after 421")
	}
	if code, msg := idle.Cmd("MAIL FROM:<sender@example.com>"); code != 421 || !strings.HasPrefix(msg, "4.3.2 ") {
		t.Fatalf("MAIL after shutdown: %d %s, want 421 4.3.2", code, msg)
	}
	ts.assertNothingStored(t)
	// New connections are told too.
	late, code, msg := smtptest.Dial(t, "127.0.0.4", ts.addr)
	if code != 220 {
		t.Fatalf("greeting: %d %s", code, msg)
	}
	if code, msg := late.Cmd("EHLO client.test"); code != 421 {
		t.Fatalf("EHLO after shutdown: %d %s, want 421", code, msg)
	}
}
