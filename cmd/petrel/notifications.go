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
	"time"

	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/notify"
)

const notificationsUsage = "usage: petrel notifications list|test|dead-letters|replay [--account A] (petrel notifications --help)"

// notificationsCmd: petrel notifications list | test | dead-letters |
// replay (docs/notifications.md). list, dead-letters and replay work on
// every account unless --account names one; test needs the account.
func notificationsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(notificationsUsage)
	}
	sub := args[0]
	switch sub {
	case "list", "test", "dead-letters", "replay":
	default:
		return fmt.Errorf("petrel notifications: unknown subcommand %q\n%s", sub, notificationsUsage)
	}
	var (
		acct, set, from, kind string
		all                   bool
		limit                 int
	)
	cfg, pos, err := adminFlags("notifications "+sub, args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", "", "the account (list, dead-letters, replay: default every account; test: required)")
		fs.StringVar(&set, "configuration-set", "", "test: the configuration set the sample message was sent with (its event destinations receive it)")
		fs.StringVar(&from, "from", "", "test: the sending identity (address or domain) of the sample message, one of the account's (its notification topics and feedback settings apply; a feedback email goes to it); default: the account's first verified identity")
		fs.StringVar(&kind, "event-type", "DELIVERY", "test: the event type: "+sampleTypes)
		fs.BoolVar(&all, "all", false, "replay: every dead letter (of --account, or of every account)")
		fs.IntVar(&limit, "limit", 1000, fmt.Sprintf("dead-letters: at most this many (1–%d)", maxDeadLetters))
	})
	if err != nil {
		return err
	}
	if strings.HasPrefix(acct, "-") {
		// "--account --data-dir dp" would take the flag for the name.
		return fmt.Errorf("petrel notifications %s: --account needs an account name; %q is a flag (write --account NAME)", sub, acct)
	}
	if limit < 1 || limit > maxDeadLetters {
		return fmt.Errorf("petrel notifications %s: --limit %d: must be 1–%d", sub, limit, maxDeadLetters)
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if acct != "" {
		if _, err := svc.Accounts.Get(ctx, acct); err != nil {
			return fmt.Errorf("account %s: %w", acct, err)
		}
	}
	// An engine for reading and writing notify's tables; the running
	// daemon's engine delivers.
	eng := notify.New(svc.DB, notify.Config{}, nil, nil)
	switch sub {
	case "list":
		if len(pos) != 0 {
			return errors.New("usage: petrel notifications list [--account A]")
		}
		return notificationsList(ctx, eng, acct, stdout)
	case "dead-letters":
		if len(pos) != 0 {
			return errors.New("usage: petrel notifications dead-letters [--account A] [--limit N]")
		}
		return notificationsDead(ctx, eng, acct, limit, stdout)
	case "replay":
		if all == (len(pos) > 0) {
			return errors.New("usage: petrel notifications replay [--account A] ID... | --all")
		}
		var ids []string // nil: all
		if !all {
			ids = pos
		}
		n, err := eng.Replay(ctx, acct, ids)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stdout, "replayed %d dead letter(s); the running petrel delivers them within a second\n", n)
		}
		switch {
		case !all && n == 0:
			return fmt.Errorf("nothing replayed: none of the IDs given is a dead letter%s (see petrel notifications dead-letters)", accountSuffix(acct))
		case !all && n < len(ids):
			return fmt.Errorf("%d of the IDs given are not dead letters%s (the other %d were replayed)", len(ids)-n, accountSuffix(acct), n)
		case all && n == 0:
			fmt.Fprintf(stdout, "no dead letters%s to replay\n", accountSuffix(acct))
		}
		return nil
	}
	// test
	if acct == "" || len(pos) != 0 {
		return errors.New("usage: petrel notifications test --account A [--configuration-set S] [--from IDENTITY] [--event-type TYPE]")
	}
	a, err := svc.Accounts.Get(ctx, acct)
	if err != nil {
		return err
	}
	k, err := parseEventType(kind)
	if err != nil {
		return err
	}
	if set != "" {
		if _, err := svc.ConfigSets.Get(ctx, a.Name, set); err != nil {
			return fmt.Errorf("--configuration-set %s: %w (account %s)", set, err, a.Name)
		}
	}
	if from != "" {
		if err := accountIdentity(ctx, svc.Identities, a.Name, from); err != nil {
			return err
		}
	} else {
		// The sample sender is at one of the account's own identities: a
		// test BOUNCE or COMPLAINT may be forwarded as a feedback email to
		// it, and that must reach the tenant's own domain, never a third
		// party's.
		if from, err = firstVerifiedIdentity(ctx, svc.Identities, a.Name); err != nil {
			return err
		}
		if from == "" && (k == event.Bounce || k == event.Complaint) {
			return fmt.Errorf("account %s has no verified identity: a test %s event may be forwarded as a feedback email to its sample sender, which must be at one of the account's own identities; verify one, or give --from IDENTITY (one of the account's)",
				a.Name, strings.ToUpper(string(k)))
		}
	}
	ev, err := sampleEvent(k, a.Name, a.SendingAccountID, cfg.Region, set, from, time.Now())
	if err != nil {
		return err
	}
	if err := eng.AddTest(ctx, ev); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "queued a test %s event (message %s) for account %s; the running petrel routes it to the account's destinations — see petrel notifications list\n",
		ev.Kind, ev.MessageID, a.Name)
	return nil
}

// maxDeadLetters bounds dead-letters --limit.
const maxDeadLetters = 100000

// firstVerifiedIdentity is the first (by name) verified identity of
// account, "" when it has none.
func firstVerifiedIdentity(ctx context.Context, ids *identity.Service, account string) (string, error) {
	after := ""
	for {
		page, err := ids.List(ctx, account, after, 100)
		if err != nil {
			return "", err
		}
		for _, id := range page {
			if id.Verified {
				return id.Name, nil
			}
		}
		if len(page) < 100 {
			return "", nil
		}
		after = page[len(page)-1].Name
	}
}

// accountIdentity checks that from is an identity of account: the address
// itself, or (for an address) its domain.
func accountIdentity(ctx context.Context, ids *identity.Service, account, from string) error {
	_, err := ids.Get(ctx, account, from)
	if errors.Is(err, identity.ErrNotFound) {
		if at := strings.LastIndex(from, "@"); at >= 0 {
			_, err = ids.Get(ctx, account, from[at+1:])
		}
	}
	if errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("--from %s: not an identity of account %s (see petrel identity list --account %s)", from, account, account)
	}
	if err != nil {
		return fmt.Errorf("--from %s: %w", from, err)
	}
	return nil
}

func accountSuffix(acct string) string {
	if acct == "" {
		return ""
	}
	return " of account " + acct
}

func notificationsList(ctx context.Context, eng *notify.Engine, acct string, stdout io.Writer) error {
	n, err := eng.OutboxLen(ctx)
	if err != nil {
		return err
	}
	targets, err := eng.Targets(ctx, acct)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "outbox: %d event(s) waiting to be routed (all accounts)\n", n)
	failing, err := eng.OutboxFailing(ctx, acct, 100)
	if err != nil {
		return err
	}
	if len(failing) > 0 {
		fmt.Fprintf(stdout, "events whose routing failed%s (dead ones are listed by dead-letters too):\n", accountSuffix(acct))
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tKIND\tMESSAGE\tATTEMPTS\tSTATE\tLAST ERROR")
		for _, r := range failing {
			state := "retry at " + r.Next.UTC().Format(time.RFC3339)
			if r.Dead {
				state = "dead since " + r.Died.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%d\t%s\t%s\n", notify.OutboxIDPrefix, r.ID, r.Account, r.Kind, r.MessageID, r.Attempts, state, oneLine(r.LastError, 80))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(stdout, "no notifications pending or dead")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tTARGET\tCHANNEL\tPENDING\tIN FLIGHT\tDEAD\tOLDEST\tLAST ERROR")
	for _, t := range targets {
		oldest := "-"
		if !t.Oldest.IsZero() {
			oldest = t.Oldest.UTC().Format(time.RFC3339)
		}
		lastErr := t.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Account, t.Target, t.Channel, t.Pending, t.InFlight, t.Dead, oldest, oneLine(lastErr, 80))
	}
	return tw.Flush()
}

func notificationsDead(ctx context.Context, eng *notify.Engine, acct string, limit int, stdout io.Writer) error {
	dead, err := eng.DeadLetters(ctx, acct, limit)
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tTARGET\tKIND\tENDPOINT\tATTEMPTS\tDIED\tLAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Account, d.Target, d.Kind, d.Endpoint, d.Attempts,
			d.Died.UTC().Format(time.RFC3339), oneLine(d.LastError, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "replay with: petrel notifications replay ID... (or --all)")
	return nil
}

// oneLine keeps a stored error on one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// sampleTypes are the event types `petrel notifications test` makes a
// sample of: every type Petrel records.
const sampleTypes = "SEND, REJECT, DELIVERY, BOUNCE, COMPLAINT, DELIVERY_DELAY, RENDERING_FAILURE, SUBSCRIPTION or AUTO_RESPONSE"

// parseEventType accepts SES's EventType names (BOUNCE, DELIVERY_DELAY,
// RENDERING_FAILURE) and eventType values (Bounce, DeliveryDelay,
// "Rendering Failure"), in any case (parseKind).
func parseEventType(s string) (event.Kind, error) {
	k, err := parseKind(s)
	if err != nil {
		return "", fmt.Errorf("--event-type: %q is not %s", s, sampleTypes)
	}
	return k, nil
}

// parseKind is event.ParseKind ignoring '_' and ' ': an event type as SES's
// API spells it (RENDERING_FAILURE) or as its JSON does ("Rendering
// Failure", RenderingFailure).
func parseKind(s string) (event.Kind, error) {
	squash := func(s string) string { return strings.NewReplacer("_", "", " ", "").Replace(s) }
	for _, k := range event.Kinds {
		if strings.EqualFold(squash(string(k)), squash(s)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown event type %q", s)
}

// sampleEvent builds a test event of kind k for a message that account
// sent (it was not) from identity from with configuration set set, to the
// mailbox simulator's success address; it carries its own mail object.
func sampleEvent(k event.Kind, account, accountID, region, set, from string, now time.Time) (event.Event, error) {
	identity := from
	if identity == "" {
		identity = "example.com"
	}
	source := identity
	if !strings.Contains(source, "@") {
		source = "notifications-test@" + identity
	}
	domain := source[strings.LastIndex(source, "@")+1:]
	rcpt := "success@simulator.amazonses.com"
	id := event.NewID(now)
	ts := event.Timestamp(now)
	tags := map[string][]string{"ses:operation": {"SendEmail"}, "ses:from-domain": {domain}, "ses:caller-identity": {"petrel-notifications-test"}}
	if set != "" {
		tags["ses:configuration-set"] = []string{set}
	}
	subject := "Petrel test notification"
	mail := event.Mail{
		Timestamp: ts, MessageID: id, Source: source,
		SourceArn:        fmt.Sprintf("arn:aws:ses:%s:%s:identity/%s", region, accountID, identity),
		SendingAccountID: accountID, Destination: []string{rcpt},
		Headers: []message.Header{{Name: "From", Value: source}, {Name: "To", Value: rcpt}, {Name: "Subject", Value: subject},
			{Name: "Message-ID", Value: "<" + id + "@petrel.test>"}},
		CommonHeaders: message.CommonHeaders{From: []string{source}, To: []string{rcpt}, Subject: subject,
			MessageID: "<" + id + "@petrel.test>", Date: now.UTC().Format(time.RFC1123Z)},
		Tags: tags,
	}
	var d event.Detail
	recipient := rcpt
	switch k {
	case event.Send:
		d = event.SendDetail{}
	case event.Reject:
		d = event.RejectDetail{Reason: "Bad content"}
	case event.Delivery:
		d = event.DeliveryDetail{Timestamp: ts, ProcessingTimeMillis: 512, Recipients: []string{rcpt},
			SMTPResponse: "250 2.0.0 OK (test notification)", ReportingMTA: "petrel.test"}
	case event.Bounce:
		d = event.BounceDetail{BounceType: "Permanent", BounceSubType: "General", Timestamp: ts, FeedbackID: event.NewID(now), ReportingMTA: "dns; petrel.test",
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: rcpt, Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 user unknown (test notification)"}}}
	case event.Complaint:
		d = event.ComplaintDetail{ComplainedRecipients: []event.Recipient{{EmailAddress: rcpt}}, Timestamp: ts, FeedbackID: event.NewID(now), ComplaintFeedbackType: "abuse", UserAgent: "Petrel notifications test", ArrivalDate: ts}
	case event.DeliveryDelay:
		d = event.DeliveryDelayDetail{Timestamp: ts, DelayType: "MailboxFull", ExpirationTime: event.Timestamp(now.Add(14 * time.Hour)), ReportingMTA: "petrel.test",
			DelayedRecipients: []event.DelayedRecipient{{EmailAddress: rcpt, Status: "4.2.2", DiagnosticCode: "smtp; 452 4.2.2 mailbox full (test notification)"}}}
	case event.AutoResponse:
		d = event.AutoResponseDetail{Timestamp: ts, FeedbackID: event.NewID(now), Recipient: event.Recipient{EmailAddress: rcpt},
			AutoResponseType: "vacation", Subject: "Out of office", From: rcpt}
	case event.RenderingFailure:
		// For the whole message, which was never rendered: no header fields.
		d = event.RenderingFailureDetail{TemplateName: "MyTemplate", ErrorMessage: "Attribute 'name' is not present in the rendering data."}
		mail.Headers, mail.CommonHeaders, recipient = nil, message.CommonHeaders{}, ""
	case event.Subscription:
		d = event.SubscriptionDetail{ContactList: "petrel-test-list", Timestamp: ts, Source: "UnsubscribeHeader",
			NewTopicPreferences: event.TopicPreferences{UnsubscribeAll: true,
				TopicSubscriptionStatus: []event.TopicSubscriptionStatus{{TopicName: "news", SubscriptionStatus: "OptOut"}}},
			OldTopicPreferences: event.TopicPreferences{UnsubscribeAll: false,
				TopicSubscriptionStatus: []event.TopicSubscriptionStatus{{TopicName: "news", SubscriptionStatus: "OptIn"}}}}
	default:
		return event.Event{}, fmt.Errorf("no sample for event type %s", k)
	}
	detail, err := event.Encode(d)
	if err != nil {
		return event.Event{}, err
	}
	mailJSON, err := event.Encode(mail)
	if err != nil {
		return event.Event{}, err
	}
	return event.Event{Kind: k, MessageID: id, Account: account, Recipient: recipient, Time: now, Detail: detail, Mail: json.RawMessage(mailJSON)}, nil
}
