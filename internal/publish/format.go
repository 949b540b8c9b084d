package publish

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
)

// notificationMail is the "mail" object of SES's older identity
// notifications (../shared/spec/ses.md §4.1, §4.2): no tags; headers,
// headersTruncated and commonHeaders only when the identity includes
// headers (HeadersInNotificationsEnabled).
type notificationMail struct {
	Timestamp        string                 `json:"timestamp"`
	Source           string                 `json:"source"`
	SourceArn        string                 `json:"sourceArn"`
	SourceIP         string                 `json:"sourceIp,omitempty"`
	SendingAccountID string                 `json:"sendingAccountId"`
	CallerIdentity   string                 `json:"callerIdentity,omitempty"`
	MessageID        string                 `json:"messageId"`
	Destination      []string               `json:"destination"`
	HeadersTruncated *bool                  `json:"headersTruncated,omitempty"`
	Headers          []message.Header       `json:"headers,omitempty"`
	CommonHeaders    *message.CommonHeaders `json:"commonHeaders,omitempty"`
}

// NotificationJSON renders a Bounce, Complaint or Delivery event in SES's
// identity-notification format (../shared/spec/ses.md §4.1, §4.3–4.5):
// {"notificationType", the per-type object ("bounce", "complaint",
// "delivery": detail as stored), "mail"} — the order of SES's examples,
// mail last except for Delivery, where it comes before "delivery". The mail
// object has no tags, and headers only when headers is true. HTML
// characters are not escaped ("<", ">" as SES writes them).
func NotificationJSON(kind event.Kind, detail json.RawMessage, mail event.Mail, headers bool) ([]byte, error) {
	nm := notificationMail{
		Timestamp: mail.Timestamp, Source: mail.Source, SourceArn: mail.SourceArn, SourceIP: mail.SourceIP,
		SendingAccountID: mail.SendingAccountID, CallerIdentity: mail.CallerIdentity, MessageID: mail.MessageID,
		Destination: mail.Destination,
	}
	if nm.Destination == nil {
		nm.Destination = []string{}
	}
	if headers {
		truncated := mail.HeadersTruncated
		common := mail.CommonHeaders
		nm.HeadersTruncated, nm.Headers, nm.CommonHeaders = &truncated, mail.Headers, &common
		if nm.Headers == nil {
			nm.Headers = []message.Header{}
		}
	}
	m, err := event.Encode(nm)
	if err != nil {
		return nil, err
	}
	if len(detail) == 0 {
		detail = json.RawMessage("{}")
	}
	key := strings.ToLower(string(kind[:1])) + string(kind[1:])
	var b bytes.Buffer
	b.WriteString(`{"notificationType":"` + string(kind) + `",`)
	if kind == event.Delivery {
		b.WriteString(`"mail":`)
		b.Write(m)
		b.WriteString(`,"` + key + `":`)
		b.Write(detail)
	} else {
		b.WriteString(`"` + key + `":`)
		b.Write(detail)
		b.WriteString(`,"mail":`)
		b.Write(m)
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

// Feedback renders the emails of feedback forwarding
// (../shared/spec/ses.md §4.1) in the shape SES's own have: a bounce as a
// delivery status notification From MAILER-DAEMON@Hostname, Subject
// "Delivery Status Notification (Failure)", multipart/report;
// report-type=delivery-status (RFC 3462/6522) of a text/plain part ("An
// error occurred while trying to deliver the mail to the following
// recipients:" and the addresses), a message/delivery-status part
// (RFC 3464) and the original header as text/rfc822-headers; a complaint
// as an abuse report From complaints@Hostname, multipart/report;
// report-type=feedback-report (ARF, RFC 5965) of a text/plain part, a
// message/feedback-report part and the original header. Both carry
// Auto-Submitted (RFC 3834) and are sent from the null reverse-path.
type Feedback struct {
	Hostname string     // Petrel's host name: From, Reporting-MTA
	To       string     // the feedback address
	MailFrom string     // the original envelope sender (ARF Original-Mail-From)
	Mail     event.Mail // the original message's mail object
	Time     time.Time  // when the event was recorded: the report's Date
}

// DSN renders bounce d as a delivery status notification (RFC 3464).
func (f Feedback) DSN(d event.BounceDetail) []byte {
	boundary := f.boundary(d.FeedbackID)
	var b bytes.Buffer
	f.header(&b, "MAILER-DAEMON@"+f.Hostname, "Delivery Status Notification (Failure)", "auto-replied")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\nContent-Description: Notification\r\n\r\n")
	b.WriteString("An error occurred while trying to deliver the mail to the following recipients:\r\n")
	for _, r := range d.BouncedRecipients {
		textLine(&b, ascii(asciiAddress(r.EmailAddress)))
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/delivery-status\r\nContent-Description: Delivery Status Notification\r\n\r\n")
	reportField(&b, "Reporting-MTA", "dns; "+f.Hostname)
	if t, err := time.Parse(event.TimeFormat, f.Mail.Timestamp); err == nil {
		field(&b, "Arrival-Date", rfc5322Date(t))
	}
	for _, r := range d.BouncedRecipients {
		b.WriteString("\r\n")
		field(&b, "Final-Recipient", dsnAddress(r.EmailAddress))
		action := r.Action
		if action == "" {
			action = "failed"
		}
		reportField(&b, "Action", action)
		status := r.Status
		if status == "" {
			status = "5.0.0"
			if d.BounceType == "Transient" {
				status = "4.0.0"
			}
		}
		reportField(&b, "Status", status)
		if d.RemoteMtaIP != "" {
			reportField(&b, "Remote-MTA", "dns; ["+d.RemoteMtaIP+"]")
		}
		if r.DiagnosticCode != "" {
			reportField(&b, "Diagnostic-Code", r.DiagnosticCode)
		}
		if t, err := time.Parse(event.TimeFormat, d.Timestamp); err == nil {
			field(&b, "Last-Attempt-Date", rfc5322Date(t))
		}
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	f.original(&b, "Undelivered Message Headers")
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// ARF renders complaint d as an abuse report (RFC 5965).
func (f Feedback) ARF(d event.ComplaintDetail) []byte {
	boundary := f.boundary(d.FeedbackID)
	var b bytes.Buffer
	f.header(&b, "complaints@"+f.Hostname, "Complaint Notification", "auto-generated")
	b.WriteString("Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n")
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\nContent-Description: Notification\r\n\r\n")
	textLine(&b, "A recipient of the message below reported it as unwanted ("+ascii(orDefault(d.ComplaintFeedbackType, "abuse"))+").")
	b.WriteString("Stop sending to this address.\r\n\r\n")
	b.WriteString("This is the list of the complaint emails:\r\n")
	for _, r := range d.ComplainedRecipients {
		textLine(&b, ascii(asciiAddress(r.EmailAddress)))
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/feedback-report\r\nContent-Description: Feedback Report\r\n\r\n")
	reportField(&b, "Feedback-Type", orDefault(d.ComplaintFeedbackType, "abuse"))
	reportField(&b, "User-Agent", orDefault(d.UserAgent, "Petrel"))
	field(&b, "Version", "1")
	if f.MailFrom != "" {
		field(&b, "Original-Mail-From", "<"+asciiAddress(f.MailFrom)+">")
	}
	for _, r := range d.ComplainedRecipients {
		field(&b, "Original-Rcpt-To", "<"+asciiAddress(r.EmailAddress)+">")
	}
	if t, err := time.Parse(event.TimeFormat, d.ArrivalDate); err == nil {
		field(&b, "Arrival-Date", rfc5322Date(t))
	}
	// No Source-IP: RFC 5965 means the host that handed the message to the
	// receiver (Petrel), not mail.sourceIp, the customer's client.
	reportField(&b, "Reporting-MTA", "dns; "+f.Hostname)
	b.WriteString("\r\n--" + boundary + "\r\n")
	f.original(&b, "Original Message Headers")
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// header writes the report's own header fields up to Content-Type.
func (f Feedback) header(b *bytes.Buffer, from, subject, autoSubmitted string) {
	field(b, "From", from)
	field(b, "To", f.To)
	field(b, "Subject", subject)
	field(b, "Date", rfc5322Date(f.Time))
	field(b, "MIME-Version", "1.0")
	field(b, "Auto-Submitted", autoSubmitted)
	if f.Mail.MessageID != "" {
		field(b, "X-Petrel-Original-Message-Id", f.Mail.MessageID)
	}
}

// original writes the text/rfc822-headers part: the original message's
// header as recorded in mail.headers, else as far as mail.commonHeaders
// tells it.
func (f Feedback) original(b *bytes.Buffer, description string) {
	b.WriteString("Content-Type: text/rfc822-headers\r\nContent-Description: " + description + "\r\n\r\n")
	if len(f.Mail.Headers) > 0 {
		for _, h := range f.Mail.Headers {
			field(b, h.Name, h.Value)
		}
	} else {
		c := f.Mail.CommonHeaders
		for _, kv := range [][2]string{{"From", strings.Join(c.From, ", ")}, {"To", strings.Join(c.To, ", ")},
			{"Cc", strings.Join(c.Cc, ", ")}, {"Subject", c.Subject}, {"Date", c.Date}, {"Message-ID", c.MessageID}} {
			if kv[1] != "" {
				field(b, kv[0], kv[1])
			}
		}
	}
	b.WriteString("\r\n")
}

// boundary is derived from the feedback ID, so a report renders the same
// every time (golden files, replays).
func (f Feedback) boundary(feedbackID string) string {
	id := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' {
			return r
		}
		return -1
	}, feedbackID)
	if len(id) > 50 {
		id = id[:50]
	}
	return "=_petrel_report_" + id
}

// field writes "Name: value" with line breaks in value removed and the
// line folded at spaces before 78 characters where it can be (RFC 5322
// §2.2.3), so no line reaches the 998-character limit.
func field(b *bytes.Buffer, name, value string) {
	value = strings.NewReplacer("\r", " ", "\n", " ").Replace(value)
	line := name + ": "
	n := len(line)
	b.WriteString(line)
	words := strings.Split(value, " ")
	for i, w := range words {
		if i > 0 {
			if n+1+len(w) > 78 && n > len(name)+2 {
				b.WriteString("\r\n ")
				n = 1
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		for len(w) > 900 { // a word no fold can shorten
			b.WriteString(w[:900] + "\r\n ")
			w, n = w[900:], 1
		}
		b.WriteString(w)
		n += len(w)
	}
	b.WriteString("\r\n")
}

// The message/delivery-status (RFC 3464 §2.1) and message/feedback-report
// (RFC 5965 §3.1) parts are US-ASCII: every field Petrel writes there is
// 7-bit, whatever the remote server's reply or the recipient's address
// held. Non-ASCII text is written in the EmbeddedUnicodeChar form of
// RFC 6533 §3 ("\x{E9}" for "é"); Petrel does not switch to RFC 6533's
// message/global-delivery-status, which few report readers understand.

// reportField writes field name with value made 7-bit by escapeText.
func reportField(b *bytes.Buffer, name, value string) {
	field(b, name, escapeText(value))
}

// escapeText returns s as printable US-ASCII: printable ASCII, spaces and
// tabs as they are; a backslash and every other character (non-ASCII,
// controls) as an RFC 6533 §3 EmbeddedUnicodeChar "\x{HEXPOINT}" (upper
// case hex, no leading zeros, at least two digits), so the text reads
// back exactly; a byte that is not UTF-8 as \x{FFFD}. Used for
// Diagnostic-Code (RFC 3464 §2.3.6 *text) and the other text fields of
// the report parts. CR and LF are left for field to replace.
func escapeText(s string) string {
	return escape(s, func(c byte) bool { return c >= 0x20 && c < 0x7f && c != '\\' || c == '\t' || c == '\r' || c == '\n' })
}

// xtext returns s in RFC 6533 §3 utf-8-addr-xtext form: QCHARs (printable
// ASCII other than "+", "=", "\") as they are, everything else as
// EmbeddedUnicodeChar; a byte that is not UTF-8 as \x{FFFD}.
func xtext(s string) string {
	return escape(s, func(c byte) bool { return c > 0x20 && c < 0x7f && c != '+' && c != '=' && c != '\\' })
}

// escape keeps the bytes keep accepts and writes every other character as
// "\x{HEX}".
func escape(s string, keep func(byte) bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if keep(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		fmt.Fprintf(&b, "\\x{%02X}", r)
		i += n
	}
	return b.String()
}

// printableAddress reports whether s is printable ASCII without spaces.
func printableAddress(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// aLabel returns address with an internationalized domain written as
// A-labels (IDNA, via address.Domain), when that makes it printable
// ASCII; ok is false otherwise (a UTF-8 local part, an invalid domain).
func aLabel(addr string) (string, bool) {
	if printableAddress(addr) {
		return addr, true
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !printableAddress(addr[:at]) {
		return "", false
	}
	d, err := address.Domain(addr[at+1:])
	if err != nil || !printableAddress(d) {
		return "", false
	}
	return addr[:at+1] + d, true
}

// dsnAddress is a Final-Recipient value (RFC 3464 §2.3.2): "rfc822; "
// and the address when it is ASCII or has an ASCII form with its domain
// as A-labels; else, for a UTF-8 local part, RFC 6533 §3's
// "utf-8; " utf-8-addr-xtext, the form RFC 6533 gives for
// message/delivery-status.
func dsnAddress(addr string) string {
	if a, ok := aLabel(addr); ok {
		return "rfc822; " + a
	}
	return "utf-8; " + xtext(addr)
}

// asciiAddress is an address for ARF's Original-Mail-From and
// Original-Rcpt-To (RFC 5965 §3.5, RFC 5321 paths): as it is, or with its
// domain as A-labels; an address with a UTF-8 local part has no RFC 5321
// ASCII form, and is written as RFC 6533 utf-8-addr-xtext (7-bit and
// reversible, though not a valid path).
func asciiAddress(addr string) string {
	if a, ok := aLabel(addr); ok {
		return a
	}
	return xtext(addr)
}

// textLine writes the text part's line s (7-bit, from ascii), broken
// every 900 characters so that no line reaches RFC 5322's 998 (an address
// or a feedback type is never that long; stored data is not trusted).
func textLine(b *bytes.Buffer, s string) {
	for len(s) > 900 {
		b.WriteString(s[:900] + "\r\n")
		s = s[900:]
	}
	b.WriteString(s + "\r\n")
}

// ascii replaces what is not printable US-ASCII (the text part is declared
// us-ascii, 7bit).
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
