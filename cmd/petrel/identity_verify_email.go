package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

const verifyEmailUsage = "usage: petrel identity verify-email ADDRESS --account A [--resend] [--public-url URL] [--verification-from ADDRESS] [--hostname H]"

// identityVerifyEmailCmd is `petrel identity verify-email ADDRESS
// --account A [--resend]`: it prints whether the address identity is
// verified and its verification links (pending, when the last expires);
// --resend sends a new verification email (SES v1: calling
// VerifyEmailIdentity again), queued for the running petrel to deliver.
// The link is built on the running petrel serve's public URL, and the
// email sent from its verification sender (daemonFlags: the settings it
// recorded at start; --public-url and the others override them);
// docs/identities.md, "Email-address verification".
func identityVerifyEmailCmd(ctx context.Context, args []string, out io.Writer) error {
	var (
		acct   string
		resend bool
		df     daemonFlags
	)
	cfg, pos, err := adminFlags("identity verify-email", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.BoolVar(&resend, "resend", false, "send a new verification email (earlier links stay valid until they expire)")
		df.define(fs, "public-url", "verification-from", "hostname", "message-id-domain")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(verifyEmailUsage)
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	ds, err := df.apply(ctx, svc)
	if err != nil {
		return err
	}
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return err
	}
	id, err := svc.Identities.Get(ctx, acct, pos[0])
	if err != nil {
		return err
	}
	if id.Kind != identity.EmailAddress {
		return fmt.Errorf("%s is a domain: domains are verified by their DNS records, not by email", id.Name)
	}
	if resend {
		if err := resendVerification(ctx, svc, ds.Config, acct, id.Name); err != nil {
			return err
		}
		fmt.Fprintf(out, "sent a new verification email to %s; the running petrel delivers it\n", id.Name)
	}
	st, err := svc.Identities.Links(ctx, acct, id.Name, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s (account %s): verified=%v\n", id.Name, acct, id.Verified)
	switch {
	case st.Sent.IsZero():
		fmt.Fprintln(out, "no verification email sent")
	case st.Pending == 0:
		fmt.Fprintf(out, "last verification email sent %s; no link pending (used or expired)\n", st.Sent.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(out, "last verification email sent %s; %d link(s) pending, the last expires %s\n",
			st.Sent.UTC().Format(time.RFC3339), st.Pending, st.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// resendVerification queues a new verification email through a Sender
// of this process over the same store, as the daemon's AddressVerifier
// would with the settings of cfg (its public URL, sender, Message-ID
// domain, region, max-delivery-time): the entry is stored unleased and
// the running petrel's delivery poller takes it.
func resendVerification(ctx context.Context, svc *daemon.Services, cfg config.Config, acct, name string) error {
	batch := store.NewBatcher(svc.DB, 0, 0)
	bctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { batch.Run(bctx) })
	defer func() { stop(); wg.Wait() }()
	msgIDDomain := cfg.MessageIDDomain
	if msgIDDomain == "" {
		msgIDDomain = cfg.Hostname
	}
	sender := sending.New(sending.Config{MessageIDDomain: msgIDDomain, Region: cfg.Region, MaxDelivery: time.Duration(cfg.MaxDeliveryTime)},
		svc.Accounts, svc.Identities, svc.ConfigSets, svc.Queue, svc.Spool, svc.Events, batch)
	sender.Suppression = suppression.New(svc.DB, nil)
	v := &identity.AddressVerifier{Identities: svc.Identities, Mailer: sender, From: cfg.VerificationSender(), PublicURL: cfg.PublicBaseURL(),
		Region: cfg.Region}
	return v.SendVerification(ctx, acct, name)
}
