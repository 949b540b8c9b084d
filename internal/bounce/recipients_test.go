package bounce

import "testing"

// wantRecipient is what a table test expects of one reported recipient; an
// empty field is not checked.
type wantRecipient struct {
	addr, action, typ, reason, original string
}

// checkRecipients parses testdata/<file>.eml, classifies it with the
// built-in rules, and compares the kind and the exact recipient list.
func checkRecipients(t *testing.T, file string, kind Kind, want []wantRecipient) {
	t.Helper()
	rep := classifyFixture(t, file+".eml")
	if rep.Kind != kind {
		t.Errorf("%s: kind %s, want %s", file, rep.Kind, kind)
	}
	if len(rep.Recipients) != len(want) {
		t.Errorf("%s: recipients %v, want %v", file, addrsOf(rep.Recipients), want)
		return
	}
	for i, w := range want {
		g := rep.Recipients[i]
		if g.EmailAddress != w.addr ||
			w.action != "" && g.Action != w.action ||
			w.typ != "" && g.Type != w.typ ||
			w.reason != "" && g.Reason != w.reason ||
			g.OriginalRecipient != w.original {
			t.Errorf("%s: recipient %d = %s action=%s type=%s reason=%s original=%q, want %+v",
				file, i, g.EmailAddress, g.Action, g.Type, g.Reason, g.OriginalRecipient, w)
		}
	}
}

// TestRecipients: who failed, as the report names them however it spells
// them (issue 12, kind 5): SNS-wrapped SES notifications, bare local parts
// qualified with the returned message's domain, X.400 and gateway
// spellings, the returned copy's envelope when the notice names nobody,
// delayed recipients of a mixed DSN, Original-Recipient (RFC 3464
// §2.3.1) beside Final-Recipient, and SMTPUTF8 addresses (RFC 6531-6533).
func TestRecipients(t *testing.T) {
	cases := []struct {
		file string
		kind Kind
		want []wantRecipient
	}{
		{"sns-envelope-bounce", KindBounce, []wantRecipient{
			{addr: "amy@rcpt.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "ben@rcpt.test", action: "failed", typ: Transient, reason: ReasonMailboxFull},
		}},
		{"postfix-bare-local", KindBounce, []wantRecipient{{addr: "bob@corp.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"domino-x400", KindBounce, []wantRecipient{{addr: "ann@corp.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"exchange-imceaex", KindBounce, []wantRecipient{{addr: "carl@corp.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"gateway-percent-hack", KindBounce, []wantRecipient{{addr: "dora@legacy.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"sendmail-mixed-delayed", KindBounce, []wantRecipient{
			{addr: "eve@rcpt.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "finn@slow.test", action: "delayed", typ: Transient},
		}},
		{"postfix-original-recipient", KindBounce, []wantRecipient{
			{addr: "gina.old@rcpt.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown, original: "sales@rcpt.test"},
		}},
		{"envelope-delivered-to", KindBounce, []wantRecipient{{addr: "hal@hosting.test", action: "failed", typ: Permanent, reason: ReasonMailboxDisabled}}},
		// SMTPUTF8 addresses read whole (RFC 6531, RFC 6532), in prose, in
		// an rfc822 Final-Recipient, and as RFC 6533 utf-8-addr-xtext.
		{"postfix-eai-prose", KindBounce, []wantRecipient{
			{addr: "jürgen@rcpt.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "josé.garcía@correo.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
		}},
		{"dsn-global-xtext", KindBounce, []wantRecipient{{addr: "jürgen@rcpt.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown, original: "jürgen@rcpt.test"}}},
		{"exchange-dsn-eai", KindBounce, []wantRecipient{
			{addr: "zoë@rcpt.test", action: "failed", typ: Permanent},
			{addr: "李雷@例子.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
		}},
		// A bare local part: the one returned recipient of that local part
		// whose domain the reporting host is in, or nobody when that is
		// not one recipient.
		{"postfix-bare-local-two-domains", KindBounce, []wantRecipient{{addr: "info@beta.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"postfix-bare-local-envelope", KindBounce, []wantRecipient{{addr: "bob@mail.beta.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"sendmail-bare-local-ambiguous", KindBounce, []wantRecipient{{addr: "", action: "failed"}}},
	}
	for _, c := range cases {
		checkRecipients(t, "recipients/"+c.file, c.kind, c.want)
	}
}

// TestRobustParsing: reports real MTAs write that bend MIME and prose
// (issue 12, kind 7): indented boundary lines, a boundary parameter with
// stray spaces, one reason per recipient where the notice names every
// recipient before their reasons, and SMTP session transcripts where the
// reply after each RCPT TO belongs to that recipient.
func TestRobustParsing(t *testing.T) {
	cases := []struct {
		file string
		kind Kind
		want []wantRecipient
	}{
		{"indented-boundary", KindBounce, []wantRecipient{{addr: "quin@indent.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown}}},
		{"odd-boundary-param", KindBounce, []wantRecipient{{addr: "sam@oddparam.test", action: "failed", typ: Transient, reason: ReasonMailboxFull}}},
		{"exim-two-reasons", KindBounce, []wantRecipient{
			{addr: "uma@a.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "vic@b.test", action: "failed", typ: Transient, reason: ReasonMailboxFull},
		}},
		{"sendmail-transcript", KindBounce, []wantRecipient{
			{addr: "wes@trans.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "xena@trans.test", action: "failed", typ: Transient, reason: ReasonMailboxFull},
		}},
		{"courier-multi-mention", KindBounce, []wantRecipient{
			{addr: "ivy@multi.test", action: "failed", typ: Permanent, reason: ReasonUserUnknown},
			{addr: "jon@multi.test", action: "failed", typ: Transient, reason: ReasonMailboxFull},
		}},
	}
	for _, c := range cases {
		checkRecipients(t, "robust/"+c.file, c.kind, c.want)
	}
}

// TestCleanAddressUTF8: non-ASCII local parts and domains are kept whole
// (RFC 6531 §3.3, RFC 6532 §3.2), RFC 6533 §3 "\x{HEX}" escapes of a
// utf-8 address are decoded, and non-ASCII punctuation ends an address.
func TestCleanAddressUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"rfc822; <Zoë@Rcpt.TEST>":         "Zoë@rcpt.test",
		`utf-8; j\x{FC}rgen@rcpt.test`:    "jürgen@rcpt.test",
		`utf-8; \x{674E}\x{96F7}@例子.test`: "李雷@例子.test",
		"utf-8; josé.garcía@correo.test":  "josé.garcía@correo.test",
		"宛先：taro@rcpt.test。":              "taro@rcpt.test",
		"<用户@例子.test>":                    "用户@例子.test",
		`utf-8; bad\x{D800}@rcpt.test`:    "",
	} {
		if got := cleanAddress(in); got != want {
			t.Errorf("cleanAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCleanAddressGateways: the Internet address inside gateway spellings,
// and none where there is none (RFC 2156 §4.3.3, Exchange IMCEA, RFC 1123
// §5.2.16).
func TestCleanAddressGateways(t *testing.T) {
	for in, want := range map[string]string{
		"rfc822; <Ann@Corp.TEST>": "Ann@corp.test",
		"x400; /C=US/ADMD=/PRMD=corp/O=corp/S=Smith/G=Ann/RFC-822=ann(a)corp.test/": "ann@corp.test",
		"/O=corp/RFC822=first(u)last(a)corp.test/":                                  "first_last@corp.test",
		"RFC-822=bo@corp.test":                                    "bo@corp.test",
		"IMCEASMTP-ann+2Ebell+40corp+2Etest@ex.corp.test":         "ann.bell@corp.test",
		"IMCEAEX-_O=CORP_OU=ADMIN_CN=RECIPIENTS_CN=ANN@corp.test": "",
		"IMCEANOTES-Ann+20Bell_2FCorp@corp.test":                  "",
		"ann%corp.test@gw.test":                                   "ann@corp.test",
		"50%off@shop.test":                                        "50%off@shop.test",
		"/C=US/ADMD=/PRMD=corp/S=Smith/":                          "",
	} {
		if got := cleanAddress(in); got != want {
			t.Errorf("cleanAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
