package template

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	for _, c := range []struct{ name, tpl, data, want string }{
		{"plain", "Hello {{name}}!", `{"name":"Jane"}`, "Hello Jane!"},
		{"nested", "Hi {{contact.firstName}} {{contact.address.city}}", `{"contact":{"firstName":"Ana","address":{"city":"Oslo"}}}`, "Hi Ana Oslo"},
		{"html not escaped", "<p>{{x}}</p>", `{"x":"<b>&amp;\"'</b>"}`, "<p><b>&amp;\"'</b></p>"},
		{"triple stash same", "{{{x}}}{{x}}", `{"x":"<i>"}`, "<i><i>"},
		{"unicode", "Grüße, {{n}} ✓", `{"n":"Zoë 日本 🎉"}`, "Grüße, Zoë 日本 🎉 ✓"},
		{"numbers", "{{a}} {{b}} {{c}} {{d}} {{e}}", `{"a":1,"b":1.50,"c":-0.25,"d":1e3,"e":12345678901234567890}`, "1 1.5 -0.25 1000 12345678901234567000"},
		// JavaScript's String(n) (and so SES's Handlebars): -0 is 0,
		// exponential below 1e-6 and from 1e21 (no leading zero in the
		// exponent), the shortest round-tripping digits, Infinity past the
		// double range.
		{"negative zero", "{{a}} {{b}} {{c}} {{d}}", `{"a":-0,"b":-0.0,"c":-0e5,"d":0.0}`, "0 0 0 0"},
		{"small numbers", "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}", `{"a":0.000001,"b":1e-7,"c":1.5e-7,"d":-1.25e-10,"e":123e-20,"f":5e-324}`, "0.000001 1e-7 1.5e-7 -1.25e-10 1.23e-18 5e-324"},
		{"large numbers", "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}", `{"a":1e20,"b":1e21,"c":-2.5e21,"d":123456789012345680000,"e":1.7976931348623157e308,"f":9007199254740993}`, "100000000000000000000 1e+21 -2.5e+21 123456789012345680000 1.7976931348623157e+308 9007199254740992"},
		{"beyond doubles", "{{a}} {{b}} {{c}} {{d}}", `{"a":1e400,"b":-1e400,"c":1e-400,"d":-1e-400}`, "Infinity -Infinity 0 0"},
		{"fractions", "{{a}} {{b}} {{c}} {{d}}", `{"a":0.1,"b":0.30000000000000004,"c":100.0,"d":-1.5e2}`, "0.1 0.30000000000000004 100 -150"},
		{"negative zero is false", "{{#if a}}t{{else}}f{{/if}}", `{"a":-0}`, "f"},
		{"bools null", "[{{t}}][{{f}}][{{n}}]", `{"t":true,"f":false,"n":null}`, "[true][false][]"},
		{"array and object values", "{{a}}|{{o}}", `{"a":[1,"x",true],"o":{"k":1}}`, "1,x,true|[object Object]"},
		{"each array", "{{#each items}}{{@index}}:{{this}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}};{{/each}}", `{"items":["a","b","c"]}`, "0:a(first);1:b;2:c(last);"},
		{"each objects", "{{#each people}}{{name}}/{{../company}} {{/each}}", `{"company":"ACME","people":[{"name":"A"},{"name":"B"}]}`, "A/ACME B/ACME "},
		{"each object keys in order", "{{#each o}}{{@key}}={{this}},{{/each}}", `{"o":{"z":1,"a":2,"m":3}}`, "z=1,a=2,m=3,"},
		{"each else", "{{#each xs}}x{{else}}none{{/each}}", `{"xs":[]}`, "none"},
		{"each missing is empty", "[{{#each xs}}x{{else}}none{{/each}}]", `{}`, "[none]"},
		{"each block params", "{{#each xs as |x i|}}{{i}}{{x}}{{/each}}", `{"xs":["a","b"]}`, "0a1b"},
		{"each length", "{{xs.length}} {{xs.[1]}}", `{"xs":["a","b"]}`, "2 b"},
		{"if true", "{{#if a}}yes{{else}}no{{/if}}", `{"a":"x"}`, "yes"},
		{"if falsy values", "{{#if a}}1{{/if}}{{#if b}}2{{/if}}{{#if c}}3{{/if}}{{#if d}}4{{/if}}{{#if e}}5{{/if}}{{#if f}}6{{/if}}", `{"a":false,"b":0,"c":"","d":null,"e":[],"f":{}}`, "6"},
		{"if missing is false", "{{#if nope}}yes{{else}}no{{/if}}", `{}`, "no"},
		{"if missing nested is false", "{{#if a.b.c}}yes{{else}}no{{/if}}", `{"a":{}}`, "no"},
		{"else if chain", "{{#if a}}A{{else if b}}B{{else}}C{{/if}}", `{"b":1}`, "B"},
		{"long else if chain is not deep", "{{#if a}}A" + strings.Repeat("{{else if a}}A", 2*MaxDepth) + "{{else}}C{{/if}}", `{}`, "C"},
		{"unless", "{{#unless a}}not{{else}}is{{/unless}}{{#unless b}}!{{/unless}}", `{"a":true}`, "is!"},
		{"with", "{{#with contact}}{{first}} {{last}}{{/with}}", `{"contact":{"first":"A","last":"B"}}`, "A B"},
		{"with missing else", "{{#with contact}}x{{else}}none{{/with}}", `{}`, "none"},
		{"section list", "{{#xs}}<{{this}}>{{/xs}}", `{"xs":[1,2]}`, "<1><2>"},
		{"inverse section", "{{^xs}}empty{{/xs}}", `{"xs":[]}`, "empty"},
		{"root", "{{#each xs}}{{@root.greeting}}{{this}} {{/each}}", `{"greeting":"hi ","xs":["a","b"]}`, "hi a hi b "},
		{"comment and whitespace control", "a {{! note }} b {{~x~}} c {{!-- {{y}} --}}", `{"x":"X"}`, "a  bXc "},
		{"inline partial", "{{#*inline \"greet\"}}Hi {{name}}{{/inline}}{{> greet}}!", `{"name":"Jo"}`, "Hi Jo!"},
		{"inline partial standalone", "{{#*inline \"row\"}}\n<li>{{this}}</li>\n{{/inline}}\n<ul>{{#each xs}}{{> row}}{{/each}}</ul>", `{"xs":["a","b"]}`, "<ul><li>a</li>\n<li>b</li>\n</ul>"},
		{"partial with context and hash", "{{#*inline 'p'}}{{first}}-{{tag}}{{/inline}}{{> p person tag=\"x\"}}", `{"person":{"first":"F"}}`, "F-x"},
		{"bracket segment", "{{[first name]}}", `{"first name":"F"}`, "F"},
		{"this path", "{{#with a}}{{this.b}}{{/with}}", `{"a":{"b":"B"}}`, "B"},
		{"literal", "{{#if true}}t{{/if}}", `{}`, "t"},
		{"null attribute renders empty", "[{{x}}]", `{"x":null}`, "[]"},
		{"no expressions", "static", `{}`, "static"},
		{"unsubscribe placeholder is left for list management", `<a href="{{amazonSESUnsubscribeUrl}}">x</a>{{{amazonSESUnsubscribeUrl}}}`, `{}`, `<a href="{{amazonSESUnsubscribeUrl}}">x</a>{{amazonSESUnsubscribeUrl}}`},
		{"unsubscribe placeholder is not data", "{{#each xs}}{{amazonSESUnsubscribeUrl}}{{/each}}", `{"amazonSESUnsubscribeUrl":"x","xs":[{"amazonSESUnsubscribeUrl":"y"}]}`, "{{amazonSESUnsubscribeUrl}}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Render("T", Content{Subject: c.tpl, Text: c.tpl, HTML: c.tpl}, c.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			// The Subject is one line (SubjectLine).
			if got.Subject != SubjectLine(c.want) || got.Text != c.want || got.HTML != c.want {
				t.Errorf("got %q, want %q", got.HTML, c.want)
			}
		})
	}
}

func TestRenderEmptyPartsStayEmpty(t *testing.T) {
	got, err := Render("T", Content{Subject: "S {{a}}"}, `{"a":"1"}`)
	if err != nil || got != (Content{Subject: "S 1"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestRenderMissingAttribute(t *testing.T) {
	for _, c := range []struct{ name, tpl, data, msg string }{
		{"top level", "Hi {{name}}", `{}`, "Attribute 'name' is not present in the rendering data."},
		{"nested", "{{contact.firstName}}", `{"contact":{}}`, "Attribute 'contact.firstName' is not present in the rendering data."},
		{"case sensitive", "{{Name}}", `{"name":"x"}`, "Attribute 'Name' is not present in the rendering data."},
		{"in each item", "{{#each xs}}{{name}}{{/each}}", `{"xs":[{"name":"a"},{}]}`, "Attribute 'name' is not present in the rendering data."},
		{"in taken if branch", "{{#if a}}{{b}}{{/if}}", `{"a":1}`, "Attribute 'b' is not present in the rendering data."},
		{"no outer lookup", "{{#with a}}{{top}}{{/with}}", `{"a":{},"top":1}`, "Attribute 'top' is not present in the rendering data."},
		{"in partial", "{{#*inline \"p\"}}{{x}}{{/inline}}{{> p}}", `{}`, "Attribute 'x' is not present in the rendering data."},
		{"partial context", "{{#*inline \"p\"}}.{{/inline}}{{> p who}}", `{}`, "Attribute 'who' is not present in the rendering data."},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render("Tpl", Content{HTML: c.tpl}, c.data)
			var re *RenderError
			if !errors.As(err, &re) || re.Message != c.msg || re.TemplateName != "Tpl" {
				t.Fatalf("got %v, want *RenderError %q", err, c.msg)
			}
		})
	}
	// A branch not taken is not evaluated.
	if got, err := Render("T", Content{Text: "{{#if a}}{{b}}{{/if}}ok"}, `{}`); err != nil || got.Text != "ok" {
		t.Fatalf("untaken branch: %q, %v", got.Text, err)
	}
}

func TestRenderData(t *testing.T) {
	for _, data := range []string{``, `[]`, `"x"`, `1`, `null`, `{"a":}`, `{} {}`, `{"a":1`, `{"s":"x"} trailing`, `{"s":"x"}x`, `{"s":"x"} ]]] garbage`, "{\"s\":\"x\"} \x00", `{"s":"x"} 1`, `{"s":"x"}}`, strings.Repeat("[", 2000) + strings.Repeat("]", 2000)} {
		_, err := Render("T", Content{Text: "x"}, data)
		var de *DataError
		if !errors.As(err, &de) {
			t.Errorf("data %.20q: got %v, want *DataError", data, err)
		}
	}
	for _, data := range []string{`{"s":"x"}`, " \t{\"s\":\"x\"}\r\n ", `{}`} {
		if _, err := Render("T", Content{Text: "x"}, data); err != nil {
			t.Errorf("data %q: %v", data, err)
		}
	}
	long := `{"a":"` + strings.Repeat("é", MaxDataLen-8) + `"}` // MaxDataLen characters
	if _, err := Render("T", Content{Text: "{{a}}"}, long); err != nil {
		t.Errorf("data of MaxDataLen characters: %v", err)
	}
	long = `{"a":"` + strings.Repeat("x", MaxDataLen-7) + `"}`
	var de *DataError
	if _, err := Render("T", Content{Text: "x"}, long); !errors.As(err, &de) {
		t.Errorf("data of MaxDataLen+1 characters: %v", err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tpl := range []string{
		"{{#if a}}x", "{{/if}}", "{{name", "{{#each}}x{{/each}}", "{{#if a b}}x{{/if}}",
		"{{helper a}}", "{{#each (lookup a b)}}{{/each}}", "{{> missing}}", "{{#*inline \"p\"}}x",
		"x{{/inline}}", "{{#*inline \"p\"}}a{{/inline}}{{#*inline \"p\"}}b{{/inline}}", "{{> (dyn)}}",
		"{{#*inline \"p\"}}{{#*inline \"q\"}}{{/inline}}{{/inline}}", "{{#foo}}x{{/bar}}",
	} {
		err := Validate(Content{HTML: tpl})
		var se *SyntaxError
		if !errors.As(err, &se) || se.Part != "Html" {
			t.Errorf("%q: got %v, want *SyntaxError in Html", tpl, err)
		}
		_, err = Render("T", Content{HTML: tpl}, `{"a":1}`)
		var re *RenderError
		if !errors.As(err, &re) {
			t.Errorf("%q: Render got %v, want *RenderError", tpl, err)
		}
	}
	if err := Validate(Content{Subject: "{{a}}", Text: "{{#each xs}}{{this}}{{/each}}", HTML: "{{#*inline \"p\"}}x{{/inline}}{{> p}}"}); err != nil {
		t.Errorf("valid content: %v", err)
	}
}

func TestRenderLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy single-goroutine work (seconds under the race detector); make test runs it")
	}
	// A 500 KB template renders whole.
	unit := "<p>Hello {{name}}, here is line {{n}} — ünïcode.</p>\n"
	tpl := strings.Repeat(unit, MaxSize/len(unit))
	start := time.Now()
	got, err := Render("T", Content{HTML: tpl}, `{"name":"Jo","n":7}`)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("<p>Hello Jo, here is line 7 — ünïcode.</p>\n", MaxSize/len(unit))
	if got.HTML != want {
		t.Fatal("500 KB template rendered wrong")
	}
	t.Logf("500 KB template rendered in %v", time.Since(start))
	start = time.Now()
	if again, err := Render("T", Content{HTML: tpl}, `{"name":"Jo","n":7}`); err != nil || again.HTML != want {
		t.Fatalf("second render: %v", err)
	}
	t.Logf("500 KB template rendered again (parse cached) in %v", time.Since(start))
}

func TestRenderLimits(t *testing.T) {
	big := `{"xs":[` + strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("x", 100)+`",`, 2000), ",") + `]}`
	// nested loops over 2000 items each: 2000^3 steps, no output
	deep := "{{#each xs}}{{#each ../xs}}{{#each ../../xs}}"
	for _, c := range []struct{ name, tpl, data, msg string }{
		{"output size", "{{#each xs}}{{#each ../xs}}{{this}}{{/each}}{{/each}}", big, "larger than"},
		{"steps", deep + "{{/each}}{{/each}}{{/each}}", big, "steps"},
		{"recursive partial", "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}", `{}`, "nests"},
		// Standalone (indented) partials render apart before being indented:
		// what the outer ones hold counts too.
		{"indented partials output size", "{{#*inline \"p\"}}\n{{#each xs}}{{#each ../xs}}{{this}}\n{{/each}}{{/each}}\n  {{> q}}\n{{/inline}}{{#*inline \"q\"}}\n{{#each @root.xs}}{{#each @root.xs}}{{this}}\n{{/each}}{{/each}}\n{{/inline}}\n  {{> p}}\n", big, "larger than"},
		{"deep blocks", strings.Repeat("{{#with a}}", 100) + strings.Repeat("{{/with}}", 100), `{"a":{"a":1}}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := Render("T", Content{HTML: c.tpl}, c.data)
			var re *RenderError
			if c.msg == "" {
				// with pushes no deeper than the data: a's a is 1, whose
				// a is absent, so the third with renders nothing.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &re) || !strings.Contains(re.Message, c.msg) {
				t.Fatalf("got %v, want *RenderError containing %q", err, c.msg)
			}
			t.Logf("%s: failed in %v", c.name, time.Since(start))
		})
	}
	deepTpl := strings.Repeat("{{#if a}}", MaxDepth+1) + strings.Repeat("{{/if}}", MaxDepth+1)
	var re *RenderError
	if _, err := Render("T", Content{HTML: deepTpl}, `{"a":1}`); !errors.As(err, &re) {
		t.Fatalf("blocks nested %d deep: %v", MaxDepth+1, err)
	}
}

func FuzzRender(f *testing.F) {
	f.Add("Hello {{name}}", `{"name":"x"}`)
	f.Add("{{#each xs}}{{@index}}{{this}}{{else}}none{{/each}}", `{"xs":[1,2]}`)
	f.Add("{{#*inline \"p\"}}{{a.b}}{{/inline}}{{#if a}}{{> p}}{{/if}}", `{"a":{"b":null}}`)
	f.Add("{{#with o}}{{#each this}}{{@key}}{{/each}}{{/with}}", `{"o":{"k":[]}}`)
	f.Add("{{> p x=1}}{{#*inline 'p'}}{{x}}{{/inline}}", `{}`)
	f.Fuzz(func(t *testing.T, tpl, data string) {
		if len(tpl) > MaxSize {
			return
		}
		got, err := Render("F", Content{Subject: tpl, HTML: tpl}, data)
		if err != nil {
			var re *RenderError
			var de *DataError
			if !errors.As(err, &re) && !errors.As(err, &de) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if got.Subject != SubjectLine(got.HTML) || strings.ContainsAny(got.Subject, "\r\n") {
			t.Fatalf("same template rendered differently: Subject %q, HTML %q (the Subject is HTML made one line)", got.Subject, got.HTML)
		}
		if len(got.Subject)+len(got.HTML) > MaxRenderedSize {
			t.Fatalf("output %d bytes", len(got.HTML))
		}
		if verr := Validate(Content{HTML: tpl}); verr != nil {
			t.Fatalf("rendered but Validate says %v", verr)
		}
	})
}

// BenchmarkRender: a typical transactional template (subject, text and
// HTML with a loop), parsed once (the parse cache) and rendered per
// message, as a bulk send does.
func BenchmarkRender(b *testing.B) {
	c := Content{
		Subject: "Your order {{order.id}}, {{contact.firstName}}",
		Text:    "Hi {{contact.firstName}},\n{{#each order.items}}- {{name}} x{{qty}}: {{price}}\n{{/each}}Total: {{order.total}}\n",
		HTML:    "<h1>Hi {{contact.firstName}}</h1><table>{{#each order.items}}<tr><td>{{name}}</td><td>{{qty}}</td><td>{{price}}</td></tr>{{/each}}</table>{{#if vip}}<p>Thanks for being a VIP</p>{{/if}}",
	}
	data := `{"contact":{"firstName":"Zoë"},"vip":true,"order":{"id":"A-1","total":"42.00","items":[{"name":"pen","qty":2,"price":"1.00"},{"name":"book","qty":1,"price":"40.00"}]}}`
	for b.Loop() {
		if _, err := Render("T", c, data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRenderWithin: a render past the limit it is given stops with
// *OutputLimitError (no room: not a Rendering Failure); within it, or with
// the full MaxRenderedSize, it is Render.
func TestRenderWithin(t *testing.T) {
	c := Content{Subject: "S", Text: "{{#each xs}}{{this}}{{/each}}"}
	data := `{"xs":["aaaa","bbbb","cccc"]}`
	var full *OutputLimitError
	if _, err := RenderWithin("T", c, data, 8); !errors.As(err, &full) || full.Max != 8 {
		t.Fatalf("over the limit: %v, want *OutputLimitError{8}", err)
	}
	for _, max := range []int{13, MaxRenderedSize, MaxRenderedSize + 1} {
		got, err := RenderWithin("T", c, data, max)
		if err != nil || got.Text != "aaaabbbbcccc" {
			t.Fatalf("limit %d: %+v, %v", max, got, err)
		}
	}
	var re *RenderError
	if _, err := RenderWithin("T", Content{Text: "{{missing}}"}, `{}`, 100); !errors.As(err, &re) {
		t.Fatalf("a missing attribute within the limit: %v, want *RenderError", err)
	}
}
