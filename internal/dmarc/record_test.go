package dmarc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// defaults returns the record Parse gives for "v=DMARC1" with fields
// changed by f.
func defaults(raw string, f func(r *Record)) *Record {
	r := &Record{Raw: raw, DKIM: Relaxed, SPF: Relaxed, Percent: 100, FailureOptions: []string{"0"}, ReportFormats: []string{"afrf"}, Interval: 86400}
	if f != nil {
		f(r)
	}
	return r
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		txt  string
		want func(r *Record)
	}{
		{"version only", "v=DMARC1", nil},
		{"trailing separator", "v=DMARC1;", nil},
		{"trailing separator and space", "v=DMARC1; ", nil},
		{"SES doc example", "v=DMARC1;p=quarantine;pct=25;rua=mailto:dmarcreports@example.com", func(r *Record) {
			r.Policy, r.Percent = Quarantine, 25
			r.Aggregate = []ReportURI{{URI: "mailto:dmarcreports@example.com"}}
		}},
		{"every tag", "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=0; rua=mailto:a@example.com,mailto:b@example.net!10m; ruf=mailto:f@example.com!512; fo=1:d:s; rf=afrf:iodef; ri=3600", func(r *Record) {
			r.Policy, r.SubdomainPolicy, r.DKIM, r.SPF, r.Percent = Reject, None, Strict, Strict, 0
			r.Aggregate = []ReportURI{{URI: "mailto:a@example.com"}, {URI: "mailto:b@example.net", MaxSize: 10 << 20}}
			r.Failure = []ReportURI{{URI: "mailto:f@example.com", MaxSize: 512}}
			r.FailureOptions = []string{"1", "d", "s"}
			r.ReportFormats = []string{"afrf", "iodef"}
			r.Interval = 3600
		}},
		{"spaces and tabs around separators and =", "v = DMARC1 ;\tp = reject\t; rua = mailto:a@example.com , mailto:b@example.com ;", func(r *Record) {
			r.Policy = Reject
			r.Aggregate = []ReportURI{{URI: "mailto:a@example.com"}, {URI: "mailto:b@example.com"}}
		}},
		{"tag names and keywords are case-insensitive", "V=DMARC1; P=Reject; SP=QUARANTINE; ADKIM=S; Aspf=R; FO=D; RF=AFRF", func(r *Record) {
			r.Policy, r.SubdomainPolicy, r.DKIM, r.SPF = Reject, Quarantine, Strict, Relaxed
			r.FailureOptions, r.ReportFormats = []string{"d"}, []string{"afrf"}
		}},
		{"size units are powers of 1024", "v=DMARC1; p=none; rua=mailto:a@example.com!1k,mailto:b@example.com!2G,mailto:c@example.com!1t", func(r *Record) {
			r.Policy = None
			r.Aggregate = []ReportURI{{URI: "mailto:a@example.com", MaxSize: 1024}, {URI: "mailto:b@example.com", MaxSize: 2 << 30}, {URI: "mailto:c@example.com", MaxSize: 1 << 40}}
		}},
		{"https report URI", "v=DMARC1; p=none; rua=https://dmarc.example.com/report", func(r *Record) {
			r.Policy = None
			r.Aggregate = []ReportURI{{URI: "https://dmarc.example.com/report"}}
		}},
		{"pct with leading zeros", "v=DMARC1; p=quarantine; pct=050", func(r *Record) { r.Policy, r.Percent = Quarantine, 50 }},
		{"unknown tags are ignored", "v=DMARC1; p=none; np=reject; t=y; psd=n", func(r *Record) {
			r.Policy = None
			r.Unknown = []string{"np", "t", "psd"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.txt)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.txt, err)
			}
			if want := defaults(tc.txt, tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.txt, got, want)
			}
		})
	}
}

// TestParseNotDMARC: a text whose first tag is not exactly v=DMARC1 is not
// a DMARC record (RFC 7489 §6.3 "v", §6.6.3 step 2), and the error says
// where and why.
func TestParseNotDMARC(t *testing.T) {
	for _, tc := range []struct{ txt, want string }{
		{"", `at byte 0: the record is empty; a DMARC record starts with v=DMARC1`},
		{"   ", `at byte 3: the record is empty; a DMARC record starts with v=DMARC1`},
		{"v=spf1 include:_spf.example.com ~all", `at byte 0, "v=spf1 include:_spf.example.com ~all": the version must be exactly "DMARC1" (case matters), not "spf1 include:_spf.example.com ~all"`},
		{"v=dmarc1; p=none", `at byte 0, "v=dmarc1": the version must be exactly "DMARC1" (case matters), not "dmarc1"`},
		{"v=DMARC2; p=none", `at byte 0, "v=DMARC2": the version must be exactly "DMARC1" (case matters), not "DMARC2"`},
		{"v=DMARC1 p=none", `at byte 0, "v=DMARC1 p=none": the version must be exactly "DMARC1", not "DMARC1 p=none" (a ";" missing after DMARC1?)`},
		{"p=none; v=DMARC1", `at byte 0, "p=none": the first tag must be v=DMARC1 (RFC 7489 §6.3)`},
		{"google-site-verification=abc", `at byte 0, "google-site-verification=abc": the first tag must be v=DMARC1 (RFC 7489 §6.3)`},
		{"DMARC1", `at byte 0, "DMARC1": the first tag must be v=DMARC1 (RFC 7489 §6.3)`},
		{";v=DMARC1", `at byte 0: the first tag is empty; a DMARC record starts with v=DMARC1`},
	} {
		r, err := Parse(tc.txt)
		if r != nil || !errors.Is(err, ErrNotDMARC) {
			t.Errorf("Parse(%q) = %v, %v; want nil and ErrNotDMARC", tc.txt, r, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", tc.txt, err, tc.want)
		}
	}
}

// TestParseProblems: every other syntax error is reported with its byte
// offset and the tag is ignored in favour of its default (RFC 7489 §6.3).
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name     string
		txt      string
		problems []string
		want     func(r *Record)
	}{
		{"bad p", "v=DMARC1; p=block", []string{`at byte 10, "p=block": p must be none, quarantine or reject; the tag is ignored`}, func(r *Record) { r.badP = true }},
		{"bad sp keeps p", "v=DMARC1; p=reject; sp=maybe", []string{`at byte 20, "sp=maybe": sp must be none, quarantine or reject; the tag is ignored`},
			func(r *Record) { r.Policy, r.badSP = Reject, true }},
		{"bad p and bad sp", "v=DMARC1; sp=x; p=y", []string{
			`at byte 10, "sp=x": sp must be none, quarantine or reject; the tag is ignored`,
			`at byte 16, "p=y": p must be none, quarantine or reject; the tag is ignored`,
		}, func(r *Record) { r.badP, r.badSP = true, true }},
		{"pct out of range", "v=DMARC1; p=reject; pct=101", []string{`at byte 20, "pct=101": pct must be an integer from 0 to 100; the default 100 applies`}, func(r *Record) { r.Policy = Reject }},
		{"pct not a number", "v=DMARC1; p=reject; pct=+5", []string{`at byte 20, "pct=+5": pct must be an integer from 0 to 100; the default 100 applies`}, func(r *Record) { r.Policy = Reject }},
		{"pct four digits", "v=DMARC1; p=reject; pct=0050", []string{`at byte 20, "pct=0050": pct must be an integer from 0 to 100; the default 100 applies`}, func(r *Record) { r.Policy = Reject }},
		{"bad adkim", "v=DMARC1; p=none; adkim=relaxed", []string{`at byte 18, "adkim=relaxed": adkim must be r (relaxed) or s (strict); the default r applies`}, func(r *Record) { r.Policy = None }},
		{"bad aspf", "v=DMARC1; p=none; aspf=", []string{`at byte 18, "aspf=": aspf must be r (relaxed) or s (strict); the default r applies`}, func(r *Record) { r.Policy = None }},
		{"rua without scheme keeps the good URI", "v=DMARC1; p=none; rua=dmarc@example.com, mailto:ok@example.com",
			[]string{`at byte 18, "rua=dmarc@example.com, mailto:ok@example.com": rua: "dmarc@example.com" is not an absolute URI (such as mailto:dmarc@example.com; "," and "!" in it must be %-encoded); that URI is ignored`},
			func(r *Record) { r.Policy, r.Aggregate = None, []ReportURI{{URI: "mailto:ok@example.com"}} }},
		{"mailto without address", "v=DMARC1; p=none; ruf=mailto:", []string{`at byte 18, "ruf=mailto:": ruf: "mailto:" has no email address after mailto:; that URI is ignored`}, func(r *Record) { r.Policy = None }},
		{"empty rua", "v=DMARC1; p=none; rua=", []string{`at byte 18, "rua=": rua: empty URI; that URI is ignored`}, func(r *Record) { r.Policy = None }},
		{"bad size", "v=DMARC1; p=none; rua=mailto:a@example.com!10x", []string{`at byte 18, "rua=mailto:a@example.com!10x": rua: "mailto:a@example.com!10x": the size limit after "!" must be digits with an optional k, m, g or t; that URI is ignored`}, func(r *Record) { r.Policy = None }},
		{"size overflow", "v=DMARC1; p=none; rua=mailto:a@example.com!99999999999t", []string{`at byte 18, "rua=mailto:a@example.com!99999999999t": rua: "mailto:a@example.com!99999999999t": the size limit after "!" must be digits with an optional k, m, g or t; that URI is ignored`}, func(r *Record) { r.Policy = None }},
		{"bad fo", "v=DMARC1; p=none; fo=1:x", []string{`at byte 18, "fo=1:x": fo options are 0, 1, d or s separated by ":", not "x"; the default 0 applies`}, func(r *Record) { r.Policy = None }},
		{"bad rf", "v=DMARC1; p=none; rf=afrf:", []string{`at byte 18, "rf=afrf:": rf holds report format keywords separated by ":", not ""; the default afrf applies`}, func(r *Record) { r.Policy = None }},
		{"bad ri", "v=DMARC1; p=none; ri=1d", []string{`at byte 18, "ri=1d": ri must be a number of seconds (at most 4294967295); the default 86400 applies`}, func(r *Record) { r.Policy = None }},
		{"ri overflow", "v=DMARC1; p=none; ri=4294967296", []string{`at byte 18, "ri=4294967296": ri must be a number of seconds (at most 4294967295); the default 86400 applies`}, func(r *Record) { r.Policy = None }},
		{"repeated tag", "v=DMARC1; p=none; p=reject", []string{`at byte 18, "p=reject": tag p repeated; the first one counts and this one is ignored`}, func(r *Record) { r.Policy = None }},
		{"repeated version", "v=DMARC1; p=none; v=DMARC1", []string{`at byte 18, "v=DMARC1": tag v repeated; the first one counts and this one is ignored`}, func(r *Record) { r.Policy = None }},
		{"tag without =", "v=DMARC1; p=none; reject", []string{`at byte 18, "reject": no "=": a tag is name=value; ignored`}, func(r *Record) { r.Policy = None }},
		{"bad tag name", "v=DMARC1; p=none; 1x=2", []string{`at byte 18, "1x=2": "1x" is not a tag name (a letter, then letters, digits or "_"); ignored`}, func(r *Record) { r.Policy = None }},
		{"empty tag", "v=DMARC1;; p=none", []string{`at byte 9: empty tag between two ";"`}, func(r *Record) { r.Policy = None }},
		{"leading space", "  v=DMARC1; p=none", []string{`at byte 2, "v=DMARC1": space before v=DMARC1: RFC 7489 §6.4 allows none, and some receivers ignore such a record`}, func(r *Record) { r.Policy = None }},
		{"several problems in order", "v=DMARC1; p=none; pct=x; adkim=y", []string{
			`at byte 18, "pct=x": pct must be an integer from 0 to 100; the default 100 applies`,
			`at byte 25, "adkim=y": adkim must be r (relaxed) or s (strict); the default r applies`,
		}, func(r *Record) { r.Policy = None }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.txt)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.txt, err)
			}
			var problems []string
			for _, p := range got.Problems {
				problems = append(problems, p.Error())
				if !strings.HasPrefix(tc.txt[p.Offset:], p.Tag) {
					t.Errorf("problem %q: offset %d does not point at its tag", p, p.Offset)
				}
			}
			if !reflect.DeepEqual(problems, tc.problems) {
				t.Errorf("Parse(%q) problems\n got %q\nwant %q", tc.txt, problems, tc.problems)
			}
			got.Problems = nil
			if want := defaults(tc.txt, tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.txt, got, want)
			}
		})
	}
}

// FuzzParse: Parse never panics; it returns either a record or an
// ErrNotDMARC error; every problem's offset points at its tag in the text;
// the fields hold values of their domains; and a record whose p and other
// tags are canonical parses again to the same policy.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1", "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=0; rua=mailto:a@example.com,mailto:b@example.net!10m; ruf=mailto:f@example.com!512; fo=1:d:s; rf=afrf; ri=3600",
		"v=DMARC1;;p=x;pct=1000;rua=!;fo=:", "v=spf1 -all", " v = DMARC1 ; p = none ", "v=DMARC1; rua=mailto:a@b!1t; ri=99999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := Parse(txt)
		if err != nil {
			var se *SyntaxError
			if r != nil || !errors.Is(err, ErrNotDMARC) || !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, %v", txt, r, err)
			}
			return
		}
		if r.Raw != txt {
			t.Fatalf("Raw = %q, want %q", r.Raw, txt)
		}
		for _, p := range r.Problems {
			if p.Fatal || p.Offset < 0 || p.Offset > len(txt) || !strings.HasPrefix(txt[p.Offset:], p.Tag) {
				t.Fatalf("Parse(%q): problem %+v", txt, p)
			}
		}
		for _, p := range []Policy{r.Policy, r.SubdomainPolicy} {
			if p != "" && p != None && p != Quarantine && p != Reject {
				t.Fatalf("Parse(%q): policy %q", txt, p)
			}
		}
		if r.DKIM != Relaxed && r.DKIM != Strict || r.SPF != Relaxed && r.SPF != Strict || r.Percent < 0 || r.Percent > 100 {
			t.Fatalf("Parse(%q): %+v", txt, r)
		}
		if r.Policy != "" {
			again, err := Parse("v=DMARC1; p=" + string(r.Policy))
			if err != nil || again.Policy != r.Policy {
				t.Fatalf("canonical p=%s does not parse back: %v, %v", r.Policy, again, err)
			}
		}
	})
}
