package bounce

import (
	"strings"
	"testing"
)

// TestGenericStatusOverOtherClass: a DSN whose Status is generic (X.0.0)
// and of the other class than the remote server's reply says only that the
// reporting MTA gave up (Exim's 5.0.0 after its retry timeout over a 4xx
// answer): the recipient classifies as the same reply would live. A
// specific Status over a reply of the other class is the reporting MTA's
// own judgement and decides.
func TestGenericStatusOverOtherClass(t *testing.T) {
	agree := []struct {
		reply, dsnStatus string
		typ, reason      string
	}{
		{"451 4.7.1 Greylisting in action, please come back later", "5.0.0", Transient, ReasonPolicyRejected},
		{"450 4.2.0 <x@rcpt.test>: Recipient address rejected: Greylisted, see http://grey.rcpt.test", "5.0.0", Transient, ReasonPolicyRejected},
		{"452 4.2.1 Mailbox temporarily locked", "5.0.0", Transient, ReasonMailboxDisabled},
		{"450 4.2.0 Mailbox unavailable", "5.0.0", Transient, ReasonOther},
		{"421 Service not available, closing transmission channel", "5.0.0", Transient, ReasonSystemError},
		// The other way round: a permanent answer the reporting MTA still
		// calls 4.0.0 classifies as the answer.
		{"550 5.1.1 <x@rcpt.test>: Recipient address rejected: User unknown", "4.0.0", Permanent, ReasonUserUnknown},
	}
	rules := Builtin()
	for _, c := range agree {
		both := liveAndDSN(t, c.reply, c.dsnStatus)
		lv, dv := both["live"], both["DSN"]
		if lv.Type != c.typ || lv.Reason != c.reason {
			t.Errorf("live %q = %+v, want %s %s", c.reply, lv, c.typ, c.reason)
		}
		if dv != lv {
			t.Errorf("DSN %q (Status %s) = %+v, live = %+v", c.reply, c.dsnStatus, dv, lv)
		}
	}

	// A specific Status stays the reporting MTA's verdict.
	rc := Recipient{EmailAddress: "x@rcpt.test", Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 451 4.3.2 System not accepting network messages", SMTPCommand: "RCPT"}
	if v := rules.Classify(rc.Answer()); v.Type != Permanent || v.Reason != ReasonUserUnknown {
		t.Errorf("Status 5.1.1 over a 451 = %+v, want Permanent user-unknown", v)
	}

	for _, c := range []struct{ file, rcpt, reason string }{
		{"status/exim-500-over-452-retry-timeout.eml", "nia@rcpt-omega.test", ReasonMailboxDisabled},
		{"status/haraka-500-over-450-greylisted.eml", "ole@rcpt-sigma.test", ReasonPolicyRejected},
	} {
		rc, ok := onlyRecipient(t, c.file, c.rcpt)
		if v := rc.Verdict; ok && (v.Type != Transient || v.Reason != c.reason) {
			t.Errorf("%s: %+v, want Transient %s", c.file, v, c.reason)
		}
	}
}

// TestPipelinedTranscript: a Sendmail transcript of a pipelined session
// (RFC 2920: MAIL, every RCPT and DATA sent, then the replies in order)
// gives each recipient the reply to its own RCPT, multi-line replies whole,
// never the sender's "250 Sender ok" or another recipient's reply.
func TestPipelinedTranscript(t *testing.T) {
	cases := []struct {
		file          string
		want          map[string]string // address → bounce type and reason
		wantDiagnosis map[string]string // address → words its diagnostic must hold
	}{
		{"robust/sendmail-pipelined-two-refused.eml",
			map[string]string{"ann@delta.test": Permanent + " " + ReasonUserUnknown, "bob@delta.test": Transient + " " + ReasonMailboxFull},
			map[string]string{"ann@delta.test": "550 5.1.1 Please check", "bob@delta.test": "552 5.2.2"}},
		{"robust/sendmail-pipelined-sender-ok.eml",
			map[string]string{"cy@kappa.test": Permanent + " " + ReasonMailboxDisabled},
			map[string]string{"cy@kappa.test": "550 5.2.1"}},
	}
	for _, c := range cases {
		rep := classifyFixture(t, c.file)
		if len(rep.Recipients) != len(c.want) {
			t.Errorf("%s: recipients %v, want %d", c.file, addrsOf(rep.Recipients), len(c.want))
		}
		for _, rc := range rep.Recipients {
			want, ok := c.want[rc.EmailAddress]
			if !ok {
				t.Errorf("%s: unexpected recipient %s", c.file, rc.EmailAddress)
				continue
			}
			if got := rc.Type + " " + rc.Reason; got != want {
				t.Errorf("%s: %s = %s (rule %s, diagnostic %q), want %s", c.file, rc.EmailAddress, got, rc.Rule, rc.DiagnosticCode, want)
			}
			if d := c.wantDiagnosis[rc.EmailAddress]; !strings.Contains(rc.DiagnosticCode, d) || strings.Contains(rc.DiagnosticCode, "Sender ok") {
				t.Errorf("%s: %s diagnostic %q, want one holding %q and not the sender's reply", c.file, rc.EmailAddress, rc.DiagnosticCode, d)
			}
		}
	}

	// Replies pair with commands in order; a reply naming a later
	// recipient answers that one; a new session starts afresh.
	text := strings.Join([]string{
		"... while talking to a.test.:",
		">>> MAIL From:<s@sender.test>",
		">>> RCPT To:<u1@a.test>",
		">>> RCPT To:<u2@a.test>",
		">>> RCPT To:<u3@a.test>",
		"<<< 250 ok",
		"<<< 550 5.1.1 <u3@a.test>... User unknown",
		"... while talking to b.test.:",
		">>> RCPT To:<v1@b.test>",
		"<<< 451 4.3.0 try later",
	}, "\n")
	got := transcriptReplies(text)
	if len(got) != 2 || !strings.Contains(got["u3@a.test"], "User unknown") || !strings.Contains(got["v1@b.test"], "451 4.3.0") {
		t.Errorf("transcriptReplies = %q", got)
	}
}

// TestSESVerdict: an SES bounce notification's recipient without a
// diagnosticCode carries SES's own bounceType and bounceSubType, which
// ClassifyReport keeps; one with a diagnosticCode is classified by the
// rules from the remote server's answer.
func TestSESVerdict(t *testing.T) {
	for _, c := range []struct{ file, rcpt, sub string }{
		{"robust/ses-sns-suppressed-no-diagnostic.eml", "pat@rcpt.test", Suppressed},
		{"robust/ses-event-account-suppression-list.eml", "quinn@rcpt.test", OnAccountSuppressionList},
	} {
		rc, ok := onlyRecipient(t, c.file, c.rcpt)
		want := Verdict{Type: Permanent, SubType: c.sub, Reason: ReasonSuppressed, Rule: RuleSESNotification}
		if v := rc.Verdict; ok && v != want {
			t.Errorf("%s: %+v, want %+v", c.file, v, want)
		}
	}
	for _, c := range []struct {
		typ, sub string
		want     Verdict
	}{
		{Transient, MailboxFull, Verdict{Transient, MailboxFull, ReasonMailboxFull, RuleSESNotification}},
		{Permanent, "", Verdict{Permanent, General, ReasonOther, RuleSESNotification}},
		{Undetermined, Undetermined, Verdict{Undetermined, Undetermined, ReasonUndetermined, RuleSESNotification}},
		{Permanent, MailboxFull, Verdict{}}, // not a pair SES sends: the rules decide
		{"Hard", "", Verdict{}},
	} {
		if v := sesVerdict(c.typ, c.sub); v != c.want {
			t.Errorf("sesVerdict(%q, %q) = %+v, want %+v", c.typ, c.sub, v, c.want)
		}
	}
	raw := `Content-Type: text/plain

{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"sam@rcpt.test","status":"5.2.2","diagnosticCode":"smtp; 552 5.2.2 Mailbox full"}]}}
`
	rep := Parse([]byte(raw))
	Builtin().ClassifyReport(rep)
	if len(rep.Recipients) != 1 || rep.Recipients[0].Type != Transient || rep.Recipients[0].Rule == RuleSESNotification {
		t.Errorf("SES recipient with a diagnostic: %+v, want the rules' Transient verdict", rep.Recipients)
	}
}
