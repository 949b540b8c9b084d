package smtpsubmit

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/quota"
)

// TestThrottlingReplies: over the sending rate or the daily quota, the end
// of DATA is answered with SES's 454 4.7.0 Throttling failure replies
// (../shared/spec/ses.md §3.4) on a real socket, the session goes on, and
// the throttled message is not stored.
func TestThrottlingReplies(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ts.be.Sender.Quota = quota.New(ts.db, quota.Config{Node: "test", Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err := ts.accts.SetQuota(t.Context(), "acme", account.Quota{Max24HourSend: 2, MaxSendRate: 1}); err != nil {
		t.Fatal(err)
	}
	c := ts.secure(t, "127.0.0.2")
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)
	send := func(rcpt string) (int, string) {
		t.Helper()
		c.Expect("MAIL FROM:<sender@example.com>", 250)
		c.Expect("RCPT TO:<"+rcpt+">", 250)
		c.Expect("DATA", 354)
		w := c.Text.DotWriter()
		io.WriteString(w, "From: sender@example.com\r\nTo: "+rcpt+"\r\nSubject: hi\r\n\r\nhello\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return c.Read()
	}
	steps := []struct {
		advance time.Duration
		rcpt    string
		code    int
		msg     string
	}{
		{0, "a@example.net", 250, ""},
		{0, "b@example.net", 454, "4.7.0 Throttling failure: Maximum sending rate exceeded"},
		{0, "success@simulator.amazonses.com", 454, "4.7.0 Throttling failure: Maximum sending rate exceeded"},
		{time.Second, "b@example.net", 250, ""},
		{time.Second, "c@example.net", 454, "4.7.0 Throttling failure: Daily message quota exceeded"},
		{0, "success@simulator.amazonses.com", 250, ""},
	}
	for i, st := range steps {
		mu.Lock()
		now = now.Add(st.advance)
		mu.Unlock()
		code, msg := send(st.rcpt)
		if code != st.code || st.msg != "" && msg != st.msg {
			t.Errorf("step %d (%s): %d %s; want %d %s", i+1, st.rcpt, code, msg, st.code, st.msg)
		}
	}
	var stored int
	if err := ts.db.QueryRow("SELECT COUNT(*) FROM messages").Scan(&stored); err != nil || stored != 3 {
		t.Errorf("%d messages stored, %v; want 3 (the throttled ones not)", stored, err)
	}
}
