package smtpsubmit

import "fmt"

// errorLog takes go-smtp's own error lines (failed TLS handshakes, broken
// connections: as many as a hostile client cares to cause) into the
// rate-limited log.
type errorLog struct{ b *Backend }

func (e errorLog) Printf(format string, v ...any) {
	e.b.refused("connection error", "err", fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) { e.b.refused("connection error", "err", fmt.Sprint(v...)) }

// refused logs a refusal through the backend's rate-limited refusal log.
func (b *Backend) refused(cause string, args ...any) {
	b.refusals.Refused(b.Log, "SMTP refused", cause, args...)
}
