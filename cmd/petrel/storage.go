package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/store"
)

// inboundCmd lists what arrived at the return path, with counts and sizes by
// kind and state (unattributed reports are kept and counted here), or, as
// petrel inbound purge, deletes some of it.
func inboundCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "purge" {
		return inboundPurgeCmd(ctx, args[1:], stdout)
	}
	var state string
	var limit int
	svc, _, err := adminOpen(ctx, "inbound", args, func(fs *flag.FlagSet) {
		fs.StringVar(&state, "state", "", "only messages in this state: attributed, unattributed, ignored, duplicate, unsubscribe")
		fs.IntVar(&limit, "limit", 20, "how many recent messages to list")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	st := inbound.NewStore(svc.DB)
	use, err := st.Usage(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATE\tCOUNT\tBODIES\tREPORTS")
	for _, u := range use {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", orDash(u.Kind), orDash(u.State), u.Rows, size(u.BodyBytes), size(u.ReportBytes))
	}
	tw.Flush()
	if used, err := st.Budget(ctx); err == nil {
		fmt.Fprintf(stdout, "stored return-path bodies: %s (inbound-body-budget bounds it)\n", size(used))
	}
	list, err := st.Recent(ctx, state, limit)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tKIND\tSTATE\tMESSAGE\tFROM\tBODY")
	for _, e := range list {
		body := size(e.BodyBytes)
		if e.BodyBytes == 0 {
			body = "dropped"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Received.UTC().Format(time.RFC3339), orDash(e.Kind), orDash(e.State),
			orDash(e.MessageID), orDash(e.MailFrom), body)
	}
	return tw.Flush()
}

// inboundPurgeCmd: petrel inbound purge [--state S] [--before DURATION] [--all].
func inboundPurgeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	var state string
	var before config.Duration
	var all bool
	cfg, pos, err := adminFlags("inbound purge", args, func(fs *flag.FlagSet) {
		fs.StringVar(&state, "state", "", "only messages in this state: attributed, unattributed, ignored, duplicate, unsubscribe")
		fs.Var(&before, "before", "only messages received longer ago than this, e.g. 7d or 12h")
		fs.BoolVar(&all, "all", false, "purge every message (needed when neither --state nor --before is given)")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %v", pos)
	}
	switch state {
	case "", inbound.StateAttributed, inbound.StateUnattributed, inbound.StateIgnored, inbound.StateDuplicate, inbound.StateUnsubscribe:
	default:
		return fmt.Errorf("--state: unknown state %q (attributed, unattributed, ignored, duplicate, unsubscribe)", state)
	}
	if state == "" && before == 0 && !all {
		return errors.New("petrel inbound purge: give --state, --before or --all")
	}
	if before < 0 {
		return errors.New("--before: must not be negative")
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	var cutoff time.Time
	if before > 0 {
		cutoff = time.Now().Add(-time.Duration(before))
	}
	n, err := inbound.NewStore(svc.DB).Purge(ctx, state, cutoff, 500)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d inbound messages\n", n)
	return nil
}

// storageCmd: petrel storage — rows and bytes of what Petrel stores, by kind.
func storageCmd(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, pos, err := adminFlags("storage", args, nil)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %v", pos)
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	pendRows, pendBytes, recRows, recBytes, err := svc.Spool.Usage(ctx)
	if err != nil {
		return err
	}
	evRows, evBytes, err := svc.Events.Usage(ctx)
	if err != nil {
		return err
	}
	use, err := inbound.NewStore(svc.DB).Usage(ctx)
	if err != nil {
		return err
	}
	upRows, upBytes, err := importjob.UploadUsage(ctx, svc.DB)
	if err != nil {
		return err
	}
	byState := map[string][2]int64{}
	var states []string
	for _, u := range use {
		if _, ok := byState[u.State]; !ok {
			states = append(states, u.State)
		}
		v := byState[u.State]
		byState[u.State] = [2]int64{v[0] + u.Rows, v[1] + u.BodyBytes + u.ReportBytes}
	}
	fmt.Fprintf(stdout, "%10s %14s %10s  %s\n", "ROWS", "BYTES", "", "KIND")
	line := func(rows, bytes int64, kind string) {
		fmt.Fprintf(stdout, "%10d %14d %10s  %s\n", rows, bytes, size(bytes), kind)
	}
	line(pendRows, pendBytes, "message bodies pending delivery")
	line(recRows, recBytes, "message records (mail object and body; retention-messages)")
	line(evRows, evBytes, "events (retention-events)")
	for _, s := range states {
		line(byState[s][0], byState[s][1], "inbound mail, "+orDash(s)+" (body and report; retention-inbound)")
	}
	line(upRows, upBytes, fmt.Sprintf("suppression import uploads (kept %d days, at most %d MiB an account)",
		importjob.UploadTTL/(24*time.Hour), importjob.MaxUploadBytes>>20))
	if svc.DB.Dialect == store.SQLite && cfg.Database == "" {
		var total int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(filepath.Join(cfg.DataDir, "petrel.db"+suffix)); err == nil {
				total += fi.Size()
			}
		}
		fmt.Fprintf(stdout, "\ndatabase files (%s): %s\n", filepath.Join(cfg.DataDir, "petrel.db*"), size(total))
	}
	return nil
}

// size writes a byte count for people: 512 B, 1.5 KiB, 64.0 MiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
