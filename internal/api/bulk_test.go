package api

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// txCounter is an event.Observer that records the transaction each Send
// event was stored in: the group commits a call took, counted on the real
// store path (it keeps the *sql.Tx values, so none is reused).
type txCounter struct {
	mu  sync.Mutex
	txs map[*sql.Tx]bool
}

func (c *txCounter) ObserveTx(tx *sql.Tx, e event.Event) error {
	if e.Kind == event.Send {
		c.mu.Lock()
		c.txs[tx] = true
		c.mu.Unlock()
	}
	return nil
}

func (c *txCounter) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.txs)
	c.txs = map[*sql.Tx]bool{}
	return n
}

// bulkAPI is an API for the account "sandy" (sandyAPI).
type bulkAPI struct {
	ses *sesv2.Client
	s   *Server
	txs *txCounter
	q   *queue.Queue
	// raw makes a signed call with body as given (shapes the SDK refuses
	// to send) and returns the status and the error code.
	raw func(method, path, body string) (int, string)
}

// sandyAPI is an API whose account "sandy" is in the sandbox (verified
// domain sandy.example), with templates, the suppression check as the
// daemon wires it, and a txCounter on the event log.
func sandyAPI(t *testing.T, backend string) bulkAPI {
	t.Helper()
	srv, s, _, db := startAPIOn(t, backend, 256<<20)
	ctx := t.Context()
	s.Templates = template.New(db)
	s.Sender.Templates = s.Templates
	s.Sender.Suppression = s.Suppression
	txs := &txCounter{txs: map[*sql.Tx]bool{}}
	s.Events.Observe(txs)
	if _, err := s.Accounts.Create(ctx, "sandy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts.SetQuota(ctx, "sandy", account.Quota{Max24HourSend: -1, MaxSendRate: -1}); err != nil {
		t.Fatal(err)
	}
	key, err := s.Accounts.CreateKey(ctx, "sandy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identities.Create(ctx, "sandy", "sandy.example", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Templates.Create(ctx, "sandy", template.Template{Name: "Welcome", Content: template.Content{
		Subject: "Hi {{name}}", Text: "Dear {{name}},{{#if vip}} VIP{{/if}} welcome.", HTML: "<p>Dear {{name}}</p>"}}); err != nil {
		t.Fatal(err)
	}
	ten := tenant{"sandy", aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}
	raw := func(method, path, body string) (int, string) {
		status, code, _ := signedCall(t, srv, ten, method, path, []byte(body))
		return status, code
	}
	return bulkAPI{sesClient(srv.URL, ten, 1), s, txs, queue.New(db), raw}
}

// kinds lists the eventTypes of message id, in order.
func kinds(t *testing.T, s *Server, id string) string {
	t.Helper()
	evs, err := s.Events.List(t.Context(), event.Filter{MessageID: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind))
	}
	return strings.Join(out, ",")
}

// mailOf is the stored mail object of message id.
func mailOf(t *testing.T, s *Server, id string) event.Mail {
	t.Helper()
	_, raw, err := s.Spool.Mail(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var m event.Mail
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSendBulkEmail (issue 17): 50 entries through aws-sdk-go-v2 from an
// account in the sandbox — rendered per entry with its replacement data
// (an empty object: the default data), replacement tags and headers;
// suppressed recipients SUCCESS with a Bounce event and no queue entry;
// unverified recipients MESSAGE_REJECTED; data missing an attribute
// SUCCESS with a Rendering Failure event (GetMessageInsights shows it)
// and no delivery; an invalid replacement data INVALID_PARAMETER. Every
// accepted entry is its own message, and all are stored in ONE group
// commit.
func TestSendBulkEmail(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testSendBulkEmail(t, backend) })
	}
}

type bulkCase int

const (
	bulkPlain bulkCase = iota
	bulkDefaultData
	bulkSuppressed
	bulkUnverified
	bulkRenderFailure
	bulkBadData
)

func testSendBulkEmail(t *testing.T, backend string) {
	api := sandyAPI(t, backend)
	ses, s, txs, q := api.ses, api.s, api.txs, api.q
	ctx := t.Context()
	caseOf := func(i int) bulkCase {
		switch {
		case i >= 40 && i < 44:
			return bulkUnverified
		case i >= 44 && i < 48:
			return bulkRenderFailure
		case i == 48:
			return bulkBadData
		case i%10 == 3:
			return bulkSuppressed
		case i%10 == 7:
			return bulkDefaultData
		}
		return bulkPlain
	}
	var entries []types.BulkEmailEntry
	for i := range 50 {
		to := fmt.Sprintf("user%d@sandy.example", i)
		data := fmt.Sprintf(`{"name":"User %d","vip":%v}`, i, i == 0)
		switch caseOf(i) {
		case bulkUnverified:
			to = fmt.Sprintf("user%d@elsewhere.example", i)
		case bulkRenderFailure:
			data = `{"nom":"x"}`
		case bulkDefaultData:
			data = `{ }`
		case bulkBadData:
			data = `["not", "an", "object"]`
		case bulkSuppressed:
			a, _ := address.Parse(to)
			if err := s.Suppression.Put(ctx, "sandy", suppression.Entry{Address: a, Reason: suppression.Bounce}); err != nil {
				t.Fatal(err)
			}
		}
		e := types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{to}},
			ReplacementEmailContent: &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(data)}}}
		if i == 1 {
			e.ReplacementTags = []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("summer")}}
			e.ReplacementHeaders = []types.MessageHeader{{Name: aws.String("x-campaign"), Value: aws.String("autumn")}, {Name: aws.String("X-Extra"), Value: aws.String("1")}}
		}
		entries = append(entries, e)
	}
	txs.take()
	out, err := ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("News <news@sandy.example>"),
		DefaultContent: &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{"name":"Friend"}`),
			Headers: []types.MessageHeader{{Name: aws.String("X-Campaign"), Value: aws.String("spring")}}}},
		DefaultEmailTags: []types.MessageTag{{Name: aws.String("campaign"), Value: aws.String("spring")}, {Name: aws.String("kind"), Value: aws.String("news")}},
		BulkEmailEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.BulkEmailEntryResults) != 50 {
		t.Fatalf("%d results", len(out.BulkEmailEntryResults))
	}
	if n := txs.take(); n != 1 {
		t.Errorf("the call's messages were stored in %d transactions, want 1 group commit", n)
	}
	ids := map[string]bool{}
	queued := 0
	for i, r := range out.BulkEmailEntryResults {
		id := aws.ToString(r.MessageId)
		c := caseOf(i)
		wantStatus := types.BulkEmailStatusSuccess
		switch c {
		case bulkUnverified:
			wantStatus = types.BulkEmailStatusMessageRejected
		case bulkBadData:
			wantStatus = types.BulkEmailStatusInvalidParameter
		}
		if r.Status != wantStatus {
			t.Errorf("entry %d: status %s (%s), want %s", i, r.Status, aws.ToString(r.Error), wantStatus)
			continue
		}
		if wantStatus != types.BulkEmailStatusSuccess {
			if id != "" || aws.ToString(r.Error) == "" {
				t.Errorf("entry %d: refused with MessageId %q, Error %q", i, id, aws.ToString(r.Error))
			}
			if c == bulkUnverified && !strings.Contains(aws.ToString(r.Error), fmt.Sprintf("user%d@elsewhere.example", i)) {
				t.Errorf("entry %d: Error %q does not name the recipient", i, aws.ToString(r.Error))
			}
			continue
		}
		if id == "" || ids[id] {
			t.Fatalf("entry %d: MessageId %q (duplicate or empty)", i, id)
		}
		ids[id] = true
		want := map[bulkCase]string{bulkPlain: "Send", bulkDefaultData: "Send", bulkSuppressed: "Send,Bounce", bulkRenderFailure: "Send,Rendering Failure"}[c]
		if got := kinds(t, s, id); got != want {
			t.Errorf("entry %d (%d): events %s, want %s", i, c, got, want)
		}
		m := mailOf(t, s, id)
		if m.Tags["ses:operation"][0] != "SendBulkEmail" || m.Source != "News <news@sandy.example>" ||
			!slices.Equal(m.Destination, []string{fmt.Sprintf("user%d@sandy.example", i)}) {
			t.Errorf("entry %d: mail %+v", i, m)
		}
		switch c {
		case bulkPlain, bulkDefaultData:
			queued++
			wantSubject := fmt.Sprintf("Hi User %d", i)
			if c == bulkDefaultData {
				wantSubject = "Hi Friend"
			}
			if m.CommonHeaders.Subject != wantSubject {
				t.Errorf("entry %d: subject %q, want %q", i, m.CommonHeaders.Subject, wantSubject)
			}
			body, err := s.Spool.Body(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if vip := strings.Contains(string(body), "VIP"); vip != (i == 0) {
				t.Errorf("entry %d: VIP in body %v", i, vip)
			}
		case bulkRenderFailure:
			if len(m.Headers) != 0 || m.CommonHeaders.Subject != "" {
				t.Errorf("entry %d: a rendering failure's mail object has headers %+v", i, m.Headers)
			}
			evs, _ := s.Events.List(ctx, event.Filter{MessageID: id, Kind: event.RenderingFailure})
			var f event.RenderingFailureDetail
			if len(evs) != 1 || json.Unmarshal(evs[0].Detail, &f) != nil || f.TemplateName != "Welcome" ||
				f.ErrorMessage != "Attribute 'name' is not present in the rendering data." {
				t.Errorf("entry %d: failure %+v", i, f)
			}
			ins, err := ses.GetMessageInsights(ctx, &sesv2.GetMessageInsightsInput{MessageId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			var types_ []string
			for _, e := range ins.Insights[0].Events {
				types_ = append(types_, string(e.Type))
			}
			if strings.Join(types_, ",") != "SEND,RENDERING_FAILURE" {
				t.Errorf("entry %d: insights %v", i, types_)
			}
		}
		if i == 1 {
			if !slices.Equal(m.Tags["campaign"], []string{"summer"}) || !slices.Equal(m.Tags["kind"], []string{"news"}) {
				t.Errorf("entry 1: tags %v, want campaign=summer (replaced), kind=news (default)", m.Tags)
			}
			var got []string
			for _, h := range m.Headers {
				if strings.EqualFold(h.Name, "X-Campaign") || h.Name == "X-Extra" {
					got = append(got, h.Name+": "+h.Value)
				}
			}
			if strings.Join(got, "; ") != "x-campaign: autumn; X-Extra: 1" {
				t.Errorf("entry 1: headers %v, want the template's X-Campaign replaced", got)
			}
		}
		if i == 2 {
			if !slices.Equal(m.Tags["campaign"], []string{"spring"}) {
				t.Errorf("entry 2: tags %v", m.Tags)
			}
		}
	}
	if n, err := q.Len(ctx); err != nil || n != queued {
		t.Errorf("queue holds %d entries (%v), want %d (no entry for suppressed recipients and rendering failures)", n, err, queued)
	}
}

// TestSendBulkEmailCallErrors: what fails the whole call (nothing stored,
// SES's exception) against what fails one entry.
func TestSendBulkEmailCallErrors(t *testing.T) {
	api := sandyAPI(t, "sqlite")
	ses, s, txs := api.ses, api.s, api.txs
	ctx := t.Context()
	entry := func(to string) types.BulkEmailEntry {
		return types.BulkEmailEntry{Destination: &types.Destination{ToAddresses: []string{to}}}
	}
	in := func(change func(*sesv2.SendBulkEmailInput)) *sesv2.SendBulkEmailInput {
		r := &sesv2.SendBulkEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
			DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{"name":"F"}`)}},
			BulkEmailEntries: []types.BulkEmailEntry{entry("a@sandy.example"), entry("b@sandy.example")}}
		change(r)
		return r
	}
	many := make([]types.BulkEmailEntry, 51)
	for i := range many {
		many[i] = entry("a@sandy.example")
	}
	cases := []struct {
		name, code string
		in         *sesv2.SendBulkEmailInput
	}{
		{"template not found", "NotFoundException", in(func(r *sesv2.SendBulkEmailInput) { r.DefaultContent.Template.TemplateName = aws.String("Nope") })},
		{"51 entries", "BadRequestException", in(func(r *sesv2.SendBulkEmailInput) { r.BulkEmailEntries = many })},
		{"default data not an object", "BadRequestException", in(func(r *sesv2.SendBulkEmailInput) { r.DefaultContent.Template.TemplateData = aws.String(`[1]`) })},
		{"inline default content not valid syntax", "BadRequestException", in(func(r *sesv2.SendBulkEmailInput) {
			r.DefaultContent.Template.TemplateName = nil
			r.DefaultContent.Template.TemplateContent = &types.EmailTemplateContent{Subject: aws.String("{{#if x}}"), Text: aws.String("t")}
		})},
		{"unverified sender", "MessageRejected", in(func(r *sesv2.SendBulkEmailInput) { r.FromEmailAddress = aws.String("news@elsewhere.example") })},
		{"unknown configuration set", "NotFoundException", in(func(r *sesv2.SendBulkEmailInput) { r.ConfigurationSetName = aws.String("nope") })},
		{"16 replacement headers", "BadRequestException", in(func(r *sesv2.SendBulkEmailInput) {
			for i := range 16 {
				r.BulkEmailEntries[0].ReplacementHeaders = append(r.BulkEmailEntries[0].ReplacementHeaders,
					types.MessageHeader{Name: aws.String(fmt.Sprintf("X-H%d", i)), Value: aws.String("v")})
			}
		})},
	}
	for _, c := range cases {
		if _, err := ses.SendBulkEmail(ctx, c.in); errCode(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// Shapes the SDK itself refuses to send.
	for _, body := range []string{
		`{"FromEmailAddress":"news@sandy.example","BulkEmailEntries":[{"Destination":{"ToAddresses":["a@sandy.example"]}}]}`,
		`{"FromEmailAddress":"news@sandy.example","DefaultContent":{"Template":{"TemplateName":"Welcome"}}}`,
		`{"FromEmailAddress":"news@sandy.example","DefaultContent":{"Template":{"TemplateName":"Welcome"}},"BulkEmailEntries":[{}]}`,
	} {
		if status, code := api.raw("POST", "/v2/email/outbound-bulk-emails", body); status != 400 || code != "BadRequestException" {
			t.Errorf("%s: %d %s, want 400 BadRequestException", body, status, code)
		}
	}
	if n := txs.take(); n != 0 {
		t.Errorf("refused calls stored messages in %d transactions", n)
	}
	if err := s.Accounts.SetSendingEnabled(ctx, "sandy", false); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.SendBulkEmail(ctx, in(func(*sesv2.SendBulkEmailInput) {})); errCode(err) != "SendingPausedException" {
		t.Errorf("paused account: %v", err)
	}
	if err := s.Accounts.SetSendingEnabled(ctx, "sandy", true); err != nil {
		t.Fatal(err)
	}
	// The daily quota is admitted per entry: the entries past it are
	// ACCOUNT_DAILY_QUOTA_EXCEEDED, the others are sent. A rendering
	// failure counts as the message would have (SES meters at acceptance).
	if err := s.Accounts.SetQuota(ctx, "sandy", account.Quota{Max24HourSend: 2, MaxSendRate: -1}); err != nil {
		t.Fatal(err)
	}
	out, err := ses.SendBulkEmail(ctx, in(func(r *sesv2.SendBulkEmailInput) {
		r.BulkEmailEntries = append(r.BulkEmailEntries, entry("c@sandy.example"), entry("d@sandy.example"))
		r.BulkEmailEntries[0].ReplacementEmailContent = &types.ReplacementEmailContent{
			ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(`{"x":1}`)}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.BulkEmailEntryResults {
		got = append(got, string(r.Status))
	}
	if strings.Join(got, ",") != "SUCCESS,SUCCESS,ACCOUNT_DAILY_QUOTA_EXCEEDED,ACCOUNT_DAILY_QUOTA_EXCEEDED" {
		t.Errorf("over the daily quota: %v", got)
	}
	if k := kinds(t, s, aws.ToString(out.BulkEmailEntryResults[0].MessageId)); k != "Send,Rendering Failure" {
		t.Errorf("entry 0: events %s, want a rendering failure", k)
	}
}

// TestSendEmailTemplate (issue 17): SendEmail's Content.Template by name,
// ARN and inline content; a rendering failure is accepted (MessageId) with
// Send and Rendering Failure events and no delivery; SES's call errors.
func TestSendEmailTemplate(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			api := sandyAPI(t, backend)
			ses, s, q := api.ses, api.s, api.q
			ctx := t.Context()
			a, err := s.Accounts.Get(ctx, "sandy")
			if err != nil {
				t.Fatal(err)
			}
			arn := template.ARN("us-east-1", a.SendingAccountID, "Welcome")
			send := func(tc *types.Template) (string, error) {
				out, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("news@sandy.example"),
					Destination: &types.Destination{ToAddresses: []string{"jo@sandy.example"}}, Content: &types.EmailContent{Template: tc}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.MessageId), nil
			}
			for _, c := range []struct {
				name, subject string
				tc            *types.Template
			}{
				{"by name", "Hi Jo", &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{"name":"Jo"}`)}},
				{"by ARN", "Hi Ann", &types.Template{TemplateArn: aws.String(arn), TemplateData: aws.String(`{"name":"Ann"}`)}},
				{"inline", "Yo Bo", &types.Template{TemplateContent: &types.EmailTemplateContent{Subject: aws.String("Yo {{n}}"), Text: aws.String("t")},
					TemplateData: aws.String(`{"n":"Bo"}`), Headers: []types.MessageHeader{{Name: aws.String("X-A"), Value: aws.String("b")}}}},
			} {
				id, err := send(c.tc)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if m := mailOf(t, s, id); m.CommonHeaders.Subject != c.subject || kinds(t, s, id) != "Send" {
					t.Errorf("%s: subject %q, events %s", c.name, m.CommonHeaders.Subject, kinds(t, s, id))
				}
			}
			before, _ := q.Len(ctx)
			id, err := send(&types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`{}`)})
			if err != nil || id == "" {
				t.Fatalf("rendering failure: %q, %v (want accepted)", id, err)
			}
			if got := kinds(t, s, id); got != "Send,Rendering Failure" {
				t.Errorf("rendering failure: events %s", got)
			}
			if after, _ := q.Len(ctx); after != before {
				t.Errorf("rendering failure queued %d entries", after-before)
			}
			for _, c := range []struct {
				name, code string
				tc         *types.Template
			}{
				{"unknown name", "NotFoundException", &types.Template{TemplateName: aws.String("Nope")}},
				{"another account's ARN", "NotFoundException", &types.Template{TemplateArn: aws.String(template.ARN("us-east-1", "999999999999", "Welcome"))}},
				{"malformed ARN", "BadRequestException", &types.Template{TemplateArn: aws.String("arn:nope")}},
				{"data not an object", "BadRequestException", &types.Template{TemplateName: aws.String("Welcome"), TemplateData: aws.String(`"x"`)}},
				{"name and content", "BadRequestException", &types.Template{TemplateName: aws.String("Welcome"),
					TemplateContent: &types.EmailTemplateContent{Subject: aws.String("x")}}},
				{"inline content not valid syntax", "BadRequestException", &types.Template{
					TemplateContent: &types.EmailTemplateContent{Subject: aws.String("x"), Text: aws.String("{{#each xs}}open")}}},
				{"inline content over 500 KB", "BadRequestException", &types.Template{
					TemplateContent: &types.EmailTemplateContent{Subject: aws.String("x"), Text: aws.String(strings.Repeat("x", template.MaxSize+1))}}},
			} {
				if _, err := send(c.tc); errCode(err) != c.code {
					t.Errorf("%s: %v, want %s", c.name, err, c.code)
				}
			}
		})
	}
}
