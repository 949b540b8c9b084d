package bounce

import "testing"

// TestExplanationFixtures: what the receiver explains — the per-recipient
// text, a vendor field of the DSN — decides before the default for an
// unexplained 5xx; a failure of the receiver's own delivery program or a
// mail loop is Transient; the report's generic "failed permanently"
// preamble is no reason at all.
func TestExplanationFixtures(t *testing.T) {
	cases := []struct {
		file, rcpt, typ, subType, reason string
	}{
		{"exchange-supplementary-info.eml", "ned@corp.test", Transient, MailboxFull, ReasonMailboxFull},
		{"domino-hop-count.eml", "oda@notes.test", Transient, General, ReasonSystemError},
		{"postfix-exim-mail-loop.eml", "pia@fwd.test", Transient, General, ReasonSystemError},
		{"exim-dsn-pipe-tempfail.eml", "quin@host.test", Transient, General, ReasonSystemError},
		{"exim-dsn-pipe-text-only.eml", "rosa@host.test", Transient, General, ReasonSystemError}, // no Diagnostic-Code: the explanation, not status-5
		{"postfix-pipe-cantcreat.eml", "rob@home.test", Transient, General, ReasonSystemError},
		{"gmail-preamble-only.eml", "sue@rcpt.test", Transient, General, ReasonOther},
	}
	for _, c := range cases {
		rc, ok := onlyRecipient(t, "explanation/"+c.file, c.rcpt)
		if v := rc.Verdict; ok && (v.Type != c.typ || v.SubType != c.subType || v.Reason != c.reason) {
			t.Errorf("%s: %s = %+v, want %s/%s %s", c.file, c.rcpt, v, c.typ, c.subType, c.reason)
		}
	}
}

// TestDiagnosticText: the text the rules read of a DSN diagnostic is the
// remote server's reply, shaped as a live reply's, without the reporting
// MTA's boilerplate; the command it names is kept.
func TestDiagnosticText(t *testing.T) {
	cases := []struct {
		diag, text, command string
		code                int
	}{
		{"smtp; 550 5.1.1 <a@rcpt.test>: user unknown", "<a@rcpt.test>: user unknown", "", 550},
		{"smtp; 550-5.7.26 Unauthenticated email 550-5.7.26 is not accepted 550 5.7.26 here", "Unauthenticated email; is not accepted; here", "", 550},
		{"X-Postfix; host mx.rcpt.test[192.0.2.1] said: 550 5.1.1 <a@rcpt.test>: user unknown (in reply to RCPT TO command)",
			"host mx.rcpt.test[192.0.2.1] said: <a@rcpt.test>: user unknown", "RCPT", 550},
		{"This message was created automatically by mail delivery software. A message that you sent could not be delivered to one or more of its recipients. This is a permanent error. The following address(es) failed: a@rcpt.test SMTP error from remote mail server after EHLO mta1.petrel.test: 550 Rejected",
			"a@rcpt.test SMTP error from remote mail server after EHLO mta1.petrel.test: Rejected", "EHLO", 550},
		{"Delivery to the following recipient failed permanently: a@rcpt.test", "a@rcpt.test", "", 0},
		{"<a@rcpt.test>... while talking to mx.rcpt.test.: >>> HELO mta1.petrel.test <<< 554 Go away", "<a@rcpt.test>... while talking to mx.rcpt.test.: >>> HELO mta1.petrel.test <<< Go away", "EHLO", 554},
		{"smtp; 552 5.2.2 Mailbox full; try again after 552 messages", "Mailbox full; try again after 552 messages", "", 552},
	}
	for _, c := range cases {
		a := parseDiagnostic(c.diag)
		if a.Text != c.text || a.Command != c.command || a.Code != c.code {
			t.Errorf("parseDiagnostic(%q) = text %q command %q code %d, want %q %q %d", c.diag, a.Text, a.Command, a.Code, c.text, c.command, c.code)
		}
	}
}

// TestVendorDiagnostic: a DSN without Diagnostic-Code carries the answer in
// a vendor field; Diagnostic-Code wins when there is one, in either order.
func TestVendorDiagnostic(t *testing.T) {
	cases := []struct{ fields, want string }{
		{"Final-Recipient: rfc822; a@rcpt.test\nAction: failed\nStatus: 5.0.0\nX-Supplementary-Info: <mx.rcpt.test #5.1.1 smtp;550 5.1.1 User unknown>\n",
			"smtp;550 5.1.1 User unknown"},
		{"Final-Recipient: rfc822; a@rcpt.test\nAction: failed\nStatus: 5.0.0\nX-Exim-Diagnostic: X-str; Child process of pipe transport returned 75 (EX_TEMPFAIL)\nDiagnostic-Code: smtp; 550 5.2.2 Mailbox full\n",
			"smtp; 550 5.2.2 Mailbox full"},
		{"Final-Recipient: rfc822; a@rcpt.test\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 5.2.2 Mailbox full\nX-Supplementary-Info: <mx.rcpt.test #5.0.0 smtp;550 Rejected>\n",
			"smtp; 550 5.2.2 Mailbox full"},
		{"Final-Recipient: rfc822; a@rcpt.test\nAction: failed\nStatus: 5.0.0\nX-Supplementary-Info: Mailbox quota exceeded\n",
			"Mailbox quota exceeded"},
	}
	for _, c := range cases {
		rcpts, _ := dsnFields([]byte("Reporting-MTA: dns; mx.relay.test\n\n" + c.fields))
		if len(rcpts) != 1 || rcpts[0].DiagnosticCode != c.want {
			t.Errorf("dsnFields(%q) = %+v, want diagnostic %q", c.fields, rcpts, c.want)
		}
	}
}
