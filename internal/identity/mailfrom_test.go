package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

func TestCheckMailFromDomain(t *testing.T) {
	cases := []struct {
		identity string
		kind     Kind
		domain   string
		want     string // "" = refused
		why      string // part of the refusal
	}{
		{"example.com", Domain, "bounce.example.com", "bounce.example.com", ""},
		{"example.com", Domain, "Bounce.Example.COM.", "bounce.example.com", ""},
		{"example.com", Domain, "a.b.example.com", "a.b.example.com", ""},
		{"example.com", Domain, "example.com", "", "not example.com itself"},
		{"example.com", Domain, "bounce.other.com", "", "not a subdomain"},
		{"example.com", Domain, "badexample.com", "", "not a subdomain"},
		{"example.com", Domain, "bad_label.example.com", "", "not a valid domain"},
		{"example.com", Domain, "-x.example.com", "", "not a valid domain"},
		{"example.com", Domain, "", "", "not a valid domain"},
		{"user@example.com", EmailAddress, "bounce.example.com", "bounce.example.com", ""},
		{"user@example.com", EmailAddress, "example.com", "", "itself"},
		{"xn--bcher-kva.example", Domain, "mail.bücher.example", "mail.xn--bcher-kva.example", ""},
	}
	for _, c := range cases {
		got, err := CheckMailFromDomain(c.identity, c.kind, c.domain)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("%s %q: %q, %v; want %q", c.identity, c.domain, got, err, c.want)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidMailFrom) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s %q: %q, %v; want a refusal saying %q", c.identity, c.domain, got, err, c.why)
		}
	}
}

func TestMailFromSettings(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			ctx := t.Context()
			accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
			for _, a := range []string{"a", "b"} {
				if _, err := accts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			s := New(db, accts)
			for _, n := range []string{"example.com", "user@example.com", "unverified.test"} {
				if _, err := s.Create(ctx, "a", n, n != "unverified.test"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Create(ctx, "b", "other.test", true); err != nil {
				t.Fatal(err)
			}
			m, err := s.GetMailFrom(ctx, "a", "example.com")
			if err != nil || m != (MailFrom{Behavior: UseDefaultValue, Status: StatusPending}) {
				t.Fatalf("never set: %+v, %v", m, err)
			}
			for _, c := range []struct{ acct, name, domain, behavior string }{
				{"a", "nope.test", "b.nope.test", ""},
				{"b", "example.com", "b.example.com", ""}, // another account's identity
			} {
				if err := s.PutMailFrom(ctx, c.acct, c.name, c.domain, c.behavior); !errors.Is(err, ErrNotFound) {
					t.Errorf("Put %s/%s: %v, want ErrNotFound", c.acct, c.name, err)
				}
			}
			if err := s.PutMailFrom(ctx, "a", "example.com", "bounce.example.com", "REJECT"); !errors.Is(err, ErrInvalidMailFrom) {
				t.Errorf("bad behavior: %v", err)
			}
			if err := s.PutMailFrom(ctx, "a", "example.com", "Bounce.example.com", RejectMessage); err != nil {
				t.Fatal(err)
			}
			from := func(s string) address.Address { a, _ := address.Parse(s); return a }
			got, id, ok, err := s.MailFromFor(ctx, "a", from("x@example.com"))
			if err != nil || !ok || id != "example.com" || got != (MailFrom{"bounce.example.com", RejectMessage, StatusPending}) {
				t.Fatalf("MailFromFor: %+v %q %v %v", got, id, ok, err)
			}
			// The engine finds the records: SUCCESS.
			dns := dnstest.New(t)
			dns.MX("bounce.example.com", 10, "feedback.petrel.test")
			dns.TXT("bounce.example.com", "v=spf1 include:petrel.test ~all")
			c := &Checker{S: s, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				MailFrom: MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}}
			if _, err := c.Check(ctx, "a", "example.com"); err != nil {
				t.Fatal(err)
			}
			if got, _, _, _ := s.MailFromFor(ctx, "a", from("x@sub.example.com")); got.Status != StatusSuccess {
				t.Errorf("a subdomain's sender: %+v", got)
			}
			// The behaviour alone changes: the status stays; a new domain
			// starts over.
			if err := s.PutMailFrom(ctx, "a", "example.com", "bounce.example.com", ""); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.GetMailFrom(ctx, "a", "example.com"); m != (MailFrom{"bounce.example.com", UseDefaultValue, StatusSuccess}) {
				t.Errorf("behaviour changed: %+v", m)
			}
			if err := s.PutMailFrom(ctx, "a", "example.com", "mf.example.com", RejectMessage); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.GetMailFrom(ctx, "a", "example.com"); m != (MailFrom{"mf.example.com", RejectMessage, StatusPending}) {
				t.Errorf("domain changed: %+v", m)
			}
			// The address identity's own setting wins for its address.
			if err := s.PutMailFrom(ctx, "a", "user@example.com", "u.example.com", ""); err != nil {
				t.Fatal(err)
			}
			if _, id, _, _ := s.MailFromFor(ctx, "a", from("user@example.com")); id != "user@example.com" {
				t.Errorf("address identity's setting not used: %q", id)
			}
			if _, id, _, _ := s.MailFromFor(ctx, "a", from("other@example.com")); id != "example.com" {
				t.Errorf("domain's setting not used: %q", id)
			}
			// Unverified identities authorise nothing, so their setting
			// does not apply; another account sees nothing.
			if err := s.PutMailFrom(ctx, "a", "unverified.test", "b.unverified.test", ""); err != nil {
				t.Fatal(err)
			}
			if _, _, ok, _ := s.MailFromFor(ctx, "a", from("x@unverified.test")); ok {
				t.Error("unverified identity's MAIL FROM applied")
			}
			if _, _, ok, _ := s.MailFromFor(ctx, "b", from("x@example.com")); ok {
				t.Error("another account's MAIL FROM applied")
			}
			if keys, err := listMailFromRecords(ctx, s, "", ""); err != nil || len(keys) != 6 { // MX and SPF of three identities
				t.Errorf("MAIL FROM records: %+v %v", keys, err)
			}
			// Disabling keeps the behaviour, drops the domain.
			if err := s.PutMailFrom(ctx, "a", "example.com", "", RejectMessage); err != nil {
				t.Fatal(err)
			}
			if _, id, _, _ := s.MailFromFor(ctx, "a", from("x@example.com")); id != "" {
				t.Errorf("disabled MAIL FROM applied: %q", id)
			}
			if m, _ := s.GetMailFrom(ctx, "a", "example.com"); m.Domain != "" || m.Behavior != RejectMessage {
				t.Errorf("disabled: %+v", m)
			}
			// Deleting the identity deletes its setting.
			if err := s.Delete(ctx, "a", "user@example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, "a", "user@example.com", true); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.GetMailFrom(ctx, "a", "user@example.com"); m.Domain != "" {
				t.Errorf("setting survived its identity: %+v", m)
			}
		})
	}
}

func TestEvaluateMailFromMX(t *testing.T) {
	want := MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}
	cases := []struct {
		name      string
		answer    DNSAnswer
		status    string
		errorType string
		explains  string
	}{
		{"one right MX", DNSAnswer{MX: []MXRecord{{10, "Feedback.Petrel.test."}}}, StatusSuccess, "", ""},
		{"no such name", DNSAnswer{Outcome: DNSNXDomain}, StatusPending, ErrorHostMissing, "does not exist"},
		{"no MX", DNSAnswer{}, StatusPending, ErrorTypeMissing, "no MX record"},
		{"other host", DNSAnswer{MX: []MXRecord{{10, "mx.example.com."}}}, StatusPending, ErrorBadValue, "names mx.example.com, not feedback.petrel.test"},
		{"null MX", DNSAnswer{MX: []MXRecord{{0, "."}}}, StatusPending, ErrorBadValue, "null MX"},
		{"two MX", DNSAnswer{MX: []MXRecord{{10, "feedback.petrel.test."}, {20, "mx.example.com."}}}, StatusFailed, ErrorBadValue, "2 MX records"},
		{"SERVFAIL", DNSAnswer{Outcome: DNSServerFailure, Detail: "SERVFAIL"}, StatusTemporaryFailure, ErrorDNSServer, "SERVFAIL"},
	}
	for _, c := range cases {
		v := EvaluateMailFromMX("bounce.example.com", want, c.answer)
		if v.Status != c.status || v.ErrorType != c.errorType || !strings.Contains(v.Explanation, c.explains) {
			t.Errorf("%s: %+v", c.name, v)
		}
		if v.Expected != "bounce.example.com. MX 10 feedback.petrel.test." {
			t.Errorf("%s: expected %q", c.name, v.Expected)
		}
	}
	v := EvaluateMailFromMX("bounce.example.com", want, cases[5].answer)
	if v.Found != "bounce.example.com. MX 10 feedback.petrel.test.; bounce.example.com. MX 20 mx.example.com." {
		t.Errorf("found: %q", v.Found)
	}
}

func TestEvaluateMailFromSPF(t *testing.T) {
	want := MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "Petrel.test."}
	cases := []struct {
		name      string
		answer    DNSAnswer
		status    string
		errorType string
	}{
		{"include", DNSAnswer{TXT: []string{"v=spf1 include:petrel.test ~all"}}, StatusSuccess, ""},
		{"include, pass qualifier, case", DNSAnswer{TXT: []string{"V=SPF1 +INCLUDE:Petrel.Test. -all", "google-site-verification=x"}}, StatusSuccess, ""},
		{"include after other mechanisms", DNSAnswer{TXT: []string{"v=spf1 ip4:192.0.2.1 include:_spf.example.com include:petrel.test -all"}}, StatusSuccess, ""},
		{"redirect without all", DNSAnswer{TXT: []string{"v=spf1 redirect=petrel.test"}}, StatusSuccess, ""},
		{"redirect with all", DNSAnswer{TXT: []string{"v=spf1 redirect=petrel.test ~all"}}, StatusPending, ErrorBadValue},
		{"include after all", DNSAnswer{TXT: []string{"v=spf1 -all include:petrel.test"}}, StatusPending, ErrorBadValue},
		{"fail qualifier", DNSAnswer{TXT: []string{"v=spf1 -include:petrel.test ~all"}}, StatusPending, ErrorBadValue},
		{"other include", DNSAnswer{TXT: []string{"v=spf1 include:amazonses.com ~all"}}, StatusPending, ErrorBadValue},
		{"prefix of a longer name", DNSAnswer{TXT: []string{"v=spf1 include:petrel.test.evil.example ~all"}}, StatusPending, ErrorBadValue},
		{"not SPF", DNSAnswer{TXT: []string{"v=spf10 include:petrel.test", "hello"}}, StatusPending, ErrorTypeMissing},
		{"no TXT", DNSAnswer{}, StatusPending, ErrorTypeMissing},
		{"no such name", DNSAnswer{Outcome: DNSNXDomain}, StatusPending, ErrorHostMissing},
		{"two SPF records", DNSAnswer{TXT: []string{"v=spf1 include:petrel.test ~all", "v=spf1 -all"}}, StatusFailed, ErrorBadValue},
		{"timeout", DNSAnswer{Outcome: DNSServerFailure, Detail: "i/o timeout"}, StatusTemporaryFailure, ErrorDNSServer},
		{"bare v=spf1", DNSAnswer{TXT: []string{"v=spf1"}}, StatusPending, ErrorBadValue},
	}
	for _, c := range cases {
		v := EvaluateMailFromSPF("bounce.example.com", want, c.answer)
		if v.Status != c.status || v.ErrorType != c.errorType || (v.Status == StatusSuccess) != (v.Explanation == "") {
			t.Errorf("%s: %+v", c.name, v)
		}
		if v.Expected != `bounce.example.com. TXT "v=spf1 include:petrel.test ~all"` {
			t.Errorf("%s: expected %q", c.name, v.Expected)
		}
	}
}

func TestMailFromStatus(t *testing.T) {
	cases := []struct{ mx, spf, want string }{
		{StatusSuccess, StatusSuccess, StatusSuccess},
		{StatusSuccess, StatusPending, StatusPending},
		{StatusPending, StatusTemporaryFailure, StatusTemporaryFailure},
		{StatusFailed, StatusTemporaryFailure, StatusFailed},
		{StatusSuccess, StatusFailed, StatusFailed},
	}
	for _, c := range cases {
		if got := MailFromStatus(c.mx, c.spf); got != c.want {
			t.Errorf("MailFromStatus(%s, %s) = %s, want %s", c.mx, c.spf, got, c.want)
		}
	}
}

// FuzzEvaluateMailFromSPF: any TXT data gives a verdict with a known
// status and no panic; a record accepted always names the include domain.
func FuzzEvaluateMailFromSPF(f *testing.F) {
	for _, s := range []string{"v=spf1 include:petrel.test ~all", "v=spf1 redirect=petrel.test", "v=spf1 -all include:petrel.test", "v=spf1", "v=spf1 =", "v=spf1 + ~"} {
		f.Add(s)
	}
	want := MailFromExpect{MXHost: "mx.petrel.test", SPFInclude: "petrel.test"}
	f.Fuzz(func(t *testing.T, txt string) {
		v := EvaluateMailFromSPF("b.example.com", want, DNSAnswer{TXT: []string{txt}})
		switch v.Status {
		case StatusSuccess:
			if !strings.Contains(strings.ToLower(txt), "petrel.test") {
				t.Fatalf("%q accepted", txt)
			}
		case StatusPending:
		default:
			t.Fatalf("%q: status %s", txt, v.Status)
		}
	})
}

// BenchmarkMailFromFor is the send path's custom MAIL FROM lookup from the
// cache: an account with no MAIL FROM domain ("none") and one whose domain
// identity has one ("set", which also reads the verified set).
func BenchmarkMailFromFor(b *testing.B) {
	db := store.OpenTest(b, "sqlite")
	ctx := b.Context()
	accts, _ := account.New(db, b.TempDir()+"/k", "us-east-1")
	for _, a := range []string{"none", "set"} {
		if _, err := accts.Create(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	s := New(db, accts)
	for _, a := range []string{"none", "set"} {
		if _, err := s.Create(ctx, a, "example.com", true); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.PutMailFrom(ctx, "set", "example.com", "bounce.example.com", ""); err != nil {
		b.Fatal(err)
	}
	from, _ := address.Parse("sender@mail.example.com")
	for _, a := range []string{"none", "set"} {
		b.Run(a, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := s.MailFromFor(ctx, a, from); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
