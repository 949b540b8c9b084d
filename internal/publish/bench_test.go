package publish

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/mail"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
)

// FuzzFeedback: whatever a stored bounce or complaint and its mail object
// hold, the feedback emails parse as multipart/report with three parts,
// the report part (delivery-status, feedback-report) is 7-bit text, and
// no line breaks RFC 5322's 998-character limit.
func FuzzFeedback(f *testing.F) {
	f.Add("jane@example.net", "smtp; 550 5.1.1 user unknown", "5.1.1", "Subject", "Hello", "abuse", "fb-1")
	f.Add("a@b", "x\r\ny", "", "X\r\nInjected: yes", "v\nw", "", "")
	f.Add("δοκιμή@bücher.example", "smtp; 550 é \xff\x00", "5.1.1\u00e9", "Subject", "日本", "abus\u00e9", "fb")
	f.Fuzz(func(t *testing.T, rcpt, diag, status, hname, hvalue, ftype, fid string) {
		fb := Feedback{Hostname: "petrel.example", To: "s@example.com", MailFrom: "s@example.com", Time: time.Unix(0, 0),
			Mail: event.Mail{Headers: []message.Header{{Name: hname, Value: hvalue}}}}
		for _, raw := range [][]byte{
			fb.DSN(event.BounceDetail{FeedbackID: fid, BouncedRecipients: []event.BouncedRecipient{{EmailAddress: rcpt, Status: status, DiagnosticCode: diag}}}),
			fb.ARF(event.ComplaintDetail{FeedbackID: fid, ComplaintFeedbackType: ftype, ComplainedRecipients: []event.Recipient{{EmailAddress: rcpt}}}),
		} {
			for _, line := range bytes.Split(raw, []byte("\r\n")) {
				if len(line) > 998 {
					t.Fatalf("line of %d characters", len(line))
				}
			}
			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			r := multipart.NewReader(m.Body, params["boundary"])
			n := 0
			for {
				p, err := r.NextPart()
				if err != nil {
					break
				}
				if n == 1 { // message/delivery-status, message/feedback-report: US-ASCII
					var body bytes.Buffer
					body.ReadFrom(p)
					sevenBit(t, "report part", body.Bytes())
				}
				n++
			}
			if n != 3 {
				t.Fatalf("%d parts:\n%s", n, raw)
			}
		}
	})
}
