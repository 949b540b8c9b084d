package template

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailgun/raymond/v2/parser"
)

// BenchmarkParseLongPath: parsing a path costs linear time in its length
// (ns/op grows ten times from 10,000 to 100,000 segments, not a hundred:
// raymond's parser grew PathExpression.Original by concatenation, O(N²)).
// It is raymond's parser alone: Validate refuses such paths
// (MaxPathSegments) after parsing them.
func BenchmarkParseLongPath(b *testing.B) {
	for _, sep := range []string{".", "/"} {
		for _, n := range []int{10_000, 100_000} {
			tpl := "{{" + strings.TrimSuffix(strings.Repeat("a"+sep, n), sep) + "}}"
			b.Run(fmt.Sprintf("sep=%s/segments=%d", sep, n), func(b *testing.B) {
				b.SetBytes(int64(len(tpl)))
				for b.Loop() {
					if _, err := parser.Parse(tpl); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParseLongComment: a comment of N spaces costs linear time
// (raymond's lexer tried its close pattern, which starts with \s*, at each
// position in turn: O(N²)).
func BenchmarkParseLongComment(b *testing.B) {
	for _, open := range []string{"{{! ", "{{!-- "} {
		for _, n := range []int{50_000, 500_000} {
			tpl := open + strings.Repeat(" ", n) + "x}}"
			if open == "{{!-- " {
				tpl = open + strings.Repeat(" ", n) + "x--}}"
			}
			b.Run(fmt.Sprintf("open=%s/spaces=%d", strings.TrimSpace(open), n), func(b *testing.B) {
				b.SetBytes(int64(len(tpl)))
				for b.Loop() {
					if _, err := parser.Parse(tpl); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParseManyComments parses templates of many short {{!-- --}}
// comments: each comment's end is searched only up to that end (searching
// the rest of the template for "--~}}", which it did not hold, made this
// quadratic: 50,000 comments took 1.4 s).
func BenchmarkParseManyComments(b *testing.B) {
	for _, n := range []int{5_000, 50_000} {
		tpl := strings.Repeat("{{!-- --}}", n)
		b.Run(fmt.Sprintf("comments=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(tpl)))
			for b.Loop() {
				if _, err := parser.Parse(tpl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestComments: comments end where they did before lexComment searched
// for the end in one pass.
func TestComments(t *testing.T) {
	for _, c := range []struct{ tpl, want string }{
		{"a{{! x }}b", "ab"},
		{"a{{!}}b", "ab"},
		{"a{{!--}}b", "ab"},
		{"a{{!-- }} --}}b", "ab"},
		{"a{{!-- x --}}b{{! y }}c", "abc"},
		{"a{{! x ~}}  b", "ab"},
		{"a{{!-- x\n\t --~}}\n b", "ab"},
		{"a{{! " + strings.Repeat(" ", 1000) + "}}b", "ab"},
		{"a {{!~ x }}b", "a b"},
	} {
		got, err := Render("T", Content{Text: c.tpl}, `{}`)
		if err != nil || got.Text != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.tpl, got.Text, err, c.want)
		}
	}
	var se *SyntaxError
	for _, tpl := range []string{"a{{! x", "a{{!-- x }}", "{{!-- " + strings.Repeat(" ", 1000)} {
		if err := Validate(Content{Text: tpl}); !errors.As(err, &se) {
			t.Errorf("%q: %v, want *SyntaxError", tpl, err)
		}
	}
}

// TestPathSegmentLimit: a path of more than MaxPathSegments segments, in
// any place a path may stand, is a syntax error (parsing it is linear, but
// every render would walk it); MaxPathSegments are fine.
func TestPathSegmentLimit(t *testing.T) {
	long := func(n int, seg, sep string) string { return strings.TrimSuffix(strings.Repeat(seg+sep, n), sep) }
	want := fmt.Sprintf("a path may have at most %d segments", MaxPathSegments)
	over := MaxPathSegments + 1
	for _, tpl := range []string{
		"{{" + long(over, "a", ".") + "}}",
		"{{" + long(over, "a", "/") + "}}",
		"{{" + strings.Repeat("../", over-1) + "a}}",
		"{{" + strings.Repeat("./", over-1) + "a}}",
		"{{" + strings.Repeat("this/", over-1) + "a}}",
		"{{@root." + long(over-1, "a", ".") + "}}",
		"{{#if " + long(over, "a", ".") + "}}x{{/if}}",
		"{{#each " + long(over, "[a b]", ".") + "}}x{{/each}}",
		"{{#" + long(over, "a", ".") + "}}x{{/" + long(over, "a", ".") + "}}",
		"{{#*inline \"p\"}}{{/inline}}{{> p " + long(over, "a", ".") + "}}",
		"{{#*inline \"p\"}}{{/inline}}{{> p k=" + long(over, "a", ".") + "}}",
		"{{#*inline \"p\"}}{{" + long(over, "a", ".") + "}}{{/inline}}",
	} {
		err := Validate(Content{Text: tpl})
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, want) {
			t.Errorf("%.40q…: got %v, want *SyntaxError %q", tpl, err, want)
		}
	}
	data := `{"a":` + strings.Repeat(`{"a":`, MaxPathSegments-1) + `"deep"` + strings.Repeat("}", MaxPathSegments)
	for _, tpl := range []string{
		"{{" + long(MaxPathSegments, "a", ".") + "}}",
		"{{#with a}}{{" + long(MaxPathSegments-1, "a", ".") + "}}{{/with}}",
	} {
		got, err := Render("T", Content{Text: tpl}, data)
		if err != nil || got.Text != "deep" {
			t.Errorf("%.40q…: got %q, %v; want deep", tpl, got.Text, err)
		}
	}
	for _, tpl := range []string{
		"{{@root." + long(MaxPathSegments-1, "a", ".") + "}}",
		"{{" + strings.Repeat("../", MaxPathSegments-1) + "a}}",
		"{{#each " + long(MaxPathSegments, "a", "/") + "}}{{/each}}",
	} {
		if err := Validate(Content{Text: tpl}); err != nil {
			t.Errorf("%.40q…: %v", tpl, err)
		}
	}
}

// TestStepsCountWork: MaxSteps counts the work done within a statement,
// not only the statements: each of these renders in few statements and
// iterations but does more than MaxSteps of work (path segments walked,
// bytes hashed or counted, array items printed, keys copied), and fails
// with the steps Rendering Failure instead of taking seconds (finding 1 of
// brk17: 125,000 iterations × 990 segments took 3.5 s within a million
// "steps").
func TestStepsCountWork(t *testing.T) {
	zeros := func(n int) string { return strings.TrimSuffix(strings.Repeat("0,", n), ",") }
	deep := `{"xs":[` + zeros(125000) + `],"n":` + strings.Repeat(`{"a":`, 990) + "1" + strings.Repeat("}", 990) + `}`
	path := "@root.n." + strings.TrimSuffix(strings.Repeat("a.", MaxPathSegments-2), ".")
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":0`, i)
	}
	for _, c := range []struct{ name, tpl, data string }{
		{"path segments", strings.Repeat("{{#each xs}}{{"+path+"}}{{/each}}", 3), deep},
		{"path segments in conditions", "{{#each xs}}{{#if " + path + "}}{{/if}}{{/each}}", deep},
		{"long key", "{{#each xs}}{{#if @root.[" + strings.Repeat("k", 5000) + "]}}{{/if}}{{/each}}", `{"xs":[` + zeros(20000) + `]}`},
		{"string length", strings.Repeat("{{s.length}}", 700), `{"s":"` + strings.Repeat("x", 100000) + `"}`},
		{"array items printed", strings.Repeat("{{a}}", 13), `{"a":[` + strings.TrimSuffix(strings.Repeat("[],", 80000), ",") + `]}`},
		{"number parsed", strings.Repeat("{{#if n}}{{/if}}", 7000), `{"n":` + strings.Repeat("1", 10000) + `}`},
		{"partial hash copies the context", "{{#*inline \"p\"}}{{/inline}}{{#with o}}" + strings.Repeat("{{> p x=1}}", 600) + "{{/with}}", `{"o":{` + strings.Join(keys, ",") + `}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Validate(Content{Text: c.tpl}); err != nil {
				t.Fatal(err)
			}
			_, err := Render("T", Content{Text: c.tpl}, c.data)
			var re *RenderError
			want := fmt.Sprintf("The template takes more than %d steps to render.", MaxSteps)
			if !errors.As(err, &re) || re.Message != want {
				t.Fatalf("got %v, want *RenderError %q", err, want)
			}
		})
	}
}

// TestStepsCountKeys: keys hashed per iteration count by their length too
// (an object's long key iterated in a loop, a long block parameter name).
func TestStepsCountKeys(t *testing.T) {
	zeros := strings.TrimSuffix(strings.Repeat("0,", 20000), ",")
	long := strings.Repeat("k", 5000)
	for _, c := range []struct{ name, tpl, data string }{
		{"object key iterated", "{{#each xs}}{{#each @root.o}}{{/each}}{{/each}}", `{"o":{"` + long + `":0},"xs":[` + zeros + `]}`},
		{"block parameter", "{{#each xs as |" + long + "|}}{{/each}}", `{"xs":[` + zeros + `]}`},
		{"with block parameter", strings.Repeat("{{#with a as |"+long+"|}}{{/with}}", 50) + "{{#each xs}}" + strings.Repeat("{{#with @root.a as |"+long+"|}}{{/with}}", 1) + "{{/each}}", `{"a":1,"xs":[` + zeros + `]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render("T", Content{Text: c.tpl}, c.data)
			var re *RenderError
			if !errors.As(err, &re) || !strings.Contains(re.Message, "steps") {
				t.Fatalf("got %v, want the steps *RenderError", err)
			}
		})
	}
}
