package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/mxtest"
	"github.com/petrelmail/petrel/internal/store"
)

// sent is what became of one message: what the store kept, its events
// and what the MX received, normalised (normalise).
type sent struct {
	stored    string
	events    []string
	delivered []string // "MAIL FROM → RCPT TO\n" + data, sorted
}

// TestV1Parity (issue 18): the same message sent through the v1 API
// (SendEmail, SendRawEmail, SendTemplatedEmail) and through the v2 API
// (SendEmail with Simple, Raw and Template content) is the same message:
// the same stored body, the same events (mail object and details) and the
// same bytes at the MX, once what must differ is set aside — the message
// ID (in Message-ID, the return path, the mail object), the Date, the
// timestamps, the DKIM signature's b= and t= (it signs Message-ID and
// Date) and the ses:operation tag, which names the action.
func TestV1Parity(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, nil)
			mx := e.mx("one.test", "127.0.0.3", 10)
			ctx := t.Context()
			k := e.d.Credentials
			v1 := ses.New(ses.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.d.Addr("http")),
				Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
			if _, err := e.ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("Hello"),
				TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Hello {{name}}"), Text: aws.String("Dear {{name}}."),
					Html: aws.String("<p>Dear {{name}}</p>")}}); err != nil {
				t.Fatal(err)
			}
			// The sender's domain signs with DKIM: the signature covers
			// the whole message, and only its b= and t= may differ.
			if _, err := e.ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("signed.test")}); err != nil {
				t.Fatal(err)
			}
			if err := e.d.Services().Identities.SetVerified(ctx, "default", "signed.test", true); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs")}); err != nil {
				t.Fatal(err)
			}
			const from = "Sender <sender@signed.test>"
			to, cc, bcc := []string{"a@one.test"}, []string{"b@one.test"}, []string{"c@one.test"}
			tags2 := []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}}
			tags1 := []sestypes.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}}
			raw := "From: Raw Sender <sender@signed.test>\r\nTo: a@one.test\r\nCc: b@one.test\r\nSubject: raw parity\r\n" +
				"X-SES-MESSAGE-TAGS: tier=gold\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody line\r\n.\r\nlast\r\n"

			cases := []struct {
				name   string
				rcpts  int
				v2, v1 func() (*string, error)
			}{
				{"Simple / SendEmail", 3,
					func() (*string, error) {
						out, err := e.ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String(from),
							Destination:      &types.Destination{ToAddresses: to, CcAddresses: cc, BccAddresses: bcc},
							ReplyToAddresses: []string{"reply@example.com"}, FeedbackForwardingEmailAddress: aws.String("fb@example.com"),
							Content: &types.EmailContent{Simple: &types.Message{
								Subject: &types.Content{Data: aws.String("Grüße"), Charset: aws.String("UTF-8")},
								Body: &types.Body{Text: &types.Content{Data: aws.String("text")},
									Html: &types.Content{Data: aws.String("<p>html</p>")}}}},
							EmailTags: tags2, ConfigurationSetName: aws.String("cs")})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					},
					func() (*string, error) {
						out, err := v1.SendEmail(ctx, &ses.SendEmailInput{Source: aws.String(from),
							Destination:      &sestypes.Destination{ToAddresses: to, CcAddresses: cc, BccAddresses: bcc},
							ReplyToAddresses: []string{"reply@example.com"}, ReturnPath: aws.String("fb@example.com"),
							Message: &sestypes.Message{Subject: &sestypes.Content{Data: aws.String("Grüße"), Charset: aws.String("UTF-8")},
								Body: &sestypes.Body{Text: &sestypes.Content{Data: aws.String("text")},
									Html: &sestypes.Content{Data: aws.String("<p>html</p>")}}},
							Tags: tags1, ConfigurationSetName: aws.String("cs")})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					}},
				{"Raw / SendRawEmail, recipients from the header fields", 2,
					func() (*string, error) {
						out, err := e.ses.SendEmail(ctx, &sesv2.SendEmailInput{Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					},
					func() (*string, error) {
						out, err := v1.SendRawEmail(ctx, &ses.SendRawEmailInput{RawMessage: &sestypes.RawMessage{Data: []byte(raw)}})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					}},
				{"Raw / SendRawEmail with Source, Destinations, tags and set", 1,
					func() (*string, error) {
						out, err := e.ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("envelope@signed.test"),
							Destination: &types.Destination{ToAddresses: bcc}, EmailTags: tags2, ConfigurationSetName: aws.String("cs"),
							Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}}})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					},
					func() (*string, error) {
						out, err := v1.SendRawEmail(ctx, &ses.SendRawEmailInput{Source: aws.String("envelope@signed.test"), Destinations: bcc,
							Tags: tags1, ConfigurationSetName: aws.String("cs"), RawMessage: &sestypes.RawMessage{Data: []byte(raw)}})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					}},
				{"Template / SendTemplatedEmail", 2,
					func() (*string, error) {
						out, err := e.ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String(from),
							Destination: &types.Destination{ToAddresses: to, CcAddresses: cc}, ReplyToAddresses: []string{"reply@example.com"},
							Content: &types.EmailContent{Template: &types.Template{TemplateName: aws.String("Hello"),
								TemplateData: aws.String(`{"name":"Ann"}`)}}, EmailTags: tags2})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					},
					func() (*string, error) {
						out, err := v1.SendTemplatedEmail(ctx, &ses.SendTemplatedEmailInput{Source: aws.String(from),
							Destination: &sestypes.Destination{ToAddresses: to, CcAddresses: cc}, ReplyToAddresses: []string{"reply@example.com"},
							Template: aws.String("Hello"), TemplateData: aws.String(`{"name":"Ann"}`), Tags: tags1})
						if err != nil {
							return nil, err
						}
						return out.MessageId, nil
					}},
			}
			// The MX holds each RCPT until the case opens its gate: the
			// stored bodies are read before delivery releases them.
			var mu sync.Mutex
			gate := make(chan struct{})
			mx.Rcpt = func(string, int) error {
				mu.Lock()
				g := gate
				mu.Unlock()
				<-g
				return nil
			}
			for _, c := range cases {
				mu.Lock()
				gate = make(chan struct{})
				mu.Unlock()
				id2, err := c.v2()
				if err != nil {
					t.Fatalf("%s, v2: %v", c.name, err)
				}
				id1, err := c.v1()
				if err != nil {
					t.Fatalf("%s, v1: %v", c.name, err)
				}
				stored2, stored1 := e.storedBody(*id2), e.storedBody(*id1)
				mu.Lock()
				close(gate)
				mu.Unlock()
				a, b := e.sentMessage(mx, *id2, c.rcpts, stored2), e.sentMessage(mx, *id1, c.rcpts, stored1)
				if a.stored != b.stored {
					t.Errorf("%s: stored messages differ:\nv2 %s\nv1 %s", c.name, a.stored, b.stored)
				}
				if !slices.Equal(a.events, b.events) {
					t.Errorf("%s: events differ:\nv2 %s\nv1 %s", c.name, strings.Join(a.events, "\n   "), strings.Join(b.events, "\n   "))
				}
				if !slices.Equal(a.delivered, b.delivered) {
					t.Errorf("%s: delivered messages differ:\nv2 %q\nv1 %q", c.name, a.delivered, b.delivered)
				}
				if len(a.delivered) != c.rcpts || !strings.Contains(a.delivered[0], "DKIM-Signature:") {
					t.Errorf("%s: %d deliveries, want %d, DKIM-signed", c.name, len(a.delivered), c.rcpts)
				}
			}
		})
	}
}

// storedBody is message id's body as stored (until its delivery is
// done), normalised.
func (e *env) storedBody(id string) string {
	e.t.Helper()
	body, err := e.d.Services().Spool.Body(e.t.Context(), id)
	if err != nil || len(body) == 0 {
		e.t.Fatalf("message %s: stored body %q, %v", id, body, err)
	}
	return normalise(string(body), id)
}

// sentMessage waits for message id's n recipients' final events and
// returns what became of it (its stored body as given), normalised.
func (e *env) sentMessage(mx *mxtest.Server, id string, n int, stored string) sent {
	t := e.t
	t.Helper()
	evs := e.events(id, 10*time.Second, finalCount(n))
	out := sent{stored: stored}
	for _, ev := range evs {
		out.events = append(out.events, string(ev.Kind)+" "+ev.Recipient+" "+normaliseJSON(t, ev.Detail, id)+" "+normaliseMail(t, ev.Mail, id))
	}
	slices.Sort(out.events)
	for _, m := range mx.Messages() {
		if strings.Contains(string(m.Data), id) {
			out.delivered = append(out.delivered, normalise(m.From+" → "+strings.Join(m.To, ",")+"\n"+string(m.Data), id))
		}
	}
	slices.Sort(out.delivered)
	return out
}

var (
	dateField = regexp.MustCompile(`(?m)^Date: .*\r?\n`)
	// The DKIM signature's b= and t= (RFC 6376 §3.5), folded or not.
	dkimB     = regexp.MustCompile(`\bb=(?:[A-Za-z0-9+/=]|\r\n[ \t]|[ \t])+`)
	dkimBH    = regexp.MustCompile(`\bbh=(?:[A-Za-z0-9+/=]|\r\n[ \t]|[ \t])+`)
	dkimT     = regexp.MustCompile(`\bt=[0-9]+`)
	dkimField = regexp.MustCompile(`(?m)^DKIM-Signature:(.*\r?\n[ \t].*)*.*\r?\n`)
	// Values made afresh for each message: the MIME boundaries of built
	// content, the VERP return path's tag and the feedback token (both
	// MACs over the message ID).
	boundary = regexp.MustCompile(`=_petrel_[0-9a-f]+`)
	verp     = regexp.MustCompile(`\bb-ID-([0-9]+)-[a-z0-9]+@`)
	feedback = regexp.MustCompile(`\bID\.[a-z0-9]+\b`)
)

// normalise sets aside in a message (or envelope) what must differ
// between two sends of the same message: its ID, its Date, the MIME
// boundaries Petrel made (random), the return path's and feedback token's
// MACs, the DKIM signature's b= and t= (it signs Message-ID and Date), and
// its bh= when the body has Petrel's boundaries (the rest of the body is
// compared as it is).
func normalise(s, id string) string {
	built := boundary.MatchString(s)
	s = strings.ReplaceAll(s, id, "ID")
	s = dateField.ReplaceAllString(s, "Date: DATE\r\n")
	s = boundary.ReplaceAllString(s, "=_petrel_BOUNDARY")
	s = verp.ReplaceAllString(s, "b-ID-$1-VERP@")
	s = feedback.ReplaceAllString(s, "ID.TOKEN")
	return dkimField.ReplaceAllStringFunc(s, func(f string) string {
		if built {
			f = dkimBH.ReplaceAllString(f, "bh=BH")
		}
		return dkimT.ReplaceAllString(dkimB.ReplaceAllString(f, "b=B"), "t=T")
	})
}

// normaliseJSON is an event's detail without its timestamps.
func normaliseJSON(t *testing.T, raw json.RawMessage, id string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	delete(v, "timestamp")
	delete(v, "processingTimeMillis")
	b, _ := json.Marshal(v)
	return normalise(string(b), id)
}

// normaliseMail is a mail object without its timestamp, Date and
// ses:operation tag (and the message ID set aside).
func normaliseMail(t *testing.T, raw json.RawMessage, id string) string {
	t.Helper()
	var m event.Mail
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m.Timestamp, m.CommonHeaders.Date = "", ""
	delete(m.Tags, "ses:operation")
	for i, h := range m.Headers {
		if strings.EqualFold(h.Name, "Date") {
			m.Headers[i].Value = "DATE"
		}
	}
	b, _ := json.Marshal(m)
	return normalise(string(b), id)
}
