package publish

import (
	"bytes"
	"encoding/json"
	"flag"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// sampleMail is a mail object as sending stores it (SES §4.2 example).
func sampleMail() event.Mail {
	return event.Mail{
		Timestamp: "2016-01-27T14:59:38.237Z", MessageID: "0100015a1b2c3d4e-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
		Source: "John Doe <john@example.com>", SourceArn: "arn:aws:ses:us-east-1:123456789012:identity/example.com",
		SourceIP: "127.0.3.0", SendingAccountID: "123456789012", CallerIdentity: "AKIDEXAMPLE",
		Destination: []string{"jane@example.net", "mary@example.net"}, HeadersTruncated: false,
		Headers: []message.Header{
			{Name: "From", Value: `"John Doe" <john@example.com>`}, {Name: "To", Value: "Jane Doe <jane@example.net>, mary@example.net"},
			{Name: "Subject", Value: "Hello & welcome"}, {Name: "Message-ID", Value: "<custom-message-ID@example.com>"},
			{Name: "Date", Value: "Wed, 27 Jan 2016 14:05:45 +0000"}, {Name: "MIME-Version", Value: "1.0"},
		},
		CommonHeaders: message.CommonHeaders{From: []string{"John Doe <john@example.com>"}, To: []string{"Jane Doe <jane@example.net>", "mary@example.net"},
			Date: "Wed, 27 Jan 2016 14:05:45 +0000", MessageID: "<custom-message-ID@example.com>", Subject: "Hello & welcome"},
		Tags: map[string][]string{"ses:configuration-set": {"ConfigSet"}, "ses:operation": {"SendEmail"},
			"ses:from-domain": {"example.com"}, "ses:caller-identity": {"AKIDEXAMPLE"}, "ses:source-ip": {"127.0.3.0"},
			"campaign": {"spring"}},
	}
}

var (
	bounceDetail = event.BounceDetail{BounceType: "Permanent", BounceSubType: "General",
		BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "jane@example.net", Action: "failed", Status: "5.1.1",
			DiagnosticCode: "smtp; 550 5.1.1 <jane@example.net>: Recipient address rejected: User unknown in virtual mailbox table"}},
		Timestamp: "2016-01-27T14:59:40.100Z", FeedbackID: "0100015a1b2c3d4f-5e6f7a8b-1c2d-4e5f-8a9b-0c1d2e3f4a5b-000000",
		RemoteMtaIP: "127.0.2.1", ReportingMTA: "dsn; petrel.example", Reason: "unknown-user", Rule: "5.1.1"}
	complaintDetail = event.ComplaintDetail{ComplainedRecipients: []event.Recipient{{EmailAddress: "mary@example.net"}},
		Timestamp: "2016-01-27T15:10:00.000Z", FeedbackID: "0100015a1b2c3d50-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
		UserAgent: "AnyCompany Feedback Loop (V0.01)", ComplaintFeedbackType: "abuse", ArrivalDate: "2016-01-27T15:09:58.000Z"}
	deliveryDetail = event.DeliveryDetail{Timestamp: "2016-01-27T14:59:39.000Z", ProcessingTimeMillis: 763,
		Recipients: []string{"jane@example.net"}, SMTPResponse: "250 2.0.0 Ok: queued as 4F1A2B3C", ReportingMTA: "petrel.example", RemoteMtaIP: "127.0.2.1"}
)

// sampleDetails is one stored per-type object of every event type Petrel emits.
func sampleDetails() []event.Detail {
	return []event.Detail{
		event.SendDetail{},
		event.RejectDetail{Reason: "Bad content"},
		deliveryDetail,
		bounceDetail,
		complaintDetail,
		event.DeliveryDelayDetail{Timestamp: "2016-01-27T15:00:40.095Z", DelayType: "TransientCommunicationFailure",
			ExpirationTime: "2016-01-28T04:59:38.237Z", ReportingMTA: "127.0.2.1",
			DelayedRecipients: []event.DelayedRecipient{{EmailAddress: "jane@example.net", Status: "4.4.1",
				DiagnosticCode: "smtp; 421 4.4.1 Unable to connect to remote host"}}},
		event.AutoResponseDetail{Timestamp: "2016-01-27T15:01:00.000Z", FeedbackID: "0100015a1b2c3d51-aaaa-000000",
			Recipient: event.Recipient{EmailAddress: "jane@example.net"}, AutoResponseType: "vacation", Subject: "Out of office"},
		event.RenderingFailureDetail{TemplateName: "MyTemplate", ErrorMessage: "Attribute 'attributeName' is not present in the rendering data."},
	}
}

func encode(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := event.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indent pretty-prints JSON for readable golden files, keeping its order
// and its "<" and ">" as they are.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestEventPublishingGolden: the body an event destination (SNS topic or
// webhook) receives for every event type, byte for byte: eventType, the
// full mail object with tags and headers, the per-type object (SES §4,
// §4.6). The compact form is checked too: the golden file is its indented
// rendering.
func TestEventPublishingGolden(t *testing.T) {
	mail := encode(t, sampleMail())
	for _, d := range sampleDetails() {
		t.Run(string(d.Kind()), func(t *testing.T) {
			body, err := event.Event{Kind: d.Kind(), Detail: encode(t, d), Mail: mail}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(body, []byte(`\u003c`)) || !bytes.Contains(body, []byte(`"John Doe <john@example.com>"`)) {
				t.Errorf("HTML characters escaped: %s", body)
			}
			var v struct {
				EventType string                     `json:"eventType"`
				Mail      event.Mail                 `json:"mail"`
				Rest      map[string]json.RawMessage `json:"-"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.EventType != string(d.Kind()) || v.Mail.Tags["ses:configuration-set"][0] != "ConfigSet" {
				t.Errorf("body does not parse as an SES event: %v %+v", err, v)
			}
			golden(t, "event-"+strings.ReplaceAll(strings.ToLower(string(d.Kind())), " ", "")+".json", indent(t, body))
		})
	}
}

// TestNotificationGolden: SES's older identity-notification format for
// the three types it has, with headers off and on (SES §4.1): no tags
// ever; headers, headersTruncated and commonHeaders only when on.
func TestNotificationGolden(t *testing.T) {
	for _, d := range []event.Detail{bounceDetail, complaintDetail, deliveryDetail} {
		for _, headers := range []bool{false, true} {
			name := "notification-" + strings.ToLower(string(d.Kind()))
			if headers {
				name += "-headers"
			}
			t.Run(name, func(t *testing.T) {
				body, err := NotificationJSON(d.Kind(), encode(t, d), sampleMail(), headers)
				if err != nil {
					t.Fatal(err)
				}
				var v map[string]json.RawMessage
				if err := json.Unmarshal(body, &v); err != nil {
					t.Fatal(err)
				}
				var m map[string]json.RawMessage
				json.Unmarshal(v["mail"], &m)
				if string(v["notificationType"]) != `"`+string(d.Kind())+`"` || v["eventType"] != nil {
					t.Errorf("notificationType = %s, eventType = %s", v["notificationType"], v["eventType"])
				}
				if m["tags"] != nil {
					t.Errorf("mail has tags: %s", v["mail"])
				}
				for _, k := range []string{"headers", "commonHeaders", "headersTruncated"} {
					if (m[k] != nil) != headers {
						t.Errorf("headers %v: mail.%s = %s", headers, k, m[k])
					}
				}
				golden(t, name+".json", indent(t, body))
			})
		}
	}
}

// parseReport parses a feedback email as a mail client would and returns
// its header, the report type and its parts' content types and bodies.
func parseReport(t *testing.T, raw []byte) (mail.Header, string, []string, [][]byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 { // RFC 5322 §2.1.1
			t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
		}
		if bytes.IndexByte(line, '\n') >= 0 {
			t.Errorf("line %d has a bare LF", i+1)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	var bodies [][]byte
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(p)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, b.Bytes())
	}
	return m.Header, params["report-type"], types, bodies
}

func sampleFeedback() Feedback {
	return Feedback{Hostname: "petrel.example", To: "bounces@example.com", MailFrom: "bounces@example.com", Mail: sampleMail(),
		Time: time.Date(2016, 1, 27, 14, 59, 41, 0, time.UTC)}
}

// TestDSNGolden: a forwarded bounce is an RFC 3464 report in SES's shape,
// parseable by a MIME reader: three parts (text, message/delivery-status
// with the per-recipient fields of the bounce, the original header).
func TestDSNGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    event.BounceDetail
	}{
		{"dsn-permanent.eml", bounceDetail},
		{"dsn-suppressed.eml", event.BounceDetail{BounceType: "Permanent", BounceSubType: "OnAccountSuppressionList",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: "gone@example.net"}}, Timestamp: "2016-01-27T14:59:38.300Z",
			FeedbackID: "0100015a1b2c3d52-0000-000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := sampleFeedback().DSN(tc.d)
			h, rt, types, bodies := parseReport(t, raw)
			if h.Get("From") != "MAILER-DAEMON@petrel.example" || h.Get("To") != "bounces@example.com" ||
				h.Get("Subject") != "Delivery Status Notification (Failure)" || rt != "delivery-status" {
				t.Errorf("header %v, report-type %q", h, rt)
			}
			if len(types) != 3 || !strings.HasPrefix(types[0], "text/plain") || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
				t.Fatalf("parts %q", types)
			}
			r := tc.d.BouncedRecipients[0]
			if !bytes.Contains(bodies[1], []byte("Final-Recipient: rfc822; "+r.EmailAddress+"\r\n")) ||
				!bytes.Contains(bodies[1], []byte("Action: failed\r\n")) || !bytes.Contains(bodies[0], []byte(r.EmailAddress)) {
				t.Errorf("delivery-status part:\n%s", bodies[1])
			}
			if !bytes.Contains(bodies[2], []byte("Message-ID: <custom-message-ID@example.com>")) {
				t.Errorf("original header part:\n%s", bodies[2])
			}
			golden(t, tc.name, raw)
		})
	}
}

// TestARFGolden: a forwarded complaint is an RFC 5965 abuse report with
// the required Feedback-Type, User-Agent and Version fields.
func TestARFGolden(t *testing.T) {
	raw := sampleFeedback().ARF(complaintDetail)
	h, rt, types, bodies := parseReport(t, raw)
	if h.Get("From") != "complaints@petrel.example" || rt != "feedback-report" {
		t.Errorf("header %v, report-type %q", h, rt)
	}
	if len(types) != 3 || types[1] != "message/feedback-report" || types[2] != "text/rfc822-headers" {
		t.Fatalf("parts %q", types)
	}
	fr, err := mail.ReadMessage(bytes.NewReader(append(bodies[1], "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Feedback-Type": "abuse", "User-Agent": "AnyCompany Feedback Loop (V0.01)", "Version": "1",
		"Original-Rcpt-To": "<mary@example.net>", "Original-Mail-From": "<bounces@example.com>"} {
		if got := fr.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	golden(t, "arf-abuse.eml", raw)
}

// TestFieldFolding: long values are folded at spaces, unfold to what was
// given (line breaks in it removed), and a long word is cut below the
// 998-character limit.
func TestFieldFolding(t *testing.T) {
	for _, v := range []string{"short", strings.Repeat("word ", 60) + "end", "a\r\nb", strings.Repeat("x", 2500) + " tail"} {
		var b bytes.Buffer
		field(&b, "Diagnostic-Code", v)
		out := b.String()
		for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if len(line) > 998 {
				t.Errorf("line of %d characters", len(line))
			}
		}
		unfolded := strings.ReplaceAll(strings.TrimSuffix(out, "\r\n"), "\r\n ", " ")
		want := "Diagnostic-Code: " + strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		if !strings.Contains(v, strings.Repeat("x", 1000)) && unfolded != want {
			t.Errorf("unfolded %q, want %q", unfolded, want)
		}
	}
}

// sevenBit fails the test when a report part holds a byte outside
// printable US-ASCII (tab, CR and LF aside): RFC 3464 §2.1 and RFC 5965
// §3.1 parts are US-ASCII.
func sevenBit(t testing.TB, label string, part []byte) {
	t.Helper()
	for i, c := range part {
		if c >= 0x7f || c < 0x20 && c != '\t' && c != '\r' && c != '\n' {
			t.Fatalf("%s: byte %#x at %d is not 7-bit text:\n%s", label, c, i, part)
		}
	}
}

// unfold undoes field's folding (RFC 5322 §2.2.3).
func unfold(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n "), []byte(" ")) }

// TestReportPartsASCII: the message/delivery-status and
// message/feedback-report parts are 7-bit whatever the remote reply and
// the addresses hold: non-ASCII diagnostic text as RFC 6533 "\x{HEX}"
// escapes, internationalized domains as A-labels, UTF-8 local parts as
// RFC 6533 utf-8-addr-xtext ("utf-8;" address type in Final-Recipient).
func TestReportPartsASCII(t *testing.T) {
	fb := sampleFeedback()
	fb.MailFrom = "rückläufer@bücher.example"
	b := event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", Timestamp: "2016-01-27T14:59:40.100Z",
		FeedbackID: "0100015a1b2c3d4f-utf8", RemoteMtaIP: "127.0.2.1",
		BouncedRecipients: []event.BouncedRecipient{
			{EmailAddress: "jane@example.net", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 Adresse inconnue: é \\ 😀 日本\xff"},
			{EmailAddress: "jane@bücher.example", Status: "5.1.1", DiagnosticCode: "smtp; 550 no"},
			{EmailAddress: "用户+x=y@例え.テスト", Status: "5.1.1", DiagnosticCode: "smtp; 550 no"},
		}}
	c := event.ComplaintDetail{FeedbackID: "0100015a1b2c3d50-utf8", UserAgent: "Fournisseur Boucle de rétroaction", ComplaintFeedbackType: "abuse",
		ComplainedRecipients: []event.Recipient{{EmailAddress: "mary@bücher.example"}, {EmailAddress: "δοκιμή@παράδειγμα.δοκιμή"}}}

	dsn := fb.DSN(b)
	_, _, types, bodies := parseReport(t, dsn)
	if len(types) != 3 || types[1] != "message/delivery-status" {
		t.Fatalf("DSN parts %q", types)
	}
	sevenBit(t, "delivery-status", bodies[1])
	for _, want := range []string{
		`Diagnostic-Code: smtp; 550 5.1.1 Adresse inconnue: \x{E9} \x{5C} \x{1F600} \x{65E5}\x{672C}\x{FFFD}` + "\r\n",
		"Final-Recipient: rfc822; jane@example.net\r\n",
		"Final-Recipient: rfc822; jane@xn--bcher-kva.example\r\n",
		`Final-Recipient: utf-8; \x{7528}\x{6237}\x{2B}x\x{3D}y@\x{4F8B}\x{3048}.\x{30C6}\x{30B9}\x{30C8}` + "\r\n",
	} {
		if !bytes.Contains(unfold(bodies[1]), []byte(want)) {
			t.Errorf("delivery-status part lacks %q:\n%s", want, bodies[1])
		}
	}
	golden(t, "dsn-utf8.eml", dsn)

	arf := fb.ARF(c)
	_, _, types, bodies = parseReport(t, arf)
	if len(types) != 3 || types[1] != "message/feedback-report" {
		t.Fatalf("ARF parts %q", types)
	}
	sevenBit(t, "feedback-report", bodies[1])
	for _, want := range []string{
		`User-Agent: Fournisseur Boucle de r\x{E9}troaction` + "\r\n",
		"Original-Mail-From: <r\\x{FC}ckl\\x{E4}ufer@b\\x{FC}cher.example>\r\n",
		"Original-Rcpt-To: <mary@xn--bcher-kva.example>\r\n",
		`Original-Rcpt-To: <\x{3B4}\x{3BF}\x{3BA}\x{3B9}\x{3BC}\x{3AE}@\x{3C0}\x{3B1}\x{3C1}\x{3AC}\x{3B4}\x{3B5}\x{3B9}\x{3B3}\x{3BC}\x{3B1}.\x{3B4}\x{3BF}\x{3BA}\x{3B9}\x{3BC}\x{3AE}>` + "\r\n",
	} {
		if !bytes.Contains(unfold(bodies[1]), []byte(want)) {
			t.Errorf("feedback-report part lacks %q:\n%s", want, bodies[1])
		}
	}
	golden(t, "arf-utf8.eml", arf)
}
