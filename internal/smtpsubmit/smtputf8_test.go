package smtpsubmit

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestSMTPUTF8: SMTPUTF8 is offered (RFC 6531 §3.1); with the SMTPUTF8
// parameter of MAIL FROM, UTF-8 addresses are taken and the recipient is
// queued with its domain in A-labels; without it, they are refused with
// 5.6.7 (RFC 6531 §3.5: 550 for MAIL, 553 for RCPT), for that transaction
// only.
func TestSMTPUTF8(t *testing.T) {
	ts := startServer(t, serverOpts{policy: testPolicy()})
	c := ts.secure(t, "127.0.0.2")
	if ehlo := c.Expect("EHLO client.test", 250); !strings.Contains(ehlo, "\nSMTPUTF8") {
		t.Fatalf("EHLO does not offer SMTPUTF8: %q", ehlo)
	}
	c.Expect(plain(ts.key.AccessKeyID, ts.pass), 235)

	for _, tc := range []struct{ cmd, want string }{
		{"MAIL FROM:<用户@example.com>", "550 5.6.7 Non-ASCII sender address requires SMTPUTF8"},
		{"MAIL FROM:<sender@example.com>", "250"},
		{"RCPT TO:<用户@例え.jp>", "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"},
		{"RCPT TO:<user@例え.jp>", "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"},
		{`RCPT TO:<"用 户"@xn--r8jz45g.jp>`, "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"},
		{"RSET", "250"},
		{"MAIL FROM:<sender@example.com> SMTPUTF8", "250"},
		{"RCPT TO:<用户@xn--zz.jp>", "553 5.1.3 address unknown"},
		{"RCPT TO:<用户\u0085@例え.jp>", "553 5.1.3 address unknown"},
		{"RCPT TO:<ok@例え.jp>", "250"},
		{"RSET", "250"}, // SMTPUTF8 holds for one transaction
		{"MAIL FROM:<sender@example.com>", "250"},
		{"RCPT TO:<用户@例え.jp>", "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"},
		{"RSET", "250"},
	} {
		code, msg := c.Cmd(tc.cmd)
		got := fmt.Sprintf("%d %s", code, msg)
		if !strings.HasPrefix(got, tc.want) || (code != 250 && got != tc.want) {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}

	c.Expect("MAIL FROM:<用户@example.com> SMTPUTF8", 250)
	c.Expect("RCPT TO:<用户@例え.jp>", 250)
	c.Expect(`RCPT TO:<"用户.x"@Bücher.example>`, 250)
	c.Expect("DATA", 354)
	w := c.Text.DotWriter()
	io.WriteString(w, "From: 用户@example.com\r\nTo: 用户@例え.jp, 用户.x@bücher.example\r\nSubject: hi\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code, msg := c.Read()
	if code != 250 {
		t.Fatalf("end of DATA: %d %s", code, msg)
	}
	id := strings.TrimPrefix(msg, "Ok ")
	rows, err := ts.db.QueryContext(t.Context(), ts.db.Rebind("SELECT rcpt, domain FROM queue WHERE message_id = ? ORDER BY id"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var rcpt, domain string
		if err := rows.Scan(&rcpt, &domain); err != nil {
			t.Fatal(err)
		}
		got = append(got, rcpt+" "+domain)
	}
	want := []string{"用户@xn--r8jz45g.jp xn--r8jz45g.jp", "用户.x@xn--bcher-kva.example xn--bcher-kva.example"}
	if rows.Err() != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued %q, %v; want %q", got, rows.Err(), want)
	}
}
