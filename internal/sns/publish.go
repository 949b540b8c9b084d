package sns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/notify"
)

// PublishJobs returns the jobs that deliver message (with subject, "" for
// none) published to account's topic topicArn: one per confirmed
// subscription whose filter policy matches attrs (message attributes of
// type String, e.g. {"eventType": "Bounce"}; they select subscriptions but
// are not added to the envelope, as SES's own notifications carry none).
// http/https subscriptions get an SNSHTTP job (the signed JSON envelope, or
// the bare message with RawMessageDelivery), email an Email job with the
// message and an unsubscribe link, email-json an Email job with the
// envelope. All jobs of one publication share the envelope's MessageId;
// each Job.ID is its own. ErrTopicNotFound when account has no such topic.
func (s *Service) PublishJobs(ctx context.Context, acct, topicArn, subject, message string, attrs map[string]string) ([]notify.Job, error) {
	typed := make(map[string]MessageAttribute, len(attrs))
	for k, v := range attrs {
		typed[k] = MessageAttribute{Type: "String", Value: v}
	}
	t, err := s.topic(ctx, acct, topicArn)
	if err != nil {
		return nil, err
	}
	return s.publishJobs(ctx, t, newUUID(), subject, message, nil, typed, false)
}

// publishJobs builds the jobs of one publication. perProtocol, when not
// nil, is MessageStructure=json's message per protocol ("default" for the
// others). withAttrs adds the attributes to the envelope (the Publish
// action, as SNS does).
func (s *Service) publishJobs(ctx context.Context, t Topic, msgID, subject, message string, perProtocol map[string]string,
	attrs map[string]MessageAttribute, withAttrs bool) ([]notify.Job, error) {
	subs, err := s.querySubs(ctx, "topic_arn = ? AND confirmed = 1 ORDER BY arn", t.Arn)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var jobs []notify.Job
	signed := map[string]Envelope{} // by protocol message + signature version
	for _, u := range subs {
		msg := message
		if perProtocol != nil {
			if m, ok := perProtocol[u.Protocol]; ok {
				msg = m
			} else {
				msg = perProtocol["default"]
			}
		}
		if !filterMatches(u.Attrs, msg, attrs) {
			continue
		}
		sv := t.Attrs["SignatureVersion"]
		key := sv + "\x00" + msg
		env, ok := signed[key]
		if !ok {
			env = Envelope{Type: TypeNotification, MessageID: msgID, TopicArn: t.Arn, Subject: subject, Message: msg, Timestamp: timestamp(now)}
			if withAttrs && len(attrs) > 0 {
				env.MessageAttributes = attrs
			}
			if err := s.sign(&env, sv); err != nil {
				return nil, err
			}
			signed[key] = env
		}
		env.UnsubscribeURL = s.unsubscribeURL(u.Arn)
		job, err := s.notificationJob(t, u, env, now)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

func (s *Service) unsubscribeURL(subArn string) string {
	return s.cfg.PublicURL + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(subArn)
}

func (s *Service) subscribeURL(topicArn, token string) string {
	return s.cfg.PublicURL + "/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topicArn) + "&Token=" + token
}

func marshalEnvelope(env Envelope) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(env)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// httpHeaders are the headers SNS sends with each POST (spec §4.8).
func httpHeaders(typ, msgID, topicArn, subArn string) map[string]string {
	h := map[string]string{
		"x-amz-sns-message-type": typ,
		"x-amz-sns-message-id":   msgID,
		"x-amz-sns-topic-arn":    topicArn,
		"Content-Type":           "text/plain; charset=UTF-8",
		"User-Agent":             "Amazon Simple Notification Service Agent",
	}
	if subArn != "" {
		h["x-amz-sns-subscription-arn"] = subArn
	}
	return h
}

// notificationJob is the job delivering a signed Notification envelope
// to subscription u.
func (s *Service) notificationJob(t Topic, u Subscription, env Envelope, now time.Time) (notify.Job, error) {
	job := notify.Job{ID: newUUID(), Account: u.Account, Target: "sns:" + u.Arn, Kind: TypeNotification}
	switch u.Protocol {
	case "http", "https":
		job.Channel = notify.SNSHTTP
		job.URL = u.Endpoint
		job.Headers = httpHeaders(TypeNotification, env.MessageID, t.Arn, u.Arn)
		if u.Attrs["RawMessageDelivery"] == "true" {
			job.Headers["x-amz-sns-rawdelivery"] = "true"
			job.Body = []byte(env.Message)
		} else {
			job.Body = marshalEnvelope(env)
		}
	case "email", "email-json":
		job.Channel = notify.Email
		job.Rcpt = u.Endpoint
		subject := env.Subject
		if subject == "" {
			subject = displayName(t) + " Notification Message"
		}
		var body string
		if u.Protocol == "email-json" {
			body = string(marshalEnvelope(env))
		} else {
			body = env.Message + "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n" +
				env.UnsubscribeURL + "\n\nPlease do not reply directly to this email.\n"
		}
		msg, err := s.emailMessage(t, u.Endpoint, subject, body, now)
		if err != nil {
			return job, err
		}
		job.Body = msg
	default:
		return job, fmt.Errorf("subscription %s: unknown protocol %q", u.Arn, u.Protocol)
	}
	return job, nil
}

// confirmationJob is the SubscriptionConfirmation message to subscription
// u: its Token and SubscribeURL, signed like notifications. (SNS also sends
// an UnsubscribeConfirmation after an unsubscribe; Petrel does not.)
func (s *Service) confirmationJob(t Topic, u Subscription) (notify.Job, error) {
	now := s.cfg.Now()
	env := Envelope{Type: TypeSubscriptionConfirmation, MessageID: newUUID(), Token: u.Token, TopicArn: t.Arn, Timestamp: timestamp(now),
		SubscribeURL: s.subscribeURL(t.Arn, u.Token),
		Message:      "You have chosen to subscribe to the topic " + t.Arn + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."}
	if err := s.sign(&env, t.Attrs["SignatureVersion"]); err != nil {
		return notify.Job{}, err
	}
	job := notify.Job{ID: newUUID(), Account: u.Account, Target: "sns:" + u.Arn, Kind: TypeSubscriptionConfirmation}
	switch u.Protocol {
	case "http", "https":
		job.Channel = notify.SNSHTTP
		job.URL = u.Endpoint
		job.Headers = httpHeaders(TypeSubscriptionConfirmation, env.MessageID, t.Arn, "")
		job.Body = marshalEnvelope(env)
	case "email", "email-json":
		job.Channel = notify.Email
		job.Rcpt = u.Endpoint
		body := "You have chosen to subscribe to the topic:\n" + t.Arn + "\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary):\n" +
			env.SubscribeURL + "\n\nPlease do not reply directly to this email.\n"
		if u.Protocol == "email-json" {
			body = string(marshalEnvelope(env))
		}
		msg, err := s.emailMessage(t, u.Endpoint, displayName(t)+" - Subscription Confirmation", body, now)
		if err != nil {
			return job, err
		}
		job.Body = msg
	default:
		return job, fmt.Errorf("subscription %s: unknown protocol %q", u.Arn, u.Protocol)
	}
	return job, nil
}

func displayName(t Topic) string {
	if d := t.Attrs["DisplayName"]; d != "" {
		return d
	}
	return "Petrel"
}

// fromHeader is the value of a From: header (given to message.BuildSimple,
// which parses it and writes it folded) naming address with the
// display name name as an RFC 5322 phrase, so that whatever the name holds
// (commas, angle brackets, quotes, "=") it stays one display name and the
// header one mailbox: printable ASCII as net/mail writes it (an atom, or a
// quoted-string with \" and \\ escaped); anything else as RFC 2047 "B"
// encoded-words, whose base64 text has none of the characters a phrase's
// encoded-word must not contain (RFC 2047 §5(3); Go's "Q" encoder leaves a
// '"' raw). Control characters are dropped (DisplayName refuses them; this
// is defence in depth for rows stored before it did).
func fromHeader(name, address string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if printableASCII(name) {
		return (&mail.Address{Name: name, Address: address}).String()
	}
	return mime.BEncoding.Encode("utf-8", name) + " <" + address + ">"
}

// emailMessage is an RFC 5322 text/plain message (UTF-8,
// quoted-printable) from "<DisplayName> <no-reply@Hostname>" to rcpt,
// composed by message.BuildSimple so that every header field is folded
// (RFC 5322 §2.2.3: lines within 78 characters where the value allows,
// never past 998) and non-ASCII Subject and display name are RFC 2047
// encoded-words of whole characters: a 100-character CJK or emoji
// DisplayName still gives a message sending.Sender.SendSystemMail
// accepts. Email jobs have the null reverse-path (MailFrom ""): nothing
// bounces back to Petrel's own notifications. The error reports a
// Hostname that makes the From address invalid.
func (s *Service) emailMessage(t Topic, rcpt, subject, body string, now time.Time) ([]byte, error) {
	host := s.cfg.Hostname
	if host == "" {
		host = "localhost"
	}
	msg, err := message.BuildSimple(message.Simple{
		From:    fromHeader(displayName(t), "no-reply@"+host),
		Subject: subject,
		Text:    body,
		// To is written as given (the subscription's endpoint, an address
		// checked at Subscribe), not re-parsed by net/mail.
		Headers: [][2]string{{"To", rcpt}, {"Date", now.UTC().Format(time.RFC1123Z)}, {"Message-ID", "<" + newUUID() + "@" + host + ">"}},
	})
	if err != nil {
		return nil, fmt.Errorf("email to %s: %w", rcpt, err)
	}
	return msg, nil
}
