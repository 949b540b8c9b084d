package dmarc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// zone is the DNS a test's LookupTXT answers from: a name's TXT records
// ([]string, empty for NOERROR without data), or the error of a failed
// lookup; a name not in it has no record (NXDOMAIN).
type zone map[string]any

func (z zone) lookup(queried *[]string) LookupTXT {
	return func(ctx context.Context, name string) ([]string, error) {
		*queried = append(*queried, name)
		switch v := z[name].(type) {
		case nil:
			return nil, fmt.Errorf("lookup %s: NXDOMAIN: %w", name, ErrNoRecord)
		case error:
			return nil, v
		default:
			return v.([]string), nil
		}
	}
}

// Petrel's own return-path domain in these cases.
const returnPath = "mail.petrel.example"

var errServFail = errors.New("lookup _dmarc.example.com: server failure (SERVFAIL)")

// TestEvaluate runs realistic identities against published policies; the
// text of every report is in testdata/<name>.golden (go test -update
// rewrites them).
func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		zone    zone
		in      Input
		queried []string // names looked up, in order
		status  Status
		policy  Policy
		pass    bool
	}{
		{
			// The key's record is not verified: its d= does not count.
			name:    "dkim_record_unverified",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject"}},
			in:      Input{From: "example.com", DKIMUnverified: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Reject, pass: false,
		},
		{
			name:    "relaxed_dkim_only",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Reject, pass: true,
		},
		{
			name: "relaxed_dkim_and_custom_mail_from",
			zone: zone{"_dmarc.example.com": []string{
				"google-site-verification=abc123",
				"v=DMARC1;p=quarantine;pct=25;rua=mailto:dmarcreports@example.com",
			}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com", "Example.com"}, MailFrom: "bounce.example.com", CustomMailFrom: "bounce.example.com"},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Quarantine, pass: true,
		},
		{
			// news.example.com signs with its parent's key and has a
			// custom MAIL FROM: both align only in relaxed mode.
			name:    "strict_subdomain_fails",
			zone:    zone{"_dmarc.news.example.com": []string{"v=DMARC1; p=reject; adkim=s; aspf=s; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "news.example.com", DKIMDomains: []string{"example.com"}, MailFrom: "bounce.news.example.com", CustomMailFrom: "bounce.news.example.com"},
			queried: []string{"_dmarc.news.example.com"},
			status:  Found, policy: Reject, pass: false,
		},
		{
			name:    "relaxed_subdomain_parent_key",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "news.example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.news.example.com", "_dmarc.example.com"},
			status:  Found, policy: Reject, pass: true,
		},
		{
			// The record is inherited from the Organizational Domain, so
			// its sp applies (RFC 7489 §6.3).
			name:    "org_fallback_sp",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "news.example.com", MailFrom: returnPath},
			queried: []string{"_dmarc.news.example.com", "_dmarc.example.com"},
			status:  Found, policy: Quarantine, pass: false,
		},
		{
			// A record at the subdomain itself: p applies, its sp is for
			// the subdomain's own subdomains.
			name:    "subdomain_record_p_not_sp",
			zone:    zone{"_dmarc.news.example.com": []string{"v=DMARC1; p=none; sp=reject; rua=mailto:dmarc@example.com"}, "_dmarc.example.com": []string{"v=DMARC1; p=reject"}},
			in:      Input{From: "news.example.com", DKIMDomains: []string{"news.example.com"}, MailFrom: "bounce.news.example.com", CustomMailFrom: "bounce.news.example.com"},
			queried: []string{"_dmarc.news.example.com"},
			status:  Found, policy: None, pass: true,
		},
		{
			name:    "no_record",
			zone:    zone{},
			in:      Input{From: "shop.example.co.uk", MailFrom: returnPath},
			queried: []string{"_dmarc.shop.example.co.uk", "_dmarc.example.co.uk"},
			status:  NoRecord, pass: false,
		},
		{
			// NOERROR with TXT records, none of them DMARC, at the From
			// domain, which is its own Organizational Domain.
			name:    "no_dmarc_among_txt",
			zone:    zone{"_dmarc.example.com": []string{"v=spf1 -all", "hello"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  NoRecord, pass: true,
		},
		{
			name:    "multiple_records",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject", "v=DMARC1; p=none; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Multiple, pass: true,
		},
		{
			// Several records at the From domain end discovery: the
			// Organizational Domain's record is not consulted.
			name:    "multiple_records_no_fallback",
			zone:    zone{"_dmarc.news.example.com": []string{"v=DMARC1; p=reject", "v=DMARC1; p=quarantine"}, "_dmarc.example.com": []string{"v=DMARC1; p=reject"}},
			in:      Input{From: "news.example.com", DKIMDomains: []string{"news.example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.news.example.com"},
			status:  Multiple, pass: true,
		},
		{
			name:    "dns_failure",
			zone:    zone{"_dmarc.example.com": errServFail},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  DNSFailure, pass: true,
		},
		{
			name:    "dns_failure_at_org_domain",
			zone:    zone{"_dmarc.news.example.com": []string{}, "_dmarc.example.com": errServFail},
			in:      Input{From: "news.example.com", DKIMDomains: []string{"news.example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.news.example.com", "_dmarc.example.com"},
			status:  DNSFailure, pass: true,
		},
		{
			name:    "invalid_p_with_rua",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=block; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: None, pass: true,
		},
		{
			// An invalid sp, like an invalid p, makes receivers act as
			// if p=none when there is a rua (RFC 7489 §6.6.3 step 6).
			name:    "invalid_sp_with_rua",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject; sp=maybe; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: None, pass: true,
		},
		{
			name:    "missing_p_without_rua",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; adkim=s"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, pass: true,
		},
		{
			name:    "custom_mail_from_not_verified",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", MailFrom: returnPath, CustomMailFrom: "bounce.example.com"},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Quarantine, pass: false,
		},
		{
			name:    "foreign_dkim_domain",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=reject; pct=30; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"petrel.example"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Reject, pass: false,
		},
		{
			name:    "monitoring_passes",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=none; rua=mailto:dmarc@example.com"}},
			in:      Input{From: "Example.COM.", DKIMDomains: []string{"example.com"}, MailFrom: "bounce.example.com", CustomMailFrom: "bounce.example.com"},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: None, pass: true,
		},
		{
			// Problems, unknown tags, no rua, and text that would act on
			// a terminal.
			name:    "problems_and_unsafe_text",
			zone:    zone{"_dmarc.example.com": []string{"v=DMARC1; p=quarantine; pct=0; np=reject; fo=x; \x1b[31mred=1"}},
			in:      Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath},
			queried: []string{"_dmarc.example.com"},
			status:  Found, policy: Quarantine, pass: true,
		},
		{
			name:    "internationalised_from",
			zone:    zone{"_dmarc.xn--bcher-kva.example": []string{"v=DMARC1; p=reject; aspf=s; rua=mailto:dmarc@xn--bcher-kva.example"}},
			in:      Input{From: "bücher.example", DKIMDomains: []string{"xn--bcher-kva.example"}, MailFrom: "bounce.bücher.example", CustomMailFrom: "bounce.bücher.example"},
			queried: []string{"_dmarc.xn--bcher-kva.example"},
			status:  Found, policy: Reject, pass: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var queried []string
			r, err := Evaluate(context.Background(), tc.zone.lookup(&queried), tc.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if strings.Join(queried, " ") != strings.Join(tc.queried, " ") {
				t.Errorf("queried %q, want %q", queried, tc.queried)
			}
			if r.Discovery.Status != tc.status || r.Policy != tc.policy || r.Pass != tc.pass {
				t.Errorf("status %s, policy %q, pass %v; want %s, %q, %v", r.Discovery.Status, r.Policy, r.Pass, tc.status, tc.policy, tc.pass)
			}
			text := r.String()
			var b strings.Builder
			if n, err := r.WriteTo(&b); err != nil || int(n) != len(text) || b.String() != text {
				t.Errorf("WriteTo wrote %d bytes, %v; not String's %d", n, err, len(text))
			}
			if strings.ContainsRune(text, '\x1b') {
				t.Errorf("report holds an escape character:\n%s", text)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), text)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestAlignment: the alignment rules of RFC 7489 §3.1 over the policy's
// modes, with the Organizational Domains of the Public Suffix List.
func TestAlignment(t *testing.T) {
	for _, tc := range []struct {
		from, domain string
		mode         Mode
		aligned      bool
	}{
		{"example.com", "example.com", Strict, true},
		{"example.com", "example.com", Relaxed, true},
		{"example.com", "bounce.example.com", Relaxed, true},
		{"example.com", "bounce.example.com", Strict, false},
		{"news.example.com", "example.com", Relaxed, true},
		{"news.example.com", "example.com", Strict, false},
		{"a.news.example.com", "b.example.com", Relaxed, true},
		{"example.com", "example.net", Relaxed, false},
		{"example.com", "notexample.com", Relaxed, false},
		{"shop.example.co.uk", "bounce.example.co.uk", Relaxed, true},
		{"shop.example.co.uk", "other.co.uk", Relaxed, false},        // co.uk is a public suffix
		{"alice.github.io", "bob.github.io", Relaxed, false},         // private section of the list
		{"mail.example.internal", "example.internal", Relaxed, true}, // unlisted TLD: the "*" rule
	} {
		r := Report{From: tc.from, Org: OrganizationalDomain(tc.from)}
		if c := r.align(tc.domain, tc.mode, tc.domain); c.Aligned != tc.aligned {
			t.Errorf("From %s, %s, mode %s: aligned %v (%s), want %v", tc.from, tc.domain, tc.mode, c.Aligned, c.Why, tc.aligned)
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":          "example.com",
		"a.b.example.com":      "example.com",
		"a.b.example.co.uk":    "example.co.uk",
		"co.uk":                "co.uk", // a public suffix is its own
		"com":                  "com",
		"x.y.xn--bcher-kva.de": "xn--bcher-kva.de",
		"alice.github.io":      "alice.github.io",
	} {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEvaluateErrors: invalid domains in the input and an ended context are
// errors, not reports.
func TestEvaluateErrors(t *testing.T) {
	var queried []string
	lookup := zone{}.lookup(&queried)
	good := Input{From: "example.com", DKIMDomains: []string{"example.com"}, MailFrom: returnPath}
	for _, tc := range []struct {
		name string
		in   func(in *Input)
	}{
		{"From", func(in *Input) { in.From = "exa mple.com" }},
		{"empty From", func(in *Input) { in.From = "" }},
		{"MAIL FROM", func(in *Input) { in.MailFrom = "-bad.example" }},
		{"custom MAIL FROM", func(in *Input) { in.CustomMailFrom = "bad..example" }},
		{"DKIM domain", func(in *Input) { in.DKIMDomains = []string{"example.com", "x_y.example"} }},
	} {
		in := good
		tc.in(&in)
		if _, err := Evaluate(context.Background(), lookup, in); !errors.Is(err, address.ErrInvalid) {
			t.Errorf("%s: err = %v, want address.ErrInvalid", tc.name, err)
		}
	}
	if len(queried) != 0 {
		t.Errorf("invalid input was looked up: %q", queried)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	canceled := func(ctx context.Context, name string) ([]string, error) { return nil, ctx.Err() }
	if _, err := Evaluate(ctx, canceled, good); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v, want context.Canceled", err)
	}
}
