package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/suppression"
)

const suppressionGlobalUsage = "usage: petrel suppression global list [--limit N] [--after ADDRESS] | add ADDRESS [--for DURATION (at most 365d)] [--cause TEXT] | remove ADDRESS"

// suppressionGlobalCmd runs "petrel suppression global …", writing to
// stdout: the operator's view of the global suppression list that every
// account shares (docs/suppression.md), which SES shows no customer. args
// are the words after "global":
//
//	list [--limit N] [--after ADDRESS]   addresses listed now, in address order
//	add ADDRESS [--for D] [--cause TEXT] list ADDRESS for D (default 14d, at most 365d), counting no hard bounce
//	remove ADDRESS                       unlist it and forget its hard bounces
//
// --for is bounded by suppression.MaxGlobalMax (365 days) only: the
// daemon's --global-suppression-max caps the listings hard bounces make,
// not the operator's own, and this command does not read the daemon's
// settings.
func suppressionGlobalCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(suppressionGlobalUsage)
	}
	var (
		limit int
		after string
		dur   = config.Duration(suppression.DefaultGlobalMax)
		cause string
	)
	svc, pos, err := adminOpen(ctx, "suppression global "+args[0], args[1:], func(fs *flag.FlagSet) {
		switch args[0] {
		case "list":
			fs.IntVar(&limit, "limit", 100, "how many addresses to list (1-1000)")
			fs.StringVar(&after, "after", "", "list the addresses after this one (the previous page's last)")
		case "add":
			fs.Var(&dur, "for", "how long the address stays listed, e.g. 3d or 12h; at most 365d (the daemon's --global-suppression-max caps automatic listings only)")
			fs.StringVar(&cause, "cause", "added by the operator", "why, shown by list")
		}
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	list := suppression.New(svc.DB, nil)
	one := func() (address.Address, error) {
		if len(pos) != 1 {
			return address.Address{}, errors.New(suppressionGlobalUsage)
		}
		return address.Parse(pos[0])
	}
	switch args[0] {
	case "list":
		if len(pos) != 0 {
			return errors.New(suppressionGlobalUsage)
		}
		if limit < 1 || limit > 1000 {
			return errors.New("--limit: must be 1-1000")
		}
		key := ""
		if after != "" {
			a, err := address.Parse(after)
			if err != nil {
				return fmt.Errorf("--after: %w", err)
			}
			key = a.Key()
		}
		entries, next, err := list.GlobalList(ctx, key, limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tEXPIRES\tBOUNCES\tFIRST\tLAST\tACCOUNT\tMESSAGE\tCAUSE")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", termText(e.Address.Email()), e.Expires.UTC().Format(time.RFC3339), e.Bounces,
				e.First.UTC().Format(time.RFC3339), e.LastUpdate.UTC().Format(time.RFC3339), orDash(termText(e.Account)), orDash(termText(e.MessageID)), orDash(termText(e.Cause)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(stdout, "more: --after %s\n", termText(entries[len(entries)-1].Address.Email()))
		}
		return nil
	case "add":
		a, err := one()
		if err != nil {
			return err
		}
		if dur <= 0 || time.Duration(dur) > suppression.MaxGlobalMax {
			return errors.New("--for: must be more than 0 and at most 365d (the daemon's --global-suppression-max caps automatic listings only)")
		}
		if err := list.GlobalAdd(ctx, a, time.Duration(dur), cause); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is on the global suppression list for %s\n", a.Email(), dur)
		return nil
	case "remove":
		a, err := one()
		if err != nil {
			return err
		}
		if err := list.GlobalDelete(ctx, a); errors.Is(err, suppression.ErrNotFound) {
			return fmt.Errorf("%s is not on the global suppression list", a.Email())
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s removed from the global suppression list\n", a.Email())
		return nil
	}
	return errors.New(suppressionGlobalUsage)
}
