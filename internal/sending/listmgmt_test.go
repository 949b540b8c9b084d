package sending_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/template"
)

var listKey = contacts.TokenKey([]byte("0123456789abcdef0123456789abcdef"))

// listHarness is a Sender with list management over a real store: list
// "news" with topics "sports" (default OPT_IN) and "promo" (default
// OPT_OUT); contacts gone@other.test (unsubscribed from all) and
// nosports@other.test (opted out of sports).
type listHarness struct {
	s  *sending.Sender
	db *store.DB
}

func newListHarness(t *testing.T, backend string) *listHarness {
	t.Helper()
	s, db := newTestStore(t, backend, nil)
	c := contacts.New(db, nil)
	ctx := t.Context()
	if err := c.CreateList(ctx, testAccount, contacts.List{Name: "news", Topics: []contacts.Topic{
		{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn},
		{Name: "promo", DisplayName: "Promotions", DefaultSubscriptionStatus: contacts.OptOut}}}); err != nil {
		t.Fatal(err)
	}
	for _, ct := range []contacts.Contact{
		{List: "news", Email: "gone@other.test", UnsubscribeAll: true},
		{List: "news", Email: "nosports@other.test", TopicPreferences: []contacts.TopicPreference{{Topic: "sports", Status: contacts.OptOut}}},
	} {
		if err := c.CreateContact(ctx, testAccount, ct); err != nil {
			t.Fatal(err)
		}
	}
	s.Lists = &sending.Lists{Contacts: c, Key: listKey, PublicURL: "https://petrel.test", Domain: "bounces.petrel.test"}
	return &listHarness{s: s, db: db}
}

func (h *listHarness) send(t *testing.T, raw string, lm *sending.ListManagement, rcpts ...string) (string, error) {
	t.Helper()
	var as []address.Address
	for _, r := range rcpts {
		as = append(as, mustAddr(t, r))
	}
	return h.s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendEmail", Recipients: as, Raw: []byte(raw), ListManagement: lm})
}

// stored returns the stored body (as parsed), the recipients with queue
// entries and the Bounce events' recipients and rules.
func (h *listHarness) stored(t *testing.T, id string) (body *message.Message, queued []string, bounces map[string]string) {
	t.Helper()
	ctx := context.Background()
	b, err := spool.New(h.db).Body(ctx, id)
	if err == nil && len(b) > 0 { // a body nothing is queued for is released
		if body, err = message.Parse(b); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := h.db.QueryContext(ctx, h.db.Rebind("SELECT rcpt FROM queue WHERE message_id = ? ORDER BY id"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		rows.Scan(&r)
		queued = append(queued, r)
	}
	evs, err := event.NewLog(h.db).List(ctx, event.Filter{MessageID: id, Kind: event.Bounce})
	if err != nil {
		t.Fatal(err)
	}
	bounces = map[string]string{}
	for _, e := range evs {
		bounces[e.Recipient] = string(e.Detail)
	}
	return body, queued, bounces
}

const listRaw = "From: sender@example.com\r\nTo: fan@other.test\r\nSubject: weekly\r\n" +
	"List-Unsubscribe: <https://caller.example/unsub>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
	"Unsubscribe: {{amazonSESUnsubscribeUrl}}\r\n--b\r\nContent-Type: text/html\r\n\r\n" +
	"<a href=\"{{amazonSESUnsubscribeUrl}}\">unsubscribe</a>\r\n--b--\r\n"

// TestListManagementSingleRecipient: a message to one subscribed contact,
// by the API's ListManagementOptions or by the header field, gets SES's
// List-Unsubscribe (HTTPS one-click URL and mailto:, the caller's own
// replaced) and List-Unsubscribe-Post, and its placeholders the page URL;
// the token names account, list, topic, recipient and message.
func TestListManagementSingleRecipient(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newListHarness(t, backend)
		for _, c := range []struct {
			name  string
			raw   string
			lm    *sending.ListManagement
			topic string
		}{
			{"api", listRaw, &sending.ListManagement{ContactList: "news", Topic: "sports"}, "sports"},
			{"header", "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=sports\r\n" + listRaw, nil, "sports"},
			{"api overrides header", "X-SES-LIST-MANAGEMENT-OPTIONS: other; topic=x\r\n" + listRaw, &sending.ListManagement{ContactList: "news"}, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				id, err := h.send(t, c.raw, c.lm, "fan@other.test")
				if err != nil {
					t.Fatal(err)
				}
				body, queued, bounces := h.stored(t, id)
				if len(queued) != 1 || len(bounces) != 0 {
					t.Fatalf("queued %v, bounces %v", queued, bounces)
				}
				want := contacts.Token{Account: testAccount, List: "news", Topic: c.topic, Email: "fan@other.test", MessageID: id}
				lu, post := contacts.Headers(want, listKey, "https://petrel.test", "bounces.petrel.test")
				if got := body.Values("List-Unsubscribe"); len(got) != 1 || got[0] != lu {
					t.Errorf("List-Unsubscribe %q, want %q", got, lu)
				}
				if !strings.Contains(lu, "<https://petrel.test/unsubscribe/") || !strings.Contains(lu, "<mailto:u-") {
					t.Errorf("List-Unsubscribe %q lacks the https or mailto URI", lu)
				}
				if got := body.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" || post != got {
					t.Errorf("List-Unsubscribe-Post %q", got)
				}
				if body.Get("X-SES-LIST-MANAGEMENT-OPTIONS") != "" {
					t.Error("X-SES-LIST-MANAGEMENT-OPTIONS delivered")
				}
				page := contacts.PageURL(want, listKey, "https://petrel.test")
				b := string(body.Body)
				if strings.Contains(b, message.UnsubscribePlaceholder) || strings.Count(b, page) != 2 {
					t.Errorf("body does not have the page URL twice instead of the placeholders:\n%s", b)
				}
				tok := page[strings.LastIndex(page, "/")+1:]
				if got, err := contacts.ParseToken(tok, listKey); err != nil || got != want {
					t.Errorf("page token = %+v, %v; want %+v", got, err, want)
				}
			})
		}
	})
}

// TestListManagementUnsubscribed: recipients who unsubscribed get no queue
// entry but a Bounce event (Permanent / OnAccountSuppressionList, rule
// contact-list-unsubscribed) and the call succeeds; a message to several
// recipients gets no List-Unsubscribe and keeps its placeholders (SES adds
// them for one recipient only); a message its sender DKIM-signed is not
// changed, but still not sent to the unsubscribed.
func TestListManagementUnsubscribed(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newListHarness(t, backend)
		for _, c := range []struct {
			name    string
			raw     string
			lm      sending.ListManagement
			rcpts   []string
			queued  []string
			bounced []string
		}{
			{"topic", listRaw, sending.ListManagement{ContactList: "news", Topic: "sports"},
				[]string{"fan@other.test", "gone@other.test", "nosports@other.test"}, []string{"fan@other.test"}, []string{"gone@other.test", "nosports@other.test"}},
			{"whole list", listRaw, sending.ListManagement{ContactList: "news"},
				[]string{"fan@other.test", "gone@other.test", "nosports@other.test"}, []string{"fan@other.test", "nosports@other.test"}, []string{"gone@other.test"}},
			{"opt-out default", listRaw, sending.ListManagement{ContactList: "news", Topic: "promo"},
				[]string{"fan@other.test", "gone@other.test"}, nil, []string{"fan@other.test", "gone@other.test"}},
			{"single unsubscribed", listRaw, sending.ListManagement{ContactList: "news"},
				[]string{"gone@other.test"}, nil, []string{"gone@other.test"}},
			{"signed by sender", "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=x; b=y\r\n" + listRaw,
				sending.ListManagement{ContactList: "news", Topic: "sports"}, []string{"fan@other.test", "nosports@other.test"},
				[]string{"fan@other.test"}, []string{"nosports@other.test"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				lm := c.lm
				id, err := h.send(t, c.raw, &lm, c.rcpts...)
				if err != nil {
					t.Fatal(err)
				}
				body, queued, bounces := h.stored(t, id)
				if strings.Join(queued, ",") != strings.Join(c.queued, ",") {
					t.Errorf("queued %v, want %v", queued, c.queued)
				}
				if len(bounces) != len(c.bounced) {
					t.Errorf("bounces %v, want for %v", bounces, c.bounced)
				}
				for _, r := range c.bounced {
					d := bounces[r]
					for _, want := range []string{`"bounceType":"Permanent"`, `"bounceSubType":"OnAccountSuppressionList"`, `unsubscribed from the`, `"status":"5.1.1"`} {
						if !strings.Contains(d, want) {
							t.Errorf("bounce of %s %s lacks %s", r, d, want)
						}
					}
				}
				if body == nil {
					if len(c.queued) != 0 {
						t.Fatal("no body stored")
					}
					return
				}
				if got := body.Get("List-Unsubscribe"); got != "<https://caller.example/unsub>" {
					t.Errorf("List-Unsubscribe %q, want the caller's", got)
				}
				if body.Get("List-Unsubscribe-Post") != "" || strings.Count(string(body.Body), message.UnsubscribePlaceholder) != 2 {
					t.Errorf("message changed:\n%s", body.Body)
				}
			})
		}
	})
}

// TestListManagementRefused: an unknown list or topic is *ListNotFoundError
// (NotFoundException), a malformed header field *RejectedError, and a
// Sender without list management refuses list-managed mail; nothing is
// stored.
func TestListManagementRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newListHarness(t, backend)
		var nf *sending.ListNotFoundError
		var rej *sending.RejectedError
		for _, c := range []struct {
			name  string
			raw   string
			lm    *sending.ListManagement
			check func(error) bool
		}{
			{"unknown list", listRaw, &sending.ListManagement{ContactList: "other"}, func(err error) bool { return errors.As(err, &nf) && nf.Topic == "" }},
			{"unknown topic", listRaw, &sending.ListManagement{ContactList: "news", Topic: "cycling"}, func(err error) bool { return errors.As(err, &nf) && nf.Topic == "cycling" }},
			{"header unknown list", "X-SES-LIST-MANAGEMENT-OPTIONS: other\r\n" + listRaw, nil, func(err error) bool { return errors.As(err, &nf) }},
			{"header malformed", "X-SES-LIST-MANAGEMENT-OPTIONS: news; topics=a\r\n" + listRaw, nil, func(err error) bool { return errors.As(err, &rej) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := h.send(t, c.raw, c.lm, "fan@other.test"); !c.check(err) {
					t.Fatalf("err = %v (%T)", err, err)
				}
			})
		}
		h.s.Lists = nil
		if _, err := h.send(t, listRaw, &sending.ListManagement{ContactList: "news"}, "fan@other.test"); !errors.As(err, &nf) {
			t.Fatalf("without list management: %v", err)
		}
		assertNothingStored(t, h.db)
		// Without list management the message is sent as written.
		id, err := h.send(t, listRaw, nil, "fan@other.test")
		if err != nil {
			t.Fatal(err)
		}
		if body, _, _ := h.stored(t, id); body.Get("List-Unsubscribe-Post") != "" || !strings.Contains(string(body.Body), message.UnsubscribePlaceholder) {
			t.Errorf("message without list management changed:\n%s", body.Body)
		}
	})
}

func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// BenchmarkSendListManagement is BenchmarkSend's store enqueue of a 5 KB
// multipart message to one recipient, sequentially, without list
// management ("none") and with it ("list": the contact-list query, the
// token, the two header fields and the placeholder replaced in both text
// parts): the difference is the list-management path's cost a message.
// The wall time is mostly the commit's fsync; cpu-µs/op is the process's
// CPU time a message, the part list management adds to.
func BenchmarkSendListManagement(b *testing.B) {
	para := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n", 30)
	raw := []byte(strings.Replace(strings.Replace(listRaw, "Unsubscribe: {{", para+"Unsubscribe: {{", 1), "<a href", para+"<a href", 1))
	for _, backend := range store.Backends() {
		for _, lm := range []*sending.ListManagement{nil, {ContactList: "news", Topic: "sports"}} {
			name := backend + "/none"
			if lm != nil {
				name = backend + "/list"
			}
			b.Run(name, func(b *testing.B) {
				h := newBenchListHarness(b, backend)
				rcpt := mustAddrB(b, "fan@other.test")
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					if _, err := h.Send(context.Background(), sending.Request{Account: testAccount, Operation: "SendEmail",
						Recipients: []address.Address{rcpt}, Raw: raw, ListManagement: lm}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

func newBenchListHarness(b *testing.B, backend string) *sending.Sender {
	s, db := newTestStore(b, backend, nil)
	c := contacts.New(db, nil)
	if err := c.CreateList(context.Background(), testAccount, contacts.List{Name: "news", Topics: []contacts.Topic{
		{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
		b.Fatal(err)
	}
	s.Lists = &sending.Lists{Contacts: c, Key: listKey, PublicURL: "https://petrel.test", Domain: "bounces.petrel.test"}
	return s
}

func mustAddrB(b *testing.B, s string) address.Address {
	a, err := address.Parse(s)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// TestListManagementBulk: SendBulkEmail has no ListManagementOptions (SES's
// model), but the X-SES-LIST-MANAGEMENT-OPTIONS header field in the
// template's headers (or an entry's ReplacementHeaders) applies per entry:
// each entry's message carries a token naming its own recipient and
// message ID, an unsubscribed entry is SUCCESS but bounced, and an entry
// naming an unknown list is INVALID_PARAMETER.
func TestListManagementBulk(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newListHarness(t, backend)
		hdr := [][2]string{{"X-SES-LIST-MANAGEMENT-OPTIONS", "news; topic=sports"}}
		res, err := h.s.SendBulk(t.Context(), sending.BulkRequest{Account: testAccount, From: "sender@example.com",
			Template: sending.Template{Inline: &template.Content{Subject: "Hi {{name}}", Text: "Hello {{name}}"}, Data: `{"name":"you"}`, Headers: hdr},
			Entries: []sending.BulkEntry{
				{To: []address.Address{mustAddr(t, "fan@other.test")}},
				{To: []address.Address{mustAddr(t, "nosports@other.test")}},
				{To: []address.Address{mustAddr(t, "friend@other.test")}},
				{To: []address.Address{mustAddr(t, "fan@other.test")}, Headers: [][2]string{{"X-SES-LIST-MANAGEMENT-OPTIONS", "nosuchlist"}}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		want := []sending.BulkStatus{sending.BulkSuccess, sending.BulkSuccess, sending.BulkSuccess, sending.BulkInvalidParameter}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("entry %d: %+v, want %s", i, r, want[i])
			}
		}
		for i, rcpt := range []string{"fan@other.test", "", "friend@other.test"} {
			body, queued, bounces := h.stored(t, res[i].MessageID)
			if rcpt == "" {
				if len(queued) != 0 || len(bounces) != 1 {
					t.Errorf("unsubscribed entry: queued %v, bounces %v", queued, bounces)
				}
				continue
			}
			lu := body.Get("List-Unsubscribe")
			want := contacts.Token{Account: testAccount, List: "news", Topic: "sports", Email: rcpt, MessageID: res[i].MessageID}
			if wantLU, _ := contacts.Headers(want, listKey, "https://petrel.test", "bounces.petrel.test"); lu != wantLU {
				t.Errorf("entry %d: List-Unsubscribe %q, want %q", i, lu, wantLU)
			}
		}
	})
}
