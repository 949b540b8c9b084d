package identity

import (
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCheckerResolverOutage: the records stay published, only the DNS
// server Petrel asks fails — SERVFAIL, then no answer at all — for 100
// hours, longer than the grace. The domain stays verified throughout (a
// failed lookup says nothing about the record), the records stay SUCCESS
// with the error shown, and once DNS answers again the errors clear.
func TestCheckerResolverOutage(t *testing.T) {
	for _, backend := range store.Backends() {
		for _, failure := range []dnstest.Failure{dnstest.ServFail, dnstest.Silent} {
			t.Run(backend+"/"+failureName(failure), func(t *testing.T) {
				e := newCheckerEnv(t, backend, "")
				e.c.PendingSlow = 10 * time.Hour // few retries: a silent server costs a timeout each
				d := e.domain("example.com")
				name := DKIMRecordName(d.Selector, "example.com")
				e.dns.TXT(name, d.Record)
				e.checkDue()
				from := address.Address{Local: "x", Domain: "example.com"}
				if id, _ := e.s.Authorizing(e.ctx, "a", from); id == "" {
					t.Fatal("not verified after the record was found")
				}
				start := e.now
				e.dns.Fail(name, failure)
				e.dns.Fail(TokenRecordName("example.com"), failure)
				for range 10 {
					e.advance(10 * time.Hour)
					e.s.forget("a")
					if id, _ := e.s.Authorizing(e.ctx, "a", from); id == "" {
						t.Fatalf("unverified after %v of DNS failure although its record never changed", e.now.Sub(start))
					}
				}
				r := e.wantRecord("example.com", PurposeDKIM, name, StatusSuccess, ErrorDNSServer)
				if !r.MissingSince.IsZero() || r.NextCheck.IsZero() {
					t.Fatalf("record after the outage: %+v", r)
				}
				v, err := e.s.Verifications(e.ctx, "a", []Identity{{Name: "example.com", Kind: Domain}})
				if err != nil || v["example.com"].Status != StatusSuccess || v["example.com"].ErrorType != ErrorDNSServer {
					t.Fatalf("verification during the outage: %+v, %v", v, err)
				}
				e.dns.Fail(name, dnstest.Healthy)
				e.advance(10 * time.Hour)
				e.wantRecord("example.com", PurposeDKIM, name, StatusSuccess, "")
			})
		}
	}
}

func failureName(f dnstest.Failure) string {
	if f == dnstest.Silent {
		return "silent"
	}
	return "servfail"
}

// TestCheckerFailedRecovers: a FAILED record is looked up again every day
// and recovers by itself — one never published in its window and
// published later, and one lost after a success (removed for longer than
// the grace) and published again.
func TestCheckerFailedRecovers(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			d := e.domain("late.example")
			name := DKIMRecordName(d.Selector, "late.example")
			e.checkDue()
			e.advance(73 * time.Hour)
			e.wantRecord("late.example", PurposeDKIM, name, StatusFailed, ErrorHostMissing)
			e.dns.TXT(name, d.Record)
			e.advance(24 * time.Hour)
			e.wantRecord("late.example", PurposeDKIM, name, StatusSuccess, "")
			e.wantVerified("late.example", true)

			e.dns.Remove(name)
			e.advance(24 * time.Hour)
			e.advance(73 * time.Hour)
			e.wantRecord("late.example", PurposeDKIM, name, StatusFailed, ErrorHostMissing)
			e.wantVerified("late.example", false)
			e.dns.TXT(name, d.Record)
			e.advance(24 * time.Hour)
			e.wantRecord("late.example", PurposeDKIM, name, StatusSuccess, "")
			e.wantVerified("late.example", true)
		})
	}
}

// TestCheckerLeaseCoversBatch: a claim's lease outlasts the worst case of
// its batch, so no other node takes a record while it is being checked.
// The arithmetic: a record's lookups — a CNAME, a TXT and the SOA, each up
// to two exchanges (UDP then TCP) of the resolver's timeout — fit in the
// record budget, and the lease covers a whole batch of budgets. The rule:
// the budget bounds the lookups whatever the resolver's own timeout (here
// an hour, against a server that never answers).
func TestCheckerLeaseCoversBatch(t *testing.T) {
	c := &Checker{}
	if worst := 3 * 2 * resolver.DefaultTimeout; c.recordBudget() < worst {
		t.Fatalf("record budget %v < a record's worst case %v", c.recordBudget(), worst)
	}
	if c.lease() < dueBatch*c.recordBudget()+leaseMargin {
		t.Fatalf("lease %v does not cover a batch of %d records of %v", c.lease(), dueBatch, c.recordBudget())
	}

	e := newCheckerEnv(t, "sqlite", "")
	e.c.DNS.Timeout = time.Hour
	e.c.RecordBudget = 200 * time.Millisecond
	d := e.domain("silent.example")
	name := DKIMRecordName(d.Selector, "silent.example")
	e.dns.Fail(name, dnstest.Silent)
	e.dns.Fail(TokenRecordName("silent.example"), dnstest.Silent)
	e.checkDue()
	e.wantRecord("silent.example", PurposeDKIM, name, StatusTemporaryFailure, ErrorDNSServer)
}
