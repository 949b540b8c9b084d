package sending_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// delegation is an owner account with the domain owner.example, a delegate
// account, and a Sender in region.
type delegation struct {
	ctx    context.Context
	db     *store.DB
	ids    *identity.Service
	s      *sending.Sender
	owner  account.Account
	me     account.Account
	region string
}

func newDelegation(t *testing.T, backend, region string) *delegation {
	t.Helper()
	d := &delegation{ctx: context.Background(), db: store.OpenTest(t, backend), region: region}
	accts, err := account.New(d.db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	d.ids = identity.New(d.db, accts)
	if d.owner, err = accts.CreateWith(d.ctx, "owner", account.CreateOptions{Unlimited: true}); err != nil {
		t.Fatal(err)
	}
	if d.me, err = accts.CreateWith(d.ctx, "delegate", account.CreateOptions{Unlimited: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ids.Create(d.ctx, "owner", "owner.example", true); err != nil {
		t.Fatal(err)
	}
	batch := store.RunTestBatcher(t, store.NewBatcher(d.db, 0, 0))
	d.s = sending.New(sending.Config{MessageIDDomain: "petrel.example", Region: region, NodeID: "test",
		MaxDelivery: time.Hour, MaxRecipients: 50, MaxSize: 40 << 20, LeaseFor: time.Minute},
		accts, d.ids, configset.New(d.db), queue.New(d.db), spool.New(d.db), event.NewLog(d.db), batch)
	d.s.Quota = quota.New(d.db, quota.Config{Node: "test"})
	return d
}

func (d *delegation) arn(name string) string {
	return "arn:aws:ses:us-east-1:" + d.owner.SendingAccountID + ":identity/" + name
}

// policy attaches to the owner's identity name a policy of one statement
// with effect for principal.
func (d *delegation) policy(t *testing.T, name, effect, principal string) {
	t.Helper()
	p, err := identity.ParsePolicy(`{"Statement":{"Effect":"`+effect+`","Principal":{"AWS":"`+principal+
		`"},"Action":"ses:*","Resource":"`+d.arn(name)+`"}}`, d.arn(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ids.CreatePolicy(d.ctx, "owner", name, effect+principal, p); err != nil {
		t.Fatal(err)
	}
}

// send sends as from, by the delegate, under the ARN of the owner's
// identity named.
func (d *delegation) send(from, named string) (string, error) {
	rcpt, _ := address.Parse("rcpt@example.net")
	return d.s.Send(d.ctx, sending.Request{Account: "delegate", Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
		Raw: []byte("From: " + from + "\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n"), FromArn: d.arn(named)})
}

// TestAddressPolicyPrecedence: the policies of an address identity take
// precedence over those of its domain (SES developer guide, "Creating a
// sending authorization policy"): a domain that allows the delegate and an
// address that denies it let the delegate send from every address of the
// domain but that one, and a domain that denies with an address that
// allows let it send from that address only; an address identity without
// policies, or whose policies do not speak of this delegate, leaves the
// decision to the domain's.
func TestAddressPolicyPrecedence(t *testing.T) {
	const other = "999999999999"
	cases := []struct {
		name         string
		domain       string // the domain's policy for the delegate: Allow, Deny or ""
		address      string // the address identity's: Allow, Deny, "" (none), "none" (no identity), "other" (Allow for another)
		ceo, news    bool   // may send from ceo@ (the address), news@ (another of the domain)
		namedAddress bool   // the delegate names the address's ARN rather than the domain's
	}{
		{name: "domain allows, address denies", domain: "Allow", address: "Deny", ceo: false, news: true},
		{name: "domain denies, address allows", domain: "Deny", address: "Allow", ceo: true, news: false},
		{name: "domain allows, address has no policy", domain: "Allow", address: "", ceo: true, news: true},
		{name: "domain allows, no address identity", domain: "Allow", address: "none", ceo: true, news: true},
		{name: "domain allows, address's policy for another delegate", domain: "Allow", address: "other", ceo: true, news: true},
		{name: "domain silent, address allows", domain: "", address: "Allow", ceo: true, news: false},
		{name: "domain allows, address denies, named by the address ARN", domain: "Allow", address: "Deny", ceo: false, namedAddress: true},
		{name: "domain denies, address allows, named by the address ARN", domain: "Deny", address: "Allow", ceo: true, namedAddress: true},
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					d := newDelegation(t, backend, "us-east-1")
					if c.domain != "" {
						d.policy(t, "owner.example", c.domain, d.me.SendingAccountID)
					}
					if c.address != "none" {
						if _, err := d.ids.Create(d.ctx, "owner", "ceo@owner.example", true); err != nil {
							t.Fatal(err)
						}
					}
					switch c.address {
					case "Allow", "Deny":
						d.policy(t, "ceo@owner.example", c.address, d.me.SendingAccountID)
					case "other":
						d.policy(t, "ceo@owner.example", "Allow", other)
					}
					check := func(from, named string, want bool) {
						t.Helper()
						_, err := d.send(from, named)
						var na *sending.NotAuthorizedError
						switch {
						case want && err != nil:
							t.Errorf("%s under %s: %v, want accepted", from, named, err)
						case !want && !errors.As(err, &na):
							t.Errorf("%s under %s: %v, want NotAuthorizedError", from, named, err)
						}
					}
					if c.namedAddress {
						check("ceo@owner.example", "ceo@owner.example", c.ceo)
						return
					}
					check("ceo@owner.example", "owner.example", c.ceo)
					check("news@owner.example", "owner.example", c.news)
				})
			}
		})
	}
}

// TestDelegatedMailFrom: a delegated message's return path follows the
// custom MAIL FROM of the owner's identity, not the delegate's settings:
// REJECT_MESSAGE while it is not verified refuses the delegated send, and
// once verified its queue entries carry the owner's MAIL FROM domain.
func TestDelegatedMailFrom(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			d := newDelegation(t, backend, "us-east-1")
			d.policy(t, "owner.example", "Allow", d.me.SendingAccountID)
			if err := d.ids.PutMailFrom(d.ctx, "owner", "owner.example", "bounce.owner.example", identity.RejectMessage); err != nil {
				t.Fatal(err)
			}
			_, err := d.send("news@owner.example", "owner.example")
			var nv *sending.MailFromNotVerifiedError
			if !errors.As(err, &nv) || nv.Domain != "bounce.owner.example" || nv.Identity != "owner.example" {
				t.Fatalf("delegated send under the owner's unverified REJECT_MESSAGE MAIL FROM: %v", err)
			}
			// The verification engine finds the owner's MAIL FROM records.
			dns := dnstest.New(t)
			dns.MX("bounce.owner.example", 10, "feedback.petrel.test")
			dns.TXT("bounce.owner.example", "v=spf1 include:petrel.test ~all")
			checker := &identity.Checker{S: d.ids, DNS: &resolver.Resolver{Server: dns.Addr, Timeout: 200 * time.Millisecond},
				MailFrom: identity.MailFromExpect{MXHost: "feedback.petrel.test", SPFInclude: "petrel.test"}}
			if _, err := checker.Check(d.ctx, "owner", "owner.example"); err != nil {
				t.Fatal(err)
			}
			if m, err := d.ids.GetMailFrom(d.ctx, "owner", "owner.example"); err != nil || m.Status != identity.StatusSuccess {
				t.Fatalf("owner's MAIL FROM %+v, %v", m, err)
			}
			id, err := d.send("news@owner.example", "owner.example")
			if err != nil {
				t.Fatal(err)
			}
			es, err := queue.New(d.db).Lease(d.ctx, "t", time.Now().Add(time.Minute), 100, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].MessageID != id || es[0].ReturnPathDomain != "bounce.owner.example" {
				t.Fatalf("queue entries %+v, want one of %s with return-path domain bounce.owner.example", es, id)
			}
		})
	}
}

// TestBrokenStoredPolicy: a stored policy that no longer parses against its
// identity's ARN (here: the deployment's region changed since it was
// stored, so its Resource names another region) refuses every delegated
// send under the identity, even with a valid Allow beside it (fail
// closed), with the *identity.BrokenPolicyError as the refusal's cause;
// the owner's own sends are unaffected; on the address identity it refuses
// sends from that address under the domain's ARN.
func TestBrokenStoredPolicy(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, on := range []string{"owner.example", "ceo@owner.example"} {
				t.Run(on, func(t *testing.T) {
					d := newDelegation(t, backend, "us-west-2")
					if _, err := d.ids.Create(d.ctx, "owner", "ceo@owner.example", true); err != nil {
						t.Fatal(err)
					}
					// Stored under us-east-1: no longer parses against
					// the us-west-2 ARN the Sender checks.
					d.policy(t, on, "Allow", d.me.SendingAccountID)
					wildcard := "arn:aws:ses:*:" + d.owner.SendingAccountID + ":identity/"
					ok, err := identity.ParsePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":"`+d.me.SendingAccountID+
						`"},"Action":"ses:*","Resource":"arn:aws:ses:us-west-2:`+d.owner.SendingAccountID+`:identity/owner.example"}}`,
						"arn:aws:ses:us-west-2:"+d.owner.SendingAccountID+":identity/owner.example")
					if err != nil {
						t.Fatal(err)
					}
					if err := d.ids.CreatePolicy(d.ctx, "owner", "owner.example", "valid", ok); err != nil {
						t.Fatal(err)
					}
					rcpt, _ := address.Parse("rcpt@example.net")
					_, err = d.s.Send(d.ctx, sending.Request{Account: "delegate", Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
						Raw: []byte("From: ceo@owner.example\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n"), FromArn: wildcard + "owner.example"})
					var na *sending.NotAuthorizedError
					var broken *identity.BrokenPolicyError
					if !errors.As(err, &na) || !errors.As(err, &broken) || broken.Identity != on || broken.Policy != "Allow"+d.me.SendingAccountID {
						t.Errorf("delegated send with a broken policy on %s: %v", on, err)
					}
					if _, err := d.s.Send(d.ctx, sending.Request{Account: "owner", Operation: "SendRawEmail", Recipients: []address.Address{rcpt},
						Raw: []byte("From: ceo@owner.example\r\nTo: rcpt@example.net\r\nSubject: s\r\n\r\nbody\r\n")}); err != nil {
						t.Errorf("owner's own send: %v", err)
					}
				})
			}
		})
	}
}
