package api

import (
	"github.com/petrelmail/petrel/internal/sending"
)

// listManagementOptions is SES's ListManagementOptions
// (../shared/spec/ses.md §1.3, §11.4): the contact list, and optionally
// one of its topics, a message is sent for.
type listManagementOptions struct {
	ContactListName *string // required
	TopicName       *string
}

// request returns o as the accept path's ListManagement (nil o: nil).
// Errors: BadRequestException when ContactListName is missing or empty, or
// TopicName is given empty. That the list and topic exist is checked by
// the accept path (sending.ListNotFoundError: NotFoundException).
func (o *listManagementOptions) request() (*sending.ListManagement, error) {
	if o == nil {
		return nil, nil
	}
	if o.ContactListName == nil || *o.ContactListName == "" {
		return nil, badRequest("ListManagementOptions.ContactListName is required.")
	}
	lm := &sending.ListManagement{ContactList: *o.ContactListName}
	if o.TopicName != nil {
		if *o.TopicName == "" {
			return nil, badRequest("ListManagementOptions.TopicName must not be empty.")
		}
		lm.Topic = *o.TopicName
	}
	return lm, nil
}
