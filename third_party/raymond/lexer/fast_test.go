package lexer

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestFastPaths: the Petrel patch's shortcuts in lexOpenMustache and
// lexCloseMustache give the tokens the regular expressions give.
func TestFastPaths(t *testing.T) {
	pieces := []string{"{{", "}}", "~", "{", "}", "#", "/", ">", "^", "&", "!", "--", "else", " ", "\t", "\n", "a", ".", "as |x|", "\"s\"", "1", "=", "(", ")", "@", "[b]", "\\", "e", "x"}
	check := func(in string) {
		fastPaths = false
		want := Collect(in)
		fastPaths = true
		got := Collect(in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast %v\nregexp %v", in, got, want)
		}
	}
	for _, in := range []string{"{{a}}", "{{~a~}}", "{{{a}}}", "{{~{a}~}}", "{{#if a}}x{{else}}y{{/if}}", "{{^a}}{{/a}}", "{{else if b}}", "{{ else }}", "{{~ else ~}}", "{{&a}}", "{{>p}}", "{{!c}}", "{{!--c--}}", "{{{{raw}}}}x{{{{/raw}}}}", "{{e}}", "{{elsewhere}}", "{{a}}}", "{{a}~}}", "{{~}}", "{{"} {
		check(in)
	}
	// Every sequence of up to three pieces between mustaches.
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				check("{{" + a + b + c + "}}" + a + "{{" + c + b + "~}}")
				check(strings.Join([]string{a, "{{", b, c, "}}", c}, ""))
			}
		}
	}
}

// TestDashCommentEnd: dashCommentEnd ends a {{!-- comment where the
// leftmost match of the close pattern `--~?\}\}` ends, for every string of
// the pieces that make or spoil a close.
func TestDashCommentEnd(t *testing.T) {
	closeRE := regexp.MustCompile(`--~?\}\}`)
	pieces := []string{"-", "--", "~", "}", "}}", "x", " "}
	var walk func(s string, depth int)
	walk = func(s string, depth int) {
		want := -1
		if m := closeRE.FindStringIndex(s); m != nil {
			want = m[1]
		}
		if got := dashCommentEnd(s); got != want {
			t.Fatalf("dashCommentEnd(%q) = %d, want %d", s, got, want)
		}
		if depth == 0 {
			return
		}
		for _, p := range pieces {
			walk(s+p, depth-1)
		}
	}
	walk("", 6)
}
