package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/store"
)

// TestRefresh: Config.Refresh runs before every attempt (replays
// included): a job queued with its endpoint's old URL and secret goes to
// the current URL signed with the current secrets; a job whose endpoint is
// gone is deleted (not a dead letter) and counted; a lookup error is a
// failed attempt, retried later.
func TestRefresh(t *testing.T) {
	const newSecret = "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2U"
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			c := newClock()
			old := newReceiver(t, c.Now, func(hit) int { return http.StatusGone })
			cur := newReceiver(t, c.Now, nil)
			moved := func(ctx context.Context, j Job) (Job, bool, error) {
				j.URL, j.Secrets = cur.URL, []string{newSecret, testSecret}
				j.ID, j.Target = "ignored", "ignored" // the engine keeps the stored ones
				return j, true, nil
			}
			tests := []struct {
				name       string
				refresh    func(context.Context, Job) (Job, bool, error)
				curHits    int
				rows, dead int // left in notify_deliveries
				dropped    int64
				lastErr    string
			}{
				{"changed URL and rotated secret", moved, 1, 0, 0, 0, ""},
				{"endpoint deleted", func(context.Context, Job) (Job, bool, error) { return Job{}, false, nil }, 0, 0, 0, 1, ""},
				{"lookup fails", func(context.Context, Job) (Job, bool, error) { return Job{}, false, errors.New("db down") }, 0, 1, 0, 0, "db down"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					db := store.OpenTest(t, backend)
					before := len(cur.Hits())
					e := New(db, Config{Now: c.Now, Refresh: tc.refresh}, nil, nil)
					if err := e.Enqueue(context.Background(), Job{ID: "j1", Account: "a", Target: "webhook:a/cs/d", Channel: Webhook, Kind: "Bounce",
						URL: old.URL, Body: []byte(`{"n":1}`), Secrets: []string{testSecret}}); err != nil {
						t.Fatal(err)
					}
					step(t, e)
					if n := len(old.Hits()); n != 0 {
						t.Errorf("the old URL got %d requests", n)
					}
					hits := cur.Hits()[before:]
					if len(hits) != tc.curHits {
						t.Fatalf("current URL got %d requests, want %d", len(hits), tc.curHits)
					}
					for _, h := range hits {
						if h.id != "j1" {
							t.Errorf("event id %q, want the stored j1", h.id)
						}
						if err := VerifyWebhook(h.signature, h.body, newSecret, h.at, 0); err != nil {
							t.Errorf("not signed with the new secret: %v", err)
						}
						if err := VerifyWebhook(h.signature, h.body, testSecret, h.at, 0); err != nil {
							t.Errorf("not signed with the previous secret during the rotation: %v", err)
						}
					}
					if got := rowCount(t, db, "notify_deliveries"); got != tc.rows {
						t.Errorf("%d jobs left, want %d", got, tc.rows)
					}
					if got := e.Dropped(); got != tc.dropped {
						t.Errorf("Dropped() = %d, want %d", got, tc.dropped)
					}
					if dead, err := e.DeadLetters(context.Background(), "", 10); err != nil || len(dead) != tc.dead {
						t.Errorf("dead letters %v, %v; want %d", dead, err, tc.dead)
					}
					if tc.lastErr != "" {
						ts, err := e.Targets(context.Background(), "a")
						if err != nil || len(ts) != 1 || ts[0].Pending != 1 || !strings.Contains(ts[0].LastError, tc.lastErr) {
							t.Errorf("targets %+v, %v: want the job pending with last error %q", ts, err, tc.lastErr)
						}
					}
				})
			}

			// A dead letter queued with the old URL, replayed after the
			// endpoint moved, goes to the new URL.
			t.Run("replay", func(t *testing.T) {
				db := store.OpenTest(t, backend)
				plain := New(db, Config{Now: c.Now}, nil, nil)
				if err := plain.Enqueue(context.Background(), Job{ID: "j2", Account: "a", Target: "webhook:a/cs/d", Channel: Webhook,
					URL: old.URL, Body: []byte(`{}`), Secrets: []string{testSecret}}); err != nil {
					t.Fatal(err)
				}
				step(t, plain) // 410 from the old URL: a dead letter
				if dead, err := plain.DeadLetters(context.Background(), "a", 10); err != nil || len(dead) != 1 {
					t.Fatalf("dead letters %v, %v", dead, err)
				}
				before := len(cur.Hits())
				e := New(db, Config{Now: c.Now, Refresh: moved}, nil, nil)
				if n, err := e.Replay(context.Background(), "a", nil); err != nil || n != 1 {
					t.Fatalf("replay: %d, %v", n, err)
				}
				step(t, e)
				hits := cur.Hits()[before:]
				if len(hits) != 1 || hits[0].id != "j2" {
					t.Fatalf("replayed job at the current URL: %+v", hits)
				}
				if err := VerifyWebhook(hits[0].signature, hits[0].body, newSecret, hits[0].at, 0); err != nil {
					t.Error(err)
				}
				if got := rowCount(t, db, "notify_deliveries"); got != 0 {
					t.Errorf("%d jobs left", got)
				}
			})
		})
	}
}
