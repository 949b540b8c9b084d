package daemon

import (
	"bytes"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
)

// TestUnsubscribeWiring: a running Petrel serves one-click unsubscribes on
// its API listener and accepts mailto: unsubscribes on its inbound
// listener, both with tokens keyed from data-dir/verp.key; a token made
// with another key is refused by both.
func TestUnsubscribeWiring(t *testing.T) {
	td := startDaemon(t, nil)
	ctx := t.Context()
	cs := contacts.New(td.d.svc.DB, nil)
	if err := cs.CreateList(ctx, DefaultAccount, contacts.List{Name: "news",
		Topics: []contacts.Topic{{Name: "sports", DisplayName: "Sports", DefaultSubscriptionStatus: contacts.OptIn}}}); err != nil {
		t.Fatal(err)
	}
	verp, err := os.ReadFile(filepath.Join(td.cfg.DataDir, "verp.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := contacts.TokenKey(bytes.TrimSpace(verp))
	base := "http://" + td.d.httpL.Addr().String()
	oneClick := func(tok contacts.Token, k []byte) int {
		t.Helper()
		resp, err := http.Post(contacts.PageURL(tok, k, base), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	jane := contacts.Token{Account: DefaultAccount, List: "news", Topic: "sports", Email: "jane@far.test"}
	if st := oneClick(jane, contacts.TokenKey([]byte("another node"))); st != http.StatusNotFound {
		t.Errorf("foreign token: %d", st)
	}
	if st := oneClick(jane, key); st != http.StatusOK {
		t.Fatalf("one-click: %d", st)
	}
	bob := contacts.Token{Account: DefaultAccount, List: "news", Email: "bob@far.test", MessageID: event.NewID(time.Now())}
	if err := td.d.svc.DB.Tx(ctx, func(tx *sql.Tx) error { return cs.PutMailtoTx(tx, bob, key, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	mailto := func(tok contacts.Token, k []byte) error {
		c, err := smtp.Dial(td.d.inL.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		local, _ := contacts.MailtoLocal(tok.MessageID, k)
		return c.SendMail("bob@far.test", []string{local + "@" + td.cfg.ReturnPathHost()},
			bytes.NewReader([]byte("Subject: unsubscribe\r\n\r\n.\r\n")))
	}
	if err := mailto(bob, contacts.TokenKey([]byte("another node"))); err == nil {
		t.Error("mailto: with a foreign token accepted")
	}
	if err := mailto(bob, key); err != nil {
		t.Fatalf("mailto: %v", err)
	}
	if c, err := cs.GetContact(ctx, DefaultAccount, "news", "bob@far.test"); err != nil || !c.UnsubscribeAll {
		t.Errorf("bob: %+v, %v", c, err)
	}
	evs, err := td.d.svc.Events.List(ctx, event.Filter{Kind: event.Subscription})
	if err != nil || len(evs) != 2 {
		t.Errorf("subscription events: %+v, %v", evs, err)
	}
}

// TestListLinksWiring: the mailto: address is offered only when the
// inbound receiver that answers it runs, and links built on a public URL
// that is not https (RFC 8058 wants HTTPS) are still added but warned
// about, once, at start.
func TestListLinksWiring(t *testing.T) {
	const warning = "List-Unsubscribe links are built on a public URL that is not https"
	for _, c := range []struct {
		name       string
		inbound    string
		publicURL  string
		wantDomain bool
		wantWarn   bool
	}{
		{"inbound, default http URL", "127.0.0.1:0", "", true, true},
		{"no inbound", "", "https://mail.example.test", false, false},
		{"https URL", "127.0.0.1:0", "https://mail.example.test", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			td := startDaemon(t, func(cfg *config.Config) { cfg.Inbound, cfg.PublicURL = c.inbound, c.publicURL })
			lists := td.d.submit.Sender.Lists
			if got := lists.Domain != ""; got != c.wantDomain {
				t.Errorf("mailto: domain %q, want one: %v", lists.Domain, c.wantDomain)
			}
			if c.publicURL != "" && lists.PublicURL != c.publicURL {
				t.Errorf("PublicURL %q", lists.PublicURL)
			}
			if n := strings.Count(td.logs.String(), warning); n != map[bool]int{true: 1}[c.wantWarn] {
				t.Errorf("%d warnings about the non-https public URL, want warned: %v\n%s", n, c.wantWarn, td.logs.String())
			}
		})
	}
}
