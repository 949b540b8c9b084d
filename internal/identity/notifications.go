package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
)

// NotificationAttributes are an identity's feedback notification settings
// (SES: IdentityNotificationAttributes, ../shared/spec/ses.md §4.1): the
// SNS topics its Bounce, Complaint and Delivery notifications go to ("" =
// none), whether each includes the original headers, and whether bounces
// and complaints are also emailed to the sender (on by default, as SES).
type NotificationAttributes struct {
	BounceTopic, ComplaintTopic, DeliveryTopic             string
	HeadersInBounce, HeadersInComplaint, HeadersInDelivery bool
	ForwardingEnabled                                      bool
}

// Notification types (SES: NotificationType).
const (
	Bounce    = "Bounce"
	Complaint = "Complaint"
	Delivery  = "Delivery"
)

// ErrInvalidSetting reports a notification setting SES would refuse; the
// error's message says why (SES v1: InvalidParameterValue, v2:
// BadRequestException).
var ErrInvalidSetting = errors.New("invalid identity notification setting")

type settingError struct{ msg string }

func (e *settingError) Error() string        { return e.msg }
func (e *settingError) Is(target error) bool { return target == ErrInvalidSetting }

// ErrForwardingNeedsTopics is SES v1's refusal to disable feedback
// forwarding of an identity without both a Bounce and a Complaint topic
// (SetIdentityFeedbackForwardingEnabled); it wraps ErrInvalidSetting.
var ErrForwardingNeedsTopics error = &settingError{"Feedback forwarding can only be disabled when Amazon SNS topics are specified for both bounces and complaints"}

// notificationsTTL bounds how old a cached answer of NotificationAttributes,
// DefaultConfigurationSet and HasNotificationTopics may
// be: changes made through this Service apply at once, others' within it.
const notificationsTTL = 5 * time.Second

// identitySettings is what the notification and send paths read of one
// identity.
type identitySettings struct {
	attrs     NotificationAttributes
	configSet string
}

// accountSettings is the cached settings of an account's identities: one
// query loads them all.
type accountSettings struct {
	byName     map[string]identitySettings
	hasTopics  bool
	hasDefault bool // some identity has a default configuration set
	loaded     time.Time
	cached     bool // this answer came from the cache
}

// forgetSettings drops only account's cached notification settings (a
// read that must see the store), keeping the verified set and the DKIM
// signers the send path reads: forget is for changes.
func (s *Service) forgetSettings(account string) {
	s.mu.Lock()
	delete(s.notif, account)
	s.changes++
	s.mu.Unlock()
}

// settings returns account's identities' settings, from the cache while
// it is at most notificationsTTL old.
func (s *Service) settings(ctx context.Context, account string) (accountSettings, error) {
	s.mu.Lock()
	v, ok := s.notif[account]
	changes := s.changes
	s.mu.Unlock()
	if ok && time.Since(v.loaded) < notificationsTTL {
		v.cached = true
		return v, nil
	}
	loaded := time.Now()
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT name, bounce_topic, complaint_topic, delivery_topic, headers_bounce,
		headers_complaint, headers_delivery, forwarding, configuration_set FROM identities WHERE account = ?`), account)
	if err != nil {
		return accountSettings{}, err
	}
	defer rows.Close()
	v = accountSettings{byName: map[string]identitySettings{}, loaded: loaded}
	for rows.Next() {
		var (
			name       string
			st         identitySettings
			hb, hc, hd int
			fwd        int
		)
		if err := rows.Scan(&name, &st.attrs.BounceTopic, &st.attrs.ComplaintTopic, &st.attrs.DeliveryTopic, &hb, &hc, &hd, &fwd, &st.configSet); err != nil {
			return accountSettings{}, err
		}
		st.attrs.HeadersInBounce, st.attrs.HeadersInComplaint, st.attrs.HeadersInDelivery = hb != 0, hc != 0, hd != 0
		st.attrs.ForwardingEnabled = fwd != 0
		if st.attrs.BounceTopic != "" || st.attrs.ComplaintTopic != "" || st.attrs.DeliveryTopic != "" {
			v.hasTopics = true
		}
		if st.configSet != "" {
			v.hasDefault = true
		}
		v.byName[name] = st
	}
	if err := rows.Err(); err != nil {
		return accountSettings{}, err
	}
	s.mu.Lock()
	if s.changes == changes {
		if s.notif == nil {
			s.notif = map[string]accountSettings{}
		}
		s.notif[account] = v
	}
	s.mu.Unlock()
	return v, nil
}

// lookup returns the cached settings of account's identity name
// (normalised first). Errors: ErrNotFound.
func (s *Service) lookup(ctx context.Context, account, name string) (string, identitySettings, error) {
	n, _, err := Normalize(name)
	if err != nil {
		return name, identitySettings{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	v, err := s.settings(ctx, account)
	if err != nil {
		return n, identitySettings{}, err
	}
	st, ok := v.byName[n]
	if !ok && v.cached {
		// Perhaps created since the cache was loaded (on another node):
		// look again before saying it does not exist.
		s.forgetSettings(account)
		if v, err = s.settings(ctx, account); err != nil {
			return n, identitySettings{}, err
		}
		st, ok = v.byName[n]
	}
	if !ok {
		return n, identitySettings{}, fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return n, st, nil
}

// Settings returns the notification settings and default configuration
// set of account's identity name as the store has them now (not cached),
// for answers to the API and the CLI. Errors: ErrNotFound.
func (s *Service) Settings(ctx context.Context, account, name string) (NotificationAttributes, string, error) {
	_, st, err := s.lookupFresh(ctx, account, name)
	return st.attrs, st.configSet, err
}

// NotificationSettingsOf returns the notification settings of those of
// names that are identities of account, keyed by the name as given (SES
// v1: GetIdentityNotificationAttributes), as the store has them now: one
// read of the account's settings, whatever the number of names. Names
// that are no identity of account are left out.
func (s *Service) NotificationSettingsOf(ctx context.Context, account string, names []string) (map[string]NotificationAttributes, error) {
	s.forgetSettings(account)
	v, err := s.settings(ctx, account)
	if err != nil {
		return nil, err
	}
	out := map[string]NotificationAttributes{}
	for _, name := range names {
		n, _, err := Normalize(name)
		if err != nil {
			continue
		}
		if st, ok := v.byName[n]; ok {
			out[name] = st.attrs
		}
	}
	return out, nil
}

// NotificationAttributes returns the notification settings of account's
// identity name (cached, at most notificationsTTL old); an identity never
// changed has no topics, no headers and ForwardingEnabled. Errors:
// ErrNotFound.
func (s *Service) NotificationAttributes(ctx context.Context, account, name string) (NotificationAttributes, error) {
	_, st, err := s.lookup(ctx, account, name)
	return st.attrs, err
}

// HasNotificationTopics reports whether any identity of account has a
// notification topic (cached): the notification outbox skips Delivery
// events of accounts without one. When the store cannot answer it says
// true, so that no notification is lost.
func (s *Service) HasNotificationTopics(ctx context.Context, account string) bool {
	v, err := s.settings(ctx, account)
	return err != nil || v.hasTopics
}

// DefaultConfigurationSet returns the default configuration set of the
// identities of account that cover a, the most specific first: the
// address identity's, else its domain's, else a parent domain's (SES: an
// address identity's default set wins over its domain's). Only verified
// identities count, as only they authorise a message. "" when none has
// one. It reads the cached settings (a map lookup per candidate; no store
// access while the cache is fresh).
func (s *Service) DefaultConfigurationSet(ctx context.Context, account string, a address.Address) (string, error) {
	v, err := s.settings(ctx, account)
	if err != nil || !v.hasDefault {
		return "", err
	}
	verified, err := s.verifiedSet(ctx, account)
	if err != nil {
		return "", err
	}
	for n := range covering(a) {
		if set := v.byName[n].configSet; verified[n] && set != "" {
			return set, nil
		}
	}
	return "", nil
}

// update sets columns (written "a = ?, b = ?") of account's identity name.
// Errors: ErrNotFound.
func (s *Service) updateIdentity(ctx context.Context, account, name, set string, args ...any) error {
	n, _, err := Normalize(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	args = append(args, account, n)
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE identities SET "+set+" WHERE account = ? AND name = ?"), args...)
	s.forget(account)
	if err != nil {
		return err
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return nil
}

// notificationColumn is the column prefix of a notification type, or "".
func notificationColumn(notificationType string) string {
	switch notificationType {
	case Bounce:
		return "bounce"
	case Complaint:
		return "complaint"
	case Delivery:
		return "delivery"
	}
	return ""
}

// ValidateTopicArn checks an SNS topic ARN's form:
// arn:PARTITION:sns:REGION:ACCOUNT:NAME of printable ASCII, at most 2048
// bytes. Errors wrap ErrInvalidSetting.
func ValidateTopicArn(arn string) error {
	p := strings.Split(arn, ":")
	ok := len(p) == 6 && p[0] == "arn" && p[1] != "" && p[2] == "sns" && p[5] != "" && len(arn) <= 2048
	for i := 0; ok && i < len(arn); i++ {
		ok = arn[i] > ' ' && arn[i] < 0x7f
	}
	if !ok {
		return &settingError{fmt.Sprintf("%q is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)", arn)}
	}
	return nil
}

// SetNotificationTopic sets the topic account's identity name publishes
// its notifications of notificationType (Bounce, Complaint or Delivery)
// to; "" clears it (SES v1: SetIdentityNotificationTopic). Whether the
// topic exists is the caller's question (it belongs to package sns). A
// cleared Bounce or Complaint topic turns feedback forwarding back on, as
// SES does, so that the identity keeps a way of hearing of them. Errors:
// ErrInvalidSetting, ErrNotFound.
func (s *Service) SetNotificationTopic(ctx context.Context, account, name, notificationType, topicArn string) error {
	col := notificationColumn(notificationType)
	if col == "" {
		return &settingError{fmt.Sprintf("NotificationType %q is not one of Bounce, Complaint, Delivery", notificationType)}
	}
	if topicArn != "" {
		if err := ValidateTopicArn(topicArn); err != nil {
			return err
		}
	}
	set := col + "_topic = ?"
	if topicArn == "" && notificationType != Delivery {
		set += ", forwarding = 1"
	}
	return s.updateIdentity(ctx, account, name, set, topicArn)
}

// SetHeadersInNotifications turns on or off the original headers in the
// identity's notifications of notificationType (SES v1:
// SetIdentityHeadersInNotificationsEnabled). Errors: ErrInvalidSetting,
// ErrNotFound.
func (s *Service) SetHeadersInNotifications(ctx context.Context, account, name, notificationType string, on bool) error {
	col := notificationColumn(notificationType)
	if col == "" {
		return &settingError{fmt.Sprintf("NotificationType %q is not one of Bounce, Complaint, Delivery", notificationType)}
	}
	return s.updateIdentity(ctx, account, name, "headers_"+col+" = ?", boolInt(on))
}

// SetFeedbackForwarding turns emailing bounces and complaints to the sender
// on or off with SES v1's rule (SetIdentityFeedbackForwardingEnabled): it
// can be turned off only while the identity has both a Bounce and a
// Complaint topic (ErrForwardingNeedsTopics). Errors: ErrNotFound.
func (s *Service) SetFeedbackForwarding(ctx context.Context, account, name string, on bool) error {
	if !on {
		_, st, err := s.lookupFresh(ctx, account, name)
		if err != nil {
			return err
		}
		if st.attrs.BounceTopic == "" || st.attrs.ComplaintTopic == "" {
			return ErrForwardingNeedsTopics
		}
	}
	return s.updateIdentity(ctx, account, name, "forwarding = ?", boolInt(on))
}

// PutFeedbackForwarding turns feedback forwarding on or off with SES v2's
// rule (PutEmailIdentityFeedbackAttributes): always accepted; an identity
// whose bounces or complaints reach no topic and no event destination
// still has them emailed to the sender (§4.1), which the notification
// router decides per event. Errors: ErrNotFound.
func (s *Service) PutFeedbackForwarding(ctx context.Context, account, name string, on bool) error {
	return s.updateIdentity(ctx, account, name, "forwarding = ?", boolInt(on))
}

// SetConfigurationSet sets the default configuration set of account's
// identity name, "" for none (SES: PutEmailIdentityConfigurationSetAttributes).
// Whether the set exists is the caller's question (package configset).
// Errors: ErrNotFound.
func (s *Service) SetConfigurationSet(ctx context.Context, account, name, set string) error {
	return s.updateIdentity(ctx, account, name, "configuration_set = ?", set)
}

// lookupFresh is lookup after dropping the account's cached settings, for
// a decision that must see the store's current state.
func (s *Service) lookupFresh(ctx context.Context, account, name string) (string, identitySettings, error) {
	s.forgetSettings(account)
	return s.lookup(ctx, account, name)
}
