package bounce

import (
	"regexp"
	"strings"
)

var (
	// reAutoReplySubject matches the decoded Subject of an automatic reply:
	// the English and older idioms anywhere at the start, and the prefixes
	// Outlook / Exchange, Notes and webmail responders write in other
	// languages ("Automatisch antwoord:", "自动回复:"), which need their
	// colon (ASCII or full-width) so that a subject merely starting with the
	// word is not taken for one.
	reAutoReplySubject = regexp.MustCompile(`(?i)^\s*(auto(matic|matisk)?[ -]?(reply|response|respons|antwort|svar)|auto:|autoreply|out of (the )?office|ooo\b|on vacation|vacation|away from (the )?office|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|risposta automatica|respuesta autom[aá]tica|resposta autom[aá]tica|自動応答|自動返信|不在|` +
		`(automatisch antwoord|afwezig|automatyczna odpowied[źz]|autoodpowied[źz]|poza biurem|автоматический ответ|автоответ|автоматична відповідь|автоматичен отговор|自动回复|自动答复|自動回覆|自動回復|automatiskt svar|fr[åa]nvarande|frav[æa]rende|automatisk melding|automaattinen vastaus|automatick[áa] odpov[ěe]ď|automatick[áa] odpove[ďd]|automatikus v[áa]lasz|h[áa]zon k[íi]v[üu]l|otomatik (yan[ıi]t|cevap)|자동\s*(회신|응답)|부재\s*중|αυτόματη απάντηση|εκτός γραφείου|r[ăa]spuns automat|automatski odgovor|samodejni odgovor|automaatne vastus|autom[āa]tisk[āa] atbilde|automatinis atsakymas|resposta autom[àa]tica|tr[ảa] l[ờo]i t[ựu] đ[ộo]ng|balasan (otomatis|automatik)|תשובה אוטומטית|رد تلقائي|ตอบกลับอัตโนมัติ|abwesend|fuori sede|fuori ufficio|fora do escrit[óo]rio|fuera de la oficina|absent du bureau)\s*[:：])`)
	reDisused = regexp.MustCompile(`(?i)no longer (in use|used|active|monitored|being monitored|valid)|(is )?not (being )?monitored|has been (deactivated|discontinued|closed)`)
	// reChallenge matches a challenge-response system asking the sender to
	// prove they sent the message (Boxbe, Spam Arrest, Mailinblack,
	// ChoiceMail, TMDA, qconfirm …). Wording that only describes a
	// rejection ("sender verify failed", "verify the recipient's address")
	// is not enough: the notice must ask the sender to act on themselves or
	// say their held message waits for it. See challengeWording.
	reChallenge = regexp.MustCompile(`(?i)` + strings.Join(challengeWording, "|"))
	// reFailureAnswer finds a remote server's answer in a notice: an RFC
	// 3463 status, or an SMTP reply code at the start of a line or after
	// "said:". A notice that quotes one reports a rejection, whatever else
	// it asks.
	reFailureAnswer = regexp.MustCompile(`(?m)(?:^|[^0-9.])[45]\.[0-9]{1,3}\.[0-9]{1,3}(?:[^0-9.]|$)|(?:^|said:?|:)[ \t>]*[45][0-9][0-9][ -]`)
)

// challengeWording is the vocabulary of challenge-response notices, in
// English, Italian, Portuguese, Spanish, French, German, Dutch and Polish:
// a verb (confirm, verify, prove, authenticate, approve) whose object is
// the sender — that they are a person, their address or identity, that
// they sent the message — or a held, pending message released or delivered
// once the sender has acted, or a whitelist the sender joins by replying.
var challengeWording = []string{
	// The sender is a person, not a robot.
	`(verify|confirm|prove)\s+(that\s+)?you(['’]re|\s+are)\s+(a\s+)?(real\s+)?(human|person|real\b|not\s+a\s+(robot|spammer|machine|bot))`,
	`conferm\S*\s+(di\s+essere|che\s+(sei|è|e))\s+(una?\s+)?(persona|essere\s+umano|umano)|non\s+(sei|è)\s+un\s+robot`,
	`confirm\S*\s+que\s+(voc[êe]\s+|tu\s+|usted\s+)?(é|és|es|eres)\s+(uma?\s+|una\s+|um\s+ser\s+|un\s+ser\s+)?(pessoa|persona|humano)|n[ãa]o\s+(é|és)\s+um\s+rob[ôo]|no\s+(es|eres)\s+un\s+robot`,
	`confirm\S*\s+que\s+vous\s+[êe]tes\s+(un\s+|une\s+)?(humain|personne|[êe]tre\s+humain)|n['’]?[êe]tes\s+pas\s+un\s+robot`,
	`best[äa]tig\S*[^.\n]{0,20}dass\s+sie\s+(ein\s+)?mensch|kein\s+roboter`,
	`bevestig\S*\s+dat\s+(u|je)\s+(een\s+)?(mens|persoon)|geen\s+robot`,
	`potwierd\S*\s+(że|ze)\s+jeste[śs]\s+(człowiekiem|czlowiekiem|osobą|osoba)|nie\s+jeste[śs]\s+robotem`,
	// The sender confirms they sent it, or confirms their address or identity.
	`confirm\s+(that\s+)?you\s+(really\s+)?sent|confirm(e|ar)\s+(que\s+(usted\s+)?(envi[óo]|es)|su\s+(env[íi]o|mensaje))|bevestig(en)?\s+dat\s+u`,
	`(verify|confirm|validate|authenticate)\s+your\s+((own|sending|sender|e-?mail|return)\s+)?(address|identity)`,
	`(verific|conferm|convalid)\S*\s+(il\s+)?(tuo|vostro|suo)\s+indirizzo`,
	`(confirm|verifi|valid)\S*\s+(o\s+)?seu\s+(endere[çc]o|e-?mail)|(confirm|verifi|valid)\S*\s+su\s+(direcci[óo]n|correo|identidad)`,
	`(confirm|v[ée]rifi|valid|authentifi)\S*\s+(votre|l['’]\s*)(envoi|message|adresse|identit)`,
	`best[äa]tigen\s+sie\s+(bitte\s+)?(ihre|dass)|(best[äa]tig|verifizier|authentifizier)\S*\s+(sie\s+)?(bitte\s+)?ihre\s+(e-?mail-?|absender)?(adresse|identit[äa]t)|absenderbest[äa]tigung`,
	`(bevestig|verifieer|verifi[ëe]er)\S*\s+(uw|je)\s+(bericht|e-?mail|(e-?mail)?-?adres|identiteit)`,
	`(potwierd|zweryfik|weryfik)\S*\s+(sw[óo]j|tw[óo]j)\s+(adres|e-?mail)`,
	// The message is held until the sender acts, and released once they have.
	`(held|queued|quarantined|kept|retained|on\s+hold)\s+(pending|until|for)\s+[^.\n]{0,40}(verif|confirm|approv|authenticat)`,
	`(message|e-?mail)s?\s+(will|shall)\s+be\s+(released|delivered|forwarded)\s+(once|after|when|as\s+soon\s+as)\s+(you|your|the\s+sender)\b[^.\n]{0,40}(approv|confirm|verif|authenticat|whitelist|added)`,
	`(after|once|upon)\s+(your\s+)?(authentication|verification|confirmation|approval)[^.\n]{0,60}\b(released|delivered)`,
	`(pending|held|quarantined)\s+(message|e-?mail)s?\s+(will|shall)\s+be\s+released`,
	`to\s+have\s+your\s+(e-?mail|message)\s+delivered,?\s+(please|simply|just)|approve\s+(your|this)\s+(email|message|sender)`,
	`reply\s+to\s+this\s+(message|e-?mail|confirmation)[^.\n]{0,30}\s+to\s+(confirm|release|verify)`,
	`(verr[àa]|sar[àa])\s+(consegnato|recapitato|rilasciato)\s+(solo\s+)?(dopo|quando|una\s+volta|non\s+appena)[^.\n]{0,40}(conferm|verific|autentic|approv)|trattenut\S*\s+(fino\s+a\s+quando|finch[ée])[^.\n]{0,30}(conferm|verific)`,
	`ser[áa]\s+(entregue|liberad\S*|entregado)\s+(após|apos|quando|assim\s+que|depois|cuando|una\s+vez|despu[ée]s|tras)[^.\n]{0,40}(confirm|verifi|autentic|aprov|aprob)|(retid|retenid)\S*\s+(at[ée]|hasta)\s+que[^.\n]{0,30}(confirm|verifi)`,
	`sera\s+(d[ée]livr|distribu|lib[ée]r|remis)\S*\s+(d[èe]s\s+que|apr[èe]s|lorsque|quand|une\s+fois)[^.\n]{0,40}(confirm|v[ée]rifi|authentifi|valid|approuv)|retenu\S*\s+jusqu['’]\s*[àa]\s+(ce\s+que\s+vous|votre)[^.\n]{0,30}(confirm|valid|v[ée]rifi)`,
	`(wird|werden)\s+(erst\s+)?(zugestellt|freigegeben|ausgeliefert)[^.\n]{0,20}(sobald|nachdem|wenn)\s+sie[^.\n]{0,40}(best[äa]tig|verifizier|authentifizier)|zur[üu]ckgehalten\S*[^.\n]{0,10}bis\s+sie[^.\n]{0,60}(best[äa]tig|verifizier)`,
	`(wordt|zal)\s+(pas\s+)?(afgeleverd|bezorgd|vrijgegeven)[^.\n]{0,20}(zodra|nadat|wanneer|als)\s+(u|je)[^.\n]{0,40}(bevestig|verifi|goedgekeurd)|vastgehouden\s+(tot|totdat)\s+(u|je)[^.\n]{0,40}(bevestig|verifi)`,
	`zostanie\s+(dostarczon|zwolnion)\S*\s+(po|gdy|kiedy|jak\s+tylko)[^.\n]{0,40}(potwierd|weryfik)`,
	// Whitelists the sender joins by replying, and the systems' own name.
	`(whitelist|allow\s*list|approved\s+senders?(\s+list)?)[^.\n]{0,40}\breply\b|\breply\b[^.\n]{0,60}(?-i:\bADD\b)`,
	`challenge[-\s]response|sender\s+verification\s+(is\s+)?(required|request|needed|pending)`,
}

// parseAutoReply recognises automatic replies (RFC 3834): Auto-Submitted:
// auto-replied, the X-Autoreply family, Precedence: auto_reply, the
// subjects vacation and out-of-office responders use in any language
// (decoded per RFC 2047 first), and Exchange's mark on mail its mailbox
// rules send (X-MS-Exchange-Inbox-Rules-Loop), or its X-Auto-Response-
// Suppress on a reply to a Petrel message (In-Reply-To / References naming
// one). They are not bounces; SES forwards them to the sender, and Petrel
// records them.
func parseAutoReply(root *entity) *Report {
	h := root.header
	if looksLikeBounce(root) {
		return nil
	}
	auto := strings.ToLower(h.get("Auto-Submitted"))
	subject := decodeHeader(h.get("Subject"))
	is := strings.HasPrefix(auto, "auto-replied") ||
		h.get("X-Autoreply") != "" || h.get("X-Autorespond") != "" || h.get("X-Autoresponder") != "" || h.get("X-Auto-Reply") != "" ||
		strings.EqualFold(strings.TrimSpace(h.get("Precedence")), "auto_reply") ||
		reAutoReplySubject.MatchString(subject) ||
		h.get("X-MS-Exchange-Inbox-Rules-Loop") != "" ||
		h.get("X-Auto-Response-Suppress") != "" && repliedPetrelID(h) != ""
	if !is {
		return nil
	}
	r := &Report{Kind: KindAutoReply, Format: "rfc3834", AutoReplyType: "vacation"}
	text := subject + "\n"
	for _, e := range leafTexts(root) {
		text += e.text()
	}
	switch {
	case reChallenge.MatchString(fold(text)):
		r.AutoReplyType = "challenge-response"
	case reDisused.MatchString(text):
		r.AutoReplyType = "disused-mailbox"
	}
	if a := cleanAddress(h.get("From")); a != "" {
		r.Recipients = []Recipient{{EmailAddress: a}}
	}
	return r
}

// parseChallenge recognises a challenge-response notice: a message that
// holds the sender's mail until the sender proves they sent it (reChallenge
// in the subject or the notice's own text, its lines run together). Such notices often come from
// the null sender, under "Undelivered"-like subjects, even as a
// multipart/report, but nothing failed: they are autoreplies of type
// challenge-response. A notice is not one when it reports a failure: an
// X-Failed-Recipients header, a delivery-status recipient with a failed or
// delayed action or a 4.x.x / 5.x.x status (RFC 3464 §2.3.3, §2.3.4), or a
// server's answer in its text (reFailureAnswer) — a real DSN that asks to
// "verify" stays a bounce. The recipients are the report's, else the
// returned original's, else the notice's From, with no action.
func parseChallenge(root *entity) *Report {
	h := root.header
	if h.get("X-Failed-Recipients") != "" {
		return nil
	}
	var rcpts []Recipient
	if ds := deliveryStatus(root); ds != nil {
		rcpts, _ = dsnFields(ds.body)
		for _, rc := range rcpts {
			if reportsFailure(rc) {
				return nil
			}
		}
	}
	// The cheap test first: most reports quote a server's answer.
	text := explanation(root)
	if reFailureAnswer.MatchString(text) ||
		!reChallenge.MatchString(decodeHeader(h.get("Subject"))) && !reChallenge.MatchString(fold(firstLines(text, 60))) {
		return nil
	}
	r := &Report{Kind: KindAutoReply, Format: "text", AutoReplyType: "challenge-response"}
	if strings.HasPrefix(root.media, "multipart/report") {
		r.Format = "rfc3464+text"
	}
	for _, rc := range rcpts {
		r.Recipients = append(r.Recipients, Recipient{EmailAddress: rc.EmailAddress})
	}
	if len(r.Recipients) == 0 {
		for _, a := range returnedRecipients(root).named() {
			r.Recipients = append(r.Recipients, Recipient{EmailAddress: a})
		}
	}
	if a := cleanAddress(h.get("From")); len(r.Recipients) == 0 && a != "" {
		r.Recipients = []Recipient{{EmailAddress: a}}
	}
	return r
}

// reportsFailure says whether a delivery-status recipient reports that
// delivery failed or is delayed: an action other than delivered, relayed
// or expanded, or a 4.x.x / 5.x.x status (RFC 3464 §2.3.3, §2.3.4). A
// recipient block with neither says nothing failed.
func reportsFailure(rc Recipient) bool {
	switch rc.Action {
	case "", "delivered", "relayed", "expanded", "deliverable":
	default:
		return true
	}
	return strings.HasPrefix(rc.Status, "4.") || strings.HasPrefix(rc.Status, "5.")
}

// repliedPetrelID returns the Petrel message ID (rePetrelID) a message
// names as the one it answers (RFC 5322 §3.6.4: In-Reply-To, else
// References), or "". An auto-reply that names one answers Petrel's mail.
func repliedPetrelID(h header) string {
	for _, name := range []string{"In-Reply-To", "References"} {
		if id := rePetrelID.FindString(h.get(name)); id != "" {
			return id
		}
	}
	return ""
}
