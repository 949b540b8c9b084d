package event

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

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
