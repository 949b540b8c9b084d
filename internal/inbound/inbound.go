// Package inbound is the SMTP receiver for Petrel's return path: the MX of
// the VERP return-path domain, where asynchronous bounces, complaint reports
// and auto-replies arrive.
//
// Anyone on the Internet can send to it, so it admits little and trusts
// nothing it is told. The steps for each message:
//
//  1. Connection: at most Limits.MaxConns in all and MaxConnsPerIP from one
//     address (Listen); more are answered "421 4.7.0 Too many connections".
//  2. MAIL: the null path or a syntactically valid RFC 5321 §4.1.2 path
//     (else "553 5.1.7"), at most MessagesPerMinute from one address (a
//     token bucket per IP); more get "450 4.7.1" and the sender retries.
//  3. RCPT: accept only valid VERP addresses (the MAC must verify; at the
//     return-path domain or at any other, such as an identity's custom MAIL
//     FROM domain) and the configured feedback mailboxes (postmaster, abuse,
//     fbl) at the return domain, and (with Unsubscribes set) the
//     List-Unsubscribe mailto: addresses u-CODE@ (any domain, like VERP)
//     whose code verifies and whose message's unsubscribe is still stored.
//     Anything else is refused, so Petrel is
//     neither an open relay nor a backscatter source.
//  4. DATA: at most MaxSize bytes (552 5.3.4 beyond), lines of any length
//     within it (MTAs return originals as they got them, RFC 5321
//     §4.5.3.1.6 limits notwithstanding). bounce.Parse says what
//     the message is (DSN, ARF, SES notification, auto-reply, an MTA's prose
//     bounce) and the bounce rules in force classify each failed recipient.
//  5. Attribution, only from proof that Petrel sent the original: the signed
//     VERP address it was sent to (or, for a report to a feedback mailbox,
//     the signed VERP Return-Path of the returned original), else the
//     signed X-Petrel-Feedback token Petrel put in every message
//     (bounce.FeedbackToken). A Message-ID proves nothing — every recipient
//     sees it — and never attributes. The proof must also name the one
//     recipient the report is about: a VERP address names it; a token signs
//     only the message, so it names a recipient only when the message had
//     one destination. Otherwise (a recipient of a message to many could
//     forge a report about another) the report is unattributed. Only that
//     recipient ever gets an event, and only if the report is about them.
//  6. In one transaction, before the 250: the message is stored with what
//     was made of it, and each outcome becomes the SES event on the original
//     message — Bounce, DeliveryDelay, Complaint, or Petrel's AutoResponse —
//     with the same JSON as synchronous outcomes, once per message,
//     recipient and kind (a DeliveryDelay at most once per DelayInterval):
//     a later report of the same is stored as duplicate. Mail that cannot be
//     tied to a message is kept as unattributed. Every stored body counts
//     against BodyBudget and the oldest bodies, whatever their state, are
//     dropped (row and parsed report kept) to stay within it; the parsed
//     report is stored in at most maxStoredReport bytes. So no mail, not
//     even mail carrying a real token, can fill the disk.
//
// Mail to an unsubscribe address is not parsed: its arrival is the
// request (RFC 2369 mailto:). In one transaction the contact is
// unsubscribed, with its Subscription event, and, when that changed
// anything, the mail is stored for audit (state StateUnsubscribe: sender,
// recipient, the message it came from, the body), counted against
// BodyBudget like any other; a request that changes nothing (a repeat) is
// not stored. Its other recipients, if any, are handled as above.
//
// Stored mail is deleted after the retention period by package retention
// (Store.PruneBefore), or by the operator (petrel inbound purge).
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
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/time/rate"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/smtpreply"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// States of a stored inbound message.
const (
	StateAttributed   = "attributed"   // tied to a message Petrel sent; events recorded
	StateUnattributed = "unattributed" // a report Petrel could not tie to a message it sent
	StateIgnored      = "ignored"      // not a report (or a success DSN): nothing to record
	StateDuplicate    = "duplicate"    // the same bytes arrived before; events were recorded then
	StateUnsubscribe  = "unsubscribe"  // a List-Unsubscribe mailto: request (body not stored)
)

// KindUnsubscribe is the kind of a stored mailto: unsubscribe request.
const KindUnsubscribe = "unsubscribe"

// DefaultMaxSize is the default size limit of one message (bytes). Parse
// reads the first 1 MiB of a report, where the explanation, the status
// fields and the original's header are (RFC 3464 §2, RFC 5965 §2); the rest
// is the returned body, which nothing reads. 2 MiB leaves room for a report
// that returns a whole ordinary message (MTAs return at most 50–100 KB by
// default: Postfix bounce_size_limit, Exim bounce_return_size_limit) while
// one message can no longer take 10 MB of disk.
const DefaultMaxSize = 2 << 20

// Backend implements go-smtp's Backend for the return path.
type Backend struct {
	DB          *store.DB
	Batch       *store.Batcher
	Spool       *spool.Spool
	Events      *event.Log
	Rules       *bounce.Classifier
	Domain      string   // the return-path domain
	Mailboxes   []string // local parts accepted besides VERP addresses
	VERPSecret  []byte
	FeedbackKey []byte // verifies X-Petrel-Feedback tokens (bounce.FeedbackKey); nil: none is trusted
	Log         *slog.Logger

	// MaxSize is the size limit of one message in bytes (0: DefaultMaxSize).
	MaxSize int64
	// MessagesPerMinute is how many messages one remote IP may send per
	// minute, with a burst of as many (0: unlimited).
	MessagesPerMinute int
	// BodyBudget bounds the bytes of all stored message bodies; past it the
	// oldest bodies are dropped, whatever their state (<= 0: unlimited).
	BodyBudget int64
	// Memory bounds the message bodies held in memory at once, shared with
	// the other listeners: each DATA reserves MaxSize and is answered 451
	// 4.3.1 when that does not fit (nil: no bound).
	Memory *admission.Budget
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Suppression receives each recorded Bounce and Complaint, in the
	// transaction that records it (suppression.List.ObserveTx); nil: none.
	Suppression *suppression.List
	// ConfigSets gives Suppression the override of the original message's
	// configuration set; nil: no overrides.
	ConfigSets *configset.Service
	// Unsubscribes applies the List-Unsubscribe mailto: requests sent to
	// UnsubscribePrefix+CODE@ (contacts.Unsubscriber); nil: such
	// addresses are refused like any other.
	Unsubscribes Unsubscribes
	// BaseContext returns the context sessions' contexts derive from; its
	// cancellation (shutdown) cancels their work in flight. nil:
	// context.Background.
	BaseContext func() context.Context

	rates *ipRates
	// warnings rate-limits the warnings hostile mail causes (unattributed
	// reports, bodies dropped for the budget); set by NewServer.
	warnings *rate.Sometimes
	dropped  atomic.Int64 // bodies dropped for the budget since start
}

var _ smtp.Backend = (*Backend)(nil)

// UnsubscribePrefix starts the local part of a List-Unsubscribe mailto:
// address (contacts.MailtoPrefix), matched without regard to case.
const UnsubscribePrefix = "u-"

// Unsubscribes applies mailto: unsubscribes; the daemon fills it with
// contacts.Unsubscriber (inbound does not import contacts).
type Unsubscribes interface {
	// MailtoValid reports whether code (the local part after
	// UnsubscribePrefix) verifies and the unsubscribe it stands for is
	// still stored. Errors: the store's.
	MailtoValid(ctx context.Context, code string) (bool, error)
	// PrepareMailto verifies code and reads the unsubscribe it stands for,
	// outside any transaction, and returns the account and message it
	// names and apply, which, in the caller's transaction, reads the
	// contact list, unsubscribes the contact (recording its Subscription
	// event) and reports whether anything changed (not when the list or
	// topic no longer exists); apply is nil when there is nothing to do
	// (the unsubscribe was pruned since the RCPT).
	PrepareMailto(ctx context.Context, code string) (account, messageID string, apply func(*sql.Tx) (bool, error), err error)
	// Temporary reports whether an error of PrepareMailto or apply is a
	// store failure worth retrying (DATA answers 451); any other is
	// permanent (554).
	Temporary(err error) bool
}

// NewServer returns the inbound SMTP server.
func NewServer(be *Backend, hostname string) *smtp.Server {
	s := smtp.NewServer(be)
	s.Domain = hostname
	s.MaxMessageBytes = be.maxSize()
	// Commands keep go-smtp's 2000-octet line limit; a returned message's
	// lines may be as long as the message.
	s.MaxDataLineLength = int(min(be.maxSize(), 1<<30))
	s.MaxRecipients = 10
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = 5 * time.Minute
	be.rates = newIPRates(be.MessagesPerMinute, maxTrackedIPs)
	be.warnings = &rate.Sometimes{First: 10, Interval: 10 * time.Second}
	return s
}

// NewSession starts a session.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ip := ""
	if c != nil && c.Conn() != nil {
		ip = admission.RemoteIP(c.Conn())
	}
	base := context.Background()
	if b.BaseContext != nil {
		base = b.BaseContext()
	}
	ctx, cancel := context.WithCancel(base)
	return &session{b: b, ip: ip, ctx: ctx, cancel: cancel}, nil
}

func (b *Backend) maxSize() int64 {
	if b.MaxSize > 0 {
		return b.MaxSize
	}
	return DefaultMaxSize
}

func (b *Backend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Rcpt is an accepted recipient: a VERP address names the message and the
// index of the recipient; a feedback mailbox names neither; an
// unsubscribe address carries its Unsubscribe code.
type Rcpt struct{ Addr, MessageID, Index, Unsubscribe string }

type session struct {
	b      *Backend
	ctx    context.Context // cancelled by Logout or shutdown
	cancel context.CancelFunc
	ip     string
	from   string
	rcpts  []Rcpt
}

// Mail starts a transaction: from is the null path ("", RFC 5321 §4.5.5:
// what bounces carry) or a valid RFC 5321 §4.1.2 path (else 553 5.1.7),
// within the sender's per-IP message rate (else 450 4.7.1).
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if from != "" {
		if _, err := address.ParsePath(from); err != nil {
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Invalid sender address"}
		}
	}
	if !s.b.rates.allow(s.ip, s.b.now()) {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Too many messages from your address; try again later"}
	}
	s.from = from
	return nil
}

// Rcpt accepts a VERP address whose MAC verifies, at any domain, a
// List-Unsubscribe address u-CODE whose code verifies and whose
// unsubscribe is still stored (Unsubscribes; 451 4.3.0 when that cannot be
// read), at any domain for the same reason, and the
// feedback mailboxes at the return-path domain; anything else is refused
// (550 5.1.1 at the return-path domain, 550 5.7.1 Relaying denied
// elsewhere).
//
// Any domain, not only the return-path domain and the identities' custom
// MAIL FROM domains (their MX names this receiver, ../shared/spec/ses.md
// §9.3): the MAC over the message ID and recipient index is the proof that
// Petrel issued the address, and the domain adds none — whoever can forge
// the local part can send it to the return-path domain too. Checking the
// domain against the MAIL FROM domains would read every account's
// identities here, and would refuse the late DSNs (days after the send)
// to a MAIL FROM domain changed or disabled since. Nothing is relayed.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, domain, _ := strings.Cut(to, "@")
	if id, idx, err := bounce.ParseReturnPath(to, s.b.VERPSecret); err == nil {
		s.rcpts = append(s.rcpts, Rcpt{Addr: to, MessageID: id, Index: idx})
		return nil
	}
	if len(local) > len(UnsubscribePrefix) && strings.EqualFold(local[:len(UnsubscribePrefix)], UnsubscribePrefix) && s.b.Unsubscribes != nil {
		code := local[len(UnsubscribePrefix):]
		ok, err := s.b.Unsubscribes.MailtoValid(s.ctx, code)
		if err != nil {
			s.b.Log.Error("checking a mailto: unsubscribe address", "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
		}
		if ok {
			s.rcpts = append(s.rcpts, Rcpt{Addr: to, Unsubscribe: code})
			return nil
		}
	}
	if !strings.EqualFold(domain, s.b.Domain) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
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
	if n := s.b.maxSize(); s.b.Memory != nil {
		if !s.b.Memory.TryAcquire(n) {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Too much mail in progress; try again later"}
		}
		defer s.b.Memory.Release(n)
	}
	body, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	if err != nil && s.ctx.Err() == nil {
		return err
	}
	if s.ctx.Err() != nil { // shutting down (the upload may have been cut short): nothing stored, the sender retries
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, closing connection"}
	}
	var unsubs, others []Rcpt
	for _, r := range s.rcpts {
		if r.Unsubscribe != "" {
			unsubs = append(unsubs, r)
		} else {
			others = append(others, r)
		}
	}
	if len(unsubs) > 0 {
		if _, err := s.b.Unsubscribe(s.ctx, s.from, unsubs, body); err != nil {
			s.b.Log.Error("applying a mailto: unsubscribe", "err", err)
			if !s.b.Unsubscribes.Temporary(err) {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 0}, Message: "This unsubscribe request cannot be applied"}
			}
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
		}
	}
	if len(others) == 0 {
		return nil
	}
	if _, err := s.b.Receive(s.ctx, s.from, others, body); err != nil {
		s.b.Log.Error("storing inbound message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
	}
	return nil
}

// Unsubscribe applies the List-Unsubscribe mailto: requests of one
// message (rcpts: unsubscribe addresses, each with its code; body: the
// message as received) and, in the same transaction, stores one audit row
// for each request that changed a contact (StateUnsubscribe, kind
// KindUnsubscribe, report {"changed":true}) with body as its body, charged
// to BodyBudget and trimmed like the bodies of other inbound mail. A
// request that changes nothing — a repeat, a retry after a 451 whose
// first try was applied, a list, topic or stored unsubscribe gone — stores nothing: a token,
// which every forwarded copy of the message carries, adds one row per
// change it makes, not one per message sent to it. It returns how many
// requests changed a contact.
func (b *Backend) Unsubscribe(ctx context.Context, mailFrom string, rcpts []Rcpt, body []byte) (int, error) {
	type prepared struct {
		rcpt               Rcpt
		account, messageID string
		apply              func(*sql.Tx) (bool, error)
	}
	var ps []prepared
	for _, r := range rcpts {
		account, id, apply, err := b.Unsubscribes.PrepareMailto(ctx, r.Unsubscribe)
		if err != nil {
			return 0, err
		}
		ps = append(ps, prepared{r, account, id, apply})
	}
	now := b.now()
	st := NewStore(b.DB)
	var changed, dropped int
	err := b.Batch.Do(ctx, func(tx *sql.Tx) error {
		changed, dropped = 0, 0
		// The budget row's lock first, as Receive takes it (chargeTx); the
		// bytes are charged once it is known which rows are stored.
		if err := st.chargeTx(tx, 0); err != nil {
			return err
		}
		var rows []row
		for _, p := range ps {
			if p.apply == nil {
				continue
			}
			ok, err := p.apply(tx)
			if err != nil {
				return err
			}
			if ok {
				rows = append(rows, row{received: now, mailFrom: mailFrom, rcpt: p.rcpt.Addr, messageID: p.messageID,
					body: body, kind: KindUnsubscribe, state: StateUnsubscribe, account: p.account, report: `{"changed":true}`})
			}
		}
		if changed = len(rows); changed == 0 {
			return nil
		}
		if err := st.chargeTx(tx, int64(changed*len(body))); err != nil {
			return err
		}
		for _, r := range rows {
			if err := st.insertTx(tx, r); err != nil {
				return err
			}
		}
		var err error
		dropped, err = st.trimTx(ctx, tx, b.BodyBudget)
		return err
	})
	if err != nil {
		return 0, err
	}
	b.Log.Info("inbound unsubscribe", "requests", len(ps), "changed", changed)
	b.noteDropped(dropped)
	return changed, nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { s.cancel(); return nil }

// Result is what Receive made of one message.
type Result struct {
	Report    *bounce.Report
	State     string
	MessageID string // the original message, when attributed
	Account   string
	// ConfigurationSet is the original message's configuration set (its
	// mail object's ses:configuration-set tag), "" when none.
	ConfigurationSet string
	By               string // the proof that attributed it: ByVERP, ByReturnedVERP, ByToken; "" when none
	// Why says why a report is unattributed ("" otherwise).
	Why    string
	Events []Outcome // the events recorded
	// BodiesDropped is how many stored bodies (the oldest, maybe this one)
	// the budget dropped.
	BodiesDropped int
}

// Proofs that a report is about a message Petrel sent.
const (
	ByVERP         = "verp"          // sent to the message's signed VERP address
	ByReturnedVERP = "returned-verp" // the returned original's Return-Path is its signed VERP address
	ByToken        = "token"         // the returned original carries its signed X-Petrel-Feedback token
)

// Outcome is one event recorded on the original message: its eventType
// is Detail.Kind().
type Outcome struct {
	Recipient string
	Detail    event.Detail
}

// Receive parses, classifies, attributes and stores one message, with its
// events, in one transaction. It returns once the transaction is durable.
func (b *Backend) Receive(ctx context.Context, mailFrom string, rcpts []Rcpt, body []byte) (*Result, error) {
	now := b.now()
	res := &Result{Report: parse(body, b.Log)}
	b.Rules.RuleSet().ClassifyReport(res.Report)
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])

	if err := b.attribute(ctx, res, rcpts, now); err != nil {
		return nil, err
	}
	reportJSON, err := storedReport(res.Report, res.Why)
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
	// The suppression override of the message's configuration set, read
	// before the transaction (configset's cache; an error is Petrel's and
	// the report is refused with 451 to come again).
	var override *suppression.Policy
	if res.State == StateAttributed && res.ConfigurationSet != "" && b.ConfigSets != nil && b.Suppression != nil {
		if override, err = b.ConfigSets.SuppressionOverride(ctx, res.Account, res.ConfigurationSet); err != nil {
			return nil, err
		}
	}
	st := NewStore(b.DB)
	var (
		state    string
		recorded []Outcome
		dropped  int
	)
	err = b.Batch.Do(ctx, func(tx *sql.Tx) error {
		state, recorded, dropped = res.State, nil, 0
		if err := st.chargeTx(tx, int64(len(body))); err != nil {
			return err
		}
		var err error
		if state == StateAttributed {
			if recorded, err = st.freshOutcomesTx(ctx, tx, digest, res.MessageID, res.Events, now); err != nil {
				return err
			}
			if len(recorded) == 0 {
				state = StateDuplicate
			}
		}
		if err := st.insertTx(tx, row{received: now, mailFrom: mailFrom, rcpt: strings.Join(rcptAddrs, ","), messageID: res.MessageID,
			recipient: verpIndex, body: body, kind: string(res.Report.Kind), state: state, account: res.Account,
			report: string(reportJSON), digest: digest}); err != nil {
			return err
		}
		if dropped, err = st.trimTx(ctx, tx, b.BodyBudget); err != nil {
			return err
		}
		for _, o := range recorded {
			if err := b.Events.AddTx(tx, res.MessageID, res.Account, o.Recipient, now, o.Detail); err != nil {
				return err
			}
			if b.Suppression == nil {
				continue
			}
			if err := b.Suppression.ObserveTx(tx, suppression.Observation{Account: res.Account, MessageID: res.MessageID,
				Recipient: o.Recipient, Detail: o.Detail, Override: override, Now: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.State, res.Events, res.BodiesDropped = state, recorded, dropped
	switch res.State {
	case StateUnattributed:
		b.warn(func() {
			b.Log.Warn("inbound report not attributable to a message", "kind", res.Report.Kind, "format", res.Report.Format, "from", mailFrom,
				"why", res.Why, "quoted_message_id", res.Report.Original.PetrelID)
		})
	case StateAttributed:
		b.Log.Info("inbound report", "kind", res.Report.Kind, "message_id", res.MessageID, "by", res.By, "events", len(res.Events))
	}
	b.noteDropped(res.BodiesDropped)
	return res, nil
}

// noteDropped counts and warns of n bodies the budget dropped.
func (b *Backend) noteDropped(n int) {
	if n == 0 {
		return
	}
	total := b.dropped.Add(int64(n))
	b.warn(func() {
		b.Log.Warn("inbound body budget exceeded; dropping the oldest bodies", "dropped_since_start", total,
			"budget_bytes", b.BodyBudget)
	})
}

// warn logs a warning hostile mail can cause as often as it likes: the
// first ten, then one per 10 s.
func (b *Backend) warn(f func()) {
	if b.warnings == nil {
		f()
		return
	}
	b.warnings.Do(f)
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
// events (see the package doc, step 5). The proof must name the recipient:
// the VERP index does; a feedback token, which signs only the message, does
// when the message had one destination. Then only that recipient can get an
// event, and only when the report is about them: it names them, names
// nobody, or names one address that is none of the message's destinations
// (a forwarded or aliased mailbox). res.Why says why a report with no
// events is unattributed.
func (b *Backend) attribute(ctx context.Context, res *Result, rcpts []Rcpt, now time.Time) error {
	rep := res.Report
	if rep.Kind == bounce.KindNotBounce {
		res.State = StateIgnored
		return nil
	}
	res.State = StateUnattributed
	messageID, index, by := b.proof(rep, rcpts)
	if messageID == "" {
		res.Why = "no signed VERP address or feedback token"
		return nil
	}
	account, mailJSON, err := b.Spool.Mail(ctx, messageID)
	if errors.Is(err, spool.ErrNotFound) {
		res.Why = "the message its proof names is not stored"
		return nil
	}
	if err != nil {
		return err
	}
	var m struct {
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	}
	if err := json.Unmarshal(mailJSON, &m); err != nil {
		return fmt.Errorf("message %s: %w", messageID, err)
	}
	if cs := m.Tags["ses:configuration-set"]; len(cs) > 0 {
		res.ConfigurationSet = cs[0]
	}
	proven := ""
	switch {
	case index != "":
		if i := atoi(index); i >= 0 && i < len(m.Destination) {
			proven = m.Destination[i]
		}
	case len(m.Destination) == 1:
		proven = m.Destination[0]
	}
	if proven == "" {
		res.Why = fmt.Sprintf("the feedback token proves the message but not which of its %d recipients the report is about", len(m.Destination))
		return nil
	}
	dest := map[string]bool{}
	for _, d := range m.Destination {
		dest[strings.ToLower(d)] = true
	}
	// about is the report's entry for proven: the one naming it, else the
	// only entry when that names no destination (nil when the report names
	// nobody); ok is false when the report is about someone else.
	about, ok := (*bounce.Recipient)(nil), len(rep.Recipients) == 0
	for i, rc := range rep.Recipients {
		if strings.EqualFold(rc.EmailAddress, proven) {
			about, ok = &rep.Recipients[i], true
			break
		}
	}
	if about == nil && len(rep.Recipients) == 1 && !dest[strings.ToLower(rep.Recipients[0].EmailAddress)] {
		about, ok = &rep.Recipients[0], true
	}
	if !ok {
		res.Why = "the report names other recipients than the one its proof names"
		return nil
	}
	res.MessageID, res.Account, res.By = messageID, account, by
	ts := event.Timestamp(now)
	kind := rep.Kind
	if kind == bounce.KindBounce && about != nil && about.Action == "delayed" {
		kind = bounce.KindDelay // a mixed report: this recipient is still being tried
	}
	switch kind {
	case bounce.KindBounce:
		if about == nil {
			break
		}
		rc := *about
		res.Events = append(res.Events, Outcome{proven, event.BounceDetail{
			BounceType: rc.Type, BounceSubType: rc.SubType,
			BouncedRecipients: []event.BouncedRecipient{{EmailAddress: proven, Action: "failed", Status: status(rc), DiagnosticCode: rc.DiagnosticCode}},
			Timestamp:         ts, FeedbackID: event.NewID(now), ReportingMTA: reportingMTA(rep.ReportingMTA),
			Reason: rc.Reason, Rule: rc.Rule,
		}})
	case bounce.KindDelay:
		if about == nil {
			break
		}
		rc := *about
		a := rc.Answer()
		res.Events = append(res.Events, Outcome{proven, event.DeliveryDelayDetail{
			Timestamp: ts, DelayType: bounce.DelayType(smtpreply.Reply{Code: a.Code, Enhanced: a.Status, Text: a.Text}, rc.Verdict),
			ExpirationTime:    sesTime(rc.WillRetryUntil),
			DelayedRecipients: []event.DelayedRecipient{{EmailAddress: proven, Status: status(rc), DiagnosticCode: rc.DiagnosticCode}},
			ReportingMTA:      reportingMTA(rep.ReportingMTA),
		}})
	case bounce.KindComplaint:
		arrival := sesTime(rep.ArrivalDate)
		if arrival == "" {
			arrival = ts
		}
		c := event.Recipient{EmailAddress: proven}
		res.Events = append(res.Events, Outcome{proven, event.ComplaintDetail{
			ComplainedRecipients: []event.Recipient{c}, Timestamp: ts, FeedbackID: event.NewID(now),
			UserAgent: rep.UserAgent, ComplaintFeedbackType: rep.FeedbackType, ArrivalDate: arrival,
		}})
	case bounce.KindAutoReply:
		res.Events = append(res.Events, Outcome{proven, event.AutoResponseDetail{
			Timestamp: ts, FeedbackID: event.NewID(now), Recipient: event.Recipient{EmailAddress: proven},
			AutoResponseType: rep.AutoReplyType, Subject: rep.Original.Subject, From: autoReplyFrom(rep),
		}})
	}
	if len(res.Events) > 0 {
		res.State = StateAttributed
	} else {
		res.Why = "the report names no failed recipient"
	}
	return nil
}

// proof finds what ties a report to a message Petrel sent, in order: the
// VERP address it was sent to; the signed VERP Return-Path of the returned
// original (a complaint loop's report about one recipient); the signed
// feedback token of the returned original. index names the recipient when
// a VERP address does. It returns "" when there is no proof — whatever
// Message-ID the report quotes.
func (b *Backend) proof(rep *bounce.Report, rcpts []Rcpt) (messageID, index, by string) {
	for _, r := range rcpts {
		if r.MessageID != "" {
			return r.MessageID, r.Index, ByVERP
		}
	}
	if rp := rep.Original.ReturnPath; rp != "" {
		// At any domain, as in Rcpt: a custom MAIL FROM domain's too.
		if id, idx, err := bounce.ParseReturnPath(rp, b.VERPSecret); err == nil {
			return id, idx, ByReturnedVERP
		}
	}
	if tok := rep.Original.FeedbackToken; tok != "" && len(b.FeedbackKey) > 0 {
		if id, err := bounce.ParseFeedbackToken(tok, b.FeedbackKey); err == nil {
			return id, "", ByToken
		}
	}
	return "", "", ""
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
