package stats

import (
	"strings"
)

// ISP names: the values of SES's ISP metric dimension ("The recipient ISP
// (e.g. Gmail, Yahoo, etc.)", BatchGetMetricDataQuery). A recipient whose
// domain is not one of the ISPs' is counted under Other, so the dimension
// has a small, fixed set of values.
const (
	Gmail   = "Gmail"
	Yahoo   = "Yahoo"
	Hotmail = "Hotmail" // Microsoft's consumer mail: outlook.com, hotmail.*, live.*, msn.com
	AOL     = "AOL"
	Apple   = "Apple" // iCloud
	Comcast = "Comcast"
	GMX     = "GMX" // United Internet: gmx.*, web.de, mail.com
	Other   = "Other"
)

// ISPs lists every ISP value, Other last.
var ISPs = []string{Gmail, Yahoo, Hotmail, AOL, Apple, Comcast, GMX, Other}

// ispDomains maps the mailbox domains of each ISP (lower case).
var ispDomains = map[string]string{}

func init() {
	for isp, domains := range map[string][]string{
		Gmail: {"gmail.com", "googlemail.com"},
		Yahoo: {"yahoo.com", "yahoo.co.uk", "yahoo.co.jp", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it", "yahoo.ca",
			"yahoo.com.br", "yahoo.com.au", "yahoo.in", "ymail.com", "rocketmail.com"},
		Hotmail: {"outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es",
			"live.com", "live.co.uk", "live.fr", "msn.com", "outlook.fr", "outlook.de"},
		AOL:     {"aol.com", "aim.com", "aol.co.uk", "verizon.net"},
		Apple:   {"icloud.com", "me.com", "mac.com"},
		Comcast: {"comcast.net"},
		GMX:     {"gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de", "mail.com"},
	} {
		for _, d := range domains {
			ispDomains[d] = isp
		}
	}
}

// ISPOf returns the ISP of a recipient domain (Other when it is none of
// the listed ones).
func ISPOf(domain string) string {
	if isp, ok := ispDomains[strings.ToLower(strings.TrimSuffix(domain, "."))]; ok {
		return isp
	}
	return Other
}

// SendsFeedback reports whether complaints can come from isp's recipients.
// SES counts the complaint rate only over mail sent to domains that send
// feedback (../shared/spec/ses.md §8.2). Gmail and Apple send no
// per-message complaint reports (Gmail's feedback loop is aggregate), so
// mail to them is in neither term of the rate; the other listed ISPs run
// feedback loops (Yahoo's and AOL's CFL, Microsoft's JMRP, Comcast, GMX),
// and any other domain may send ARF reports to the return path, so Other
// counts too.
func SendsFeedback(isp string) bool {
	return isp != Gmail && isp != Apple
}
