// Package smtpsubmit is SES's SMTP interface: submission with STARTTLS
// (port 2587 by default) or implicit TLS (2465), AUTH PLAIN/LOGIN only over
// TLS with SES SMTP credentials, and SES's reply codes and texts
// (../shared/spec/ses.md §3.4). Accepted messages go through package sending,
// so the final "250 Ok <MessageId>" is sent only once the message is durable.
//
// Against hostile clients (each refusal is logged, rate-limited, with its
// cause):
//   - connections are capped in all and per remote IP (Backend.Listen), and
//     one that has not authenticated within DefaultAuthDeadline is closed;
//   - AUTH failures are throttled (AuthPolicy): growing delays before the
//     535, counted per IP and per username; an IP (never a username, so
//     that nobody can lock a user out) then locked out for a while,
//     answered "454 4.7.0 Too many authentication failures, try again
//     later"; a connection closed (421 4.7.0) at its third refused attempt;
//   - credentials disabled during a session stop it at the next MAIL FROM
//     (421 4.7.0 for a key, 530 for a network credential);
//   - malformed input gets a permanent reply: 501 5.5.2 for undecodable
//     AUTH data (RFC 4954 §4), 554 5.6.0 for an over-long line in DATA
//     (RFC 5321 §4.5.3.1.6), 553 for a bad address;
//   - SMTPUTF8 (RFC 6531) is offered: UTF-8 addresses are taken with the
//     SMTPUTF8 parameter of MAIL FROM, else refused with 5.6.7 (RFC 6531
//     §3.5: 550 for MAIL, 553 for RCPT);
//   - a message body is read in chunks taken from the memory budget shared
//     with the API; over it, 451 4.3.1 (retry later), nothing accepted.
//
// Each session has a context derived from Backend.BaseContext (the
// daemon's run context), used for everything it does and cancelled when it
// ends: on shutdown, a transaction not yet handed to the store is answered
// "421 4.3.2 Service shutting down" (the client retries; nothing was
// stored), one being committed finishes and is acknowledged.
package smtpsubmit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/metrics"
	"github.com/petrelmail/petrel/internal/sending"
)

// Limits SES applies to SMTP (§3.1, §11.2), and MaxLineLength, the bound
// on a line read (command or message data), in octets including CRLF:
// twice RFC 5321 §4.5.3.1.6's 1000, as go-smtp has it, so that no line is
// held whole beyond it. Message lines over 1000 octets are refused in any
// case (package message), with the same reply.
const (
	MaxMessageBytes = 40 << 20
	MaxRecipients   = 50
	MaxLineLength   = 2000
)

// Backend implements go-smtp's Backend.
type Backend struct {
	Accounts *account.Service
	Sender   *sending.Sender
	Log      *slog.Logger
	// Budget bounds the bytes of message bodies held in memory at once,
	// shared with the API; nil: unbounded.
	Budget *admission.Budget
	// Auth throttles AUTH failures; NewServer sets
	// NewAuthLimiter(DefaultAuthPolicy()) when it is nil.
	Auth *AuthLimiter
	// Metrics counts the commands (AUTH, MAIL, RCPT, DATA) by reply code,
	// with their duration; nil counts nothing.
	Metrics *metrics.Metrics
	// BaseContext returns the context sessions' contexts derive from; its
	// cancellation (shutdown) cancels their work in flight. nil:
	// context.Background.
	BaseContext func() context.Context

	refusals admission.RefusalLog
}

var _ smtp.Backend = (*Backend)(nil)

// NewServer returns a go-smtp server for the backend; serve it on a
// listener from be.Listen. Several servers may share one backend (and so
// its AUTH failure counts).
//
// Timeouts: a command line must arrive within 5 minutes of the previous
// reply (RFC 5321 §4.5.3.2.7), the whole of a DATA transfer within 5
// minutes of the DATA command, and authentication within the listener's
// AuthDeadline of the connection; on timeout go-smtp answers "421 4.4.2
// Idle timeout" and closes (421, not SES's 451: the server is closing the
// channel, RFC 5321 §3.8).
func NewServer(be *Backend, hostname string, tlsConfig *tls.Config) *smtp.Server {
	if be.Auth == nil {
		be.Auth = NewAuthLimiter(DefaultAuthPolicy())
	}
	s := smtp.NewServer(be)
	s.Domain = hostname
	s.TLSConfig = tlsConfig
	s.MaxMessageBytes = MaxMessageBytes
	s.MaxRecipients = MaxRecipients
	s.MaxLineLength = MaxLineLength
	s.EnableSMTPUTF8 = true
	s.AllowInsecureAuth = false
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = 5 * time.Minute
	s.ErrorLog = errorLog{be}
	return s
}

// NewSession starts a session for a connection. A client in a network
// credential's range is attributed to its account without AUTH (it may still
// authenticate, which then wins).
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	base := context.Background()
	if b.BaseContext != nil {
		base = b.BaseContext()
	}
	if base.Err() != nil {
		return nil, errShuttingDown
	}
	s := &session{b: b, conn: c, sc: connOf(c.Conn())}
	s.ctx, s.cancel = context.WithCancel(base)
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		s.addr = ap.Addr().Unmap()
		s.ip = s.addr.String()
		acct, err := b.Accounts.AccountForIP(s.ctx, s.addr)
		if err != nil {
			s.cancel()
			b.Log.Error("looking up network credentials", "err", err)
			return nil, errTempFailure
		}
		if acct != "" {
			s.account, s.user, s.network = acct, "network:"+s.ip, true
			s.authenticated()
		}
	}
	return s, nil
}

type session struct {
	b            *Backend
	ctx          context.Context // the session's: cancelled by Logout or shutdown
	cancel       context.CancelFunc
	conn         *smtp.Conn
	sc           *conn // nil when not served from Backend.Listen
	addr         netip.Addr
	ip           string
	account      string
	user         string
	network      bool  // attributed by a network credential, not AUTH
	authFailures int   // refused AUTH attempts on this connection
	size         int64 // SIZE declared with MAIL FROM (0: none)
	utf8         bool  // SMTPUTF8 given with MAIL FROM (RFC 6531 §3.4)
	from         *address.Address
	rcpts        []address.Address
}

var _ smtp.AuthSession = (*session)(nil)

func reply(code int, enhanced smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

var (
	errAuthRequired = reply(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	errBadCreds     = reply(535, smtp.EnhancedCode{5, 7, 8}, "Authentication Credentials Invalid")
	errTempAuth     = reply(454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure")
	errLockedOut    = reply(454, smtp.EnhancedCode{4, 7, 0}, "Too many authentication failures, try again later")
	errAuthClosing  = reply(421, smtp.EnhancedCode{4, 7, 0}, "Too many authentication failures, closing connection")
	errBadResponse  = reply(501, smtp.EnhancedCode{5, 5, 2}, "Malformed authentication response")
	errRevoked      = reply(421, smtp.EnhancedCode{4, 7, 0}, "Credentials no longer valid, closing connection")
	errTooLong      = reply(552, smtp.EnhancedCode{5, 3, 4}, "Message is too long.")
	errLineTooLong  = reply(554, smtp.EnhancedCode{5, 6, 0}, fmt.Sprintf("Transaction failed: %v: line longer than %d characters",
		message.ErrMalformed, message.MaxLineLength))
	errNestedMail  = reply(503, smtp.EnhancedCode{5, 5, 1}, "Nested MAIL command")
	errOverBudget  = reply(451, smtp.EnhancedCode{4, 3, 1}, "Temporary service failure")
	errTempFailure = reply(451, smtp.EnhancedCode{4, 3, 0}, "Temporary service failure")
	// errShuttingDown ends a session on shutdown (RFC 3463 X.3.2: system
	// not accepting network messages; a 421 closes the connection).
	errShuttingDown = reply(421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, closing connection")
)

func (s *session) AuthMechanisms() []string { return []string{"PLAIN", "LOGIN"} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	start := time.Now()
	switch mech {
	case "PLAIN":
		return saslServer{s, start, sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				password = "" // acting for another identity is not supported: it fails as a wrong password does
			}
			return s.check(username, password)
		})}, nil
	case "LOGIN":
		return saslServer{s, start, &loginServer{check: s.check}}, nil
	}
	err := error(reply(504, smtp.EnhancedCode{5, 5, 4}, "Unrecognized authentication type"))
	s.b.command(metrics.SMTPAuth, start, &err)
	return nil, err
}

// check authenticates username with password, unless the IP is locked
// out. A username's failures never refuse its correct password.
func (s *session) check(username, password string) error {
	if s.b.Auth.Locked(s.ip) {
		s.b.refused("AUTH locked out", "remote_ip", s.ip, "username", username)
		return s.refuseAuth(errLockedOut)
	}
	acct, err := s.b.Accounts.AuthSMTP(s.ctx, username, password)
	if errors.Is(err, account.ErrBadCredentials) {
		return s.authFailed(username)
	}
	if err != nil {
		if s.ctx.Err() != nil {
			return errShuttingDown
		}
		s.b.Log.Error("SMTP authentication", "err", err)
		return errTempAuth
	}
	s.account, s.user, s.network = acct, username, false
	s.authFailures = 0
	s.authenticated()
	return nil
}

// authFailed counts a failed attempt, waits as the policy says, and
// returns the reply.
func (s *session) authFailed(username string) error {
	wait, locked := s.b.Auth.Failed(s.ip, username)
	if locked {
		s.b.Log.Warn("SMTP client IP locked out after repeated authentication failures", "remote_ip", s.ip, "username", username,
			"for", s.b.Auth.Policy().LockFor)
	}
	s.b.refused("AUTH failed", "remote_ip", s.ip, "username", username, "wait", wait)
	select {
	case <-time.After(wait):
	case <-s.ctx.Done():
		return errShuttingDown
	}
	return s.refuseAuth(errBadCreds)
}

// refuseAuth counts a refused AUTH on this connection: at the policy's
// PerConn the reply is 421 and the connection is closed.
func (s *session) refuseAuth(err *smtp.SMTPError) error {
	s.authFailures++
	if n := s.b.Auth.Policy().PerConn; n > 0 && s.authFailures >= n {
		s.b.refused("AUTH failures on one connection", "remote_ip", s.ip, "failures", s.authFailures)
		return errAuthClosing
	}
	return err
}

// authenticated lifts the connection's authentication deadline.
func (s *session) authenticated() {
	if s.sc != nil {
		s.sc.authenticated()
	}
}

// saslServer answers a malformed SASL response (e.g. PLAIN without its
// two NULs) with 501, counted as a refused attempt, instead of go-smtp's
// 454 for any non-SMTP error; it counts the AUTH command (begun at start)
// when the exchange ends.
type saslServer struct {
	s     *session
	start time.Time
	sasl.Server
}

func (w saslServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := w.Server.Next(response)
	if _, ok := err.(*smtp.SMTPError); err != nil && !ok {
		challenge, done, err = nil, true, w.s.refuseAuth(errBadResponse)
	}
	if done || err != nil {
		w.s.b.command(metrics.SMTPAuth, w.start, &err)
	}
	return challenge, done, err
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login).
type loginServer struct {
	check    func(user, pass string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the username
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

// Mail starts a transaction. A MAIL FROM while one is open (no RSET, no
// end of DATA since the last) is refused with 503 5.5.1 (RFC 5321 §4.1.4),
// the open transaction kept.
func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer s.b.command(metrics.SMTPMail, time.Now(), &err)
	if s.from != nil {
		return errNestedMail
	}
	if err := s.authorized(); err != nil {
		return err
	}
	smtputf8 := opts != nil && opts.UTF8
	if !smtputf8 && address.NeedsSMTPUTF8(from) {
		return reply(550, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII sender address requires SMTPUTF8")
	}
	a, err := address.ParsePath(from)
	if err != nil {
		return reply(553, smtp.EnhancedCode{5, 1, 7}, echo(from)+"Invalid email address")
	}
	s.from = &a
	s.size, s.utf8 = 0, smtputf8
	if opts != nil {
		s.size = opts.Size
	}
	return nil
}

// authorized checks, at the start of each transaction, that the session's
// credentials are still in force (as the database was at most
// account.Recheck ago): a disabled or deleted key ends the session (421),
// a removed network credential asks for AUTH (530).
func (s *session) authorized() error {
	ctx := s.ctx
	if ctx.Err() != nil {
		return errShuttingDown
	}
	switch {
	case s.account == "":
		return errAuthRequired
	case s.network:
		acct, err := s.b.Accounts.AccountForIP(ctx, s.addr)
		if err != nil {
			s.b.Log.Error("looking up network credentials", "err", err)
			return errTempFailure
		}
		if acct == "" {
			s.b.refused("credentials revoked", "remote_ip", s.ip, "credential", s.user)
			s.account, s.user, s.network = "", "", false
			return errAuthRequired
		}
		s.account = acct
	default:
		_, acct, err := s.b.Accounts.Secret(ctx, s.user)
		if errors.Is(err, account.ErrNotFound) {
			s.b.refused("credentials revoked", "remote_ip", s.ip, "credential", s.user)
			s.account = ""
			return errRevoked
		}
		if err != nil {
			s.b.Log.Error("checking SMTP credentials", "err", err)
			return errTempFailure
		}
		s.account = acct
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) (err error) {
	defer s.b.command(metrics.SMTPRcpt, time.Now(), &err)
	if s.account == "" {
		return errAuthRequired
	}
	if !s.utf8 && address.NeedsSMTPUTF8(to) {
		return reply(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII recipient address requires SMTPUTF8")
	}
	a, err := address.ParsePath(to)
	if err != nil {
		return reply(553, smtp.EnhancedCode{5, 1, 3}, echo(to)+"address unknown")
	}
	s.rcpts = append(s.rcpts, a)
	return nil
}

// echo returns "<path> " for a refused path that can be shown as it is
// (SES's "553 <email-address> Invalid email address", spec §3.4), and ""
// for one that could be read as something else: go-smtp has taken the
// quotes off a quoted local part, so `"a> NOTIFY=NEVER"@x` arrives as
// `a> NOTIFY=NEVER@x`, which must not be written back inside <>. A path is
// shown when it is at most 256 octets of printable ASCII other than space,
// '<', '>', '"' and '\'.
func echo(path string) string {
	if path == "" || len(path) > 256 {
		return ""
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' {
			return ""
		}
	}
	return "<" + path + "> "
}

func (s *session) Data(r io.Reader) (err error) {
	defer s.b.command(metrics.SMTPData, time.Now(), &err)
	if s.account == "" {
		return errAuthRequired
	}
	holder := s.account
	raw, held, err := readBody(r, s.size, s.b.Budget, holder)
	defer s.b.Budget.ReleaseFor(holder, held)
	switch {
	case errors.Is(err, admission.ErrOverBudget):
		s.b.refused("body memory budget full", "remote_ip", s.ip, "account", holder,
			"account_in_use", s.b.Budget.HeldBy(holder), "account_share", s.b.Budget.HolderMax(),
			"budget_in_use", s.b.Budget.InUse(), "budget", s.b.Budget.Max())
		return errOverBudget
	case errors.Is(err, smtp.ErrDataTooLarge):
		return errTooLong
	case errors.Is(err, smtp.ErrTooLongLine):
		s.b.refused("line too long", "remote_ip", s.ip, "limit", MaxLineLength)
		return errLineTooLong
	case err != nil && s.ctx.Err() != nil:
		return errShuttingDown // shutdown cut the upload short: nothing stored, the client retries
	case err != nil:
		return errTempFailure
	}
	id, err := s.b.Sender.Send(s.ctx, sending.Request{
		Account: s.account, Caller: s.user, SourceIP: s.ip, Operation: "SendRawEmail",
		MailFrom: s.from, Recipients: s.rcpts, Raw: raw, RawScratch: true, // nothing else reads raw
	})
	if err != nil {
		return s.sendError(err)
	}
	return reply(250, smtp.NoEnhancedCode, "Ok "+id)
}

// readBody reads a DATA body, taking each chunk's size from budget on
// behalf of holder (the session's account, whose share of the budget
// bounds what its slow clients can hold) before allocating it, and returns
// the body with the bytes of budget it holds for holder (for the caller to
// ReleaseFor(holder, held) once done with the body). The first chunk is
// the SIZE the client declared (RFC 1870), else 16 KiB; later ones double
// up to 1 MiB. A body that fits one chunk (always, when SIZE was right) is
// returned in it; otherwise the chunks are joined into one exact buffer,
// holding twice the body for a moment (the copy is charged to the budget
// as a whole, not to holder's share: it is not paced by the client, and a
// 40 MB body must fit the share while being read). The body's buffer has scratchRoom
// bytes of spare capacity, so that sending.Send can prepare and sign the
// message in it (RawScratch) rather than in a copy. Errors:
// admission.ErrOverBudget, or the reader's (smtp.ErrDataTooLarge,
// smtp.ErrTooLongLine, I/O).
func readBody(r io.Reader, sizeHint int64, budget *admission.Budget, holder string) (body []byte, held int64, err error) {
	// scratchRoom: the fields Send adds (Message-ID, Date, the feedback
	// token) and the DKIM-Signature field (message.SignHeadroom).
	const scratchRoom = 8 << 10
	const firstChunk, maxChunk = 16 << 10, 1 << 20
	size := int64(firstChunk)
	if sizeHint > 0 {
		size = min(sizeHint, MaxMessageBytes) + 1 // +1: the end is seen without another chunk
	}
	var chunks [][]byte
	var total int64
	for {
		if !budget.TryAcquireFor(holder, size) {
			budget.ReleaseFor(holder, held)
			return nil, 0, admission.ErrOverBudget
		}
		held += size
		buf := make([]byte, size, size+scratchRoom)
		n, err := readFull(r, buf)
		if n > 0 {
			chunks = append(chunks, buf[:n])
			total += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			budget.ReleaseFor(holder, held)
			return nil, 0, err
		}
		size = min(max(size, firstChunk)*2, maxChunk)
	}
	switch len(chunks) {
	case 0:
		return nil, held, nil
	case 1:
		return chunks[0], held, nil
	}
	if !budget.TryAcquire(total) {
		budget.ReleaseFor(holder, held)
		return nil, 0, admission.ErrOverBudget
	}
	body = make([]byte, 0, total+scratchRoom)
	for _, c := range chunks {
		body = append(body, c...)
	}
	// holder's chunks (held >= total bytes) become its body's total bytes,
	// and the copy's charge ends.
	budget.ReleaseFor(holder, held-total)
	budget.Release(total)
	return body, total, nil
}

// readFull reads until buf is full or r fails; io.EOF means the data ended.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sendError maps Send's errors to SES's SMTP replies (spec §3.4): the
// message's faults are permanent (5xx), Petrel's temporary (451 4.3.0,
// logged at Error), and a Send cut short by shutdown is 421 4.3.2.
func (s *session) sendError(err error) error {
	var unv *sending.UnverifiedError
	var rej *sending.RejectedError
	var many *sending.TooManyRecipientsError
	var large *sending.TooLargeError
	var in *sending.InternalError
	var noSet *sending.ConfigSetNotFoundError
	var pausedSet *sending.ConfigSetPausedError
	var enforced *sending.EnforcementPausedError
	var throttled *sending.ThrottledError
	var denied *sending.NotAuthorizedError
	var badARN *sending.InvalidARNError
	var mailFrom *sending.MailFromNotVerifiedError
	var noList *sending.ListNotFoundError
	switch {
	case s.ctx.Err() != nil:
		s.b.Log.Debug("SMTP transaction ended by shutdown; nothing was stored", "remote_ip", s.ip, "err", err)
		return errShuttingDown
	case errors.As(err, &in):
		s.b.Log.Error("accepting SMTP message: nothing was accepted", "remote_ip", s.ip, "account", s.account,
			"op", in.Op, "identity", in.Identity, "err", in.Err)
		return errTempFailure
	case errors.As(err, &unv):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: "+unv.Error())
	case errors.As(err, &denied):
		// Sending authorisation (../shared/spec/ses.md §3.4).
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Access denied: "+denied.Error())
	case errors.As(err, &badARN):
		return reply(554, smtp.EnhancedCode{5, 6, 0}, "Transaction failed: "+badARN.Error())
	case errors.As(err, &mailFrom):
		// The identity's custom MAIL FROM domain under REJECT_MESSAGE
		// (../shared/spec/ses.md §1.7): 5.7.1, not authorised to send so.
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: "+mailFrom.Error())
	case errors.As(err, &large):
		return errTooLong
	case errors.As(err, &rej):
		return reply(554, smtp.EnhancedCode{5, 6, 0}, rej.Reason)
	case errors.As(err, &many):
		return reply(452, smtp.EnhancedCode{4, 5, 3}, many.Error())
	case errors.Is(err, sending.ErrSendingPaused):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: Sending paused for this account.")
	case errors.As(err, &noSet):
		// SES's words; 5.6.0 as for the other faults of the message as
		// given (here its X-SES-CONFIGURATION-SET header field).
		return reply(554, smtp.EnhancedCode{5, 6, 0}, "Configuration set does not exist: "+noSet.Error())
	case errors.As(err, &noList):
		// The X-SES-LIST-MANAGEMENT-OPTIONS header field names a contact
		// list or topic the account does not have (NotFoundException).
		return reply(554, smtp.EnhancedCode{5, 6, 0}, "Transaction failed: "+noList.Error())
	case errors.As(err, &pausedSet):
		// 5.7.1 (RFC 3463 §3.8, delivery not authorized) as for a paused
		// account.
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Sending paused for this configuration set.")
	case errors.As(err, &enforced):
		// Reputation enforcement (../shared/spec/ses.md §3.4, §8.3).
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: "+enforced.Error())
	case errors.As(err, &throttled):
		// SES's words (../shared/spec/ses.md §3.4).
		if throttled.Daily {
			return reply(454, smtp.EnhancedCode{4, 7, 0}, "Throttling failure: Daily message quota exceeded")
		}
		return reply(454, smtp.EnhancedCode{4, 7, 0}, "Throttling failure: Maximum sending rate exceeded")
	default:
		s.b.Log.Error("accepting SMTP message", "remote_ip", s.ip, "err", err)
		return errTempFailure
	}
}

func (s *session) Reset() {
	s.from = nil
	s.rcpts = nil
}

// Logout ends the session: its context is cancelled.
func (s *session) Logout() error {
	s.cancel()
	return nil
}
