package bounce

import "testing"

// TestTransactionScoped: verdicts about the message's size or content, and
// Petrel's SMTPUTF8 refusal for an ASCII recipient, are not about the
// recipient; everything else is as SenderScoped says.
func TestTransactionScoped(t *testing.T) {
	cases := []struct {
		v    Verdict
		rcpt string
		want bool
	}{
		{Verdict{Type: Transient, Reason: ReasonMessageTooLarge}, "a@x.test", true},
		{Verdict{Type: Transient, Reason: ReasonSpamBlocked}, "a@x.test", true},
		{Verdict{Type: Transient, Reason: ReasonVirusDetected}, "a@x.test", true},
		{Verdict{Type: Permanent, Reason: ReasonContentRejected, Rule: "delivery-8bitmime-not-offered"}, "a@x.test", true},
		{Verdict{Type: Permanent, Reason: ReasonNotAcceptingMail, Rule: RuleNoSMTPUTF8}, "a@x.test", true},
		{Verdict{Type: Permanent, Reason: ReasonNotAcceptingMail, Rule: RuleNoSMTPUTF8}, "jürgen@x.test", false},
		{Verdict{Type: Permanent, Reason: ReasonNotAcceptingMail, Rule: "null-mx"}, "a@x.test", false},
		{Verdict{Type: Permanent, Reason: ReasonUserUnknown}, "a@x.test", false},
		{Verdict{Type: Transient, Reason: ReasonMailboxFull}, "a@x.test", false},
		{Verdict{Type: Transient, Reason: ReasonRateLimited}, "a@x.test", false}, // sender-scoped, not this
	}
	for _, c := range cases {
		if got := TransactionScoped(c.v, c.rcpt); got != c.want {
			t.Errorf("TransactionScoped(%+v, %q) = %v, want %v", c.v, c.rcpt, got, c.want)
		}
	}
}
