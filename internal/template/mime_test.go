package template

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRenderMIME: the message TestRenderEmailTemplate returns, against
// golden files (the random MIME boundary replaced).
func TestRenderMIME(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	boundary := regexp.MustCompile(`[0-9a-f]{20,}`)
	for _, c := range []struct {
		name string
		c    Content
		data string // "": Jane and her alligator
	}{
		{"both", Content{Subject: "Greetings, {{name}}! ✓", Text: "Dear {{name}},\r\nYour favorite animal is {{animal}}.", HTML: "<h1>Hello {{name}},</h1><p>Your favorite animal is {{animal}}.</p>"}, ""},
		{"html", Content{Subject: "Hi", HTML: "<p>{{name}}</p>"}, ""},
		{"text", Content{Text: "{{name}}"}, ""},
		// Line breaks from the data become spaces in the Subject, as a send
		// delivers it (SubjectLine), not CR LF inside an encoded-word.
		{"subject_breaks", Content{Subject: "S {{s}}", Text: "t"}, `{"s":"a\r\nBcc: evil@x.com\rCc: c@x.com\nX: \u0000y ✓"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.data == "" {
				c.data = `{"name":"Jane","animal":"alligator"}`
			}
			got, err := RenderMIME("T", c.c, c.data, now)
			if err != nil {
				t.Fatal(err)
			}
			got = boundary.ReplaceAllString(got, "BOUNDARY")
			file := filepath.Join("testdata", "render_"+c.name+".eml")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	if _, err := RenderMIME("T", Content{Text: "{{x}}"}, `{}`, now); err == nil {
		t.Error("missing attribute rendered")
	}
}
