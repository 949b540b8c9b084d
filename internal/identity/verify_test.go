package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/dnstest"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// checkerEnv is a Service and its Checker on a test database, a test DNS
// server and a clock the test moves.
type checkerEnv struct {
	t   *testing.T
	ctx context.Context
	s   *Service
	c   *Checker
	dns *dnstest.Server
	now time.Time
}

func newCheckerEnv(t *testing.T, backend, zone string) *checkerEnv {
	db := store.OpenTest(t, backend)
	ctx := t.Context()
	accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
	for _, a := range []string{"a", "b"} {
		if _, err := accts.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	e := &checkerEnv{t: t, ctx: ctx, s: New(db, accts), dns: dnstest.New(t), now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	e.s.DKIMCNAMEZone = zone
	e.c = &Checker{S: e.s, DNS: &resolver.Resolver{Server: e.dns.Addr, Timeout: 200 * time.Millisecond}, Now: func() time.Time { return e.now }}
	return e
}

// domain creates an unvouched domain identity of account a with an Easy
// DKIM key (Ed25519: quick to make) and returns the key.
func (e *checkerEnv) domain(name string) DKIM {
	e.t.Helper()
	if _, err := e.s.Create(e.ctx, "a", name, false); err != nil {
		e.t.Fatal(err)
	}
	d, err := e.s.GenerateDKIM(e.ctx, "a", name, dkim.Ed25519)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *checkerEnv) checkDue() {
	e.t.Helper()
	if _, err := e.c.CheckDue(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// advance moves the clock by d, running every check that falls due on the
// way at its time, as the daemon's loop would.
func (e *checkerEnv) advance(d time.Duration) {
	e.t.Helper()
	end := e.now.Add(d)
	for {
		next := end
		rows, err := e.s.db.QueryContext(e.ctx, "SELECT MIN(next_check_ms) FROM identity_records WHERE next_check_ms > 0")
		if err != nil {
			e.t.Fatal(err)
		}
		var ms *int64
		for rows.Next() {
			rows.Scan(&ms)
		}
		rows.Close()
		if ms != nil && time.UnixMilli(*ms).Before(end) {
			next = time.UnixMilli(*ms)
		}
		if next.After(e.now) {
			e.now = next
		}
		e.checkDue()
		if !e.now.Before(end) {
			return
		}
	}
}

func (e *checkerEnv) record(identity, purpose, name string) Record {
	e.t.Helper()
	r, err := e.s.RecordStatus(e.ctx, "a", identity, purpose, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *checkerEnv) wantRecord(identity, purpose, name, status, errType string) Record {
	e.t.Helper()
	r := e.record(identity, purpose, name)
	if r.Status != status || r.ErrorType != errType {
		e.t.Fatalf("%s %s at %s: %s/%q (found %q, %s); want %s/%q", identity, purpose, e.now, r.Status, r.ErrorType, r.Found, r.Detail, status, errType)
	}
	return r
}

func (e *checkerEnv) wantVerified(name string, want bool) {
	e.t.Helper()
	id, err := e.s.Get(e.ctx, "a", name)
	if err != nil {
		e.t.Fatal(err)
	}
	got, err := e.s.Authorizing(e.ctx, "a", address.Address{Local: "x", Domain: name})
	if err != nil {
		e.t.Fatal(err)
	}
	if id.Verified != want || (got == name) != want {
		e.t.Fatalf("%s at %s: verified %v, Authorizing %q; want verified %v", name, e.now, id.Verified, got, want)
	}
}

// TestCheckerDKIMLifecycle: a TXT-style Easy DKIM record absent, wrong,
// present, removed (grace, then FAILED and the domain unverified),
// restored within the grace, and restarted by Check after FAILED.
func TestCheckerDKIMLifecycle(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			d := e.domain("example.com")
			name := DKIMRecordName(d.Selector, "example.com")
			e.dns.SOA("example.com", "ns1.example.com", "hostmaster.example.com", 2026110101)

			e.checkDue()
			r := e.wantRecord("example.com", PurposeDKIM, name, StatusPending, ErrorHostMissing)
			if r.Expected != d.Record || r.Type != "TXT" || r.SOA == nil || r.SOA.PrimaryNameServer != "ns1.example.com" || r.SOA.SerialNumber != 2026110101 {
				t.Fatalf("record %+v", r)
			}
			e.wantVerified("example.com", false)

			other, _ := dkim.Generate(dkim.Ed25519)
			wrong, _ := dkim.Record(other)
			e.dns.TXT(name, wrong)
			e.advance(5 * time.Minute)
			r = e.wantRecord("example.com", PurposeDKIM, name, StatusPending, ErrorBadValue)
			if r.Found != wrong || !strings.Contains(r.Detail, "p=") {
				t.Fatalf("wrong key: found %q, detail %q", r.Found, r.Detail)
			}

			e.dns.Remove(name)
			e.dns.TXT(name, d.Record)
			e.advance(5 * time.Minute)
			r = e.wantRecord("example.com", PurposeDKIM, name, StatusSuccess, "")
			if !r.LastSuccess.Equal(e.now) || !r.NextCheck.Equal(e.now.Add(24*time.Hour)) {
				t.Fatalf("success %+v", r)
			}
			e.wantVerified("example.com", true)

			// Removed: flagged at the next re-check, verified through the grace.
			e.dns.Remove(name)
			e.advance(24 * time.Hour)
			r = e.wantRecord("example.com", PurposeDKIM, name, StatusTemporaryFailure, ErrorHostMissing)
			if !r.MissingSince.Equal(e.now) {
				t.Fatalf("missing since %v at %v", r.MissingSince, e.now)
			}
			e.wantVerified("example.com", true)
			// Restored within the grace: SUCCESS again.
			e.advance(71 * time.Hour)
			e.dns.TXT(name, d.Record)
			e.advance(30 * time.Minute)
			e.wantRecord("example.com", PurposeDKIM, name, StatusSuccess, "")
			e.wantVerified("example.com", true)

			// Removed for good: FAILED after the 72 h grace, and unverified.
			e.dns.Remove(name)
			e.advance(24 * time.Hour)
			e.wantRecord("example.com", PurposeDKIM, name, StatusTemporaryFailure, ErrorHostMissing)
			e.advance(72*time.Hour - time.Minute)
			e.wantVerified("example.com", true)
			e.advance(time.Minute)
			r = e.wantRecord("example.com", PurposeDKIM, name, StatusFailed, ErrorHostMissing)
			if !r.NextCheck.IsZero() {
				t.Fatalf("FAILED is still scheduled: %v", r.NextCheck)
			}
			e.wantVerified("example.com", false)
			e.advance(100 * time.Hour)
			if got := e.record("example.com", PurposeDKIM, name); !got.LastChecked.Equal(r.LastChecked) {
				t.Fatalf("FAILED record checked again at %v", got.LastChecked)
			}

			// Check restarts it: published again, SUCCESS at once.
			e.dns.TXT(name, d.Record)
			rep, err := e.c.Check(e.ctx, "a", "example.com")
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Verified || len(rep.Records) != 2 {
				t.Fatalf("report %+v", rep)
			}
			e.wantRecord("example.com", PurposeDKIM, name, StatusSuccess, "")
			e.wantVerified("example.com", true)
		})
	}
}
