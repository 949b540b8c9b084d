package api

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// TestV1VerifyIdentities: through aws-sdk-go-v2 service/ses,
// VerifyEmailIdentity and VerifyEmailAddress create an address identity
// and send its verification email, and send it again when called again
// (v1 is idempotent where v2's CreateEmailIdentity is
// AlreadyExistsException), but not once the address is verified;
// VerifyDomainIdentity answers the domain's `_amazonses` token, the same
// one each time; VerifyDomainDkim answers the selectors v2 reports, and
// creates the domain when it is not one yet; GetIdentityVerificationAttributes
// reports each identity asked for that exists (keyed as asked), with the
// token for domains; ListVerifiedEmailAddresses lists the verified
// addresses only; the deletions succeed, for identities that are gone too.
func TestV1VerifyIdentities(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, box, _ := startVerificationAPI(t, backend)
			ctx := t.Context()
			v1, v2 := v1Client(srv.URL, tenants["acme"]), sesClient(srv.URL, tenants["acme"], 1)
			mails := func() int {
				box.mu.Lock()
				defer box.mu.Unlock()
				return len(box.msgs)
			}

			for i, want := range []int{1, 2} {
				if _, err := v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("a@acme.example")}); err != nil {
					t.Fatalf("VerifyEmailIdentity #%d: %v", i+1, err)
				}
				if mails() != want {
					t.Fatalf("VerifyEmailIdentity #%d: %d verification emails, want %d", i+1, mails(), want)
				}
			}
			if _, err := v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("a@acme.example")}); !strings.Contains(err.Error(), "AlreadyExistsException") {
				t.Fatalf("v2 CreateEmailIdentity of an existing address: %v", err)
			}
			if _, err := v1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String("b@acme.example")}); err != nil || mails() != 3 {
				t.Fatalf("VerifyEmailAddress: %v, %d emails", err, mails())
			}
			box.mu.Lock()
			base, token := linkIn(t, box.msgs[2])
			box.mu.Unlock()
			if status, _, _ := get(t, "GET", base+token); status != 200 {
				t.Fatalf("following b's link: %d", status)
			}
			if _, err := v1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String("b@acme.example")}); err != nil || mails() != 3 {
				t.Fatalf("VerifyEmailAddress of a verified address: %v, %d emails", err, mails())
			}

			tok, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("New.example")})
			if err != nil || len(aws.ToString(tok.VerificationToken)) != 44 {
				t.Fatalf("VerifyDomainIdentity: %v %v", tok, err)
			}
			again, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("new.example")})
			if err != nil || aws.ToString(again.VerificationToken) != aws.ToString(tok.VerificationToken) {
				t.Fatalf("VerifyDomainIdentity again: %v %v, want the token %s", again, err, aws.ToString(tok.VerificationToken))
			}
			g, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("new.example")})
			if err != nil || len(g.DkimAttributes.Tokens) == 0 {
				t.Fatalf("GetEmailIdentity: %v %v", g, err)
			}
			for _, domain := range []string{"new.example", "dkimonly.example"} {
				dk, err := v1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String(domain)})
				if err != nil {
					t.Fatalf("VerifyDomainDkim %s: %v", domain, err)
				}
				want, err := v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(domain)})
				if err != nil || len(dk.DkimTokens) == 0 || !slices.Equal(dk.DkimTokens, want.DkimAttributes.Tokens) {
					t.Fatalf("VerifyDomainDkim %s: %v, want v2's tokens %v (%v)", domain, dk.DkimTokens, want, err)
				}
			}

			va, err := v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{
				Identities: []string{"new.example", "a@acme.example", "b@acme.example", "acme.example", "nobody.example", "not an identity", "new.example"}})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]types.IdentityVerificationAttributes{
				"new.example":    {VerificationStatus: types.VerificationStatusPending, VerificationToken: tok.VerificationToken},
				"a@acme.example": {VerificationStatus: types.VerificationStatusPending},
				"b@acme.example": {VerificationStatus: types.VerificationStatusSuccess},
				"acme.example":   {VerificationStatus: types.VerificationStatusSuccess},
			}
			if len(va.VerificationAttributes) != len(want) {
				t.Fatalf("GetIdentityVerificationAttributes: %d identities, want %d: %+v", len(va.VerificationAttributes), len(want), va.VerificationAttributes)
			}
			for name, w := range want {
				got, ok := va.VerificationAttributes[name]
				domain := !strings.Contains(name, "@")
				if !ok || got.VerificationStatus != w.VerificationStatus || domain != (got.VerificationToken != nil) ||
					w.VerificationToken != nil && aws.ToString(got.VerificationToken) != aws.ToString(w.VerificationToken) {
					t.Errorf("%s: %+v, want %+v (a domain with its token)", name, got, w)
				}
			}

			lv, err := v1.ListVerifiedEmailAddresses(ctx, &ses.ListVerifiedEmailAddressesInput{})
			if err != nil || !slices.Equal(lv.VerifiedEmailAddresses, []string{"b@acme.example"}) {
				t.Fatalf("ListVerifiedEmailAddresses: %v %v", lv, err)
			}
			if _, err := v1.DeleteVerifiedEmailAddress(ctx, &ses.DeleteVerifiedEmailAddressInput{EmailAddress: aws.String("b@acme.example")}); err != nil {
				t.Fatal(err)
			}
			if lv, err := v1.ListVerifiedEmailAddresses(ctx, &ses.ListVerifiedEmailAddressesInput{}); err != nil || len(lv.VerifiedEmailAddresses) != 0 {
				t.Fatalf("ListVerifiedEmailAddresses after the deletion: %v %v", lv, err)
			}
			for i := range 2 {
				if _, err := v1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("new.example")}); err != nil {
					t.Fatalf("DeleteIdentity #%d: %v", i+1, err)
				}
			}
			if _, err := v1.DeleteVerifiedEmailAddress(ctx, &ses.DeleteVerifiedEmailAddressInput{EmailAddress: aws.String("b@acme.example")}); err != nil {
				t.Fatalf("DeleteVerifiedEmailAddress of a deleted address: %v", err)
			}
			va, err = v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"new.example", "b@acme.example"}})
			if err != nil || len(va.VerificationAttributes) != 0 {
				t.Fatalf("after the deletions: %+v %v", va, err)
			}
		})
	}
}

// TestV1VerifyEmailThrottled: VerifyEmailIdentity called again and again
// for one address sends an email each time, up to the per-account burst
// of verification emails (each call counting once); then Throttling.
func TestV1VerifyEmailThrottled(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, box, _ := startVerificationAPI(t, backend)
			v1 := v1Client(srv.URL, tenants["acme"])
			var err error
			calls := 0
			for ; calls < 100 && err == nil; calls++ {
				_, err = v1.VerifyEmailIdentity(t.Context(), &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("again@acme.example")})
			}
			box.mu.Lock()
			sent := len(box.msgs)
			box.mu.Unlock()
			if code, _ := v1Code(err); code != "Throttling" || sent < identity.MailBurst || sent != calls-1 {
				t.Fatalf("after %d calls: %v, %d emails sent, want Throttling after at least %d", calls, err, sent, identity.MailBurst)
			}
		})
	}
}

// TestV1DomainVerifiedByToken: a domain of VerifyDomainIdentity is
// verified by its `_amazonses` TXT record alone (the DKIM record never
// published); one whose records were not found in 72 hours is Failed, and
// VerifyDomainIdentity again starts it over (Pending), after which the
// token verifies it.
func TestV1DomainVerifiedByToken(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			v1 := v1Client(srv.URL, tenants["acme"])
			dns := dnstest.New(t)
			var now time.Time
			c := &identity.Checker{S: s.Identities, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				Now: func() time.Time { return now }}
			checkAt := func(at time.Time) {
				t.Helper()
				now = at
				if _, err := c.CheckDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			status := func(domain string) types.VerificationStatus {
				t.Helper()
				out, err := v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{domain}})
				if err != nil {
					t.Fatal(err)
				}
				return out.VerificationAttributes[domain].VerificationStatus
			}
			verify := func(domain string) string {
				t.Helper()
				out, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String(domain)})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.VerificationToken)
			}

			tok := verify("token.example")
			dns.TXT(identity.TokenRecordName("token.example"), tok)
			stale := verify("stale.example")
			start := time.Now()
			checkAt(start.Add(time.Second))
			if st, st2 := status("token.example"), status("stale.example"); st != types.VerificationStatusSuccess || st2 != types.VerificationStatusPending {
				t.Fatalf("after the first check: token.example %s, stale.example %s", st, st2)
			}
			checkAt(start.Add(73 * time.Hour))
			if st := status("stale.example"); st != types.VerificationStatusFailed {
				t.Fatalf("after 73 hours: stale.example %s", st)
			}
			if again := verify("stale.example"); again != stale {
				t.Fatalf("token changed: %s, then %s", stale, again)
			}
			if st := status("stale.example"); st != types.VerificationStatusPending {
				t.Fatalf("after VerifyDomainIdentity again: %s", st)
			}
			dns.TXT(identity.TokenRecordName("stale.example"), stale)
			checkAt(time.Now().Add(time.Second))
			if st := status("stale.example"); st != types.VerificationStatusSuccess {
				t.Fatalf("token published after the restart: %s", st)
			}
		})
	}
}

// TestV1ListIdentities: ListIdentities pages through the account's
// identities in name order (MaxItems, NextToken), filters by
// IdentityType, and writes an empty list as <Identities/>.
func TestV1ListIdentities(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _, _ := startVerificationAPI(t, backend)
			ctx := t.Context()
			v1 := v1Client(srv.URL, tenants["other"])
			status, body := v1Post(t, srv, tenants["other"], "ses", url.Values{"Action": {"ListIdentities"}, "IdentityType": {"EmailAddress"}})
			if status != 200 || !strings.Contains(string(body), "<ListIdentitiesResult><Identities></Identities></ListIdentitiesResult>") {
				t.Fatalf("no addresses: %d %s", status, body)
			}
			domains := []string{"d1.example", "d2.example", "d3.example", "other.example"}
			addrs := []string{"x@other.example", "y@other.example"}
			for _, d := range domains[:3] {
				if _, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String(d)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range addrs {
				if _, err := v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)}); err != nil {
					t.Fatal(err)
				}
			}
			all := slices.Sorted(slices.Values(append(slices.Clone(domains), addrs...)))
			for _, c := range []struct {
				typ  types.IdentityType
				max  int32
				want []string
			}{
				{"", 2, all},
				{"", 0, all},
				{types.IdentityTypeDomain, 3, domains},
				{types.IdentityTypeEmailAddress, 1, addrs},
			} {
				var got []string
				var token *string
				pages := 0
				for {
					in := &ses.ListIdentitiesInput{IdentityType: c.typ, NextToken: token}
					if c.max > 0 {
						in.MaxItems = aws.Int32(c.max)
					}
					out, err := v1.ListIdentities(ctx, in)
					if err != nil {
						t.Fatalf("%s/%d: %v", c.typ, c.max, err)
					}
					pages++
					if c.max > 0 && len(out.Identities) > int(c.max) {
						t.Fatalf("%s/%d: a page of %d", c.typ, c.max, len(out.Identities))
					}
					got = append(got, out.Identities...)
					if out.NextToken == nil {
						break
					}
					token = out.NextToken
				}
				wantPages := 1
				if c.max > 0 {
					wantPages = (len(c.want) + int(c.max) - 1) / int(c.max)
				}
				if !slices.Equal(got, c.want) || pages != wantPages {
					t.Errorf("%s/%d: %v in %d pages, want %v in %d", c.typ, c.max, got, pages, c.want, wantPages)
				}
			}
		})
	}
}

// TestV1IdentityDkimAndMailFrom: GetIdentityDkimAttributes and
// SetIdentityDkimEnabled, GetIdentityMailFromDomainAttributes and
// SetIdentityMailFromDomain through the SDK, in v1's enums.
func TestV1IdentityDkimAndMailFrom(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			v1 := v1Client(srv.URL, tenants["acme"])
			dk, err := v1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String("dkim.example")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("u@dkim.example")}); err != nil {
				t.Fatal(err)
			}
			dkim := func() map[string]types.IdentityDkimAttributes {
				t.Helper()
				out, err := v1.GetIdentityDkimAttributes(ctx, &ses.GetIdentityDkimAttributesInput{Identities: []string{"dkim.example", "u@dkim.example", "acme.example", "nobody.example"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.DkimAttributes) != 3 {
					t.Fatalf("GetIdentityDkimAttributes: %+v", out.DkimAttributes)
				}
				return out.DkimAttributes
			}
			a := dkim()
			for _, name := range []string{"dkim.example", "u@dkim.example"} { // the address shows its domain's key
				if d := a[name]; !d.DkimEnabled || d.DkimVerificationStatus != types.VerificationStatusPending || !slices.Equal(d.DkimTokens, dk.DkimTokens) {
					t.Errorf("%s: %+v, want enabled, Pending, %v", name, d, dk.DkimTokens)
				}
			}
			if d := a["acme.example"]; d.DkimEnabled || d.DkimVerificationStatus != types.VerificationStatusNotStarted || d.DkimTokens != nil {
				t.Errorf("acme.example (no key): %+v", d)
			}
			for _, on := range []bool{false, true} {
				if _, err := v1.SetIdentityDkimEnabled(ctx, &ses.SetIdentityDkimEnabledInput{Identity: aws.String("dkim.example"), DkimEnabled: on}); err != nil {
					t.Fatal(err)
				}
				if d := dkim()["dkim.example"]; d.DkimEnabled != on {
					t.Fatalf("after SetIdentityDkimEnabled %v: %+v", on, d)
				}
			}

			mailFrom := func(name string) types.IdentityMailFromDomainAttributes {
				t.Helper()
				out, err := v1.GetIdentityMailFromDomainAttributes(ctx, &ses.GetIdentityMailFromDomainAttributesInput{Identities: []string{name, "nobody.example"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.MailFromDomainAttributes) != 1 {
					t.Fatalf("GetIdentityMailFromDomainAttributes: %+v", out.MailFromDomainAttributes)
				}
				return out.MailFromDomainAttributes[name]
			}
			if m := mailFrom("dkim.example"); m.MailFromDomain != nil || m.MailFromDomainStatus != "" || m.BehaviorOnMXFailure != types.BehaviorOnMXFailureUseDefaultValue {
				t.Fatalf("no MAIL FROM: %+v", m)
			}
			for _, c := range []struct {
				identity, domain string
				behavior         types.BehaviorOnMXFailure
				wantBehavior     types.BehaviorOnMXFailure
			}{
				{"dkim.example", "bounce.dkim.example", types.BehaviorOnMXFailureRejectMessage, types.BehaviorOnMXFailureRejectMessage},
				{"u@dkim.example", "mail.dkim.example", "", types.BehaviorOnMXFailureUseDefaultValue},
				{"dkim.example", "", "", types.BehaviorOnMXFailureUseDefaultValue},
			} {
				in := &ses.SetIdentityMailFromDomainInput{Identity: aws.String(c.identity), BehaviorOnMXFailure: c.behavior}
				if c.domain != "" {
					in.MailFromDomain = aws.String(c.domain)
				}
				if _, err := v1.SetIdentityMailFromDomain(ctx, in); err != nil {
					t.Fatalf("%+v: %v", c, err)
				}
				m := mailFrom(c.identity)
				wantStatus := types.CustomMailFromStatusPending
				if c.domain == "" {
					wantStatus = ""
				}
				if aws.ToString(m.MailFromDomain) != c.domain || m.MailFromDomainStatus != wantStatus || m.BehaviorOnMXFailure != c.wantBehavior {
					t.Errorf("%+v: %+v", c, m)
				}
			}
		})
	}
}

// TestV1IdentityErrors: what the identity actions refuse, through the SDK
// and as raw requests (members the SDK checks or types itself).
func TestV1IdentityErrors(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	ctx := t.Context()
	v1 := v1Client(srv.URL, tenants["acme"])
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("d%d.example", i)
	}
	for _, c := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"VerifyEmailIdentity of a domain", func() error {
			_, err := v1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("acme.example")})
			return err
		}, "InvalidParameterValue", "is a domain, not an email address"},
		{"VerifyEmailAddress of a bad address", func() error {
			_, err := v1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String("a b@@x")})
			return err
		}, "InvalidParameterValue", "is not a valid email address"},
		{"VerifyDomainIdentity of an address", func() error {
			_, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("a@acme.example")})
			return err
		}, "InvalidParameterValue", "is an email address, not a domain"},
		{"VerifyDomainIdentity of a bad domain", func() error {
			_, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("bad..example")})
			return err
		}, "InvalidParameterValue", "is not a valid domain"},
		{"VerifyDomainIdentity of a public suffix", func() error {
			_, err := v1.VerifyDomainIdentity(ctx, &ses.VerifyDomainIdentityInput{Domain: aws.String("co.uk")})
			return err
		}, "InvalidParameterValue", "public suffix"},
		{"VerifyDomainDkim of an address", func() error {
			_, err := v1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String("a@acme.example")})
			return err
		}, "InvalidParameterValue", "not a domain"},
		{"DeleteIdentity of a bad name", func() error {
			_, err := v1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("bad..example")})
			return err
		}, "InvalidParameterValue", "not a valid email address or domain"},
		{"DeleteVerifiedEmailAddress of a domain", func() error {
			_, err := v1.DeleteVerifiedEmailAddress(ctx, &ses.DeleteVerifiedEmailAddressInput{EmailAddress: aws.String("acme.example")})
			return err
		}, "InvalidParameterValue", "not an email address"},
		{"ListIdentities of another type", func() error {
			_, err := v1.ListIdentities(ctx, &ses.ListIdentitiesInput{IdentityType: "Mailbox"})
			return err
		}, "InvalidParameterValue", "must be EmailAddress or Domain"},
		{"ListIdentities MaxItems 1001", func() error {
			_, err := v1.ListIdentities(ctx, &ses.ListIdentitiesInput{MaxItems: aws.Int32(1001)})
			return err
		}, "InvalidParameterValue", "MaxItems must be an integer between 0 and 1000"},
		{"ListIdentities with a bad NextToken", func() error {
			_, err := v1.ListIdentities(ctx, &ses.ListIdentitiesInput{NextToken: aws.String("!!")})
			return err
		}, "InvalidParameterValue", "NextToken is not valid"},
		{"GetIdentityVerificationAttributes of 101 identities", func() error {
			_, err := v1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: many})
			return err
		}, "InvalidParameterValue", "at most 100"},
		{"SetIdentityDkimEnabled of an unknown identity", func() error {
			_, err := v1.SetIdentityDkimEnabled(ctx, &ses.SetIdentityDkimEnabledInput{Identity: aws.String("nobody.example"), DkimEnabled: true})
			return err
		}, "InvalidParameterValue", "does not exist"},
		{"SetIdentityMailFromDomain of an unknown identity", func() error {
			_, err := v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("nobody.example")})
			return err
		}, "InvalidParameterValue", "does not exist"},
		{"SetIdentityMailFromDomain outside the domain", func() error {
			_, err := v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("acme.example"), MailFromDomain: aws.String("bounce.other.example")})
			return err
		}, "InvalidParameterValue", "is not a subdomain of acme.example"},
		{"SetIdentityMailFromDomain with another behaviour", func() error {
			_, err := v1.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("acme.example"), BehaviorOnMXFailure: "Bounce"})
			return err
		}, "InvalidParameterValue", "must be UseDefaultValue or RejectMessage"},
	} {
		if code, msg := v1Code(c.call()); code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %s %q, want %s %q", c.name, code, msg, c.code, c.msg)
		}
	}

	for _, c := range []struct {
		form url.Values
		code string
	}{
		{url.Values{"Action": {"VerifyEmailIdentity"}}, "ValidationError"},
		{url.Values{"Action": {"VerifyDomainIdentity"}}, "ValidationError"},
		{url.Values{"Action": {"GetIdentityDkimAttributes"}}, "ValidationError"},
		{url.Values{"Action": {"SetIdentityDkimEnabled"}, "Identity": {"acme.example"}}, "ValidationError"},
		{url.Values{"Action": {"SetIdentityDkimEnabled"}, "Identity": {"acme.example"}, "DkimEnabled": {"yes"}}, "InvalidParameterValue"},
		{url.Values{"Action": {"ListIdentities"}, "MaxItems": {"ten"}}, "InvalidParameterValue"},
		{url.Values{"Action": {"GetIdentityVerificationAttributes"}, "Identities.member.x": {"acme.example"}}, "MalformedQueryString"},
	} {
		status, body := v1Post(t, srv, tenants["acme"], "ses", c.form)
		if e := parseV1Error(t, body); status != 400 || e.Error.Code != c.code {
			t.Errorf("%v: %d %+v, want %s", c.form, status, e, c.code)
		}
	}
}

// TestV1IdentityXML: the documents as SES writes them — a map as
// entry/key/value, an empty map as its bare element, no Result element
// for VerifyEmailAddress and DeleteVerifiedEmailAddress.
func TestV1IdentityXML(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	acme := tenants["acme"]
	for _, c := range []struct {
		form url.Values
		want []string
		not  string
	}{
		{url.Values{"Action": {"GetIdentityVerificationAttributes"}, "Identities.member.1": {"acme.example"}},
			[]string{"<GetIdentityVerificationAttributesResult><VerificationAttributes><entry><key>acme.example</key><value><VerificationStatus>Success</VerificationStatus><VerificationToken>"}, ""},
		{url.Values{"Action": {"GetIdentityMailFromDomainAttributes"}, "Identities.member.1": {"nobody.example"}},
			[]string{"<GetIdentityMailFromDomainAttributesResult><MailFromDomainAttributes></MailFromDomainAttributes></GetIdentityMailFromDomainAttributesResult>"}, ""},
		{url.Values{"Action": {"GetIdentityDkimAttributes"}, "Identities.member.1": {"acme.example"}},
			[]string{"<value><DkimEnabled>false</DkimEnabled><DkimVerificationStatus>NotStarted</DkimVerificationStatus></value>"}, "DkimTokens"},
		{url.Values{"Action": {"VerifyEmailAddress"}, "EmailAddress": {"a@acme.example"}}, []string{"<VerifyEmailAddressResponse"}, "VerifyEmailAddressResult"},
		{url.Values{"Action": {"VerifyEmailIdentity"}, "EmailAddress": {"a@acme.example"}}, []string{"<VerifyEmailIdentityResult></VerifyEmailIdentityResult>"}, ""},
		{url.Values{"Action": {"DeleteVerifiedEmailAddress"}, "EmailAddress": {"a@acme.example"}}, []string{"<DeleteVerifiedEmailAddressResponse"}, "DeleteVerifiedEmailAddressResult"},
		{url.Values{"Action": {"ListVerifiedEmailAddresses"}}, []string{"<ListVerifiedEmailAddressesResult><VerifiedEmailAddresses></VerifiedEmailAddresses></ListVerifiedEmailAddressesResult>"}, ""},
	} {
		c.form.Set("Version", V1Version)
		status, body := v1Post(t, srv, acme, "ses", c.form)
		for _, w := range c.want {
			if status != 200 || !strings.Contains(string(body), w) || c.not != "" && strings.Contains(string(body), c.not) {
				t.Errorf("%s: %d %s\nwant %s without %q", c.form.Get("Action"), status, body, w, c.not)
			}
		}
	}
}
