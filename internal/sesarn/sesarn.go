// Package sesarn parses the Amazon SES ARNs Petrel's API accepts
// (arn:PARTITION:ses:REGION:ACCOUNT:TYPE/NAME: identities, configuration
// sets, contact lists, templates) and holds the one rule they all follow:
// an ARN names a resource of Petrel's only when its REGION is Petrel's
// configured region and its ACCOUNT the caller's (or, for sending
// authorisation, the owner's) sending account id. An ARN of another region
// names nothing here, as one of another account does: the caller gets the
// answer it gets for a resource that does not exist (NotFoundException;
// for sending authorisation, SES's not-authorised refusal).
package sesarn

import "strings"

// AnyRegion is the region of an ARN of SES's global endpoints
// (arn:aws:ses:*:ACCOUNT:identity/NAME). Only sending authorisation
// accepts it (FromEmailAddressIdentityArn, X-SES-SOURCE-ARN, …).
const AnyRegion = "*"

// ARN is a parsed SES ARN.
type ARN struct {
	Partition string // "aws", …
	Region    string
	Account   string // the sending account id
	Type      string // "identity", "configuration-set", "contact-list", "template"
	Name      string // the resource's name, after "TYPE/" (may hold further '/')
}

// Parse splits s, arn:PARTITION:ses:REGION:ACCOUNT:TYPE/NAME; false when
// s is not of that shape (a part empty, another service than ses, no
// "TYPE/"). The name may be empty: each resource type checks its own.
func Parse(s string) (ARN, bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] != "ses" || p[3] == "" || p[4] == "" {
		return ARN{}, false
	}
	typ, name, ok := strings.Cut(p[5], "/")
	if !ok || typ == "" {
		return ARN{}, false
	}
	return ARN{Partition: p[1], Region: p[3], Account: p[4], Type: typ, Name: name}, true
}

// Format is the ARN of resource name of type typ of the account with
// sending account id account in region.
func Format(region, account, typ, name string) string {
	return "arn:aws:ses:" + region + ":" + account + ":" + typ + "/" + name
}

// InRegion reports whether a is of region, Petrel's configured region
// (exactly: ARNs are case-sensitive). An empty region — a server configured
// without one — matches every ARN.
func (a ARN) InRegion(region string) bool {
	return region == "" || a.Region == region
}

// Of reports whether a names a resource of the account with sending
// account id account in region (InRegion): the rule for every ARN the API
// accepts.
func (a ARN) Of(region, account string) bool {
	return a.Account == account && a.InRegion(region)
}
