package event

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestDetailKinds: each per-type object names its own eventType, so AddTx
// cannot store a type with another type's object, and the event is read
// back with that eventType and its object under SES's JSON key
// (../shared/spec/ses.md §4.6; autoResponse is Petrel's).
func TestDetailKinds(t *testing.T) {
	cases := []struct {
		detail Detail
		kind   Kind
		key    string
	}{
		{SendDetail{}, Send, "send"},
		{RejectDetail{Reason: "Bad content"}, Reject, "reject"},
		{DeliveryDetail{SMTPResponse: "250 Ok"}, Delivery, "delivery"},
		{BounceDetail{BounceType: "Permanent"}, Bounce, "bounce"},
		{ComplaintDetail{FeedbackID: "f"}, Complaint, "complaint"},
		{DeliveryDelayDetail{DelayType: "MailboxFull"}, DeliveryDelay, "deliveryDelay"},
		{AutoResponseDetail{AutoResponseType: "vacation"}, AutoResponse, "autoResponse"},
		{SubscriptionDetail{ContactList: "L", Source: "UnsubscribeHeader"}, Subscription, "subscription"},
		{RenderingFailureDetail{TemplateName: "t", ErrorMessage: "Attribute 'n' is not present in the rendering data."}, RenderingFailure, "failure"},
	}
	if len(cases) != len(Kinds) {
		t.Fatalf("%d cases for %d kinds", len(cases), len(Kinds))
	}
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			db := store.OpenTest(t, backend)
			l := NewLog(db)
			at := time.UnixMilli(1_700_000_000_000)
			for _, c := range cases {
				if got := c.detail.Kind(); got != c.kind {
					t.Errorf("%T.Kind() = %s, want %s", c.detail, got, c.kind)
				}
				if err := db.Tx(t.Context(), func(tx *sql.Tx) error {
					return l.AddTx(tx, "m-"+c.key, "acme", "r@far.test", at, c.detail)
				}); err != nil {
					t.Fatal(err)
				}
				evs, err := l.List(t.Context(), Filter{MessageID: "m-" + c.key})
				if err != nil || len(evs) != 1 {
					t.Fatalf("%s: List = %v, %v", c.kind, evs, err)
				}
				if evs[0].Kind != c.kind {
					t.Errorf("%T stored as %s, want %s", c.detail, evs[0].Kind, c.kind)
				}
				b, err := json.Marshal(evs[0])
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]json.RawMessage
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				want, _ := json.Marshal(c.detail)
				if string(got["eventType"]) != `"`+string(c.kind)+`"` || string(got[c.key]) != string(want) ||
					string(got["mail"]) != "{}" || len(got) != 3 {
					t.Errorf("%s event JSON = %s, want eventType %q and %q: %s", c.kind, b, c.kind, c.key, want)
				}
			}
		})
	}
}

func TestMarshalSESShape(t *testing.T) {
	d, _ := json.Marshal(DeliveryDelayDetail{Timestamp: "t", DelayType: "MailboxFull", ExpirationTime: "x",
		DelayedRecipients: []DelayedRecipient{{EmailAddress: "a@b.c", Status: "4.2.2", DiagnosticCode: "smtp; 452 4.2.2 full"}}})
	e := Event{Kind: DeliveryDelay, Detail: d, Mail: json.RawMessage(`{"messageId":"m"}`)}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	json.Unmarshal(b, &got)
	if string(got["eventType"]) != `"DeliveryDelay"` || string(got["mail"]) != `{"messageId":"m"}` || got["deliveryDelay"] == nil || len(got) != 3 {
		t.Fatalf("event JSON = %s", b)
	}
	c, _ := json.Marshal(ComplaintDetail{ComplainedRecipients: []Recipient{{"a@b.c"}}, Timestamp: "t", FeedbackID: "f"})
	if !regexp.MustCompile(`"complaintSubType":null`).Match(c) {
		t.Errorf("complaintSubType must be present and null (SES §4.4): %s", c)
	}
	if k, err := ParseKind("deliverydelay"); err != nil || k != DeliveryDelay {
		t.Errorf("ParseKind = %v %v", k, err)
	}
}

func TestNewID(t *testing.T) {
	id := NewID(time.UnixMilli(0x018f1c2b3a4d))
	if !regexp.MustCompile(`^0100018f1c2b3a4d-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-000000$`).MatchString(id) {
		t.Fatalf("NewID = %s, not SES's shape", id)
	}
}

// TestMarshalLikeSES: an event is written in SES's key order, and "<", ">"
// and "&" stay as they are (SES's own JSON; json.Marshal would write \u003c).
func TestMarshalLikeSES(t *testing.T) {
	mail, err := Encode(Mail{Source: `"Sender & Co" <sender@example.com>`})
	if err != nil {
		t.Fatal(err)
	}
	detail, err := Encode(BounceDetail{BounceType: "Permanent", BouncedRecipients: []BouncedRecipient{{EmailAddress: "a@example.com", DiagnosticCode: "smtp; 550 <a@example.com> unknown"}}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Event{Kind: Bounce, Mail: mail, Detail: detail}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`{"eventType":"Bounce","mail":{`, `"source":"\"Sender & Co\" <sender@example.com>"`, `},"bounce":{"bounceType":"Permanent"`, `"smtp; 550 <a@example.com> unknown"`} {
		if !strings.Contains(got, want) {
			t.Errorf("event JSON lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `\u003c`) || strings.Contains(got, `\u0026`) {
		t.Errorf("event JSON escapes HTML characters:\n%s", got)
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back) != 3 {
		t.Errorf("not a 3-key JSON object (%v): %s", err, got)
	}
}
