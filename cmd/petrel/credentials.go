package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/daemon"
)

const credentialsUsage = `usage:
  petrel credentials create --account A [--file PATH]   new access key + SMTP password
  petrel credentials create --account A --network CIDR  SMTP without AUTH from CIDR
  petrel credentials list [--account A]                 access keys and network credentials
  petrel credentials disable --account A KEYID          refuse the key (API and SMTP)
  petrel credentials enable --account A KEYID           accept it again
  petrel credentials delete --account A KEYID           delete the key (API and SMTP)
  petrel credentials delete --account A --network CIDR  delete a network credential

The SMTP username is the access key id and the SMTP password derives from its
secret: disabling or deleting a key revokes both. Changes take effect on every
running petrel within 1 second.`

// credentialsCmd runs "petrel credentials ...": output to stdout, warnings
// to stderr.
func credentialsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: petrel credentials create|list|disable|enable|delete ... (petrel credentials --help)")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, credentialsUsage)
		return nil
	}
	var acct, file, network string
	cfg, pos, err := adminFlags("credentials", args[1:], func(fs *flag.FlagSet) {
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "%s\n\nflags:\n", credentialsUsage)
			fs.PrintDefaults()
		}
		fs.StringVar(&acct, "account", "", "account the credential belongs to")
		fs.StringVar(&file, "file", "", "create: also write an AWS credentials file here (profile petrel)")
		fs.StringVar(&network, "network", "", "a network credential: SMTP clients from this CIDR range submit without AUTH")
	})
	if err != nil {
		return err
	}
	cmd := args[0]
	switch cmd {
	case "create", "list", "disable", "enable", "delete":
	default:
		return fmt.Errorf("unknown credentials command %q (petrel credentials --help)", cmd)
	}
	keyCmd := cmd == "disable" || cmd == "enable" || (cmd == "delete" && network == "")
	switch {
	case cmd != "list" && acct == "":
		return errors.New("--account is required (petrel credentials --help)")
	case keyCmd && len(pos) != 1:
		return fmt.Errorf("petrel credentials %s needs one access key id (petrel credentials --help)", cmd)
	case !keyCmd && len(pos) != 0:
		return fmt.Errorf("unexpected argument %q (petrel credentials --help)", pos[0])
	case network != "" && cmd != "create" && cmd != "delete":
		return errors.New("--network applies to create and delete (petrel credentials --help)")
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	accts := svc.Accounts
	switch cmd {
	case "create":
		if network != "" {
			n, err := accts.AddNetwork(ctx, acct, network)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "SMTP clients from %s may now submit as account %s without AUTH\n", n.Prefix, n.Account)
			return nil
		}
		k, err := accts.CreateKey(ctx, acct)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "[petrel]\naws_access_key_id = %s\naws_secret_access_key = %s\nsmtp_username = %s\nsmtp_password = %s\n",
			k.AccessKeyID, k.SecretAccessKey, k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, cfg.Region))
		if file != "" {
			return daemon.WriteCredentials(file, "petrel", k, cfg.Region)
		}
		return nil
	case "list":
		return listCredentials(ctx, accts, acct, stdout)
	case "delete":
		if network != "" {
			if err := accts.DeleteNetwork(ctx, acct, network); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted network credential %s of account %s\n", network, acct)
			return nil
		}
		if err := accts.DeleteKey(ctx, acct, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted access key %s of account %s (its SMTP credential too)\n", pos[0], acct)
	case "disable", "enable":
		status, done := account.Inactive, "disabled"
		if cmd == "enable" {
			status, done = account.Active, "enabled"
		}
		if err := accts.SetKeyStatus(ctx, acct, pos[0], status); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s access key %s of account %s (API and SMTP)\n", done, pos[0], acct)
	}
	keys, err := accts.ListKeys(ctx, acct)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Status == account.Active {
			return nil
		}
	}
	fmt.Fprintf(stderr, "petrel: warning: account %s has no active access key left: it can no longer use the API or SMTP AUTH"+
		" (network credentials still work); petrel credentials create --account %s makes a new one\n", acct, acct)
	return nil
}

// listCredentials prints the access keys and network credentials of acct
// (of every account when acct is empty) as two tables.
func listCredentials(ctx context.Context, accts *account.Service, acct string, w io.Writer) error {
	names := []string{acct}
	if acct == "" {
		list, err := accts.List(ctx)
		if err != nil {
			return err
		}
		names = names[:0]
		for _, a := range list {
			names = append(names, a.Name)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tACCESS KEY ID (SMTP USERNAME)\tSTATUS\tCREATED")
	for _, name := range names {
		keys, err := accts.ListKeys(ctx, name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Account, k.AccessKeyID, k.Status, k.Created.UTC().Format(time.RFC3339))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	nets, err := accts.Networks(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNETWORK\tCREATED")
	for _, n := range nets {
		if acct == "" || n.Account == acct {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Account, n.Prefix, n.Created.UTC().Format(time.RFC3339))
		}
	}
	return tw.Flush()
}
