package contacts

// Applying unsubscribes and preference changes that arrive through a
// message's links (../shared/spec/ses.md §11.4) or from the operator, each
// effective change recorded as one SES Subscription event (§4.6).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/store"
)

// Sources of Subscription events (the event's "source").
const (
	// SourceHeader: the List-Unsubscribe header — its one-click HTTPS POST
	// (RFC 8058) or its mailto: (RFC 2369). SES's documented value.
	SourceHeader = "UnsubscribeHeader"
	// SourceLink: the preferences page the footer link
	// ({{amazonSESUnsubscribeUrl}}) opens. SES does not document the value
	// its page records; this one is inferred.
	SourceLink = "UnsubscribeLink"
	// SourceOperator: petrel contacts unsubscribe (Petrel's addition; SES
	// has no such path).
	SourceOperator = "Operator"
)

// ErrGone is a token whose contact list (or topic) no longer exists:
// nothing is changed (the HTTP answer is 410 Gone).
var ErrGone = errors.New("the contact list or topic of this link no longer exists")

// Preferences are a contact's effective wishes for a whole list, as the
// preferences page shows them (State): UnsubscribeAll, and a status for
// each topic.
type Preferences struct {
	UnsubscribeAll bool
	Topics         []TopicPreference
}

// Unsubscriber applies unsubscribes: it verifies tokens (Key, from
// TokenKey), reads the list and changes the contact through Contacts in
// one transaction of DB, which records the Subscription event too.
type Unsubscriber struct {
	Contacts *Service
	DB       *store.DB
	Events   *event.Log
	Key      []byte
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (u *Unsubscriber) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// Parse verifies a token (ParseToken with u.Key).
func (u *Unsubscriber) Parse(token string) (Token, error) { return ParseToken(token, u.Key) }

// State returns what t's preferences page shows: its list (topics with
// display names) and the contact's current effective preferences (every
// topic of the list, its own status else the topic's default; a
// non-contact has the defaults). ErrGone when the list or the token's
// topic no longer exists. It only reads: what the page submits is applied
// (SetPreferences) against the list as it is then.
func (u *Unsubscriber) State(ctx context.Context, t Token) (List, Preferences, error) {
	l, err := u.list(ctx, t)
	if err != nil {
		return l, Preferences{}, err
	}
	c, err := u.Contacts.GetContact(ctx, t.Account, t.List, t.Email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return l, Preferences{}, err
	}
	return l, effective(l, c), nil
}

func (u *Unsubscriber) list(ctx context.Context, t Token) (List, error) {
	l, err := u.Contacts.GetList(ctx, t.Account, t.List)
	return gone(t, l, err)
}

// listTx is t's list read in tx, locked against UpdateList and DeleteList
// (they read it forUpdate; SQLite: tx holds the write lock) until tx ends.
func (u *Unsubscriber) listTx(ctx context.Context, tx *sql.Tx, t Token) (List, error) {
	l, err := u.Contacts.listTx(ctx, tx, t.Account, t.List, u.Contacts.forShare())
	return gone(t, l, err)
}

// gone is a read of t's list, ErrGone when the list or t's topic does not
// exist.
func gone(t Token, l List, err error) (List, error) {
	if errors.Is(err, ErrNotFound) {
		return l, ErrGone
	}
	if err != nil {
		return l, err
	}
	if _, ok := l.Topic(t.Topic); t.Topic != "" && !ok {
		return l, ErrGone
	}
	return l, nil
}

// effective is c's preferences over every topic of l, in l's order.
func effective(l List, c Contact) Preferences {
	p := Preferences{UnsubscribeAll: c.UnsubscribeAll}
	for _, tp := range l.Topics {
		st := tp.DefaultSubscriptionStatus
		for _, cp := range c.TopicPreferences {
			if cp.Topic == tp.Name {
				st = cp.Status
			}
		}
		p.Topics = append(p.Topics, TopicPreference{Topic: tp.Name, Status: st})
	}
	return p
}

// OneClick applies the List-Unsubscribe unsubscribe t names (RFC 8058
// one-click, or the mailto:): with a topic, the contact opts out of it
// (an explicit OPT_OUT, even where the topic's default is OPT_OUT, so a
// later change of the default does not subscribe it again); without, it
// unsubscribes from the whole list (UnsubscribeAll). A non-contact becomes
// a contact with that preference. It reports whether anything changed (a
// repeat changes nothing and records no event). ErrGone: list or topic
// deleted, nothing changed — also when UpdateContactList drops t's topic
// while the request is on its way: the change applies to the list as it
// is in the transaction that makes it (see Apply), and a topic the list no
// longer has sends no more mail, so there is nothing to opt out of (the
// contact is not unsubscribed from more than the token asked).
func (u *Unsubscriber) OneClick(ctx context.Context, t Token, source string) (bool, error) {
	return u.Apply(ctx, t, source, oneClick(t))
}

// MailtoValid reports whether code — the local part of a
// List-Unsubscribe mailto: address after MailtoPrefix — is one Petrel
// gave out (ParseMailto with u.Key verifies) and its message's row is
// still stored (Service.PutMailtoTx; pruned with the message record):
// inbound accepts the RCPT then. Errors: the store's.
func (u *Unsubscriber) MailtoValid(ctx context.Context, code string) (bool, error) {
	id, err := ParseMailto(code, u.Key)
	if err != nil {
		return false, nil
	}
	_, ok, err := u.Contacts.mailtoToken(ctx, id)
	return ok, err
}

// PrepareMailto readies the mailto: unsubscribe of code (OneClick's
// rules, source SourceHeader: the mailto: is the List-Unsubscribe
// header's): it verifies code and reads the token stored for its message,
// outside any transaction, and returns the account and message ID it
// names and apply, which, in the caller's transaction, reads the list
// (locked as Apply does), makes the change, records the event and reports
// whether anything changed. When the list or the token's topic no longer
// exists apply changes nothing, creates no contact and reports false.
// apply is nil when the message's row was pruned since the RCPT (account
// is then ""). Errors: ErrBadToken (code does not verify), the store's.
func (u *Unsubscriber) PrepareMailto(ctx context.Context, code string) (account, messageID string, apply func(*sql.Tx) (bool, error), err error) {
	id, err := ParseMailto(code, u.Key)
	if err != nil {
		return "", "", nil, err
	}
	stored, ok, err := u.Contacts.mailtoToken(ctx, id)
	if err != nil || !ok {
		return "", id, nil, err
	}
	t, err := u.Parse(stored)
	if err != nil {
		return "", id, nil, nil // signed with a key since replaced: like a pruned row
	}
	return t.Account, t.MessageID, func(tx *sql.Tx) (bool, error) {
		// A one-click change always differs for a contact it creates, so
		// nothing needs undoing when it changes nothing. The batch's
		// transaction outlives the session, hence no session context.
		changed, err := u.applyTx(context.Background(), tx, t, SourceHeader, func(_ List, c *Contact) { oneClick(t)(c) })
		if errors.Is(err, ErrGone) {
			return false, nil
		}
		return changed, err
	}, nil
}

func oneClick(t Token) func(*Contact) {
	return func(c *Contact) {
		if t.Topic == "" {
			c.UnsubscribeAll = true
			return
		}
		setPreference(c, t.Topic, OptOut)
	}
}

// A PreferenceForm is what the preferences page's form submits: each
// control's value as chosen and, from the page's hidden fields, as the
// page showed it. A save changes only what the user changed on the page
// (chosen differs from shown), against the preferences as they are when
// the save is made: a change made since the page was shown (one-click,
// mailto:, operator) is kept unless the user changed that very control.
type PreferenceForm struct {
	// UnsubscribeAll is the box as submitted (absent: false);
	// ShownUnsubscribeAll the box as the page showed it, nil when the
	// form does not say (a page from before the shown fields, or a
	// hand-made request).
	UnsubscribeAll      bool
	ShownUnsubscribeAll *bool
	// Topics: the topics the form names (others keep their preference).
	Topics []TopicChoice
}

// TopicChoice is one topic's radio pair as submitted: Status chosen,
// Shown as the page showed it ("" when the form does not say).
type TopicChoice struct {
	Topic  string
	Status SubscriptionStatus
	Shown  SubscriptionStatus
}

// SaveResult is the outcome of SetPreferences.
type SaveResult struct {
	// Changed: something was stored (and one Subscription event
	// recorded).
	Changed bool
	// Stale: the preferences had changed since the page was shown (a
	// shown value differs from the one stored when saving).
	Stale bool
	// Ignored: a choice that would subscribe the contact again was not
	// applied because the form did not say what the page had shown for
	// that control.
	Ignored bool
}

// SetPreferences applies what the preferences page submitted for t's
// contact, control by control, against the contact's effective
// preferences (own status, else the topic's default) read in the
// transaction that makes the change:
//   - a control whose shown value the form carries is applied only when
//     the user changed it (chosen differs from shown); left as shown, it
//     keeps the current value, whatever changed since the page was shown;
//   - a control without its shown value (an old page, a hand-made POST)
//     is applied only when it unsubscribes (OPT_OUT, the box checked):
//     such a form never subscribes anyone again (SaveResult.Ignored);
//   - a topic the list no longer has is ignored, and a value equal to the
//     current one stores nothing (a page saved unchanged stores nothing,
//     creates no contact and records no event).
//
// ErrGone as Apply.
func (u *Unsubscriber) SetPreferences(ctx context.Context, t Token, f PreferenceForm, source string) (SaveResult, error) {
	var r SaveResult
	changed, err := u.apply(ctx, t, source, func(l List, c *Contact) {
		r.Stale, r.Ignored = f.applyTo(l, c)
	})
	r.Changed = changed
	return r, err
}

// applyTo changes c as f asks (see SetPreferences) and reports whether a
// shown value differed from c's and whether a subscribing choice was
// ignored for want of its shown value.
func (f PreferenceForm) applyTo(l List, c *Contact) (stale, ignored bool) {
	cur := effective(l, *c)
	switch {
	case f.ShownUnsubscribeAll != nil:
		stale = *f.ShownUnsubscribeAll != cur.UnsubscribeAll
		if f.UnsubscribeAll != *f.ShownUnsubscribeAll {
			c.UnsubscribeAll = f.UnsubscribeAll
		}
	case f.UnsubscribeAll:
		c.UnsubscribeAll = true
	default:
		ignored = cur.UnsubscribeAll // the box may have been unchecked
	}
	for _, ch := range f.Topics {
		i := slices.IndexFunc(cur.Topics, func(e TopicPreference) bool { return e.Topic == ch.Topic })
		if i < 0 {
			continue // dropped since the page was shown
		}
		now := cur.Topics[i].Status
		switch {
		case ch.Shown != "":
			stale = stale || ch.Shown != now
			if ch.Status == ch.Shown {
				continue // left as shown: keeps the current value
			}
		case ch.Status != OptOut:
			ignored = ignored || ch.Status != now
			continue
		}
		if ch.Status != now {
			setPreference(c, ch.Topic, ch.Status)
		}
	}
	return stale, ignored
}

// Apply changes t's contact by change (creating the contact when absent)
// in one transaction and, when the stored contact changed (or was
// created with a preference), records one Subscription event on
// t.MessageID (recipient: the contact's address) from source, with the
// contact's effective preferences — every topic of the list, its own
// status else the topic's default — before and after. When nothing
// changed nothing is written (a contact that would have been created with
// no preference is not) and it returns false. Preferences change leaves
// for topics the list does not have are dropped. ErrGone when the list or
// t's topic no longer exists.
//
// The list is read in that transaction, locked against UpdateList and
// DeleteList (FOR SHARE against their FOR UPDATE on PostgreSQL; SQLite's
// write lock), so a change racing with UpdateContactList applies either
// wholly before it or wholly after it, against the topics the list has
// then, and the event shows those topics.
func (u *Unsubscriber) Apply(ctx context.Context, t Token, source string, change func(*Contact)) (bool, error) {
	return u.apply(ctx, t, source, func(_ List, c *Contact) { change(c) })
}

func (u *Unsubscriber) apply(ctx context.Context, t Token, source string, change func(List, *Contact)) (bool, error) {
	var changed bool
	err := u.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		changed, err = u.applyTx(ctx, tx, t, source, change)
		if err == nil && !changed {
			return errUnchanged // roll back the contact applyTx may have created
		}
		return err
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	return changed, err
}

var errUnchanged = errors.New("no change")

// applyTx is Apply in tx; change gets the list as read in tx. ErrGone
// comes before anything is written.
func (u *Unsubscriber) applyTx(ctx context.Context, tx *sql.Tx, t Token, source string, change func(List, *Contact)) (bool, error) {
	l, err := u.listTx(ctx, tx, t)
	if err != nil {
		return false, err
	}
	before, after, _, err := u.Contacts.applyList(ctx, tx, t.Account, l, t.Email, true, func(c *Contact) {
		c.TopicPreferences = slices.Clone(c.TopicPreferences) // the copy must not share before's array
		change(l, c)
		c.TopicPreferences = slices.DeleteFunc(c.TopicPreferences, func(p TopicPreference) bool { _, ok := l.Topic(p.Topic); return !ok })
	})
	if err != nil {
		return false, err
	}
	// before is the zero Contact when applyList created it.
	if before.UnsubscribeAll == after.UnsubscribeAll && sameStored(before.TopicPreferences, after.TopicPreferences) {
		return false, nil
	}
	at := u.now()
	d := event.SubscriptionDetail{ContactList: t.List, Timestamp: event.Timestamp(at), Source: source,
		NewTopicPreferences: eventPreferences(effective(l, after)), OldTopicPreferences: eventPreferences(effective(l, before))}
	if err := u.Events.AddTx(tx, t.MessageID, t.Account, t.Email, at, d); err != nil {
		return false, fmt.Errorf("recording the subscription event: %w", err)
	}
	return true, nil
}

// sameStored reports whether two sets of explicit preferences are equal,
// whatever their order.
func sameStored(a, b []TopicPreference) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// setPreference sets c's status for topic, adding it when absent.
func setPreference(c *Contact, topic string, st SubscriptionStatus) {
	for i := range c.TopicPreferences {
		if c.TopicPreferences[i].Topic == topic {
			c.TopicPreferences[i].Status = st
			return
		}
	}
	c.TopicPreferences = append(c.TopicPreferences, TopicPreference{Topic: topic, Status: st})
}

// eventPreferences is p in the event's shape: OptIn / OptOut.
func eventPreferences(p Preferences) event.TopicPreferences {
	out := event.TopicPreferences{UnsubscribeAll: p.UnsubscribeAll, TopicSubscriptionStatus: []event.TopicSubscriptionStatus{}}
	for _, tp := range p.Topics {
		st := "OptIn"
		if tp.Status == OptOut {
			st = "OptOut"
		}
		out.TopicSubscriptionStatus = append(out.TopicSubscriptionStatus, event.TopicSubscriptionStatus{TopicName: tp.Topic, SubscriptionStatus: st})
	}
	return out
}
