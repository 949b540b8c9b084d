package smtpsubmit

import (
	"fmt"
	"strings"
)

// errorLog takes go-smtp's own error lines into the backend's log: a
// recovered panic at Error, every time; anything else (failed TLS
// handshakes, broken connections: as many as a hostile client cares to
// cause) into the rate-limited refusal log.
type errorLog struct{ b *Backend }

func (e errorLog) Printf(format string, v ...any) { e.line(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.line(fmt.Sprint(v...)) }

func (e errorLog) line(s string) {
	if strings.HasPrefix(s, "panic serving") {
		e.b.Log.Error("panic serving an SMTP connection", "err", s)
		return
	}
	e.b.refused("connection error", "err", strings.TrimSpace(s))
}

// refused logs a refusal through the backend's rate-limited refusal log.
func (b *Backend) refused(cause string, args ...any) {
	b.refusals.Refused(b.Log, "SMTP refused", cause, args...)
}
