package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/store"
)

// TestInboundPurgeAndStorage: petrel storage shows what return-path mail
// takes, by state; petrel inbound purge deletes by state and refuses to
// delete everything without --all.
func TestInboundPurgeAndStorage(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	batch := store.NewBatcher(svc.DB, 0, 0)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { batch.Run(ctx); close(done) }()
	rules, err := bounce.NewClassifier("")
	if err != nil {
		t.Fatal(err)
	}
	be := &inbound.Backend{DB: svc.DB, Batch: batch, Spool: svc.Spool, Events: svc.Events, Rules: rules, Domain: "b.test",
		VERPSecret: []byte("k"), Log: slog.New(slog.DiscardHandler)}
	rcpt := []inbound.Rcpt{{Addr: "postmaster@b.test"}}
	for i := range 3 {
		if _, err := be.Receive(t.Context(), "", rcpt, fmt.Appendf(nil, "Subject: hello %d\r\n\r\nnot a report\r\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	stray := "From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n<who@else.test>: 550 5.1.1 user unknown\r\n"
	if _, err := be.Receive(t.Context(), "", rcpt, []byte(stray)); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	svc.Close()

	run := func(f func(context.Context, []string, *bytes.Buffer) error, args ...string) (string, error) {
		var out bytes.Buffer
		err := f(t.Context(), append(args, "--data-dir", dir), &out)
		return out.String(), err
	}
	storage := func(ctx context.Context, args []string, out *bytes.Buffer) error { return storageCmd(ctx, args, out) }
	inboundC := func(ctx context.Context, args []string, out *bytes.Buffer) error { return inboundCmd(ctx, args, out) }

	out, err := run(storage)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"message bodies pending delivery", "events (retention-events)", "inbound mail, ignored", "inbound mail, unattributed", "database files"} {
		if !strings.Contains(out, want) {
			t.Errorf("petrel storage lacks %q:\n%s", want, out)
		}
	}
	if line := lineWith(out, "inbound mail, ignored"); !strings.HasPrefix(strings.TrimSpace(line), "3 ") {
		t.Errorf("ignored line: %q, want 3 rows", line)
	}
	if _, err := run(inboundC, "purge"); err == nil || !strings.Contains(err.Error(), "--all") {
		t.Errorf("purge without a selection: %v, want a refusal naming --all", err)
	}
	if _, err := run(inboundC, "purge", "--state", "bogus"); err == nil {
		t.Error("purge --state bogus accepted")
	}
	if out, err := run(inboundC, "purge", "--state", "ignored"); err != nil || !strings.Contains(out, "purged 3 ") {
		t.Errorf("purge --state ignored: %q, %v", out, err)
	}
	if out, err := run(inboundC, "purge", "--before", "1d"); err != nil || !strings.Contains(out, "purged 0 ") {
		t.Errorf("purge --before 1d of mail received now: %q, %v", out, err)
	}
	out, err = run(storage)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "inbound mail, ignored") || !strings.Contains(out, "inbound mail, unattributed") {
		t.Errorf("after purging ignored mail:\n%s", out)
	}
	if out, err := run(inboundC, "purge", "--all"); err != nil || !strings.Contains(out, "purged 1 ") {
		t.Errorf("purge --all: %q, %v", out, err)
	}
	if out, err := run(inboundC); err != nil || !strings.Contains(out, "KIND") {
		t.Errorf("petrel inbound: %q, %v", out, err)
	}
}

func lineWith(s, sub string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestStorageShowsImportUploads: petrel storage counts the files uploaded
// for suppression import jobs (petrel suppression import stores one), rows
// and bytes.
func TestStorageShowsImportUploads(t *testing.T) {
	dir := t.TempDir()
	svc := openServices(t, dir)
	if _, err := svc.Accounts.Create(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	data := "a@x.example,BOUNCE\nb@x.example,COMPLAINT\n"
	file := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := suppressionImportTo(t.Context(), []string{file, "--account", "acme", "--data-dir", dir}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	out.Reset()
	if err := storageCmd(t.Context(), []string{"--data-dir", dir}, &out); err != nil {
		t.Fatal(err)
	}
	line := lineWith(out.String(), "suppression import uploads")
	if f := strings.Fields(line); len(f) < 2 || f[0] != "1" || f[1] != strconv.Itoa(len(data)) {
		t.Errorf("import uploads line %q, want 1 row of %d bytes:\n%s", line, len(data), out.String())
	}
}
