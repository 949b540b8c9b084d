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
