package admission

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RefusalLogEvery is how often a RefusalLog writes a line per cause at most.
const RefusalLogEvery = 10 * time.Second

// RefusalLog logs what a listener refuses, by cause, at most once per
// RefusalLogEvery per cause, with the number refused since the last line:
// an attack fills neither the disk nor the log, and the operator still sees
// what is refused and why. The zero value is ready; it is safe for
// concurrent use.
type RefusalLog struct {
	mu     sync.Mutex
	causes map[string]*refusals
}

type refusals struct {
	every  rate.Sometimes
	missed int
}

// Refused counts one refusal for cause (one of a fixed set of strings, so
// the map stays small) and, when that cause was not logged in the last
// RefusalLogEvery, writes msg at warning level with the cause, the count
// since the last line, and args.
func (l *RefusalLog) Refused(log *slog.Logger, msg, cause string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.causes == nil {
		l.causes = map[string]*refusals{}
	}
	c := l.causes[cause]
	if c == nil {
		c = &refusals{every: rate.Sometimes{First: 1, Interval: RefusalLogEvery}}
		l.causes[cause] = c
	}
	c.missed++
	c.every.Do(func() {
		log.Warn(msg, append([]any{"cause", cause, "refused_since_last_line", c.missed}, args...)...)
		c.missed = 0
	})
}
