package inbound

import (
	"encoding/json"

	"github.com/petrelmail/petrel/internal/bounce"
)

// maxStoredReport bounds the parsed report stored with each inbound message
// (bytes of JSON). A report parsed from 1 MiB may name 1000 recipients with
// long diagnostic texts, about 1 MiB of JSON; what an operator reads and
// what the events cite fits in far less, and keeping every row small means
// the body budget bounds what inbound mail takes. Bodies are dropped for
// the budget while reports are kept, so reports are capped rather than
// counted in it.
const maxStoredReport = 16 << 10

// maxStoredText bounds each text field of a report that had to be cut.
const maxStoredText = 1 << 10

// stored is the JSON of the report column: the parsed report, how many
// recipients were left out to stay within maxStoredReport, and why the
// report is unattributed.
type stored struct {
	*bounce.Report
	RecipientsOmitted int    `json:"recipientsOmitted,omitempty"`
	Unattributed      string `json:"unattributedReason,omitempty"`
}

// storedReport returns the JSON stored for rep (at most maxStoredReport
// bytes): unchanged when it fits, else with every text cut to
// maxStoredText bytes and, if still too long, the trailing recipients left
// out (counted in recipientsOmitted). why is the reason it is unattributed
// ("" when it is not).
func storedReport(rep *bounce.Report, why string) ([]byte, error) {
	out, err := json.Marshal(stored{Report: rep, Unattributed: why})
	if err != nil || len(out) <= maxStoredReport {
		return out, err
	}
	r := *rep
	for _, f := range []*string{&r.Format, &r.FeedbackType, &r.UserAgent, &r.ArrivalDate, &r.SourceIP, &r.AutoReplyType, &r.ReportingMTA,
		&r.Original.MessageID, &r.Original.From, &r.Original.Subject, &r.Original.ReturnPath, &r.Original.PetrelID, &r.Original.FeedbackToken} {
		*f = cut(*f)
	}
	r.Original.To = r.Original.To[:min(len(r.Original.To), 10)]
	r.Recipients = make([]bounce.Recipient, len(rep.Recipients))
	for i, rc := range rep.Recipients {
		for _, f := range []*string{&rc.EmailAddress, &rc.Action, &rc.Status, &rc.DiagnosticCode, &rc.RemoteMTA, &rc.SMTPCommand, &rc.WillRetryUntil} {
			*f = cut(*f)
		}
		r.Recipients[i] = rc
	}
	n := len(r.Recipients)
	for {
		s := stored{Report: &r, RecipientsOmitted: len(rep.Recipients) - len(r.Recipients), Unattributed: why}
		out, err = json.Marshal(s)
		if err != nil || len(out) <= maxStoredReport || n == 0 {
			return out, err
		}
		n /= 2
		r.Recipients = r.Recipients[:n]
	}
}

// cut shortens s to at most maxStoredText bytes, on a UTF-8 boundary.
func cut(s string) string {
	if len(s) <= maxStoredText {
		return s
	}
	i := maxStoredText
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
