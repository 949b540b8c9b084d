// Package smtpsubmit is SES's SMTP interface: submission with STARTTLS
// (port 2587 by default) or implicit TLS (2465), AUTH PLAIN/LOGIN only over
// TLS with SES SMTP credentials, and SES's reply codes and texts
// (../shared/spec/ses.md §3.4). Accepted messages go through package sending,
// so the final "250 Ok <MessageId>" is sent only once the message is durable.
package smtpsubmit

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/sending"
)

// Limits SES applies to SMTP (§3.1, §11.2).
const (
	MaxMessageBytes = 40 << 20
	MaxRecipients   = 50
)

// Backend implements go-smtp's Backend.
type Backend struct {
	Accounts *account.Service
	Sender   *sending.Sender
	Log      *slog.Logger
}

var _ smtp.Backend = (*Backend)(nil)

// NewServer returns a go-smtp server for the backend.
func NewServer(be *Backend, hostname string, tlsConfig *tls.Config) *smtp.Server {
	s := smtp.NewServer(be)
	s.Domain = hostname
	s.TLSConfig = tlsConfig
	s.MaxMessageBytes = MaxMessageBytes
	s.MaxRecipients = MaxRecipients
	s.MaxLineLength = 2000
	s.AllowInsecureAuth = false
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = 5 * time.Minute
	return s
}

// NewSession starts a session for a connection. A client in a network
// credential's range is attributed to its account without AUTH (it may still
// authenticate, which then wins).
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{b: b, conn: c}
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		s.ip = ap.Addr().Unmap().String()
		acct, err := b.Accounts.AccountForIP(context.Background(), ap.Addr())
		if err != nil {
			b.Log.Error("looking up network credentials", "err", err)
			return nil, errTempFailure
		}
		if acct != "" {
			s.account, s.user = acct, "network:"+s.ip
		}
	}
	return s, nil
}

type session struct {
	b       *Backend
	conn    *smtp.Conn
	ip      string
	account string
	user    string
	from    *address.Address
	rcpts   []address.Address
}

var _ smtp.AuthSession = (*session)(nil)

func reply(code int, enhanced smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

var (
	errAuthRequired = reply(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	errBadCreds     = reply(535, smtp.EnhancedCode{5, 7, 8}, "Authentication Credentials Invalid")
	errTempAuth     = reply(454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure")
	errTooLong      = reply(552, smtp.EnhancedCode{5, 3, 4}, "Message is too long.")
	errTempFailure  = reply(451, smtp.EnhancedCode{4, 3, 0}, "Temporary service failure")
)

func (s *session) AuthMechanisms() []string { return []string{"PLAIN", "LOGIN"} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		acct, err := s.b.Accounts.AuthSMTP(context.Background(), username, password)
		if errors.Is(err, account.ErrBadCredentials) {
			s.b.Log.Info("SMTP authentication failed", "remote_ip", s.ip, "username", username)
			return errBadCreds
		}
		if err != nil {
			s.b.Log.Error("SMTP authentication", "err", err)
			return errTempAuth
		}
		s.account, s.user = acct, username
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errBadCreds
			}
			return check(username, password)
		}), nil
	case "LOGIN":
		return &loginServer{check: check}, nil
	}
	return nil, reply(504, smtp.EnhancedCode{5, 5, 4}, "Unrecognized authentication type")
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

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.account == "" {
		return errAuthRequired
	}
	a, err := address.ParsePath(from)
	if err != nil {
		return reply(553, smtp.EnhancedCode{5, 1, 7}, "<"+from+"> Invalid email address")
	}
	s.from = &a
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.account == "" {
		return errAuthRequired
	}
	a, err := address.ParsePath(to)
	if err != nil {
		return reply(553, smtp.EnhancedCode{5, 1, 3}, "<"+to+"> address unknown")
	}
	s.rcpts = append(s.rcpts, a)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.account == "" {
		return errAuthRequired
	}
	raw, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return errTooLong
	}
	if err != nil {
		return errTempFailure
	}
	id, err := s.b.Sender.Send(context.Background(), sending.Request{
		Account: s.account, Caller: s.user, SourceIP: s.ip, Operation: "SendRawEmail",
		MailFrom: s.from, Recipients: s.rcpts, Raw: raw,
	})
	if err != nil {
		return s.sendError(err)
	}
	return reply(250, smtp.NoEnhancedCode, "Ok "+id)
}

func (s *session) sendError(err error) error {
	var unv *sending.UnverifiedError
	var rej *sending.RejectedError
	var many *sending.TooManyRecipientsError
	var large *sending.TooLargeError
	switch {
	case errors.As(err, &unv):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: "+unv.Error())
	case errors.As(err, &large):
		return errTooLong
	case errors.As(err, &rej):
		return reply(554, smtp.EnhancedCode{5, 6, 0}, rej.Reason)
	case errors.As(err, &many):
		return reply(452, smtp.EnhancedCode{4, 5, 3}, many.Error())
	case errors.Is(err, sending.ErrSendingPaused):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected: Sending paused for this account.")
	default:
		s.b.Log.Error("accepting SMTP message", "remote_ip", s.ip, "err", err)
		return errTempFailure
	}
}

func (s *session) Reset() {
	s.from = nil
	s.rcpts = nil
}

func (s *session) Logout() error { return nil }
