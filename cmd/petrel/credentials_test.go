package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestCredentialsCommands drives petrel credentials create, list, disable,
// enable and delete against a store that a running node (a second
// account.Service on the same database) also uses: its refusals, the list
// output (testdata/credentials_list.golden) and that the node refuses a key
// disabled by the command within a second.
func TestCredentialsCommands(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			common := []string{"--data-dir", cfg.DataDir}
			if backend == "postgres" {
				cfg.Database = store.TestPostgresDSN(t)
				common = append(common, "--database", cfg.Database)
			}
			node, err := daemon.Open(ctx, cfg) // the running petrel
			if err != nil {
				t.Fatal(err)
			}
			defer node.Close()
			for _, a := range []string{"acme", "beta"} {
				if _, err := node.Accounts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			run := func(args ...string) (stdout, stderr string, err error) {
				var o, e bytes.Buffer
				err = credentialsCmd(ctx, append(args, common...), &o, &e)
				return o.String(), e.String(), err
			}
			must := func(args ...string) (stdout, stderr string) {
				t.Helper()
				o, e, err := run(args...)
				if err != nil {
					t.Fatalf("petrel credentials %s: %v", strings.Join(args, " "), err)
				}
				return o, e
			}
			keyRE := regexp.MustCompile(`(?m)^aws_access_key_id = (\S+)$`)
			secretRE := regexp.MustCompile(`(?m)^aws_secret_access_key = (\S+)$`)
			newKey := func(acct string) account.Key {
				time.Sleep(2 * time.Millisecond) // a distinct created_ms: list order is creation order
				o, _ := must("create", "--account", acct)
				k, s := keyRE.FindStringSubmatch(o), secretRE.FindStringSubmatch(o)
				if k == nil || s == nil {
					t.Fatalf("create printed no key:\n%s", o)
				}
				return account.Key{Account: acct, AccessKeyID: k[1], SecretAccessKey: s[1]}
			}
			acme1, acme2, beta1 := newKey("acme"), newKey("acme"), newKey("beta")
			must("create", "--account", "acme", "--network", "10.1.0.0/16")
			must("create", "--account", "beta", "--network", "10.2.0.0/16")

			accepted := func(k account.Key) bool {
				_, err := node.Accounts.AuthSMTP(ctx, k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, cfg.Region))
				if err != nil && !errors.Is(err, account.ErrBadCredentials) {
					t.Fatal(err)
				}
				return err == nil
			}
			if !accepted(acme1) {
				t.Fatal("new key refused")
			}

			o, e := must("disable", "--account", "acme", acme1.AccessKeyID)
			disabled := time.Now()
			if !strings.Contains(o, "disabled access key "+acme1.AccessKeyID) || e != "" {
				t.Errorf("disable: stdout %q stderr %q", o, e)
			}
			for accepted(acme1) {
				if time.Since(disabled) >= time.Second {
					t.Fatalf("the node still accepts the disabled key %v later", time.Since(disabled))
				}
				time.Sleep(10 * time.Millisecond)
			}

			o, _ = must("list", "--account", "acme")
			golden(t, "credentials_list.golden", o, map[string]string{
				acme1.AccessKeyID: "<acme-1>", acme2.AccessKeyID: "<acme-2>", beta1.AccessKeyID: "<beta-1>",
			})
			if o, _ := must("list"); !strings.Contains(o, beta1.AccessKeyID) || !strings.Contains(o, "10.2.0.0/16") {
				t.Errorf("list of all accounts lacks beta's credentials:\n%s", o)
			}

			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"delete", "--account", "acme", beta1.AccessKeyID}, `belongs to another account ("beta", not "acme")`},
				{[]string{"disable", "--account", "acme", beta1.AccessKeyID}, `belongs to another account ("beta", not "acme")`},
				{[]string{"delete", "--account", "acme", "--network", "10.2.0.0/16"}, `belongs to another account ("beta", not "acme")`},
				{[]string{"delete", "--account", "acme", "AKIANOPE"}, "access key AKIANOPE: not found"},
				{[]string{"disable", acme2.AccessKeyID}, "--account is required"},
				{[]string{"disable", "--account", "acme"}, "needs one access key id"},
				{[]string{"revoke", "--account", "acme"}, `unknown credentials command "revoke"`},
			} {
				if _, _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("petrel credentials %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
				}
			}
			if !accepted(beta1) {
				t.Fatal("beta's key refused after the refused commands")
			}

			must("enable", "--account", "acme", acme1.AccessKeyID)
			// Deleting the last active key is allowed, with a warning.
			if _, e := must("delete", "--account", "acme", acme2.AccessKeyID); e != "" {
				t.Errorf("deleting a key while another is active warned: %q", e)
			}
			o, e = must("delete", "--account", "acme", acme1.AccessKeyID)
			if !strings.Contains(o, "deleted access key "+acme1.AccessKeyID) || !strings.Contains(e, "warning: account acme has no active access key left") {
				t.Errorf("deleting the last key: stdout %q stderr %q", o, e)
			}
			must("delete", "--account", "acme", "--network", "10.1.0.0/16")
			o, _ = must("list", "--account", "acme")
			if strings.Contains(o, "AKIA") || strings.Contains(o, "10.1.0.0/16") {
				t.Errorf("list after deleting everything:\n%s", o)
			}
		})
	}
}

// golden compares got, with ids replaced as in ids and timestamps masked,
// to testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string, ids map[string]string) {
	t.Helper()
	for id, as := range ids {
		got = strings.ReplaceAll(got, id, as+strings.Repeat(".", len(id)-len(as))) // same width: columns stay aligned
	}
	got = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`).ReplaceAllString(got, "YYYY-MM-DDThh:mm:ssZ")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
