package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/store"
)

// verifies checks signed with go-msgauth's verifier, looking keys up in
// the test DNS server as it is at the time (what a receiver sees then).
func verifies(ctx context.Context, signed []byte, dns *resolver.Resolver) error {
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: func(n string) ([]string, error) {
		return dns.TXT(ctx, n)
	}})
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("%d signatures", len(vs))
	}
	return vs[0].Err
}

// A rotation end to end at the sending level (the signer acceptance uses),
// with the DNS checker (Checker) against a test DNS server, a controllable
// clock, and receivers verifying against the DNS of each moment: the NEXT key is
// published but does not sign until its record verifies; the switch is
// atomic under continuous signing (no message unsigned, every one verifying
// against the records published); messages signed before, during and after
// the overlap verify; the old key is deleted after the overlap and only
// then may its record go. The automatic schedule starts a rotation after
// Interval.
func TestRotation(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newCheckerEnv(t, backend, "")
			ctx, s := e.ctx, e.s
			if _, err := s.Create(ctx, "a", "example.com", false); err != nil {
				t.Fatal(err)
			}
			old, err := s.GenerateDKIM(ctx, "a", "example.com", dkim.Ed25519)
			if err != nil || old.State != StateActive || old.Reason != ReasonCreate {
				t.Fatalf("first key = %+v, %v", old, err)
			}
			name := func(d DKIM) string { return d.Selector + "._domainkey.example.com" }
			e.dns.TXT(name(old), old.Record)
			e.checkDue()
			r := &Rotator{Identities: s, Now: func() time.Time { return e.now }, Interval: 30 * 24 * time.Hour}
			dns := e.c.DNS
			from := address.Address{Local: "x", Domain: "example.com"}
			send := func() ([]byte, string) {
				t.Helper()
				sg, err := s.Signer(ctx, "a", from)
				if err != nil || sg == nil {
					t.Fatalf("no signer: %v", err)
				}
				out, err := sg.Sign([]byte("From: x@example.com\r\nSubject: s\r\n\r\nbody\r\n"))
				if err != nil {
					t.Fatal(err)
				}
				return out, sg.Selector
			}
			before, _ := send()

			// Rotation: the NEXT key is not used until its record verifies.
			next, err := s.Rotate(ctx, "a", "example.com", "", e.now)
			if err != nil || next.State != StateNext || next.Algorithm != dkim.Ed25519 || next.Selector == old.Selector {
				t.Fatalf("Rotate = %+v, %v", next, err)
			}
			e.advance(time.Hour)
			if err := r.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if _, sel := send(); sel != old.Selector {
				t.Fatalf("signing moved to %s before its record was published", sel)
			}
			// Published, but not yet seen by the checker: still the old key.
			e.dns.TXT(name(next), next.Record)
			if err := r.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if _, sel := send(); sel != old.Selector {
				t.Fatalf("signing moved to %s before its record verified", sel)
			}
			e.advance(10 * time.Minute)
			if st, _ := s.DKIMStatus(ctx, "a", "example.com", next.Selector); st != StatusSuccess {
				t.Fatalf("the checker says %s of the published NEXT record", st)
			}

			// Send continuously while the rotator promotes: every message
			// is signed, by the old key or the new, and verifies.
			var wg sync.WaitGroup
			var stop atomic.Bool
			var signed [][]byte
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() || len(signed) < 50 {
					sg, err := s.Signer(ctx, "a", from)
					if err != nil || sg == nil {
						t.Errorf("no signer during the switch: %v", err)
						return
					}
					out, err := sg.Sign([]byte("From: x@example.com\r\nSubject: during\r\n\r\nbody\r\n"))
					if err != nil {
						t.Error(err)
						return
					}
					signed = append(signed, out)
				}
			}()
			if err := r.Step(ctx); err != nil {
				t.Fatal(err)
			}
			stop.Store(true)
			wg.Wait()
			for i, m := range signed {
				if err := verifies(ctx, m, dns); err != nil {
					t.Fatalf("message %d signed during the switch: %v", i, err)
				}
			}
			after, sel := send()
			if sel != next.Selector {
				t.Fatalf("after promotion signing with %s, want %s", sel, next.Selector)
			}
			keys, _ := s.DKIMKeys(ctx, "a", "example.com")
			if len(keys) != 2 || keys[0].Selector != next.Selector || keys[0].State != StateActive || keys[1].State != StateRetiring || !keys[1].StateSince.Equal(e.now) || !keys[1].RetireAt.Equal(e.now.Add(DefaultDKIMOverlap)) {
				t.Fatalf("keys after promotion: %+v", keys)
			}
			// Within the overlap both records stay; mail signed before the
			// switch still verifies.
			e.advance(DefaultDKIMOverlap - time.Second)
			if err := r.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := s.DKIMKeys(ctx, "a", "example.com"); len(keys) != 2 {
				t.Fatalf("old key deleted before the overlap ended: %+v", keys)
			}
			for _, m := range [][]byte{before, signed[0], after} {
				if err := verifies(ctx, m, dns); err != nil {
					t.Fatalf("during the overlap: %v", err)
				}
			}
			// After the overlap the old key goes; its record may be removed,
			// and mail signed since the switch verifies without it.
			e.advance(time.Second)
			if err := r.Step(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := s.DKIMKeys(ctx, "a", "example.com"); len(keys) != 1 || keys[0].Selector != next.Selector {
				t.Fatalf("after the overlap: %+v", keys)
			}
			e.dns.Remove(name(old))
			late, _ := send()
			for _, m := range [][]byte{after, late} {
				if err := verifies(ctx, m, dns); err != nil {
					t.Fatalf("after the overlap: %v", err)
				}
			}

			// The schedule: Interval after the promotion a NEXT key appears,
			// once.
			e.now = keys[0].StateSince.Add(30*24*time.Hour - time.Minute)
			r.Step(ctx)
			if keys, _ := s.DKIMKeys(ctx, "a", "example.com"); len(keys) != 1 {
				t.Fatalf("rotated before the interval: %+v", keys)
			}
			e.now = e.now.Add(time.Minute)
			r.Step(ctx)
			r.Step(ctx)
			keys, _ = s.DKIMKeys(ctx, "a", "example.com")
			if len(keys) != 2 || keys[1].State != StateNext || keys[1].Reason != ReasonRotate {
				t.Fatalf("scheduled rotation: %+v", keys)
			}
			// Reusing a published selector for a new key is refused.
			k, _ := dkim.Generate(dkim.RSA1024)
			der, _ := dkim.MarshalPrivateKey(k)
			if _, err := s.PutDKIMKey(ctx, "a", "example.com", next.Selector, der); !errors.Is(err, ErrSameSelector) {
				t.Fatalf("same selector: %v", err)
			}
		})
	}
}

// SetEasyDKIM's key length rule: a different length makes a NEXT key; the
// same length as the key that will sign next is refused; a second change
// within 24 hours is refused, one after is allowed. Easy DKIM from BYODKIM
// makes a NEXT Easy key; BYODKIM keys are not rotated by Rotate.
func TestKeyLengthRule(t *testing.T) {
	db := store.OpenTest(t, store.Backends()[0])
	ctx := t.Context()
	accts, _ := account.New(db, t.TempDir()+"/k", "us-east-1")
	accts.Create(ctx, "a")
	s := New(db, accts)
	s.Create(ctx, "a", "example.com", true)
	s.Create(ctx, "a", "byo.test", true)
	at := time.Now()
	if _, err := s.SetEasyDKIM(ctx, "a", "example.com", dkim.RSA1024, at); err != nil {
		t.Fatal(err) // no key yet: the first key, ACTIVE
	}
	if _, err := s.SetEasyDKIM(ctx, "a", "example.com", dkim.RSA1024, at); !errors.Is(err, ErrKeyLengthUnchanged) {
		t.Fatalf("same length: %v", err)
	}
	d, err := s.SetEasyDKIM(ctx, "a", "example.com", dkim.RSA2048, at)
	if err != nil || d.State != StateNext || d.Reason != ReasonKeyLength {
		t.Fatalf("length change = %+v, %v", d, err)
	}
	if _, err := s.SetEasyDKIM(ctx, "a", "example.com", dkim.RSA1024, at.Add(23*time.Hour)); !errors.Is(err, ErrKeyLengthTooSoon) {
		t.Fatalf("second change within 24 h: %v", err)
	}
	if d, err := s.SetEasyDKIM(ctx, "a", "example.com", dkim.RSA1024, at.Add(24*time.Hour)); err != nil || d.State != StateNext {
		t.Fatalf("change after 24 h: %+v, %v", d, err)
	}
	k, _ := dkim.Generate(dkim.RSA1024)
	der, _ := dkim.MarshalPrivateKey(k)
	if _, err := s.PutDKIMKey(ctx, "a", "byo.test", "sel1", der); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, "a", "byo.test", "", at); !errors.Is(err, ErrExternalRotate) {
		t.Fatalf("rotating BYODKIM: %v", err)
	}
	d, err = s.SetEasyDKIM(ctx, "a", "byo.test", "", at)
	if err != nil || d.State != StateNext || d.Origin != OriginEasy || d.Algorithm != dkim.RSA2048 || d.Reason != ReasonEasy {
		t.Fatalf("BYODKIM to Easy = %+v, %v", d, err)
	}
	if act, _, _ := s.GetDKIM(ctx, "a", "byo.test"); act.Origin != OriginExternal {
		t.Fatalf("the BYODKIM key stopped signing before the Easy key verified: %+v", act)
	}
	if _, err := s.Rotate(ctx, "a", "nobody.test", "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
}
