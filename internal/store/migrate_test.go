package store

import (
	"bytes"
	"context"
	"io/fs"
	"regexp"
	"strconv"
	"testing"
)

// laterTables are the tables the migrations after version created.
func laterTables(t *testing.T, version int) []string {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	create := regexp.MustCompile(`(?m)^CREATE TABLE (\w+)`)
	var out []string
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name()[:3])
		if err != nil || n <= version {
			continue
		}
		text, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range create.FindAllStringSubmatch(string(text), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestMigrateIdentityRowsFrom20 is the upgrade of a database in use before
// issue 16: a migrated database is rolled back to version 20 (issue 16's
// tables and columns dropped, dkim_keys as 004 made it), given identities
// and DKIM keys, and migrated to the latest version. Migration 021 must
// keep every verified identity verified (vouched, the operator's word),
// and 026 must keep every key, now ACTIVE since its creation, and allow a
// second key per identity. A second migrate is a no-op.
func TestMigrateIdentityRowsFrom20(t *testing.T) {
	for _, backend := range Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := OpenTest(t, backend)
			// Every table a later migration creates goes (found in the
			// migrations themselves, so a new one cannot be forgotten);
			// dropping a table drops its indexes.
			for _, q := range laterTables(t, 20) {
				if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+q); err != nil {
					t.Fatalf("dropping %s: %v", q, err)
				}
			}
			for _, q := range []string{
				"ALTER TABLE queue DROP COLUMN return_path_domain",
				"ALTER TABLE import_jobs DROP COLUMN contact_list",  // 029
				"ALTER TABLE messages DROP COLUMN feedback_address", // 031
				"DROP TABLE IF EXISTS dkim_keys",                    // 026 rebuilt it; 004 makes it again below
				"DELETE FROM schema_version WHERE version > 20",
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			// The columns 021–026 add to identities, those a version has.
			for _, col := range []string{"vouched", "verification_token", "dkim_length_changed_ms"} {
				if _, err := db.ExecContext(ctx, "SELECT "+col+" FROM identities LIMIT 0"); err != nil {
					continue
				}
				if _, err := db.ExecContext(ctx, "ALTER TABLE identities DROP COLUMN "+col); err != nil {
					t.Fatalf("dropping identities.%s: %v", col, err)
				}
			}
			text, err := migrations.ReadFile("migrations/004_dkim.sql")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.dialectSQL(string(text))); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO accounts (name, sending_account_id, created_ms) VALUES ('a', '111122223333', 1)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO identities (account, name, kind, verified, created_ms) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)"),
				"a", "example.com", "DOMAIN", 1, 1000, "a", "other.com", "DOMAIN", 0, 1000); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO dkim_keys (account, identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)"),
				"a", "example.com", "s1", "ED25519", "AWS_SES", []byte{1, 2, 3}, 0, 1234, "a", "other.com", "s2", "RSA_2048_BIT", "EXTERNAL", []byte{4}, 1, 5678); err != nil {
				t.Fatal(err)
			}
			if err := db.migrate(ctx); err != nil {
				t.Fatal(err)
			}

			type key struct {
				identity, selector, algorithm, origin string
				sealed                                []byte
				signing                               int
				created                               int64
				state                                 string
				since                                 int64
			}
			want := []key{
				{"example.com", "s1", "ED25519", "AWS_SES", []byte{1, 2, 3}, 0, 1234, "ACTIVE", 1234},
				{"other.com", "s2", "RSA_2048_BIT", "EXTERNAL", []byte{4}, 1, 5678, "ACTIVE", 5678},
			}
			rows, err := db.QueryContext(ctx, "SELECT identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms, state, state_since_ms FROM dkim_keys ORDER BY identity")
			if err != nil {
				t.Fatal(err)
			}
			var got []key
			for rows.Next() {
				var k key
				if err := rows.Scan(&k.identity, &k.selector, &k.algorithm, &k.origin, &k.sealed, &k.signing, &k.created, &k.state, &k.since); err != nil {
					t.Fatal(err)
				}
				got = append(got, k)
			}
			rows.Close()
			if len(got) != len(want) {
				t.Fatalf("dkim_keys after the upgrade: %+v, want %+v", got, want)
			}
			for i := range want {
				g, w := got[i], want[i]
				if !bytes.Equal(g.sealed, w.sealed) {
					t.Errorf("key %s: sealed %v, want %v", w.selector, g.sealed, w.sealed)
				}
				g.sealed, w.sealed = nil, nil
				if g.identity != w.identity || g.selector != w.selector || g.algorithm != w.algorithm || g.origin != w.origin ||
					g.signing != w.signing || g.created != w.created || g.state != w.state || g.since != w.since {
					t.Errorf("key after the upgrade: %+v, want %+v", g, w)
				}
			}
			for name, want := range map[string][2]int{"example.com": {1, 1}, "other.com": {0, 0}} {
				var vouched, verified int
				if err := db.QueryRowContext(ctx, db.Rebind("SELECT vouched, verified FROM identities WHERE name = ?"), name).Scan(&vouched, &verified); err != nil {
					t.Fatal(err)
				}
				if [2]int{vouched, verified} != want {
					t.Errorf("%s: vouched %d verified %d, want %v", name, vouched, verified, want)
				}
			}
			// The new primary key: a second selector per identity.
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO dkim_keys (account, identity, selector, algorithm, origin, key_sealed, created_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
				"a", "example.com", "s3", "ED25519", "AWS_SES", []byte{1}, 1, "NEXT"); err != nil {
				t.Fatal(err)
			}
			if err := db.migrate(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
