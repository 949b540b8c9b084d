package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/suppression"
)

const suppressionUsage = "usage: petrel suppression list|get|add|remove|import|export|attributes|global [ADDRESS] [--account A] (petrel suppression --help)"

// suppressionCmd: petrel suppression list | get | add | remove | export |
// attributes, on one account's suppression list (docs/suppression.md), the
// list the API's …/suppression/addresses operations manage.
func suppressionCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(suppressionUsage)
	}
	switch args[0] {
	case "global":
		return suppressionGlobalCmd(ctx, args[1:], stdout)
	case "import":
		return suppressionImportTo(ctx, args[1:], stdout)
	}
	var (
		acct, reasons, since, until, format, out, setReasons, soft string
		asJSON                                                     bool
	)
	now := time.Now()
	svc, pos, err := adminOpen(ctx, "suppression "+args[0], args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "the account whose list it is")
		fs.StringVar(&reasons, "reason", "", "list/export: only entries of these reasons (BOUNCE, COMPLAINT, or both comma-separated); add: the reason")
		fs.StringVar(&since, "since", "", "list/export: only entries last updated at or after this time (2026-01-02, 2026-01-02T15:04:05Z, or a duration ago: 7d, 12h)")
		fs.StringVar(&until, "until", "", "list/export: only entries last updated at or before this time (same forms as --since)")
		fs.BoolVar(&asJSON, "json", false, "list: print one JSON object per entry")
		fs.StringVar(&format, "format", "csv", "export: csv (address,reason) or json (newline-delimited {\"emailAddress\",\"reason\"}), as SES's import job reads them")
		fs.StringVar(&out, "out", "", "export: write to this file instead of standard output")
		fs.StringVar(&setReasons, "reasons", "", "attributes: set the reasons that add addresses automatically: BOUNCE,COMPLAINT, one of them, or none")
		fs.StringVar(&soft, "soft-bounce", "", "attributes: set the soft-bounce policy, COUNT/WINDOW/FOR[:reason,...] (3/72h/7d:mailbox-full), or off")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return fmt.Errorf("account %s: %w", acct, err)
	}
	list := suppression.New(svc.DB, nil)
	oneAddress := func() (address.Address, error) {
		if len(pos) != 1 {
			return address.Address{}, fmt.Errorf("usage: petrel suppression %s ADDRESS [--account A]", args[0])
		}
		return address.ParseMailbox(pos[0])
	}
	filter := func() (suppression.Filter, error) {
		var f suppression.Filter
		var err error
		if reasons != "" {
			if f.Reasons, err = parseReasons(reasons); err != nil {
				return f, fmt.Errorf("--reason: %w", err)
			}
		}
		if f.Start, err = parseWhen(since, now); err != nil {
			return f, fmt.Errorf("--since: %w", err)
		}
		if f.End, err = parseWhen(until, now); err != nil {
			return f, fmt.Errorf("--until: %w", err)
		}
		if len(pos) > 0 {
			return f, fmt.Errorf("unexpected arguments: %v", pos)
		}
		return f, nil
	}
	switch args[0] {
	case "list":
		f, err := filter()
		if err != nil {
			return err
		}
		return listSuppressed(ctx, list, acct, f, asJSON, stdout)
	case "export":
		f, err := filter()
		if err != nil {
			return err
		}
		if format != "csv" && format != "json" {
			return fmt.Errorf("--format: %q is not csv or json", format)
		}
		w := stdout
		if out != "" {
			file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		n, err := exportSuppressed(ctx, list, acct, f, format, w)
		if err != nil {
			return err
		}
		if out != "" {
			fmt.Fprintf(stdout, "exported %d addresses of account %s to %s\n", n, acct, out)
		}
		return nil
	case "get":
		a, err := oneAddress()
		if err != nil {
			return err
		}
		e, err := list.Get(ctx, acct, a)
		if errors.Is(err, suppression.ErrNotFound) {
			return fmt.Errorf("%s is not on the suppression list of account %s", a.Email(), acct)
		}
		if err != nil {
			return err
		}
		printEntry(stdout, e)
		return nil
	case "add":
		a, err := oneAddress()
		if err != nil {
			return err
		}
		r, err := suppression.ParseReason(strings.ToUpper(reasons))
		if err != nil {
			return fmt.Errorf("--reason: %w", err)
		}
		if err := list.Put(ctx, acct, suppression.Entry{Address: a, Reason: r, Cause: "petrel suppression add"}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to the suppression list of account %s (%s)\n", a.Email(), acct, r)
		return nil
	case "remove":
		a, err := oneAddress()
		if err != nil {
			return err
		}
		err = list.Delete(ctx, acct, a)
		if errors.Is(err, suppression.ErrNotFound) {
			return fmt.Errorf("%s is not on the suppression list of account %s", a.Email(), acct)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s from the suppression list of account %s\n", a.Email(), acct)
		return nil
	case "attributes":
		if len(pos) > 0 {
			return fmt.Errorf("unexpected arguments: %v", pos)
		}
		p, err := list.Attributes(ctx, acct)
		if err != nil {
			return err
		}
		if setReasons != "" || soft != "" {
			if setReasons == "none" {
				p.Reasons = []suppression.Reason{}
			} else if setReasons != "" {
				if p.Reasons, err = parseReasons(setReasons); err != nil {
					return fmt.Errorf("--reasons: %w", err)
				}
			}
			if soft != "" {
				if p.SoftBounce, err = parseSoftBounce(soft); err != nil {
					return fmt.Errorf("--soft-bounce: %w", err)
				}
			}
			if soft != "" && p.SoftBounce != nil && !p.Has(suppression.Bounce) {
				return fmt.Errorf("--soft-bounce: the soft-bounce policy needs BOUNCE among the suppressed reasons (it lists addresses with reason BOUNCE); give --reasons BOUNCE or BOUNCE,COMPLAINT, or --soft-bounce off")
			}
			if err := list.SetAttributes(ctx, acct, p); err != nil {
				return err
			}
		}
		printAttributes(stdout, acct, p)
		return nil
	}
	return fmt.Errorf("petrel suppression: unknown subcommand %q", args[0])
}

// parseReasons parses "BOUNCE", "COMPLAINT" or both comma-separated (any
// case), without repeats.
func parseReasons(s string) ([]suppression.Reason, error) {
	var out []suppression.Reason
	for _, v := range strings.Split(s, ",") {
		r, err := suppression.ParseReason(strings.ToUpper(strings.TrimSpace(v)))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseWhen parses --since/--until: "" (no bound), a date (midnight UTC),
// an RFC 3339 time, or a duration (config.Duration: "7d", "12h") before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	var d config.Duration
	if err := d.Set(s); err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not a date (2026-01-02), a time (2026-01-02T15:04:05Z) or a duration ago (7d)", s)
	}
	return now.Add(-time.Duration(d)), nil
}

// parseSoftBounce parses COUNT/WINDOW/FOR[:reason,...] — COUNT Transient
// bounces within WINDOW suppress the address for FOR; the reasons, if
// given, limit the bounces counted (bounce-rule reasons) — or "off".
func parseSoftBounce(s string) (*suppression.SoftBounce, error) {
	if s == "off" {
		return nil, nil
	}
	spec, reasons, hasReasons := strings.Cut(s, ":")
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%q: want COUNT/WINDOW/FOR[:reason,...], e.g. 3/72h/7d:mailbox-full, or off", s)
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil {
		return nil, fmt.Errorf("count %q is not a number", parts[0])
	}
	var window, suppressFor config.Duration
	if err := window.Set(parts[1]); err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	if err := suppressFor.Set(parts[2]); err != nil {
		return nil, fmt.Errorf("suppression time: %w", err)
	}
	sb := &suppression.SoftBounce{Count: n, Window: time.Duration(window), SuppressFor: time.Duration(suppressFor)}
	if hasReasons {
		for _, r := range strings.Split(reasons, ",") {
			sb.Reasons = append(sb.Reasons, strings.TrimSpace(r))
		}
	}
	return sb, sb.Validate()
}

// eachSuppressed calls fn for every entry of account's list matching f, a
// page of 1,000 at a time.
func eachSuppressed(ctx context.Context, list *suppression.List, account string, f suppression.Filter, fn func(suppression.Entry) error) error {
	f.PageSize = suppression.MaxPageSize
	for {
		page, next, err := list.ListPage(ctx, account, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.NextToken = next
	}
}

// suppressedJSON is an entry as petrel suppression list --json prints it.
type suppressedJSON struct {
	EmailAddress string `json:"emailAddress"`
	Reason       string `json:"reason"`
	LastUpdate   string `json:"lastUpdateTime"`       // RFC 3339, UTC
	Expires      string `json:"expiresAt,omitempty"`  // RFC 3339, UTC; only for an entry that lifts by itself
	MessageID    string `json:"messageId,omitempty"`  // the message whose outcome added it
	FeedbackID   string `json:"feedbackId,omitempty"` // that outcome's feedbackId
	Cause        string `json:"cause,omitempty"`
}

func listSuppressed(ctx context.Context, list *suppression.List, account string, f suppression.Filter, asJSON bool, stdout io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return eachSuppressed(ctx, list, account, f, func(e suppression.Entry) error {
			j := suppressedJSON{EmailAddress: e.Address.Email(), Reason: string(e.Reason), LastUpdate: rfc3339(e.LastUpdate),
				MessageID: e.MessageID, FeedbackID: e.FeedbackID, Cause: e.Cause}
			if !e.Expires.IsZero() {
				j.Expires = rfc3339(e.Expires)
			}
			return enc.Encode(j)
		})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tREASON\tLAST UPDATE\tEXPIRES\tCAUSE")
	n := 0
	err := eachSuppressed(ctx, list, account, f, func(e suppression.Entry) error {
		n++
		expires := "never"
		if !e.Expires.IsZero() {
			expires = rfc3339(e.Expires)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", termText(e.Address.Email()), termText(string(e.Reason)), rfc3339(e.LastUpdate), expires, orDash(termText(e.Cause)))
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d addresses on the suppression list of account %s\n", n, termText(account))
	return err
}

// exportSuppressed writes the entries in a form SES's CreateImportJob
// (SuppressionListImportAction PUT) reads: CSV rows
// "address,reason" without a header, or newline-delimited JSON
// {"emailAddress","reason"}. It returns how many it wrote.
func exportSuppressed(ctx context.Context, list *suppression.List, account string, f suppression.Filter, format string, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	n := 0
	var write func(e suppression.Entry) error
	if format == "json" {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(e suppression.Entry) error {
			return enc.Encode(struct {
				EmailAddress string `json:"emailAddress"`
				Reason       string `json:"reason"`
			}{e.Address.Email(), string(e.Reason)})
		}
	} else {
		cw := csv.NewWriter(bw)
		write = func(e suppression.Entry) error {
			cw.Write([]string{e.Address.Email(), string(e.Reason)})
			cw.Flush()
			return cw.Error()
		}
	}
	err := eachSuppressed(ctx, list, account, f, func(e suppression.Entry) error { n++; return write(e) })
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

func printEntry(w io.Writer, e suppression.Entry) {
	fmt.Fprintf(w, "address:      %s\nreason:       %s\nlast update:  %s\n", termText(e.Address.Email()), termText(string(e.Reason)), rfc3339(e.LastUpdate))
	if e.Expires.IsZero() {
		fmt.Fprintln(w, "expires:      never")
	} else {
		fmt.Fprintf(w, "expires:      %s\n", rfc3339(e.Expires))
	}
	if e.MessageID != "" {
		fmt.Fprintf(w, "message id:   %s\n", termText(e.MessageID))
	}
	if e.FeedbackID != "" {
		fmt.Fprintf(w, "feedback id:  %s\n", termText(e.FeedbackID))
	}
	if e.Cause != "" {
		fmt.Fprintf(w, "cause:        %s\n", termText(e.Cause))
	}
}

func printAttributes(w io.Writer, account string, p suppression.Policy) {
	fmt.Fprintf(w, "account %s\n", account)
	if len(p.Reasons) == 0 {
		fmt.Fprintln(w, "suppressed reasons: none (nothing is added automatically)")
	} else {
		rs := make([]string, len(p.Reasons))
		for i, r := range p.Reasons {
			rs[i] = string(r)
		}
		fmt.Fprintf(w, "suppressed reasons: %s\n", strings.Join(rs, ","))
	}
	sb := p.SoftBounce
	if sb == nil {
		fmt.Fprintln(w, "soft-bounce policy: off")
		return
	}
	spec := fmt.Sprintf("%d/%s/%s", sb.Count, shortDuration(sb.Window), shortDuration(sb.SuppressFor))
	counted := "Transient bounces"
	if len(sb.Reasons) > 0 {
		spec += ":" + strings.Join(sb.Reasons, ",")
		counted = "Transient bounces of reason " + strings.Join(sb.Reasons, ", ")
	}
	fmt.Fprintf(w, "soft-bounce policy: %s (%d %s within %s suppress the address for %s)\n",
		spec, sb.Count, counted, shortDuration(sb.Window), shortDuration(sb.SuppressFor))
}

// shortDuration writes d as --soft-bounce takes it: whole days as "7d",
// whole hours as "36h", anything else as time.Duration does.
func shortDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) != 0 && d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return config.Duration(d).String()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
