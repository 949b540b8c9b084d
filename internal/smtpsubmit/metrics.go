package smtpsubmit

import (
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/metrics"
)

// command counts an SMTP command (metrics.SMTPAuth, SMTPMail, SMTPRcpt,
// SMTPData) begun at start, with the reply code its outcome *err gets.
func (b *Backend) command(name string, start time.Time, err *error) {
	if b.Metrics == nil {
		return
	}
	b.Metrics.SMTPCommand(name, start, replyCode(name, *err))
}

// replyCode is the code go-smtp answers a command's outcome with: the
// SMTPError's own, success's (235 for AUTH, else 250), or go-smtp's for
// any other error (454 for AUTH, 554 for DATA, else 451).
func replyCode(command string, err error) int {
	// go-smtp asserts the type, it does not unwrap.
	se, ok := err.(*smtp.SMTPError)
	switch {
	case ok:
		return se.Code
	case err == nil && command == metrics.SMTPAuth:
		return 235
	case err == nil:
		return 250
	case command == metrics.SMTPAuth:
		return 454
	case command == metrics.SMTPData:
		return 554
	}
	return 451
}
