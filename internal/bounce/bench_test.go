package bounce

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// BenchmarkClassify classifies a mix of real-world SMTP replies, as delivery
// does for every failed attempt.
func BenchmarkClassify(b *testing.B) {
	lines := []string{
		"550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
		"452 4.2.2 The email account that you tried to reach is over quota.",
		"550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus",
		"421 4.7.0 Try again later, closing connection.",
		"552 5.3.4 Message size exceeds fixed maximum message size",
		"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
	}
	replies := make([]smtpreply.Reply, len(lines))
	for i, l := range lines {
		r, err := smtpreply.Parse(l)
		if err != nil {
			b.Fatal(err)
		}
		replies[i] = r
	}
	rules := Builtin()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rules.Classify(AnswerOf(replies[i%len(replies)]))
		i++
	}
}

// hostileReports are messages built to cost a parser as much as possible
// for their size: the inbound receiver accepts 10 MB, and postmaster@ takes
// mail from anyone.
func hostileReports() map[string][]byte {
	var distinct, failedHeaders strings.Builder
	for i := 0; distinct.Len() < 10<<20; i++ {
		fmt.Fprintf(&distinct, "<u%d@example.com>: 550 user unknown\r\n", i)
		fmt.Fprintf(&failedHeaders, "X-Failed-Recipients: u%d@example.com\r\n", i)
	}
	var noAnswer, noAnswerUTF8 strings.Builder
	for i := 0; noAnswer.Len() < 2<<20; i++ {
		fmt.Fprintf(&noAnswer, "<u%d@x.test>: mailbox problem here\r\n", i)
		fmt.Fprintf(&noAnswerUTF8, "<jürgen%d@例子.test>: ü\r\n", i)
	}
	var longDiags strings.Builder
	for i := 0; longDiags.Len() < 2<<20; i++ {
		fmt.Fprintf(&longDiags, "Final-Recipient: rfc822; u%d@x.test\r\nAction: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 550 ", i)
		for j := 0; j < 400; j++ {
			fmt.Fprintf(&longDiags, "account%d ", (i*7+j)%97)
		}
		longDiags.WriteString("\r\n\r\n")
	}
	const dsnHead = "From: MAILER-DAEMON@x.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
	const dsnStatus = dsnHead + "--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.cc\r\nAction: failed\r\nStatus: 5.0.0\r\n"
	return map[string][]byte{
		"one-long-line":           []byte("From: MAILER-DAEMON@x.test\r\nSubject: failure notice\r\n\r\n" + strings.Repeat("x", 10<<20)),
		"addresses":               []byte("From: MAILER-DAEMON@x.test\r\nSubject: failure notice\r\n\r\n" + strings.Repeat("a@b.cc ", 1400000)),
		"answer-lines":            []byte("From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" + strings.Repeat("<user@example.com>: 550 user unknown\r\n", 250000)),
		"failed-headers":          []byte("From: MAILER-DAEMON@x.test\r\n" + strings.Repeat("X-Failed-Recipients: a@b.cc\r\n", 300000) + "\r\nbody"),
		"status-parts":            []byte(dsnHead + strings.Repeat("--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.cc\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n", 100000)),
		"distinct-addresses":      []byte("From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" + distinct.String()),
		"distinct-failed-headers": []byte("From: MAILER-DAEMON@x.test\r\n" + failedHeaders.String() + "\r\nbody"),
		"dsn-distinct-text":       []byte(dsnHead + "--b\r\nContent-Type: text/plain\r\n\r\n" + distinct.String()),
		"nested":                  []byte("From: MAILER-DAEMON@x.test\r\nSubject: x\r\n" + strings.Repeat("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", 100000)),
		// Header fields folded over many lines, or one long line: a field
		// is unfolded once and kept to maxFieldBytes.
		"folded-subject":          []byte("From: a@b.test\r\nSubject: x\r\n" + strings.Repeat(" y\r\n", 1<<20) + "\r\nbody"),
		"folded-to":               []byte("From: MAILER-DAEMON@x.test\r\nSubject: failure notice\r\nTo: a@b.test\r\n" + strings.Repeat(" ,u@x.test\r\n", 1<<18) + "\r\nbody"),
		"long-subject":            []byte("From: a@b.test\r\nSubject: " + strings.Repeat("y ", 1<<19) + "\r\n\r\nbody"),
		"dsn-folded-diag":         []byte(dsnStatus + "Diagnostic-Code: smtp; 550\r\n" + strings.Repeat(" y\r\n", 1<<18) + "\r\n--b--\r\n"),
		"dsn-long-diag":           []byte(dsnStatus + "Diagnostic-Code: smtp; 550 " + strings.Repeat("account ", 1<<17) + "\r\n\r\n--b--\r\n"),
		"dsn-distinct-long-diags": []byte(dsnHead + "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x.test\r\n\r\n" + longDiags.String() + "--b--\r\n"),
		"no-answer-lines":         []byte("From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" + noAnswer.String()),
		"no-answer-unicode":       []byte("From: MAILER-DAEMON@x.test\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + noAnswerUTF8.String()),
	}
}

// BenchmarkParseHostile: parsing and classifying a hostile 10 MB message
// costs a bounded amount (Parse reads 1 MiB, scans 256 KiB of prose, keeps
// 16 KiB of a header field, reads 2 KiB of a diagnostic and 8 KiB of a
// recipient's block, keeps 1000 recipients, and classifies 16 KiB of answer
// text per report).
func BenchmarkParseHostile(b *testing.B) {
	rules := Builtin()
	for name, raw := range hostileReports() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				rules.ClassifyReport(Parse(raw))
			}
		})
	}
}

// BenchmarkParse parses and classifies the report fixtures, one per MTA
// family, as the inbound receiver does for each message.
func BenchmarkParse(b *testing.B) {
	files, _ := filepath.Glob("testdata/reports/*.eml")
	var raws [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
	}
	rules := Builtin()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rules.ClassifyReport(Parse(raws[i%len(raws)]))
		i++
	}
}
