package contacts

import (
	"context"
	"database/sql"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/petrelmail/petrel/internal/store"
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
	// Every query below reads one table along an index, as a range that
	// stops at its LIMIT, and joins in Go: the plans cannot depend on the
	// planner's statistics (a freshly imported list has none, and a
	// PostgreSQL nested loop planned on none rescans the preferences for
	// every contact).
	want := f.PageSize + 1
	var (
		out  []Contact
		keys []string
	)
	switch {
	case f.Topic != "":
		t, ok := l.Topic(f.Topic)
		if !ok {
			return nil, "", invalid("Topic %s does not exist in contact list %s.", f.Topic, list)
		}
		switch {
		case f.Status == "" && f.UseDefault:
			out, keys, err = s.contactRange(ctx, account, list, after, "", nil, want)
		case f.Status == "":
			// Either preference: the two ranges merged.
			var in, outs []string
			if in, err = s.prefRange(ctx, account, list, f.Topic, OptIn, after, "", want); err != nil {
				return nil, "", err
			}
			if outs, err = s.prefRange(ctx, account, list, f.Topic, OptOut, after, "", want); err != nil {
				return nil, "", err
			}
			keys = append(in, outs...)
			slices.Sort(keys)
			out, keys, err = s.contactsByKey(ctx, account, list, keys[:min(len(keys), want)])
		case f.UseDefault && t.DefaultSubscriptionStatus == f.Status:
			// The contacts without the other preference: contacts a chunk
			// at a time, less those with the other preference in the
			// chunk's range.
			other := OptIn
			if f.Status == OptIn {
				other = OptOut
			}
			from := after
			for len(out) < want {
				chunk, chunkKeys, err := s.contactRange(ctx, account, list, from, "", nil, want)
				if err != nil {
					return nil, "", err
				}
				if len(chunk) == 0 {
					break
				}
				drop, err := s.prefRange(ctx, account, list, f.Topic, other, from, chunkKeys[len(chunkKeys)-1], 0)
				if err != nil {
					return nil, "", err
				}
				for i, k := range chunkKeys {
					if _, found := slices.BinarySearch(drop, k); !found && len(out) < want {
						out, keys = append(out, chunk[i]), append(keys, k)
					}
				}
				if len(chunk) < want {
					break
				}
				from = chunkKeys[len(chunkKeys)-1]
			}
		default:
			var ks []string
			if ks, err = s.prefRange(ctx, account, list, f.Topic, f.Status, after, "", want); err != nil {
				return nil, "", err
			}
			out, keys, err = s.contactsByKey(ctx, account, list, ks)
		}
	case f.Status != "":
		out, keys, err = s.contactRange(ctx, account, list, after, " AND unsubscribe_all = ?", []any{boolInt(f.Status == OptOut)}, want)
	default:
		out, keys, err = s.contactRange(ctx, account, list, after, "", nil, want)
	}
	if err != nil {
		return nil, "", err
	}
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

// contactRange reads up to limit contacts of the list after the key after,
// in key order, with cond (" AND …") and its args.
func (s *Service) contactRange(ctx context.Context, account, list, after, cond string, args []any, limit int) ([]Contact, []string, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+contactColumns+" FROM contacts WHERE account = ? AND list = ? AND address > ?"+cond+
		" ORDER BY address LIMIT ?"), append(append([]any{account, list, after}, args...), limit)...)
	if err != nil {
		return nil, nil, err
	}
	return scanContacts(rows, list)
}

func scanContacts(rows *sql.Rows, list string) ([]Contact, []string, error) {
	defer rows.Close()
	var (
		out  []Contact
		keys []string
	)
	for rows.Next() {
		c, key, err := scanContact(rows)
		if err != nil {
			return nil, nil, err
		}
		c.List = list
		out, keys = append(out, c), append(keys, key)
	}
	return out, keys, rows.Err()
}

// contactsByKey reads the contacts keys (sorted) of the list, in key
// order; a key without a contact (deleted meanwhile) is left out.
func (s *Service) contactsByKey(ctx context.Context, account, list string, keys []string) ([]Contact, []string, error) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	args := []any{account, list}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+contactColumns+" FROM contacts WHERE account = ? AND list = ? AND address IN ("+
		store.Placeholders(len(keys))+") ORDER BY address"), args...)
	if err != nil {
		return nil, nil, err
	}
	return scanContacts(rows, list)
}

// prefRange returns, in order, the keys of the contacts whose preference
// for topic is status, after the key after and up to upto ("": no bound),
// at most limit (0: no limit) of them.
func (s *Service) prefRange(ctx context.Context, account, list, topic string, status SubscriptionStatus, after, upto string, limit int) ([]string, error) {
	q := "SELECT address FROM contact_topic_preferences WHERE account = ? AND list = ? AND topic = ? AND status = ? AND address > ?"
	args := []any{account, list, topic, string(status), after}
	if upto != "" {
		q += " AND address <= ?"
		args = append(args, upto)
	}
	q += " ORDER BY address"
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
