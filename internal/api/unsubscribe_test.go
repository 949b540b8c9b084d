package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

var unsubTestKey = contacts.TokenKey([]byte("test-verp-secret"))

// unsubRequest sends method to url with body (form-urlencoded unless ct
// says otherwise) and returns the status and body.
func unsubRequest(t *testing.T, method, url, ct, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" && resp.StatusCode != http.StatusNotFound {
		t.Errorf("%s %s: Cache-Control %q", method, url, cc)
	}
	return resp.StatusCode, string(b)
}

// startUnsubscribeAPI starts the API on backend for the tenant "acme",
// with the unsubscribe endpoints on unsubTestKey and acme's contact list.
func startUnsubscribeAPI(t *testing.T, backend string, list contacts.List) (*httptest.Server, *Server, map[string]tenant, *store.DB) {
	t.Helper()
	srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme")
	s.Unsubscribe = &contacts.Unsubscriber{Contacts: s.Contacts, DB: db, Events: s.Events, Key: unsubTestKey}
	if err := s.Contacts.CreateList(t.Context(), "acme", list); err != nil {
		t.Fatal(err)
	}
	return srv, s, tenants, db
}

// TestUnsubscribeEndpoints drives /unsubscribe/{token} through the real
// handler and store: a message is sent, its recipient's token used.
//   - GET and HEAD show the page (names escaped) and change nothing;
//   - one-click (RFC 8058) opts the contact out of exactly the token's
//     topic and records one Subscription event on the message; a repeat
//     is 200 and records nothing; multipart one-click works too;
//   - an altered or foreign token is 404 and changes nothing;
//   - the page's form applies the chosen preferences (source UnsubscribeLink);
//   - a body that is neither is 400, a large one 413, PUT 405, GET with a body 400;
//   - once the list is deleted, the link answers 410 and creates nothing.
func TestUnsubscribeEndpoints(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startUnsubscribeAPI(t, backend, contacts.List{Name: "news", Description: "Our <b>news</b> & more", Topics: []contacts.Topic{
				{Name: "sports", DisplayName: `Sports <script>alert("x")</script>`, Description: "Games & scores", DefaultSubscriptionStatus: contacts.OptIn},
				{Name: "weather", DisplayName: "Weather", DefaultSubscriptionStatus: contacts.OptIn}}})
			ctx := t.Context()
			cs := s.Contacts
			out, err := sesClient(srv.URL, tenants["acme"], 1).SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("me@acme.example"),
				Destination: &types.Destination{ToAddresses: []string{"jane@far.test"}},
				Content: &types.EmailContent{Simple: &types.Message{Subject: &types.Content{Data: aws.String("s")},
					Body: &types.Body{Text: &types.Content{Data: aws.String("b")}}}}})
			if err != nil {
				t.Fatal(err)
			}
			msgID := *out.MessageId
			tok := contacts.Token{Account: "acme", List: "news", Topic: "sports", Email: "jane@far.test", MessageID: msgID}
			link := contacts.PageURL(tok, unsubTestKey, srv.URL)
			subscriptionEvents := func() []event.Event {
				t.Helper()
				evs, err := s.Events.List(ctx, event.Filter{Kind: event.Subscription})
				if err != nil {
					t.Fatal(err)
				}
				return evs
			}
			contact := func(email string) (contacts.Contact, bool) {
				t.Helper()
				c, err := cs.GetContact(ctx, "acme", "news", email)
				if errors.Is(err, contacts.ErrNotFound) {
					return c, false
				}
				if err != nil {
					t.Fatal(err)
				}
				return c, true
			}

			// GET and HEAD: the page, nothing changed.
			st, page := unsubRequest(t, http.MethodGet, link, "", "")
			if st != http.StatusOK || !strings.Contains(page, "Sports &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") ||
				strings.Contains(page, "<script>") || !strings.Contains(page, "Our &lt;b&gt;news&lt;/b&gt; &amp; more") ||
				!strings.Contains(page, `name="topic:sports" value="OPT_IN" checked`) || !strings.Contains(page, `name="unsubscribeAll"`) {
				t.Fatalf("GET page: %d\n%s", st, page)
			}
			if st, _ := unsubRequest(t, http.MethodHead, link, "", ""); st != http.StatusOK {
				t.Errorf("HEAD: %d", st)
			}
			if _, ok := contact("jane@far.test"); ok || len(subscriptionEvents()) != 0 {
				t.Fatal("GET or HEAD changed something")
			}

			// Forged and altered tokens: 404, nothing changed.
			sig := tok.Sign(unsubTestKey)
			repl := "a"
			if sig[20] == 'a' {
				repl = "b"
			}
			altered := srv.URL + "/unsubscribe/" + sig[:20] + repl + sig[21:]
			forged := contacts.PageURL(tok, contacts.TokenKey([]byte("another node")), srv.URL)
			for _, u := range []string{altered, forged, srv.URL + "/unsubscribe/x"} {
				if st, body := unsubRequest(t, http.MethodPost, u, "", "List-Unsubscribe=One-Click"); st != http.StatusNotFound || strings.Contains(body, "jane") {
					t.Errorf("POST %s: %d %s", u, st, body)
				}
			}
			if _, ok := contact("jane@far.test"); ok || len(subscriptionEvents()) != 0 {
				t.Fatal("a bad token changed something")
			}

			// One-click: exactly the token's topic; a repeat is a no-op.
			for i := range 2 {
				if st, body := unsubRequest(t, http.MethodPost, link, "", "List-Unsubscribe=One-Click"); st != http.StatusOK || len(body) > 100 {
					t.Fatalf("one-click #%d: %d %q", i+1, st, body)
				}
			}
			c, ok := contact("jane@far.test")
			if !ok || c.UnsubscribeAll || len(c.TopicPreferences) != 1 || c.TopicPreferences[0] != (contacts.TopicPreference{Topic: "sports", Status: contacts.OptOut}) {
				t.Fatalf("contact after one-click: %+v", c)
			}
			evs := subscriptionEvents()
			if len(evs) != 1 || evs[0].MessageID != msgID || evs[0].Account != "acme" {
				t.Fatalf("events: %+v", evs)
			}
			var d event.SubscriptionDetail
			if err := json.Unmarshal(evs[0].Detail, &d); err != nil || d.Source != "UnsubscribeHeader" || d.ContactList != "news" ||
				d.NewTopicPreferences.TopicSubscriptionStatus[0] != (event.TopicSubscriptionStatus{TopicName: "sports", SubscriptionStatus: "OptOut"}) ||
				d.OldTopicPreferences.TopicSubscriptionStatus[0].SubscriptionStatus != "OptIn" {
				t.Errorf("detail %s (%v)", evs[0].Detail, err)
			}

			// Multipart one-click of a whole-list token.
			whole := contacts.Token{Account: "acme", List: "news", Email: "bob@far.test", MessageID: msgID}
			var mp bytes.Buffer
			mw := multipart.NewWriter(&mp)
			mw.WriteField("List-Unsubscribe", "One-Click")
			mw.Close()
			if st, _ := unsubRequest(t, http.MethodPost, contacts.PageURL(whole, unsubTestKey, srv.URL), mw.FormDataContentType(), mp.String()); st != http.StatusOK {
				t.Fatalf("multipart one-click: %d", st)
			}
			if c, ok := contact("bob@far.test"); !ok || !c.UnsubscribeAll || len(c.TopicPreferences) != 0 {
				t.Fatalf("bob: %+v %v", c, ok)
			}

			// The page's form.
			st, page = unsubRequest(t, http.MethodPost, link, "", "action=save&shownUnsubscribeAll=0&shown%3Asports=OPT_OUT&topic%3Asports=OPT_IN&shown%3Aweather=OPT_IN&topic%3Aweather=OPT_OUT")
			if st != http.StatusOK || !strings.Contains(page, "saved") || !strings.Contains(page, `name="topic:weather" value="OPT_OUT" checked`) {
				t.Fatalf("form POST: %d\n%s", st, page)
			}
			c, _ = contact("jane@far.test")
			if st, _ := c.Preference("sports"); st != contacts.OptIn {
				t.Errorf("sports after form: %+v", c)
			}
			if st, _ := c.Preference("weather"); st != contacts.OptOut {
				t.Errorf("weather after form: %+v", c)
			}
			evs = subscriptionEvents()
			if len(evs) != 3 || !strings.Contains(string(evs[2].Detail), `"source":"UnsubscribeLink"`) {
				t.Errorf("events after form: %d, %s", len(evs), evs[len(evs)-1].Detail)
			}

			// Refusals.
			for _, c := range []struct {
				method, body string
				want         int
			}{
				{http.MethodPost, "hello=world", http.StatusBadRequest},
				{http.MethodPost, "List-Unsubscribe=One-Click&x=" + strings.Repeat("a", MaxUnsubscribeBody), http.StatusRequestEntityTooLarge},
				{http.MethodPut, "List-Unsubscribe=One-Click", http.StatusMethodNotAllowed},
				{http.MethodDelete, "", http.StatusMethodNotAllowed},
				{http.MethodGet, "List-Unsubscribe=One-Click", http.StatusBadRequest},
			} {
				if st, _ := unsubRequest(t, c.method, link, "", c.body); st != c.want {
					t.Errorf("%s %q: %d, want %d", c.method, c.body[:min(len(c.body), 30)], st, c.want)
				}
			}
			if n := len(subscriptionEvents()); n != 3 {
				t.Errorf("refused requests recorded events: %d", n)
			}

			// The list is deleted: 410, nothing created.
			if err := cs.DeleteList(ctx, "acme", "news"); err != nil {
				t.Fatal(err)
			}
			carol := contacts.PageURL(contacts.Token{Account: "acme", List: "news", Email: "carol@far.test", MessageID: msgID}, unsubTestKey, srv.URL)
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				if st, body := unsubRequest(t, m, carol, "", map[string]string{http.MethodPost: "List-Unsubscribe=One-Click"}[m]); st != http.StatusGone ||
					!strings.Contains(body, "no longer exists") {
					t.Errorf("%s after the list was deleted: %d %s", m, st, body)
				}
			}
			if n := len(subscriptionEvents()); n != 3 {
				t.Errorf("events after the list was deleted: %d", n)
			}
		})
	}
}

// pageSubmission is what a browser submits from page unchanged: the
// hidden fields, the checked radios and boxes.
func pageSubmission(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range pageInput.FindAllStringSubmatch(page, -1) {
		if m[1] == "hidden" || m[4] != "" {
			v.Add(html.UnescapeString(m[2]), html.UnescapeString(m[3]))
		}
	}
	if v.Get("action") != "save" {
		t.Fatalf("no form in the page:\n%s", page)
	}
	return v
}

var pageInput = regexp.MustCompile(`<input type="(hidden|radio|checkbox)" name="([^"]*)" value="([^"]*)"( checked)?>`)

// TestUnsubscribeStalePage: the preferences page is opened, then a
// one-click POST (of the list, or of a topic) unsubscribes, then the
// still-open page is saved unchanged: nothing is subscribed again and no
// event recorded, and the page says the preferences had changed. The
// same save from a form that does not carry what it showed (the
// tester's repro body, action=save&topic:weekly=OPT_IN) does not
// subscribe again either. A change the user makes on the stale page
// applies to that control only.
func TestUnsubscribeStalePage(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, _, _ := startUnsubscribeAPI(t, backend, contacts.List{Name: "news", Topics: []contacts.Topic{
				{Name: "weekly", DisplayName: "Weekly", DefaultSubscriptionStatus: contacts.OptIn},
				{Name: "offers", DisplayName: "Offers", DefaultSubscriptionStatus: contacts.OptIn}}})
			ctx := t.Context()
			cs := s.Contacts
			events := func() int {
				t.Helper()
				evs, err := s.Events.List(ctx, event.Filter{Kind: event.Subscription})
				if err != nil {
					t.Fatal(err)
				}
				return len(evs)
			}
			contact := func(email string) contacts.Contact {
				t.Helper()
				c, err := cs.GetContact(ctx, "acme", "news", email)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			post := func(link, body string) string {
				t.Helper()
				st, page := unsubRequest(t, http.MethodPost, link, "", body)
				if st != http.StatusOK {
					t.Fatalf("POST %q: %d\n%s", body, st, page)
				}
				return page
			}

			csp := func(method, link, body string) {
				t.Helper()
				req, _ := http.NewRequest(method, link, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := resp.Header.Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
					if !strings.Contains(got, d) || strings.Contains(got, "script-src") {
						t.Errorf("%s %q: Content-Security-Policy %q", method, body, got)
					}
				}
			}

			// The whole list: one-click between showing and saving.
			whole := contacts.PageURL(contacts.Token{Account: "acme", List: "news", Email: "jane@far.test", MessageID: "m1"}, unsubTestKey, srv.URL)
			_, page := unsubRequest(t, http.MethodGet, whole, "", "")
			if !strings.Contains(page, `name="topic:weekly" value="OPT_IN" checked`) || strings.Contains(page, `name="unsubscribeAll" value="1" checked`) {
				t.Fatalf("page before:\n%s", page)
			}
			form := pageSubmission(t, page)
			post(whole, "List-Unsubscribe=One-Click")
			if !contact("jane@far.test").UnsubscribeAll || events() != 1 {
				t.Fatal("one-click did not unsubscribe")
			}
			page = post(whole, form.Encode())
			if c := contact("jane@far.test"); !c.UnsubscribeAll || len(c.TopicPreferences) != 0 || events() != 1 {
				t.Fatalf("the stale page saved unchanged subscribed again: %+v, %d events", c, events())
			}
			if strings.Contains(page, "have been saved") || !strings.Contains(page, "changed since this page was shown") ||
				!strings.Contains(page, `name="unsubscribeAll" value="1" checked`) {
				t.Errorf("page after the stale save:\n%s", page)
			}
			csp(http.MethodGet, whole, "")
			csp(http.MethodPost, whole, form.Encode())
			// The tester's exact body: no shown state.
			page = post(whole, "action=save&topic%3Aweekly=OPT_IN")
			if c := contact("jane@far.test"); !c.UnsubscribeAll || events() != 1 {
				t.Fatalf("a save without shown state subscribed again: %+v", c)
			}
			if strings.Contains(page, "have been saved") || !strings.Contains(page, "only unsubscribes were applied") {
				t.Errorf("page after the save without shown state:\n%s", page)
			}
			// The stale page with offers turned off: that alone changes.
			form.Set("topic:offers", "OPT_OUT")
			page = post(whole, form.Encode())
			if c := contact("jane@far.test"); !c.UnsubscribeAll || len(c.TopicPreferences) != 1 ||
				c.TopicPreferences[0] != (contacts.TopicPreference{Topic: "offers", Status: contacts.OptOut}) || events() != 2 {
				t.Fatalf("stale page with offers off: %+v, %d events", c, events())
			}
			if !strings.Contains(page, "have been saved") {
				t.Errorf("page after saving offers:\n%s", page)
			}

			// A topic: the topic's one-click between showing and saving.
			weekly := contacts.PageURL(contacts.Token{Account: "acme", List: "news", Topic: "weekly", Email: "bob@far.test", MessageID: "m1"}, unsubTestKey, srv.URL)
			_, page = unsubRequest(t, http.MethodGet, weekly, "", "")
			form = pageSubmission(t, page)
			post(weekly, "List-Unsubscribe=One-Click")
			for _, body := range []string{form.Encode(), "action=save&topic%3Aweekly=OPT_IN&topic%3Aoffers=OPT_IN"} {
				post(weekly, body)
				c := contact("bob@far.test")
				if st, _ := c.Preference("weekly"); st != contacts.OptOut || c.UnsubscribeAll || events() != 3 {
					t.Fatalf("after %q: %+v, %d events", body, c, events())
				}
			}
			// A fresh page on which the user subscribes again: applied.
			_, page = unsubRequest(t, http.MethodGet, weekly, "", "")
			form = pageSubmission(t, page)
			if form.Get("topic:weekly") != "OPT_OUT" {
				t.Fatalf("fresh page: %v", form)
			}
			form.Set("topic:weekly", "OPT_IN")
			post(weekly, form.Encode())
			if st, _ := contact("bob@far.test").Preference("weekly"); st != contacts.OptIn || events() != 4 {
				t.Errorf("subscribing again from a fresh page: %s, %d events", st, events())
			}
		})
	}
}

// TestPreferencesPage compares the page with testdata/unsubscribe_page.html
// (go test -update rewrites it): tenant texts and the address escaped,
// each topic's current status checked, the unsubscribe-all box.
func TestPreferencesPage(t *testing.T) {
	l := contacts.List{Name: "news", Description: `Our "news" & <i>more</i>`, Topics: []contacts.Topic{
		{Name: "sports", DisplayName: "Sports <script>", Description: "Games & scores", DefaultSubscriptionStatus: contacts.OptIn},
		{Name: "weather", DisplayName: "Weather", DefaultSubscriptionStatus: contacts.OptIn}}}
	p := contacts.Preferences{UnsubscribeAll: true, Topics: []contacts.TopicPreference{{Topic: "sports", Status: contacts.OptOut}, {Topic: "weather", Status: contacts.OptIn}}}
	got := preferencesPage(`"<a>"@far.test`, l, p, "Your preferences have been saved.")
	path := filepath.Join("testdata", "unsubscribe_page.html")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("page differs from %s:\n%s", path, got)
	}
}

// TestUnsubscribeRates: requests with tokens that do not verify are
// limited like the verification links (a burst of LinkBurst, then 429),
// while valid tokens from the same address — a mailbox provider relaying
// its users' one-click POSTs — keep being served.
func TestUnsubscribeRates(t *testing.T) {
	srv, _, _, _ := startUnsubscribeAPI(t, "sqlite", contacts.List{Name: "news"})
	refused := 0
	for i := range 2 * LinkBurst {
		bad := contacts.PageURL(contacts.Token{Account: "acme", List: "news", Email: fmt.Sprintf("r%d@far.test", i)}, []byte("guess"), srv.URL)
		switch st, _ := unsubRequest(t, http.MethodPost, bad, "", "List-Unsubscribe=One-Click"); st {
		case http.StatusTooManyRequests:
			refused++
		case http.StatusNotFound:
		default:
			t.Fatalf("bad token: %d", st)
		}
	}
	if refused == 0 {
		t.Errorf("%d bad tokens from one address, none refused", 2*LinkBurst)
	}
	for i := range 2 * LinkBurst {
		good := contacts.PageURL(contacts.Token{Account: "acme", List: "news", Email: fmt.Sprintf("r%d@far.test", i)}, unsubTestKey, srv.URL)
		if st, _ := unsubRequest(t, http.MethodPost, good, "", "List-Unsubscribe=One-Click"); st != http.StatusOK {
			t.Fatalf("valid token #%d after the bad ones: %d", i+1, st)
		}
	}
}

// TestUnsubscribeAnswerKinds: every method answers by the kind of its
// outcome. A recipient with '<' and '>' in a quoted local part (which the
// send path accepts) unsubscribes like any other; a token naming what the
// contacts refuse is a permanent 500, never 503 "try again"; HEAD answers
// what GET answers (410 once the topic or the list is gone); only a store
// failure is 503 with Retry-After.
func TestUnsubscribeAnswerKinds(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, _, db := startUnsubscribeAPI(t, backend, contacts.List{Name: "news", Topics: []contacts.Topic{
				{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn},
				{Name: "weather", DisplayName: "Weather", DefaultSubscriptionStatus: contacts.OptIn}}})
			ctx := t.Context()
			cs := s.Contacts
			link := func(email, topic string) string {
				return contacts.PageURL(contacts.Token{Account: "acme", List: "news", Topic: topic, Email: email, MessageID: "m1"}, unsubTestKey, srv.URL)
			}
			check := func(what, url string, want int) {
				t.Helper()
				for _, m := range []string{http.MethodHead, http.MethodGet, http.MethodPost} {
					req, _ := http.NewRequest(m, url, nil)
					if m == http.MethodPost {
						req, _ = http.NewRequest(m, url, strings.NewReader("List-Unsubscribe=One-Click"))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					resp, err := noRedirect.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want || (m == http.MethodHead && len(b) != 0) {
						t.Errorf("%s %s: %d (%d body bytes), want %d", m, what, resp.StatusCode, len(b), want)
					}
					if ra := resp.Header.Get("Retry-After"); want != http.StatusServiceUnavailable && ra != "" {
						t.Errorf("%s %s: Retry-After %q on a permanent answer", m, what, ra)
					}
				}
			}
			for _, email := range []string{`"<x>"@dest.test`, `"<script>alert(1)</script>"@dest.test`, `"a<b"@dest.test`} {
				check(email, link(email, "sports"), http.StatusOK)
				c, err := cs.GetContact(ctx, "acme", "news", email)
				if st, _ := c.Preference("sports"); err != nil || st != contacts.OptOut {
					t.Errorf("%s after one-click: %+v, %v", email, c, err)
				}
			}
			check("a token naming no address", link("not an address", ""), http.StatusInternalServerError)

			weather := link("jane@far.test", "weather")
			if err := cs.UpdateList(ctx, "acme", contacts.List{Name: "news", Topics: []contacts.Topic{
				{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
				t.Fatal(err)
			}
			check("a deleted topic", weather, http.StatusGone)
			check("a live topic", link("jane@far.test", "sports"), http.StatusOK)
			if err := cs.DeleteList(ctx, "acme", "news"); err != nil {
				t.Fatal(err)
			}
			check("a deleted list", link("jane@far.test", ""), http.StatusGone)

			db.Close()
			check("a store failure", link("jane@far.test", ""), http.StatusServiceUnavailable)
		})
	}
}
