package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/quota"
)

// accountCmd is petrel account create|list|show|production|quota
// (docs/quotas.md) and reputation|resume (docs/reputation.md).
func accountCmd(ctx context.Context, args []string) error {
	return accountRun(ctx, args, os.Stdout)
}

func accountRun(ctx context.Context, args []string, out io.Writer) error {
	const usage = "usage: petrel account create NAME [--production] | list | show NAME | production NAME --grant|--deny | quota NAME [--max-24h-send N] [--max-send-rate R] | reputation NAME | resume NAME [--configuration-set SET]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "reputation", "resume":
		return accountReputationCmd(ctx, args, out)
	}
	def := config.Default()
	var production, grant, deny bool
	prodQuota := account.Quota{Max24HourSend: def.ProductionMax24hSend, MaxSendRate: def.ProductionMaxSendRate}
	var max24h int64
	var rate float64
	set := map[string]bool{}
	svc, pos, err := adminOpen(ctx, "account", args[1:], func(fs *flag.FlagSet) {
		fs.BoolVar(&production, "production", false, "create: with production access and the production quota, out of the sandbox")
		fs.BoolVar(&grant, "grant", false, "production: grant production access (the production quota)")
		fs.BoolVar(&deny, "deny", false, "production: deny the request")
		fs.Int64Var(&prodQuota.Max24HourSend, "production-max-24h-send", prodQuota.Max24HourSend, "create --production, production --grant: the production Max24HourSend (as serve's flag)")
		fs.Float64Var(&prodQuota.MaxSendRate, "production-max-send-rate", prodQuota.MaxSendRate, "create --production, production --grant: the production MaxSendRate (as serve's flag)")
		fs.Func("max-24h-send", "quota: recipients per rolling 24 hours (-1 = unlimited)", func(v string) error {
			set["max-24h-send"] = true
			var err error
			max24h, err = strconv.ParseInt(v, 10, 64)
			return err
		})
		fs.Func("max-send-rate", "quota: recipients per second (-1 = unlimited)", func(v string) error {
			set["max-send-rate"] = true
			var err error
			rate, err = strconv.ParseFloat(v, 64)
			return err
		})
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	svc.Accounts.ProductionQuota = prodQuota
	name := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("usage: petrel account %s NAME", args[0])
		}
		return pos[0], nil
	}
	switch args[0] {
	case "create":
		n, err := name()
		if err != nil {
			return err
		}
		a, err := svc.Accounts.CreateWith(ctx, n, account.CreateOptions{Production: production})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created account %s (sending account id %s), %s, quota %s\n", a.Name, a.SendingAccountID, access(a), quotaText(a.Quota))
		return nil
	case "list":
		list, err := svc.Accounts.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tACCOUNT ID\tACCESS\tQUOTA\tSENDING")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.SendingAccountID, access(a), quotaText(a.Quota), enabled(a.SendingEnabled))
		}
		return tw.Flush()
	case "show":
		n, err := name()
		if err != nil {
			return err
		}
		return showAccount(ctx, svc, n, out)
	case "production":
		n, err := name()
		if err != nil {
			return err
		}
		if grant == deny {
			return errors.New("usage: petrel account production NAME --grant|--deny")
		}
		a, err := svc.Accounts.DecideProduction(ctx, n, grant)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "account %s: production access %s (case %s); %s, quota %s\n", a.Name, strings.ToLower(a.Details.Review.Status),
			a.Details.Review.CaseID, access(a), quotaText(a.Quota))
		return nil
	case "quota":
		n, err := name()
		if err != nil {
			return err
		}
		a, err := svc.Accounts.Get(ctx, n)
		if err != nil {
			return err
		}
		q := a.Quota
		if set["max-24h-send"] {
			q.Max24HourSend = max24h
		}
		if set["max-send-rate"] {
			q.MaxSendRate = rate
		}
		if err := svc.Accounts.SetQuota(ctx, n, q); err != nil {
			return err
		}
		fmt.Fprintf(out, "account %s: quota %s (running nodes apply it within 5 s)\n", n, quotaText(q))
		return nil
	}
	return fmt.Errorf("unknown account command %q", args[0])
}

// showAccount prints an account as GetAccount shows it, for the operator.
func showAccount(ctx context.Context, svc *daemon.Services, name string, out io.Writer) error {
	a, err := svc.Accounts.Get(ctx, name)
	if err != nil {
		return err
	}
	// As GetAccount: package quota keeps no usage for an unlimited
	// account; the statistics counters have it (to the 15-minute bucket).
	var sent int64
	if a.Max24HourSend < 0 && a.MaxSendRate < 0 {
		sent, err = svc.Stats.Sent(ctx, name, time.Now().Add(-24*time.Hour))
	} else {
		sent, err = quota.New(svc.DB, quota.Config{}).SentLast24Hours(ctx, name)
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "account:\t%s (sending account id %s)\n", a.Name, a.SendingAccountID)
	fmt.Fprintf(tw, "access:\t%s\n", access(a))
	fmt.Fprintf(tw, "quota:\t%s\n", quotaText(a.Quota))
	if a.Max24HourSend >= 0 {
		fmt.Fprintf(tw, "sent last 24 h:\t%d of %d recipients\n", sent, a.Max24HourSend)
	} else {
		fmt.Fprintf(tw, "sent last 24 h:\t%d recipients\n", sent)
	}
	fmt.Fprintf(tw, "sending:\t%s\n", enabled(a.SendingEnabled))
	d := a.Details
	if d.MailType != "" {
		fmt.Fprintf(tw, "mail type:\t%s\n", d.MailType)
		fmt.Fprintf(tw, "website:\t%s\n", termText(d.WebsiteURL))
		if d.ContactLanguage != "" {
			fmt.Fprintf(tw, "contact language:\t%s\n", d.ContactLanguage)
		}
		if d.UseCaseDescription != "" {
			fmt.Fprintf(tw, "use case:\t%s\n", termText(d.UseCaseDescription))
		}
		if len(d.AdditionalContactEmailAddresses) > 0 {
			fmt.Fprintf(tw, "contacts:\t%s\n", termText(strings.Join(d.AdditionalContactEmailAddresses, ", ")))
		}
	}
	if r := d.Review; r.Status != "" {
		line := fmt.Sprintf("%s (case %s), asked %s", r.Status, r.CaseID, r.Requested.UTC().Format(time.RFC3339))
		if !r.Decided.IsZero() {
			line += ", decided " + r.Decided.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "production review:\t%s\n", line)
	}
	return tw.Flush()
}

func access(a account.Account) string {
	if a.ProductionAccessEnabled {
		return "production"
	}
	return "sandbox"
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "paused"
}

// quotaText is a quota in words: "200/24h, 1/s", "unlimited".
func quotaText(q account.Quota) string {
	day, sec := "unlimited/24h", "unlimited/s"
	if q.Max24HourSend >= 0 {
		day = strconv.FormatInt(q.Max24HourSend, 10) + "/24h"
	}
	if q.MaxSendRate >= 0 {
		sec = strconv.FormatFloat(q.MaxSendRate, 'f', -1, 64) + "/s"
	}
	if q.Max24HourSend < 0 && q.MaxSendRate < 0 {
		return "unlimited"
	}
	return day + ", " + sec
}
