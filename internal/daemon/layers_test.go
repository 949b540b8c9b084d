package daemon

import (
	"os/exec"
	"strings"
	"testing"
)

// allowed is the architecture: which internal packages each package may
// import (../shared/design/architecture.md §6, "Direction of dependencies").
// Differences from the document: sending and delivery import store (for the
// group-commit Batcher); api imports spool (GetMessageInsights reads the
// "mail" object); smtpsubmit imports address and message (SMTP envelope
// parsing, SES reply texts); inbound imports store, and spool to read the
// original message of a bounce (its account and destinations); dkim is a leaf used by
// identity (keys) and api (key types in DkimSigningAttributes); identity imports message
// (it composes address verification emails); admission (connection
// caps, memory budget) is a leaf used by the listeners; retention prunes through the
// owning packages; event imports message (the "mail" object's headers and
// commonHeaders are message's types, which message.Prepare fills); egress
// (the SSRF guard), awsquery (the Query protocol's wire format) and
// resourcetag (SES's resource-tag rules, shared by configuration sets,
// templates and contact lists), sesarn (SES resource ARNs and the region
// rule every ARN the API accepts follows) and ttlcache (the send path's small read
// cache of stored settings) are leaves; notify delivers jobs and knows no configuration; publish routes
// events to jobs over configset, identity and the topics (an interface the
// daemon fills with sns) and sends feedback emails through sending; sns
// builds its jobs for notify (its emails with message's header folding);
// metrics (Prometheus) observes events, asks the queue at scrape time and
// bounds bounce reasons with bounce's rules; the edges report to it; dmarc
// (the DMARC-ready report) normalises domains with address and gets its DNS
// through a function its caller supplies.
var allowed = map[string][]string{
	"address":     {},
	"smtpreply":   {},
	"sigv4":       {},
	"simulator":   {},
	"dkim":        {},
	"store":       {},
	"config":      {},
	"dnstest":     {},
	"mxtest":      {},
	"logtest":     {},
	"smtptest":    {},
	"admission":   {},
	"egress":      {},
	"awsquery":    {},
	"resourcetag": {},
	"sesarn":      {},
	"ttlcache":    {},
	"dmarc":       {"address"},
	"notify":      {"event", "store"},
	"publish":     {"address", "configset", "event", "identity", "message", "notify", "sending", "spool"},
	"sns":         {"account", "awsquery", "message", "notify", "sigv4", "store"},
	"retention":   {"spool", "queue", "event", "inbound", "suppression", "stats", "contacts"},
	"message":     {"address"},
	"bounce":      {"smtpreply", "address"},
	"spool":       {"store"},
	"stats":       {"store", "event", "address", "simulator", "spool", "bounce"},
	"event":       {"store", "message"},
	"reputation":  {"store", "stats", "event", "bounce", "configset"},
	"account":     {"store", "address"},
	"identity":    {"store", "address", "dkim", "message", "resolver"},
	"resolver":    {},
	"suppression": {"store", "address", "event", "bounce"},
	"configset":   {"store", "suppression", "resourcetag", "ttlcache"},
	"importjob":   {"store", "suppression", "address", "contacts"},
	"contacts":    {"store", "address", "event", "resourcetag"},
	"queue":       {"store", "address"},
	"metrics":     {"event", "queue", "bounce"},
	"quota":       {"store"},
	"template":    {"store", "message", "resourcetag", "ttlcache", "sesarn"},
	"sending":     {"account", "identity", "configset", "queue", "spool", "event", "message", "address", "store", "suppression", "bounce", "simulator", "quota", "contacts", "template", "sesarn"},
	"delivery":    {"resolver", "queue", "spool", "event", "bounce", "simulator", "smtpreply", "address", "store", "suppression", "configset"},
	"api":         {"quota", "sending", "account", "identity", "event", "message", "sigv4", "address", "spool", "dkim", "admission", "configset", "suppression", "importjob", "metrics", "stats", "template", "contacts", "resourcetag", "awsquery", "sesarn"},
	"smtpsubmit":  {"sending", "account", "address", "message", "admission", "metrics"},
	"inbound":     {"bounce", "event", "queue", "address", "store", "spool", "smtpreply", "admission", "suppression", "configset"},
	"daemon":      {"*"},
	"e2e":         {"*"},
}

func TestLayers(t *testing.T) {
	const prefix = "github.com/petrelmail/petrel/internal/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, prefix+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], prefix)
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layer table; add it to the architecture", pkg)
			continue
		}
		if len(ok) == 1 && ok[0] == "*" {
			continue
		}
		for _, imp := range fields[1:] {
			dep, internal := strings.CutPrefix(imp, prefix)
			if !internal {
				continue
			}
			if !contains(ok, dep) {
				t.Errorf("%s imports %s, which the layer table does not allow", pkg, dep)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
