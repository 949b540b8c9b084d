package admission

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRefusalLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var l RefusalLog
	for range 1000 {
		l.Refused(log, "SMTP refused", "AUTH failed", "remote_ip", "127.0.0.9")
	}
	l.Refused(log, "SMTP refused", "connection limit")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("1001 refusals of 2 causes within %s: want 2 lines, got %d:\n%s", RefusalLogEvery, len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "cause=\"AUTH failed\"") || !strings.Contains(lines[0], "remote_ip=127.0.0.9") ||
		!strings.Contains(lines[1], "cause=\"connection limit\"") {
		t.Fatalf("lines name their cause and details:\n%s", buf.String())
	}
}
