package bounce

import (
	"html"
	"regexp"
	"slices"
	"strings"
)

// Most MTAs and mail providers that do not send RFC 3464 DSNs (qmail, Exim,
// old Sendmail, Gmail, Yahoo, Exchange 2003, Notes, Japanese carriers, …)
// still write the same thing in prose: an introduction, then each failed
// recipient followed by the remote server's answer, then a copy of the
// original message. parseText reads that shape without per-MTA code:
//
//  1. decide the message is a bounce (sender, subject, X-Failed-Recipients);
//  2. take the explanation text, cut before the copy of the original;
//  3. the failed recipients are X-Failed-Recipients, else the addresses in
//     the explanation that are not the sender's, the reporter's or the
//     original sender's (candidates) and the bare local parts it names
//     ("<bob>: unknown user") qualified from the returned message (qualify),
//     else the returned message's envelope recipient, else its To and Cc
//     (returnedRecipients);
//  4. each recipient's diagnostic is the server's reply to its RCPT TO in a
//     session transcript, else the text from a mention of it to the next
//     mention of another recipient — the first such block with an SMTP
//     answer in it (the server's answer follows the address in every format
//     seen; an introduction naming every recipient has none);
//  5. an address found in the text whose own blocks hold no answer, when
//     another's do, is only mentioned (the original's addressees, a quoted
//     Cc, a forward note) and is left out.

var (
	reBounceSender  = regexp.MustCompile(`(?i)mailer-?daemon|postmaster|mail ?delivery|delivery ?(status|subsystem|system|notification)|mail ?administrator|returned ?mail|\bmdaemon|mailer@|bounce|nobody@|\bmta@|mail system`)
	reRoleSender    = regexp.MustCompile(`(?i)post_?master|mailer|daemon|no-?reply|admin|system`)
	reBounceBody    = regexp.MustCompile(`(?i)could ?n[o']?t be delivered|not (be )?delivered|undeliverable|delivery (has )?failed|permanent (error|failure)|invalid (user|recipient|address)|no such (user|mailbox|address)|returned mail|user unknown|mailbox (is )?full|did not receive this message|unable to deliver|failed to deliver|delivery to the following|配信|送信できません|届きません|エラー`)
	reBounceSubject = regexp.MustCompile(`(?i)undeliver|undelivered|delivery (status notification|fail|has failed|problem|report|notification)|delivery.*(unsuccessful|failed)|returned mail|mail delivery (failed|failure|system|status)|failure notice|non.?delivery|nondeliverable|could not (be )?(sent|send|deliver)|mail system error|message (not delivered|delivery failed|could not)|failed (delivery|mail)|return(ed)? to sender|warning: could not send|delayed mail|delivery delayed|mail could not be delivered|\bndn\b|problem delivering|error (sending|delivering)|permanent (error|failure)|rejected|bounce|mail failure|unable to deliver|not (be )?delivered|delivery error|transmission failure|mail error|sending failed|sysmail|returned message|delivery notification|failed to deliver|there was an error|message you sent|fail(ed|ure)|エラー|不達|配信|返送`)
	reDelayNotice   = regexp.MustCompile(`(?i)delivery (status notification \(delay\)|delayed)|warning: could not send message for past|has not yet been delivered|not (yet )?been delivered .*(will (continue to )?(retry|try)|still trying)|will (continue to )?(retry|try again)|still (trying|being retried)|temporarily deferred|delayed mail|message delayed|delivery is delayed|will be retried`)
	reOriginalCut   = regexp.MustCompile(`(?im)^[ \t>|-]*(-+ ?)?(original message|this is a copy of|below this line is a copy|a copy of the (original )?message|the (original|header|headers) of (the |your )?(original )?message|(original )?message headers? follows?|returned message|unsent message below|original message follows|headers of the original message|undelivered message|content of the original message|message text follows|\[?message (header|body)\]?|rfc822 headers|--- ?begin (returned|original)|the message that you sent (begins|was)|(die )?urspr(ü|ue)ngliche nachricht|originalnachricht|message d.origine|message original|mensaje original|mensagem original|messaggio originale|oorspronkelijk bericht|origineel bericht|oryginalna wiadomo|исходное сообщение|оригинальное сообщение|元のメッセージ|元のメール|原始邮件|原邮件|原始郵件)[^\n]*$`)
	reHeaderLine    = regexp.MustCompile(`(?m)^(Received|Return-Path|Message-ID|Message-Id|DKIM-Signature|X-Mailer|MIME-Version|Content-Type): `)
	reTag           = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	reSMTPAnswer    = regexp.MustCompile(`(?:^|\D)[45][0-9][0-9][ -]|[45]\.[0-9]{1,3}\.[0-9]{1,3}|#[45]\.[0-9]`)
	reRoleLocal     = regexp.MustCompile(`(?i)^(mailer-?daemon|postmaster|mail-?daemon|mailerdaemon|abuse|noreply|no-reply|bounces?|root|mdaemon)(\+.*)?@`)
)

// looksLikeBounce says whether a message is a non-delivery report of some
// kind, before any attempt to read it.
func looksLikeBounce(root *entity) bool {
	h := root.header
	if h.get("X-Failed-Recipients") != "" || strings.HasPrefix(root.media, "multipart/report") {
		return true
	}
	from := decodeHeader(h.get("From"))
	subject := decodeHeader(h.get("Subject"))
	if reBounceSender.MatchString(from) && !reAutoReplySubject.MatchString(subject) {
		return true
	}
	if reAutoReplySubject.MatchString(subject) {
		return false
	}
	if reBounceSubject.MatchString(subject) {
		return true
	}
	// A role sender or the null return path, and a body that says so.
	rp := strings.TrimSpace(h.get("Return-Path"))
	if rp == "<>" || rp == "" && h.get("Return-Path") != "" || reRoleSender.MatchString(from) {
		return reBounceBody.MatchString(firstLines(explanation(root), 40))
	}
	return false
}

func parseText(root *entity) *Report {
	if !looksLikeBounce(root) {
		return nil
	}
	text := explanation(root)
	r := &Report{Kind: KindBounce, Format: "text"}
	if reDelayNotice.MatchString(decodeHeader(root.header.get("Subject"))) || reDelayNotice.MatchString(firstLines(text, 30)) && !strings.Contains(strings.ToLower(text), "permanent") {
		r.Kind = KindDelay
	}
	action := "failed"
	if r.Kind == KindDelay {
		action = "delayed"
	}

	exclude := reporterAddresses(root)
	var addrs []string
	// Distinct addresses only, and no more than a report may name: every
	// address costs a pass of diagnostics over the text (Parse dedupes and
	// caps again for the other parsers).
	seen := map[string]bool{}
	for _, v := range root.header.all("X-Failed-Recipients") {
		for _, a := range reAddress.FindAllString(v, -1) {
			a = cleanAddress(a)
			if k := strings.ToLower(a); !seen[k] && len(addrs) < maxRecipients {
				seen[k] = true
				addrs = append(addrs, a)
			}
		}
	}
	// X-Failed-Recipients names exactly the failed recipients (Exim); only
	// addresses found in the text are judged by their blocks below.
	judged := len(addrs) == 0
	if len(addrs) == 0 {
		addrs = candidates(text, exclude, reporterDomain(root))
	}
	if len(addrs) == 0 {
		// The report's own addresses are excluded above because the text
		// often names the sender; when nothing else is left, the recipient
		// may be one of them (a message sent to oneself).
		addrs = candidates(text, nil, reporterDomain(root))
	}
	needles := slices.Clone(addrs)
	for _, a := range addrs {
		seen[strings.ToLower(a)] = true
	}
	returned := returnedRecipients(root)
	hosts := reporterHosts(root, text)
	bare := bareLocals(text)
	for _, local := range bare {
		a := qualify(local, returned, hosts)
		if k := strings.ToLower(a); a != "" && !seen[k] && !exclude[k] && len(addrs) < maxRecipients {
			seen[k] = true
			addrs = append(addrs, a)
			needles = append(needles, "<"+local+">")
		}
	}
	// A notice that names its recipients by local part alone names them
	// all: one left unqualified is not whoever else the copy was for.
	if len(addrs) == 0 && len(bare) == 0 {
		judged = false
		for _, a := range returned.named() {
			if !exclude[strings.ToLower(a)] {
				addrs = append(addrs, a)
				needles = append(needles, a)
			}
		}
	}
	blocks, answered := diagnostics(text, needles)
	// An address whose own block holds no answer, in a notice where other
	// recipients' blocks do, is only mentioned there (the original's
	// addressees, a forward note, a help or sender line): it did not fail.
	some := judged && slices.Contains(answered, true)
	for i, a := range addrs {
		if some && !answered[i] {
			continue
		}
		r.Recipients = append(r.Recipients, Recipient{EmailAddress: a, Action: action, DiagnosticCode: blocks[i]})
	}
	if len(r.Recipients) == 0 {
		// A bounce that names nobody: keep the explanation for the operator.
		r.Recipients = []Recipient{{Action: action, DiagnosticCode: clip(fold(text), 1000)}}
	}
	return r
}

// candidates returns the addresses in text, in order, that can be a failed
// recipient: not excluded, not a Petrel return path, never named where
// notices name someone else (notRecipientAt: the original's sender, a
// Message-ID or queue ID, a help address, a greeting, an example, a quoted
// display name), and not the
// reporting system's own mailer-daemon or postmaster. An address the notice
// names only in its summary of the original's addressees (summaryAt) is a
// candidate only when the notice names no other: "Your message to: a, b, c"
// lists every addressee, and only some of them failed.
func candidates(text string, exclude map[string]bool, reporter string) []string {
	matches := reAddress.FindAllStringIndex(text, -1)
	// An address named once as the sender or a help address is that
	// throughout the notice (Postfix repeats its help address in a
	// translated paragraph).
	never := map[string]bool{}
	summary := make([]bool, len(matches))
	hasSummary := reSummaryIntro.MatchString(text)
	for k, m := range matches {
		if notRecipientAt(text, m[0], m[1]) {
			never[strings.ToLower(cleanAddress(text[m[0]:m[1]]))] = true
		}
		summary[k] = hasSummary && summaryAt(text, m[0])
	}
	pick := func(withSummary bool) []string {
		var addrs []string
		seen := map[string]bool{}
		for k, m := range matches {
			a := cleanAddress(text[m[0]:m[1]])
			key := strings.ToLower(a)
			if a == "" || seen[key] || exclude[key] || never[key] || summary[k] && !withSummary || rePetrelID.MatchString(a) {
				continue
			}
			if reRoleLocal.MatchString(a) {
				_, domain, _ := strings.Cut(key, "@")
				if strings.HasSuffix(domain, reporter) && reporter != "" || strings.HasSuffix(reporter, domain) || !strings.HasPrefix(key, "postmaster@") {
					continue
				}
			}
			seen[key] = true
			if addrs = append(addrs, a); len(addrs) == maxRecipients {
				break
			}
		}
		return addrs
	}
	if addrs := pick(false); len(addrs) > 0 {
		return addrs
	}
	return pick(true)
}

// reSummaryIntro matches the phrases that introduce a notice's summary of
// the original message's addressees (Sendmail's "The original message was
// addressed to:", "Your message to: a, b, c").
var reSummaryIntro = regexp.MustCompile(`(?i)\b(?:(?:was|were) addressed to|(?:your|the|original) message to|message was sent to|original(?:ly)? (?:addressed|sent) to)[ \t]*:?`)

// reListGlue is what may sit between the addresses of a summary list.
var reListGlue = regexp.MustCompile(`(?i)^(?:[\s,;<>"'()]|\band\b|\bor\b)*$`)

// summaryAt reports whether the address at offset i of text is one of a
// list introduced by reSummaryIntro in the same paragraph, with nothing but
// addresses and separators between the phrase and it.
func summaryAt(text string, i int) bool {
	from := max(0, i-maxFieldPrefix*4)
	prefix := text[from:i]
	if p := strings.LastIndex(prefix, "\n\n"); p >= 0 {
		prefix = prefix[p+2:]
	}
	ms := reSummaryIntro.FindAllStringIndex(prefix, -1)
	if ms == nil {
		return false
	}
	between := reAddress.ReplaceAllString(prefix[ms[len(ms)-1][1]:], " ")
	return reListGlue.MatchString(between)
}

// reBareLocal matches a recipient named by its local part alone at the
// start of a line, as local delivery agents write it: Postfix's
// "<bob>: unknown user", Sendmail's "<bob>... User unknown".
var reBareLocal = regexp.MustCompile(`(?m)^[ \t]*<([A-Za-z0-9][A-Za-z0-9._+=-]{0,63})>(?::|\.\.\.)`)

// bareLocals returns the local parts reBareLocal finds in text, in order.
func bareLocals(text string) []string {
	var out []string
	for _, m := range reBareLocal.FindAllStringSubmatch(text, maxRecipients) {
		out = append(out, m[1])
	}
	return out
}

// returned is what the returned copy of the original message says about
// whom it was delivered to: its envelope recipient fields, which the
// receiving system adds (Postfix's X-Original-To, Exim's Envelope-To, the
// Delivered-To of qmail, Postfix and Courier local delivery), and its To
// and Cc. Its Return-Path is the sender, never a recipient.
//
// all is every address of them together: all the envelope fields (every
// Delivered-To), then To and Cc.
type returned struct{ envelope, to, all []string }

// returnedRecipients reads the returned copy: an attached message or
// header part, else the header block quoted in the text.
func returnedRecipients(root *entity) returned {
	h := returnedHeader(root)
	var r returned
	add := func(to *[]string, vs ...string) {
		for _, v := range vs {
			for _, a := range reAddress.FindAllString(v, maxRecipients) {
				if a = cleanAddress(a); a != "" && !slices.Contains(*to, a) {
					*to = append(*to, a)
				}
			}
		}
	}
	// The address the sender used comes first: X-Original-To and
	// Envelope-To name it before aliasing; of several Delivered-To fields
	// (one per local delivery hop, newest first) the last is the earliest.
	for _, name := range []string{"X-Original-To", "Envelope-To", "X-Envelope-To"} {
		if len(r.envelope) == 0 {
			add(&r.envelope, h.all(name)...)
		}
	}
	if d := h.all("Delivered-To"); len(r.envelope) == 0 && len(d) > 0 {
		add(&r.envelope, d[len(d)-1])
	}
	add(&r.to, h.all("To")...)
	add(&r.to, h.all("Cc")...)
	for _, name := range []string{"X-Original-To", "Envelope-To", "X-Envelope-To", "Delivered-To", "To", "Cc"} {
		add(&r.all, h.all(name)...)
	}
	return r
}

// named is whom the returned copy was for: its envelope recipient when the
// receiving system recorded one, else its To and Cc.
func (r returned) named() []string {
	if len(r.envelope) > 0 {
		return r.envelope
	}
	return r.to
}

// qualify completes a bare local part with the returned copy's recipient
// of that local part, among all its envelope fields and its To and Cc, when
// that names exactly one; of several, the one whose domain a reporting host
// is in (mail.beta.test reports for info@beta.test, not info@alpha.test).
// Otherwise it is "": the domain is never guessed from a host's name
// (mx.corp.test's users need not be @mx.corp.test or @corp.test), and a
// guess between two recipients could name one that did not fail.
func qualify(local string, r returned, hosts []string) string {
	var same []string
	for _, a := range r.all {
		if l, _, _ := strings.Cut(a, "@"); strings.EqualFold(l, local) && !slices.ContainsFunc(same, func(b string) bool { return strings.EqualFold(a, b) }) {
			same = append(same, a)
		}
	}
	if len(same) == 1 {
		return same[0]
	}
	found := ""
	for _, a := range same {
		_, d, _ := strings.Cut(strings.ToLower(a), "@")
		if slices.ContainsFunc(hosts, func(h string) bool { return h == d || strings.HasSuffix(h, "."+d) }) {
			if found != "" {
				return ""
			}
			found = a
		}
	}
	return found
}

// reReportingHost matches the host a notice says it is written by
// (Postfix's "This is the mail system at host mail.beta.test.", Exim's and
// Sendmail's "… from host …" are the remote's and are not read).
var reReportingHost = regexp.MustCompile(`(?i)\bmail (?:system|server|delivery system|transport agent) at (?:host )?([a-z0-9-]+(?:\.[a-z0-9-]+)+)`)

// reporterHosts are the names of the system that wrote the report: the
// domain of its From address and the host its notice names as its own.
func reporterHosts(root *entity, text string) []string {
	var out []string
	if d := reporterDomain(root); d != "" {
		out = append(out, d)
	}
	if m := reReportingHost.FindStringSubmatch(firstLines(text, 10)); m != nil {
		out = append(out, strings.ToLower(m[1]))
	}
	return out
}

// reporterDomain is the domain of the report's From address.
func reporterDomain(root *entity) string {
	_, d, _ := strings.Cut(strings.ToLower(cleanAddress(root.header.get("From"))), "@")
	return d
}

// textRecipients reads the human-readable part of a DSN the same way, to
// supply diagnostics the machine-readable part lacks.
func textRecipients(root *entity) map[string]Recipient {
	text := explanation(root)
	var addrs []string
	seen := map[string]bool{}
	for _, m := range reAddress.FindAllString(text, -1) {
		a := cleanAddress(m)
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			addrs = append(addrs, a)
		}
	}
	out := map[string]Recipient{}
	blocks, _ := diagnostics(text, addrs)
	for i, a := range addrs {
		out[strings.ToLower(a)] = Recipient{EmailAddress: a, DiagnosticCode: blocks[i]}
	}
	return out
}

// explanation returns the report's own text (plain parts, else HTML parts
// with the tags removed), cut before the copy of the original message.
func explanation(root *entity) string {
	var plain, htm strings.Builder
	for _, e := range leafTexts(root) {
		switch e.media {
		case "text/html":
			htm.WriteString(html.UnescapeString(reTag.ReplaceAllString(strings.ReplaceAll(e.text(), "<br", "\n<br"), " ")))
			htm.WriteString("\n")
		default:
			plain.WriteString(e.text())
			plain.WriteString("\n")
		}
	}
	text := plain.String()
	if strings.TrimSpace(text) == "" {
		text = htm.String()
	}
	if len(text) > maxExplanation {
		text = text[:maxExplanation]
	}
	// Cut at the first separator or quoted header block past the opening.
	cut := len(text)
	if m := reOriginalCut.FindStringIndex(text); m != nil && m[0] > 0 {
		cut = m[0]
	}
	if m := reHeaderLine.FindStringIndex(text); m != nil && m[0] > 0 && m[0] < cut {
		cut = m[0]
	}
	return unwrapX400(text[:cut])
}

// reporterAddresses are the addresses that cannot be a failed recipient: the
// report's own sender and addressee, and the original message's sender.
func reporterAddresses(root *entity) map[string]bool {
	out := map[string]bool{}
	add := func(v string) {
		for _, a := range reAddress.FindAllString(v, -1) {
			out[strings.ToLower(cleanAddress(a))] = true
		}
	}
	for _, name := range []string{"From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Errors-To"} {
		for _, v := range root.header.all(name) {
			add(v)
		}
	}
	if h := attachedHeader(root); h != nil {
		for _, name := range []string{"From", "Sender", "Return-Path", "Reply-To"} {
			add(h.get(name))
		}
	}
	return out
}

// reSenderField matches a line up to an address where a notice quotes or
// summarises a header field of the original message (indented, or quoted
// with ">") that names its sender: RFC 5322 §3.6.2 originator fields, the
// envelope MAIL FROM of RFC 5321 §4.1.1.2 and its Exim, Domino and
// Sendmail spellings.
// A label of a few words around those names counts too ("Envelope
// sender:", "Reply address:", "Reply-To on the original:").
var reSenderField = regexp.MustCompile(`(?i)^[ \t>|]*(?:[a-z-]+[ \t]+){0,3}(?:resent-)?(?:from|sender|reply-to|reply[ -]address|return-path|errors-to|envelope-from|envelope[ -]sender|mail from|smtp\.mailfrom|header\.from)(?:[ \t]+[a-z-]+){0,3}[ \t]*[:=][^@\n]*$`)

// reSenderProse matches prose up to the original's sender ("Your message
// from news@… to …", "The message sent by news@…").
var reSenderProse = regexp.MustCompile(`(?i)\b(?:(?:message|mail|e-?mail|letter)[ \t]+from|sent[ \t]+by)[ \t"'<]*$`)

// reHelpAddress matches prose up to a help address ("please contact
// <helpdesk@…>", as Postfix's notice template writes, and its French and
// German wordings).
// "Write to …", "email …" and a question line ("Questions? …", "Pour
// toute question : …") name one too.
var reHelpAddress = regexp.MustCompile(`(?i)(?:\b(?:contact|contactez|kontaktieren\s+sie|write\s+to|e-?mail|écrivez\s+à|schreiben\s+sie\s+an)\b[ \t"'<]*|\b(?:contact|contactez|kontaktieren\s+sie)\b[ \t"'<:]*|\bquestions?[ \t]*[:?][ \t"'<]*)$`)

// reGreeting matches a salutation up to the address it greets ("Dear
// news@sender.test,", "Hello …"): notices greet the sender.
var reGreeting = regexp.MustCompile(`(?i)^[ \t]*(?:dear|hello|hi|hey|greetings|attention|attn\.?|bonjour|hallo|sehr geehrte[rs]?|liebe[rs]?|estimad[oa]|caro|cara|gentile)[ \t,:"'<]*$`)

// reExample matches prose up to an example address ("e.g. postmaster@…",
// "such as someone@example.com").
var reExample = regexp.MustCompile(`(?i)(?:\be\.? ?g\.?|\bfor (?:example|instance)|\bsuch as|\blike|\bi\.e\.|\bz\. ?b\.|\bpar exemple|\bbeispielsweise)[ \t,:"'<(]*$`)

// reMessageIDProse matches prose up to a Message-ID in angle brackets
// ("Your message <1234.abc@mx.corp.test> could not be delivered"): an
// RFC 5322 §3.6.4 msg-id has an address's shape.
// A queue ID needs no brackets ("Queue ID: 4Hx2Zk0abc@mx.isp.test").
var reMessageIDProse = regexp.MustCompile(`(?i)(?:\b(?:message|msg|(?:message|msg|mail|queue)[ -]?id)[ \t]*[:#=]?[ \t]*<|\b(?:queue|mail|message|msg)[ -]?id[ \t]*[:#=]?[ \t]*)$`)

// reBareMessageID matches prose up to a Message-ID without brackets
// ("Message 20261122100000.1a2b3c@mx.isp.test could not be delivered"),
// and reIDLocal the local part that shows it is one (RFC 5322 §3.6.4
// id-left as MTAs make it: digits and dots, or a long run with digits).
var (
	reBareMessageID = regexp.MustCompile(`(?i)\b(?:message|msg)[ \t]+$`)
	reIDLocal       = regexp.MustCompile(`^[0-9][0-9A-Za-z]*[.$][0-9A-Za-z.$-]+$|^[0-9A-Za-z.$-]{20,}$`)
)

// maxFieldPrefix bounds how much of a line before an address is read to
// tell what names it: field names and "contact" sit right before it, and a
// bound keeps a notice of one long line linear.
const maxFieldPrefix = 200

// notRecipientAt reports whether the address at text[i:end] is named as
// something other than a failed recipient: part of a Message-ID (or
// In-Reply-To, References) line, a Message-ID or queue ID in prose
// (reMessageIDProse, reBareMessageID), the original's sender
// (reSenderField, reSenderProse), a help address (reHelpAddress), the
// addressee of a greeting (reGreeting), an example (reExample), or words
// of another address's quoted display name (inDisplayName).
func notRecipientAt(text string, i, end int) bool {
	from := max(0, i-maxFieldPrefix)
	prefix := text[from:i]
	nl := strings.LastIndexByte(prefix, '\n')
	// Only a line that starts within the bound can be a quoted header field.
	wholeLine := nl >= 0 || from == 0
	prefix = prefix[nl+1:]
	line := strings.ToLower(prefix)
	// Prose right before the address: a few words are enough.
	tail := prefix[max(0, len(prefix)-maxPhrasePrefix):]
	if reBareMessageID.MatchString(tail) {
		local, _, _ := strings.Cut(text[i:end], "@")
		if reIDLocal.MatchString(local) && strings.ContainsAny(local, "0123456789") {
			return true
		}
	}
	return strings.Contains(line, "message-id") || strings.Contains(line, "in-reply-to") || strings.Contains(line, "references:") ||
		wholeLine && (reSenderField.MatchString(prefix) || reGreeting.MatchString(prefix)) ||
		namedInProse(tail) || inDisplayName(prefix, text[end:])
}

// reDisplayTail matches the rest of a quoted display name after an address
// inside it, up to the angle bracket of the real address.
var reDisplayTail = regexp.MustCompile(`^[^"\n]{0,200}"[ \t]*<`)

// inDisplayName reports whether an address sits inside the quoted display
// name of another ("fred@corp.test via Support" <support-queue@corp.test>,
// RFC 5322 §3.4): the phrase names someone, the mailbox is the address.
func inDisplayName(line, after string) bool {
	return strings.Count(line, `"`)%2 == 1 && reDisplayTail.MatchString(after)
}

// proseKeys are words one of which reNamedInProse needs, to skip the
// regular expression for most addresses (without it, 10 MB of addresses
// costs 1.2 s instead of 0.35 s: BenchmarkParseHostile/addresses).
var proseKeys = []string{"contact", "kontakt", "e.g", "eg", "ex", "instance", "such", "like", "i.e", "z.", "beispiel", "message", "msg", "mail", "queue", "from", "by", "write", "crivez", "schreiben", "question"}

// namedInProse reports whether tail, the prose before an address, ends in
// a phrase that names a help address, an example or a Message-ID.
func namedInProse(tail string) bool {
	l := asciiLower(tail)
	for _, k := range proseKeys {
		if strings.Contains(l, k) {
			return reNamedInProse.MatchString(tail)
		}
	}
	return false
}

// reNamedInProse is reHelpAddress, reExample, reMessageIDProse and
// reSenderProse in one pass.
var reNamedInProse = regexp.MustCompile(reHelpAddress.String() + "|" + reExample.String() + "|" + reMessageIDProse.String() + "|" + reSenderProse.String())

// maxPhrasePrefix bounds how much prose before an address is read for a
// phrase that names it (reNamedInProse).
const maxPhrasePrefix = 48

// maxMentions bounds how many mentions of one recipient diagnostics reads.
const maxMentions = 20

// diagnostics returns, for each needle (an address, or "<local>" for a bare
// local part), its diagnostic: the reply to its RCPT TO in an SMTP session
// transcript (transcriptReplies), else the first of its blocks — from a
// line mentioning it to the next line mentioning another recipient, at most
// 40 lines — that holds an answer (an SMTP reply or status, or words giving
// a reason, reReason), else its first block. An item of a list (a line
// naming only it) takes the answer that follows the list.
//
// answered says which needles have an answer of their own that way; the
// others get the text before the first mention when that holds an answer
// (a reason stated before the list), else their block, else (a needle the
// text names with nothing beside it) the start of the notice.
func diagnostics(text string, needles []string) (out []string, answered []bool) {
	type mention struct{ start, who int }
	var ms []mention
	who := map[string]int{}
	for i, a := range needles {
		if _, ok := who[asciiLower(a)]; !ok {
			who[asciiLower(a)] = i
		}
	}
	count := make([]int, len(needles))
	last := make([]int, len(needles))
	mentioned := func(key string, start int) {
		// A line counts once for each recipient it names.
		if i, ok := who[key]; ok && count[i] < maxMentions && (count[i] == 0 || last[i] != start) {
			count[i]++
			last[i] = start
			ms = append(ms, mention{start, i})
		}
	}
	// One pass over the addresses in the text, keeping each one's line start
	// as it goes (a notice may be one long line).
	lineStart, prev := 0, 0
	for _, m := range reAddress.FindAllStringIndex(text, -1) {
		if nl := strings.LastIndexByte(text[prev:m[0]], '\n'); nl >= 0 {
			lineStart = prev + nl + 1
		}
		prev = m[0]
		mentioned(asciiLower(cleanAddress(text[m[0]:m[1]])), lineStart)
	}
	for _, m := range reBareLocal.FindAllStringSubmatchIndex(text, maxRecipients) {
		mentioned("<"+asciiLower(text[m[2]:m[3]])+">", m[0])
	}
	slices.SortStableFunc(ms, func(a, b mention) int { return a.start - b.start })
	first := len(text)
	if len(ms) > 0 {
		first = ms[0].start
	}
	byWho := make([][]int, len(needles))
	for k, m := range ms {
		byWho[m.who] = append(byWho[m.who], k)
	}
	// The fallbacks are the same for every needle: fold them once.
	intro := clipBlock(text[:first])
	introAnswers := hasAnswer(intro)
	var whole string
	replies := transcriptReplies(text)
	out = make([]string, len(needles))
	answered = make([]bool, len(needles))
	for i, a := range needles {
		if r, ok := replies[asciiLower(a)]; ok {
			out[i], answered[i] = clip(fold(r), 1000), true
			continue
		}
		block := ""
		for n, k := range byWho[i] {
			end := len(text)
			for _, m := range ms[k+1:] {
				if m.who != i && m.start > ms[k].start {
					end = m.start
					break
				}
			}
			b := clipBlock(text[ms[k].start:end])
			if n == 0 {
				block = b
				if listItem(b) {
					// A list of recipients, their reason after it.
					b = listTail(text[ms[k].start:])
				}
			}
			if hasAnswer(b) {
				block, answered[i] = b, true
				break
			}
		}
		if !answered[i] {
			switch {
			case introAnswers:
				// The answer comes before the list of recipients.
				block = intro + "\n" + block
			case listItem(block) || block == "":
				if whole == "" {
					whole = clip(fold(clipBlock(text)), 1000)
				}
				out[i] = whole
				continue
			}
		}
		out[i] = clip(fold(block), 1000)
	}
	return out, answered
}

// maxBlock bounds the bytes of one block diagnostics reads: an answer
// follows the address within a few lines, and a bound keeps a notice of
// long lines linear in its recipients.
const maxBlock = 8 << 10

// clipBlock is the first 40 lines of b, at most maxBlock bytes.
func clipBlock(b string) string {
	b = clip(b, maxBlock)
	if lines := strings.SplitN(b, "\n", 41); len(lines) > 40 {
		b = strings.Join(lines[:40], "\n")
	}
	return b
}

// reReason matches words that give a recipient's failure without an SMTP
// code ("mailbox full", "no such user", Exchange's "couldn't be found").
var reReason = regexp.MustCompile(`(?i)unknown|no such|does ?n[o']?t exist|not (?:be )?found|full|quota|disabled|inactive|invalid|reject|refused|denied|unavailable|blocked|suspended|expired|not allowed|too (?:large|big)|timed? ?out|unreachable|unrouteable|loop|unbekannt|inconnu|desconocido|existiert nicht|n'existe pas`)

// hasAnswer reports whether a block says why delivery failed: an SMTP reply
// or enhanced status, or words giving a reason.
func hasAnswer(b string) bool { return reSMTPAnswer.MatchString(b) || reReason.MatchString(b) }

// listTail is the list that text starts with (lines naming one address
// and nothing else, blank lines) and what follows it up to the next line
// that names an address, less indented than the list's detail lines: the
// reason the list shares. A line naming another address ("Delivery failed
// for ben@…: 550 …") is that address's own answer, not the list's; an
// indented one under an item ("(generated from …)") is the item's detail.
func listTail(text string) string {
	text = clipBlock(text)
	end, inList := 0, true
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " \t")) }
	item := indent(text)
	for i, line := range strings.SplitAfter(text, "\n") {
		switch {
		case i == 0 || inList && (strings.TrimSpace(line) == "" || listItem(line)):
		case reAddress.MatchString(line) && indent(line) <= item:
			return text[:end]
		default:
			inList = false
		}
		end += len(line)
	}
	return text
}

// listItem reports whether block is a line naming one recipient and
// nothing else ("  ann@corp.test", "<ann@corp.test>,").
func listItem(block string) bool {
	f := strings.Fields(strings.TrimSpace(block))
	return len(f) == 1 && strings.Contains(f[0], "@")
}

// reRcptCommand matches a client line of an SMTP session transcript that
// names a recipient (Sendmail's and Courier's ">>> RCPT To:<a@x>").
var reRcptCommand = regexp.MustCompile(`(?i)^[ \t]*>>>[ \t]*RCPT[ \t]+TO:[ \t]*<?([^>\s]+)`)

// reTranscriptReply matches a server line of an SMTP session transcript
// ("<<< 550-5.1.1 …"): its reply code, and "-" when more lines of the same
// reply follow (RFC 5321 §4.2.1).
var reTranscriptReply = regexp.MustCompile(`^<<<[ \t]*([0-9]{3})(-?)`)

// maxPending bounds the commands a transcript may have sent ahead of their
// replies; maxNamedSearch bounds how many of them a reply that names a
// recipient is matched against, so pairing stays linear.
const (
	maxPending     = 4 * maxRecipients
	maxNamedSearch = 64
)

// transcriptReplies reads an SMTP session transcript in text (Sendmail's
// and Courier's ">>> " client lines and "<<< " server lines): the reply to
// each ">>> RCPT TO" is that recipient's answer (RFC 5321 §4.1.1.3). A
// client that pipelines (RFC 2920 §3) sends MAIL, every RCPT and DATA
// before it reads a reply, and the server answers them in order, so
// replies pair with the commands still unanswered, first to first: each
// recipient's block is its command line and its own reply, never the
// replies to other commands that follow. A reply that names, in angle
// brackets, the recipient of a later unanswered RCPT answers that one
// (a transcript that leaves replies out). A new "while talking to" session
// starts afresh. Only replies that refuse the recipient (4xx, 5xx) are
// kept; an accepted recipient's answer, if any, comes later (after DATA,
// for all of them).
func transcriptReplies(text string) map[string]string {
	if !strings.Contains(text, ">>>") {
		return nil
	}
	out := map[string]string{}
	type command struct{ line, rcpt string }
	var pending []command
	var reply strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, ">>>"):
			c := command{line: t}
			if m := reRcptCommand.FindStringSubmatch(t); m != nil {
				c.rcpt = asciiLower(cleanAddress(m[1]))
			}
			if len(pending) == maxPending {
				pending = pending[1:]
			}
			pending = append(pending, c)
		case strings.HasPrefix(t, "<<<"):
			reply.WriteString(t)
			reply.WriteByte('\n')
			m := reTranscriptReply.FindStringSubmatch(t)
			if m != nil && m[2] == "-" {
				continue // more lines of this reply follow
			}
			r := reply.String()
			reply.Reset()
			if len(pending) == 0 {
				continue // the greeting, or a reply whose command is not shown
			}
			k, lower := 0, asciiLower(r)
			for i, c := range pending[:min(len(pending), maxNamedSearch)] {
				if c.rcpt != "" && strings.Contains(lower, "<"+c.rcpt+">") {
					k = i
					break
				}
			}
			c := pending[k]
			pending = pending[k+1:]
			refused := m != nil && (m[1][0] == '4' || m[1][0] == '5') || m == nil && reSMTPAnswer.MatchString(r)
			if _, ok := out[c.rcpt]; c.rcpt != "" && !ok && refused {
				out[c.rcpt] = c.line + "\n" + r
			}
		case strings.Contains(t, "while talking to"):
			pending = pending[:0]
			reply.Reset()
		}
	}
	return out
}

func fold(s string) string { return strings.TrimSpace(spaces.ReplaceAllString(s, " ")) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func firstLines(s string, n int) string {
	if len(s) > n*1000 {
		s = s[:n*1000] // lines of text, not a megabyte on one line
	}
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// asciiLower lower-cases ASCII letters only, keeping byte offsets (text may
// hold invalid UTF-8, which strings.ToLower would rewrite).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
