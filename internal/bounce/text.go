package bounce

import (
	"html"
	"regexp"
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
//     original sender's, else the original message's To;
//  4. each recipient's diagnostic is the text from its first mention to the
//     next recipient's (the server's answer follows the address in every
//     format seen), or the whole explanation when that has no answer in it.

var (
	reBounceSender  = regexp.MustCompile(`(?i)mailer-?daemon|postmaster|mail ?delivery|delivery ?(status|subsystem|system|notification)|mail ?administrator|returned ?mail|\bmdaemon|mailer@|bounce|nobody@|\bmta@|mail system`)
	reRoleSender    = regexp.MustCompile(`(?i)post_?master|mailer|daemon|no-?reply|admin|system`)
	reBounceBody    = regexp.MustCompile(`(?i)could ?n[o']?t be delivered|not (be )?delivered|undeliverable|delivery (has )?failed|permanent (error|failure)|invalid (user|recipient|address)|no such (user|mailbox|address)|returned mail|user unknown|mailbox (is )?full|did not receive this message|unable to deliver|failed to deliver|delivery to the following|配信|送信できません|届きません|エラー`)
	reBounceSubject = regexp.MustCompile(`(?i)undeliver|undelivered|delivery (status notification|fail|has failed|problem|report|notification)|delivery.*(unsuccessful|failed)|returned mail|mail delivery (failed|failure|system)|failure notice|non.?delivery|nondeliverable|could not (be )?(sent|send|deliver)|mail system error|message (not delivered|delivery failed|could not)|failed (delivery|mail)|return(ed)? to sender|warning: could not send|delayed mail|delivery delayed|mail could not be delivered|\bndn\b|problem delivering|error (sending|delivering)|permanent (error|failure)|rejected|bounce|mail failure|unable to deliver|not (be )?delivered|delivery error|transmission failure|mail error|sending failed|sysmail|returned message|delivery notification|failed to deliver|there was an error|message you sent|fail(ed|ure)|エラー|不達|配信|返送`)
	reDelayNotice   = regexp.MustCompile(`(?i)delivery (status notification \(delay\)|delayed)|warning: could not send message for past|has not yet been delivered|not (yet )?been delivered .*(will (continue to )?(retry|try)|still trying)|will (continue to )?(retry|try again)|still (trying|being retried)|temporarily deferred|delayed mail|message delayed|delivery is delayed|will be retried`)
	reOriginalCut   = regexp.MustCompile(`(?im)^[ \t>|-]*(-+ ?)?(original message|this is a copy of|below this line is a copy|a copy of the (original )?message|the (original|header|headers) of (the |your )?(original )?message|(original )?message headers? follows?|returned message|unsent message below|original message follows|headers of the original message|undelivered message|content of the original message|message text follows|\[?message (header|body)\]?|rfc822 headers|--- ?begin (returned|original)|the message that you sent (begins|was))[^\n]*$`)
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
	if len(addrs) == 0 {
		addrs = candidates(text, exclude, reporterDomain(root))
	}
	if len(addrs) == 0 {
		// The report's own addresses are excluded above because the text
		// often names the sender; when nothing else is left, the recipient
		// may be one of them (a message sent to oneself).
		addrs = candidates(text, nil, reporterDomain(root))
	}
	if len(addrs) == 0 {
		for _, rc := range originalRecipients(root) {
			if !exclude[strings.ToLower(rc.EmailAddress)] {
				addrs = append(addrs, rc.EmailAddress)
			}
		}
	}
	blocks := diagnostics(text, addrs)
	for i, a := range addrs {
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
// Message-ID, a help address), and not the reporting system's own
// mailer-daemon or postmaster.
func candidates(text string, exclude map[string]bool, reporter string) []string {
	matches := reAddress.FindAllStringIndex(text, -1)
	// An address named once as the sender or a help address is that
	// throughout the notice (Postfix repeats its help address in a
	// translated paragraph).
	never := map[string]bool{}
	for _, m := range matches {
		if notRecipientAt(text, m[0]) {
			never[strings.ToLower(cleanAddress(text[m[0]:m[1]]))] = true
		}
	}
	var addrs []string
	seen := map[string]bool{}
	for _, m := range matches {
		a := cleanAddress(text[m[0]:m[1]])
		key := strings.ToLower(a)
		if a == "" || seen[key] || exclude[key] || never[key] || rePetrelID.MatchString(a) {
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
	blocks := diagnostics(text, addrs)
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
	return text[:cut]
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
	root.walk(func(e *entity) bool {
		if e != root && (e.media == "message/rfc822" || e.media == "text/rfc822-headers" || e.media == "message/rfc822-headers") && len(e.children) > 0 {
			for _, name := range []string{"From", "Sender", "Return-Path", "Reply-To"} {
				add(e.children[0].header.get(name))
			}
			return false
		}
		return true
	})
	return out
}

// reSenderField matches a line up to an address where a notice quotes or
// summarises a header field of the original message (indented, or quoted
// with ">") that names its sender: RFC 5322 §3.6.2 originator fields, the
// envelope MAIL FROM of RFC 5321 §4.1.1.2 and its Exim, Domino and
// Sendmail spellings.
var reSenderField = regexp.MustCompile(`(?i)^[ \t>|]*(?:resent-)?(?:from|sender|reply-to|return-path|errors-to|envelope-from|envelope-sender|mail from|smtp\.mailfrom|header\.from)[ \t]*[:=][^@\n]*$`)

// reHelpAddress matches prose up to a help address ("please contact
// <helpdesk@…>", as Postfix's notice template writes, and its French and
// German wordings).
var reHelpAddress = regexp.MustCompile(`(?i)\b(?:contact|contactez|kontaktieren\s+sie)\b[ \t"'<:]*$`)

// maxFieldPrefix bounds how much of a line before an address is read to
// tell what names it: field names and "contact" sit right before it, and a
// bound keeps a notice of one long line linear.
const maxFieldPrefix = 200

// notRecipientAt reports whether the address at offset i of text is named
// as something other than a failed recipient: part of a Message-ID (or
// In-Reply-To, References) line, the original's sender (reSenderField) or a
// help address (reHelpAddress).
func notRecipientAt(text string, i int) bool {
	from := max(0, i-maxFieldPrefix)
	prefix := text[from:i]
	nl := strings.LastIndexByte(prefix, '\n')
	// Only a line that starts within the bound can be a quoted header field.
	wholeLine := nl >= 0 || from == 0
	prefix = prefix[nl+1:]
	line := strings.ToLower(prefix)
	return strings.Contains(line, "message-id") || strings.Contains(line, "in-reply-to") || strings.Contains(line, "references:") ||
		wholeLine && reSenderField.MatchString(prefix) || reHelpAddress.MatchString(prefix)
}

// diagnostics returns, for each address, the text from its first mention to
// the next address's first mention (at most 40 lines).
func diagnostics(text string, addrs []string) []string {
	lower := asciiLower(text)
	starts := make([]int, len(addrs))
	for i, a := range addrs {
		starts[i] = -1
		if j := strings.Index(lower, asciiLower(a)); j >= 0 {
			starts[i] = strings.LastIndexByte(text[:j], '\n') + 1
		}
	}
	out := make([]string, len(addrs))
	for i := range addrs {
		if starts[i] < 0 {
			out[i] = clip(fold(text), 1000)
			continue
		}
		end := len(text)
		for j := range addrs {
			if starts[j] > starts[i] && starts[j] < end {
				end = starts[j]
			}
		}
		block := text[starts[i]:end]
		if lines := strings.SplitN(block, "\n", 41); len(lines) > 40 {
			block = strings.Join(lines[:40], "\n")
		}
		if !reSMTPAnswer.MatchString(block) {
			first := len(text)
			for _, st := range starts {
				if st >= 0 && st < first {
					first = st
				}
			}
			switch {
			case reSMTPAnswer.MatchString(text[:first]):
				// The answer comes before the list of recipients.
				block = text[:first] + "\n" + block
			case len(strings.Fields(block)) < 6:
				block = text
			}
		}
		out[i] = clip(fold(block), 1000)
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
