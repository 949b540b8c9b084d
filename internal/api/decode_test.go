package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// goTypeRE matches what Go's type names look like in a message.
var goTypeRE = regexp.MustCompile(`struct \{|\*string|\*bool|\bapi\.|map\[|\[\]|\binterface\b|int64|float64|Go value|json:`)

// TestDecodeTypeErrors: a JSON body of the wrong shape — a list, a string
// or a number where an object is expected, or a field of the wrong kind —
// is a BadRequestException that names the field (or says the body must be
// an object), never Go's type names; across several operations.
func TestDecodeTypeErrors(t *testing.T) {
	_, _, raw := startDestAPI(t, "sqlite")
	const dests = "/v2/email/configuration-sets/s1/event-destinations"
	for _, tc := range []struct {
		name, method, path, body, msg string
	}{
		{"destination: list body", "POST", dests, `[]`, "The request body must be a JSON object, not a list."},
		{"destination: string body", "POST", dests, `"x"`, "The request body must be a JSON object, not a string."},
		{"destination: number body", "POST", dests, `5`, "The request body must be a JSON object, not a number."},
		{"destination: definition a list", "POST", dests, `{"EventDestinationName":"d","EventDestination":[]}`, "Invalid type for field EventDestination: expected an object, got a list."},
		{"destination: types a string", "POST", dests, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":"SEND"}}`, "Invalid type for field EventDestination.MatchingEventTypes: expected a list, got a string."},
		{"destination: name a number", "POST", dests, `{"EventDestinationName":1}`, "Invalid type for field EventDestinationName: expected a string, got a number."},
		{"destination update: list body", "PUT", dests + "/d", `[1]`, "The request body must be a JSON object"},
		{"feedback: list body", "PUT", "/v2/email/identities/acme.example/feedback", `[]`, "The request body must be a JSON object, not a list."},
		{"feedback: bool a string", "PUT", "/v2/email/identities/acme.example/feedback", `{"EmailForwardingEnabled":"no"}`, "Invalid type for field EmailForwardingEnabled: expected a boolean, got a string."},
		{"create set: list body", "POST", "/v2/email/configuration-sets", `[]`, "The request body must be a JSON object, not a list."},
		{"send: list body", "POST", "/v2/email/outbound-emails", `[]`, "The request body must be a JSON object, not a list."},
		{"send: true body", "POST", "/v2/email/outbound-emails", `true`, "The request body must be a JSON object, not a boolean."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := raw(tc.method, tc.path, tc.body)
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if status != 400 || code != "BadRequestException" || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("%d %s %q, want 400 BadRequestException containing %q", status, code, eb.Message, tc.msg)
			}
			if goTypeRE.MatchString(eb.Message) {
				t.Errorf("message %q shows Go types", eb.Message)
			}
		})
	}
}
