package contacts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/store"
)

// topicJSON is a topic's stored form (SES's member names).
type topicJSON struct {
	TopicName                 string
	DisplayName               string
	Description               string `json:",omitempty"`
	DefaultSubscriptionStatus SubscriptionStatus
}

// validateList checks a list's name, description and topics (SES:
// CreateContactList, UpdateContactList): at most MaxTopics, each named
// once, with a DisplayName and a DefaultSubscriptionStatus.
func validateList(l List) error {
	if err := ValidateName("ContactListName", l.Name); err != nil {
		return err
	}
	if runeLen(l.Description) > MaxDescriptionLen {
		return invalid("Description is longer than %d characters.", MaxDescriptionLen)
	}
	if len(l.Topics) > MaxTopics {
		return &LimitError{Msg: fmt.Sprintf("A contact list can have at most %d topics; %d were given.", MaxTopics, len(l.Topics))}
	}
	if len(l.Tags) > MaxTags {
		return &LimitError{Msg: fmt.Sprintf("A contact list can have at most %d tags.", MaxTags)}
	}
	seen := map[string]bool{}
	for _, t := range l.Topics {
		if err := ValidateName("TopicName", t.Name); err != nil {
			return err
		}
		if seen[t.Name] {
			return invalid("Topic %s appears more than once.", t.Name)
		}
		seen[t.Name] = true
		switch {
		case t.DisplayName == "":
			return invalid("DisplayName of topic %s is required.", t.Name)
		case runeLen(t.DisplayName) > MaxDisplayNameLen:
			return invalid("DisplayName of topic %s is longer than %d characters.", t.Name, MaxDisplayNameLen)
		case runeLen(t.Description) > MaxDescriptionLen:
			return invalid("Description of topic %s is longer than %d characters.", t.Name, MaxDescriptionLen)
		case !t.DefaultSubscriptionStatus.Valid():
			return invalid("DefaultSubscriptionStatus %q of topic %s is not one of OPT_IN, OPT_OUT.", t.DefaultSubscriptionStatus, t.Name)
		}
	}
	return nil
}

func encodeTopics(ts []Topic) (string, error) {
	out := make([]topicJSON, len(ts))
	for i, t := range ts {
		out[i] = topicJSON{t.Name, t.DisplayName, t.Description, t.DefaultSubscriptionStatus}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeTopics(s string) ([]Topic, error) {
	var in []topicJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("stored topics: %w", err)
	}
	out := make([]Topic, len(in))
	for i, t := range in {
		out[i] = Topic{t.TopicName, t.DisplayName, t.Description, t.DefaultSubscriptionStatus}
	}
	return out, nil
}

const listColumns = "name, description, topics, tags, created_ms, updated_ms"

func scanList(r scanner) (List, error) {
	var (
		l                List
		topics, tags     string
		created, updated int64
	)
	if err := r.Scan(&l.Name, &l.Description, &topics, &tags, &created, &updated); err != nil {
		return List{}, err
	}
	var err error
	if l.Topics, err = decodeTopics(topics); err != nil {
		return List{}, err
	}
	if err := json.Unmarshal([]byte(tags), &l.Tags); err != nil {
		return List{}, fmt.Errorf("stored tags: %w", err)
	}
	l.Created, l.Updated = time.UnixMilli(created), time.UnixMilli(updated)
	return l, nil
}

// GetList returns account's list called name, or an error wrapping
// ErrNotFound (SES: GetContactList).
func (s *Service) GetList(ctx context.Context, account, name string) (List, error) {
	return s.getList(ctx, s.db.DB, account, name, "")
}

// listTx is GetList within tx, with lock appended to the SELECT.
func (s *Service) listTx(ctx context.Context, tx *sql.Tx, account, name, lock string) (List, error) {
	return s.getList(ctx, tx, account, name, lock)
}

func (s *Service) getList(ctx context.Context, q querier, account, name, lock string) (List, error) {
	l, err := scanList(q.QueryRowContext(ctx, s.db.Rebind("SELECT "+listColumns+" FROM contact_lists WHERE account = ?"+lock), account))
	if errors.Is(err, sql.ErrNoRows) || err == nil && l.Name != name {
		return List{}, listNotFound(name)
	}
	return l, err
}

// CreateList creates account's contact list l (SES: CreateContactList):
// l.Name, Description, Topics, Tags; Created and Updated are the clock's
// now. Errors: *InvalidError (name, topics), *LimitError (the account has
// a list already — SES allows one — or too many topics or tags),
// ErrAlreadyExists (a list of that name exists).
func (s *Service) CreateList(ctx context.Context, account string, l List) error {
	if err := validateList(l); err != nil {
		return err
	}
	topics, err := encodeTopics(l.Topics)
	if err != nil {
		return err
	}
	tags, err := resourcetag.Encode(l.Tags)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var existing string
		err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT name FROM contact_lists WHERE account = ?"), account).Scan(&existing)
		switch {
		case err == nil && existing == l.Name:
			return &kindError{fmt.Sprintf("Contact list %s already exists.", l.Name), ErrAlreadyExists}
		case err == nil:
			return &LimitError{Msg: fmt.Sprintf("An account can have only %d contact list; %s exists.", MaxListsPerAccount, existing)}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := s.now().UnixMilli()
		_, err = tx.ExecContext(ctx, s.db.Rebind("INSERT INTO contact_lists (account, "+listColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)"),
			account, l.Name, l.Description, topics, tags, now, now)
		if store.IsUniqueViolation(err) {
			return &LimitError{Msg: fmt.Sprintf("An account can have only %d contact list.", MaxListsPerAccount)}
		}
		return err
	})
}

// UpdateList replaces the Description and Topics of account's list
// l.Name with l's (SES: UpdateContactList, a complete replacement; Tags
// are kept). Contacts' preferences for a topic no longer in the list are
// deleted. Errors as CreateList, ErrNotFound for no such list.
func (s *Service) UpdateList(ctx context.Context, account string, l List) error {
	if err := validateList(l); err != nil {
		return err
	}
	topics, err := encodeTopics(l.Topics)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		old, err := s.listTx(ctx, tx, account, l.Name, s.forUpdate())
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE contact_lists SET description = ?, topics = ?, updated_ms = ? WHERE account = ?"),
			l.Description, topics, s.now().UnixMilli(), account); err != nil {
			return err
		}
		for _, t := range old.Topics {
			if _, ok := l.Topic(t.Name); ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM contact_topic_preferences WHERE account = ? AND list = ? AND topic = ?"),
				account, l.Name, t.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteList deletes account's list name with its contacts (SES:
// DeleteContactList); ErrNotFound for no such list.
func (s *Service) DeleteList(ctx context.Context, account, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.listTx(ctx, tx, account, name, s.forUpdate()); err != nil {
			return err
		}
		for _, table := range []string{"contact_topic_preferences", "contacts"} {
			if _, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM "+table+" WHERE account = ? AND list = ?"), account, name); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM contact_lists WHERE account = ?"), account)
		return err
	})
}

// ListLists returns account's contact lists (SES: ListContactLists; an
// account has at most one, so there is never a next page).
func (s *Service) ListLists(ctx context.Context, account string) ([]List, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT "+listColumns+" FROM contact_lists WHERE account = ?"), account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// TagList adds tags to account's list name, replacing the values of keys
// it has (SES: TagResource; resourcetag.Merge); more than MaxTags in all
// is a *LimitError. The caller validates keys and values.
func (s *Service) TagList(ctx context.Context, account, name string, tags [][2]string) error {
	return s.changeTags(ctx, account, name, func(old [][2]string) ([][2]string, error) {
		out, err := resourcetag.Merge(old, tags)
		if err != nil {
			return nil, &LimitError{Msg: fmt.Sprintf("A contact list can have at most %d tags.", MaxTags)}
		}
		return out, nil
	})
}

// UntagList removes the tags of keys from account's list name (SES:
// UntagResource; resourcetag.Drop); keys it does not have are ignored.
func (s *Service) UntagList(ctx context.Context, account, name string, keys []string) error {
	return s.changeTags(ctx, account, name, func(old [][2]string) ([][2]string, error) {
		return resourcetag.Drop(old, keys), nil
	})
}

func (s *Service) changeTags(ctx context.Context, account, name string, change func([][2]string) ([][2]string, error)) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		l, err := s.listTx(ctx, tx, account, name, s.forUpdate())
		if err != nil {
			return err
		}
		tags, err := change(l.Tags)
		if err != nil {
			return err
		}
		enc, err := resourcetag.Encode(tags)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Rebind("UPDATE contact_lists SET tags = ? WHERE account = ?"), enc, account)
		return err
	})
}
