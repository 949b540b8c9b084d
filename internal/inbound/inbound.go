// Package inbound is the SMTP receiver for Petrel's return path: the MX of
// the VERP return-path domain, where asynchronous bounces, complaint reports
// and auto-replies arrive.
//
// The steps for each message:
//
//  1. RCPT: accept only valid VERP addresses (the MAC must verify) and the
//     configured feedback mailboxes (postmaster, abuse, fbl) at the return
//     domain. Anything else is refused, so Petrel is neither an open relay
//     nor a backscatter source.
//  2. DATA: bounce.Parse says what the message is (DSN, ARF, SES
//     notification, auto-reply, an MTA's prose bounce) and the bounce rules
//     in force classify each failed recipient.
//  3. Attribution: the VERP address names the message and recipient; where
//     there is none (feedback loops, forwarded reports), the original
//     message's Message-ID in the report does.
//  4. In one transaction, before the 250: the message is stored with what
//     was made of it, and each outcome becomes the SES event on the original
//     message — Bounce, DeliveryDelay, Complaint, or Petrel's AutoResponse —
//     with the same JSON as synchronous outcomes. Mail that cannot be tied
//     to a message is kept as unattributed and counted, never dropped.
package inbound

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/smtpreply"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
)

// States of a stored inbound message.
const (
	StateAttributed   = "attributed"   // tied to a message Petrel sent; events recorded
	StateUnattributed = "unattributed" // a report Petrel could not tie to a message it sent
	StateIgnored      = "ignored"      // not a report (or a success DSN): nothing to record
	StateDuplicate    = "duplicate"    // the same bytes arrived before; events were recorded then
)

// Backend implements go-smtp's Backend for the return path.
type Backend struct {
	DB         *store.DB
	Batch      *store.Batcher
	Spool      *spool.Spool
	Events     *event.Log
	Rules      *bounce.Classifier
	Domain     string   // the return-path domain
	Mailboxes  []string // local parts accepted besides VERP addresses
	VERPSecret []byte
	Log        *slog.Logger
}

var _ smtp.Backend = (*Backend)(nil)

// NewServer returns the inbound SMTP server.
func NewServer(be *Backend, hostname string) *smtp.Server {
	s := smtp.NewServer(be)
	s.Domain = hostname
	s.MaxMessageBytes = 10 << 20
	s.MaxRecipients = 10
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = 5 * time.Minute
	return s
}

// NewSession starts a session.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

// Rcpt is an accepted recipient: a VERP address names the message and the
// index of the recipient; a feedback mailbox names neither.
type Rcpt struct{ Addr, MessageID, Index string }

type session struct {
	b     *Backend
	from  string
	rcpts []Rcpt
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, domain, _ := strings.Cut(to, "@")
	if !strings.EqualFold(domain, s.b.Domain) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
	}
	if id, idx, err := bounce.ParseReturnPath(to, s.b.VERPSecret); err == nil {
		s.rcpts = append(s.rcpts, Rcpt{Addr: to, MessageID: id, Index: idx})
		return nil
	}
	for _, m := range s.b.Mailboxes {
		if strings.EqualFold(local, m) {
			s.rcpts = append(s.rcpts, Rcpt{Addr: to})
			return nil
		}
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
}

func (s *session) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	if err != nil {
		return err
	}
	if _, err := s.b.Receive(context.Background(), s.from, s.rcpts, body); err != nil {
		s.b.Log.Error("storing inbound message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
	}
	return nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

// Result is what Receive made of one message.
type Result struct {
	Report    *bounce.Report
	State     string
	MessageID string // the original message, when attributed
	Account   string
	Events    []Outcome
}

// Outcome is one event recorded on the original message.
type Outcome struct {
	Kind      event.Kind
	Recipient string
	Detail    any
}

// Receive parses, classifies, attributes and stores one message, with its
// events, in one transaction. It returns once the transaction is durable.
func (b *Backend) Receive(ctx context.Context, mailFrom string, rcpts []Rcpt, body []byte) (*Result, error) {
	now := time.Now()
	res := &Result{Report: parse(body, b.Log)}
	b.Rules.RuleSet().ClassifyReport(res.Report)
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])

	if err := b.attribute(ctx, res, rcpts, now); err != nil {
		return nil, err
	}
	reportJSON, err := json.Marshal(res.Report)
	if err != nil {
		return nil, err
	}
	var rcptAddrs []string
	verpIndex := ""
	for _, r := range rcpts {
		rcptAddrs = append(rcptAddrs, r.Addr)
		if verpIndex == "" {
			verpIndex = r.Index
		}
	}
	err = b.Batch.Do(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, b.DB.Rebind("SELECT COUNT(*) FROM inbound_messages WHERE digest = ?"), digest).Scan(&n); err != nil {
			return err
		}
		state, events := res.State, res.Events
		if n > 0 && len(events) > 0 {
			state, events = StateDuplicate, nil
		}
		if err := b.DB.ExecTx(tx, "INSERT INTO inbound_messages (received_ms, mail_from, rcpt, message_id, recipient, body, kind, state, account, report, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			now.UnixMilli(), mailFrom, strings.Join(rcptAddrs, ","), res.MessageID, verpIndex, body,
			string(res.Report.Kind), state, res.Account, string(reportJSON), digest); err != nil {
			return err
		}
		for _, o := range events {
			if err := b.Events.AddTx(tx, o.Kind, res.MessageID, res.Account, o.Recipient, now, o.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch res.State {
	case StateUnattributed:
		b.Log.Warn("inbound report not attributable to a message", "kind", res.Report.Kind, "format", res.Report.Format, "from", mailFrom)
	case StateAttributed:
		b.Log.Info("inbound report", "kind", res.Report.Kind, "message_id", res.MessageID, "events", len(res.Events))
	}
	return res, nil
}

// parse runs bounce.Parse, which must never take the receiver down: a panic
// on a hostile message is logged and the message kept as not-bounce.
func parse(body []byte, log *slog.Logger) (r *bounce.Report) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("bounce parser panicked", "panic", fmt.Sprint(p))
			r = &bounce.Report{Kind: bounce.KindNotBounce, Format: "unreadable", Recipients: []bounce.Recipient{}}
		}
	}()
	return bounce.Parse(body)
}

// attribute ties the report to the original message and turns it into
// events. Only the message's own destinations ever receive an event: a
// report naming someone else cannot touch an unrelated address.
func (b *Backend) attribute(ctx context.Context, res *Result, rcpts []Rcpt, now time.Time) error {
	rep := res.Report
	if rep.Kind == bounce.KindNotBounce {
		res.State = StateIgnored
		return nil
	}
	res.State = StateUnattributed
	messageID, index := "", ""
	for _, r := range rcpts {
		if r.MessageID != "" {
			messageID, index = r.MessageID, r.Index
			break
		}
	}
	if messageID == "" {
		messageID = rep.Original.PetrelID
	}
	if messageID == "" {
		return nil
	}
	account, mailJSON, err := b.Spool.Mail(ctx, messageID)
	if errors.Is(err, spool.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var m struct {
		Destination []string `json:"destination"`
	}
	if err := json.Unmarshal(mailJSON, &m); err != nil {
		return fmt.Errorf("message %s: %w", messageID, err)
	}
	dest := map[string]string{}
	for _, d := range m.Destination {
		dest[strings.ToLower(d)] = d
	}
	verpRcpt := ""
	if i := atoi(index); index != "" && i >= 0 && i < len(m.Destination) {
		verpRcpt = m.Destination[i]
	}
	// whose maps a report recipient to one of the message's destinations: by
	// address, else (a forwarded or aliased address, a report that names
	// nobody) the recipient the VERP address names, when the report is about
	// one recipient only.
	whose := func(addr string) string {
		if d, ok := dest[strings.ToLower(addr)]; ok {
			return d
		}
		if verpRcpt != "" && len(rep.Recipients) <= 1 {
			return verpRcpt
		}
		return ""
	}
	res.MessageID, res.Account = messageID, account
	ts := event.Timestamp(now)
	switch rep.Kind {
	case bounce.KindBounce:
		for _, rc := range rep.Recipients {
			addr := whose(rc.EmailAddress)
			if addr == "" {
				continue
			}
			res.Events = append(res.Events, Outcome{event.Bounce, addr, event.BounceDetail{
				BounceType: rc.Type, BounceSubType: rc.SubType,
				BouncedRecipients: []event.BouncedRecipient{{EmailAddress: addr, Action: "failed", Status: status(rc), DiagnosticCode: rc.DiagnosticCode}},
				Timestamp:         ts, FeedbackID: event.NewID(now), ReportingMTA: reportingMTA(rep.ReportingMTA),
				Reason: rc.Reason, Rule: rc.Rule,
			}})
		}
	case bounce.KindDelay:
		for _, rc := range rep.Recipients {
			addr := whose(rc.EmailAddress)
			if addr == "" {
				continue
			}
			a := rc.Answer()
			res.Events = append(res.Events, Outcome{event.DeliveryDelay, addr, event.DeliveryDelayDetail{
				Timestamp: ts, DelayType: bounce.DelayType(smtpreply.Reply{Code: a.Code, Enhanced: a.Status, Text: a.Text}, rc.Verdict),
				ExpirationTime:    sesTime(rc.WillRetryUntil),
				DelayedRecipients: []event.DelayedRecipient{{EmailAddress: addr, Status: status(rc), DiagnosticCode: rc.DiagnosticCode}},
				ReportingMTA:      reportingMTA(rep.ReportingMTA),
			}})
		}
	case bounce.KindComplaint:
		var complained []event.Recipient
		for _, rc := range rep.Recipients {
			if addr := whose(rc.EmailAddress); addr != "" {
				complained = append(complained, event.Recipient{EmailAddress: addr})
			}
		}
		if len(complained) == 0 && verpRcpt != "" {
			complained = []event.Recipient{{EmailAddress: verpRcpt}}
		}
		if len(complained) == 0 && len(m.Destination) == 1 {
			complained = []event.Recipient{{EmailAddress: m.Destination[0]}}
		}
		arrival := sesTime(rep.ArrivalDate)
		if arrival == "" {
			arrival = ts
		}
		feedbackID := event.NewID(now)
		for _, c := range complained {
			res.Events = append(res.Events, Outcome{event.Complaint, c.EmailAddress, event.ComplaintDetail{
				ComplainedRecipients: []event.Recipient{c}, Timestamp: ts, FeedbackID: feedbackID,
				UserAgent: rep.UserAgent, ComplaintFeedbackType: rep.FeedbackType, ArrivalDate: arrival,
			}})
		}
	case bounce.KindAutoReply:
		addr := verpRcpt
		for _, rc := range rep.Recipients {
			if d, ok := dest[strings.ToLower(rc.EmailAddress)]; ok {
				addr = d
			}
		}
		if addr == "" && len(m.Destination) == 1 {
			addr = m.Destination[0]
		}
		if addr != "" {
			res.Events = append(res.Events, Outcome{event.AutoResponse, addr, event.AutoResponseDetail{
				Timestamp: ts, FeedbackID: event.NewID(now), Recipient: event.Recipient{EmailAddress: addr},
				AutoResponseType: rep.AutoReplyType, Subject: rep.Original.Subject, From: autoReplyFrom(rep),
			}})
		}
	}
	if len(res.Events) > 0 {
		res.State = StateAttributed
	}
	return nil
}

func status(rc bounce.Recipient) string {
	if rc.Status != "" {
		return rc.Status
	}
	return rc.Answer().Status
}

func reportingMTA(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	return "dns; " + s
}

func autoReplyFrom(rep *bounce.Report) string {
	if len(rep.Recipients) > 0 {
		return rep.Recipients[0].EmailAddress
	}
	return ""
}

// sesTime converts an RFC 5322 date ("Thu, 29 Apr 2015 23:34:45 +0900") to
// SES's timestamp format; "" when it cannot.
func sesTime(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	t, err := mail.ParseDate(s)
	if err != nil {
		return ""
	}
	return event.Timestamp(t)
}

func atoi(s string) int {
	n := 0
	if s == "" || len(s) > 6 {
		return -1
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
