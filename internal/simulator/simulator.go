// Package simulator is SES's mailbox simulator: recipients at
// simulator.amazonses.com never leave the machine; each local part (with any
// "+label" removed) names the outcome SES produces for it
// (../shared/spec/ses.md §5).
package simulator

import "strings"

// Domain is the simulator's domain.
const Domain = "simulator.amazonses.com"

// Outcome is what happens to a message sent to a simulator address.
type Outcome struct {
	Delivered bool       // the provider accepted it: a Delivery event
	Bounce    *Bounce    // a Bounce event follows (after Delivery for ooto@)
	Complaint *Complaint // a Complaint event follows the Delivery
}

// Bounce is the bounce a simulator address produces.
type Bounce struct {
	Type, SubType  string
	Action, Status string
	Diagnostic     string // diagnosticCode
}

// Complaint is the complaint complaint@ produces.
type Complaint struct {
	FeedbackType string
	UserAgent    string
}

// SMTPResponse is the reply recorded for a simulated delivery.
const SMTPResponse = "250 2.6.0 Message received"

// Is reports whether domain is the simulator's.
func Is(domain string) bool { return strings.EqualFold(domain, Domain) }

// Lookup returns the outcome for a simulator local part.
func Lookup(local string) Outcome {
	base, _, _ := strings.Cut(strings.ToLower(local), "+")
	switch base {
	case "success":
		return Outcome{Delivered: true}
	case "ooto":
		// Delivered, then an RFC 3834 auto-reply, which SES reports as a
		// Transient/General bounce.
		return Outcome{Delivered: true, Bounce: &Bounce{Type: "Transient", SubType: "General"}}
	case "complaint":
		return Outcome{Delivered: true, Complaint: &Complaint{FeedbackType: "abuse", UserAgent: "Amazon SES Mailbox Simulator"}}
	case "suppressionlist":
		return Outcome{Bounce: &Bounce{Type: "Permanent", SubType: "Suppressed", Action: "failed", Status: "5.1.1",
			Diagnostic: "Amazon SES has suppressed sending to this address because it has a recent history of bouncing as an invalid address. " +
				"For more information about how to remove an address from the suppression list, see the Amazon SES Developer Guide: " +
				"http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html"}}
	default:
		// bounce@ and any address the simulator does not know: the provider
		// answers 550 5.1.1 and SES reports a DSN-backed hard bounce.
		return Outcome{Bounce: &Bounce{Type: "Permanent", SubType: "General", Action: "failed", Status: "5.1.1",
			Diagnostic: "smtp; 550 5.1.1 user unknown"}}
	}
}
