package lexer

import (
	"reflect"
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
