package parser

import "testing"

// TestTrimCloseComment: trimCloseComment is rCloseComment.ReplaceAllString
// (Petrel patch).
func TestTrimCloseComment(t *testing.T) {
	for _, s := range []string{"", "}}", "x}}", "x-}}", "x--}}", "x---}}", "x~}}", "x-~}}", "x--~}}", "x---~}}", "x~~}}", "x}", "x}}}", "-}}", "--", "~}}x", " -- ~}}", "x\n--}}"} {
		if got, want := trimCloseComment(s), rCloseComment.ReplaceAllString(s, ""); got != want {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	}
}
