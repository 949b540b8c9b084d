package dmarc

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String renders the report as text for `petrel identity check`: one
// "label: value" line per fact, then the advice. Text from DNS (records,
// errors) is quoted when it holds anything but graphic characters and
// spaces, so it cannot act on the operator's terminal. Example:
//
//	DMARC readiness of example.com
//	  lookup _dmarc.example.com: 1 DMARC record
//	  record:        v=DMARC1; p=reject; rua=mailto:dmarc@example.com
//	  policy:        reject (p), pct=100, adkim=r (relaxed), aspf=r (relaxed)
//	  DKIM:          d=example.com aligned: the From domain itself
//	  SPF:           MAIL FROM bounce.petrel.example not aligned: Organizational Domain petrel.example, not example.com
//	  verdict:       PASS through DKIM, provided the DKIM signature verifies
//	  failing mail:  rejected
//	  advice:
//	    - SPF does not align: MAIL FROM is bounce.petrel.example, Petrel's return-path domain; set a custom MAIL FROM under example.com …
func (r Report) String() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-14s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "DMARC readiness of %s\n", r.From)
	if r.Org != r.From {
		line("organization", "%s (Organizational Domain, RFC 7489 §3.2)", r.Org)
	}
	for _, q := range r.Discovery.Queries {
		fmt.Fprintf(&b, "  lookup %s: %s\n", q.Name, queryOutcome(q))
	}
	d := r.Discovery
	if d.Status == Multiple {
		for _, t := range d.Queries[len(d.Queries)-1].DMARC {
			line("record", "%s", safe(t))
		}
	}
	if rec := d.Record; rec != nil {
		line("record", "%s", safe(rec.Raw))
		if len(rec.Unknown) > 0 {
			line("ignored tags", "%s (unknown to RFC 7489)", safe(strings.Join(rec.Unknown, ", ")))
		}
	}
	modes := fmt.Sprintf("adkim=%s (%s), aspf=%s (%s)", r.DKIMMode, modeName(r.DKIMMode), r.SPFMode, modeName(r.SPFMode))
	switch {
	case r.Policy == "" && d.Record == nil:
		line("policy", "none applies; alignment judged with the default %s", modes)
	case r.Policy == "":
		line("policy", "none applies; alignment judged with the record's %s", modes)
	case r.PolicyTag == "assumed":
		defect, _ := d.Record.policyDefect()
		line("policy", "none (assumed: the record %s, RFC 7489 §6.6.3), pct=%d, %s", defect, r.Percent, modes)
	case d.Inherited:
		line("policy", "%s (%s of %s, inherited by its subdomain %s), pct=%d, %s", r.Policy, r.PolicyTag, r.Org, r.From, r.Percent, modes)
	default:
		line("policy", "%s (%s), pct=%d, %s", r.Policy, r.PolicyTag, r.Percent, modes)
	}
	for _, d := range r.Unverified {
		line("DKIM", "d=%s not counted: its key's DNS record is not verified", d)
	}
	if len(r.DKIM) == 0 && len(r.Unverified) == 0 {
		line("DKIM", "not signed: no d= can align")
	}
	for _, c := range r.DKIM {
		line("DKIM", "d=%s %s", c.Domain, checkText(c))
	}
	line("SPF", "MAIL FROM %s %s", r.SPF.Domain, checkText(r.SPF))
	line("verdict", "%s", r.verdict())
	line("failing mail", "%s", r.disposition())
	if len(r.Advice) > 0 {
		b.WriteString("  advice:\n")
		for _, a := range r.Advice {
			fmt.Fprintf(&b, "    - %s\n", a)
		}
	}
	return b.String()
}

// WriteTo writes String to w (io.WriterTo).
func (r Report) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, r.String())
	return int64(n), err
}

func queryOutcome(q Query) string {
	switch {
	case q.Err != nil:
		return "DNS failure: " + safe(q.Err.Error())
	case len(q.TXT) == 0:
		return "no TXT record"
	case len(q.DMARC) == 0:
		return fmt.Sprintf("%d TXT record(s), none a DMARC record", len(q.TXT))
	case len(q.DMARC) == 1:
		return "1 DMARC record"
	default:
		return fmt.Sprintf("%d DMARC records", len(q.DMARC))
	}
}

func modeName(m Mode) string {
	if m == Strict {
		return "strict"
	}
	return "relaxed"
}

func checkText(c Check) string {
	if c.Aligned {
		return "aligned: " + c.Why
	}
	return "NOT aligned: " + c.Why
}

// verdict says whether the mail passes DMARC and through what.
func (r Report) verdict() string {
	var through, provided []string
	for _, c := range r.DKIM {
		if c.Aligned {
			through = append(through, "DKIM (d="+c.Domain+")")
			provided = append(provided, "the DKIM signature verifies")
			break
		}
	}
	if r.SPF.Aligned {
		through = append(through, "SPF (MAIL FROM "+r.SPF.Domain+")")
		provided = append(provided, "SPF passes")
	}
	if len(through) == 0 {
		return "FAIL: neither DKIM nor SPF aligns with " + r.From
	}
	return "PASS through " + strings.Join(through, " and ") + ", provided " + strings.Join(provided, " or ")
}

// disposition says what receivers do with mail from r.From that fails DMARC
// (RFC 7489 §6.3 p/sp, §6.6.4 pct).
func (r Report) disposition() string {
	switch r.Policy {
	case "":
		return "no DMARC policy: receivers judge it by their own rules"
	case None:
		return "delivered as usual (p=none: reports only)"
	}
	verb, lower := "quarantined (spam folder)", "delivered as usual"
	if r.Policy == Reject {
		verb, lower = "rejected", "quarantined instead"
	}
	switch r.Percent {
	case 100:
		return verb
	case 0:
		return fmt.Sprintf("all of it %s: pct=0 applies %s to none (RFC 7489 §6.6.4)", lower, r.Policy)
	}
	return fmt.Sprintf("%d%% %s, the rest %s (pct, RFC 7489 §6.6.4)", r.Percent, verb, lower)
}

// safe returns s when it is valid UTF-8 of graphic characters and spaces
// only, else s quoted by strconv.QuoteToGraphic: DNS text may hold control
// characters (ANSI escapes) or bidi overrides that would act on a terminal.
func safe(s string) string {
	if !utf8.ValidString(s) {
		return strconv.QuoteToGraphic(s)
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}
