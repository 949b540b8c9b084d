package bounce

import (
	"cmp"
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
		// Sender- and transaction-scoped whatever the code or status: a 521
		// naming no "does not accept mail", x.1.1 about SPF/DMARC or the
		// sender's domain, another language, a provider's throttle or block.
		{"scope/postfix-521-aol-ip.eml", "nia@aol.test", Transient, ReasonIPBlocklisted},
		{"scope/exim-absender-unbekannt.eml", "olaf@firma.test", Transient, ReasonSenderRejected},
		{"scope/courier-fr-expediteur.eml", "zoe@exemple.test", Transient, ReasonSenderRejected},
		{"scope/sendmail-511-spf.eml", "pia@rcpt.test", Transient, ReasonAuthFailure},
		{"scope/exchange-511-dmarc.eml", "rex@partner.test", Transient, ReasonAuthFailure},
		{"scope/qmail-511-sender-mx.eml", "ugo@isp.test", Transient, ReasonSenderRejected},
		{"scope/postfix-qq-frequency.eml", "wei@qq.test", Transient, ReasonRateLimited},
		{"scope/exim-tonline-bl.eml", "vera@t-online.test", Transient, ReasonIPBlocklisted},
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

// TestSenderScopedAnswers: answers about the sender or the transaction — its
// return path or domain, HELO name, reverse DNS, SPF/DKIM/DMARC, sending
// IP's listing or reputation, connection limits, relay — in many wordings
// and languages are Transient with a sender-scoped reason whatever their
// code or status (5.1.1, 521 and 556 included), both live (an answer to
// RCPT) and inside a DSN (Status and Diagnostic-Code).
func TestSenderScopedAnswers(t *testing.T) {
	cases := []struct{ reply, reason string }{
		// 521/556 that explain something else than "does not accept mail".
		{"521 5.2.1 :  (CON:B1) AOL will not accept delivery of this message.", ReasonIPBlocklisted},
		{"521 5.7.1 Your IP address 192.0.2.10 has been listed. Contact postmaster.", ReasonIPBlocklisted},
		{"521 5.7.1 Rejected: 192.0.2.10 is listed by bl.mailspike.net", ReasonIPBlocklisted},
		{"521 Too many connections from your IP", ReasonRateLimited},
		{"521 5.7.1 Connection rejected: your server is sending spam", ReasonReputation},
		{"556 5.7.1 Your reverse DNS is missing", ReasonAuthFailure},
		{"521 5.3.2 Your host is not allowed to connect", ReasonIPBlocklisted},
		// x.1.1 about the sender, its domain, HELO name, authentication.
		{"511 sorry, can't find a valid MX for sender domain (#5.1.1 - chkuser)", ReasonSenderRejected},
		{"550 5.1.1 Sender address does not exist", ReasonSenderRejected},
		{"550 5.1.1 Sender domain does not exist", ReasonSenderRejected},
		{"550 5.1.1 Your envelope sender domain does not exist", ReasonSenderRejected},
		{"553 5.1.1 <b-123@bounces.petrel.test>: Return path domain not found", ReasonSenderRejected},
		{"550 5.1.1 Bounce address b-123@bounces.petrel.test does not exist", ReasonSenderRejected},
		{"550 5.1.1 From address not verified", ReasonSenderRejected},
		{"550 5.1.1 HELO hostname petrel doesn't resolve", ReasonHELORejected},
		{"550 5.1.1 Your SPF record does not authorize this sending host", ReasonAuthFailure},
		{"550 5.1.1 The sending domain petrel.test fails DMARC", ReasonAuthFailure},
		{"550 5.1.1 Unauthenticated email is not accepted from this domain", ReasonAuthFailure},
		{"550 5.1.1 Your access to this mail system has been rejected due to the sending MTA's poor reputation.", ReasonReputation},
		{"550 5.1.1 Client host rejected: cannot find your hostname, [192.0.2.10]", ReasonAuthFailure},
		{"521 5.1.1 Too many invalid recipients from your IP, try later", ReasonRateLimited},
		// Sender wording with a policy status or none.
		{"550 5.7.1 Domain of sender address b-1@bounces.petrel.test does not exist", ReasonSenderRejected},
		{"550 Domain of sender address b-1@bounces.petrel.test does not exist", ReasonSenderRejected},
		{"550 Sender domain does not exist", ReasonSenderRejected},
		{"550 5.0.0 Your domain does not exist", ReasonSenderRejected},
		{"550 Your sender address could not be verified (user does not exist)", ReasonSenderRejected},
		{"550 Return address invalid", ReasonSenderRejected},
		{"550 Invalid address in MAIL FROM", ReasonSenderRejected},
		{"550 Sender address no longer valid", ReasonSenderRejected},
		{"550 Relaying for your account is no longer available", ReasonRelayDenied},
		{"554 Service no longer available for your IP range", ReasonIPBlocklisted},
		// The sender in other languages.
		{"550 5.1.0 Absenderadresse unbekannt", ReasonSenderRejected},
		{"550 5.7.1 Absenderadresse existiert nicht", ReasonSenderRejected},
		{"550 5.1.0 Adresse de l'expéditeur inconnue", ReasonSenderRejected},
		{"550 5.7.1 Dirección del remitente desconocida", ReasonSenderRejected},
		{"550 Indirizzo del mittente sconosciuto", ReasonSenderRejected},
		{"550 5.7.1 Адрес отправителя не существует", ReasonSenderRejected},
		{"550 Absender-Domain existiert nicht", ReasonSenderRejected},
		{"550 5.7.1 Domaine de l'expéditeur inexistant", ReasonSenderRejected},
		{"550 El dominio del remitente no existe", ReasonSenderRejected},
		{"550 发件人域名不存在", ReasonSenderRejected},
		{"550 Nadawca nieznany", ReasonSenderRejected},
		{"550 送信者のアドレスが存在しません", ReasonSenderRejected},
		{"550 Afzender adres bestaat niet", ReasonSenderRejected},
		{"550 Endereço do remetente inválido", ReasonSenderRejected},
		// "Does not exist" about a DNS record, the HELO name, a header.
		{"550 5.7.1 Client host rejected: reverse DNS record does not exist", ReasonAuthFailure},
		{"550 5.7.25 Reverse DNS for 192.0.2.10 does not exist", ReasonAuthFailure},
		{"550 5.7.26 SPF record for petrel.test does not exist and DKIM failed", ReasonAuthFailure},
		{"550 5.7.1 Your HELO hostname does not exist in DNS", ReasonHELORejected},
		{"550 5.7.1 The From: header address domain does not exist", ReasonSenderRejected},
		{"550 5.7.1 Reply-To address does not exist", ReasonSenderRejected},
		{"550 5.7.1 DKIM signing domain does not exist", ReasonAuthFailure},
		{"550 PTR record for 192.0.2.10 does not exist", ReasonAuthFailure},
		{"550 Your IP address is not listed in our allowed senders", ReasonIPBlocklisted},
		{"550 5.0.0 Client address not listed in allowed list", ReasonIPBlocklisted},
		// Provider throttles and IP blocks without a status.
		{"550 Ip frequency limited [http://service.mail.qq.test/cgi-bin/help?subtype=1&&id=20022&&no=1000725]", ReasonRateLimited},
		{"550 Connection frequency limited. http://service.mail.qq.test/cgi-bin/help?subtype=1&&id=20022&&no=1000722", ReasonRateLimited},
		{"550 Domain frequency limited", ReasonRateLimited},
		{"550 Sender frequency limited. http://service.exmail.qq.test/cgi-bin/help?subtype=1&&id=20022&&no=1000723", ReasonRateLimited},
		{"554 IP=192.0.2.10 - A problem occurred. (Ask your postmaster for help or to contact tosa@rx.t-online.test to clarify.) (BL)", ReasonIPBlocklisted},
		{"554 IP=192.0.2.10 - Dialup/transient IP not allowed. Use a mailgateway or contact toda@rx.t-online.test if obsolete. (DIAL)", ReasonIPBlocklisted},
		{"550 SC-001 (BAY004-MC1F21) Unfortunately, messages from 192.0.2.10 weren't sent. Please contact your Internet service provider. You can tell them that Hotmail does not relay dynamically-assigned IP ranges.", ReasonIPBlocklisted},
		{"553 Relaying disallowed", ReasonRelayDenied},
		{"554 Ihre IP-Adresse ist gesperrt", ReasonIPBlocklisted},
		{"550 5.7.1 Ihre IP-Adresse steht auf einer Sperrliste", ReasonIPBlocklisted},
		{"550 Votre adresse IP est sur liste noire", ReasonIPBlocklisted},
		{"550 Su dirección IP está en una lista negra", ReasonIPBlocklisted},
		{"550 您的IP已被列入黑名单", ReasonIPBlocklisted},
		{"554 5.7.1 Ваш IP-адрес заблокирован", ReasonIPBlocklisted},
		{"550 Il server mittente non è autorizzato", ReasonIPBlocklisted},
		// The sender's own account.
		{"550 5.2.1 Sender's account is disabled", ReasonSenderRejected},
		{"550 5.2.1 Your account has been disabled for sending", ReasonSenderRejected},
		// The right sender-scoped reason.
		{"550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.test/", ReasonIPBlocklisted},
		{"550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", ReasonIPBlocklisted},
		{"550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains.", ReasonSenderRejected},
		{"550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", ReasonIPBlocklisted},
		{"550 5.7.1 Your IP has been listed", ReasonIPBlocklisted},
		{"553 sorry, your envelope sender has been denied (#5.7.1)", ReasonSenderRejected},
		{"550 5.7.1 Mail from this sender is no longer accepted", ReasonSenderRejected},
		{"550 5.7.1 Your mail server does not accept mail: rejecting as a courtesy", ReasonSenderRejected},
		{"550 5.4.6 Unusual sending activity detected. Please try after sometime.", ReasonReputation},
		{"550 5.1.0 Address rejected. Your domain petrel.test has no MX record", ReasonSenderRejected},
		{"550 5.1.1 The domain petrel.test in your MAIL FROM has no valid MX record", ReasonSenderRejected},
		{"550 5.1.1 Verification of your sender address failed", ReasonSenderRejected},
		{"550 5.1.1 Return address verification failed", ReasonSenderRejected},
		{"550 5.1.1 The account you are sending from has been disabled", ReasonSenderRejected},
		{"550 5.2.1 Your mailbox is disabled, you cannot send", ReasonSenderRejected},
		{"550 5.1.1 You are not allowed to send from this IP: user not found in allowed list", ReasonIPBlocklisted},
		{"550 5.1.1 Unbekannter Absender", ReasonSenderRejected},
		{"550 5.1.1 Absenderprüfung fehlgeschlagen: Postfach existiert nicht", ReasonSenderRejected},
		{"550 5.1.1 Die Domain des Absenders hat keinen MX-Eintrag", ReasonSenderRejected},
		{"550 5.1.1 Expéditeur non vérifié", ReasonSenderRejected},
		{"550 5.1.1 Vérification de l'expéditeur échouée : boîte inexistante", ReasonSenderRejected},
		{"550 5.1.1 No se pudo verificar el remitente", ReasonSenderRejected},
		{"550 5.1.1 送信者を確認できませんでした", ReasonSenderRejected},
		{"550 5.1.1 発信元ドメインが存在しません", ReasonSenderRejected},
		{"550 5.2.1 Sending account suspended: daily limit reached", ReasonSenderRejected},
		{"550 Our server does not accept mail from dynamic IP space", ReasonIPBlocklisted},
		{"550 5.1.0 example.test does not accept email from 192.0.2.10", ReasonIPBlocklisted},
	}
	for _, c := range cases {
		for how, v := range liveAndDSN(t, c.reply, "") {
			if v.Type != Transient || !SenderScoped(v.Reason) || v.Reason != c.reason {
				t.Errorf("%s %q = %s %s (%s), want Transient %s", how, c.reply, v.Type, v.Reason, v.Rule, c.reason)
			}
		}
	}
}

// liveAndDSN classifies reply with the built-in rules twice: as a live
// answer to RCPT, and as a failed DSN recipient of that answer whose Status
// is dsnStatus ("": the reply's enhanced status, 5.0.0 when it has none)
// and whose Diagnostic-Code is the reply.
func liveAndDSN(t *testing.T, reply, dsnStatus string) map[string]Verdict {
	t.Helper()
	r, err := smtpreply.Parse(reply)
	if err != nil {
		t.Fatal(err)
	}
	live := AnswerOf(r)
	live.Command, live.Domain = "RCPT", "rcpt.test"
	if dsnStatus == "" {
		dsnStatus = cmp.Or(r.Enhanced, "5.0.0")
	}
	rc := Recipient{EmailAddress: "x@rcpt.test", Action: "failed", Status: dsnStatus, DiagnosticCode: "smtp; " + reply, SMTPCommand: "RCPT"}
	return map[string]Verdict{"live": Builtin().Classify(live), "DSN": Builtin().Classify(rc.Answer())}
}

// TestTemporaryAndInnerAnswers: a 5xx whose text says the condition is
// temporary, a temporary lock, the receiver's own storage failure, the
// reason a verifying relay passes on, a mail loop — live and in a DSN.
func TestTemporaryAndInnerAnswers(t *testing.T) {
	cases := []struct{ reply, typ, reason string }{
		{"550 5.2.1 Postfach gesperrt wegen Spam", Transient, ReasonMailboxDisabled},
		{"550 5.2.1 Mailbox locked due to spam", Transient, ReasonMailboxDisabled},
		{"550 5.2.1 Mailbox is closed for maintenance until tomorrow", Transient, ReasonMailboxDisabled},
		{"550 5.2.1 Das Konto wurde gelöscht", Permanent, ReasonMailboxDisabled},
		{"550 Mailbox unavailable: account is being migrated, please retry later", Transient, ReasonSystemError},
		{"550 5.0.0 Account unavailable, try again later", Transient, ReasonSystemError},
		{"550 Requested action not taken: mailbox unavailable (try again later)", Transient, ReasonSystemError},
		{"550 Mailbox unavailable or access denied", Transient, ReasonPolicyRejected},
		{"554 5.2.0 STOREDRV.Deliver.Exception:StoragePermanentException.MapiExceptionNoAccess; Failed to process message due to a permanent exception", Transient, ReasonSystemError},
		{"550 5.1.1 Recipient address rejected: undeliverable address: host mx.inner.test[192.0.2.3] said: 554 5.7.1 Spam message rejected", Transient, ReasonSpamBlocked},
		{"554 5.4.14 Hop count exceeded - possible mail loop ATTR34", Transient, ReasonSystemError},
		// What stays Permanent: an explicit x.1.1 or "does not exist" with "later".
		{"550 5.1.1 User unknown, please try again later", Permanent, ReasonUserUnknown},
		{"550 Mailbox does not exist, try again later", Permanent, ReasonUserUnknown},
		{"550 5.1.1 Address bob@rcpt.test does not exist", Permanent, ReasonUserUnknown},
		{"550 5.7.1 <x@rcpt.test>: Recipient address rejected: User unknown in relay recipient table", Permanent, ReasonUserUnknown},
		{"556 5.1.10 Recipient address bob@null.test has null MX", Permanent, ReasonNotAcceptingMail},
		{"521 5.3.2 mx.null.test does not accept mail", Permanent, ReasonNotAcceptingMail},
		{"556 Domain does not accept mail", Permanent, ReasonNotAcceptingMail},
		// A recipient callout (Exim) and a footer about block lists are
		// not about the sender: the answer itself is.
		{"550-Callout verification failed: 550 550 5.1.1 <bob@rcpt.test>: Recipient address rejected: User unknown in local recipient table", Permanent, ReasonUserUnknown},
		{"550 5.1.1 <bob@rcpt.test>: Recipient address rejected: User unknown in virtual mailbox table. If you believe your IP address has been listed in error, contact postmaster@rcpt.test", Permanent, ReasonUserUnknown},
		{"550 5.1.1 <bob@rcpt.test>: Mailbox unavailable; to report a false positive about your domain or IP reputation visit https://rcpt.test/fp", Permanent, ReasonUserUnknown},
		// qmail's explicit wordings under a policy status; greylisting under
		// any status; Exchange's 5.1.10 names a missing mailbox.
		{"550 sorry, no mailbox here by that name. (#5.7.17)", Permanent, ReasonUserUnknown},
		{"553 sorry, this recipient is not in my validrcptto list (#5.7.1)", Permanent, ReasonUserUnknown},
		{"550 5.1.1 Greylisted, please try again in 300 seconds", Transient, ReasonPolicyRejected},
		{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", Permanent, ReasonUserUnknown},
		// An unexplained 521 refuses the sending host.
		{"521 mx.rcpt.test ESMTP not accepting connections", Transient, ReasonIPBlocklisted},
	}
	for _, c := range cases {
		for how, v := range liveAndDSN(t, c.reply, "") {
			if v.Type != c.typ || v.Reason != c.reason {
				t.Errorf("%s %q = %s %s (%s), want %s %s", how, c.reply, v.Type, v.Reason, v.Rule, c.typ, c.reason)
			}
		}
	}
}
