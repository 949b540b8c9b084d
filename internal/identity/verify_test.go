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
			if !r.NextCheck.Equal(e.now.Add(24 * time.Hour)) {
				t.Fatalf("FAILED is scheduled at %v, want a day later", r.NextCheck)
			}
			e.wantVerified("example.com", false)
			e.advance(23 * time.Hour)
			if got := e.record("example.com", PurposeDKIM, name); !got.LastChecked.Equal(r.LastChecked) {
				t.Fatalf("FAILED record checked again at %v, before its day", got.LastChecked)
			}
			e.advance(time.Hour)
			if got := e.record("example.com", PurposeDKIM, name); got.Status != StatusFailed || !got.LastChecked.Equal(e.now) {
				t.Fatalf("FAILED record after a day: %+v", got)
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

// TestCheckerToken: the `_amazonses` token through SERVFAIL and no answer
// (TEMPORARY_FAILURE, the window running on), found (SUCCESS: verified
// without DKIM), and a domain whose records never appear (FAILED after
// the 72 h window, checking stopped, not verified).
func TestCheckerToken(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			if _, err := e.s.Create(e.ctx, "a", "token.example", false); err != nil {
				t.Fatal(err)
			}
			tok, err := e.s.VerificationToken(e.ctx, "a", "token.example")
			if err != nil || len(tok) != 44 {
				t.Fatalf("token %q, %v", tok, err)
			}
			name := TokenRecordName("token.example")
			e.dns.Fail(name, dnstest.ServFail)
			e.checkDue()
			r := e.wantRecord("token.example", PurposeDomainToken, name, StatusTemporaryFailure, ErrorDNSServer)
			if !r.MissingSince.IsZero() || !r.NextCheck.Equal(e.now.Add(5*time.Minute)) {
				t.Fatalf("SERVFAIL before any success: %+v", r)
			}
			e.dns.Fail(name, dnstest.Silent)
			e.advance(5 * time.Minute)
			r = e.wantRecord("token.example", PurposeDomainToken, name, StatusTemporaryFailure, ErrorDNSServer)
			if r.Found != "no answer" {
				t.Fatalf("timeout: found %q", r.Found)
			}
			e.wantVerified("token.example", false)

			e.dns.Fail(name, dnstest.Healthy)
			e.dns.TXT(name, "unrelated", " "+tok+" ")
			e.advance(5 * time.Minute)
			e.wantRecord("token.example", PurposeDomainToken, name, StatusSuccess, "")
			e.wantVerified("token.example", true)

			// SERVFAIL after a success says nothing about the record: it
			// stays SUCCESS, the error shown, and verified.
			e.dns.Fail(name, dnstest.ServFail)
			e.advance(24 * time.Hour)
			r = e.wantRecord("token.example", PurposeDomainToken, name, StatusSuccess, ErrorDNSServer)
			if !r.MissingSince.IsZero() {
				t.Fatalf("SERVFAIL after a success started MissingSince: %+v", r)
			}
			e.wantVerified("token.example", true)
			e.dns.Fail(name, dnstest.Healthy)
			e.advance(30 * time.Minute)
			e.wantRecord("token.example", PurposeDomainToken, name, StatusSuccess, "")

			// Never published: PENDING for 72 h, then FAILED.
			if _, err := e.s.Create(e.ctx, "a", "never.example", false); err != nil {
				t.Fatal(err)
			}
			never := TokenRecordName("never.example")
			start := e.now
			e.checkDue()
			e.advance(72*time.Hour - time.Minute)
			e.wantRecord("never.example", PurposeDomainToken, never, StatusPending, ErrorHostMissing)
			e.advance(time.Minute)
			r = e.wantRecord("never.example", PurposeDomainToken, never, StatusFailed, ErrorHostMissing)
			if !r.Started.Equal(start) || !r.LastChecked.Equal(start.Add(72*time.Hour)) {
				t.Fatalf("FAILED %+v", r)
			}
			e.wantVerified("never.example", false)
		})
	}
}

// TestCheckerCNAMEStyle: with a CNAME zone, an Easy DKIM record is
// SUCCESS only as a CNAME to <selector>.<zone> whose TXT holds the key; a
// CNAME elsewhere is INVALID_VALUE naming its target; a BYODKIM key is
// still a TXT record.
func TestCheckerCNAMEStyle(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "dkim.petrel.test")
			d := e.domain("cname.example")
			name := DKIMRecordName(d.Selector, "cname.example")
			target := d.Selector + ".dkim.petrel.test"

			e.dns.CNAME(name, "elsewhere.test")
			e.dns.TXT("elsewhere.test", d.Record)
			e.checkDue()
			r := e.wantRecord("cname.example", PurposeDKIM, name, StatusPending, ErrorBadValue)
			if r.Type != "CNAME" || r.Expected != target || r.Found != "elsewhere.test" || !strings.Contains(r.Detail, "CNAME to elsewhere.test") {
				t.Fatalf("CNAME elsewhere: %+v", r)
			}

			// Right CNAME, nothing at the target yet.
			e.dns.Remove(name)
			e.dns.CNAME(name, target)
			e.advance(5 * time.Minute)
			r = e.wantRecord("cname.example", PurposeDKIM, name, StatusPending, ErrorHostMissing)
			if !strings.Contains(r.Detail, "CNAME target "+target) {
				t.Fatalf("target missing: %+v", r)
			}

			e.dns.TXT(target, d.Record)
			e.advance(5 * time.Minute)
			e.wantRecord("cname.example", PurposeDKIM, name, StatusSuccess, "")
			e.wantVerified("cname.example", true)

			// A TXT record in place of the CNAME does not do.
			e.dns.Remove(name)
			e.dns.TXT(name, d.Record)
			e.advance(24 * time.Hour)
			e.wantRecord("cname.example", PurposeDKIM, name, StatusTemporaryFailure, ErrorTypeMissing)

			// BYODKIM: the operator's TXT record, whatever the zone.
			if _, err := e.s.Create(e.ctx, "a", "byo.example", false); err != nil {
				t.Fatal(err)
			}
			key, _ := dkim.Generate(dkim.Ed25519)
			der, _ := dkim.MarshalPrivateKey(key)
			byo, err := e.s.PutDKIMKey(e.ctx, "a", "byo.example", "byo1", der)
			if err != nil {
				t.Fatal(err)
			}
			byoName := DKIMRecordName("byo1", "byo.example")
			e.dns.TXT(byoName, byo.Record)
			e.checkDue()
			r = e.wantRecord("byo.example", PurposeDKIM, byoName, StatusSuccess, "")
			if r.Type != "TXT" || r.Expected != byo.Record {
				t.Fatalf("BYODKIM %+v", r)
			}
			e.wantVerified("byo.example", true)
		})
	}
}

// TestCheckerVouchAndKeys: the operator's vouch keeps a domain verified
// whatever its records; withdrawn, the records decide. A replaced key's
// record goes (and with it the verification it gave); an address's flag
// is never the checker's.
func TestCheckerVouchAndKeys(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			if _, err := e.s.Create(e.ctx, "a", "vouched.example", true); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Create(e.ctx, "a", "someone@vouched.example", false); err != nil {
				t.Fatal(err)
			}
			e.checkDue()
			e.advance(73 * time.Hour)
			e.wantRecord("vouched.example", PurposeDomainToken, TokenRecordName("vouched.example"), StatusFailed, ErrorHostMissing)
			e.wantVerified("vouched.example", true)
			if id, _ := e.s.Get(e.ctx, "a", "someone@vouched.example"); id.Verified {
				t.Fatal("the checker verified an address")
			}
			if err := e.s.SetVerified(e.ctx, "a", "vouched.example", false); err != nil {
				t.Fatal(err)
			}
			e.wantVerified("vouched.example", false)

			d := e.domain("keys.example")
			e.dns.TXT(DKIMRecordName(d.Selector, "keys.example"), d.Record)
			e.checkDue()
			e.wantVerified("keys.example", true)
			d2, err := e.s.GenerateDKIM(e.ctx, "a", "keys.example", dkim.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			// A second key is NEXT (rotation.go): the signing key's record
			// stays checked and keeps the domain verified meanwhile.
			e.checkDue()
			e.wantRecord("keys.example", PurposeDKIM, DKIMRecordName(d.Selector, "keys.example"), StatusSuccess, "")
			e.wantRecord("keys.example", PurposeDKIM, DKIMRecordName(d2.Selector, "keys.example"), StatusPending, ErrorHostMissing)
			e.wantVerified("keys.example", true)

			if err := e.s.Delete(e.ctx, "a", "keys.example"); err != nil {
				t.Fatal(err)
			}
			if recs, err := e.s.Records(e.ctx, "a", "vouched.example"); err != nil || len(recs) != 1 {
				t.Fatalf("records of another identity after a delete: %v, %v", recs, err)
			}
			var n int
			e.s.db.QueryRow(e.s.db.Rebind("SELECT COUNT(*) FROM identity_records WHERE identity = ?"), "keys.example").Scan(&n)
			if n != 0 {
				t.Fatalf("%d records of a deleted identity", n)
			}
		})
	}
}

// TestCheckerClaims: two daemons on one database: records one has claimed
// are not offered to the other until the lease runs out.
func TestCheckerClaims(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			e.domain("claims.example")
			if err := e.c.sync(e.ctx, "", ""); err != nil {
				t.Fatal(err)
			}
			other := *e.c
			keys, err := e.c.claim(e.ctx)
			if err != nil || len(keys) != 2 {
				t.Fatalf("first claim: %v, %v", keys, err)
			}
			if keys, err := other.claim(e.ctx); err != nil || len(keys) != 0 {
				t.Fatalf("second claim: %v, %v", keys, err)
			}
			e.now = e.now.Add(e.c.lease())
			if keys, err := other.claim(e.ctx); err != nil || len(keys) != 2 {
				t.Fatalf("claim after the lease: %v, %v", keys, err)
			}
		})
	}
}

// TestCheckerSchedule: the state machine's transitions and next checks.
func TestCheckerSchedule(t *testing.T) {
	c := &Checker{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	missing := verdict{errType: ErrorHostMissing}
	servfail := verdict{errType: ErrorDNSServer, temporary: true, found: "server failure"}
	timeout := verdict{errType: ErrorDNSServer, temporary: true, found: "no answer"}
	ownFailure := verdict{errType: ErrorService, temporary: true}
	found := verdict{ok: true}
	for _, tc := range []struct {
		name               string
		r                  Record
		v                  verdict
		at                 time.Duration // after t0
		status             string
		next, missingSince time.Duration // after t0; -1: zero
	}{
		{"pending, first hour", Record{Status: StatusPending, Started: t0}, missing, 10 * time.Minute, StatusPending, 15 * time.Minute, -1},
		{"pending, later", Record{Status: StatusPending, Started: t0}, missing, 2 * time.Hour, StatusPending, 150 * time.Minute, -1},
		{"pending, last check before the end", Record{Status: StatusPending, Started: t0}, missing, 71*time.Hour + 50*time.Minute, StatusPending, 72 * time.Hour, -1},
		{"pending, window over", Record{Status: StatusPending, Started: t0}, missing, 72 * time.Hour, StatusFailed, 96 * time.Hour, -1},
		{"servfail while pending", Record{Status: StatusPending, Started: t0}, servfail, time.Minute, StatusTemporaryFailure, 6 * time.Minute, -1},
		{"servfail, window over", Record{Status: StatusTemporaryFailure, Started: t0}, servfail, 72 * time.Hour, StatusFailed, 96 * time.Hour, -1},
		{"own failure, window over", Record{Status: StatusTemporaryFailure, Started: t0}, ownFailure, 72 * time.Hour, StatusTemporaryFailure, 72*time.Hour + 30*time.Minute, -1},
		{"own failure while pending", Record{Status: StatusPending, Started: t0}, ownFailure, time.Minute, StatusTemporaryFailure, 31 * time.Minute, -1},
		{"found", Record{Status: StatusPending, Started: t0}, found, time.Hour, StatusSuccess, 25 * time.Hour, -1},
		{"success re-checked", Record{Status: StatusSuccess, Started: t0}, found, 100 * time.Hour, StatusSuccess, 124 * time.Hour, -1},
		{"missing after success", Record{Status: StatusSuccess, Started: t0}, missing, 100 * time.Hour, StatusTemporaryFailure, 100*time.Hour + 5*time.Minute, 100 * time.Hour},
		{"servfail after success", Record{Status: StatusSuccess, Started: t0}, servfail, 100 * time.Hour, StatusSuccess, 100*time.Hour + 30*time.Minute, -1},
		{"timeout after success", Record{Status: StatusSuccess, Started: t0}, timeout, 100 * time.Hour, StatusSuccess, 100*time.Hour + 30*time.Minute, -1},
		{"own failure after success", Record{Status: StatusSuccess, Started: t0}, ownFailure, 100 * time.Hour, StatusSuccess, 100*time.Hour + 30*time.Minute, -1},
		{"servfail while missing", Record{Status: StatusTemporaryFailure, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, servfail, 200 * time.Hour, StatusTemporaryFailure, 200*time.Hour + 30*time.Minute, 100 * time.Hour},
		{"still missing", Record{Status: StatusTemporaryFailure, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, missing, 110 * time.Hour, StatusTemporaryFailure, 110*time.Hour + 30*time.Minute, 100 * time.Hour},
		{"grace over", Record{Status: StatusTemporaryFailure, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, missing, 172 * time.Hour, StatusFailed, 196 * time.Hour, 100 * time.Hour},
		{"failed, still missing", Record{Status: StatusFailed, Started: t0}, missing, 200 * time.Hour, StatusFailed, 224 * time.Hour, -1},
		{"failed, servfail", Record{Status: StatusFailed, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, servfail, 200 * time.Hour, StatusFailed, 224 * time.Hour, 100 * time.Hour},
		{"failed, found again", Record{Status: StatusFailed, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, found, 200 * time.Hour, StatusSuccess, 224 * time.Hour, -1},
		{"restored", Record{Status: StatusTemporaryFailure, Started: t0, MissingSince: t0.Add(100 * time.Hour)}, found, 110 * time.Hour, StatusSuccess, 134 * time.Hour, -1},
	} {
		at := func(d time.Duration) time.Time {
			if d < 0 {
				return time.Time{}
			}
			return t0.Add(d)
		}
		got := c.advance(tc.r, tc.v, t0.Add(tc.at))
		if got.Status != tc.status || !got.NextCheck.Equal(at(tc.next)) || !got.MissingSince.Equal(at(tc.missingSince)) {
			t.Errorf("%s: %s next %v missing since %v; want %s next %v missing since %v", tc.name,
				got.Status, got.NextCheck, got.MissingSince, tc.status, at(tc.next), at(tc.missingSince))
		}
	}
}

// TestCheckerOldDomain: a domain stored before migration 021 (no token)
// gets one when first checked, and the record expects it.
func TestCheckerOldDomain(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			// As the code before migration 021 inserted identities.
			if _, err := e.s.db.ExecContext(e.ctx, e.s.db.Rebind("INSERT INTO identities (account, name, kind, verified, created_ms) VALUES (?, ?, ?, 0, ?)"),
				"a", "old.example", string(Domain), e.now.UnixMilli()); err != nil {
				t.Fatal(err)
			}
			e.checkDue()
			r := e.wantRecord("old.example", PurposeDomainToken, TokenRecordName("old.example"), StatusPending, ErrorHostMissing)
			tok, err := e.s.VerificationToken(e.ctx, "a", "old.example")
			if err != nil || len(tok) != 44 || r.Expected != tok {
				t.Fatalf("token %q (%v), record expects %q", tok, err, r.Expected)
			}
			e.dns.TXT(TokenRecordName("old.example"), tok)
			e.advance(5 * time.Minute)
			e.wantVerified("old.example", true)
		})
	}
}

// TestCheckerStyleChange: setting --dkim-cname-zone on a running install
// keeps a DKIM record's state (the domain stays verified through the
// grace) and checks it in its new style at once.
func TestCheckerStyleChange(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			d := e.domain("style.example")
			name := DKIMRecordName(d.Selector, "style.example")
			e.dns.TXT(name, d.Record)
			e.checkDue()
			e.wantRecord("style.example", PurposeDKIM, name, StatusSuccess, "")
			e.s.DKIMCNAMEZone = "dkim.petrel.test"
			e.now = e.now.Add(time.Minute)
			e.checkDue()
			r := e.wantRecord("style.example", PurposeDKIM, name, StatusTemporaryFailure, ErrorTypeMissing)
			if r.Type != "CNAME" || !r.MissingSince.Equal(e.now) {
				t.Fatalf("after the style change: %+v", r)
			}
			e.wantVerified("style.example", true)
		})
	}
}
