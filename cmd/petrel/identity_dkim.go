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
// with a new selector (of the current key's type unless --key-length says
// otherwise) and prints every record to publish. The current key signs
// until the new record verifies (the daemon's rotator then switches);
// docs/identities.md, "DKIM keys and rotation".
func identityDKIMRotateCmd(ctx context.Context, args []string, out io.Writer) error {
	var acct, length string
	svc, pos, err := adminOpen(ctx, "identity dkim rotate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.StringVar(&length, "key-length", "", "type of the new key: rsa2048, rsa1024 or ed25519 (default: the current key's)")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
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
	return printDKIMKeys(ctx, out, svc.Identities, acct, pos[0])
}

// printDKIMKeys prints every key of the domain with its state and what the
// operator must do with its record: publish (NEXT: before it can sign),
// keep (ACTIVE; RETIRING: until the overlap ends, when it may be removed).
func printDKIMKeys(ctx context.Context, out io.Writer, ids *identity.Service, acct, domain string) error {
	keys, err := ids.DKIMKeys(ctx, acct, domain)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s has no DKIM key (generate one with --dkim rsa2048)", domain)
	}
	d := strings.ToLower(domain)
	for _, k := range keys {
		var what string
		switch k.State {
		case identity.StateActive:
			what = fmt.Sprintf("signs (signing enabled=%v); keep this TXT record published", k.SigningEnabled)
		case identity.StateNext:
			what = "publish this TXT record now: the key signs once the record verifies, the current key signing until then"
		case identity.StateRetiring:
			what = fmt.Sprintf("no longer signs; keep this TXT record published until %s (the overlap), then it may be removed",
				k.RetireAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(out, "DKIM %s (%s, %s key, since %s): %s\n  %s._domainkey.%s TXT \"%s\"\n",
			k.State, k.Origin, k.Algorithm, k.StateSince.UTC().Format(time.RFC3339), what, k.Selector, d, k.Record)
	}
	return nil
}
