package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sns"
)

// optString is a string flag that remembers whether it was given, so that
// an empty value can mean "clear" and an absent one "leave as it is".
type optString struct {
	set bool
	v   string
}

func (o *optString) String() string { return o.v }
func (o *optString) Set(s string) error {
	o.set, o.v = true, s
	return nil
}

// identityNotificationsCmd is `petrel identity notifications NAME --account
// A [--bounce-topic ARN] [--complaint-topic ARN] [--delivery-topic ARN]
// [--headers-in bounce,complaint,delivery|none] [--forwarding on|off]`:
// it changes the settings given (a topic of "none" clears it; an empty
// value — an unset shell variable — is refused, never taken as none), then
// prints the identity's notification settings (docs/notifications-identity.md).
// Forwarding follows SES v2's rule: it may be turned off whatever the
// topics; bounces and complaints that reach no topic and no event
// destination are emailed all the same.
func identityNotificationsCmd(ctx context.Context, args []string, out io.Writer) error {
	var (
		acct                             string
		bounce, complaint, delivery, hdr optString
		fwd                              optString
	)
	svc, pos, err := adminOpen(ctx, "identity notifications", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.Var(&bounce, "bounce-topic", "SNS topic ARN for Bounce notifications (\"none\" clears)")
		fs.Var(&complaint, "complaint-topic", "SNS topic ARN for Complaint notifications (\"none\" clears)")
		fs.Var(&delivery, "delivery-topic", "SNS topic ARN for Delivery notifications (\"none\" clears)")
		fs.Var(&hdr, "headers-in", "notification types that include the original headers: bounce,complaint,delivery or none")
		fs.Var(&fwd, "forwarding", "email bounces and complaints to the sender: on or off")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if len(pos) != 1 {
		return errors.New("usage: petrel identity notifications NAME --account A [--bounce-topic ARN] [--complaint-topic ARN] [--delivery-topic ARN] [--headers-in bounce,complaint,delivery|none] [--forwarding on|off]")
	}
	name := pos[0]
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return err
	}
	// Check every value before changing anything. An explicitly empty
	// value is refused: it is most likely an unset shell variable, and
	// must not silently clear a setting.
	for _, o := range []struct {
		flag string
		o    optString
	}{{"bounce-topic", bounce}, {"complaint-topic", complaint}, {"delivery-topic", delivery}, {"headers-in", hdr}, {"forwarding", fwd}} {
		if o.o.set && strings.TrimSpace(o.o.v) == "" {
			hint := "use none to clear"
			if o.flag == "forwarding" {
				hint = "give on or off"
			}
			return fmt.Errorf("--%s: empty value refused (%s)", o.flag, hint)
		}
	}
	headers := map[string]bool{}
	if hdr.set {
		on, err := parseHeadersIn(hdr.v)
		if err != nil {
			return err
		}
		headers = on
	}
	forwarding := false
	if fwd.set {
		switch strings.ToLower(fwd.v) {
		case "on", "true", "yes":
			forwarding = true
		case "off", "false", "no":
		default:
			return fmt.Errorf("--forwarding %q: give on or off", fwd.v)
		}
	}
	topics := []struct {
		kind string
		o    optString
	}{{identity.Bounce, bounce}, {identity.Complaint, complaint}, {identity.Delivery, delivery}}
	for _, tp := range topics {
		if tp.o.set && !clears(tp.o.v) {
			if err := identity.ValidateTopicArn(tp.o.v); err != nil {
				return fmt.Errorf("--%s-topic: %w", strings.ToLower(tp.kind), err)
			}
		}
	}
	// The topics must be the account's own (SES v1 refuses a topic that
	// does not exist, or that the caller does not own).
	for _, tp := range topics {
		if tp.o.set && !clears(tp.o.v) {
			err := sns.TopicExistsIn(ctx, svc.DB, acct, tp.o.v)
			if errors.Is(err, sns.ErrTopicNotFound) {
				return fmt.Errorf("--%s-topic %s: account %s has no such SNS topic (create it with the SNS API's CreateTopic, on Petrel's HTTP port; another account's topic cannot be used)",
					strings.ToLower(tp.kind), tp.o.v, acct)
			}
			if err != nil {
				return err
			}
		}
	}
	if _, err := svc.Identities.Get(ctx, acct, name); err != nil {
		return err
	}
	for _, tp := range topics {
		if !tp.o.set {
			continue
		}
		arn := tp.o.v
		if clears(arn) {
			arn = ""
		}
		if err := svc.Identities.SetNotificationTopic(ctx, acct, name, tp.kind, arn); err != nil {
			return err
		}
	}
	if hdr.set {
		for _, kind := range []string{identity.Bounce, identity.Complaint, identity.Delivery} {
			if err := svc.Identities.SetHeadersInNotifications(ctx, acct, name, kind, headers[kind]); err != nil {
				return err
			}
		}
	}
	if fwd.set {
		if err := svc.Identities.PutFeedbackForwarding(ctx, acct, name, forwarding); err != nil {
			return err
		}
	}
	return printNotificationSettings(ctx, svc, acct, name, out)
}

// clears reports whether v is "none" (any case): the value that clears a
// topic or turns headers off. "" is not: callers refuse it first.
func clears(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "none") }

// parseHeadersIn reads --headers-in: a comma-separated list of bounce,
// complaint and delivery (any case), or none.
func parseHeadersIn(v string) (map[string]bool, error) {
	on := map[string]bool{}
	if clears(strings.TrimSpace(v)) {
		return on, nil
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bounce":
			on[identity.Bounce] = true
		case "complaint":
			on[identity.Complaint] = true
		case "delivery":
			on[identity.Delivery] = true
		default:
			return nil, fmt.Errorf("--headers-in: %q is not one of bounce, complaint, delivery (or none)", p)
		}
	}
	return on, nil
}

func printNotificationSettings(ctx context.Context, svc *daemon.Services, acct, name string, out io.Writer) error {
	a, set, err := svc.Identities.Settings(ctx, acct, name)
	if err != nil {
		return err
	}
	or := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	var hdrs []string
	for _, h := range []struct {
		on   bool
		name string
	}{{a.HeadersInBounce, "bounce"}, {a.HeadersInComplaint, "complaint"}, {a.HeadersInDelivery, "delivery"}} {
		if h.on {
			hdrs = append(hdrs, h.name)
		}
	}
	onOff := "off"
	if a.ForwardingEnabled {
		onOff = "on"
	}
	id, _, _ := identity.Normalize(name)
	fmt.Fprintf(out, "identity %s (account %s)\n", id, acct)
	fmt.Fprintf(out, "  bounce topic:        %s\n", or(a.BounceTopic))
	fmt.Fprintf(out, "  complaint topic:     %s\n", or(a.ComplaintTopic))
	fmt.Fprintf(out, "  delivery topic:      %s\n", or(a.DeliveryTopic))
	fmt.Fprintf(out, "  headers in:          %s\n", or(strings.Join(hdrs, ",")))
	fmt.Fprintf(out, "  feedback forwarding: %s\n", onOff)
	fmt.Fprintf(out, "  configuration set:   %s\n", or(set))
	if !a.ForwardingEnabled && (a.BounceTopic == "" || a.ComplaintTopic == "") {
		fmt.Fprintln(out, "  note: bounces and complaints that reach no topic and no event destination are still emailed to the sender (SES's rule)")
	}
	return nil
}

// identityConfigSetCmd is `petrel identity configuration-set NAME --account
// A [SET|--clear]`: it sets (or clears) the identity's default
// configuration set (SES: PutEmailIdentityConfigurationSetAttributes), a
// set the account has, and prints the identity's settings.
func identityConfigSetCmd(ctx context.Context, args []string, out io.Writer) error {
	var acct string
	var clear bool
	svc, pos, err := adminOpen(ctx, "identity configuration-set", args, func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.BoolVar(&clear, "clear", false, "remove the identity's default configuration set")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if len(pos) < 1 || len(pos) > 2 || clear && len(pos) == 2 {
		return errors.New("usage: petrel identity configuration-set NAME --account A [SET|--clear]")
	}
	name := pos[0]
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return err
	}
	if _, err := svc.Identities.Get(ctx, acct, name); err != nil {
		return err
	}
	switch {
	case clear:
		if err := svc.Identities.SetConfigurationSet(ctx, acct, name, ""); err != nil {
			return err
		}
	case len(pos) == 2:
		set := pos[1]
		if err := configset.ValidateName(set); err != nil {
			return err
		}
		if _, err := svc.ConfigSets.Get(ctx, acct, set); err != nil {
			return fmt.Errorf("configuration set %s of account %s: %w", set, acct, err)
		}
		if err := svc.Identities.SetConfigurationSet(ctx, acct, name, set); err != nil {
			return err
		}
	}
	return printNotificationSettings(ctx, svc, acct, name, out)
}
