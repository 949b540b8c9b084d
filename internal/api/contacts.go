package api

import (
	"context"
	"errors"
	"strings"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/sesarn"
)

// SES list management (../shared/spec/ses.md §1.12, docs/contacts.md):
// contact lists with their topics, and their contacts, over package
// contacts. A list or contact the caller does not have is
// NotFoundException; bad input is BadRequestException; a second list, or
// more than 20 topics, is LimitExceededException.

// topicJSON is Topic.
type topicJSON struct {
	TopicName                 *string `json:"TopicName"`
	DisplayName               *string `json:"DisplayName"`
	Description               string  `json:"Description,omitempty"`
	DefaultSubscriptionStatus string  `json:"DefaultSubscriptionStatus"`
}

// topicPreferenceJSON is TopicPreference.
type topicPreferenceJSON struct {
	TopicName          string `json:"TopicName"`
	SubscriptionStatus string `json:"SubscriptionStatus"`
}

// createContactListInput is CreateContactListRequest (and, without
// ContactListName and Tags, UpdateContactListRequest).
type createContactListInput struct {
	ContactListName *string     `json:"ContactListName"`
	Description     string      `json:"Description"`
	Topics          []topicJSON `json:"Topics"`
	Tags            []tag       `json:"Tags"`
}

// getContactListOutput is GetContactListResponse.
type getContactListOutput struct {
	ContactListName      string      `json:"ContactListName"`
	CreatedTimestamp     float64     `json:"CreatedTimestamp"`
	Description          string      `json:"Description,omitempty"`
	LastUpdatedTimestamp float64     `json:"LastUpdatedTimestamp"`
	Tags                 []tag       `json:"Tags"`
	Topics               []topicJSON `json:"Topics"`
}

// contactListJSON is ContactList, ListContactLists's item.
type contactListJSON struct {
	ContactListName      string  `json:"ContactListName"`
	LastUpdatedTimestamp float64 `json:"LastUpdatedTimestamp"`
}

// createContactInput is CreateContactRequest (EmailAddress in the body)
// and UpdateContactRequest (EmailAddress in the path).
type createContactInput struct {
	EmailAddress     *string               `json:"EmailAddress"`
	TopicPreferences []topicPreferenceJSON `json:"TopicPreferences"`
	UnsubscribeAll   bool                  `json:"UnsubscribeAll"`
	AttributesData   string                `json:"AttributesData"`
}

// getContactOutput is GetContactResponse.
type getContactOutput struct {
	AttributesData          string                `json:"AttributesData,omitempty"`
	ContactListName         string                `json:"ContactListName"`
	CreatedTimestamp        float64               `json:"CreatedTimestamp"`
	EmailAddress            string                `json:"EmailAddress"`
	LastUpdatedTimestamp    float64               `json:"LastUpdatedTimestamp"`
	TopicDefaultPreferences []topicPreferenceJSON `json:"TopicDefaultPreferences"`
	TopicPreferences        []topicPreferenceJSON `json:"TopicPreferences"`
	UnsubscribeAll          bool                  `json:"UnsubscribeAll"`
}

// contactJSON is Contact, ListContacts's item.
type contactJSON struct {
	EmailAddress            string                `json:"EmailAddress"`
	LastUpdatedTimestamp    float64               `json:"LastUpdatedTimestamp"`
	TopicDefaultPreferences []topicPreferenceJSON `json:"TopicDefaultPreferences"`
	TopicPreferences        []topicPreferenceJSON `json:"TopicPreferences"`
	UnsubscribeAll          bool                  `json:"UnsubscribeAll"`
}

// listContactsInput is ListContactsRequest.
type listContactsInput struct {
	Filter *struct {
		FilteredStatus string `json:"FilteredStatus"`
		TopicFilter    *struct {
			TopicName                         string `json:"TopicName"`
			UseDefaultIfPreferenceUnavailable bool   `json:"UseDefaultIfPreferenceUnavailable"`
		} `json:"TopicFilter"`
	} `json:"Filter"`
	NextToken *string `json:"NextToken"`
	PageSize  *int    `json:"PageSize"` // 0-1000; 0 or absent: 100
}

// contactsError maps package contacts's errors to SES's.
func contactsError(err error) error {
	var (
		in  *contacts.InvalidError
		lim *contacts.LimitError
	)
	switch {
	case errors.As(err, &in):
		return badRequest("%s", in.Msg)
	case errors.As(err, &lim):
		return &Error{Code: "LimitExceededException", Status: 400, Message: lim.Msg}
	case errors.Is(err, contacts.ErrNotFound):
		return notFound("%s", err.Error())
	case errors.Is(err, contacts.ErrAlreadyExists):
		return &Error{Code: "AlreadyExistsException", Status: 400, Message: err.Error()}
	case errors.Is(err, contacts.ErrInvalidToken):
		return badRequest("NextToken is not valid.")
	}
	return err
}

// topicsIn converts and checks the presence of the required members
// (package contacts checks their values).
func topicsIn(in []topicJSON) ([]contacts.Topic, error) {
	out := make([]contacts.Topic, len(in))
	for i, t := range in {
		if t.TopicName == nil {
			return nil, badRequest("Topics[%d]: TopicName is required.", i)
		}
		if t.DisplayName == nil {
			return nil, badRequest("Topics[%d]: DisplayName is required.", i)
		}
		if t.DefaultSubscriptionStatus == "" {
			return nil, badRequest("Topics[%d]: DefaultSubscriptionStatus is required.", i)
		}
		out[i] = contacts.Topic{Name: *t.TopicName, DisplayName: *t.DisplayName, Description: t.Description,
			DefaultSubscriptionStatus: contacts.SubscriptionStatus(t.DefaultSubscriptionStatus)}
	}
	return out, nil
}

func topicsOut(in []contacts.Topic) []topicJSON {
	out := make([]topicJSON, len(in))
	for i, t := range in {
		out[i] = topicJSON{TopicName: &t.Name, DisplayName: &t.DisplayName, Description: t.Description,
			DefaultSubscriptionStatus: string(t.DefaultSubscriptionStatus)}
	}
	return out
}

func prefsIn(in []topicPreferenceJSON) ([]contacts.TopicPreference, error) {
	out := make([]contacts.TopicPreference, len(in))
	for i, p := range in {
		if p.TopicName == "" || p.SubscriptionStatus == "" {
			return nil, badRequest("TopicPreferences[%d]: TopicName and SubscriptionStatus are required.", i)
		}
		out[i] = contacts.TopicPreference{Topic: p.TopicName, Status: contacts.SubscriptionStatus(p.SubscriptionStatus)}
	}
	return out, nil
}

func prefsOut(in []contacts.TopicPreference) []topicPreferenceJSON {
	out := make([]topicPreferenceJSON, len(in))
	for i, p := range in {
		out[i] = topicPreferenceJSON{TopicName: p.Topic, SubscriptionStatus: string(p.Status)}
	}
	return out
}

func seconds(ms int64) float64 { return float64(ms) / 1000 }

// createContactList is CreateContactList: POST /v2/email/contact-lists.
func (s *Server) createContactList(ctx context.Context, c *call) (any, error) {
	var in createContactListInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.ContactListName == nil {
		return nil, badRequest("ContactListName is required.")
	}
	topics, err := topicsIn(in.Topics)
	if err != nil {
		return nil, err
	}
	tags, err := pairTags(in.Tags)
	if err != nil {
		return nil, err
	}
	l := contacts.List{Name: *in.ContactListName, Description: in.Description, Topics: topics, Tags: tags}
	return struct{}{}, contactsError(s.Contacts.CreateList(ctx, c.account, l))
}

// getContactList is GetContactList: GET /v2/email/contact-lists/{ContactListName}.
func (s *Server) getContactList(ctx context.Context, c *call) (any, error) {
	l, err := s.Contacts.GetList(ctx, c.account, c.r.PathValue("ContactListName"))
	if err != nil {
		return nil, contactsError(err)
	}
	return getContactListOutput{ContactListName: l.Name, Description: l.Description, Topics: topicsOut(l.Topics), Tags: pairTagsOut(l.Tags),
		CreatedTimestamp: seconds(l.Created.UnixMilli()), LastUpdatedTimestamp: seconds(l.Updated.UnixMilli())}, nil
}

// listContactLists is ListContactLists: GET /v2/email/contact-lists
// (PageSize and NextToken in the query; an account has at most one list,
// so there is one page and NextToken is never given). PageSize is checked
// as ListContacts checks it; any NextToken is then BadRequestException
// "NextToken is not valid." as in the other List operations: this one
// never gives a token, so none is one of its own.
func (s *Server) listContactLists(ctx context.Context, c *call) (any, error) {
	token, size, err := pageQuery(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	if _, err := pageSize(size); err != nil {
		return nil, err
	}
	if token != nil {
		return nil, contactsError(contacts.ErrInvalidToken)
	}
	ls, err := s.Contacts.ListLists(ctx, c.account)
	if err != nil {
		return nil, err
	}
	out := struct {
		ContactLists []contactListJSON `json:"ContactLists"`
	}{ContactLists: []contactListJSON{}}
	for _, l := range ls {
		out.ContactLists = append(out.ContactLists, contactListJSON{ContactListName: l.Name, LastUpdatedTimestamp: seconds(l.Updated.UnixMilli())})
	}
	return out, nil
}

// updateContactList is UpdateContactList: PUT
// /v2/email/contact-lists/{ContactListName}, a complete replacement of
// the Description and Topics (a topic left out is removed, with every
// contact's preference for it).
func (s *Server) updateContactList(ctx context.Context, c *call) (any, error) {
	var in createContactListInput
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	topics, err := topicsIn(in.Topics)
	if err != nil {
		return nil, err
	}
	l := contacts.List{Name: c.r.PathValue("ContactListName"), Description: in.Description, Topics: topics}
	return struct{}{}, contactsError(s.Contacts.UpdateList(ctx, c.account, l))
}

// deleteContactList is DeleteContactList: DELETE
// /v2/email/contact-lists/{ContactListName}, with its contacts.
func (s *Server) deleteContactList(ctx context.Context, c *call) (any, error) {
	return struct{}{}, contactsError(s.Contacts.DeleteList(ctx, c.account, c.r.PathValue("ContactListName")))
}

// contactIn converts CreateContact's and UpdateContact's members.
func contactIn(list, email string, in createContactInput) (contacts.Contact, error) {
	prefs, err := prefsIn(in.TopicPreferences)
	if err != nil {
		return contacts.Contact{}, err
	}
	return contacts.Contact{List: list, Email: email, TopicPreferences: prefs, UnsubscribeAll: in.UnsubscribeAll, Attributes: in.AttributesData}, nil
}

// createContact is CreateContact: POST
// /v2/email/contact-lists/{ContactListName}/contacts.
func (s *Server) createContact(ctx context.Context, c *call) (any, error) {
	var in createContactInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.EmailAddress == nil || strings.TrimSpace(*in.EmailAddress) == "" {
		return nil, badRequest("EmailAddress is required.")
	}
	ct, err := contactIn(c.r.PathValue("ContactListName"), *in.EmailAddress, in)
	if err != nil {
		return nil, err
	}
	return struct{}{}, contactsError(s.Contacts.CreateContact(ctx, c.account, ct))
}

// getContact is GetContact: GET
// /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress};
// TopicDefaultPreferences are the list's topics the contact has no
// preference for, with their defaults.
func (s *Server) getContact(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("ContactListName")
	l, err := s.Contacts.GetList(ctx, c.account, name)
	if err != nil {
		return nil, contactsError(err)
	}
	ct, err := s.Contacts.GetContact(ctx, c.account, name, c.r.PathValue("EmailAddress"))
	if err != nil {
		return nil, contactsError(err)
	}
	return getContactOutput{AttributesData: ct.Attributes, ContactListName: l.Name, EmailAddress: ct.Email,
		CreatedTimestamp: seconds(ct.Created.UnixMilli()), LastUpdatedTimestamp: seconds(ct.Updated.UnixMilli()),
		TopicPreferences: prefsOut(ct.TopicPreferences), TopicDefaultPreferences: prefsOut(l.DefaultPreferences(ct)),
		UnsubscribeAll: ct.UnsubscribeAll}, nil
}

// updateContact is UpdateContact: PUT
// /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}:
// TopicPreferences, UnsubscribeAll and AttributesData replace the
// contact's (a preference left out is removed).
func (s *Server) updateContact(ctx context.Context, c *call) (any, error) {
	var in createContactInput
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	ct, err := contactIn(c.r.PathValue("ContactListName"), c.r.PathValue("EmailAddress"), in)
	if err != nil {
		return nil, err
	}
	return struct{}{}, contactsError(s.Contacts.UpdateContact(ctx, c.account, ct))
}

// deleteContact is DeleteContact: DELETE
// /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}.
func (s *Server) deleteContact(ctx context.Context, c *call) (any, error) {
	return struct{}{}, contactsError(s.Contacts.DeleteContact(ctx, c.account, c.r.PathValue("ContactListName"), c.r.PathValue("EmailAddress")))
}

// listContacts is ListContacts: POST
// /v2/email/contact-lists/{ContactListName}/contacts/list as the SDKs send
// it, and GET …/contacts with NextToken and PageSize in the query (the
// model's earlier binding), PageSize (default 100, at most 1000) at a time
// in address order.
func (s *Server) listContacts(ctx context.Context, c *call) (any, error) {
	var in listContactsInput
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	if c.r.Method == "GET" {
		var err error
		if in.NextToken, in.PageSize, err = pageQuery(c.r.URL.Query()); err != nil {
			return nil, err
		}
	}
	size, err := pageSize(in.PageSize)
	if err != nil {
		return nil, err
	}
	f := contacts.Filter{PageSize: size}
	if in.NextToken != nil {
		f.NextToken = *in.NextToken
	}
	if in.Filter != nil {
		f.Status = contacts.SubscriptionStatus(in.Filter.FilteredStatus)
		if tf := in.Filter.TopicFilter; tf != nil {
			if tf.TopicName == "" {
				return nil, badRequest("TopicFilter: TopicName is required.")
			}
			f.Topic, f.UseDefault = tf.TopicName, tf.UseDefaultIfPreferenceUnavailable
		}
	}
	name := c.r.PathValue("ContactListName")
	l, err := s.Contacts.GetList(ctx, c.account, name)
	if err != nil {
		return nil, contactsError(err)
	}
	page, next, err := s.Contacts.ListContacts(ctx, c.account, name, f)
	if err != nil {
		return nil, contactsError(err)
	}
	out := struct {
		Contacts  []contactJSON `json:"Contacts"`
		NextToken string        `json:"NextToken,omitempty"`
	}{Contacts: make([]contactJSON, len(page)), NextToken: next}
	for i, ct := range page {
		out.Contacts[i] = contactJSON{EmailAddress: ct.Email, LastUpdatedTimestamp: seconds(ct.Updated.UnixMilli()),
			TopicPreferences: prefsOut(ct.TopicPreferences), TopicDefaultPreferences: prefsOut(l.DefaultPreferences(ct)),
			UnsubscribeAll: ct.UnsubscribeAll}
	}
	return out, nil
}

// taggedContactList resolves a ResourceArn naming the caller's contact
// list, arn:aws:ses:REGION:ACCOUNT:contact-list/NAME, to the list's name;
// ok is false when arn names another resource type. Another account's or
// region's ARN, or a list the caller does not have, is NotFoundException.
func (s *Server) taggedContactList(ctx context.Context, account, arn string) (name string, ok bool, err error) {
	a, parsed := sesarn.Parse(arn)
	if !parsed || a.Type != "contact-list" {
		return "", false, nil
	}
	name = a.Name
	acct, err := s.Accounts.Cached(ctx, account)
	if err != nil {
		return "", true, err
	}
	if !a.Of(s.Region, acct.SendingAccountID) {
		return "", true, notFound("Contact list %s does not exist.", name)
	}
	if _, err := s.Contacts.GetList(ctx, account, name); err != nil {
		return "", true, contactsError(err)
	}
	return name, true, nil
}

// tagContactList, untagContactList and listContactListTags are
// TagResource, UntagResource and ListTagsForResource for a contact list.
func (s *Server) tagContactList(ctx context.Context, account, name string, in []tag) (any, error) {
	tags, err := pairTags(in)
	if err != nil {
		return nil, err
	}
	var lim *contacts.LimitError
	if err := s.Contacts.TagList(ctx, account, name, tags); errors.As(err, &lim) {
		return nil, badRequest("Tags: %s", lim.Msg)
	} else if err != nil {
		return nil, contactsError(err)
	}
	return struct{}{}, nil
}

func (s *Server) untagContactList(ctx context.Context, account, name string, keys []string) (any, error) {
	return struct{}{}, contactsError(s.Contacts.UntagList(ctx, account, name, keys))
}

func (s *Server) listContactListTags(ctx context.Context, account, name string) (any, error) {
	l, err := s.Contacts.GetList(ctx, account, name)
	if err != nil {
		return nil, contactsError(err)
	}
	return struct{ Tags []tag }{pairTagsOut(l.Tags)}, nil
}
