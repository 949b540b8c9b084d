package suppression

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/store"
)

// TestCheckPrecedence: configuration set > account > global
// (../shared/spec/ses.md §6.1).
func TestCheckPrecedence(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			l, clk := openList(t, backend)
			now := clk.now()
			put := func(account, addr string, r Reason, expires time.Time) {
				if err := l.Put(t.Context(), account, Entry{Address: mustAddr(t, addr), Reason: r, LastUpdate: now, Expires: expires}); err != nil {
					t.Fatal(err)
				}
			}
			put("acct", "bounced@example.com", Bounce, time.Time{})
			put("acct", "complained@example.com", Complaint, time.Time{})
			put("acct", "soft@example.com", Bounce, now.Add(time.Hour))
			put("acct", "lifted@example.com", Bounce, now.Add(-time.Millisecond))
			put("other", "global@example.com", Bounce, time.Time{})
			if err := l.db.Tx(t.Context(), func(tx *sql.Tx) error {
				for _, a := range []string{"global@example.com", "bounced@example.com"} {
					if _, err := l.GlobalPutTx(tx, mustAddr(t, a), "other", "m", "hard bounce", now); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			rcpts := []address.Address{mustAddr(t, "Bounced@Example.com"), mustAddr(t, "complained@example.com"), mustAddr(t, "soft@example.com"),
				mustAddr(t, "lifted@example.com"), mustAddr(t, "global@example.com"), mustAddr(t, "fresh@example.com")}
			type hit struct {
				i   int
				sub string
			}
			cases := []struct {
				name     string
				attrs    *Policy // the account's attributes; nil: never set
				override *Policy
				want     []hit
			}{
				{"default attributes: account list in use, global ignored", nil, nil,
					[]hit{{0, bounce.OnAccountSuppressionList}, {1, bounce.OnAccountSuppressionList}, {2, bounce.OnAccountSuppressionList}}},
				{"account BOUNCE only", &Policy{Reasons: []Reason{Bounce}}, nil,
					[]hit{{0, bounce.OnAccountSuppressionList}, {2, bounce.OnAccountSuppressionList}}},
				{"account disabled: global applies", &Policy{}, nil,
					[]hit{{0, bounce.Suppressed}, {4, bounce.Suppressed}}},
				{"override disabled beats account: global applies", nil, &Policy{},
					[]hit{{0, bounce.Suppressed}, {4, bounce.Suppressed}}},
				{"override BOUNCE only: a COMPLAINT entry does not suppress", nil, &Policy{Reasons: []Reason{Bounce}},
					[]hit{{0, bounce.OnAccountSuppressionList}, {2, bounce.OnAccountSuppressionList}}},
				{"override COMPLAINT beats a disabled account", &Policy{}, &Policy{Reasons: []Reason{Complaint}},
					[]hit{{1, bounce.OnAccountSuppressionList}}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if c.attrs != nil {
						if err := l.SetAttributes(t.Context(), "acct", *c.attrs); err != nil {
							t.Fatal(err)
						}
					} else if _, err := l.db.ExecContext(t.Context(), "DELETE FROM suppression_attributes"); err != nil {
						t.Fatal(err)
					}
					got, err := l.Check(t.Context(), "acct", c.override, rcpts)
					if err != nil {
						t.Fatal(err)
					}
					var hits []hit
					for _, s := range got {
						hits = append(hits, hit{s.Index, s.Bounce.BounceSubType})
						b := s.Bounce
						r := b.BouncedRecipients
						if b.BounceType != bounce.Permanent || len(r) != 1 || r[0].EmailAddress != rcpts[s.Index].Email() || r[0].Action != "failed" ||
							r[0].Status != "5.1.1" || b.FeedbackID == "" || b.Timestamp == "" {
							t.Errorf("bounce %+v", b)
						}
						want := AccountListDiagnostic
						if b.BounceSubType == bounce.Suppressed {
							want = GlobalListDiagnostic
						}
						if r[0].DiagnosticCode != want {
							t.Errorf("diagnostic %q", r[0].DiagnosticCode)
						}
					}
					if !slices.Equal(hits, c.want) {
						t.Errorf("suppressed %v, want %v", hits, c.want)
					}
				})
			}
		})
	}
}

// BenchmarkCheck: the send-path check of 1 and 50 recipients against an
// account list of 1,000,000 entries and a global list of 200,000, on
// SQLite. Half the recipients are on the account list, the other half on
// the global list only; "global" checks with the account list disabled.
func BenchmarkCheck(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a list of a million entries")
	}
	const entries, global = 1_000_000, 200_000
	l, clk := openList(b, "sqlite")
	now := clk.now()
	batch := make([]Entry, 0, 10_000)
	for i := range entries {
		batch = append(batch, Entry{Address: address.Address{Local: fmt.Sprintf("user%07d", i), Domain: "example.com"}, Reason: Bounce, LastUpdate: now})
		if len(batch) == cap(batch) || i == entries-1 {
			if err := l.PutMany(b.Context(), "acct", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := 0; i < global; i += 1000 {
		err := l.db.Tx(b.Context(), func(tx *sql.Tx) error {
			q := "INSERT INTO global_suppressions (address, " + globalColumns + ") VALUES "
			args := make([]any, 0, 9000)
			for j := range 1000 {
				if j > 0 {
					q += ", "
				}
				q += "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
				a := fmt.Sprintf("g%07d@example.net", i+j)
				args = append(args, a, a, now.UnixMilli(), now.UnixMilli(), now.Add(time.Hour).UnixMilli(), 1, "x", "m", "hard bounce")
			}
			_, err := tx.Exec(q, args...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1, 50} {
		rcpts := make([]address.Address, n)
		for i := range rcpts {
			if i%2 == 0 {
				rcpts[i] = address.Address{Local: fmt.Sprintf("user%07d", i*9973%entries), Domain: "example.com"}
			} else {
				rcpts[i] = address.Address{Local: fmt.Sprintf("g%07d", i*7919%global), Domain: "example.net"}
			}
		}
		for _, mode := range []struct {
			name     string
			override *Policy
		}{{"account", nil}, {"global", &Policy{}}} {
			b.Run(fmt.Sprintf("%s/rcpts=%d", mode.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := l.Check(b.Context(), "acct", mode.override, rcpts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	// The prefilter loaded (as the daemon runs it): recipients on no list,
	// the common case, are answered without the database; listed ones
	// still read it.
	if err := l.refreshPrefilter(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 50} {
		unlisted := make([]address.Address, n)
		for i := range unlisted {
			unlisted[i] = address.Address{Local: fmt.Sprintf("nobody%d", i), Domain: "example.org"}
		}
		b.Run(fmt.Sprintf("prefilter/unlisted/rcpts=%d", n), func(b *testing.B) {
			for b.Loop() {
				if out, err := l.Check(b.Context(), "acct", nil, unlisted); err != nil || len(out) != 0 {
					b.Fatal(out, err)
				}
			}
		})
	}
}
