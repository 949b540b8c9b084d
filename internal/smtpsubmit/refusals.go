package smtpsubmit

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// refusalLog logs refusals by cause, at most once per refusalLogEvery per
// cause, with the number refused since the last line: an attack fills
// neither the disk nor the log, and the operator still sees what is refused
// and why. The zero value is ready.
type refusalLog struct {
	mu     sync.Mutex
	causes map[string]*refusals
}

type refusals struct {
	every  rate.Sometimes
	missed int
}

const refusalLogEvery = 10 * time.Second

// refused counts one refusal for cause (one of a fixed set of strings) and
// logs it if its cause was not logged in the last refusalLogEvery.
func (l *refusalLog) refused(log *slog.Logger, cause string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.causes == nil {
		l.causes = map[string]*refusals{}
	}
	c := l.causes[cause]
	if c == nil {
		c = &refusals{every: rate.Sometimes{First: 1, Interval: refusalLogEvery}}
		l.causes[cause] = c
	}
	c.missed++
	c.every.Do(func() {
		log.Warn("SMTP refused", append([]any{"cause", cause, "refused_since_last_line", c.missed}, args...)...)
		c.missed = 0
	})
}

// errorLog takes go-smtp's own error lines (failed TLS handshakes, broken
// connections: as many as a hostile client cares to cause) into the
// rate-limited log.
type errorLog struct{ b *Backend }

func (e errorLog) Printf(format string, v ...any) {
	e.b.refused("connection error", "err", fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) { e.b.refused("connection error", "err", fmt.Sprint(v...)) }

// refused logs a refusal through the backend's rate-limited refusal log.
func (b *Backend) refused(cause string, args ...any) { b.refusals.refused(b.Log, cause, args...) }
