package bounce

import (
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// TestNotExist pins issue 12 kind 3 on whole bounce messages
// (testdata/not-exist/*.eml): "does not exist" in any wording or language,
// in text encoded in any common charset, is Permanent/NoEmail user-unknown;
// null MX and "does not accept mail" (RFC 7504, RFC 7505) are Permanent
// not-accepting-mail whatever the code; a mailbox the provider disabled is
// mailbox-disabled.
func TestNotExist(t *testing.T) {
	cases := []struct {
		file, rcpt, typ, subtype, reason string
	}{
		{"de-exim-qp-latin1", "anna.schmidt@beispiel.test", Permanent, NoEmail, ReasonUserUnknown},
		{"de-undeclared-latin1", "jens@postamt.test", Permanent, NoEmail, ReasonUserUnknown},
		{"fr-dsn-base64-cp1252", "luc.martin@exemple.test", Permanent, NoEmail, ReasonUserUnknown},
		{"ja-carrier-base64-sjis", "taro@keitai.test", Permanent, NoEmail, ReasonUserUnknown},
		{"ja-mislabelled-eucjp", "hanako@denwa.test", Permanent, NoEmail, ReasonUserUnknown},
		{"ru-base64-koi8r", "ivan.petrov@pochta.test", Permanent, NoEmail, ReasonUserUnknown},
		{"zh-base64-gb2312", "wang.wei@youjian.test", Permanent, NoEmail, ReasonUserUnknown},
		{"it-dsn-utente-sconosciuto", "marco.rossi@esempio.test", Permanent, NoEmail, ReasonUserUnknown},
		{"messaging-no-delivery-point", "ed.blake@corp.test", Permanent, NoEmail, ReasonUserUnknown},
		{"postfix-nullmx-dsn", "sam@parked.test", Permanent, NoEmail, ReasonNotAcceptingMail},
		{"exim-does-not-accept-mail", "tom@closed.test", Permanent, NoEmail, ReasonNotAcceptingMail},
		{"gmail-account-disabled", "kate.old@gmail.test", Permanent, General, ReasonMailboxDisabled},
		{"es-dsn-cuenta-desactivada", "carmen@correo.test", Permanent, General, ReasonMailboxDisabled},
		// The returned original's words are not the answer: the German
		// heading cuts it off the explanation.
		{"de-full-original-quoted", "mia.keller@postfach.test", Transient, MailboxFull, ReasonMailboxFull},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			rc, ok := onlyRecipient(t, "not-exist/"+c.file+".eml", c.rcpt)
			if v := rc.Verdict; ok && (v.Type != c.typ || v.SubType != c.subtype || v.Reason != c.reason) {
				t.Errorf("verdict %+v, want %s/%s %s (diagnostic %q)", v, c.typ, c.subtype, c.reason, rc.DiagnosticCode)
			}
		})
	}
}

// TestNotExistLive: the same wordings as synchronous SMTP replies, and the
// near misses that must stay what they are (a temporary directory failure,
// a refusal of the sender, a suspension that will lift).
func TestNotExistLive(t *testing.T) {
	cases := []struct {
		reply, typ, reason string
	}{
		// Absent, in English wordings.
		{"550 Address ed@corp.test has no delivery point", Permanent, ReasonUserUnknown},
		{"554 5.0.0 <ed@corp.test>: no delivery point for this address", Permanent, ReasonUserUnknown},
		{"550 5.0.0 ed@corp.test: failed directory lookup: no such entry", Permanent, ReasonUserUnknown},
		{"550 ed@corp.test is not listed in the directory", Permanent, ReasonUserUnknown},
		{"550 5.0.0 Address not found in LDAP directory", Permanent, ReasonUserUnknown},
		{"553 sorry, no mailbox here by that name. (#5.1.1)", Permanent, ReasonUserUnknown},
		{"550 unrouteable address", Permanent, ReasonUserUnknown},
		{"550 5.0.0 Requested action not taken: recipient rejected: no such user here", Permanent, ReasonUserUnknown},
		{"554 delivery error: dd This user doesn't have a yahoo.test account (ann@yahoo.test) [0]", Permanent, ReasonUserUnknown},
		{"550 bob@corp.test is not an active address at this host", Permanent, ReasonUserUnknown},
		{"550 There is no one at this address", Permanent, ReasonUserUnknown},
		{"550 unknown local-part", Permanent, ReasonUserUnknown},
		{"550 No bob in name directory", Permanent, ReasonUserUnknown},
		// Other languages.
		{"550 Benutzer unbekannt", Permanent, ReasonUserUnknown},
		{"550 Der Empfänger anna.schmidt@beispiel.test ist unbekannt", Permanent, ReasonUserUnknown},
		{"550 Le domaine exemple.test n'existe pas", Permanent, ReasonDomainNotFound},
		{"550 Domain beispiel.test existiert nicht", Permanent, ReasonDomainNotFound},
		{"550 5.0.0 Empfänger nicht gefunden", Permanent, ReasonUserUnknown},
		{"550 Adresse inconnue", Permanent, ReasonUserUnknown},
		{"550 La boîte aux lettres est inexistante", Permanent, ReasonUserUnknown},
		{"550 El usuario no existe", Permanent, ReasonUserUnknown},
		{"550 Usuário desconhecido", Permanent, ReasonUserUnknown},
		{"550 O endereço não existe", Permanent, ReasonUserUnknown},
		{"550 Dit e-mailadres bestaat niet", Permanent, ReasonUserUnknown},
		{"550 Ontvanger onbekend", Permanent, ReasonUserUnknown},
		{"550 Skrzynka pocztowa nie istnieje", Permanent, ReasonUserUnknown},
		{"550 Нет такого пользователя", Permanent, ReasonUserUnknown},
		{"550 このメールアドレスは存在しません", Permanent, ReasonUserUnknown},
		{"550 用户不存在", Permanent, ReasonUserUnknown},
		// Full mailboxes in other languages stay Transient.
		{"552 Postfach voll", Transient, ReasonMailboxFull},
		{"552 Boîte aux lettres pleine", Transient, ReasonMailboxFull},
		{"552 Buzón lleno", Transient, ReasonMailboxFull},
		{"552 邮箱已满", Transient, ReasonMailboxFull},
		{"552 Превышена квота почтового ящика", Transient, ReasonMailboxFull},
		{"552 メールボックスの容量が超過しています", Transient, ReasonMailboxFull},
		// Null MX and "does not accept mail", whatever the code.
		{"556 5.1.10 Recipient address has null MX", Permanent, ReasonNotAcceptingMail},
		{"550 5.7.1 closed.test does not accept mail", Permanent, ReasonNotAcceptingMail},
		{"554 This domain accepts no mail", Permanent, ReasonNotAcceptingMail},
		{"521 5.3.2 mx.closed.test does not accept mail", Permanent, ReasonNotAcceptingMail},
		// … but not about the sender.
		{"550 5.7.1 This domain does not accept mail from your network", Transient, ReasonIPBlocklisted},
		{"553 5.7.27 Sender address has null MX", Transient, ReasonSenderRejected},
		{"553 5.7.27 Sender address <news@sender.test> has null MX", Transient, ReasonSenderRejected},
		{"550 5.7.1 Sender's domain does not accept mail", Transient, ReasonSenderRejected},
		{"550 5.7.1 The server does not accept mail larger than 10 MB", Transient, ReasonPolicyRejected},
		{"521 5.7.1 Your IP 192.0.2.9 is blocklisted", Transient, ReasonIPBlocklisted},
		// Disabled by the provider: Permanent; temporarily locked: Transient.
		{"550 5.2.1 The email account that you tried to reach is disabled.", Permanent, ReasonMailboxDisabled},
		{"550 5.2.1 Mailbox disabled: account has been discontinued", Permanent, ReasonMailboxDisabled},
		{"550 5.2.1 Das Konto wurde deaktiviert", Permanent, ReasonMailboxDisabled},
		{"550 5.2.1 User account is temporarily suspended", Transient, ReasonMailboxDisabled},
		{"550 5.2.1 アカウントは一時停止されています", Transient, ReasonMailboxDisabled},
		{"550 5.2.1 该账户已停用", Permanent, ReasonMailboxDisabled},
		{"550 5.2.1 The email account that you tried to reach is inactive and cannot receive mail", Transient, ReasonMailboxDisabled},
		{"550 bob is a deactivated mailbox", Transient, ReasonMailboxDisabled},
		{"550 Requested action not taken: mailbox unavailable, connection was closed", Permanent, ReasonUserUnknown},
		// Without 5.2.1 a "disabled" stays Transient: the corpus labels
		// Yahoo's answer soft (sisimai "suspend").
		{"554 delivery error: dd This account has been disabled or discontinued [#102]", Transient, ReasonMailboxDisabled},
		// Temporary directory trouble is not absence.
		{"451 4.3.0 LDAP lookup failed, try again later", Transient, ReasonSystemError},
	}
	// As user-unknown-after-data: a server that took RCPT TO and then
	// says "unknown" to the message is a filter, in any language.
	if v := Builtin().Classify(Answer{Code: 550, Text: "Benutzer unbekannt", Command: "DATA"}); v.Type != Transient || v.Reason != ReasonPolicyRejected {
		t.Errorf("550 Benutzer unbekannt after DATA: %+v, want Transient policy-rejected", v)
	}
	for _, c := range cases {
		r, err := smtpreply.Parse(c.reply)
		if err != nil {
			t.Fatalf("%q: %v", c.reply, err)
		}
		if v := Builtin().Classify(AnswerOf(r)); v.Type != c.typ || v.Reason != c.reason {
			t.Errorf("%q: %+v, want %s %s", c.reply, v, c.typ, c.reason)
		}
	}
}

// TestCharsets: text reaches the rules as UTF-8 whatever charset it was
// written in, declared or not, and whether the declaration is right.
func TestCharsets(t *testing.T) {
	encode := func(enc interface{ NewEncoder() *encoding.Encoder }, s string) []byte {
		b, err := enc.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, charset string
		in            []byte
		want          string
	}{
		{"declared latin-1", "ISO-8859-1", []byte("Empf\xe4nger unbekannt"), "Empfänger unbekannt"},
		{"undeclared latin-1", "", []byte("Empf\xe4nger unbekannt"), "Empfänger unbekannt"},
		{"latin-1 declared us-ascii", "us-ascii", []byte("bo\xeete inexistante"), "boîte inexistante"},
		{"latin-1 declared utf-8", "utf-8", []byte("bo\xeete inexistante"), "boîte inexistante"},
		{"utf-8 declared latin-1", "iso-8859-1", []byte("boîte inexistante"), "boîte inexistante"},
		{"windows-1252 quotes", "Windows-1252", []byte("\x93inconnu\x94"), "\u201cinconnu\u201d"},
		{"koi8-r", "koi8-r", encode(charmap.KOI8R, "не существует"), "не существует"},
		{"undeclared iso-2022-jp", "", encode(japanese.ISO2022JP, "宛先不明"), "宛先不明"},
		{"euc-jp labelled iso-2022-jp", "ISO-2022-JP", encode(japanese.EUCJP, "存在しません"), "存在しません"},
		{"shift_jis labelled euc-jp", "euc-jp", encode(japanese.ShiftJIS, "存在しません"), "存在しません"},
		{"code page alias cp932", "cp932", encode(japanese.ShiftJIS, "宛先不明"), "宛先不明"},
		{"gb2312", "gb2312", encode(simplifiedchinese.GBK, "用户不存在"), "用户不存在"},
		{"gbk labelled gb2312", "gb2312", encode(simplifiedchinese.GB18030, "用户不存在"), "用户不存在"},
	}
	for _, c := range cases {
		e := &entity{body: c.in, params: map[string]string{"charset": c.charset}}
		if got := e.text(); got != c.want {
			t.Errorf("%s: text() = %q, want %q", c.name, got, c.want)
		}
	}

	for in, want := range map[string]string{
		"=?ISO-8859-1?Q?Unzustellbar:_Empf=E4nger_unbekannt?=": "Unzustellbar: Empfänger unbekannt",
		"=?cp932?B?iLaQ5pVzlr4=?=":                             "宛先不明",
		"Unzustellbar: Empf\xe4nger unbekannt":                 "Unzustellbar: Empfänger unbekannt",
	} {
		if got := decodeHeader(in); got != want {
			t.Errorf("decodeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
