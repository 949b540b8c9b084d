package bounce

import (
	"regexp"
	"strings"
)

// parseDSN reads an RFC 3464 delivery status notification: the
// message/delivery-status part holds one block of per-message fields, then a
// block per recipient (§2.2, §2.3). The human-readable part fills in what
// the machine-readable one leaves out (many MTAs omit Diagnostic-Code).
func parseDSN(root *entity) *Report {
	ds := deliveryStatus(root)
	if ds == nil {
		return nil
	}
	r := &Report{Format: "rfc3464"}
	rcpts, perMessage := dsnFields(ds.body)
	r.ReportingMTA = strings.TrimSpace(stripType(perMessage.get("Reporting-MTA")))
	r.Recipients = rcpts
	if len(r.Recipients) == 0 {
		// A DSN without recipient blocks: read the text as an MTA's own format.
		if t := parseText(root); t != nil {
			t.Format = "rfc3464+text"
			return t
		}
		return nil
	}
	human := textRecipients(root)
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		if rc.EmailAddress == "" && len(r.Recipients) == 1 {
			// Final-Recipient without a usable address ("@host", x400):
			// the explanation or the original message names it.
			if t := parseText(root); t != nil && len(t.Recipients) == 1 {
				rc.EmailAddress = t.Recipients[0].EmailAddress
			}
		}
		if rc.EmailAddress == "" {
			continue
		}
		if rc.SMTPCommand == "" && commandOf(rc.DiagnosticCode) == "" {
			// Many MTAs name the command only in the human-readable part.
			if h, ok := human[strings.ToLower(rc.EmailAddress)]; ok {
				rc.SMTPCommand = commandOf(h.DiagnosticCode)
			}
			if rc.SMTPCommand == "" && len(r.Recipients) == 1 {
				rc.SMTPCommand = commandOf(explanation(root))
			}
		}
		// The per-recipient explanation stands in for a missing or empty
		// Diagnostic-Code (and a remote reply in it for one that says next
		// to nothing): it is read before any default.
		if h, ok := human[strings.ToLower(rc.EmailAddress)]; ok && h.DiagnosticCode != "" {
			answer := reSMTPAnswer.MatchString(h.DiagnosticCode)
			diag := parseDiagnostic(rc.DiagnosticCode)
			if rc.DiagnosticCode == "" && (answer || len(strings.Fields(h.DiagnosticCode)) > 1) ||
				answer && diag.Code == 0 && len(strings.TrimSpace(diag.Text)) < 8 {
				rc.DiagnosticCode = h.DiagnosticCode
			}
		}
	}
	r.Kind = dsnKind(r.Recipients)
	if r.Kind == KindBounce {
		// Report the recipients that failed, and those still delayed with
		// their own action (a mixed DSN is a bounce for some recipients and
		// a delay for others); delivered, relayed or expanded ones of a
		// mixed DSN are neither.
		var kept []Recipient
		for _, rc := range r.Recipients {
			if isFailed(rc.Action) && !strings.HasPrefix(rc.Status, "2.") || rc.Action == "delayed" {
				kept = append(kept, rc)
			}
		}
		r.Recipients = kept
	}
	return r
}

// deliveryStatus is the report's machine-readable part: message/delivery-status
// (RFC 3464 §2.1), or message/global-delivery-status (RFC 6533 §6); nil when
// it has neither.
func deliveryStatus(root *entity) *entity {
	if ds := root.find("message/delivery-status"); ds != nil {
		return ds
	}
	return root.find("message/global-delivery-status")
}

// isFailed: "failed", and the non-standard actions some MTAs write
// ("expired", "error") — anything that is neither a delay nor a success.
func isFailed(action string) bool {
	switch action {
	case "delayed", "delivered", "relayed", "expanded", "deliverable":
		return false
	}
	return true
}

// dsnKind: bounce when any recipient failed, delay when all are delayed,
// not-bounce when all were delivered, relayed or expanded (a success DSN).
func dsnKind(rs []Recipient) Kind {
	delayed, ok := 0, 0
	for _, rc := range rs {
		switch {
		case rc.Action == "delayed":
			delayed++
		case rc.Action == "delivered" || rc.Action == "relayed" || rc.Action == "expanded" || rc.Action == "deliverable":
			ok++
		case strings.HasPrefix(rc.Status, "2."):
			ok++
		case rc.Action == "" && strings.HasPrefix(rc.Status, "4.") && strings.Contains(strings.ToLower(rc.DiagnosticCode), "delay"):
			delayed++
		}
	}
	switch {
	case delayed+ok < len(rs):
		return KindBounce
	case delayed > 0:
		return KindDelay
	}
	return KindNotBounce
}

// dsnFields parses the delivery-status body into recipients and the
// per-message fields. Blocks are separated by blank lines, but real MTAs
// also run recipients together, so a repeated Final-Recipient starts a new
// recipient too.
func dsnFields(body []byte) ([]Recipient, header) {
	var perMessage header
	var rcpts []Recipient
	var cur *Recipient
	var curHas map[string]bool
	flush := func() {
		if cur != nil && (cur.EmailAddress != "" || cur.Status != "" || cur.Action != "") {
			rcpts = append(rcpts, *cur)
		}
		cur, curHas = nil, nil
	}
	for block := range strings.SplitSeq(string(body), "\n\n") {
		h := parseHeader([]byte(block))
		if len(h) == 0 {
			continue
		}
		isRecipient := h.get("Final-Recipient") != "" || h.get("Original-Recipient") != "" || h.get("X-Actual-Recipient") != ""
		if !isRecipient {
			if cur == nil && len(rcpts) == 0 {
				perMessage = append(perMessage, h...)
			} else if cur != nil {
				// Fields of the same recipient after a stray blank line.
				applyDSNFields(cur, curHas, h)
			}
			continue
		}
		flush()
		for _, f := range h {
			name := strings.ToLower(f.name)
			if (name == "final-recipient" || name == "original-recipient") && cur != nil && curHas[name] {
				flush()
			}
			if cur == nil {
				cur, curHas = &Recipient{}, map[string]bool{}
			}
			applyDSNFields(cur, curHas, header{f})
		}
	}
	flush()
	return rcpts, perMessage
}

// applyDSNFields reads one recipient's fields (RFC 3464 §2.3). The remote
// server's answer belongs in Diagnostic-Code (§2.3.6); when a DSN has none,
// it is read from the vendor field that carries it instead:
//
//   - X-Supplementary-Info, Microsoft Exchange: the remote MTA, Exchange's
//     status and the reply, "<mx.example #5.2.2 smtp;552 5.2.2 Mailbox full>";
//   - X-Exim-Diagnostic, Exim: its own account of the failure, "X-str; Child
//     process of pipe transport returned 75 (EX_TEMPFAIL) …", the only
//     explanation of a local delivery failure in Exim's DSN.
func applyDSNFields(rc *Recipient, has map[string]bool, h header) {
	for _, f := range h {
		name := strings.ToLower(f.name)
		has[name] = true
		v := strings.TrimSpace(f.value)
		switch name {
		case "final-recipient", "x-actual-recipient":
			if a := cleanAddress(v); a != "" && (name == "final-recipient" || rc.EmailAddress == "") {
				rc.EmailAddress = a
			}
		case "original-recipient":
			a := cleanAddress(v)
			rc.OriginalRecipient = a
			if a != "" && rc.EmailAddress == "" {
				rc.EmailAddress = a
			}
		case "action":
			rc.Action = strings.ToLower(strings.Fields(v + " x")[0])
		case "status":
			rc.Status = normalizeStatus(v)
		case "diagnostic-code":
			rc.DiagnosticCode = v
		case "x-supplementary-info", "x-exim-diagnostic":
			if !has["diagnostic-code"] && rc.DiagnosticCode == "" {
				rc.DiagnosticCode = vendorDiagnostic(v)
			}
		case "remote-mta":
			rc.RemoteMTA = strings.TrimSpace(stripType(v))
		case "will-retry-until":
			rc.WillRetryUntil = v
		}
	}
}

// reSupplementaryInfo is Exchange's X-Supplementary-Info value: "<", the
// remote MTA, "#" and a status, then the diagnostic, ">".
var reSupplementaryInfo = regexp.MustCompile(`^<\s*[^\s#<>]*\s*#[245]\.[0-9]{1,3}\.[0-9]{1,3}\s+(.*?)\s*>?$`)

// vendorDiagnostic reads a vendor field's value as a Diagnostic-Code: the
// reply inside Exchange's "<host #status reply>", else the value as it is.
func vendorDiagnostic(v string) string {
	if m := reSupplementaryInfo.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return v
}

// stripType removes the "dns; " type prefix of an MTA name field.
func stripType(v string) string {
	if typ, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(strings.TrimSpace(typ), " \t") {
		return rest
	}
	return v
}
