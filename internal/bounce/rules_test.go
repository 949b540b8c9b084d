package bounce

import (
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// TestApplyRules: how an operator's file combines with the built-in rules.
func TestApplyRules(t *testing.T) {
	decommissioned := Answer{Code: 550, Status: "5.0.0", Text: "Mailbox decommissioned", Command: "RCPT", Domain: "far.test"}
	cases := []struct {
		name     string
		file     string
		answer   Answer
		wantRule string
		wantType string
	}{
		{"built-in only", "", decommissioned, "status-5", Permanent},
		{"a new rule goes first",
			"[[rule]]\nname = \"mine\"\ntext = 'decommissioned'\nbounce-type = \"Transient\"\n",
			decommissioned, "mine", Transient},
		{"a new rule outranks even the x.1.1 rule",
			"[[rule]]\nname = \"mine\"\nstatus = \"5.1.1\"\ndomains = [\"far.test\"]\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Status: "5.1.1", Text: "user unknown", Command: "RCPT", Domain: "far.test"}, "mine", Transient},
		{"domains limit a rule: another domain falls through",
			"[[rule]]\nname = \"mine\"\nstatus = \"5.1.1\"\ndomains = [\"far.test\"]\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Status: "5.1.1", Text: "user unknown", Command: "RCPT", Domain: "near.test"}, "status-bad-mailbox", Permanent},
		{"domains match subdomains",
			"[[rule]]\nname = \"mine\"\ndomains = [\"Far.Test.\"]\ncode = \"5xx\"\nbounce-type = \"Transient\"\n",
			Answer{Code: 550, Text: "no", Command: "RCPT", Domain: "mx.far.test"}, "mine", Transient},
		{"command limits a rule",
			"[[rule]]\nname = \"mine\"\ncommand = \"data\"\ntext = 'decommissioned'\nbounce-type = \"Transient\"\n",
			decommissioned, "status-5", Permanent},
		{"a built-in name replaces that rule in place",
			"[[rule]]\nname = \"status-5\"\nstatus = \"5.x.x\"\nbounce-type = \"Undetermined\"\n",
			decommissioned, "status-5", Undetermined},
		{"disable removes a built-in rule",
			"[[rule]]\nname = \"status-5\"\ndisable = true\n",
			decommissioned, "code-5", Permanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, err := ApplyRules([]byte(c.file), "test.toml")
			if err != nil {
				t.Fatal(err)
			}
			v := rules.Classify(c.answer)
			if v.Rule != c.wantRule || v.Type != c.wantType {
				t.Errorf("Classify = %+v, want %s by %s", v, c.wantType, c.wantRule)
			}
		})
	}
	withOne, _ := ApplyRules([]byte("[[rule]]\nname = \"mine\"\ncode = \"550\"\nbounce-type = \"Permanent\"\n"), "x")
	if len(withOne.Rules()) != len(Builtin().Rules())+1 || withOne.Rules()[0].Name != "mine" {
		t.Errorf("one new rule: %d rules, first %q", len(withOne.Rules()), withOne.Rules()[0].Name)
	}
}

// TestApplyRulesErrors: a bad file is refused with an error that names the
// rule and what is wrong.
func TestApplyRulesErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{"[[rule]]\nname = \"a\"\nbounce-type = \"Permanent\"\n", "rule 1 (a): set at least one of"},
		{"[[rule]]\nname = \"a\"\ncode = \"55\"\nbounce-type = \"Permanent\"\n", `code "55"`},
		{"[[rule]]\nname = \"a\"\ncode = \"250\"\nbounce-type = \"Permanent\"\n", `code "250"`},
		{"[[rule]]\nname = \"a\"\nstatus = \"5.1\"\nbounce-type = \"Permanent\"\n", `status "5.1"`},
		{"[[rule]]\nname = \"a\"\nstatus = \"5.y.1\"\nbounce-type = \"Permanent\"\n", `part "y"`},
		{"[[rule]]\nname = \"a\"\nclass = \"2\"\nbounce-type = \"Permanent\"\n", `class "2"`},
		{"[[rule]]\nname = \"a\"\ncommand = \"VRFY\"\nbounce-type = \"Permanent\"\n", `command "VRFY"`},
		{"[[rule]]\nname = \"a\"\ncommand = \"helo\"\nbounce-type = \"Permanent\"\n", "answer to EHLO"},
		{"[[rule]]\nname = \"a\"\nstatus-not = \"5.x\"\nbounce-type = \"Permanent\"\n", `status-not "5.x"`},
		{"[[rule]]\nname = \"a\"\ntext = '('\nbounce-type = \"Permanent\"\n", "text: error parsing regexp"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Hard\"\n", `bounce-type "Hard"`},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Permanent\"\nbounce-sub-type = \"MailboxFull\"\n", `bounce-sub-type "MailboxFull" is not one of`},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\ndomains = [\"\"]\nbounce-type = \"Permanent\"\n", "domains: empty domain"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-typ = \"Permanent\"\n", "unknown key"},
		{"[[rule]]\nname = \"a\"\ncode = \"550\"\nbounce-type = \"Permanent\"\n[[rule]]\nname = \"a\"\ncode = \"551\"\nbounce-type = \"Permanent\"\n", `rule "a" defined twice`},
		{"[[rule]]\nname = \"nope\"\ndisable = true\n", `"nope" disables no built-in rule`},
		{"[[rule]]\nname = \"status-5\"\ndisable = true\ncode = \"550\"\n", "takes only a name"},
		{"[[rule]\n", "test.toml"},
	}
	for _, c := range cases {
		_, err := ApplyRules([]byte(c.file), "test.toml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ApplyRules(%q) = %v, want an error containing %q", c.file, err, c.want)
		}
	}
}

// TestScope: an answer about the sender or the transaction is never a
// verdict on the recipient — Transient with a sender-scoped reason, whatever
// its code and status — and an answer about the recipient is not mistaken
// for one.
func TestScope(t *testing.T) {
	cases := []struct {
		reply, command string
		reason         string
		sender         bool
	}{
		{"550-5.4.5 Daily user sending quota exceeded. https://support.google.com/a/answer/166852 - gsmtp", "DATA", ReasonSendingQuota, true},
		{"550 5.4.5 Daily SMTP relay sending limit exceeded for customer. - gsmtp", "RCPT", ReasonSendingQuota, true},
		{"550 5.1.1 <b-1@bounces.petrel.test>: Sender address rejected: User unknown in local sender table", "MAIL", ReasonSenderRejected, true},
		{"550 5.1.1 <b-1@bounces.petrel.test>: Sender address rejected: User unknown in local sender table", "RCPT", ReasonSenderRejected, true},
		{"550 5.1.1 User unknown", "MAIL", ReasonSenderRejected, true},
		{"550 Verification failed for <b-1@bounces.petrel.test>: sender verify failed", "RCPT", ReasonSenderRejected, true},
		{"521 5.7.1 Client host [198.51.100.7] blocked using zen.spamhaus.org", "", ReasonIPBlocklisted, true},
		{"550 5.1.1 Your IP address 198.51.100.7 has been blacklisted", "RCPT", ReasonIPBlocklisted, true},
		{"554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using b.barracudacentral.org", "RCPT", ReasonIPBlocklisted, true},
		{"521 5.7.1 <petrel>: Helo command rejected: need fully-qualified hostname", "RCPT", ReasonHELORejected, true},
		{"550 5.1.1 Invalid HELO name (See RFC 5321 4.1.1.1)", "", ReasonHELORejected, true},
		{"550 5.1.1 <eve@rcpt.test> - 198.51.100.7 has sent to too many recipients this hour. IB607", "RCPT", ReasonSendingQuota, true},
		{"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "RCPT", ReasonRelayDenied, true},
		{"554 5.7.1 <x@rcpt.test>: Relay access denied", "RCPT", ReasonRelayDenied, true},
		// About the recipient: left to the rules that follow.
		{"550 5.1.1 <x@rcpt.test>: Recipient address rejected: User unknown in virtual mailbox table", "RCPT", ReasonUserUnknown, false},
		{"552 5.2.2 <x@rcpt.test>: user has exceeded the quota", "RCPT", ReasonMailboxFull, false},
		{"550 5.1.1 The email account that you tried to reach does not exist. - gsmtp", "RCPT", ReasonUserUnknown, false},
		{"550 5.1.1 <x@rcpt.test>... User unknown, not listed in Domino directory [192.0.2.9]", "RCPT", ReasonUserUnknown, false},
	}
	rules := Builtin()
	for _, c := range cases {
		v, _ := classifyReply(t, rules, c.reply, c.command)
		if v.Reason != c.reason || SenderScoped(v.Reason) != c.sender || c.sender && v.Type != Transient {
			t.Errorf("Classify(%q after %q) = %+v, want reason %s (sender-scoped %v)", c.reply, c.command, v, c.reason, c.sender)
		}
	}
}

// TestLiveAndDSNAgree: the same answer classifies the same whether it came
// back live (an SMTP reply to a command) or inside a DSN (Status, and the
// reply in Diagnostic-Code, its lines run together as a DSN unfolds them),
// the rules read the same text either way, and the most specific status
// wins either way.
func TestLiveAndDSNAgree(t *testing.T) {
	cases := []struct {
		reply, command, dsnStatus string
		typ, reason               string
	}{
		{"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "RCPT", "5.0.0", Transient, ReasonRelayDenied},
		{"550 <x@rcpt.test>... Rejected (#5.2.2)", "RCPT", "5.0.0", Transient, ReasonMailboxFull},
		{"550 5.0.0 <x@rcpt.test>... Rejected (#5.2.2)", "RCPT", "5.0.0", Transient, ReasonMailboxFull},
		{"550 5.0.0 <x@rcpt.test>: mailbox unavailable; 5.1.1 user unknown", "RCPT", "5.0.0", Permanent, ReasonUserUnknown},
		{"554 delivery error: dd Sorry your message to x@rcpt.test cannot be delivered. This account has been disabled or discontinued [#102]. - mta1.mail.test", "RCPT", "5.0.0", Transient, ReasonMailboxDisabled},
		{"542 x@rcpt.test Rejected", "RCPT", "5.0.0", Permanent, ReasonOther},
		{"550-5.4.5 Daily user sending quota exceeded. - gsmtp", "DATA", "5.4.5", Transient, ReasonSendingQuota},
		{"553 5.1.1 <b-1@bounces.petrel.test>: Sender address rejected: User unknown in local sender table", "MAIL", "5.1.1", Transient, ReasonSenderRejected},
		{"550 5.7.1 Client host [198.51.100.7] blocked using zen.spamhaus.org", "RCPT", "5.7.1", Transient, ReasonIPBlocklisted},
		{"451 4.7.1 <x@rcpt.test>: Recipient address rejected: Greylisted (#4.7.1)", "RCPT", "4.0.0", Transient, ReasonPolicyRejected},
		// A policy status (x.7.x) outranks vague words, not an explicit
		// "user unknown".
		{"550 5.7.1 Message rejected: mailbox unavailable", "RCPT", "5.7.1", Transient, ReasonPolicyRejected},
		{"550 5.7.1 Recipient not found", "RCPT", "5.7.1", Transient, ReasonPolicyRejected},
		{"554 5.7.1 <x@rcpt.test>: Recipient address rejected", "RCPT", "5.7.1", Transient, ReasonPolicyRejected},
		{"550 5.7.1 <x@rcpt.test>: Recipient address rejected: User unknown in relay recipient table", "RCPT", "5.7.1", Permanent, ReasonUserUnknown},
		{"553 sorry, this recipient does not exist (#5.7.1)", "RCPT", "5.0.0", Permanent, ReasonUserUnknown},
		// Multi-line replies: the DSN's run-together lines read as the live
		// reply's lines.
		{"550-5.1.1 The email account that you tried to reach does not exist.\r\n550-5.1.1 Please try double-checking the recipient's email\r\n550 5.1.1 address for typos. - gsmtp", "RCPT", "5.1.1", Permanent, ReasonUserUnknown},
		{"554-mx.rcpt.test\r\n554-Your message was rejected\r\n554 Mailbox unavailable", "RCPT", "5.0.0", Permanent, ReasonUserUnknown},
		{"550-5.7.1 Recipient address rejected\r\n550-5.7.1 \r\n550 5.7.1 see https://help.rcpt.test/571", "RCPT", "5.7.1", Transient, ReasonPolicyRejected},
		// An answer to EHLO/HELO is about Petrel's host.
		{"550 Rejected", "EHLO", "5.0.0", Transient, ReasonHELORejected},
		{"554 5.1.1 No such user here", "EHLO", "5.1.1", Transient, ReasonHELORejected},
		{"554 5.1.1 No such user here", "HELO", "5.1.1", Transient, ReasonHELORejected},
	}
	rules := Builtin()
	for _, c := range cases {
		r, err := smtpreply.Parse(c.reply)
		if err != nil {
			t.Fatal(err)
		}
		live := AnswerOf(r)
		live.Command, live.Domain = c.command, "rcpt.test"
		lv := rules.Classify(live)
		rc := Recipient{EmailAddress: "x@rcpt.test", Action: "failed", Status: c.dsnStatus, DiagnosticCode: "smtp; " + strings.ReplaceAll(c.reply, "\r\n", " "), SMTPCommand: c.command}
		da := rc.Answer()
		if da.Text != live.Text || da.Code != live.Code {
			t.Errorf("DSN %q: text %q code %d, live: text %q code %d", rc.DiagnosticCode, da.Text, da.Code, live.Text, live.Code)
		}
		dv := rules.Classify(da)
		if lv.Type != c.typ || lv.Reason != c.reason {
			t.Errorf("live %q after %s = %+v, want %s %s", c.reply, c.command, lv, c.typ, c.reason)
		}
		if dv.Type != lv.Type || dv.SubType != lv.SubType || dv.Reason != lv.Reason {
			t.Errorf("DSN %q (Status %s) = %+v, live = %+v", c.reply, c.dsnStatus, dv, lv)
		}
	}
}

// TestScopeFixtures: DSNs whose answer is about the sender or the
// transaction, or whose most specific status is not the DSN's Status.
func TestScopeFixtures(t *testing.T) {
	cases := []struct {
		file, rcpt, typ, reason string
	}{
		{"scope/gmail-relay-sending-quota.eml", "amy@rcpt.test", Transient, ReasonSendingQuota},
		{"scope/postfix-sender-table.eml", "ben@rcpt.test", Transient, ReasonSenderRejected},
		{"scope/spamhaus-521.eml", "cat@rcpt.test", Transient, ReasonIPBlocklisted},
		{"scope/helo-521.eml", "dan@rcpt.test", Transient, ReasonHELORejected},
		{"scope/godaddy-too-many-recipients.eml", "eve@rcpt.test", Transient, ReasonSendingQuota},
		{"status/qmail-rcpthosts.eml", "fay@old.test", Transient, ReasonRelayDenied},
		{"status/generic-then-specific.eml", "gus@corp.test", Transient, ReasonMailboxFull},
		{"status/bare-rejected.eml", "hal@rcpt.test", Permanent, ReasonOther},
		// A policy status (x.7.x) outranks vague wording, not explicit.
		{"status/postfix-571-mailbox-unavailable.eml", "ida@rcpt.test", Transient, ReasonPolicyRejected},
		{"status/sendmail-571-recipient-not-found.eml", "jon@rcpt.test", Transient, ReasonPolicyRejected},
		{"status/exim-571-recipient-rejected.eml", "kay@rcpt.test", Transient, ReasonPolicyRejected},
		{"status/courier-571-unavailable-or-denied.eml", "lea@rcpt.test", Transient, ReasonPolicyRejected},
		{"status/qmail-571-user-unknown.eml", "tom@rcpt.test", Permanent, ReasonUserUnknown},
		// An answer to EHLO, named only in the transcript.
		{"status/sendmail-refused-at-ehlo.eml", "max@rcpt.test", Transient, ReasonHELORejected},
	}
	for _, c := range cases {
		rep := classifyFixture(t, c.file)
		found := false
		for _, rc := range rep.Recipients {
			if rc.EmailAddress != c.rcpt {
				continue
			}
			found = true
			if rc.Verdict.Type != c.typ || rc.Verdict.Reason != c.reason {
				t.Errorf("%s: %s = %+v, want %s %s", c.file, c.rcpt, rc.Verdict, c.typ, c.reason)
			}
		}
		if !found {
			t.Errorf("%s: recipient %s not found in %+v", c.file, c.rcpt, rep.Recipients)
		}
	}
}

// TestSenderScopedRulesAreTransient: a rule may not call an answer about the
// sender Permanent.
func TestSenderScopedRulesAreTransient(t *testing.T) {
	for _, file := range []string{
		"[[rule]]\nname = \"a\"\ntext = 'x'\nbounce-type = \"Permanent\"\nreason = \"sending-quota\"\n",
		"[[rule]]\nname = \"a\"\ncommand = \"MAIL\"\nbounce-type = \"Permanent\"\n",
	} {
		if _, err := ApplyRules([]byte(file), "test.toml"); err == nil || !strings.Contains(err.Error(), "about the sender") {
			t.Errorf("ApplyRules(%q) = %v, want a refusal", file, err)
		}
	}
	for _, r := range Builtin().Rules() {
		if SenderScoped(r.Reason) && r.Type != Transient {
			t.Errorf("built-in rule %s: %s with sender-scoped reason %s", r.Name, r.Type, r.Reason)
		}
	}
}
