package contacts

import (
	"context"
	"database/sql"
	"strings"
)

// maxPreparedEmails is the most addresses Unsubscribed asks about with a
// prepared statement (SES's recipient limit per message).
const maxPreparedEmails = 50

// TopicNotFoundError reports a topic the contact list does not have (SES:
// NotFoundException on a send whose ListManagementOptions name it).
type TopicNotFoundError struct{ List, Topic string }

func (e *TopicNotFoundError) Error() string {
	return "Topic " + e.Topic + " does not exist in contact list " + e.List + "."
}

// Unsubscription says whether, and from what, an address unsubscribed:
// the Unsubscribed answer for one address.
type Unsubscription uint8

const (
	Subscribed        Unsubscription = iota // send to it
	UnsubscribedAll                         // the contact unsubscribed from the whole list (UnsubscribeAll)
	UnsubscribedTopic                       // opted out of the topic: its own preference, else the topic's default
)

// Unsubscribed reports, for each of emails, whether a message of account
// sent with list management for list (and topic, "" for none) must not go
// to it, and why (../shared/spec/ses.md §11.4): the contact opted out of
// the whole list (UnsubscribedAll: UnsubscribeAll), or of topic
// (UnsubscribedTopic: by its own preference, else by the topic's
// DefaultSubscriptionStatus). An address that is no contact of the
// list follows the topic's default; without a topic it is subscribed. An
// address that does not parse is no contact. Addresses compare by
// their ParseEmail Key, as the contacts are stored.
//
// It costs one query: the list's row joined with the contacts among emails
// and their preference for topic, prepared once per number of addresses
// up to 50. Errors: an error wrapping ErrNotFound
// when account has no list of that name, *TopicNotFoundError when the list
// has no such topic, or the store's.
func (s *Service) Unsubscribed(ctx context.Context, account, list, topic string, emails []string) ([]Unsubscription, error) {
	keys := make([]string, len(emails))
	var args []any // the IN list's keys, then topic and account, in the query's order
	marks := make([]string, 0, len(emails))
	for i, e := range emails {
		if a, err := ParseEmail(e); err == nil {
			keys[i] = a.Key()
			args = append(args, keys[i])
			marks = append(marks, "?")
		}
	}
	contactsJoin := "0 = 1" // no address to look for
	if len(marks) > 0 {
		contactsJoin = "c.address IN (" + strings.Join(marks, ", ") + ")"
	}
	q := `SELECT l.name, l.topics, c.address, c.unsubscribe_all, p.status
		FROM contact_lists l
		LEFT JOIN contacts c ON c.account = l.account AND c.list = l.name AND ` + contactsJoin + `
		LEFT JOIN contact_topic_preferences p ON p.account = c.account AND p.list = c.list AND p.address = c.address AND p.topic = ?
		WHERE l.account = ?`
	args = append(args, topic, account)
	var rows *sql.Rows
	var err error
	if len(marks) <= maxPreparedEmails {
		// A send has at most 50 recipients: at most 51 query texts, each
		// parsed once (store.DB.Prepared), not on every message.
		var st *sql.Stmt
		if st, err = s.db.Prepared(q); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	} else {
		rows, err = s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type contactRow struct {
		all    bool
		status SubscriptionStatus // "" for no preference
	}
	found := map[string]contactRow{}
	var name, topicsJSON string
	listed := false
	for rows.Next() {
		var (
			key    sql.NullString
			all    sql.NullInt64
			status sql.NullString
		)
		if err := rows.Scan(&name, &topicsJSON, &key, &all, &status); err != nil {
			return nil, err
		}
		listed = true
		if key.Valid {
			found[key.String] = contactRow{all: all.Int64 != 0, status: SubscriptionStatus(status.String)}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !listed || name != list {
		return nil, listNotFound(list)
	}
	def := OptIn
	if topic != "" {
		topics, err := decodeTopics(topicsJSON)
		if err != nil {
			return nil, err
		}
		t, ok := List{Topics: topics}.Topic(topic)
		if !ok {
			return nil, &TopicNotFoundError{List: list, Topic: topic}
		}
		def = t.DefaultSubscriptionStatus
	}
	out := make([]Unsubscription, len(emails))
	for i, k := range keys {
		c, ok := found[k]
		status := def
		switch {
		case ok && c.all:
			out[i] = UnsubscribedAll
			continue
		case ok && topic == "":
			continue
		case ok && c.status != "":
			status = c.status
		}
		if status == OptOut {
			out[i] = UnsubscribedTopic
		}
	}
	return out, nil
}
