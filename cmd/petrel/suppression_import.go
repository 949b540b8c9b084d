package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/suppression"
)

// suppressionImportUsage is the usage line of petrel suppression import.
const suppressionImportUsage = "usage: petrel suppression import FILE [--account A] [--action PUT|DELETE] [--format csv|json]"

// suppressionImportTo runs petrel suppression import FILE [--account A]
// [--action PUT|DELETE] [--format csv|json]: an import job into the
// account's suppression list (SES: CreateImportJob), run in this process, writing to out.
// FILE is stored as an upload of the account (kept importjob.UploadTTL)
// and the job reads it, so the job and its failed records show in
// GetImportJob and ListImportJobs like any other. It prints progress after
// each batch, then the final counts and the failed records with their
// lines. --format defaults to json for .json, .jsonl and .ndjson files,
// csv otherwise. A FAILED job (over SES's limits, an unreadable file) is an
// error.
func suppressionImportTo(ctx context.Context, args []string, out io.Writer) error {
	acct, action, format := daemon.DefaultAccount, "PUT", ""
	cfg, pos, err := adminFlags("suppression import", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", acct, "account whose suppression list to change")
		fs.StringVar(&action, "action", action, "PUT (add or overwrite) or DELETE (remove)")
		fs.StringVar(&format, "format", format, "csv or json (newline-delimited); default: json for .json, .jsonl and .ndjson files, else csv")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(suppressionImportUsage)
	}
	file := pos[0]
	act := importjob.Action(strings.ToUpper(action))
	if act != importjob.Put && act != importjob.Delete {
		return fmt.Errorf("--action %q: use PUT or DELETE", action)
	}
	if format == "" {
		format = "csv"
		switch strings.ToLower(filepath.Ext(file)) {
		case ".json", ".jsonl", ".ndjson":
			format = "json"
		}
	}
	f := importjob.Format(strings.ToUpper(format))
	if f != importjob.CSV && f != importjob.JSON {
		return fmt.Errorf("--format %q: use csv or json", format)
	}
	data, err := readImportFile(file)
	if err != nil {
		return err
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return fmt.Errorf("account %s: %w", acct, err)
	}
	imports, err := importjob.New(svc.DB, suppression.New(svc.DB, nil), importjob.Config{Owner: "cli"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	up, err := imports.Upload(ctx, acct, uploadName(file), data)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "importing %s (%d bytes, %s) into the suppression list of %s: %s\n", file, len(data), f, acct, act)
	j, err := imports.Import(ctx, acct, act, up.URL(), f, func(j importjob.Job) {
		fmt.Fprintf(out, "  %d records done, %d failed\n", j.Processed, j.Failed)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "job %s %s: %d records processed, %d failed\n", j.ID, j.Status, j.Processed, j.Failed)
	if j.Status == importjob.Failed {
		return fmt.Errorf("import job %s failed: %s", j.ID, j.ErrorMessage)
	}
	if j.Failed > 0 {
		fails, err := imports.FailedRecords(ctx, acct, j.ID)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "failed records:")
		for _, fl := range fails {
			fmt.Fprintf(out, "  line %d: %s: %s\n", fl.Line, fl.Record, fl.Error)
		}
		if j.Failed > len(fails) {
			fmt.Fprintf(out, "  (the first %d of %d shown)\n", len(fails), j.Failed)
		}
	}
	return nil
}

// readImportFile reads file, refusing one over importjob.MaxData bytes.
func readImportFile(file string) ([]byte, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, importjob.MaxData+1))
	if err != nil {
		return nil, err
	}
	if len(data) > importjob.MaxData {
		return nil, fmt.Errorf("%s is larger than %d bytes: split it", file, importjob.MaxData)
	}
	return data, nil
}

// uploadName is the file's base name as an upload name: characters other
// than letters, digits, '.', '_' and '-' become '_'; at most 256.
func uploadName(file string) string {
	name := []rune(filepath.Base(file))
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			name[i] = '_'
		}
	}
	return string(name[:min(len(name), 256)])
}
