package identity

import (
	"fmt"
	"strings"
)

// The MAIL FROM checks are pure functions of what DNS answered, so that the
// verification engine can run them on its schedule and tests can give them
// any answer. Each returns a RecordVerdict: the status the record has by
// this answer alone (the engine applies the clock: PENDING for 72 hours
// then FAILED, a record lost after SUCCESS TEMPORARY_FAILURE for the grace
// period), SES's ErrorType, and what was expected and found, in words.

// DNSOutcome is how one DNS query ended.
type DNSOutcome int

const (
	// DNSAnswered is NOERROR: the records of the type asked, possibly none
	// (no data: the name exists without records of that type).
	DNSAnswered DNSOutcome = iota
	// DNSNXDomain is NXDOMAIN: the name does not exist.
	DNSNXDomain
	// DNSServerFailure is SERVFAIL, REFUSED, a timeout or a network error:
	// DNS gave no answer, which says nothing about the record.
	DNSServerFailure
)

// MXRecord is one MX record's data.
type MXRecord struct {
	Preference uint16
	Host       string // the exchange, with or without the trailing dot
}

// DNSAnswer is the answer to one query, as the evaluators read it: MX holds
// the MX records of an MX query, TXT each TXT record of a TXT query with
// its character-strings concatenated (RFC 7208 §3.3).
type DNSAnswer struct {
	Outcome DNSOutcome
	MX      []MXRecord
	TXT     []string
	Detail  string // for DNSServerFailure: what went wrong ("SERVFAIL", "i/o timeout")
}

// MailFromExpect is what the MAIL FROM records must name: the host the one
// MX points at (Petrel's return-path receiver; --mail-from-mx, default the
// return-path domain) and the domain the SPF record must include or
// redirect to (--spf-include, default the return-path domain).
type MailFromExpect struct {
	MXHost     string
	SPFInclude string
}

// RecordVerdict is the evaluation of one DNS record against what Petrel
// asked for.
type RecordVerdict struct {
	// Status is StatusSuccess (the record is right), StatusPending (not
	// there, or not right yet), StatusFailed (wrong in a way that SES too
	// fails the setup for at once: several MX records, several SPF
	// records) or StatusTemporaryFailure (DNS did not answer).
	Status string
	// ErrorType is SES's VerificationInfo.ErrorType: "" on success,
	// HOST_NOT_FOUND (NXDOMAIN), TYPE_NOT_FOUND (no record of the type),
	// INVALID_VALUE (records, but not the right ones) or DNS_SERVER_ERROR.
	ErrorType string
	Expected  string // the record to publish, in zone-file form
	Found     string // what DNS returned, in zone-file form; "" when nothing
	// Explanation says in one sentence what is wrong and what to do; ""
	// on success.
	Explanation string
}

func dnsName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// EvaluateMailFromMX checks the MX records of MAIL FROM domain against
// want: exactly one MX, naming want.MXHost (SES: "exactly one MX"; several
// make the setup fail). A null MX (RFC 7505) or another host is not right
// yet (PENDING, INVALID_VALUE).
func EvaluateMailFromMX(domain string, want MailFromExpect, a DNSAnswer) RecordVerdict {
	v := RecordVerdict{Expected: fmt.Sprintf("%s. MX 10 %s.", dnsName(domain), dnsName(want.MXHost))}
	var found []string
	for _, mx := range a.MX {
		found = append(found, fmt.Sprintf("%s. MX %d %s.", dnsName(domain), mx.Preference, dnsName(mx.Host)))
	}
	v.Found = strings.Join(found, "; ")
	switch {
	case a.Outcome == DNSServerFailure:
		v.Status, v.ErrorType = StatusTemporaryFailure, ErrorDNSServer
		v.Explanation = fmt.Sprintf("DNS did not answer the MX query for %s (%s); it will be asked again.", dnsName(domain), a.Detail)
	case a.Outcome == DNSNXDomain:
		v.Status, v.ErrorType = StatusPending, ErrorHostMissing
		v.Explanation = fmt.Sprintf("%s does not exist in DNS: publish %s", dnsName(domain), v.Expected)
	case len(a.MX) == 0:
		v.Status, v.ErrorType = StatusPending, ErrorTypeMissing
		v.Explanation = fmt.Sprintf("%s has no MX record: publish %s", dnsName(domain), v.Expected)
	case len(a.MX) > 1:
		v.Status, v.ErrorType = StatusFailed, ErrorBadValue
		v.Explanation = fmt.Sprintf("%s has %d MX records; a MAIL FROM domain must have exactly one, naming %s. Remove the others, then check the identity again.",
			dnsName(domain), len(a.MX), dnsName(want.MXHost))
	case dnsName(a.MX[0].Host) != dnsName(want.MXHost):
		v.Status, v.ErrorType = StatusPending, ErrorBadValue
		host := dnsName(a.MX[0].Host)
		if host == "" {
			host = ". (a null MX)"
		}
		v.Explanation = fmt.Sprintf("the MX record of %s names %s, not %s: bounces would not reach Petrel.", dnsName(domain), host, dnsName(want.MXHost))
	default:
		v.Status = StatusSuccess
	}
	return v
}

// EvaluateMailFromSPF checks the TXT records of MAIL FROM domain for an SPF
// record (RFC 7208: a TXT record starting "v=spf1") that authorises
// Petrel: exactly one SPF record, holding the mechanism
// "include:<want.SPFInclude>" (qualifier "+" or none) before any "all", or,
// when it has no "all", the modifier "redirect=<want.SPFInclude>". Several
// SPF records are a permanent error for receivers (RFC 7208 §4.5): FAILED.
// Other TXT records are ignored.
func EvaluateMailFromSPF(domain string, want MailFromExpect, a DNSAnswer) RecordVerdict {
	inc := dnsName(want.SPFInclude)
	v := RecordVerdict{Expected: fmt.Sprintf("%s. TXT \"v=spf1 include:%s ~all\"", dnsName(domain), inc)}
	var spf, found []string
	for _, t := range a.TXT {
		found = append(found, fmt.Sprintf("%s. TXT %q", dnsName(domain), t))
		if isSPF(t) {
			spf = append(spf, t)
		}
	}
	v.Found = strings.Join(found, "; ")
	switch {
	case a.Outcome == DNSServerFailure:
		v.Status, v.ErrorType = StatusTemporaryFailure, ErrorDNSServer
		v.Explanation = fmt.Sprintf("DNS did not answer the TXT query for %s (%s); it will be asked again.", dnsName(domain), a.Detail)
	case a.Outcome == DNSNXDomain:
		v.Status, v.ErrorType = StatusPending, ErrorHostMissing
		v.Explanation = fmt.Sprintf("%s does not exist in DNS: publish %s", dnsName(domain), v.Expected)
	case len(spf) == 0:
		v.Status, v.ErrorType = StatusPending, ErrorTypeMissing
		v.Explanation = fmt.Sprintf("%s has no SPF record (a TXT record starting \"v=spf1\"): publish %s", dnsName(domain), v.Expected)
	case len(spf) > 1:
		v.Status, v.ErrorType = StatusFailed, ErrorBadValue
		v.Explanation = fmt.Sprintf("%s has %d SPF records, which receivers treat as a permanent SPF error (RFC 7208 §4.5): keep one, %s, then check the identity again.",
			dnsName(domain), len(spf), v.Expected)
	case !spfAuthorizes(spf[0], inc):
		v.Status, v.ErrorType = StatusPending, ErrorBadValue
		v.Explanation = fmt.Sprintf("the SPF record of %s does not authorise Petrel: it needs \"include:%s\" before any \"all\" (or \"redirect=%s\" without \"all\").",
			dnsName(domain), inc, inc)
	default:
		v.Status = StatusSuccess
	}
	return v
}

// isSPF reports whether a TXT record is an SPF record: "v=spf1" alone or
// followed by a space, in any case (RFC 7208 §4.5).
func isSPF(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// spfAuthorizes reports whether SPF record rec passes mail from hosts that
// domain inc's SPF record passes: an "include:inc" with a pass qualifier
// evaluated before any "all" mechanism, or "redirect=inc" in a record
// without "all" (RFC 7208 §5.1, §5.2, §6.1). Terms are compared in lower
// case, a trailing dot on the domain ignored.
func spfAuthorizes(rec, inc string) bool {
	terms := strings.Fields(rec)[1:]
	hasAll, redirect := false, false
	for _, t := range terms {
		t = strings.ToLower(t)
		if name, val, ok := strings.Cut(t, "="); ok && !strings.ContainsAny(name, ":/") {
			if name == "redirect" && dnsName(val) == inc {
				redirect = true
			}
			continue
		}
		q := byte('+')
		if t != "" && strings.IndexByte("+-~?", t[0]) >= 0 {
			q, t = t[0], t[1:]
		}
		if t == "all" {
			hasAll = true
			break
		}
		if d, ok := strings.CutPrefix(t, "include:"); ok && dnsName(d) == inc {
			return q == '+'
		}
	}
	return redirect && !hasAll
}

// MailFromStatus combines the verdicts of the MX and SPF records into the
// identity's MailFromDomainStatus: SUCCESS when both are, else the worst of
// them — FAILED, then TEMPORARY_FAILURE, then PENDING. Petrel asks for the
// SPF record too (SES checks only the MX): a MAIL FROM domain whose SPF does
// not authorise Petrel would fail SPF at every receiver, worse than the
// default return path, so it is not used until it does.
func MailFromStatus(mx, spf string) string {
	for _, s := range []string{StatusFailed, StatusTemporaryFailure, StatusPending} {
		if mx == s || spf == s {
			return s
		}
	}
	return StatusSuccess
}
