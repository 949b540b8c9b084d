package main

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// termText makes s safe to print on an operator's terminal: s as it is
// when it is valid UTF-8 of graphic characters and spaces only, else s
// quoted as strconv.QuoteToGraphic does ("\x1b[31m…", "\u202e…", "\t").
// Control characters (ANSI escapes among them), bidi and other format
// characters (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B …), line and paragraph
// separators and invalid bytes would otherwise act on the terminal or
// disguise the text; they come from tenants (causes, addresses, message
// ids) and from remote servers (bounce texts). JSON output needs none of
// this: encoding/json escapes control characters.
func termText(s string) string {
	if !utf8.ValidString(s) {
		return strconv.QuoteToGraphic(s)
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}
