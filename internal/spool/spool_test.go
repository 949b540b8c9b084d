package spool_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// body returns n bytes that differ from chunk to chunk, so that chunks
// read back out of order or twice would show.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/spool.ChunkSize + i%251)
	}
	return b
}

type fixture struct {
	t     *testing.T
	db    *store.DB
	spool *spool.Spool
	queue *queue.Queue
}

func newFixture(t *testing.T, backend string) *fixture {
	db := store.OpenTest(t, backend)
	return &fixture{t: t, db: db, spool: spool.New(db), queue: queue.New(db)}
}

// put stores a message of body b with one queue entry, accepted at at, in
// one transaction, as sending does.
func (f *fixture) put(id string, at time.Time, b []byte) {
	f.t.Helper()
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		if err := f.spool.PutTx(tx, &spool.Message{ID: id, Account: "acme", Created: at, MailFrom: "s@example.com",
			Mail: json.RawMessage(`{}`), Body: b}); err != nil {
			return err
		}
		return f.queue.InsertTx(tx, &queue.Entry{ID: id + "/0", MessageID: id, Account: "acme", Rcpt: "r@far.test",
			Domain: "far.test", Created: at, NextAttempt: at, Deadline: at.Add(time.Hour)}, "", time.Time{})
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// retire deletes the message's queue entry and releases its body, as
// delivery does when its last recipient is final.
func (f *fixture) retire(id string, release bool) {
	f.t.Helper()
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		if err := f.queue.DeleteTx(tx, id+"/0"); err != nil {
			return err
		}
		if release {
			return f.spool.ReleaseBodyTx(tx, id, f.queue.PendingTx)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// chunkRows counts the message_chunks rows of a message.
func (f *fixture) chunkRows(id string) int {
	f.t.Helper()
	var n int
	if err := f.db.QueryRow(f.db.Rebind("SELECT COUNT(*) FROM message_chunks WHERE message_id = ?"), id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// pending returns spool.Usage's figures of the bodies pending delivery.
func (f *fixture) pending() (rows, bytes int64) {
	f.t.Helper()
	rows, bytes, _, _, err := f.spool.Usage(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return rows, bytes
}

// A body larger than ChunkSize is stored in ChunkSize rows (so that no
// driver binds, and copies, the whole body at once), in the message's
// transaction; it reads back whole into one buffer of its exact size,
// counts in the storage figures, and goes with its chunks when released
// — by the last recipient, or by the retention pass that catches missed
// releases. Bodies up to ChunkSize stay inline, as before.
func TestChunkedBodies(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				size   int
				chunks int
			}{
				{"5 KB inline", 5_000, 0},
				{"ChunkSize inline", spool.ChunkSize, 0},
				{"ChunkSize+1 in two", spool.ChunkSize + 1, 2},
				{"5 MB in five", 5_000_000, 5},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := newFixture(t, backend)
					ctx := context.Background()
					want := body(tc.size)
					f.put("m1", time.Now(), want)
					if n := f.chunkRows("m1"); n != tc.chunks {
						t.Fatalf("%d chunk rows, want %d", n, tc.chunks)
					}
					got, err := f.spool.Body(ctx, "m1")
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("read back %d bytes, not the %d stored", len(got), len(want))
					}
					if tc.chunks > 0 && cap(got) != len(got) {
						t.Fatalf("read into a buffer of %d for %d bytes", cap(got), len(got))
					}
					if rows, n := f.pending(); rows != 1 || n != int64(tc.size) {
						t.Fatalf("usage: %d bodies pending, %d bytes; want 1, %d", rows, n, tc.size)
					}

					// Not released while a recipient still needs it.
					if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return f.spool.ReleaseBodyTx(tx, "m1", f.queue.PendingTx) }); err != nil {
						t.Fatal(err)
					}
					if got, _ := f.spool.Body(ctx, "m1"); !bytes.Equal(got, want) {
						t.Fatal("released while queued")
					}
					f.retire("m1", true)
					if n := f.chunkRows("m1"); n != 0 {
						t.Fatalf("%d chunk rows left after release", n)
					}
					if got, err := f.spool.Body(ctx, "m1"); err != nil || len(got) != 0 {
						t.Fatalf("released body: %d bytes, %v", len(got), err)
					}
					if rows, n := f.pending(); rows != 0 || n != 0 {
						t.Fatalf("usage after release: %d bodies, %d bytes", rows, n)
					}
				})
			}
		})
	}
}

// The retention pass releases the chunked bodies that a retirement left
// behind (ReleaseBodies) and deletes any left with their records
// (PruneBefore), but never those of messages still queued.
func TestRetentionReleasesChunks(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			ctx := context.Background()
			at := time.Now().Add(-time.Hour)
			big := body(3*spool.ChunkSize + 7)
			f.put("a-left", at, big)
			f.put("b-queued", at, big)
			f.put("c-small", at, body(100))
			f.retire("a-left", false)
			f.retire("c-small", false)

			released, _, done, err := f.spool.ReleaseBodies(ctx, time.Now(), "", 100, f.queue.PendingTx)
			if err != nil || !done {
				t.Fatal(err, done)
			}
			if released != 2 {
				t.Fatalf("released %d bodies, want 2 (one chunked, one inline)", released)
			}
			if n := f.chunkRows("a-left"); n != 0 {
				t.Fatalf("%d chunk rows left of a retired message", n)
			}
			if n := f.chunkRows("b-queued"); n != 4 {
				t.Fatalf("%d chunk rows of a queued message, want 4", n)
			}
			if rows, n := f.pending(); rows != 1 || n != int64(len(big)) {
				t.Fatalf("usage: %d bodies, %d bytes pending; want the queued one", rows, n)
			}

			// A record pruned with chunks still behind takes them along.
			f.put("d-pruned", at, big)
			f.retire("d-pruned", false)
			f.retire("b-queued", false)
			none := func(*sql.Tx, []string) (map[string]bool, error) { return nil, nil }
			deleted, _, _, err := f.spool.PruneBefore(ctx, time.Now(), "", 100, f.queue.PendingTx, none)
			if err != nil {
				t.Fatal(err)
			}
			if deleted != 4 {
				t.Fatalf("pruned %d records, want 4", deleted)
			}
			var left int
			if err := f.db.QueryRow("SELECT COUNT(*) FROM message_chunks").Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d chunk rows left after pruning (%v)", left, err)
			}
		})
	}
}

// Storing a large body is part of its message's transaction: when the
// transaction fails, neither the record nor any chunk is kept.
func TestChunksRollBack(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			boom := errors.New("boom")
			err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
				if err := f.spool.PutTx(tx, &spool.Message{ID: "m1", Account: "acme", Created: time.Now(), MailFrom: "s@example.com",
					Mail: json.RawMessage(`{}`), Body: body(2*spool.ChunkSize + 1)}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if n := f.chunkRows("m1"); n != 0 {
				t.Fatalf("%d chunk rows kept of a rolled-back message", n)
			}
			if _, err := f.spool.Body(context.Background(), "m1"); !errors.Is(err, spool.ErrNotFound) {
				t.Fatalf("Body of a rolled-back message: %v", err)
			}
		})
	}
}

// MailObjects reads the "mail" objects of a page of events' messages in
// one query: each message once however many of its events the page has,
// and none for a message whose record is gone (its events render an empty
// object).
func TestMailObjects(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			err := f.db.Tx(t.Context(), func(tx *sql.Tx) error {
				for _, id := range []string{"m1", "m2"} {
					if err := f.spool.PutTx(tx, &spool.Message{ID: id, Account: "acme", Created: time.Now(), MailFrom: "s@example.com",
						Mail: json.RawMessage(`{"messageId":"` + id + `"}`), Body: []byte("b")}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				ids  []string
				want map[string]string
			}{
				{nil, map[string]string{}},
				{[]string{"m1"}, map[string]string{"m1": `{"messageId":"m1"}`}},
				{[]string{"m2", "m1", "m2", "gone", "m1"}, map[string]string{"m1": `{"messageId":"m1"}`, "m2": `{"messageId":"m2"}`}},
			} {
				got, err := f.spool.MailObjects(t.Context(), tc.ids)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Errorf("MailObjects(%q) = %d objects, want %d", tc.ids, len(got), len(tc.want))
				}
				for id, w := range tc.want {
					if string(got[id]) != w {
						t.Errorf("MailObjects(%q)[%s] = %s, want %s", tc.ids, id, got[id], w)
					}
				}
			}
		})
	}
}

// TestEnvelope: Envelope returns the account, envelope sender, feedback
// address and mail object of a message, and ErrNotFound for an unknown one.
func TestEnvelope(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			f := newFixture(t, backend)
			msgs := []*spool.Message{
				{ID: "m1", Account: "acme", Created: time.Now(), MailFrom: "bounces@example.com",
					Mail: json.RawMessage(`{"messageId":"m1"}`), Body: []byte("b")},
				{ID: "m2", Account: "acme", Created: time.Now(), MailFrom: "news@example.com", FeedbackAddress: "fb@example.com",
					Mail: json.RawMessage(`{"messageId":"m2"}`), Body: []byte("b")},
			}
			err := f.db.Tx(t.Context(), func(tx *sql.Tx) error {
				for _, m := range msgs {
					if err := f.spool.PutTx(tx, m); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				want := spool.Envelope{Account: m.Account, MailFrom: m.MailFrom, FeedbackAddress: m.FeedbackAddress, Mail: m.Mail}
				got, err := f.spool.Envelope(t.Context(), m.ID)
				if err != nil || got.Account != want.Account || got.MailFrom != want.MailFrom || got.FeedbackAddress != want.FeedbackAddress ||
					string(got.Mail) != string(want.Mail) {
					t.Errorf("Envelope(%s) = %+v, %v; want %+v", m.ID, got, err, want)
				}
			}
			if _, err := f.spool.Envelope(t.Context(), "gone"); !errors.Is(err, spool.ErrNotFound) {
				t.Errorf("Envelope(gone) error = %v, want ErrNotFound", err)
			}
		})
	}
}
