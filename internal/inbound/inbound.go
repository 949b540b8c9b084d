// Package inbound is the SMTP receiver for Petrel's return path: the MX of
// the VERP return-path domain, where asynchronous bounces, complaint reports
// and auto-replies arrive.
//
// It accepts mail only for valid VERP addresses (the MAC must verify), so it
// is neither an open relay nor a backscatter source: any other recipient is
// refused at RCPT. Each accepted message is stored with the message and
// recipient its return path names, durably, before the 250; classifying it
// (DSN, ARF, auto-reply) is the bounce-intelligence issue's work and reads
// these rows.
package inbound

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/store"
)

// Backend implements go-smtp's Backend for the return path.
type Backend struct {
	DB         *store.DB
	Batch      *store.Batcher
	Domain     string // the return-path domain
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

type rcpt struct{ addr, messageID, index string }

type session struct {
	b     *Backend
	from  string
	rcpts []rcpt
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	_, domain, _ := strings.Cut(to, "@")
	if !strings.EqualFold(domain, s.b.Domain) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
	}
	id, idx, err := bounce.ParseReturnPath(to, s.b.VERPSecret)
	if err != nil {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	s.rcpts = append(s.rcpts, rcpt{addr: to, messageID: id, index: idx})
	return nil
}

func (s *session) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	err = s.b.Batch.Do(context.Background(), func(tx *sql.Tx) error {
		for _, rc := range s.rcpts {
			if err := s.b.DB.ExecTx(tx, "INSERT INTO inbound_messages (received_ms, mail_from, rcpt, message_id, recipient, body) VALUES (?, ?, ?, ?, ?, ?)",
				now, s.from, rc.addr, rc.messageID, rc.index, body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.b.Log.Error("storing inbound message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
	}
	return nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }
