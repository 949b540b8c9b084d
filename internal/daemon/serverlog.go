package daemon

import (
	"fmt"
	"log"
	"log/slog"
	"strings"

	"github.com/petrelmail/petrel/internal/admission"
)

// serverLog takes a library server's own error lines — go-smtp's
// Server.ErrorLog, net/http's Server.ErrorLog, which would otherwise go to
// stderr past the daemon's log — into the component's slog logger: a
// recovered panic at Error, every time; anything else (failed handshakes,
// broken connections, accept errors: as many as a hostile client cares to
// cause) at Warn, at most once per admission.RefusalLogEvery, with the
// number of lines since the last.
type serverLog struct {
	log      *slog.Logger
	refusals admission.RefusalLog
}

// Printf and Println make serverLog a go-smtp Logger.
func (l *serverLog) Printf(format string, v ...any) { l.line(fmt.Sprintf(format, v...)) }
func (l *serverLog) Println(v ...any)               { l.line(fmt.Sprint(v...)) }

// Write takes the lines of a *log.Logger (net/http), one per call.
func (l *serverLog) Write(p []byte) (int, error) {
	l.line(string(p))
	return len(p), nil
}

func (l *serverLog) line(s string) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "panic serving") {
		l.log.Error("panic serving a connection", "err", s)
		return
	}
	l.refusals.Refused(l.log, "server error", "connection error", "err", s)
}

// httpErrorLog is net/http's ErrorLog writing to l.
func httpErrorLog(l *slog.Logger) *log.Logger { return log.New(&serverLog{log: l}, "", 0) }
