package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
)

// BenchmarkSMTPIngest is SMTP DATA ingest end to end on SQLite: one
// persistent plain-SMTP connection from a network credential sends a 5 KB
// message per op (MAIL, RCPT, DATA, final 250 after the durable commit) to
// the mailbox simulator, so delivery costs no network.
func BenchmarkSMTPIngest(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.HTTP, cfg.SMTP, cfg.SMTPS, cfg.Inbound = "127.0.0.1:0", "127.0.0.1:0", "", ""
	cfg.Hostname = "petrel.test"
	d, err := daemon.New(b.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	svc := d.Services()
	if _, err := svc.Identities.Create(b.Context(), "default", "example.com", true); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Accounts.AddNetwork(b.Context(), "default", "127.0.0.0/8"); err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", d.Addr("smtp"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	expect := func(code string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if !strings.HasPrefix(line, code) {
				b.Fatalf("got %q, want %s", line, code)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	cmd := func(line, code string) {
		fmt.Fprintf(w, "%s\r\n", line)
		w.Flush()
		expect(code)
	}
	expect("220")
	cmd("EHLO bench.example", "250")
	body := "From: Sender <sender@example.com>\r\nTo: success@simulator.amazonses.com\r\nSubject: weekly\r\n\r\n" +
		strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 62) + ".\r\n"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		cmd("MAIL FROM:<sender@example.com>", "250")
		cmd("RCPT TO:<success@simulator.amazonses.com>", "250")
		cmd("DATA", "354")
		w.WriteString(body)
		w.Flush()
		expect("250")
	}
}
