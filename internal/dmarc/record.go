// Package dmarc says whether mail Petrel sends for an identity would pass
// DMARC (RFC 7489) at the receivers, against the policy the domain publishes
// at _dmarc.<domain>: the "DMARC-ready report" of `petrel identity check`
// (../shared/spec/ses.md §9.3, issue 16 part 6).
//
// Three steps, each usable alone:
//
//  1. Parse reads a DMARC policy record (RFC 7489 §6.3, §6.4), reporting
//     every syntax error with its byte offset;
//  2. Discover finds the record that applies to a From domain (RFC 7489
//     §6.6.3: _dmarc.<From domain>, else _dmarc.<Organizational Domain>),
//     through a LookupTXT function the caller supplies;
//  3. Evaluate checks DKIM and SPF identifier alignment (RFC 7489 §3.1) of
//     the d= domains Petrel signs with and of the envelope MAIL FROM domain
//     it uses, and returns a Report: the verdict, what the policy does to
//     failing mail, and concrete advice.
//
// The report assumes the DKIM signatures and SPF themselves pass (which the
// identity's DNS checks establish); it is about alignment and policy.
package dmarc

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Policy is a requested Mail Receiver policy (RFC 7489 §6.3 "p", "sp").
type Policy string

// The policies of RFC 7489 §6.3.
const (
	None       Policy = "none"       // no action: monitoring and reports only
	Quarantine Policy = "quarantine" // treat failing mail as suspicious (spam folder)
	Reject     Policy = "reject"     // reject failing mail during the SMTP transaction
)

// Mode is an identifier alignment mode (RFC 7489 §3.1, tags "adkim" and
// "aspf").
type Mode string

// The alignment modes; Relaxed is the default.
const (
	Relaxed Mode = "r" // same Organizational Domain
	Strict  Mode = "s" // exactly the same domain
)

// ReportURI is one destination of a "rua" or "ruf" tag (RFC 7489 §6.2:
// URI ["!" size [k|m|g|t]]).
type ReportURI struct {
	URI     string // absolute URI, as written (RFC 3986); usually mailto:
	MaxSize uint64 // largest report wanted, in bytes (k/m/g/t are powers of 1024); 0 = no limit
}

// Record is a parsed DMARC record. Tags absent or with an invalid value
// hold their RFC 7489 §6.3 defaults, except Policy and SubdomainPolicy,
// which are "" when absent or invalid (Problems says which).
type Record struct {
	Raw             string      // the TXT record as given
	Policy          Policy      // p: required in a policy record; "" = absent or invalid
	SubdomainPolicy Policy      // sp: "" = absent or invalid (then p applies to subdomains)
	DKIM            Mode        // adkim, default Relaxed
	SPF             Mode        // aspf, default Relaxed
	Percent         int         // pct: 0-100, default 100
	Aggregate       []ReportURI // rua: valid URIs only
	Failure         []ReportURI // ruf: valid URIs only
	FailureOptions  []string    // fo: each of "0", "1", "d", "s", lower case; default ["0"]
	ReportFormats   []string    // rf: lower-case keywords; default ["afrf"]
	Interval        uint32      // ri: seconds between aggregate reports, default 86400
	Unknown         []string    // names of unknown tags, which RFC 7489 §6.3 says to ignore
	Problems        []*SyntaxError

	badP, badSP bool // p, sp present with an invalid value (RFC 7489 §6.6.3 step 6)
}

// policyDefect says what makes a record fall under RFC 7489 §6.6.3 step 6
// (no valid p, or an invalid sp) and how to correct it; "" when nothing.
func (r *Record) policyDefect() (defect, fix string) {
	switch {
	case r.badP:
		return "has an invalid p", "write p=none, p=quarantine or p=reject"
	case r.Policy == "":
		return "has no p", "add p=none (later quarantine, then reject)"
	case r.badSP:
		return "has an invalid sp", "write sp=none, sp=quarantine or sp=reject, or remove sp"
	}
	return "", ""
}

// ErrNotDMARC is what Parse's error wraps when the text is not a DMARC
// record at all: it does not start with the tag v=DMARC1 (RFC 7489 §6.3
// "v", §6.6.3 step 2). Receivers discard such TXT records.
var ErrNotDMARC = errors.New("not a DMARC record")

// SyntaxError is a syntax error in a DMARC record: where it is and what is
// wrong.
type SyntaxError struct {
	Offset int    // byte offset in the record where the offending tag starts
	Tag    string // the offending tag as written ("pct=abc"), "" when the record is empty
	Msg    string // what is wrong, and what a receiver does about it
	Fatal  bool   // the record is not a DMARC record (errors.Is(err, ErrNotDMARC))
}

func (e *SyntaxError) Error() string {
	if e.Tag == "" {
		return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("at byte %d, %q: %s", e.Offset, e.Tag, e.Msg)
}

// Unwrap gives ErrNotDMARC for a fatal error, nil otherwise.
func (e *SyntaxError) Unwrap() error {
	if e.Fatal {
		return ErrNotDMARC
	}
	return nil
}

// Parse parses a DMARC record (one TXT record, its strings concatenated),
// following the grammar of RFC 7489 §6.4: tags separated by ";" with
// optional spaces and tabs around separators and "=". Tag names and keyword
// values are case-insensitive; the version must be exactly "DMARC1".
//
// The error is non-nil, a *SyntaxError wrapping ErrNotDMARC, only when the
// text is not a DMARC record: its first tag is not v=DMARC1. Otherwise the
// record is returned, and every other syntax error — a bad value, a
// repeated tag, an empty tag, a bad tag name — is listed in Problems with
// its byte offset while the tag is ignored in favour of its default, as RFC
// 7489 §6.3 says receivers do. Unknown tags are listed in Unknown and
// ignored. Parse does not require "p": a record without it is still a DMARC
// record (Evaluate applies §6.6.3 step 6).
func Parse(txt string) (*Record, error) {
	r := &Record{Raw: txt, DKIM: Relaxed, SPF: Relaxed, Percent: 100, FailureOptions: []string{"0"}, ReportFormats: []string{"afrf"}, Interval: 86400}
	seen := map[string]bool{}
	start := 0
	for i := 0; ; i++ {
		end := strings.IndexByte(txt[start:], ';')
		last := end < 0
		if last {
			end = len(txt)
		} else {
			end += start
		}
		seg := txt[start:end]
		lead := len(seg) - len(strings.TrimLeft(seg, " \t"))
		tag := strings.TrimRight(seg[lead:], " \t")
		off := start + lead
		if i == 0 {
			if tag == "" && !last {
				return nil, &SyntaxError{Offset: off, Msg: "the first tag is empty; a DMARC record starts with v=DMARC1", Fatal: true}
			}
			if err := checkVersion(tag, off); err != nil {
				return nil, err
			}
			if lead > 0 {
				r.problem(off, tag, "space before v=DMARC1: RFC 7489 §6.4 allows none, and some receivers ignore such a record")
			}
			seen["v"] = true
		} else if tag == "" {
			if !last {
				r.problem(off, "", "empty tag between two \";\"")
			}
		} else {
			r.tag(tag, off, seen)
		}
		if last {
			return r, nil
		}
		start = end + 1
	}
}

// checkVersion checks the first tag, which must be v=DMARC1.
func checkVersion(tag string, off int) error {
	fatal := func(msg string) error { return &SyntaxError{Offset: off, Tag: tag, Msg: msg, Fatal: true} }
	name, value, ok := splitTag(tag)
	switch {
	case tag == "":
		return fatal("the record is empty; a DMARC record starts with v=DMARC1")
	case !ok || !strings.EqualFold(name, "v"):
		return fatal("the first tag must be v=DMARC1 (RFC 7489 §6.3)")
	case value != "DMARC1" && strings.HasPrefix(value, "DMARC1"):
		return fatal(fmt.Sprintf("the version must be exactly \"DMARC1\", not %q (a \";\" missing after DMARC1?)", value))
	case value != "DMARC1":
		return fatal(fmt.Sprintf("the version must be exactly \"DMARC1\" (case matters), not %q", value))
	}
	return nil
}

// splitTag splits "name = value" at its first "=", trimming spaces and tabs
// around both.
func splitTag(tag string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(tag, "=")
	return strings.TrimRight(name, " \t"), strings.TrimLeft(value, " \t"), ok
}

func (r *Record) problem(off int, tag, msg string) {
	r.Problems = append(r.Problems, &SyntaxError{Offset: off, Tag: tag, Msg: msg})
}

// tag applies one tag after the version.
func (r *Record) tag(tag string, off int, seen map[string]bool) {
	name, value, ok := splitTag(tag)
	if !ok {
		r.problem(off, tag, "no \"=\": a tag is name=value; ignored")
		return
	}
	if !isTagName(name) {
		r.problem(off, tag, fmt.Sprintf("%q is not a tag name (a letter, then letters, digits or \"_\"); ignored", name))
		return
	}
	key := strings.ToLower(name)
	if seen[key] {
		r.problem(off, tag, fmt.Sprintf("tag %s repeated; the first one counts and this one is ignored", key))
		return
	}
	seen[key] = true
	bad := func(msg string) { r.problem(off, tag, msg) }
	switch key {
	case "p", "sp":
		p := Policy(strings.ToLower(value))
		if p != None && p != Quarantine && p != Reject {
			if key == "p" {
				r.badP = true
			} else {
				r.badSP = true
			}
			bad(fmt.Sprintf("%s must be none, quarantine or reject; the tag is ignored", key))
			return
		}
		if key == "p" {
			r.Policy = p
		} else {
			r.SubdomainPolicy = p
		}
	case "adkim", "aspf":
		m := Mode(strings.ToLower(value))
		if m != Relaxed && m != Strict {
			bad(fmt.Sprintf("%s must be r (relaxed) or s (strict); the default r applies", key))
			return
		}
		if key == "adkim" {
			r.DKIM = m
		} else {
			r.SPF = m
		}
	case "pct":
		n, err := strconv.Atoi(value)
		if err != nil || !allDigits(value) || len(value) > 3 || n > 100 {
			bad("pct must be an integer from 0 to 100; the default 100 applies")
			return
		}
		r.Percent = n
	case "rua", "ruf":
		uris := r.uris(key, value, off, tag)
		if key == "rua" {
			r.Aggregate = uris
		} else {
			r.Failure = uris
		}
	case "fo":
		var opts []string
		for _, o := range strings.Split(value, ":") {
			o = strings.ToLower(strings.Trim(o, " \t"))
			if o != "0" && o != "1" && o != "d" && o != "s" {
				bad(fmt.Sprintf("fo options are 0, 1, d or s separated by \":\", not %q; the default 0 applies", o))
				return
			}
			opts = append(opts, o)
		}
		r.FailureOptions = opts
	case "rf":
		var formats []string
		for _, f := range strings.Split(value, ":") {
			f = strings.Trim(f, " \t")
			if !isKeyword(f) {
				bad(fmt.Sprintf("rf holds report format keywords separated by \":\", not %q; the default afrf applies", f))
				return
			}
			formats = append(formats, strings.ToLower(f))
		}
		r.ReportFormats = formats
	case "ri":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || !allDigits(value) {
			bad("ri must be a number of seconds (at most 4294967295); the default 86400 applies")
			return
		}
		r.Interval = uint32(n)
	default:
		r.Unknown = append(r.Unknown, key)
	}
}

// uris parses the value of rua or ruf: URIs separated by ",", each with an
// optional "!size[unit]" (RFC 7489 §6.2, §6.4). Invalid URIs are reported
// and dropped; the valid ones are kept.
func (r *Record) uris(key, value string, off int, tag string) []ReportURI {
	var out []ReportURI
	for _, u := range strings.Split(value, ",") {
		u = strings.Trim(u, " \t")
		ru, msg := parseReportURI(u)
		if msg != "" {
			r.problem(off, tag, fmt.Sprintf("%s: %s; that URI is ignored", key, msg))
			continue
		}
		out = append(out, ru)
	}
	return out
}

// parseReportURI parses URI ["!" 1*DIGIT ["k"/"m"/"g"/"t"]]; msg says what
// is wrong, "" if nothing.
func parseReportURI(s string) (ReportURI, string) {
	if s == "" {
		return ReportURI{}, "empty URI"
	}
	uri, size, hasSize := strings.Cut(s, "!")
	ru := ReportURI{URI: uri}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || strings.ContainsAny(uri, " \t") {
		return ru, fmt.Sprintf("%q is not an absolute URI (such as mailto:dmarc@example.com; \",\" and \"!\" in it must be %%-encoded)", s)
	}
	if strings.EqualFold(u.Scheme, "mailto") && (u.Opaque == "" || !strings.Contains(u.Opaque, "@")) {
		return ru, fmt.Sprintf("%q has no email address after mailto:", s)
	}
	if !hasSize {
		return ru, ""
	}
	digits, shift := size, 0
	if n := len(size); n > 0 {
		switch size[n-1] | 0x20 {
		case 'k':
			shift = 10
		case 'm':
			shift = 20
		case 'g':
			shift = 30
		case 't':
			shift = 40
		}
		if shift > 0 {
			digits = size[:n-1]
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || !allDigits(digits) || n > math.MaxUint64>>shift {
		return ru, fmt.Sprintf("%q: the size limit after \"!\" must be digits with an optional k, m, g or t", s)
	}
	ru.MaxSize = n << shift
	return ru, ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isTagName: ALPHA *(ALPHA / DIGIT / "_") (RFC 6376 §3.2, whose tag-list
// syntax DMARC records follow).
func isTagName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '_')) {
			return false
		}
	}
	return s != ""
}

// isKeyword: RFC 5321 Keyword (Ldh-str): letters, digits and inner hyphens.
func isKeyword(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
			return false
		}
	}
	return true
}
