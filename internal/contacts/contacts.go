// Package contacts owns SES list management (../shared/spec/ses.md §1.12,
// dg/sending-email-list-management): each account's contact list (SES
// allows one per account) with its topics, the list's contacts, and each
// contact's topic preferences (OPT_IN or OPT_OUT; a topic without one
// follows the topic's DefaultSubscriptionStatus).
//
// Steps: CreateList, UpdateList (a complete replacement; a topic removed
// takes its contacts' preferences with it), DeleteList (and its contacts);
// CreateContact, UpdateContact (all preferences replaced), DeleteContact,
// ListContacts (SES's filters, paged in address order so a large list
// never loads at once); Unsubscriber, the one-contact changes of the
// unsubscribe paths, each reading the list and changing the contact in
// one transaction with its Subscription event; PutContacts and
// DeleteContacts for import jobs; the unsubscribe tokens (token.go) and,
// for the short List-Unsubscribe mailto: addresses, the token stored with
// each message (mailto.go: PutMailtoTx in the sender's transaction,
// PruneMailtoBefore for package retention).
//
// Addresses are compared by address.Address.Key (local part lower-cased in
// ASCII, domain as an A-label), as the suppression list does; a contact is
// shown with its address as given when it was created.
//
// Concurrency: every change to a contact reads it FOR UPDATE (PostgreSQL;
// SQLite's write lock, taken at BEGIN, serialises writers) and writes it in
// the same transaction, so concurrent changes apply one after the other and
// none is lost.
package contacts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/resourcetag"
	"github.com/petrelmail/petrel/internal/store"
)

// SubscriptionStatus is a contact's preference for a topic, or a topic's
// default (SES: SubscriptionStatus).
type SubscriptionStatus string

// The statuses SES defines.
const (
	OptIn  SubscriptionStatus = "OPT_IN"
	OptOut SubscriptionStatus = "OPT_OUT"
)

// Valid reports whether s is OPT_IN or OPT_OUT (exactly, as SES's enum).
func (s SubscriptionStatus) Valid() bool { return s == OptIn || s == OptOut }

// Topic is one topic of a list (SES: Topic). Name and DisplayName are
// required; Description may be empty.
type Topic struct {
	Name, DisplayName, Description string
	DefaultSubscriptionStatus      SubscriptionStatus
}

// List is an account's contact list (SES: GetContactListResponse).
type List struct {
	Name, Description string
	Topics            []Topic     // in the order given
	Tags              [][2]string // key, value; in the order given
	Created, Updated  time.Time
}

// Topic returns the list's topic called name.
func (l List) Topic(name string) (Topic, bool) {
	for _, t := range l.Topics {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

// DefaultPreferences returns, in the list's topic order, the topics c has
// no preference for with their DefaultSubscriptionStatus (SES:
// TopicDefaultPreferences).
func (l List) DefaultPreferences(c Contact) []TopicPreference {
	var out []TopicPreference
	for _, t := range l.Topics {
		if !slices.ContainsFunc(c.TopicPreferences, func(p TopicPreference) bool { return p.Topic == t.Name }) {
			out = append(out, TopicPreference{Topic: t.Name, Status: t.DefaultSubscriptionStatus})
		}
	}
	return out
}

// TopicPreference is a contact's explicit preference for one topic (SES:
// TopicPreference).
type TopicPreference struct {
	Topic  string
	Status SubscriptionStatus
}

// Contact is one contact of a list (SES: GetContactResponse without
// TopicDefaultPreferences, which List.DefaultPreferences gives).
type Contact struct {
	List  string
	Email string // as given when the contact was created
	// TopicPreferences are the explicit preferences, by topic name.
	TopicPreferences []TopicPreference
	UnsubscribeAll   bool
	// Attributes is AttributesData: "" or a JSON text of at most
	// MaxAttributesLen bytes.
	Attributes       string
	Created, Updated time.Time
}

// Preference returns c's explicit preference for topic.
func (c Contact) Preference(topic string) (SubscriptionStatus, bool) {
	for _, p := range c.TopicPreferences {
		if p.Topic == topic {
			return p.Status, true
		}
	}
	return "", false
}

// Limits. SES states MaxTopics; the others are Petrel's, as SES publishes
// none (docs/contacts.md).
const (
	MaxTopics          = 20                  // topics per list (SES)
	MaxTags            = resourcetag.MaxTags // resource tags per list
	MaxDisplayNameLen  = 128                 // characters of a topic's DisplayName
	MaxDescriptionLen  = 1000                // characters of a list's or topic's Description
	MaxAttributesLen   = 65536               // bytes of AttributesData
	MaxPageSize        = 1000                // contacts per ListContacts page
	DefaultPageSize    = 1000                // when PageSize is absent
	MaxListsPerAccount = 1                   // SES
)

// nameRE is a ContactListName or TopicName.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ErrNotFound is wrapped by the errors for a list, topic or contact that
// does not exist (SES: NotFoundException); the error's text says which.
var ErrNotFound = errors.New("not found")

// ErrAlreadyExists is wrapped by the errors for a list or contact that
// exists already (SES: AlreadyExistsException).
var ErrAlreadyExists = errors.New("already exists")

// ErrInvalidToken is a NextToken that is not one of ListContacts's or
// ListLists's (SES: BadRequestException).
var ErrInvalidToken = errors.New("invalid NextToken")

// InvalidError is input SES refuses with BadRequestException; Msg says
// what is wrong.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// LimitError is SES's LimitExceededException: a second list in an
// account, more than MaxTopics topics, more than MaxTags tags.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// kindError is a message wrapping ErrNotFound or ErrAlreadyExists.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// Temporary reports whether err, returned by this package, is a failure
// of the store (the database or the request's context) that may succeed
// if retried. The package's own errors are permanent: ErrGone,
// ErrBadToken, ErrNotFound, ErrAlreadyExists, ErrInvalidToken,
// *InvalidError, *LimitError and *TopicNotFoundError; an unsubscribe
// answers "try again" (HTTP 503, SMTP 451) only for a temporary one.
func Temporary(err error) bool {
	var (
		inv   *InvalidError
		limit *LimitError
		topic *TopicNotFoundError
	)
	switch {
	case err == nil, errors.Is(err, ErrGone), errors.Is(err, ErrBadToken), errors.Is(err, ErrNotFound),
		errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrInvalidToken),
		errors.As(err, &inv), errors.As(err, &limit), errors.As(err, &topic):
		return false
	}
	return true
}

// Temporary is the package's Temporary, for the inbound mailto: route.
func (u *Unsubscriber) Temporary(err error) bool { return Temporary(err) }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

func listNotFound(name string) error {
	return &kindError{fmt.Sprintf("Contact list %s does not exist.", name), ErrNotFound}
}

func contactNotFound(email, list string) error {
	return &kindError{fmt.Sprintf("Contact %s does not exist in contact list %s.", email, list), ErrNotFound}
}

// Service is the contact-list store.
type Service struct {
	db  *store.DB
	now func() time.Time
}

// New returns the Service over db; now is the clock (nil: time.Now).
func New(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// ValidateName checks a ContactListName or TopicName: 1-64 of ASCII
// letters, digits, '_' and '-'.
func ValidateName(what, name string) error {
	if !nameRE.MatchString(name) {
		return invalid("%s %q is invalid: it must be 1-64 characters of letters, digits, '_' and '-'.", what, name)
	}
	return nil
}

// ParseEmail checks a contact's EmailAddress: one bare address without a
// display name (address.ParseAddrSpec), so every recipient the send path
// accepts ("<x>"@example.com included) is a valid contact, with the same
// key. The result's Key is the contact's lookup key.
func ParseEmail(email string) (address.Address, error) {
	a, err := address.ParseAddrSpec(email)
	if err != nil {
		return address.Address{}, invalid("EmailAddress %q is not a valid email address.", email)
	}
	return a, nil
}

// validateAttributes checks AttributesData: "" or JSON of at most
// MaxAttributesLen bytes.
func validateAttributes(s string) error {
	switch {
	case s == "":
		return nil
	case len(s) > MaxAttributesLen:
		return invalid("AttributesData is %d bytes; at most %d are allowed.", len(s), MaxAttributesLen)
	case !json.Valid([]byte(s)):
		return invalid("AttributesData is not valid JSON.")
	}
	return nil
}

// validateContact checks c's attributes and preferences against l's
// topics: each names a topic of l, once, with OPT_IN or OPT_OUT.
func validateContact(l List, c Contact) error {
	if err := validateAttributes(c.Attributes); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range c.TopicPreferences {
		if !p.Status.Valid() {
			return invalid("SubscriptionStatus %q of topic %s is not one of OPT_IN, OPT_OUT.", p.Status, p.Topic)
		}
		if _, ok := l.Topic(p.Topic); !ok {
			return invalid("Topic %s does not exist in contact list %s.", p.Topic, l.Name)
		}
		if seen[p.Topic] {
			return invalid("Topic %s appears more than once in TopicPreferences.", p.Topic)
		}
		seen[p.Topic] = true
	}
	return nil
}

// sortPrefs orders preferences by topic name (the stored order).
func sortPrefs(ps []TopicPreference) {
	slices.SortFunc(ps, func(a, b TopicPreference) int { return strings.Compare(a.Topic, b.Topic) })
}

func equalContact(a, b Contact) bool {
	return a.UnsubscribeAll == b.UnsubscribeAll && a.Attributes == b.Attributes && slices.Equal(a.TopicPreferences, b.TopicPreferences)
}

// forUpdate is the row-lock suffix of a SELECT whose row the transaction
// writes next: FOR UPDATE on PostgreSQL; SQLite's transactions hold the
// write lock from BEGIN.
func (s *Service) forUpdate() string {
	if s.db.Dialect == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// forShare locks a row the transaction depends on but does not write.
func (s *Service) forShare() string {
	if s.db.Dialect == store.Postgres {
		return " FOR SHARE"
	}
	return ""
}

// GetContact returns the contact email of account's list, or an error
// wrapping ErrNotFound (no such list or contact) or an *InvalidError (not
// an address).
func (s *Service) GetContact(ctx context.Context, account, list, email string) (Contact, error) {
	a, err := ParseEmail(email)
	if err != nil {
		return Contact{}, err
	}
	if _, err := s.GetList(ctx, account, list); err != nil {
		return Contact{}, err
	}
	c, ok, err := s.readContact(ctx, s.db.DB, account, list, a.Key(), "")
	if err != nil {
		return Contact{}, err
	}
	if !ok {
		return Contact{}, contactNotFound(email, list)
	}
	return c, nil
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const contactColumns = "address, email, unsubscribe_all, attributes, created_ms, updated_ms"

// readContact reads one contact with its preferences; lock is appended to
// the contact's SELECT.
func (s *Service) readContact(ctx context.Context, q querier, account, list, key, lock string) (Contact, bool, error) {
	row := q.QueryRowContext(ctx, s.db.Rebind("SELECT "+contactColumns+" FROM contacts WHERE account = ? AND list = ? AND address = ?"+lock),
		account, list, key)
	c, _, err := scanContact(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, false, nil
	}
	if err != nil {
		return Contact{}, false, err
	}
	c.List = list
	prefs, err := s.readPrefs(ctx, q, account, list, []string{key})
	if err != nil {
		return Contact{}, false, err
	}
	c.TopicPreferences = prefs[key]
	return c, true, nil
}

type scanner interface{ Scan(...any) error }

func scanContact(r scanner) (Contact, string, error) {
	var (
		c                Contact
		key              string
		unsub            int64
		created, updated int64
	)
	if err := r.Scan(&key, &c.Email, &unsub, &c.Attributes, &created, &updated); err != nil {
		return Contact{}, "", err
	}
	c.UnsubscribeAll, c.Created, c.Updated = unsub != 0, time.UnixMilli(created), time.UnixMilli(updated)
	return c, key, nil
}

// readPrefs returns the preferences of the contacts keys, by key, each
// sorted by topic.
func (s *Service) readPrefs(ctx context.Context, q querier, account, list string, keys []string) (map[string][]TopicPreference, error) {
	out := map[string][]TopicPreference{}
	if len(keys) == 0 {
		return out, nil
	}
	args := []any{account, list}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := q.QueryContext(ctx, s.db.Rebind("SELECT address, topic, status FROM contact_topic_preferences WHERE account = ? AND list = ? AND address IN ("+
		store.Placeholders(len(keys))+") ORDER BY address, topic"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var key, topic, status string
		if err := rows.Scan(&key, &topic, &status); err != nil {
			return nil, err
		}
		out[key] = append(out[key], TopicPreference{Topic: topic, Status: SubscriptionStatus(status)})
	}
	return out, rows.Err()
}

// CreateContact adds c (c.Email, its preferences, UnsubscribeAll,
// Attributes) to account's list c.List (SES: CreateContact). Errors: the
// list does not exist (ErrNotFound), the contact exists
// (ErrAlreadyExists), *InvalidError for a bad address, an unknown topic,
// a bad status or AttributesData.
func (s *Service) CreateContact(ctx context.Context, account string, c Contact) error {
	a, err := ParseEmail(c.Email)
	if err != nil {
		return err
	}
	c.TopicPreferences = slices.Clone(c.TopicPreferences)
	sortPrefs(c.TopicPreferences)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		l, err := s.listTx(ctx, tx, account, c.List, s.forShare())
		if err != nil {
			return err
		}
		if err := validateContact(l, c); err != nil {
			return err
		}
		now := s.now().UnixMilli()
		res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO contacts (account, list, address, email, unsubscribe_all, attributes, created_ms, updated_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, list, address) DO NOTHING`),
			account, c.List, a.Key(), c.Email, boolInt(c.UnsubscribeAll), c.Attributes, now, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &kindError{fmt.Sprintf("Contact %s already exists in contact list %s.", c.Email, c.List), ErrAlreadyExists}
		}
		return s.writePrefsTx(ctx, tx, account, c.List, a.Key(), c.TopicPreferences, false)
	})
}

// writePrefsTx replaces the preferences of contact key with prefs
// (deleting the old ones first when replace).
func (s *Service) writePrefsTx(ctx context.Context, tx *sql.Tx, account, list, key string, prefs []TopicPreference, replace bool) error {
	if replace {
		if _, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM contact_topic_preferences WHERE account = ? AND list = ? AND address = ?"),
			account, list, key); err != nil {
			return err
		}
	}
	if len(prefs) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO contact_topic_preferences (account, list, address, topic, status) VALUES ")
	args := make([]any, 0, 5*len(prefs))
	for i, p := range prefs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?)")
		args = append(args, account, list, key, p.Topic, string(p.Status))
	}
	_, err := tx.ExecContext(ctx, s.db.Rebind(q.String()), args...)
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UpdateContact replaces the preferences, UnsubscribeAll and Attributes of
// the existing contact c.Email of account's list c.List with c's (SES:
// UpdateContact: preferences not given are removed). Errors as
// CreateContact, with ErrNotFound for a contact that does not exist.
func (s *Service) UpdateContact(ctx context.Context, account string, c Contact) error {
	if _, err := ParseEmail(c.Email); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, _, _, err := s.apply(ctx, tx, account, c.List, c.Email, false, func(cur *Contact) {
			cur.TopicPreferences = slices.Clone(c.TopicPreferences)
			cur.UnsubscribeAll, cur.Attributes = c.UnsubscribeAll, c.Attributes
		})
		return err
	})
}

// apply changes the contact email of account's list in tx — when it is
// absent and create is set, creating it first (no preferences, subscribed,
// no attributes) — by calling change on a copy; it returns the contact before the
// change (zero, with existed false, when it was created) and after. Only
// TopicPreferences, UnsubscribeAll and Attributes of the copy are written;
// an unchanged contact is not written (its Updated stays). The contact's
// row is locked for the rest of tx, so concurrent changes apply one after
// the other. Errors: ErrNotFound (no such list; no such contact when not
// create), *InvalidError (a bad address, or change left a preference for
// a topic the list does not have, or a bad status).
func (s *Service) apply(ctx context.Context, tx *sql.Tx, account, list, email string, create bool, change func(*Contact)) (before, after Contact, existed bool, err error) {
	if _, err := ParseEmail(email); err != nil {
		return Contact{}, Contact{}, false, err
	}
	l, err := s.listTx(ctx, tx, account, list, s.forShare())
	if err != nil {
		return Contact{}, Contact{}, false, err
	}
	return s.applyList(ctx, tx, account, l, email, create, change)
}

// applyList is apply once l — account's list, read in tx with forShare,
// so that UpdateList and DeleteList, which read it forUpdate, wait for tx
// (SQLite: tx holds the write lock) — is known.
func (s *Service) applyList(ctx context.Context, tx *sql.Tx, account string, l List, email string, create bool, change func(*Contact)) (before, after Contact, existed bool, err error) {
	list := l.Name
	a, err := ParseEmail(email)
	if err != nil {
		return Contact{}, Contact{}, false, err
	}
	existed = true
	if create {
		now := s.now().UnixMilli()
		res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO contacts (account, list, address, email, unsubscribe_all, attributes, created_ms, updated_ms)
			VALUES (?, ?, ?, ?, 0, '', ?, ?) ON CONFLICT (account, list, address) DO NOTHING`), account, list, a.Key(), email, now, now)
		if err != nil {
			return Contact{}, Contact{}, false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return Contact{}, Contact{}, false, err
		}
		existed = n == 0
	}
	cur, ok, err := s.readContact(ctx, tx, account, list, a.Key(), s.forUpdate())
	if err != nil {
		return Contact{}, Contact{}, false, err
	}
	if !ok {
		return Contact{}, Contact{}, false, contactNotFound(email, list)
	}
	if existed {
		before = cur
		before.TopicPreferences = slices.Clone(cur.TopicPreferences)
	}
	after = cur
	after.TopicPreferences = slices.Clone(cur.TopicPreferences)
	change(&after)
	after.List, after.Email, after.Created, after.Updated = cur.List, cur.Email, cur.Created, cur.Updated
	sortPrefs(after.TopicPreferences)
	if err := validateContact(l, after); err != nil {
		return Contact{}, Contact{}, false, err
	}
	if equalContact(cur, after) {
		return before, after, existed, nil
	}
	after.Updated = s.now()
	if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE contacts SET unsubscribe_all = ?, attributes = ?, updated_ms = ? WHERE account = ? AND list = ? AND address = ?"),
		boolInt(after.UnsubscribeAll), after.Attributes, after.Updated.UnixMilli(), account, list, a.Key()); err != nil {
		return Contact{}, Contact{}, false, err
	}
	if !slices.Equal(cur.TopicPreferences, after.TopicPreferences) {
		if err := s.writePrefsTx(ctx, tx, account, list, a.Key(), after.TopicPreferences, true); err != nil {
			return Contact{}, Contact{}, false, err
		}
	}
	return before, after, existed, nil
}

// DeleteContact removes the contact email from account's list (SES:
// DeleteContact); ErrNotFound when the list or the contact does not exist.
func (s *Service) DeleteContact(ctx context.Context, account, list, email string) error {
	a, err := ParseEmail(email)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.listTx(ctx, tx, account, list, s.forShare()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM contacts WHERE account = ? AND list = ? AND address = ?"), account, list, a.Key())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return contactNotFound(email, list)
		}
		_, err = tx.ExecContext(ctx, s.db.Rebind("DELETE FROM contact_topic_preferences WHERE account = ? AND list = ? AND address = ?"), account, list, a.Key())
		return err
	})
}

// runeLen counts characters as SES's length constraints do.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
