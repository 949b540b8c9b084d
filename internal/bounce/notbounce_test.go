package bounce

import (
	"fmt"
	"testing"
)

// TestNotBounces: mail at the return path that only looks like a bounce, or
// carries none of the RFC 3834 headers, must never report a failed
// recipient (testdata/not-bounce). Out-of-office replies whose only signal
// is a localised, RFC 2047-encoded subject prefix (or Exchange's rule
// headers) are autoreplies, and their In-Reply-To / References name the
// Petrel message they answer; challenge-response notices, even in a
// multipart/report or under a bounce-like subject, are autoreplies of type
// challenge-response. The guard-* fixtures are real bounces that quote
// auto-reply subjects or ask to "verify": they stay bounces.
func TestNotBounces(t *testing.T) {
	const id = "0100019a1b2c3d4e-3a2b3c4d-1111-4222-8333-4444555566%s-000000"
	cases := []struct {
		file     string
		kind     Kind
		autoType string
		rcpt     string // the one recipient reported ("" = not checked)
		petrelID string // last two digits of the Petrel message ID expected
	}{
		{"ooo-nl-exchange", KindAutoReply, "vacation", "p.jansen@klant.test", "01"},
		{"ooo-pl-iso8859-2", KindAutoReply, "vacation", "k.nowak@firma.test", "02"},
		{"ooo-ru-koi8r", KindAutoReply, "vacation", "i.petrov@kompaniya.test", "03"},
		{"ooo-zh-cn-gb2312", KindAutoReply, "vacation", "wang.fang@gongsi.test", "04"},
		{"ooo-zh-tw-big5", KindAutoReply, "vacation", "ml.chen@gongsi-tw.test", "05"},
		{"ooo-sv-utf8", KindAutoReply, "vacation", "erik.lindqvist@foretag.test", "06"},
		{"ooo-fi-latin1", KindAutoReply, "vacation", "mikko.virtanen@yritys.test", "07"},
		{"ooo-cs-win1250", KindAutoReply, "vacation", "jiri.novak@firma-cz.test", "08"},
		{"ooo-hu-iso8859-2-b", KindAutoReply, "vacation", "eszter.nagy@ceg.test", "09"},
		{"ooo-tr-iso8859-9", KindAutoReply, "vacation", "ayse.yilmaz@sirket.test", "10"},
		{"ooo-ko-euckr", KindAutoReply, "vacation", "minjun.kim@hoesa.test", "11"},
		{"ooo-el-iso8859-7", KindAutoReply, "vacation", "g.papadopoulos@etaireia.test", "12"},
		{"ooo-de-abwesend-notes", KindAutoReply, "vacation", "thomas.weber@firma.test", "13"},
		{"ooo-it-fuori-sede", KindAutoReply, "vacation", "giulia.rossi@azienda.test", "14"},
		{"ooo-ja-iso2022jp", KindAutoReply, "vacation", "t.sato@kaisha.test", "15"},
		{"ooo-uk-win1251", KindAutoReply, "vacation", "o.kovalenko@kompaniia.test", "16"},
		{"ooo-nl-rule-template", KindAutoReply, "vacation", "helpdesk@gemeente.test", "17"},
		{"ooo-th-suppress-header", KindAutoReply, "vacation", "somchai@borisat.test", "18"},
		// A person's reply names the Petrel message too, but is no auto-reply.
		{"reply-nl-human", KindNotBounce, "", "", "19"},

		{"challenge-boxbe-guest-list", KindAutoReply, "challenge-response", "", "21"},
		{"challenge-spamarrest-undelivered", KindAutoReply, "challenge-response", "", "22"},
		{"challenge-mailinblack-fr", KindAutoReply, "challenge-response", "", "23"},
		{"challenge-choicemail-report", KindAutoReply, "challenge-response", "dave@rcpt.test", "24"},
		{"challenge-tmda-confirm", KindAutoReply, "challenge-response", "", "25"},
		{"challenge-qconfirm-report-no-recipients", KindAutoReply, "challenge-response", "", ""},
		// The challenge vocabulary in more languages and wordings, under
		// bounce-like senders and subjects (challengeWording).
		{"challenge-it-conferma-persona", KindAutoReply, "challenge-response", "", "41"},
		{"challenge-pt-confirme-pessoa", KindAutoReply, "challenge-response", "", "42"},
		{"challenge-pl-potwierdz-czlowiek", KindAutoReply, "challenge-response", "", "43"},
		{"challenge-es-retenido-hasta-confirme", KindAutoReply, "challenge-response", "", "44"},
		{"challenge-de-zurueckgehalten", KindAutoReply, "challenge-response", "", "45"},
		{"challenge-fr-retenu-valider", KindAutoReply, "challenge-response", "", "46"},
		{"challenge-nl-vastgehouden", KindAutoReply, "challenge-response", "", "47"},
		{"challenge-en-whitelist-reply-add", KindAutoReply, "challenge-response", "", "48"},
		{"challenge-en-authenticate-released", KindAutoReply, "challenge-response", "", "49"},
		{"challenge-en-on-hold-until-confirm", KindAutoReply, "challenge-response", "", "50"},

		{"guard-bounce-nl-onbestelbaar-ooo-subject", KindBounce, "", "r.bakker@klant.test", "31"},
		{"guard-bounce-dsn-verify-ooo-quoted", KindBounce, "", "grace@rcpt.test", "32"},
		{"guard-bounce-qmail-challenge-wording", KindBounce, "", "heidi@heidi.test", "33"},
		{"guard-bounce-report-failed-approve-wording", KindBounce, "", "sales-team@tenant.rcpt.test", "34"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			rep := classifyFixture(t, "not-bounce/"+c.file+".eml")
			if rep.Kind != c.kind || rep.AutoReplyType != c.autoType {
				t.Errorf("kind %s/%q, want %s/%q (format %s, recipients %v)", rep.Kind, rep.AutoReplyType, c.kind, c.autoType, rep.Format, addrsOf(rep.Recipients))
			}
			if c.rcpt != "" && (len(rep.Recipients) != 1 || rep.Recipients[0].EmailAddress != c.rcpt) {
				t.Errorf("recipients %v, want [%s]", addrsOf(rep.Recipients), c.rcpt)
			}
			for _, rc := range rep.Recipients {
				failed := rc.Action != "" && rc.Action != "delivered" || rc.Type != ""
				if c.kind == KindBounce && !failed {
					t.Errorf("bounce recipient %s not failed: %+v", rc.EmailAddress, rc)
				}
				if c.kind != KindBounce && failed {
					t.Errorf("recipient %s reported failed: action %q verdict %+v", rc.EmailAddress, rc.Action, rc.Verdict)
				}
			}
			want := ""
			if c.petrelID != "" {
				want = fmt.Sprintf(id, c.petrelID)
			}
			if rep.Original.PetrelID != want {
				t.Errorf("Original.PetrelID %q, want %q", rep.Original.PetrelID, want)
			}
		})
	}
}

// TestChallengeWording: reChallenge reads a notice that asks the sender to
// act on themselves, or holds their message until they do, in any of its
// languages; a notice that only reports a rejection, or asks the sender to
// check the recipient's address, is no challenge.
func TestChallengeWording(t *testing.T) {
	cases := []struct {
		text string
		want bool
	}{
		{"Please confirm you are a real person by clicking below.", true},
		{"Per favore conferma di essere una persona reale.", true},
		{"Confirme que você é uma pessoa clicando no link.", true},
		{"Prosimy potwierdzić, że jesteś człowiekiem.", true},
		{"Confirme que usted es una persona.", true},
		{"Veuillez confirmer que vous êtes un humain.", true},
		{"Bitte bestätigen Sie kurz, dass Sie ein Mensch sind.", true},
		{"Bevestig dat u een mens bent.", true},
		{"Please verify your email address to have it delivered.", true},
		{"Verifique su dirección de correo.", true},
		{"Your message will be delivered once you are approved.", true},
		{"After authentication your pending message will be released to the recipient.", true},
		{"To be added to the whitelist, reply to this message with the word ADD in the subject line.", true},
		{"Your message is held until you confirm it.", true},
		{"Il messaggio sarà recapitato dopo che avrai confermato il tuo indirizzo.", true},
		{"Votre message sera distribué dès que vous aurez validé votre adresse.", true},
		{"Ihre Nachricht wird zugestellt, sobald Sie Ihre Adresse bestätigt haben.", true},
		{"Uw bericht wordt afgeleverd zodra u uw adres bevestigt.", true},
		{"Wiadomość zostanie dostarczona po potwierdzeniu adresu.", true},

		{"Please verify the recipient's address and try again.", false},
		{"Sender verify failed: the address could not be verified.", false},
		{"Your message could not be delivered. Check the address and send it again.", false},
		{"Verifique la dirección del destinatario.", false},
		{"Bitte überprüfen Sie die Empfängeradresse.", false},
		{"The group only accepts messages from people on its allowed senders list; ask the owner to approve your address, then send again.", false},
		{"Your message will be delivered when the recipient's mailbox has space.", false},
		{"If you reply to this message, add the original text.", false},
	}
	for _, c := range cases {
		if got := reChallenge.MatchString(fold(c.text)); got != c.want {
			t.Errorf("reChallenge(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}
