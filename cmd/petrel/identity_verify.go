package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/dmarc"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/resolver"
)

// identityCheckCmd is `petrel identity check NAME --account A [petrel
// serve's --dns, --dkim-cname-zone, --return-path-domain, --hostname,
// --mail-from-mx, --spf-include, --verify-*]`: it looks every verification
// record of the identity up now (identity.Checker.Check; a FAILED record
// starts a new 72-hour window) and prints, per record, its name, type,
// what it must hold, what DNS returned, its state and why — which record
// is missing or wrong, as SES never says. DNS text is printed through
// termText: it comes from whoever controls the zone. The settings are the
// running daemon's (daemonFlags); a flag that changes one of them makes
// the check report-only (identity.Checker.Preview): the records keep the
// daemon's verdicts.
func identityCheckCmd(ctx context.Context, args []string, out io.Writer) error {
	var acct string
	var df daemonFlags
	cfg, pos, err := adminFlags("identity check", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		df.define(fs, checkSettings...)
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: petrel identity check NAME --account A [--dns HOST:PORT] [--dkim-cname-zone ZONE] [--return-path-domain D] [--mail-from-mx H] [--spf-include D] [--verify-* D]")
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
	c, err := svc.Checker(ds.Config, nil)
	if err != nil {
		return err
	}
	ds.describe(out)
	check := c.Check
	if o := ds.overrides(checkSettings); len(o) > 0 {
		fmt.Fprintf(out, "report only, nothing saved: --%s differs from the running petrel serve's\n", strings.Join(o, ", --"))
		check = c.Preview
	}
	rep, err := check(ctx, acct, pos[0])
	if err != nil {
		return err
	}
	printCheckReport(out, rep)
	in, err := dmarcInput(ctx, svc.Identities, acct, rep, ds.ReturnPathHost())
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	rp, err := dmarc.Evaluate(ctx, dmarcLookup(c.DNS), in)
	if err != nil {
		return err
	}
	_, err = rp.WriteTo(out)
	return err
}

// dmarcInput is what mail from the identity carries now, for the DMARC
// report: its From domain; the d= Petrel signs it with (the key of the
// domain or of a parent domain, identity.Service.KeyFor), counted only
// while that key's DNS record is verified (SUCCESS, or missing but within
// its grace); and its envelope MAIL FROM domain as the send path chooses it
// (identity.Service.MailFromFor), with the custom MAIL FROM domain
// configured on the identity (or on an address's domain), verified or not.
func dmarcInput(ctx context.Context, ids *identity.Service, account string, rep identity.Report, returnPath string) (dmarc.Input, error) {
	in := dmarc.Input{From: rep.Identity, MailFrom: returnPath}
	from := address.Address{Local: "postmaster", Domain: rep.Identity}
	names := []string{rep.Identity}
	if i := strings.LastIndexByte(rep.Identity, '@'); i >= 0 {
		in.From = rep.Identity[i+1:]
		from = address.Address{Local: rep.Identity[:i], Domain: in.From}
		names = append(names, in.From)
	}
	dom, key, ok, err := ids.KeyFor(ctx, account, from)
	if err != nil {
		return in, err
	}
	if ok {
		r, err := ids.RecordStatus(ctx, account, dom, identity.PurposeDKIM, identity.DKIMRecordName(key.Selector, dom))
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			return in, err
		}
		if r.Status == identity.StatusSuccess || r.Status == identity.StatusTemporaryFailure && !r.LastSuccess.IsZero() {
			in.DKIMDomains = []string{dom}
		} else {
			in.DKIMUnverified = []string{dom}
		}
	}
	mf, _, ok, err := ids.MailFromFor(ctx, account, from)
	if err != nil {
		return in, err
	}
	if ok && mf.Domain != "" && mf.Status == identity.StatusSuccess {
		in.MailFrom = mf.Domain
	}
	for _, n := range names {
		mf, err := ids.GetMailFrom(ctx, account, n)
		if errors.Is(err, identity.ErrNotFound) {
			continue
		}
		if err != nil {
			return in, err
		}
		if mf.Domain != "" {
			in.CustomMailFrom = mf.Domain
			break
		}
	}
	return in, nil
}

// dmarcLookup adapts the resolver to dmarc.LookupTXT: a name that does not
// exist or has no TXT record is dmarc.ErrNoRecord, any other failure a DNS
// failure the report states.
func dmarcLookup(r *resolver.Resolver) dmarc.LookupTXT {
	return func(ctx context.Context, name string) ([]string, error) {
		txt, err := r.TXT(ctx, name)
		if errors.Is(err, resolver.ErrNXDomain) || errors.Is(err, resolver.ErrNoData) {
			return nil, fmt.Errorf("%s: %w", name, dmarc.ErrNoRecord)
		}
		return txt, err
	}
}

// printCheckReport writes a Check report: the identity's verdict, then one
// block per record.
func printCheckReport(out io.Writer, rep identity.Report) {
	why := "by its DNS records"
	switch {
	case rep.Vouched:
		why = "by the operator's vouch"
	case !rep.Verified:
		why = "not verified"
	}
	if rep.Verified {
		fmt.Fprintf(out, "%s (%s): verified %s\n", rep.Identity, rep.Kind, why)
	} else {
		fmt.Fprintf(out, "%s (%s): %s\n", rep.Identity, rep.Kind, why)
	}
	if len(rep.Records) == 0 {
		fmt.Fprintln(out, "no DNS records to check")
	}
	for _, r := range rep.Records {
		fmt.Fprintf(out, "\n%s %s %s\n", r.Purpose, r.Name, r.Type)
		fmt.Fprintf(out, "  expected: %s\n", termText(r.Expected))
		found := r.Found
		if found == "" {
			found = "-"
		}
		fmt.Fprintf(out, "  found:    %s\n", termText(found))
		status := r.Status
		if r.ErrorType != "" {
			status += " (" + r.ErrorType + ")"
		}
		if !r.MissingSince.IsZero() {
			status += ", missing since " + r.MissingSince.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(out, "  status:   %s\n", status)
		if r.Detail != "" {
			fmt.Fprintf(out, "  error:    %s\n", termText(r.Detail))
		}
	}
}

// printDKIM writes the DNS records to publish for a domain's DKIM key, in
// the publication style of zone (--dkim-cname-zone; Easy DKIM keys only),
// and the domain's `_amazonses` token, which verifies it too.
func printDKIM(out io.Writer, domain string, d identity.DKIM, zone, token string) {
	domain = strings.ToLower(domain)
	name := identity.DKIMRecordName(d.Selector, domain)
	fmt.Fprintf(out, "DKIM (%s, %s key, signing enabled=%v): publish\n", d.Origin, d.Algorithm, d.SigningEnabled)
	if zone != "" && d.Origin == identity.OriginEasy {
		target := d.Selector + "." + zone
		fmt.Fprintf(out, "  %s CNAME %s\nand, in the zone %s,\n  %s TXT \"%s\"\n", name, target, zone, target, d.Record)
	} else {
		fmt.Fprintf(out, "  %s TXT \"%s\"\n", name, d.Record)
	}
	if token != "" {
		fmt.Fprintf(out, "or, to verify the domain without DKIM,\n  %s TXT \"%s\"\n", identity.TokenRecordName(domain), token)
	}
}
