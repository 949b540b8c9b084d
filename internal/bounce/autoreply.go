package bounce

import (
	"regexp"
	"strings"
)

var (
	reAutoReplySubject = regexp.MustCompile(`(?i)^\s*(auto(matic|matisk)?[ -]?(reply|response|respons|antwort|svar)|auto:|autoreply|out of (the )?office|ooo\b|on vacation|vacation|away from (the )?office|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|risposta automatica|respuesta autom[aá]tica|resposta autom[aá]tica|自動応答|自動返信|不在)`)
	reDisused          = regexp.MustCompile(`(?i)no longer (in use|used|active|monitored|being monitored|valid)|(is )?not (being )?monitored|has been (deactivated|discontinued|closed)`)
	reChallenge        = regexp.MustCompile(`(?i)(verify|confirm) (that )?you are (a )?(human|real|not a robot)|challenge[- ]response|approve (your|this) (email|message|sender)|sender verification|to have your (email|message) delivered,? please`)
)

// parseAutoReply recognises automatic replies (RFC 3834): Auto-Submitted:
// auto-replied, the X-Autoreply family, Precedence: auto_reply, and the
// subjects vacation and out-of-office responders use. They are not bounces;
// SES forwards them to the sender, and Petrel records them.
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
		reAutoReplySubject.MatchString(subject)
	if !is {
		return nil
	}
	r := &Report{Kind: KindAutoReply, Format: "rfc3834", AutoReplyType: "vacation"}
	text := subject + "\n"
	for _, e := range leafTexts(root) {
		text += e.text()
	}
	switch {
	case reChallenge.MatchString(text):
		r.AutoReplyType = "challenge-response"
	case reDisused.MatchString(text):
		r.AutoReplyType = "disused-mailbox"
	}
	if a := cleanAddress(h.get("From")); a != "" {
		r.Recipients = []Recipient{{EmailAddress: a}}
	}
	return r
}
