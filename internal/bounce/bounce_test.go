package bounce

import (
	"testing"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		reply        string
		command      string
		typ, subtype string
		reason       string
		delay        string
	}{
		// Enhanced status codes decide regardless of wording.
		{"550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		{"550 5.1.1 Mailbox blocked for policy reasons", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		{"452 4.2.2 The email account that you tried to reach is over quota.", "RCPT", Transient, MailboxFull, ReasonMailboxFull, DelayMailboxFull},
		{"552 5.2.2 Mailbox full", "RCPT", Transient, MailboxFull, ReasonMailboxFull, ""},
		{"552 5.3.4 Message size exceeds fixed maximum message size", "DATA", Transient, MessageTooLarge, ReasonMessageTooLarge, ""},
		// The seed case: Exchange's wording without a usable class of its own.
		{"550 5.4.1 Recipient address rejected: Access denied", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		{"550 RESOLVER.ADR.RecipNotFound; not found", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		// Wording without status.
		{"550 No such user here", "RCPT", Permanent, NoEmail, ReasonUserUnknown, ""},
		{"550 Host unknown", "RCPT", Permanent, NoEmail, ReasonDomainNotFound, ""},
		{"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "RCPT", Transient, General, ReasonIPBlocklisted, ""},
		{"550 5.7.1 Message rejected due to poor reputation of the sending IP", "DATA", Transient, General, ReasonReputation, ""},
		{"550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy", "DATA", Transient, General, ReasonAuthFailure, ""},
		{"421 4.7.0 Try again later, closing connection. (rate limited)", "RCPT", Transient, General, ReasonRateLimited, DelayRecipientServerError},
		{"550 5.7.1 Relaying denied", "RCPT", Transient, General, ReasonRelayDenied, ""},
		{"554 5.6.0 Message contains a virus", "DATA", Transient, ContentRejected, ReasonVirusDetected, ""},
		// The command matters: after DATA the address was accepted.
		{"550 User unknown", "DATA", Transient, General, ReasonPolicyRejected, ""},
		{"553 5.1.8 Sender address rejected: Domain not found", "MAIL", Transient, General, ReasonSenderRejected, ""},
		// Connection-level answers Petrel synthesises.
		{"421 4.4.1 Unable to connect to remote host: connection refused", "", Transient, General, ReasonNetworkError, DelayTransientCommunication},
		{"451 4.3.0 Temporary lookup failure", "RCPT", Transient, General, ReasonNetworkError, DelayTransientCommunication},
		{"451 4.3.0 Internal server error", "DATA", Transient, General, ReasonSystemError, DelayRecipientServerError},
		// Answers about the sender: the delay names the sending IP.
		{"450 4.7.1 Client host [198.51.100.7] blocked using bl.example.test", "RCPT", Transient, General, ReasonIPBlocklisted, DelayIPFailure},
		{"450 4.7.1 <petrel>: Helo command rejected: Host not found", "RCPT", Transient, General, ReasonHELORejected, DelayIPFailure},
		// Only the class is known.
		{"550 Requested action not taken", "RCPT", Permanent, General, ReasonOther, ""},
		{"450 Requested action not taken", "RCPT", Transient, General, ReasonOther, DelayGeneral},
	}
	rules := Builtin()
	for _, c := range cases {
		v, r := classifyReply(t, rules, c.reply, c.command)
		if v.Type != c.typ || v.SubType != c.subtype || v.Reason != c.reason {
			t.Errorf("Classify(%q after %s) = %+v, want %s/%s %s", c.reply, c.command, v, c.typ, c.subtype, c.reason)
		}
		if c.delay != "" && DelayType(r, v) != c.delay {
			t.Errorf("DelayType(%q) = %s, want %s", c.reply, DelayType(r, v), c.delay)
		}
	}
	if v := rules.Classify(Answer{Text: "something went wrong"}); v.Type != Undetermined {
		t.Errorf("an answer with no code, status or class = %+v, want Undetermined", v)
	}
}

func TestReturnPath(t *testing.T) {
	secret := []byte("k")
	id := "0100019a1b2c3d4e-1a2b3c4d-1111-4222-8333-444455556666-000000"
	rp := ReturnPath(id, "3", "bounces.petrel.test", secret)
	gotID, rcpt, err := ParseReturnPath(rp, secret)
	if err != nil || gotID != id || rcpt != "3" {
		t.Fatalf("ParseReturnPath(%s) = %q %q %v", rp, gotID, rcpt, err)
	}
	if _, _, err := ParseReturnPath(rp, []byte("other")); err != ErrNotVERP {
		t.Fatal("return path verified with the wrong secret")
	}
	for _, bad := range []string{"postmaster@x.test", "b-@x", "b-a-b@x", ""} {
		if _, _, err := ParseReturnPath(bad, secret); err != ErrNotVERP {
			t.Errorf("ParseReturnPath(%q) accepted", bad)
		}
	}
}

func FuzzParseReturnPath(f *testing.F) {
	f.Add("b-0100-abc-000000-0-abcdefghijklmnop@x.test")
	f.Fuzz(func(t *testing.T, s string) {
		ParseReturnPath(s, []byte("k"))
	})
}

// classifyReply classifies the live SMTP reply text, the answer to command.
func classifyReply(t *testing.T, rules *RuleSet, reply, command string) (Verdict, smtpreply.Reply) {
	t.Helper()
	r, err := smtpreply.Parse(reply)
	if err != nil {
		t.Fatal(err)
	}
	a := AnswerOf(r)
	a.Command = command
	return rules.Classify(a), r
}
