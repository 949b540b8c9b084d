package message

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkBuildSimple composes a newsletter-sized Simple message (text and
// HTML, about 5 KB), as SendEmail with Simple content does.
func BenchmarkBuildSimple(b *testing.B) {
	para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ", 30)
	s := Simple{From: "Sender <sender@example.com>", To: []string{"rcpt@example.net"}, Subject: "Your weekly account summary",
		Text: para, HTML: "<html><body><p>" + para + "</p></body></html>",
		Headers: [][2]string{{"List-Unsubscribe", "<mailto:unsubscribe@example.com>"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildSimple(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePrepare is the accept path's work on a raw 5 KB message:
// line endings, parse, duplicate-header check, SES preparation.
func BenchmarkParsePrepare(b *testing.B) {
	para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n", 60)
	benchmarkParsePrepare(b, "From: Sender <sender@example.com>\nTo: rcpt@example.net\nSubject: weekly\nMIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=utf-8\nX-SES-MESSAGE-TAGS: campaign=weekly\n\n"+para, false)
}

// BenchmarkParsePrepare8bit is BenchmarkParsePrepare for a 5 KB message
// with 8-bit UTF-8 text (Content-Transfer-Encoding: 8bit) and a UTF-8
// Subject: Prepare converts it to 7-bit.
func BenchmarkParsePrepare8bit(b *testing.B) {
	para := strings.Repeat("Grüße aus Köln — naïve café, crème brûlée, 東京タワー, Здравствуй, мир 👋\n", 50)
	benchmarkParsePrepare(b, "From: Zoë <sender@example.com>\nTo: rcpt@example.net\nSubject: Grüße 👋\nMIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nX-SES-MESSAGE-TAGS: campaign=weekly\n\n"+para, true)
}

// benchmarkParsePrepare runs the accept path's message work on raw;
// converted says whether Prepare must make it 7-bit.
func benchmarkParsePrepare(b *testing.B, raw string, converted bool) {
	now := time.Now()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(NormalizeLineEndings([]byte(raw)))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.CheckDuplicates(); err != nil {
			b.Fatal(err)
		}
		p, err := Prepare(m, "0100019a-0000-0000-0000-000000000000-000000", "petrel.example", now)
		if err != nil || p.Converted != converted {
			b.Fatal(err, p.Converted)
		}
	}
}

// BenchmarkEightBitScan is the check every accepted message pays: a scan
// of 5 KB of 7-bit text for octets above 127 and NUL.
func BenchmarkEightBitScan(b *testing.B) {
	body := []byte(strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 64))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if eightBit(body) {
			b.Fatal("8-bit")
		}
	}
}
