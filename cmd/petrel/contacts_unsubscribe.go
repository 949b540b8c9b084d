package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/daemon"
)

const contactsUnsubscribeUsage = "usage: petrel contacts unsubscribe EMAIL [--list L] [--topic T | --all] [--account A]"

// contactsUnsubscribeCmd: petrel contacts unsubscribe EMAIL — the operator
// unsubscribes a contact, as the recipient could through the message's
// links (docs/contacts.md, "Unsubscribing"): from topic --topic, or from
// the whole list (--all, the default). --list defaults to the account's
// list (SES allows one). A non-contact becomes a contact with that
// preference. A change is recorded as a Subscription event with source
// "Operator" and no message (message ID ""), so it is in petrel events
// but no event destination receives it (destinations belong to the
// configuration set of a message); no change records nothing.
func contactsUnsubscribeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	var acct, list, topic string
	var all bool
	svc, pos, err := adminOpen(ctx, "contacts unsubscribe", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "the account whose list it is")
		fs.StringVar(&list, "list", "", "the contact list (default: the account's list)")
		fs.StringVar(&topic, "topic", "", "unsubscribe from this topic only")
		fs.BoolVar(&all, "all", false, "unsubscribe from the whole list (the default without --topic)")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if len(pos) != 1 || topic != "" && all {
		return errors.New(contactsUnsubscribeUsage)
	}
	email := pos[0]
	if _, err := contacts.ParseEmail(email); err != nil {
		return fmt.Errorf("%s: %w", email, err)
	}
	cs := svc.Contacts
	if list == "" {
		ls, err := cs.ListLists(ctx, acct)
		if err != nil {
			return err
		}
		if len(ls) != 1 {
			return fmt.Errorf("account %s has no contact list", acct)
		}
		list = ls[0].Name
	}
	u := &contacts.Unsubscriber{Contacts: cs, DB: svc.DB, Events: svc.Events}
	t := contacts.Token{Account: acct, List: list, Topic: topic, Email: email}
	changed, err := u.OneClick(ctx, t, contacts.SourceOperator)
	switch {
	case errors.Is(err, contacts.ErrGone) && topic != "":
		return fmt.Errorf("account %s has no contact list %s with topic %s", acct, list, topic)
	case errors.Is(err, contacts.ErrGone):
		return fmt.Errorf("account %s has no contact list %s", acct, list)
	case err != nil:
		return err
	}
	what := "list " + list
	if topic != "" {
		what = "topic " + topic + " of list " + list
	}
	if !changed {
		fmt.Fprintf(stdout, "%s was already unsubscribed from %s; nothing changed\n", email, what)
		return nil
	}
	fmt.Fprintf(stdout, "unsubscribed %s from %s\n", email, what)
	return nil
}
