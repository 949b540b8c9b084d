package bounce

import (
	"strings"
)

// parseARF reads an RFC 5965 feedback report: a multipart/report whose
// message/feedback-report part carries Feedback-Type, User-Agent,
// Arrival-Date, Source-IP and Original-Rcpt-To (§3.1, §3.2), followed by the
// original message or its headers. The complained-about recipients are the
// Original-Rcpt-To fields, else the original message's To.
func parseARF(root *entity) *Report {
	fr := root.find("message/feedback-report")
	if fr == nil {
		return nil
	}
	h := parseHeader(fr.body)
	r := &Report{Kind: KindComplaint, Format: "arf"}
	r.FeedbackType = strings.ToLower(strings.TrimSpace(h.get("Feedback-Type")))
	if r.FeedbackType == "" {
		r.FeedbackType = "abuse" // RFC 5965 §3.1 makes it required; "abuse" is the common case
	}
	r.UserAgent = h.get("User-Agent")
	r.ArrivalDate = h.get("Arrival-Date")
	if r.ArrivalDate == "" {
		r.ArrivalDate = h.get("Received-Date")
	}
	r.SourceIP = h.get("Source-IP")
	r.ReportingMTA = strings.TrimSpace(stripType(h.get("Reporting-MTA")))
	for _, v := range append(h.all("Original-Rcpt-To"), h.all("Removal-Recipient")...) {
		if a := cleanAddress(v); a != "" {
			r.Recipients = append(r.Recipients, Recipient{EmailAddress: a})
		}
	}
	if len(r.Recipients) == 0 {
		r.Recipients = originalRecipients(root)
	}
	return r
}

// originalRecipients returns the recipients named in the attached original
// message (its To and Cc), for reports that do not list them.
func originalRecipients(root *entity) []Recipient {
	h := attachedHeader(root)
	for _, name := range []string{"X-HmXmrOriginalRecipient", "To", "Cc", "X-Original-To"} {
		var out []Recipient
		for _, v := range h.all(name) {
			for _, a := range reAddress.FindAllString(v, -1) {
				out = append(out, Recipient{EmailAddress: cleanAddress(a)})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// parseProviderComplaint reads complaint formats that are not ARF:
//   - Microsoft's JMRP (Outlook.com / Hotmail): the reported message attached
//     with X-HmXmrOriginalRecipient naming the recipient who complained;
//   - Apple Mail's one-click unsubscribe (X-Apple-Unsubscribe: true), an
//     opt-out by the sender of the report.
func parseProviderComplaint(root *entity) *Report {
	if strings.EqualFold(strings.TrimSpace(root.header.get("X-Apple-Unsubscribe")), "true") {
		r := &Report{Kind: KindComplaint, Format: "provider", FeedbackType: "opt-out", UserAgent: "Apple Mail",
			ArrivalDate: root.header.get("Date")}
		if a := cleanAddress(root.header.get("From")); a != "" {
			r.Recipients = []Recipient{{EmailAddress: a}}
		}
		return r
	}
	var jmrp *entity
	root.walk(func(e *entity) bool {
		if jmrp == nil && e != root && e.header.get("X-HmXmrOriginalRecipient") != "" {
			jmrp = e
		}
		return jmrp == nil
	})
	if jmrp == nil {
		return nil
	}
	r := &Report{Kind: KindComplaint, Format: "provider", FeedbackType: "abuse", UserAgent: "Microsoft JMRP",
		ArrivalDate: root.header.get("Date")}
	for _, v := range jmrp.header.all("X-HmXmrOriginalRecipient") {
		if a := cleanAddress(v); a != "" {
			r.Recipients = append(r.Recipients, Recipient{EmailAddress: a})
		}
	}
	return r
}
