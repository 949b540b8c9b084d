package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	gomessage "github.com/emersion/go-message"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// TestListManagementOneClick: SES subscription management end to end. A
// send with ListManagementOptions to one contact arrives with
// List-Unsubscribe (the one-click URL and a mailto: address) and
// List-Unsubscribe-Post, both inside the DKIM signature's h= and the
// signature verifying, and the body's {{amazonSESUnsubscribeUrl}} replaced
// by the URL; a forged or altered token is refused; a one-click POST to the
// URL from the delivered header unsubscribes exactly that contact from
// that topic and records a Subscription event; the next send to the
// contact is not delivered but bounced. The mailto: address from another
// delivered message, mailed to Petrel's inbound receiver, unsubscribes
// that contact from the whole list.
func TestListManagementOneClick(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			// Links name the public HTTPS URL (a TLS proxy in front of
			// the API listener); the test reaches the listener directly.
			e := start(t, backend, func(c *config.Config) { c.PublicURL = "https://petrel.test" })
			direct := func(u string) string {
				return "http://" + e.d.Addr("http") + strings.TrimPrefix(u, "https://petrel.test")
			}
			ctx := t.Context()
			mx := e.mx("far.test", "127.0.0.3", 10)
			svc := e.d.Services()
			if _, err := e.ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("signed.test")}); err != nil {
				t.Fatal(err)
			}
			if err := svc.Identities.SetVerified(ctx, "default", "signed.test", true); err != nil {
				t.Fatal(err)
			}
			dk, ok, err := svc.Identities.GetDKIM(ctx, "default", "signed.test")
			if err != nil || !ok {
				t.Fatalf("GetDKIM: %v %v", ok, err)
			}
			cs := contacts.New(svc.DB, nil)
			if err := cs.CreateList(ctx, "default", contacts.List{Name: "news", Topics: []contacts.Topic{
				{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn},
				{Name: "travel", DisplayName: "Travel", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"jane@far.test", "john@far.test", "bob@far.test"} {
				if err := cs.CreateContact(ctx, "default", contacts.Contact{List: "news", Email: c}); err != nil {
					t.Fatal(err)
				}
			}
			send := func(to, topic string) string {
				t.Helper()
				in := &sesv2.SendEmailInput{
					FromEmailAddress: aws.String("news@signed.test"),
					Destination:      &types.Destination{ToAddresses: []string{to}},
					Content: &types.EmailContent{Simple: &types.Message{
						Subject: &types.Content{Data: aws.String("Weekly")},
						Body: &types.Body{Text: &types.Content{Data: aws.String("Unsubscribe: {{amazonSESUnsubscribeUrl}}")},
							Html: &types.Content{Data: aws.String(`<a href="{{amazonSESUnsubscribeUrl}}">Unsubscribe</a>`)}},
						Headers: []types.MessageHeader{{Name: aws.String("List-Unsubscribe"), Value: aws.String("<https://caller.example/u>")}},
					}},
					ListManagementOptions: &types.ListManagementOptions{ContactListName: aws.String("news")},
				}
				if topic != "" {
					in.ListManagementOptions.TopicName = aws.String(topic)
				}
				out, err := e.ses.SendEmail(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				return *out.MessageId
			}
			delivered := func(id string) []byte {
				t.Helper()
				e.events(id, 10*time.Second, finalCount(1))
				for _, m := range mx.Messages() {
					if bytes.Contains(m.Data, []byte(id)) {
						return m.Data
					}
				}
				t.Fatalf("message %s not at the MX", id)
				return nil
			}

			id := send("jane@far.test", "sports")
			data := delivered(id)
			hdr, err := mail.ReadMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			lu := hdr.Header.Get("List-Unsubscribe")
			m := regexp.MustCompile(`^<(https://petrel\.test/unsubscribe/([a-z2-7]+))>, <mailto:(u-[a-z2-7]+@petrel\.test)\?subject=unsubscribe>$`).FindStringSubmatch(lu)
			if m == nil || strings.Contains(lu, "caller.example") {
				t.Fatalf("List-Unsubscribe %q", lu)
			}
			url, tok := m[1], m[2]
			if got := hdr.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
				t.Errorf("List-Unsubscribe-Post %q", got)
			}
			vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
				return []string{dk.Record}, nil
			}})
			if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "signed.test" {
				t.Fatalf("DKIM: %v %+v", err, vs)
			}
			signed := map[string]bool{}
			for _, h := range vs[0].HeaderKeys {
				signed[strings.ToLower(h)] = true
			}
			if !signed["list-unsubscribe"] || !signed["list-unsubscribe-post"] {
				t.Errorf("h= %v lacks List-Unsubscribe or List-Unsubscribe-Post", vs[0].HeaderKeys)
			}
			for _, text := range textParts(t, data) {
				if strings.Contains(text, "amazonSESUnsubscribeUrl") || !strings.Contains(text, url) {
					t.Errorf("part without the URL %s:\n%s", url, text)
				}
			}

			post := func(u string) int {
				t.Helper()
				resp, err := http.Post(direct(u), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			flip := map[byte]byte{'a': 'b'}
			altered := []byte(tok)
			i := len(altered) / 2
			if b, ok := flip[altered[i]]; ok {
				altered[i] = b
			} else {
				altered[i] = 'a'
			}
			forged := contacts.Token{Account: "default", List: "news", Topic: "sports", Email: "john@far.test"}.Sign([]byte("not the key"))
			for _, bad := range []string{string(altered), forged} {
				if st := post(strings.TrimSuffix(url, tok) + bad); st == http.StatusOK {
					t.Errorf("token %s accepted", bad)
				}
			}
			if st := post(url); st != http.StatusOK {
				t.Fatalf("one-click: %d", st)
			}
			jane, err := cs.GetContact(ctx, "default", "news", "jane@far.test")
			if st, _ := jane.Preference("sports"); err != nil || st != contacts.OptOut || jane.UnsubscribeAll || len(jane.TopicPreferences) != 1 {
				t.Errorf("jane after one-click: %+v, %v", jane, err)
			}
			for _, other := range []string{"john@far.test", "bob@far.test"} {
				if c, err := cs.GetContact(ctx, "default", "news", other); err != nil || c.UnsubscribeAll || len(c.TopicPreferences) != 0 {
					t.Errorf("%s changed: %+v, %v", other, c, err)
				}
			}
			subs := e.events(id, 5*time.Second, func(evs []event.Event) bool { return count(evs, event.Subscription) == 1 })
			if s := find(subs, event.Subscription, ""); s == nil || !strings.Contains(string(s.Detail), `"contactList":"news"`) {
				t.Errorf("Subscription event: %+v", s)
			}

			// Jane no longer gets sports mail: bounced, not delivered; travel still goes.
			before := len(mx.Messages())
			again := send("jane@far.test", "sports")
			evs := e.events(again, 10*time.Second, finalCount(1))
			b := find(evs, event.Bounce, "jane@far.test")
			if b == nil || count(evs, event.Delivery) != 0 || !strings.Contains(string(b.Detail), "unsubscribed from the topic sports") {
				t.Errorf("send after unsubscribe: %v %+v", kinds(evs), b)
			}
			delivered(send("jane@far.test", "travel"))
			if n := len(mx.Messages()); n != before+1 {
				t.Errorf("%d messages reached the MX after the unsubscribe, want 1 (travel)", n-before)
			}

			// The mailto: route: bob mails the address from his message's header.
			data = delivered(send("bob@far.test", ""))
			hdr, _ = mail.ReadMessage(bytes.NewReader(data))
			m = regexp.MustCompile(`<mailto:([^?>]+)\?`).FindStringSubmatch(hdr.Header.Get("List-Unsubscribe"))
			if m == nil {
				t.Fatalf("List-Unsubscribe %q has no mailto:", hdr.Header.Get("List-Unsubscribe"))
			}
			c, err := smtp.Dial(e.d.Addr("inbound"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SendMail("bob@far.test", []string{m[1]}, strings.NewReader("From: bob@far.test\r\nSubject: unsubscribe\r\n\r\n\r\n")); err != nil {
				t.Fatalf("mailto: unsubscribe: %v", err)
			}
			if bob, err := cs.GetContact(ctx, "default", "news", "bob@far.test"); err != nil || !bob.UnsubscribeAll {
				t.Errorf("bob after mailto: %+v, %v", bob, err)
			}
		})
	}
}

// textParts returns the decoded text/plain and text/html parts of msg.
func textParts(t *testing.T, msg []byte) []string {
	t.Helper()
	ent, err := gomessage.Read(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(e *gomessage.Entity)
	walk = func(e *gomessage.Entity) {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(p)
			}
		}
		typ, _, _ := e.Header.ContentType()
		if typ == "text/plain" || typ == "text/html" {
			b, _ := io.ReadAll(e.Body)
			out = append(out, string(b))
		}
	}
	walk(ent)
	if len(out) != 2 {
		t.Fatalf("%d text parts, want 2", len(out))
	}
	return out
}
