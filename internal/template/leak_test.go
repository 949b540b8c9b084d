package template

import (
	"runtime"
	"strings"
	"testing"
)

// TestNoGoroutineLeak: a template that fails to parse leaves no goroutine
// behind (upstream raymond's lexer runs in one, sending each token on an
// unbuffered channel: a parser that stops at a syntax error left it
// blocked for ever, holding the template; third_party/raymond's patch).
func TestNoGoroutineLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy single-goroutine work (seconds under the race detector); make test runs it")
	}
	before := runtime.NumGoroutine()
	for i := range 200 {
		bad := strings.Repeat("x {{a}} ", 100) + "{{#if a}}{{/each}}" + strings.Repeat(" {{b}}", i)
		if err := Validate(Content{HTML: bad}); err == nil {
			t.Fatal("invalid template accepted")
		}
	}
	// No goroutine is started at all: the count is exact, no waiting.
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines before, %d after 200 failed parses", before, after)
	}
}
