package daemon

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/smtptest"
)

// dialSMTP connects from the loopback address ip to addr and reads the
// greeting.
func dialSMTP(t *testing.T, ip, addr string) *smtptest.Client {
	t.Helper()
	c, code, msg := smtptest.Dial(t, ip, addr)
	if code != 220 {
		t.Fatalf("greeting: %d %s", code, msg)
	}
	return c
}

// startData runs a transaction up to the message's last line, without
// the final dot.
func startData(c *smtptest.Client, from, to, msg string) {
	c.T.Helper()
	c.Expect("EHLO client.test", 250)
	c.Expect("MAIL FROM:<"+from+">", 250)
	c.Expect("RCPT TO:<"+to+">", 250)
	c.Expect("DATA", 354)
	if _, err := c.Text.W.WriteString(msg); err != nil {
		c.T.Fatal(err)
	}
	c.Text.W.Flush()
}

// startSubmitting starts a daemon (startDaemon with tweak) where clients
// on 127.0.0.2 submit without AUTH (a network credential) as
// sender@example.com.
func startSubmitting(t *testing.T, tweak func(*config.Config)) *testDaemon {
	t.Helper()
	td := startDaemon(t, tweak)
	svc := td.d.Services()
	if _, err := svc.Accounts.AddNetwork(t.Context(), DefaultAccount, "127.0.0.2/32"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identities.Create(t.Context(), DefaultAccount, "example.com", true); err != nil {
		t.Fatal(err)
	}
	return td
}

// TestShutdownCancelsSessions (issue 11, finding 5): SMTP sessions ran on
// context.Background, so a shutdown did not reach their work. Their
// context now derives from Run's: a message whose DATA is in progress
// when shutdown begins is refused with 421 4.3.2 at once, on both the
// submission and the return-path listener, and nothing of it is stored
// (the client retries); Run returns.
func TestShutdownCancelsSessions(t *testing.T) {
	td := startSubmitting(t, nil)
	submit := dialSMTP(t, "127.0.0.2", td.d.Addr("smtp"))
	startData(submit, "sender@example.com", "success@simulator.amazonses.com",
		"From: sender@example.com\r\nTo: success@simulator.amazonses.com\r\nSubject: s\r\n\r\nbody\r\n")
	bounce := dialSMTP(t, "127.0.0.3", td.d.Addr("inbound"))
	startData(bounce, "", "postmaster@petrel.test",
		"From: MAILER-DAEMON@mx.example.net\r\nTo: postmaster@petrel.test\r\nSubject: Undelivered\r\n\r\nbody\r\n")

	td.cancel()
	// The upload is cut short at once (the client has not sent its final
	// "." and never will): the reply comes without it.
	for name, c := range map[string]*smtptest.Client{"submission": submit, "return path": bounce} {
		if msg := c.Expect("", 421); !strings.HasPrefix(msg, "4.3.2 ") {
			t.Errorf("%s: DATA in progress at shutdown: 421 %s, want 421 4.3.2", name, msg)
		}
	}
	if err := <-td.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	td.cancel = nil

	svc, err := Open(t.Context(), td.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for _, table := range []string{"messages", "queue", "events", "inbound_messages"} {
		var n int
		if err := svc.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows (%v) after shutdown refused the message", table, n, err)
		}
	}
}

// TestShutdownEndsIdleSessions: a client connected but waiting (pooled
// connections of nodemailer or Postfix) held shutdown for the whole grace
// period and then saw the connection drop without a reply. Each waiting
// session, on both listeners, now gets 421 4.3.2 at once (RFC 5321 §3.8);
// the grace period is long here, so without that the clients' reads time
// out first.
func TestShutdownEndsIdleSessions(t *testing.T) {
	td := startDaemon(t, func(c *config.Config) { c.ShutdownGrace = config.Duration(10 * time.Minute) })
	greeted := dialSMTP(t, "127.0.0.2", td.d.Addr("smtp"))
	helloed := dialSMTP(t, "127.0.0.2", td.d.Addr("smtp"))
	helloed.Expect("EHLO client.test", 250)
	inbound := dialSMTP(t, "127.0.0.3", td.d.Addr("inbound"))

	td.cancel()
	for name, c := range map[string]*smtptest.Client{"submission after greeting": greeted, "submission after EHLO": helloed, "return path": inbound} {
		if msg := c.Expect("", 421); !strings.HasPrefix(msg, "4.3.2 ") {
			t.Errorf("%s: 421 %s at shutdown, want 421 4.3.2", name, msg)
		}
	}
	if err := <-td.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	td.cancel = nil
}

// TestShutdownCutsChunk: a BDAT chunk (RFC 3030) still arriving when
// shutdown begins was answered "554 5.0.0 Error: transaction failed: read
// tcp …: i/o timeout" — a permanent failure, so the client's MTA bounced a
// message it should have retried. It gets 421 4.3.2 and nothing is stored.
func TestShutdownCutsChunk(t *testing.T) {
	td := startSubmitting(t, nil)
	c := dialSMTP(t, "127.0.0.2", td.d.Addr("smtp"))
	c.Expect("EHLO client.test", 250)
	c.Expect("MAIL FROM:<sender@example.com>", 250)
	c.Expect("RCPT TO:<success@simulator.amazonses.com>", 250)
	c.Text.W.WriteString("BDAT 100000\r\nFrom: sender@example.com\r\nSubject: s\r\n\r\npart of the chunk")
	c.Text.W.Flush()
	td.cancel()
	if msg := c.Expect("", 421); !strings.HasPrefix(msg, "4.3.2 ") {
		t.Errorf("BDAT chunk cut short by shutdown: 421 %s, want 421 4.3.2", msg)
	}
	if err := <-td.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	td.cancel = nil
}

// TestMessageIDDomain (issue 11, finding 3): the Message-ID header Petrel
// writes is <MessageId@hostname> unless --message-id-domain says
// otherwise (SES writes an amazonses.com domain, which clients such as
// nodemailer assume).
func TestMessageIDDomain(t *testing.T) {
	for _, c := range []struct{ set, want string }{{"", "petrel.test"}, {"email.amazonses.com", "email.amazonses.com"}} {
		t.Run(c.want, func(t *testing.T) {
			mx := mxtest.Start(t, "127.0.0.5", 0)
			td := startSubmitting(t, func(cfg *config.Config) { cfg.MessageIDDomain, cfg.RelayHost = c.set, mx.Addr })
			sc := dialSMTP(t, "127.0.0.2", td.d.Addr("smtp"))
			startData(sc, "sender@example.com", "rcpt@example.net",
				"From: sender@example.com\r\nTo: rcpt@example.net\r\nMessage-ID: <mine@client.test>\r\nSubject: s\r\n\r\nbody\r\n")
			id, ok := strings.CutPrefix(sc.Expect(".", 250), "Ok ")
			if !ok {
				t.Fatal("no message ID in the 250")
			}
			for deadline := time.Now().Add(10 * time.Second); len(mx.Messages()) == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("nothing delivered to the relay")
				}
			}
			want := "\r\nMessage-ID: <" + id + "@" + c.want + ">\r\n"
			if data := mx.Messages()[0].Data; !bytes.Contains(data, []byte(want)) {
				t.Fatalf("delivered message lacks %q:\n%s", want, data)
			}
		})
	}
}
