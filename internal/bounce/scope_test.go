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
		{Verdict{Type: Transient, SubType: General, Reason: ReasonNetworkError, Rule: RuleTLSRequired}, "a@x.test", true},
		{Verdict{Type: Transient, SubType: General, Reason: ReasonNetworkError, Rule: "connect-failed"}, "a@x.test", false},
	}
	for _, c := range cases {
		if got := TransactionScoped(c.v, c.rcpt); got != c.want {
			t.Errorf("TransactionScoped(%+v, %q) = %v, want %v", c.v, c.rcpt, got, c.want)
		}
	}
}

// TestRecipientScoped: only the reasons docs/bounces.md says are about the
// recipient are; the reasons of unknown scope, the sender's and the
// message's are not, nor an operator rule's own or a misspelled one.
func TestRecipientScoped(t *testing.T) {
	cases := []struct {
		reason      string
		known, rcpt bool
	}{
		{ReasonUserUnknown, true, true},
		{ReasonDomainNotFound, true, true},
		{ReasonNotAcceptingMail, true, true},
		{ReasonHasMoved, true, true},
		{ReasonMailboxDisabled, true, true},
		{ReasonMailboxFull, true, true},
		{ReasonSuppressed, true, false},
		{ReasonNetworkError, true, false},
		{ReasonSystemError, true, false},
		{ReasonPolicyRejected, true, false},
		{ReasonExpired, true, false},
		{ReasonOther, true, false},
		{ReasonUndetermined, true, false},
		{ReasonRateLimited, true, false},
		{ReasonSpamBlocked, true, false},
		{"mailbox_full", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		if got := RecipientScoped(c.reason); got != c.rcpt {
			t.Errorf("RecipientScoped(%q) = %v, want %v", c.reason, got, c.rcpt)
		}
		if got := KnownReason(c.reason); got != c.known {
			t.Errorf("KnownReason(%q) = %v, want %v", c.reason, got, c.known)
		}
	}
	for _, r := range RecipientScopedReasons() {
		if !RecipientScoped(r) {
			t.Errorf("RecipientScopedReasons lists %q, which is not RecipientScoped", r)
		}
	}
	if len(RecipientScopedReasons()) != len(recipientScoped) {
		t.Errorf("RecipientScopedReasons has %d reasons, recipientScoped %d", len(RecipientScopedReasons()), len(recipientScoped))
	}
}
