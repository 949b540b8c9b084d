package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/identity"
)

// identityDKIMRotateCmd is `petrel identity dkim rotate DOMAIN --account A
// [--key-length rsa2048|rsa1024|ed25519]`: it makes a NEXT Easy DKIM key
// with a new selector (unless --key-length says otherwise, of the type of
// the key that will sign next: the pending NEXT key, which it replaces, else
// the current key) and prints every record to publish, in the publication
// style of the running daemon's --dkim-cname-zone (daemonFlags). The current key signs
// until the new record verifies (the daemon's rotator then switches);
// docs/identities.md, "DKIM keys and rotation".
func identityDKIMRotateCmd(ctx context.Context, args []string, out io.Writer) error {
	var acct, length string
	var df daemonFlags
	svc, pos, err := adminOpen(ctx, "identity dkim rotate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.StringVar(&length, "key-length", "", "type of the new key: rsa2048, rsa1024 or ed25519 (default: the pending new key's, else the current key's)")
		df.define(fs, "dkim-cname-zone")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	ds, err := df.apply(ctx, svc)
	if err != nil {
		return err
	}
	zone := ds.DKIMCNAMEZone
	if len(pos) != 1 {
		return errors.New("usage: petrel identity dkim rotate DOMAIN --account A [--key-length rsa2048|rsa1024|ed25519]")
	}
	var alg dkim.Algorithm
	if length != "" {
		if alg, err = dkim.ParseAlgorithm(length); err != nil {
			return err
		}
	}
	if _, err := svc.Identities.Rotate(ctx, acct, pos[0], alg, time.Now()); err != nil {
		return err
	}
	return printDKIMKeys(ctx, out, svc.Identities, acct, pos[0], zone)
}

// printDKIMKeys prints every key of the domain with its state, the records
// to publish for it (printDKIM: TXT, or CNAME into zone for Easy DKIM) and
// what the operator must do with them: publish (NEXT: before it can sign),
// keep (ACTIVE; RETIRING: until the overlap ends, when they may be
// removed); then the domain's `_amazonses` token.
func printDKIMKeys(ctx context.Context, out io.Writer, ids *identity.Service, acct, domain, zone string) error {
	keys, err := ids.DKIMKeys(ctx, acct, domain)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s has no DKIM key (generate one with --dkim rsa2048)", domain)
	}
	for _, k := range keys {
		var what string
		switch k.State {
		case identity.StateActive:
			what = "signs; keep its records published"
		case identity.StateNext:
			what = "publish its records now: it signs once they verify, the current key signing until then"
		case identity.StateRetiring:
			what = fmt.Sprintf("no longer signs; keep its records published until %s (the overlap), then they may be removed",
				k.RetireAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(out, "DKIM key %s since %s: %s\n", k.State, k.StateSince.UTC().Format(time.RFC3339), what)
		printDKIM(out, domain, k, zone, "")
	}
	token, err := ids.VerificationToken(ctx, acct, domain)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "or, to verify the domain without DKIM,\n  %s TXT \"%s\"\n", identity.TokenRecordName(strings.ToLower(domain)), token)
	return nil
}
