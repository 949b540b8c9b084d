package bounce

import (
	"bytes"
	"encoding/json"
	"strings"
)

// parseSESNotification reads an Amazon SES notification delivered by email
// (an SNS email subscription, or SES's own feedback forwarding with
// notifications as JSON): {"notificationType" or "eventType": "Bounce" |
// "Complaint" | "Delivery" | "DeliveryDelay", …}, bare or wrapped in an SNS
// envelope ({"Type": "Notification", "Message": "<the notification JSON as
// a string>", …}, as an SNS email-json subscription sends it). Petrel in front of SES gets
// these for mail SES delivered; the recipients' answers are classified by
// Petrel's rules, not taken from SES's bounceType.
func parseSESNotification(root *entity) *Report {
	for _, e := range leafTexts(root) {
		body := bytes.ReplaceAll(e.body, []byte("!\n "), nil) // MTA line wrapping of long JSON lines
		i := bytes.Index(body, []byte(`{"`))
		if i < 0 || !bytes.Contains(body, []byte(`Type"`)) {
			continue
		}
		var n struct {
			Type             string `json:"Type"`    // SNS envelope
			Message          string `json:"Message"` // SNS envelope: the notification, string-encoded
			NotificationType string `json:"notificationType"`
			EventType        string `json:"eventType"`
			Bounce           struct {
				BouncedRecipients []struct {
					EmailAddress   string `json:"emailAddress"`
					Action         string `json:"action"`
					Status         string `json:"status"`
					DiagnosticCode string `json:"diagnosticCode"`
				} `json:"bouncedRecipients"`
				ReportingMTA string `json:"reportingMTA"`
			} `json:"bounce"`
			Complaint struct {
				ComplainedRecipients []struct {
					EmailAddress string `json:"emailAddress"`
				} `json:"complainedRecipients"`
				UserAgent             string `json:"userAgent"`
				ComplaintFeedbackType string `json:"complaintFeedbackType"`
				ArrivalDate           string `json:"arrivalDate"`
			} `json:"complaint"`
			DeliveryDelay struct {
				DelayedRecipients []struct {
					EmailAddress   string `json:"emailAddress"`
					Status         string `json:"status"`
					DiagnosticCode string `json:"diagnosticCode"`
				} `json:"delayedRecipients"`
			} `json:"deliveryDelay"`
			Delivery struct {
				Recipients []string `json:"recipients"`
			} `json:"delivery"`
			Mail struct {
				MessageID string `json:"messageId"`
			} `json:"mail"`
		}
		if err := json.NewDecoder(bytes.NewReader(body[i:])).Decode(&n); err != nil {
			continue
		}
		if n.Type == "Notification" && strings.HasPrefix(strings.TrimSpace(n.Message), "{") {
			msg := n.Message
			n.Type, n.Message = "", ""
			if err := json.Unmarshal([]byte(msg), &n); err != nil {
				continue
			}
		}
		typ := n.NotificationType
		if typ == "" {
			typ = n.EventType
		}
		r := &Report{Format: "ses-notification"}
		switch strings.ToLower(typ) {
		case "bounce":
			r.Kind = KindBounce
			r.ReportingMTA = stripType(n.Bounce.ReportingMTA)
			for _, b := range n.Bounce.BouncedRecipients {
				r.Recipients = append(r.Recipients, Recipient{EmailAddress: b.EmailAddress, Action: b.Action, Status: b.Status, DiagnosticCode: b.DiagnosticCode})
			}
		case "complaint":
			r.Kind = KindComplaint
			r.FeedbackType = n.Complaint.ComplaintFeedbackType
			if r.FeedbackType == "" {
				r.FeedbackType = "abuse"
			}
			r.UserAgent, r.ArrivalDate = n.Complaint.UserAgent, n.Complaint.ArrivalDate
			for _, c := range n.Complaint.ComplainedRecipients {
				r.Recipients = append(r.Recipients, Recipient{EmailAddress: c.EmailAddress})
			}
		case "deliverydelay":
			r.Kind = KindDelay
			for _, d := range n.DeliveryDelay.DelayedRecipients {
				r.Recipients = append(r.Recipients, Recipient{EmailAddress: d.EmailAddress, Action: "delayed", Status: d.Status, DiagnosticCode: d.DiagnosticCode})
			}
		case "delivery":
			r.Kind = KindNotBounce
			for _, a := range n.Delivery.Recipients {
				r.Recipients = append(r.Recipients, Recipient{EmailAddress: a, Action: "delivered"})
			}
		default:
			continue
		}
		return r
	}
	return nil
}
