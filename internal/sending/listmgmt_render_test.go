package sending_test

import (
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/template"
)

// TestListManagementRenderingFailure: a template that fails to render is
// stored with its Send and Rendering Failure events only, whatever list
// management says: no Bounce event for an unsubscribed recipient, no
// queue entry, and list management is not consulted at all (even a list
// that does not exist does not refuse the message), as the suppression
// lists are not.
func TestListManagementRenderingFailure(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		h := newListHarness(t, backend)
		failing := &sending.Template{Inline: &template.Content{Subject: "Hi {{name}}", Text: "Hello {{name}} {{amazonSESUnsubscribeUrl}}"}}
		for _, c := range []struct {
			name string
			lm   *sending.ListManagement
			to   string
		}{
			{"unsubscribed recipient", &sending.ListManagement{ContactList: "news"}, "gone@other.test"},
			{"subscribed recipient", &sending.ListManagement{ContactList: "news", Topic: "sports"}, "fan@other.test"},
			{"unknown list", &sending.ListManagement{ContactList: "nosuchlist"}, "fan@other.test"},
		} {
			to := mustAddr(t, c.to)
			id, err := h.s.Send(t.Context(), sending.Request{Account: testAccount, Operation: "SendEmail", Recipients: []address.Address{to},
				ListManagement: c.lm, Content: &sending.Content{From: "sender@example.com", To: []address.Address{to}, Template: failing}})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			_, queued, bounces := h.stored(t, id)
			if len(queued) != 0 || len(bounces) != 0 {
				t.Errorf("%s: queued %v, bounces %v; want neither", c.name, queued, bounces)
			}
			evs, err := event.NewLog(h.db).List(t.Context(), event.Filter{MessageID: id})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range evs {
				kinds = append(kinds, string(e.Kind))
			}
			if strings.Join(kinds, ",") != "Send,Rendering Failure" {
				t.Errorf("%s: events %v, want Send, Rendering Failure", c.name, kinds)
			}
		}
	})
}
