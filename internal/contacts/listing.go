package contacts

import (
	"context"
	"encoding/base64"
	"strings"
)

// Filter selects contacts for ListContacts (SES: ListContactsFilter plus
// the paging members of ListContactsRequest).
type Filter struct {
	// Status is FilteredStatus ("" for none). Without Topic it selects by
	// UnsubscribeAll: OPT_OUT the contacts unsubscribed from the whole
	// list, OPT_IN the others.
	Status SubscriptionStatus
	// Topic is TopicFilter.TopicName ("" for none). With Status it selects
	// the contacts whose preference for the topic is Status — and, when
	// UseDefault (TopicFilter.UseDefaultIfPreferenceUnavailable), those
	// without a preference when the topic's default is Status. Without
	// Status it selects the contacts with a preference for the topic (all
	// contacts when UseDefault). UnsubscribeAll does not enter a topic
	// filter: it is a member of each contact listed.
	Topic      string
	UseDefault bool
	PageSize   int    // 1–MaxPageSize; 0: DefaultPageSize
	NextToken  string // from the previous page; "" for the first
}

// contactTokenPrefix marks ListContacts's page tokens.
const contactTokenPrefix = "ct1:"

// ListContacts returns up to f.PageSize contacts of account's list that
// match f, in address-key order, with their preferences, and the token of
// the next page ("" on the last) (SES: ListContacts). Each page is one
// indexed range query on the contacts (bounded by the previous page's last
// key and LIMIT) and one on their preferences, whatever the size of the
// list. Errors: ErrNotFound (no such list), *InvalidError (unknown topic,
// bad status, PageSize out of range), ErrInvalidToken.
func (s *Service) ListContacts(ctx context.Context, account, list string, f Filter) ([]Contact, string, error) {
	switch {
	case f.PageSize == 0:
		f.PageSize = DefaultPageSize
	case f.PageSize < 1 || f.PageSize > MaxPageSize:
		return nil, "", invalid("PageSize %d is out of range (1-%d).", f.PageSize, MaxPageSize)
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", invalid("FilteredStatus %q is not one of OPT_IN, OPT_OUT.", f.Status)
	}
	after := ""
	if f.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.NextToken)
		if err != nil || !strings.HasPrefix(string(b), contactTokenPrefix) {
			return nil, "", ErrInvalidToken
		}
		after = strings.TrimPrefix(string(b), contactTokenPrefix)
	}
	l, err := s.GetList(ctx, account, list)
	if err != nil {
		return nil, "", err
	}
	q := "SELECT " + contactColumns + " FROM contacts c WHERE c.account = ? AND c.list = ? AND c.address > ?"
	args := []any{account, list, after}
	const pref = "SELECT 1 FROM contact_topic_preferences p WHERE p.account = c.account AND p.list = c.list AND p.address = c.address AND p.topic = ?"
	switch {
	case f.Topic != "":
		t, ok := l.Topic(f.Topic)
		if !ok {
			return nil, "", invalid("Topic %s does not exist in contact list %s.", f.Topic, list)
		}
		switch {
		case f.Status == "" && f.UseDefault:
		case f.Status == "":
			q += " AND EXISTS (" + pref + ")"
			args = append(args, f.Topic)
		case f.UseDefault && t.DefaultSubscriptionStatus == f.Status:
			q += " AND NOT EXISTS (" + pref + " AND p.status <> ?)"
			args = append(args, f.Topic, string(f.Status))
		default:
			q += " AND EXISTS (" + pref + " AND p.status = ?)"
			args = append(args, f.Topic, string(f.Status))
		}
	case f.Status != "":
		q += " AND c.unsubscribe_all = ?"
		args = append(args, boolInt(f.Status == OptOut))
	}
	q += " ORDER BY c.address LIMIT ?"
	args = append(args, f.PageSize+1)
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var (
		out  []Contact
		keys []string
	)
	for rows.Next() {
		c, key, err := scanContact(rows)
		if err != nil {
			return nil, "", err
		}
		c.List = list
		out, keys = append(out, c), append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	rows.Close()
	next := ""
	if len(out) > f.PageSize {
		out, keys = out[:f.PageSize], keys[:f.PageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(contactTokenPrefix + keys[len(keys)-1]))
	}
	prefs, err := s.readPrefs(ctx, s.db.DB, account, list, keys)
	if err != nil {
		return nil, "", err
	}
	for i := range out {
		out[i].TopicPreferences = prefs[keys[i]]
	}
	return out, next, nil
}
