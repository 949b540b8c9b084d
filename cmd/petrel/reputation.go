package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/reputation"
)

const reputationUsage = "usage: petrel account reputation NAME [--history N] | resume NAME [--configuration-set SET]"

// accountReputationCmd runs "petrel account reputation" and "petrel
// account resume", writing to stdout (docs/reputation.md). args start with
// the subcommand:
//
//	reputation NAME [--history N]        the account's and its sets' status, rates, window and volume, the thresholds, recent changes
//	resume NAME [--configuration-set S]  lift an enforcement pause (SHUTDOWN): HEALTHY with a fresh start
//
// A running daemon sees a resume within reputation.CacheTTL (5 s). The
// thresholds shown are this command's defaults: a daemon started with
// other --reputation-* flags judges by its own.
func accountReputationCmd(ctx context.Context, args []string, stdout io.Writer) error {
	var (
		set     string
		history int
	)
	svc, pos, err := adminOpen(ctx, "account "+args[0], args[1:], func(fs *flag.FlagSet) {
		switch args[0] {
		case "resume":
			fs.StringVar(&set, "configuration-set", "", "resume this configuration set of the account instead of the account")
		case "reputation":
			fs.IntVar(&history, "history", 10, "how many recent status and quota changes to show")
		}
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if len(pos) != 1 {
		return errors.New(reputationUsage)
	}
	acct := pos[0]
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return fmt.Errorf("account %s: %w", acct, err)
	}
	rep := svc.Reputation
	switch args[0] {
	case "resume":
		from, err := rep.Resume(ctx, acct, set)
		if errors.Is(err, reputation.ErrNotFound) {
			return fmt.Errorf("account %s has no configuration set %s", acct, set)
		}
		if err != nil {
			return err
		}
		what := "account " + acct
		if set != "" {
			what = "configuration set " + set + " of account " + acct
		}
		fmt.Fprintf(stdout, "%s: %s -> HEALTHY; fresh start now: only mail sent from the next quarter hour on counts\n", what, from)
		if from != reputation.Shutdown {
			fmt.Fprintln(stdout, "(it was not paused)")
		}
		return nil
	case "reputation":
		return printReputation(ctx, rep, acct, history, stdout)
	}
	return errors.New(reputationUsage)
}

func printReputation(ctx context.Context, rep *reputation.Service, acct string, history int, stdout io.Writer) error {
	list, err := rep.List(ctx, acct)
	if err != nil {
		return err
	}
	cfg := rep.Config()
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCOPE\tSTATUS\tBOUNCE RATE\tCOMPLAINT RATE\tWINDOW SINCE\tVOLUME\tENFORCED\tEVALUATED\tFRESH START")
	found := false
	for _, r := range list {
		found = true
		scope := "(account)"
		if r.ConfigurationSet != "" {
			scope = "set " + r.ConfigurationSet
		}
		enforced := "yes"
		if !r.Enforced {
			enforced = fmt.Sprintf("no (below %d)", cfg.MinVolume)
		}
		fmt.Fprintf(w, "%s\t%s\t%s (%d/%d)\t%s (%d/%d)\t%s\t%d\t%s\t%s\t%s\n", scope, r.Status,
			reputation.Percent(r.BounceRate()), r.HardBounces, r.Sends, reputation.Percent(r.ComplaintRate()), r.Complaints, r.FeedbackSends,
			stamp(r.WindowStart), r.Sends, enforced, stamp(r.Evaluated), stamp(r.FreshStart))
	}
	if !found {
		fmt.Fprintf(w, "(account)\tHEALTHY\t-\t-\t-\t0\tno\tnever\t-\n")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nthresholds: bounce review %s, pause %s; complaint review %s, pause %s\n",
		reputation.Percent(cfg.BounceReview), reputation.Percent(cfg.BouncePause), reputation.Percent(cfg.ComplaintReview), reputation.Percent(cfg.ComplaintPause))
	fmt.Fprintf(stdout, "window: the latest %d counted sends, over at least %s and at most %s (defaults; see petrel serve's --reputation-* flags)\n",
		cfg.MinVolume, config.Duration(cfg.MinWindow), config.Duration(cfg.MaxWindow))
	changes, err := rep.History(ctx, acct, history)
	if err != nil || len(changes) == 0 {
		return err
	}
	fmt.Fprintln(stdout, "\nrecent changes:")
	w = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, c := range changes {
		scope := "(account)"
		if c.ConfigurationSet != "" {
			scope = "set " + c.ConfigurationSet
		}
		switch c.Kind {
		case "quota":
			fmt.Fprintf(w, "%s\t%s\t%s\tMax24HourSend %d -> %d, MaxSendRate %g -> %g\n", stamp(c.At), scope, c.Cause,
				c.OldMax24HourSend, c.NewMax24HourSend, c.OldMaxSendRate, c.NewMaxSendRate)
		default:
			detail := ""
			if c.Cause != "resume" {
				detail = fmt.Sprintf(", bounce %s (%d/%d), complaint %s (%d/%d) since %s", reputation.Percent(c.BounceRate()), c.HardBounces, c.Sends,
					reputation.Percent(c.ComplaintRate()), c.Complaints, c.FeedbackSends, stamp(c.WindowStart))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s -> %s%s\n", stamp(c.At), scope, c.Cause, c.From, c.To, detail)
		}
	}
	return w.Flush()
}

// stamp renders t in UTC to the minute ("-" for zero).
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}
