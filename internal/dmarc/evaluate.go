package dmarc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
)

// Input describes the mail Petrel sends for one identity.
type Input struct {
	// From is the RFC 5322 From domain: the domain identity's name, or the
	// domain of an address identity (U-labels or A-labels).
	From string
	// DKIMDomains are the d= domains of the DKIM signatures Petrel adds to
	// mail from From (the key of From or of a parent domain); none when it
	// does not sign. Repeats (two keys of one domain during a rotation)
	// count once.
	DKIMDomains []string
	// DKIMUnverified are the d= domains of keys Petrel signs with whose
	// DNS record is not verified (PENDING, FAILED): receivers cannot verify
	// those signatures, so they do not count; the advice says so.
	DKIMUnverified []string
	// MailFrom is the envelope MAIL FROM (RFC 5321.MailFrom) domain Petrel
	// uses for that mail now: the identity's custom MAIL FROM domain when it
	// is verified, else Petrel's own return-path domain.
	MailFrom string
	// CustomMailFrom is the identity's custom MAIL FROM domain when one is
	// configured, verified or not (it is in use when it equals MailFrom);
	// "" when there is none.
	CustomMailFrom string
}

// Check is the alignment of one authenticated identifier with the From
// domain (RFC 7489 §3.1).
type Check struct {
	Domain  string // the d= domain (DKIM) or the MAIL FROM domain (SPF)
	Aligned bool
	Why     string // why it aligns or not, e.g. "Organizational Domain petrel.example, not example.com"
}

// Report is the DMARC readiness of an identity: what Evaluate found.
type Report struct {
	From      string    // the From domain, lower-case A-labels
	Org       string    // its Organizational Domain (RFC 7489 §3.2)
	Discovery Discovery // the policy lookups and their outcome
	// Policy is what receivers are asked to do with mail from From that
	// fails DMARC: "" when no DMARC policy applies (no record, several
	// records, a record with no valid p and no rua, or a DNS failure).
	Policy Policy
	// PolicyTag says where Policy comes from: "p", "sp" (a record inherited
	// from the Organizational Domain, RFC 7489 §6.3), or "assumed" (None
	// for a record without a valid p but with a rua, §6.6.3 step 6); ""
	// with no Policy.
	PolicyTag string
	Percent   int     // pct: the share of failing mail Policy applies to, 0-100
	DKIMMode  Mode    // adkim in force (Relaxed when no record applies)
	SPFMode   Mode    // aspf in force (Relaxed when no record applies)
	DKIM      []Check // one per Input.DKIMDomains; empty when Petrel does not sign
	// Unverified are Input.DKIMUnverified: d= Petrel signs with that do
	// not count until their records are verified.
	Unverified []string
	SPF        Check
	// Pass: the mail passes DMARC provided its DKIM signature verifies or
	// SPF passes: at least one of the aligned identifiers is authenticated.
	Pass   bool
	Advice []string // what to change, most important first; empty when nothing
}

// Evaluate finds the DMARC policy for in.From (Discover) and evaluates the
// alignment of in's DKIM domains and MAIL FROM domain with it, assuming the
// signatures and SPF themselves pass. The error is an invalid domain in in
// (wrapping address.ErrInvalid) or the context's error; DNS failures are
// part of the Report (Discovery.Status DNSFailure), which then evaluates
// alignment with the default relaxed modes.
func Evaluate(ctx context.Context, lookup LookupTXT, in Input) (Report, error) {
	from, err := address.Domain(in.From)
	if err != nil {
		return Report{}, fmt.Errorf("dmarc: From domain: %w", err)
	}
	mailFrom, err := address.Domain(in.MailFrom)
	if err != nil {
		return Report{}, fmt.Errorf("dmarc: MAIL FROM domain: %w", err)
	}
	custom := ""
	if in.CustomMailFrom != "" {
		if custom, err = address.Domain(in.CustomMailFrom); err != nil {
			return Report{}, fmt.Errorf("dmarc: custom MAIL FROM domain: %w", err)
		}
	}
	var dkimDomains []string
	for _, d := range in.DKIMDomains {
		d, err := address.Domain(d)
		if err != nil {
			return Report{}, fmt.Errorf("dmarc: DKIM domain: %w", err)
		}
		if !slices.Contains(dkimDomains, d) { // several keys of one domain (rotation) are one d=
			dkimDomains = append(dkimDomains, d)
		}
	}
	var unverified []string
	for _, d := range in.DKIMUnverified {
		d, err := address.Domain(d)
		if err != nil {
			return Report{}, fmt.Errorf("dmarc: DKIM domain: %w", err)
		}
		if !slices.Contains(unverified, d) && !slices.Contains(dkimDomains, d) {
			unverified = append(unverified, d)
		}
	}
	disc, err := Discover(ctx, lookup, from)
	if err != nil {
		return Report{}, err
	}
	r := Report{From: from, Org: OrganizationalDomain(from), Discovery: disc, DKIMMode: Relaxed, SPFMode: Relaxed, Percent: 100, Unverified: unverified}
	if rec := disc.Record; rec != nil {
		r.DKIMMode, r.SPFMode, r.Percent = rec.DKIM, rec.SPF, rec.Percent
		switch defect, _ := rec.policyDefect(); {
		case defect != "":
			if len(rec.Aggregate) > 0 {
				r.Policy, r.PolicyTag = None, "assumed"
			}
		case disc.Inherited && rec.SubdomainPolicy != "":
			r.Policy, r.PolicyTag = rec.SubdomainPolicy, "sp"
		default:
			r.Policy, r.PolicyTag = rec.Policy, "p"
		}
	}
	for _, d := range dkimDomains {
		c := r.align(d, r.DKIMMode, "d="+d)
		r.DKIM = append(r.DKIM, c)
		r.Pass = r.Pass || c.Aligned
	}
	r.SPF = r.align(mailFrom, r.SPFMode, mailFrom)
	r.Pass = r.Pass || r.SPF.Aligned
	r.Advice = r.advice(custom)
	return r, nil
}

// align checks domain against the From domain under mode (RFC 7489 §3.1.1,
// §3.1.2); what names domain in Why.
func (r *Report) align(domain string, mode Mode, what string) Check {
	c := Check{Domain: domain}
	org := OrganizationalDomain(domain)
	switch {
	case domain == r.From:
		c.Aligned, c.Why = true, "the From domain itself"
	case mode == Strict && org == r.Org:
		c.Why = fmt.Sprintf("strict alignment needs exactly %s; %s only shares its Organizational Domain %s", r.From, what, r.Org)
	case mode == Strict:
		c.Why = fmt.Sprintf("strict alignment needs exactly %s", r.From)
	case org == r.Org:
		c.Aligned, c.Why = true, fmt.Sprintf("same Organizational Domain %s", r.Org)
	default:
		c.Why = fmt.Sprintf("Organizational Domain %s, not %s", org, r.Org)
	}
	return c
}

// advice lists what to change, most important first.
func (r *Report) advice(custom string) []string {
	var a []string
	d := r.Discovery
	rec := d.Record
	starter := fmt.Sprintf(`_dmarc.%s TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@%s"`, r.Org, r.Org)
	switch d.Status {
	case NoRecord:
		names := make([]string, len(d.Queries))
		for i, q := range d.Queries {
			names[i] = q.Name
		}
		a = append(a, fmt.Sprintf("no DMARC record published at %s: receivers apply no DMARC policy to mail from %s and send no reports; publish one, starting with monitoring: %s",
			strings.Join(names, " nor "), r.From, starter))
	case Multiple:
		a = append(a, fmt.Sprintf("%d DMARC records at %s: receivers apply no DMARC policy when there is more than one (RFC 7489 §6.6.3); keep exactly one",
			len(d.Queries[len(d.Queries)-1].DMARC), d.Name))
	case DNSFailure:
		a = append(a, fmt.Sprintf("the TXT lookup of %s failed (%s): whether a DMARC policy applies is unknown, and receivers meeting the same failure may defer the mail or apply no policy; check the zone's name servers and run the check again",
			d.Name, safe(d.Queries[len(d.Queries)-1].Err.Error())))
	case Found:
		defect, fix := rec.policyDefect()
		switch {
		case defect != "" && len(rec.Aggregate) > 0:
			a = append(a, fmt.Sprintf("the record at %s %s: receivers treat it as p=none (RFC 7489 §6.6.3); %s", d.Name, defect, fix))
		case defect != "":
			a = append(a, fmt.Sprintf("the record at %s %s and no valid rua: receivers apply no DMARC policy (RFC 7489 §6.6.3); %s, and add rua=mailto:dmarc-reports@%s", d.Name, defect, fix, r.Org))
		}
		for _, p := range rec.Problems {
			a = append(a, fmt.Sprintf("the record at %s has a syntax error %s", d.Name, safe(p.Error())))
		}
		if len(rec.Aggregate) == 0 && defect == "" {
			a = append(a, fmt.Sprintf("the record at %s has no rua: nobody receives aggregate reports on mail sent as %s; add rua=mailto:dmarc-reports@%s", d.Name, r.From, r.Org))
		}
	}
	a = append(a, r.dkimAdvice()...)
	a = append(a, r.spfAdvice(custom)...)
	if r.Policy == None && r.PolicyTag == "p" {
		if r.Pass {
			a = append(a, fmt.Sprintf("p=none only monitors: once the aggregate reports show that all mail sent as %s, from every service, aligns, move to p=quarantine and then p=reject", r.From))
		} else {
			a = append(a, "make Petrel's mail align before moving beyond p=none, or receivers will quarantine or reject it")
		}
	}
	return a
}

func (r *Report) dkimAdvice() []string {
	if len(r.DKIM) == 0 && len(r.Unverified) > 0 {
		return []string{fmt.Sprintf("DKIM: Petrel signs mail from %s with d=%s, but that key's DNS record is not verified (petrel identity check lists it): receivers cannot verify the signature until it is published",
			r.From, strings.Join(r.Unverified, ", d="))}
	}
	if len(r.DKIM) == 0 {
		return []string{fmt.Sprintf("DKIM: Petrel does not sign mail from %s; give the domain identity %s a DKIM key (petrel identity dkim %s --account … --dkim rsa2048) and publish its record, so that d=%s aligns",
			r.From, r.From, r.From, r.From)}
	}
	for _, c := range r.DKIM {
		if c.Aligned {
			return nil
		}
	}
	var names []string
	for _, c := range r.DKIM {
		names = append(names, "d="+c.Domain)
	}
	got := strings.Join(names, ", ")
	if r.DKIMMode == Strict {
		return []string{fmt.Sprintf("DKIM does not align: adkim=s needs d=%s exactly, and Petrel signs with %s; give %s its own DKIM key, or publish adkim=r", r.From, got, r.From)}
	}
	if r.Org != r.From {
		return []string{fmt.Sprintf("DKIM does not align: Petrel signs with %s, outside %s; sign with a key of %s (or of %s)", got, r.Org, r.From, r.Org)}
	}
	return []string{fmt.Sprintf("DKIM does not align: Petrel signs with %s, outside %s; sign with a key of %s", got, r.Org, r.From)}
}

func (r *Report) spfAdvice(custom string) []string {
	if r.SPF.Aligned {
		return nil
	}
	mf := r.SPF.Domain
	if r.SPFMode == Strict {
		s := fmt.Sprintf("SPF does not align: aspf=s needs the MAIL FROM domain to be exactly %s, not %s; a custom MAIL FROM is a subdomain of its identity, so mail from the identity's own domain cannot align SPF under aspf=s; rely on DKIM", r.From, mf)
		if custom == "" {
			s += fmt.Sprintf(", or publish aspf=r and set a custom MAIL FROM under %s (e.g. bounce.%s)", r.From, r.From)
		} else {
			s += ", or publish aspf=r"
		}
		return []string{s}
	}
	switch {
	case custom == "":
		return []string{fmt.Sprintf("SPF does not align: MAIL FROM is %s, Petrel's return-path domain; set a custom MAIL FROM under %s (PutEmailIdentityMailFromAttributes, e.g. bounce.%s) and publish its MX and SPF records",
			mf, r.From, r.From)}
	case custom != mf && OrganizationalDomain(custom) == r.Org:
		return []string{fmt.Sprintf("SPF does not align yet: the custom MAIL FROM %s is not verified, so mail uses %s; publish its MX and SPF records (petrel identity check lists them)", custom, mf)}
	case custom != mf:
		return []string{fmt.Sprintf("SPF does not align: the custom MAIL FROM %s is not under %s (and not verified, so mail uses %s); choose a subdomain of %s, e.g. bounce.%s", custom, r.Org, mf, r.From, r.From)}
	default:
		return []string{fmt.Sprintf("SPF does not align: the custom MAIL FROM %s is not under %s; choose a subdomain of %s, e.g. bounce.%s", custom, r.Org, r.From, r.From)}
	}
}
