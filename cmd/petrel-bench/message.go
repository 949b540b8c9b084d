package main

import (
	"strings"
	"sync"
)

// The benchmark message is the workload of ../shared/bench (make_msg.py): a
// deterministic multipart/alternative newsletter, text and HTML, of about
// 5.1 KB, one recipient.

var loremWords = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " +
	"incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud " +
	"exercitation ullamco laboris nisi aliquip ex ea commodo consequat")

// paragraph returns n words wrapped at 66 columns.
func paragraph(n, seed int) []string {
	var out, line []string
	for i := range n {
		line = append(line, loremWords[(i*7+seed)%len(loremWords)])
		if len(strings.Join(line, " ")) > 66 {
			out = append(out, strings.Join(line, " "))
			line = nil
		}
	}
	if len(line) > 0 {
		out = append(out, strings.Join(line, " "))
	}
	return out
}

func buildMessage(words int) string {
	hdr := []string{
		"From: Bench Sender <sender@bench.localdomain>",
		"To: Bench Recipient <rcpt@example.com>",
		"Subject: Your weekly account summary (benchmark message)",
		"MIME-Version: 1.0",
		"List-Unsubscribe: <mailto:unsubscribe@bench.localdomain?subject=unsub>",
		"X-Campaign-Id: bench-5k",
		`Content-Type: multipart/alternative; boundary="=_bench_boundary_0001"`,
		"",
	}
	text, html := partLines(words)
	body := []string{"This is a multi-part message in MIME format.", "",
		"--=_bench_boundary_0001", "Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 7bit", ""}
	body = append(body, text...)
	body = append(body, "", "--=_bench_boundary_0001", "Content-Type: text/html; charset=utf-8",
		"Content-Transfer-Encoding: 7bit", "")
	body = append(body, html...)
	body = append(body, "", "--=_bench_boundary_0001--", "")
	return strings.Join(append(hdr, body...), "\r\n")
}

func partLines(words int) (text, html []string) {
	text = paragraph(words, 1)
	html = []string{`<html><body><table width="600"><tr><td>`}
	for _, l := range paragraph(words, 3) {
		html = append(html, "<p>"+l+"</p>")
	}
	html = append(html, "</td></tr></table></body></html>")
	return text, html
}

// benchWords is the word count that makes the message about size bytes.
func benchWords(size int) int {
	n := 10
	for len(buildMessage(n+10)) <= size {
		n += 10
	}
	return n
}

// benchMessage returns the raw message (CRLF line endings).
func benchMessage(size int) []byte { return []byte(buildMessage(benchWords(size))) }

// benchParts returns the text and HTML bodies of the message, for
// SendEmail's Simple content.
var benchParts = sync.OnceValues(func() (text, html string) {
	t, h := partLines(benchWords(messageSize))
	return strings.Join(t, "\r\n"), strings.Join(h, "\r\n")
})
