package bounce

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is what a message arriving at the return path is.
type Kind string

const (
	KindBounce    Kind = "bounce"     // one or more recipients failed
	KindDelay     Kind = "delay"      // delivery is delayed, the remote MTA keeps trying
	KindComplaint Kind = "complaint"  // a feedback report (ARF) or provider complaint
	KindAutoReply Kind = "autoreply"  // vacation, out-of-office and similar (RFC 3834)
	KindNotBounce Kind = "not-bounce" // anything else, including success DSNs
)

// Report is what Parse concludes about one message.
type Report struct {
	Kind   Kind   `json:"kind"`
	Format string `json:"format"` // how it was read: rfc3464, arf, rfc3834, ses-notification, provider, text

	// Complaints (RFC 5965 §3.1).
	FeedbackType string `json:"feedbackType,omitempty"`
	UserAgent    string `json:"userAgent,omitempty"`
	ArrivalDate  string `json:"arrivalDate,omitempty"`
	SourceIP     string `json:"sourceIp,omitempty"`

	// Auto-replies: vacation, disused-mailbox, challenge-response, other.
	AutoReplyType string `json:"autoReplyType,omitempty"`

	ReportingMTA string      `json:"reportingMTA,omitempty"`
	Recipients   []Recipient `json:"recipients"`

	// Original names the message the report is about, as far as the report
	// shows it (its attached copy or headers).
	Original Original `json:"original,omitzero"`
}

// Recipient is one recipient a report is about.
type Recipient struct {
	EmailAddress string `json:"emailAddress"` // RFC 3464 §2.3.2 Final-Recipient, or the address the notice names
	// OriginalRecipient is the address as the sender gave it (RFC 3464
	// §2.3.1 Original-Recipient) when the report names one: the alias or
	// list the message was sent to, before the receiving side rewrote it.
	OriginalRecipient string `json:"originalRecipient,omitempty"`
	Action            string `json:"action,omitempty"`         // RFC 3464 §2.3.3: failed, delayed, delivered, relayed, expanded
	Status            string `json:"status,omitempty"`         // RFC 3463 enhanced status
	DiagnosticCode    string `json:"diagnosticCode,omitempty"` // "smtp; 550 5.1.1 …"
	RemoteMTA         string `json:"remoteMta,omitempty"`
	SMTPCommand       string `json:"smtpCommand,omitempty"` // the command the remote server answered: EHLO, MAIL, RCPT, DATA
	WillRetryUntil    string `json:"willRetryUntil,omitempty"`
	Verdict
}

// Original is what a report shows of the message it is about.
type Original struct {
	MessageID  string   `json:"messageId,omitempty"`
	From       string   `json:"from,omitempty"`
	To         []string `json:"to,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	ReturnPath string   `json:"returnPath,omitempty"`
	// PetrelID is the SES-shaped message ID of a message Petrel sent, when
	// the report carries one (in the original Message-ID or headers). It is
	// for people reading the report: anyone who received the message can
	// quote it, so it never attributes a report.
	PetrelID string `json:"petrelMessageId,omitempty"`
	// FeedbackToken is the X-Petrel-Feedback token found in the returned
	// original (its header, else anywhere in the report), unverified: the
	// receiver checks its MAC with ParseFeedbackToken.
	FeedbackToken string `json:"feedbackToken,omitempty"`
}

// Parse reads one message that arrived at the return path and says what it
// is. It never fails: a message it cannot read as a report is not-bounce.
//
// The steps, in order (the first that recognises the message wins):
//  1. an ARF feedback report (RFC 5965) or a provider's complaint format
//  2. a challenge-response notice that reports no failure, even one shaped
//     as a DSN (an autoreply: nothing failed)
//  3. a DSN (RFC 3464 multipart/report; report-type=delivery-status)
//  4. an Amazon SES notification (bounce or complaint JSON sent by email)
//  5. an auto-reply (RFC 3834 Auto-Submitted, localised out-of-office
//     subjects, Exchange rule replies)
//  6. a bounce forwarded as text, or in an MTA's or provider's own format
//
// A report that names no Petrel message in its original takes the one its
// In-Reply-To / References names (an auto-reply answering Petrel's mail).
func Parse(raw []byte) *Report {
	if len(raw) > maxReportBytes {
		raw = raw[:maxReportBytes]
	}
	budget := maxParts
	root := parseEntity(normalizeLines(raw), 0, &budget)
	r := parse(root)
	r.Original = original(root)
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		rc.EmailAddress = cleanAddress(rc.EmailAddress)
		rc.OriginalRecipient = cleanAddress(rc.OriginalRecipient)
	}
	r.Recipients = dedupe(r.Recipients)
	if len(r.Recipients) > maxRecipients {
		r.Recipients = r.Recipients[:maxRecipients]
	}
	if r.Recipients == nil {
		r.Recipients = []Recipient{}
	}
	return r
}

func parse(root *entity) *Report {
	if r := parseARF(root); r != nil {
		return r
	}
	if r := parseProviderComplaint(root); r != nil {
		return r
	}
	if r := parseChallenge(root); r != nil {
		return r
	}
	if r := parseDSN(root); r != nil {
		return r
	}
	if r := parseSESNotification(root); r != nil {
		return r
	}
	if r := parseAutoReply(root); r != nil {
		return r
	}
	if r := parseForwarded(root); r != nil {
		return r
	}
	if r := parseText(root); r != nil {
		return r
	}
	return &Report{Kind: KindNotBounce, Format: "none"}
}

var reForwardedBounce = regexp.MustCompile(`(?m)^(From MAILER-DAEMON |Return-Path: <>$)`)

// parseForwarded reads a bounce that someone forwarded or pasted as text
// (a provider's postmaster relaying a bounce): the inner message, from its
// mbox "From MAILER-DAEMON" line or null Return-Path, parsed on its own.
func parseForwarded(root *entity) *Report {
	if root.header.get("Content-Type") != "" && !strings.HasPrefix(root.media, "text/") {
		return nil
	}
	m := reForwardedBounce.FindIndex(root.body)
	if m == nil || m[0] == 0 {
		return nil
	}
	budget := maxParts / 2
	inner := parseEntity(root.body[m[0]:], maxDepth/2, &budget)
	if r := parseDSN(inner); r != nil && len(r.Recipients) > 0 {
		return r
	}
	if r := parseText(inner); r != nil && len(r.Recipients) > 0 && r.Recipients[0].EmailAddress != "" {
		return r
	}
	return nil
}

// ClassifyReport fills in every recipient's verdict, reading at most
// classifyBudget bytes of answer text in all. Complaints and
// auto-replies carry none. A recipient the report calls delayed (RFC 3464
// §2.3.3: the reporting MTA is still trying) is Transient whatever its
// diagnostic quotes: nothing has failed yet. A verdict the report itself
// states (RuleSESNotification: SES's bounceType for a recipient it quotes
// no answer for) is kept: SES decided, and there is no answer to classify.
func (s *RuleSet) ClassifyReport(r *Report) {
	if r.Kind != KindBounce && r.Kind != KindDelay {
		return
	}
	budget := classifyBudget
	seen := map[Answer]Verdict{}
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		if rc.Verdict.Rule == RuleSESNotification {
			continue
		}
		short := *rc
		if len(short.DiagnosticCode) > budget {
			short.DiagnosticCode = clip(short.DiagnosticCode, max(budget, minClassifyText))
		}
		a := short.Answer()
		budget -= len(a.Text)
		v, ok := seen[a]
		if !ok {
			v = s.Classify(a)
			seen[a] = v
		}
		rc.Verdict = v
		if rc.Action == "delayed" && rc.Verdict.Type == Permanent {
			rc.Verdict.Type, rc.Verdict.SubType = Transient, General
		}
	}
}

// Answer is what the receiving server said about the recipient: the DSN
// status, and the reply code, enhanced status and text of the diagnostic.
// A specific status in the diagnostic wins over a generic X.0.0 Status.
//
// The remote server's own words win over the reporting MTA's summary: an
// enhanced status in the diagnostic is used before the DSN's Status field
// (a Status of 5.1.1 over "550 5.7.1 IP address blacklisted" is the local
// MTA's guess). A specific Status of the other class than the diagnostic
// (RFC 3464 §2.3.4: 5.1.1 over "451 4.7.1 …") is the reporting MTA's own
// judgement and replaces the diagnostic's status. A generic Status
// (X.0.0, RFC 3463 §3.1) of the other class says only that the reporting
// MTA gave up (Exim's 5.0.0 over a 4xx answer after its retry timeout), not
// what the remote server said: it is dropped, and the answer classifies as
// the same reply would live — a 4xx answer stays Transient, with its own
// reason. A recipient whose answer carries neither code nor status takes
// its class from the action: failed is 5, delayed is 4.
func (rc Recipient) Answer() Answer {
	a := parseDiagnostic(rc.DiagnosticCode)
	if a.Command == "" {
		a.Command = rc.SMTPCommand
	}
	_, a.Domain, _ = strings.Cut(rc.EmailAddress, "@")
	class := ""
	switch {
	case a.Status != "":
		class = a.Status[:1]
	case a.Code >= 400 && a.Code < 600:
		class = strconv.Itoa(a.Code / 100)
	}
	st := normalizeStatus(rc.Status)
	generic := strings.HasSuffix(st, ".0.0")
	switch {
	case st == "" || st[:1] == class:
		if a.Status == "" {
			a.Status = st
		}
	case class == "" || !generic:
		a.Status = st
	}
	if a.Status == "" && a.Code == 0 {
		switch {
		case rc.Action == "delayed":
			a.Class = "4"
		case isFailed(rc.Action):
			a.Class = "5"
		}
	}
	return a
}

var (
	reReplyCode  = regexp.MustCompile(`(?:^|[^0-9.#])([245][0-9][0-9])(?:[ -]|$)`)
	reStatusCode = regexp.MustCompile(`(?:^|[^0-9.])#?([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:[^0-9.]|$)`)
)

// parseDiagnostic splits a diagnostic ("smtp; 550 5.1.1 <x>: user unknown")
// into an Answer. Its Text has the shape of a live reply's
// (smtpreply.Reply.Text), so rules read the same words whichever way an
// answer arrives: the reply code and the enhanced status after it are taken
// off, continuation lines ("550-5.7.1 …") are joined by "; ", and the
// reporting MTA's own words around the reply — its generic "could not be
// delivered" preamble and Postfix's "(in reply to … command)" — are dropped.
// Words before the reply that are not boilerplate ("sender was rejected.
// Remote host said: 550 …") stay: they are the reporter's account of it.
//
// Only the first maxDiagnostic bytes are read: a server's reply is a few
// lines, and a hostile megabyte of words would cost every rule a pass.
func parseDiagnostic(d string) Answer {
	t := strings.TrimSpace(clip(d, maxDiagnostic))
	if typ, rest, ok := strings.Cut(t, ";"); ok && !strings.ContainsAny(typ, " \t") && len(typ) < 16 {
		t = strings.TrimSpace(rest) // RFC 3464 §2.3.6: diagnostic-type ";" *text
	}
	var a Answer
	a.Command = commandOf(t)
	t = strings.TrimSpace(spaces.ReplaceAllString(reBoilerplate.ReplaceAllString(t, " "), " "))
	t = reInReplyTo.ReplaceAllString(t, "")
	a.Text = t
	if m := reReplyCode.FindStringSubmatchIndex(t); m != nil {
		a.Code = atoi(t[m[2]:m[3]])
		a.Text = strings.TrimSpace(t[:m[2]] + replyText(t[m[2]:], t[m[2]:m[3]]))
	}
	if m := reStatusCode.FindStringSubmatch(t); m != nil {
		a.Status = m[1] + "." + strings.TrimLeft(m[2], "0") + "." + trimZeros(m[3])
		a.Status = normalizeStatus(a.Status)
	}
	return a
}

// maxDiagnostic is how many bytes of a diagnostic parseDiagnostic reads.
const maxDiagnostic = 2 << 10

// The rules read at most classifyBudget bytes of answer text per report;
// past it, each further recipient's text is cut to minClassifyText bytes
// (its code and status are read whole). Every rule is a pass over the text,
// so a report of a thousand recipients with long, different diagnostics
// would otherwise cost seconds; real reports name a few recipients with
// replies of a few hundred bytes, or many with the same reply (classified
// once).
const (
	classifyBudget  = 16 << 10
	minClassifyText = 128
)

var (
	// reBoilerplate: the sentences MTAs put before every failed recipient
	// (Exim, Postfix, Sendmail, Gmail, Exchange). They say a delivery
	// failed, never why, so they are not evidence about the recipient.
	reBoilerplate = regexp.MustCompile(`(?i)this message was created automatically by mail delivery software\.?|a message that you sent could not be delivered to one or more of its\s+recipients\.?|this is a permanent error(\.|;[^.:]*[.:])?|the following address\(es\) failed:?|delivery to the following recipients? failed permanently:?|technical details of permanent failure:?|-*\s*the following addresses had permanent fatal errors\s*-*|delivery has failed to these recipients or groups:?|(i'm|i am|we're|we are) sorry to (have to )?inform you that your message could not\s+be delivered to one or more recipients\.?|your message could not be delivered to one or more recipients\.?`)
	// reInReplyTo: Postfix's "(in reply to RCPT TO command)" after a reply.
	reInReplyTo = regexp.MustCompile(`(?i)\s*\(in reply to [a-z ]+ command\)\s*$`)
	// reEnhancedLead: an enhanced status at the start of a reply line.
	reEnhancedLead = regexp.MustCompile(`^#?([245])\.[0-9]{1,3}\.[0-9]{1,3}(?:\s+|$)`)
)

// replyText reads reply — a reply as a DSN quotes it, starting at its
// code, lines run together ("550-5.7.1 a 550-5.7.1 b 550 5.7.1 c") — as
// smtpreply.Parse reads a live one: the code and a leading enhanced status
// of the code's class off each line (RFC 3463 §2), empty lines dropped, the
// rest joined by "; ". A later line starts only where the code comes back
// with the first line's status, or, when there is none, after a first line
// that ended with the code and a hyphen ("554-…").
func replyText(reply, code string) string {
	rest := strings.TrimLeft(reply[len(code):], " -")
	status := ""
	if m := reEnhancedLead.FindStringSubmatch(rest); m != nil && m[1] == code[:1] {
		status = strings.TrimSpace(m[0])
		rest = rest[len(m[0]):]
	}
	var markers []string
	switch {
	case status != "":
		markers = []string{code + "-" + status, code + " " + status}
	case strings.HasPrefix(reply[len(code):], "-"):
		markers = []string{code + "-", code + " "}
	}
	var lines []string
	start := 0
	for i := 1; i < len(rest); i++ {
		if !isSpace(rest[i-1]) {
			continue
		}
		for _, mk := range markers {
			end := i + len(mk)
			if strings.HasPrefix(rest[i:], mk) && (status == "" || end == len(rest) || isSpace(rest[end])) {
				lines = appendLine(lines, rest[start:i])
				start = end
				i = end - 1
				break
			}
		}
	}
	lines = appendLine(lines, rest[start:])
	return strings.Join(lines, "; ")
}

var (
	reAfterHelo = regexp.MustCompile(`(?i)after (ehlo|helo)\b|in reply to (the )?(ehlo|helo)\b|>>> (ehlo|helo)\b|smtp command:? ?(ehlo|helo)\b|did not like our (ehlo|helo)\b`)
	reAfterData = regexp.MustCompile(`(?i)end of data|after data|data command|smtp command:? ?data|>>> data|in reply to (the )?data|-+smtp command data`)
	reAfterMail = regexp.MustCompile(`(?i)after mail from|mail from command|in reply to mail from|>>> mail from|smtp command:? ?mail`)
	reAfterRcpt = regexp.MustCompile(`(?i)after rcpt to|rcpt to command|in reply to rcpt to|>>> rcpt to|did not like our rcpt to|smtp command:? ?rcpt|\[rcpt_to\]`)
)

// appendLine appends a reply line unless it is empty.
func appendLine(lines []string, l string) []string {
	if l = strings.TrimSpace(l); l != "" {
		return append(lines, l)
	}
	return lines
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// commandOf finds which SMTP command a diagnostic says the answer was to:
// EHLO (HELO too), MAIL, RCPT or DATA, in the words of Exim ("after EHLO"),
// Postfix ("in reply to HELO command"), Sendmail's transcript (">>> EHLO")
// and qmail/DragonFly ("did not like our RCPT TO"). A transcript that goes
// on past EHLO names the later command, which wins. Only the first
// maxDiagnostic bytes are read.
func commandOf(t string) string {
	t = clip(t, maxDiagnostic)
	switch {
	case reAfterRcpt.MatchString(t):
		return "RCPT"
	case reAfterData.MatchString(t):
		return "DATA"
	case reAfterMail.MatchString(t):
		return "MAIL"
	case reAfterHelo.MatchString(t):
		return "EHLO"
	}
	return ""
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func trimZeros(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// normalizeStatus returns the first RFC 3463 code in s ("5.1.1"), or "".
func normalizeStatus(s string) string {
	m := reStatusCode.FindStringSubmatch(" " + s + " ")
	if m == nil {
		return ""
	}
	return m[1] + "." + trimZeros(m[2]) + "." + trimZeros(m[3])
}

// reAddress matches an address: an RFC 5321 §4.1.2 local part (a dot-string
// or a quoted string) "@" a domain of two or more labels. Both may hold
// non-ASCII letters, marks and digits (RFC 6531 §3.3 SMTPUTF8, RFC 6532
// §3.2 UTF-8 in addresses), so "jürgen@rcpt.test" is read whole, never cut
// to an ASCII tail ("rgen@rcpt.test" is someone else); non-ASCII
// punctuation (a full-width colon, an ideographic full stop) ends it.
var reAddress = regexp.MustCompile(`(?:"[^"\s@<>]+"|[\p{L}\p{M}\p{N}A-Za-z0-9!#$%&'*+/=?^_{|}~.-]+)@` + labelRE + `(?:\.` + labelRE + `)+`)

// labelRE is one domain label: letters and digits (non-ASCII too, an IDN
// U-label, RFC 5890 §2.3.2.1), hyphens inside.
const labelRE = `[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}-]*[\p{L}\p{M}\p{N}])?`

// reXText matches an RFC 6533 §3 escape in a utf-8-addr-xtext or
// utf-8-addr-unitext address: "\x{HEX}" is the Unicode scalar value HEX.
var reXText = regexp.MustCompile(`\\x\{([0-9A-Fa-f]{1,6})\}`)

// decodeXText replaces RFC 6533 §3 "\x{HEX}" escapes by the characters
// they stand for; ok is false when an escape stands for no character (an
// address that cannot be read, never one cut at the escape).
func decodeXText(s string) (string, bool) {
	if !strings.Contains(s, `\x{`) {
		return s, true
	}
	ok := true
	s = reXText.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(m[3:len(m)-1], 16, 32)
		if r := rune(n); err == nil && utf8.ValidRune(r) && r > ' ' {
			return string(r)
		}
		ok = false
		return m
	})
	return s, ok
}

// cleanAddress reduces "rfc822; <User@Example.COM>" or "Name <u@x>" to the
// bare address, lower-casing the domain. Gateway spellings of an Internet
// address are unwrapped to it: an X.400 O/R address's RFC-822 attribute
// ("/…/RFC-822=ann(a)corp.test/", RFC 2156 §4.3.3 encoding), Exchange's
// IMCEASMTP encapsulation ("IMCEASMTP-ann+40corp+2Etest@ex"), and the
// percent hack ("ann%corp.test@gw", RFC 1123 §5.2.16). An encapsulated
// non-Internet address (IMCEAEX, IMCEANOTES: an X.500 or Notes name) has
// no Internet address in it and gives "". An RFC 6533 "utf-8;" address
// (message/global-delivery-status) is read with its "\x{HEX}" escapes
// decoded.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	if typ, rest, ok := strings.Cut(s, ";"); ok && !strings.Contains(typ, "@") {
		s = rest
	}
	s, ok := decodeXText(s)
	if !ok {
		return ""
	}
	s = unwrapX400(s)
	m := reAddress.FindString(s)
	if m == "" {
		return ""
	}
	if !strings.HasPrefix(m, `"`) {
		m = strings.Trim(m, ".'")
	}
	local, domain, _ := strings.Cut(m, "@")
	if len(local) > 6 && strings.EqualFold(local[:5], "IMCEA") {
		typ, enc, _ := strings.Cut(local[5:], "-")
		if !strings.EqualFold(typ, "SMTP") {
			return ""
		}
		if a := decodeIMCEA(enc); strings.Contains(a, "@") && !strings.HasPrefix(strings.ToUpper(a), "IMCEA") {
			return cleanAddress(a)
		}
		return ""
	}
	if i := strings.LastIndexByte(local, '%'); i > 0 && !strings.HasPrefix(local, `"`) {
		if d := local[i+1:]; strings.Contains(d, ".") && reAddress.MatchString(local[:i]+"@"+d) {
			local, domain = local[:i], d
		}
	}
	return local + "@" + strings.ToLower(strings.TrimRight(domain, "."))
}

// reX400RFC822 matches the RFC-822 attribute of an X.400 O/R address
// (RFC 2156 §4.3.3: the Internet address of an X.400 recipient).
var reX400RFC822 = regexp.MustCompile(`(?i)\bRFC-?822=([^/\s]+)`)

// x400Printable decodes RFC 2156 §4.3.3's printable-string escapes.
var x400Printable = strings.NewReplacer("(a)", "@", "(A)", "@", "(p)", "%", "(P)", "%", "(b)", "!", "(B)", "!",
	"(q)", `"`, "(Q)", `"`, "(u)", "_", "(U)", "_", "(l)", "(", "(L)", "(", "(r)", ")", "(R)", ")")

// unwrapX400 replaces each X.400 RFC-822 attribute in s by the Internet
// address it encodes.
func unwrapX400(s string) string {
	if !strings.Contains(strings.ToUpper(s), "822=") {
		return s
	}
	return reX400RFC822.ReplaceAllStringFunc(s, func(m string) string {
		_, v, _ := strings.Cut(m, "=")
		return " " + x400Printable.Replace(v) + " "
	})
}

// decodeIMCEA decodes Exchange's encapsulated address: "+XX" is the byte
// with hex code XX, "_" stays (it encodes "/" only in X.500 names).
func decodeIMCEA(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func dedupe(rs []Recipient) []Recipient {
	seen := map[string]int{}
	var out []Recipient
	for _, r := range rs {
		key := strings.ToLower(r.EmailAddress)
		if i, ok := seen[key]; ok && key != "" {
			// Keep the more informative entry.
			if out[i].DiagnosticCode == "" && r.DiagnosticCode != "" {
				out[i].DiagnosticCode = r.DiagnosticCode
			}
			if out[i].Status == "" {
				out[i].Status = r.Status
			}
			if out[i].OriginalRecipient == "" {
				out[i].OriginalRecipient = r.OriginalRecipient
			}
			continue
		}
		seen[key] = len(out)
		out = append(out, r)
	}
	return out
}

// rePetrelID matches the message ID Petrel gives every message (SES's shape,
// event.NewID): 16 hex digits, a UUID, and "-000000".
var rePetrelID = regexp.MustCompile(`[0-9a-f]{16}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9]{6}`)

// original finds the headers of the message a report is about
// (returnedHeader). Its PetrelID comes from those headers, else from the
// report's own In-Reply-To or References (a reply to Petrel's mail), else
// from anywhere in the report's text.
func original(root *entity) Original {
	h := returnedHeader(root)
	var o Original
	o.FeedbackToken = feedbackToken(root, h)
	if h != nil {
		o.MessageID = strings.Trim(h.get("Message-ID"), "<> ")
		o.From = decodeHeader(h.get("From"))
		o.Subject = decodeHeader(h.get("Subject"))
		o.ReturnPath = cleanAddress(h.get("Return-Path"))
		for _, to := range h.all("To") {
			for _, a := range reAddress.FindAllString(to, -1) {
				o.To = append(o.To, cleanAddress(a))
			}
		}
		for _, f := range h {
			if id := rePetrelID.FindString(f.value); id != "" && (strings.EqualFold(f.name, "Message-ID") || strings.HasPrefix(strings.ToLower(f.name), "x-petrel") || strings.HasPrefix(strings.ToLower(f.name), "x-ses")) {
				o.PetrelID = id
				break
			}
		}
	}
	if o.PetrelID == "" {
		o.PetrelID = repliedPetrelID(root.header)
	}
	if o.PetrelID == "" {
		// Anywhere in the report: forwarded and reformatted reports keep the
		// Message-ID somewhere in their text.
		root.walk(func(e *entity) bool {
			if o.PetrelID == "" && len(e.children) == 0 {
				if m := rePetrelID.Find(e.body); m != nil {
					o.PetrelID = string(m)
				}
			}
			return o.PetrelID == ""
		})
	}
	return o
}

// returnedHeader is the header of the returned copy of the original
// message: an attached message/rfc822 (message/global, RFC 6532) or header
// part, else the header block quoted in the text (quotedHeader); nil when
// the report carries neither.
func returnedHeader(root *entity) header {
	if h := attachedHeader(root); h != nil {
		return h
	}
	return quotedHeader(root)
}

// attachedHeader is the header of the first message the report attaches
// (message/rfc822, message/global, or a text/rfc822-headers or
// message/rfc822-headers part), nil when it attaches none.
func attachedHeader(root *entity) header {
	var h header
	root.walk(func(e *entity) bool {
		if h == nil && e != root && (e.media == "message/rfc822" || e.media == "message/global" ||
			e.media == "text/rfc822-headers" || e.media == "message/rfc822-headers") && len(e.children) > 0 {
			h = e.children[0].header
		}
		return h == nil
	})
	return h
}

// quotedHeader finds a header block quoted inside a text body (bounces that
// paste the original message's headers after the explanation).
func quotedHeader(root *entity) header {
	for _, e := range leafTexts(root) {
		t := e.text()
		for _, marker := range []string{"\nReceived: ", "\nReturn-Path: ", "\nMessage-ID: ", "\nMessage-Id: ", "\nFrom: ", "\nTo: "} {
			i := strings.Index(t, marker)
			if i < 0 {
				continue
			}
			h := parseHeader([]byte(headerBlock(t[i+1:])))
			if h.get("Message-ID") != "" || h.get("From") != "" && h.get("To") != "" {
				return h
			}
		}
	}
	return nil
}

// headerBlock returns the leading header-shaped lines of t, allowing
// indentation (some bounces indent the quoted headers).
func headerBlock(t string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(t, "\n") {
		trim := strings.TrimLeft(line, " \t>")
		if trim == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name, _, ok := strings.Cut(trim, ":"); ok && !strings.ContainsAny(name, " \t") && name != "" {
				line = trim
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// leafTexts returns the text parts of the report itself, not of the message
// it carries.
func leafTexts(root *entity) []*entity {
	var out []*entity
	root.walk(func(e *entity) bool {
		if e.media == "message/rfc822" || e.media == "message/global" || e.media == "text/rfc822-headers" ||
			e.media == "message/rfc822-headers" || e.media == "message/delivery-status" || e.media == "message/feedback-report" {
			return false
		}
		if len(e.children) == 0 && (strings.HasPrefix(e.media, "text/") || e.media == "" || e.media == "message/partial") {
			out = append(out, e)
		}
		return true
	})
	return out
}
