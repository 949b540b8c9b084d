package importjob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/petrelmail/petrel/internal/contacts"
)

// ContactRecord is one good record of a contact-list import file.
type ContactRecord struct {
	Line    int    // 1-based line of the file
	Text    string // the line as read, for a Failure (echo)
	Contact contacts.Contact
}

// ParsedContacts is what ParseContacts read of a file.
type ParsedContacts struct {
	Records  []ContactRecord
	Failures []Failure // the first MaxFailures failed records
	Failed   int       // every failed record
	Over     bool      // more than the limit's records; ParseContacts stopped there
}

// Total is the records read, good and failed.
func (p ParsedContacts) Total() int { return len(p.Records) + p.Failed }

func (p *ParsedContacts) fail(line int, text []byte, err error) {
	if p.Failed++; len(p.Failures) < MaxFailures {
		p.Failures = append(p.Failures, Failure{Line: line, Record: echo(text), Error: err.Error()})
	}
}

// ParseContacts reads a contact-list import file (ContactListDestination).
// SES does not publish the format of these files; Petrel's
// (docs/contacts.md, "Importing contacts") follows the suppression-list
// files (Parse: line ends, blank lines, byte order mark, CSV quoting and
// header, JSON member names matched exactly) with the members of
// CreateContact:
//
//   - CSV: "emailAddress,unsubscribeAll,topicPreferences,attributesData",
//     every field after the address optional: unsubscribeAll true or false
//     (any case; empty: false), topicPreferences "topic:OPT_IN;other:OPT_OUT"
//     (empty: none), attributesData a JSON text (quoted as CSV needs). For
//     DELETE the address alone (further fields ignored).
//   - JSON: newline-delimited objects {"emailAddress": …, "unsubscribeAll":
//     bool, "topicPreferences": [{"topicName": …, "subscriptionStatus": …}],
//     "attributesData": a string holding JSON, or a JSON object or array
//     itself}; for DELETE only "emailAddress" is read.
//
// It checks each record's syntax, not its topics (the list's, checked
// when the job runs: contacts.ValidateContact). Parse's rules for Over
// apply.
func ParseContacts(data []byte, format Format, action Action, limit int) ParsedContacts {
	var p ParsedContacts
	p.Over = eachRecord(data, format, limit, func() int { return p.Total() }, func(n int, line []byte, fields []string, err error) {
		var c contacts.Contact
		switch {
		case err != nil:
		case format == JSON:
			c, err = jsonContact(line, action)
		default:
			c, err = csvContact(fields, action)
		}
		if err == nil {
			_, err = contacts.ParseEmail(c.Email)
		}
		if err != nil {
			p.fail(n, line, err)
			return
		}
		p.Records = append(p.Records, ContactRecord{Line: n, Text: echo(line), Contact: c})
	})
	return p
}

// csvContact reads the fields of one CSV record.
func csvContact(fields []string, action Action) (contacts.Contact, error) {
	c := contacts.Contact{Email: fields[0]}
	if action == Delete {
		return c, nil
	}
	if len(fields) > 4 {
		return c, fmt.Errorf("%d fields: a PUT record is emailAddress,unsubscribeAll,topicPreferences,attributesData", len(fields))
	}
	fields = append(fields, "", "", "")
	switch strings.ToLower(fields[1]) {
	case "", "false":
	case "true":
		c.UnsubscribeAll = true
	default:
		return c, fmt.Errorf("unsubscribeAll %q is not true or false", fields[1])
	}
	if fields[2] != "" {
		for _, pair := range strings.Split(fields[2], ";") {
			topic, status, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || topic == "" {
				return c, fmt.Errorf("topicPreferences %q is not topic:OPT_IN;topic:OPT_OUT", fields[2])
			}
			c.TopicPreferences = append(c.TopicPreferences, contacts.TopicPreference{Topic: strings.TrimSpace(topic),
				Status: contacts.SubscriptionStatus(strings.TrimSpace(status))})
		}
	}
	c.Attributes = fields[3]
	return c, nil
}

// contactShape is the JSON record shape, for error messages.
const contactShape = `not a JSON object {"emailAddress": …, "unsubscribeAll": …, "topicPreferences": […], "attributesData": …}`

// jsonContact reads one line of newline-delimited JSON (member names
// matched exactly; null is absent; other members ignored).
func jsonContact(line []byte, action Action) (contacts.Contact, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return contacts.Contact{}, fmt.Errorf("%s: %s", contactShape, syn.Error())
		}
		return contacts.Contact{}, errors.New(contactShape)
	}
	has := func(name string) bool { raw, ok := m[name]; return ok && string(raw) != "null" }
	var c contacts.Contact
	if !has("emailAddress") || json.Unmarshal(m["emailAddress"], &c.Email) != nil {
		return c, errors.New(`no "emailAddress" string member`)
	}
	c.Email = strings.TrimSpace(c.Email)
	if action == Delete {
		return c, nil
	}
	if has("unsubscribeAll") && json.Unmarshal(m["unsubscribeAll"], &c.UnsubscribeAll) != nil {
		return c, errors.New(`"unsubscribeAll" is not true or false`)
	}
	if has("topicPreferences") {
		var prefs []map[string]json.RawMessage
		if json.Unmarshal(m["topicPreferences"], &prefs) != nil {
			return c, errors.New(`"topicPreferences" is not a list of {"topicName": …, "subscriptionStatus": …}`)
		}
		for _, p := range prefs {
			var topic, status string
			if json.Unmarshal(p["topicName"], &topic) != nil || json.Unmarshal(p["subscriptionStatus"], &status) != nil {
				return c, errors.New(`a "topicPreferences" item is not {"topicName": string, "subscriptionStatus": string}`)
			}
			c.TopicPreferences = append(c.TopicPreferences, contacts.TopicPreference{Topic: topic, Status: contacts.SubscriptionStatus(status)})
		}
	}
	if has("attributesData") {
		raw := bytes.TrimSpace(m["attributesData"])
		if raw[0] == '"' {
			if json.Unmarshal(raw, &c.Attributes) != nil {
				return c, errors.New(`"attributesData" is not a string`)
			}
		} else if raw[0] == '{' || raw[0] == '[' {
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return c, err
			}
			c.Attributes = b.String()
		} else {
			return c, errors.New(`"attributesData" is not a string, object or array`)
		}
	}
	return c, nil
}
