package dmarc

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// LookupTXT returns the TXT records at name (a fully qualified domain name
// without the trailing dot, e.g. "_dmarc.example.com"), one string per
// record with the record's character-strings concatenated (as
// net.Resolver.LookupTXT does). When the name has no TXT record — NXDOMAIN,
// or NOERROR with no TXT data — it returns an error wrapping ErrNoRecord
// (or no records and a nil error); any other error is a DNS failure
// (SERVFAIL, timeout, refused), which the report shows as such.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// ErrNoRecord is what a LookupTXT error wraps when the name has no TXT
// record, as opposed to a failed lookup.
var ErrNoRecord = errors.New("no TXT record")

// Status is the outcome of policy discovery.
type Status string

// The outcomes of Discover.
const (
	Found      Status = "FOUND"       // exactly one DMARC record: Discovery.Record
	NoRecord   Status = "NO_RECORD"   // no DMARC record: receivers apply no DMARC policy
	Multiple   Status = "MULTIPLE"    // several DMARC records at one name: receivers apply no DMARC policy
	DNSFailure Status = "DNS_FAILURE" // a lookup failed: receivers' handling varies (RFC 7489 §6.6.3)
)

// Query is one TXT lookup made during discovery.
type Query struct {
	Name  string   // the name queried, e.g. "_dmarc.example.com"
	TXT   []string // every TXT record returned
	DMARC []string // those that start with v=DMARC1 (§6.6.3 steps 2 and 4)
	Err   error    // a DNS failure, nil when the lookup answered (records or none)
}

// Discovery is the result of Discover.
type Discovery struct {
	Status  Status
	Queries []Query // in order: _dmarc.<From domain>, then possibly _dmarc.<Organizational Domain>
	Name    string  // where the record was found (Found), or the name with several (Multiple)
	Record  *Record // the record (Found)
	// Inherited: the record was found at the Organizational Domain, not at
	// the From domain, so its sp (if present) applies instead of p (§6.3).
	Inherited bool
}

// Discover finds the DMARC record for mail whose RFC 5322 From domain is
// domain (lower-case A-labels), as RFC 7489 §6.6.3 describes: the TXT
// records at _dmarc.<domain> that start with v=DMARC1; if there are none,
// those at _dmarc.<Organizational Domain> when that differs; exactly one
// record is the policy, several or none mean no policy (there is no
// fallback from several records at the From domain to the Organizational
// Domain). A DNS failure stops discovery with Status DNSFailure: whether a
// record exists is then unknown. The context's error is returned when it
// ends; lookup errors are reported in the Discovery, not returned.
func Discover(ctx context.Context, lookup LookupTXT, domain string) (Discovery, error) {
	var d Discovery
	names := []string{"_dmarc." + domain}
	if org := OrganizationalDomain(domain); org != domain {
		names = append(names, "_dmarc."+org)
	}
	for i, name := range names {
		q := Query{Name: name}
		txt, err := lookup(ctx, name)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Discovery{}, ctxErr
		}
		switch {
		case errors.Is(err, ErrNoRecord):
		case err != nil:
			q.Err = err
		default:
			q.TXT = txt
		}
		for _, t := range q.TXT {
			if _, perr := Parse(t); !errors.Is(perr, ErrNotDMARC) {
				q.DMARC = append(q.DMARC, t)
			}
		}
		d.Queries = append(d.Queries, q)
		switch {
		case q.Err != nil:
			d.Status, d.Name = DNSFailure, name
			return d, nil
		case len(q.DMARC) > 1:
			d.Status, d.Name = Multiple, name
			return d, nil
		case len(q.DMARC) == 1:
			d.Status, d.Name, d.Inherited = Found, name, i > 0
			d.Record, _ = Parse(q.DMARC[0])
			return d, nil
		}
	}
	d.Status = NoRecord
	return d, nil
}

// OrganizationalDomain returns the Organizational Domain of domain (RFC
// 7489 §3.2): its public suffix plus one label, by the Public Suffix List
// compiled into golang.org/x/net/publicsuffix (ICANN and private sections;
// an unlisted TLD is a public suffix by the list's "*" rule). A domain that
// is itself a public suffix is its own Organizational Domain. domain is
// lower-case A-labels without a trailing dot.
func OrganizationalDomain(domain string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return strings.ToLower(org)
}
