package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/daemon"
)

const contactsUsage = "usage: petrel contacts list|get|unsubscribe [EMAIL] [--account A] [--list NAME] (petrel contacts --help)"

// contactsCmd: petrel contacts list | get, on an account's contact list
// (docs/contacts.md), the list the API's …/contact-lists operations manage.
func contactsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(contactsUsage)
	}
	switch args[0] {
	case "list", "get":
		return contactsReadCmd(ctx, args[0], args[1:], stdout)
	case "unsubscribe":
		return contactsUnsubscribeCmd(ctx, args[1:], stdout)
	}
	return fmt.Errorf("petrel contacts: unknown subcommand %q\n%s", args[0], contactsUsage)
}

// contactsReadCmd is petrel contacts list and petrel contacts get.
func contactsReadCmd(ctx context.Context, sub string, args []string, stdout io.Writer) error {
	var (
		acct, listName, topic, status string
		useDefault, asJSON            bool
	)
	svc, pos, err := adminOpen(ctx, "contacts "+sub, args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "the account whose contact list it is")
		fs.StringVar(&listName, "list", "", "the contact list (default: the account's one list)")
		fs.StringVar(&topic, "topic", "", "list: only contacts by their preference for this topic (with --status)")
		fs.StringVar(&status, "status", "", "list: OPT_IN or OPT_OUT; with --topic the topic's preference, without it unsubscribed from the whole list (OPT_OUT) or not (OPT_IN)")
		fs.BoolVar(&useDefault, "use-default", false, "list: with --topic, a contact without a preference counts with the topic's default")
		fs.BoolVar(&asJSON, "json", false, "print JSON (one object per contact for list)")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return fmt.Errorf("account %s: %w", acct, err)
	}
	l, err := contactList(ctx, svc.Contacts, acct, listName)
	if err != nil {
		return err
	}
	switch sub {
	case "get":
		if len(pos) != 1 {
			return errors.New("usage: petrel contacts get EMAIL [--account A] [--list NAME] [--json]")
		}
		c, err := svc.Contacts.GetContact(ctx, acct, l.Name, pos[0])
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, contactOut(l, c, true))
		}
		printContact(stdout, l, c)
		return nil
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %v", pos)
	}
	f := contacts.Filter{Topic: topic, UseDefault: useDefault, Status: contacts.SubscriptionStatus(strings.ToUpper(status))}
	if useDefault && topic == "" {
		return errors.New("--use-default needs --topic")
	}
	return listContacts(ctx, svc.Contacts, acct, l, f, asJSON, stdout)
}

// contactList returns account's list name, or its only list when name is
// "".
func contactList(ctx context.Context, s *contacts.Service, account, name string) (contacts.List, error) {
	if name != "" {
		return s.GetList(ctx, account, name)
	}
	ls, err := s.ListLists(ctx, account)
	if err != nil {
		return contacts.List{}, err
	}
	if len(ls) == 0 {
		return contacts.List{}, fmt.Errorf("account %s has no contact list (create one with the API's CreateContactList)", account)
	}
	return ls[0], nil
}

// contactJSON is a contact as petrel contacts prints it with --json (the
// members of SES's GetContactResponse, times in RFC 3339).
type contactJSON struct {
	ContactListName         string            `json:"ContactListName"`
	EmailAddress            string            `json:"EmailAddress"`
	UnsubscribeAll          bool              `json:"UnsubscribeAll"`
	TopicPreferences        map[string]string `json:"TopicPreferences"`
	TopicDefaultPreferences map[string]string `json:"TopicDefaultPreferences"`
	AttributesData          string            `json:"AttributesData,omitempty"`
	CreatedTimestamp        string            `json:"CreatedTimestamp,omitempty"`
	LastUpdatedTimestamp    string            `json:"LastUpdatedTimestamp"`
}

func prefMap(ps []contacts.TopicPreference) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.Topic] = string(p.Status)
	}
	return m
}

func contactOut(l contacts.List, c contacts.Contact, full bool) contactJSON {
	j := contactJSON{ContactListName: l.Name, EmailAddress: c.Email, UnsubscribeAll: c.UnsubscribeAll,
		TopicPreferences: prefMap(c.TopicPreferences), TopicDefaultPreferences: prefMap(l.DefaultPreferences(c)),
		LastUpdatedTimestamp: rfc3339(c.Updated)}
	if full {
		j.AttributesData, j.CreatedTimestamp = c.Attributes, rfc3339(c.Created)
	}
	return j
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// prefsText is a contact's effective status for each of the list's topics,
// "topic=OPT_IN" for an explicit preference and "topic=(OPT_OUT)" for a
// default.
func prefsText(l contacts.List, c contacts.Contact) string {
	var parts []string
	for _, t := range l.Topics {
		if s, ok := c.Preference(t.Name); ok {
			parts = append(parts, t.Name+"="+string(s))
		} else {
			parts = append(parts, t.Name+"=("+string(t.DefaultSubscriptionStatus)+")")
		}
	}
	return orDash(strings.Join(parts, " "))
}

// listContacts prints the contacts of l matching f, a page at a time.
func listContacts(ctx context.Context, s *contacts.Service, account string, l contacts.List, f contacts.Filter, asJSON bool, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "EMAIL\tUNSUBSCRIBED FROM ALL\tTOPICS\tLAST UPDATE")
	}
	n := 0
	for {
		page, next, err := s.ListContacts(ctx, account, l.Name, f)
		if err != nil {
			return err
		}
		for _, c := range page {
			n++
			if asJSON {
				if err := writeJSON(stdout, contactOut(l, c, false)); err != nil {
					return err
				}
				continue
			}
			unsub := "no"
			if c.UnsubscribeAll {
				unsub = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termText(c.Email), unsub, termText(prefsText(l, c)), rfc3339(c.Updated))
		}
		if next == "" {
			break
		}
		f.NextToken = next
	}
	if asJSON {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "%d contacts in contact list %s of account %s (topic=(STATUS): the topic's default, no preference given)\n",
		n, termText(l.Name), termText(account))
	return err
}

func printContact(w io.Writer, l contacts.List, c contacts.Contact) {
	fmt.Fprintf(w, "email:                  %s\ncontact list:           %s\nunsubscribed from all:  %v\n", termText(c.Email), termText(l.Name), c.UnsubscribeAll)
	for _, t := range l.Topics {
		if s, ok := c.Preference(t.Name); ok {
			fmt.Fprintf(w, "topic %-17s %s\n", termText(t.Name)+":", s)
		} else {
			fmt.Fprintf(w, "topic %-17s %s (the topic's default)\n", termText(t.Name)+":", t.DefaultSubscriptionStatus)
		}
	}
	if c.Attributes != "" {
		fmt.Fprintf(w, "attributes:             %s\n", termText(c.Attributes))
	}
	fmt.Fprintf(w, "created:                %s\nlast update:            %s\n", rfc3339(c.Created), rfc3339(c.Updated))
}
