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
// these for mail SES delivered. A bounced recipient with a diagnosticCode
// is classified by Petrel's rules, from the remote server's answer; one
// without (SES's suppression list, or SES giving up with no answer to
// quote) carries SES's own verdict (sesVerdict), which ClassifyReport keeps.
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
				ReportingMTA  string `json:"reportingMTA"`
				BounceType    string `json:"bounceType"`
				BounceSubType string `json:"bounceSubType"`
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
				rc := Recipient{EmailAddress: b.EmailAddress, Action: b.Action, Status: b.Status, DiagnosticCode: b.DiagnosticCode}
				if strings.TrimSpace(b.DiagnosticCode) == "" {
					rc.Verdict = sesVerdict(n.Bounce.BounceType, n.Bounce.BounceSubType)
				}
				r.Recipients = append(r.Recipients, rc)
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

// RuleSESNotification is the Verdict.Rule of a verdict taken from an SES
// bounce notification's bounceType and bounceSubType rather than from
// Petrel's rules; ClassifyReport keeps such a verdict.
const RuleSESNotification = "ses-notification"

// sesReasons gives the Reason of an SES bounceSubType; General and an
// unknown subtype give ReasonOther.
var sesReasons = map[string]string{
	NoEmail:                  ReasonUserUnknown,
	Suppressed:               ReasonSuppressed,
	OnAccountSuppressionList: ReasonSuppressed,
	MailboxFull:              ReasonMailboxFull,
	MessageTooLarge:          ReasonMessageTooLarge,
	ContentRejected:          ReasonContentRejected,
	AttachmentRejected:       ReasonContentRejected,
	Undetermined:             ReasonUndetermined,
}

// sesVerdict is the verdict an SES bounce notification states: its
// bounceType and bounceSubType (SES's documented pairs: Permanent with
// General, NoEmail, Suppressed or OnAccountSuppressionList, Transient with
// General, MailboxFull, MessageTooLarge, ContentRejected or
// AttachmentRejected, Undetermined with Undetermined), and the reason
// sesReasons names. A type or pair SES does not document gives no verdict
// (the rules decide).
func sesVerdict(typ, subType string) Verdict {
	subs, ok := bounceTypes[typ]
	if !ok {
		return Verdict{}
	}
	if subType == "" {
		subType = subs[0]
	}
	for _, s := range subs {
		if s == subType {
			reason, ok := sesReasons[subType]
			if !ok {
				reason = ReasonOther
			}
			return Verdict{Type: typ, SubType: subType, Reason: reason, Rule: RuleSESNotification}
		}
	}
	return Verdict{}
}
