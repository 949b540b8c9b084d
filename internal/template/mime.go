package template

import (
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/message"
)

// renderFrom is the From address RenderMIME builds with and then removes
// (message.BuildSimple requires one).
const renderFrom = "render@petrel.invalid"

// RenderMIME renders c with data (Render) and returns the MIME
// message TestRenderEmailTemplate answers: a Date header of now, then
// message.BuildSimple's Subject, MIME-Version, Content-Type and body, with
// CRLF line ends. A part that renders empty is left out; when both Text
// and Html do, the body is an empty text/plain part. Errors: those of
// Render.
func RenderMIME(name string, c Content, data string, now time.Time) (string, error) {
	r, err := Render(name, c, data)
	if err != nil {
		return "", err
	}
	b, err := message.BuildSimple(message.Simple{From: renderFrom, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
	if err != nil {
		return "", err
	}
	mime := string(b)
	if i := strings.Index(mime, "\r\n"); i >= 0 && strings.HasPrefix(mime, "From:") {
		mime = mime[i+2:]
	}
	return "Date: " + now.UTC().Format(time.RFC1123Z) + "\r\n" + mime, nil
}
