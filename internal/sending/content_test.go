package sending

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/template"
)

// TestMergePairs: SendBulkEmail's replacement tags and headers over the
// defaults.
func TestMergePairs(t *testing.T) {
	base := [][2]string{{"X-Campaign", "spring"}, {"X-Keep", "1"}}
	cases := []struct {
		name     string
		over     [][2]string
		foldCase bool
		want     [][2]string
	}{
		{"none", nil, true, base},
		{"header replaced case-insensitively", [][2]string{{"x-campaign", "autumn"}}, true, [][2]string{{"X-Keep", "1"}, {"x-campaign", "autumn"}}},
		{"tag names are exact", [][2]string{{"x-campaign", "autumn"}}, false, [][2]string{{"X-Campaign", "spring"}, {"X-Keep", "1"}, {"x-campaign", "autumn"}}},
		{"added", [][2]string{{"X-New", "n"}}, true, [][2]string{{"X-Campaign", "spring"}, {"X-Keep", "1"}, {"X-New", "n"}}},
	}
	for _, c := range cases {
		if got := mergePairs(base, c.over, c.foldCase); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestEmptyData: which (replacement) data means "no data" (the default
// data, in a bulk entry): white space only as much as {}.
func TestEmptyData(t *testing.T) {
	for data, want := range map[string]bool{"": true, " ": true, "\n\t ": true, "{}": true, " { } ": true, "{\r\n}": true, "\v": false, "{ \"a\": 1 }": false, `{"a":1}`: false, "[]": false, "null": false, "nope": false} {
		if got := emptyData(data); got != want {
			t.Errorf("emptyData(%q) = %v, want %v", data, got, want)
		}
	}
}

// TestBuildTemplate: inline Template content rendered into the message;
// a rendering failure builds the unrendered template and reports the
// *template.RenderError; bad data is a *ContentError.
func TestBuildTemplate(t *testing.T) {
	to, _ := address.Parse("jo@example.net")
	c := func(subject, data string) *Content {
		return &Content{From: "Me <me@example.com>", To: []address.Address{to},
			Template: &Template{Inline: &template.Content{Subject: subject, Text: "Hello {{name}}"}, Data: data}}
	}
	s := &Sender{}
	raw, failed, err := s.build(context.Background(), account.Account{}, c("Hi {{name}}", `{"name":"Jo"}`), 1)
	if err != nil || failed != nil || !strings.Contains(string(raw), "Subject: Hi Jo\r\n") || !strings.Contains(string(raw), "Hello Jo") {
		t.Fatalf("rendered: %v %v\n%s", err, failed, raw)
	}
	raw, failed, err = s.build(context.Background(), account.Account{}, c("Hi {{name}}", `{}`), 1)
	if err != nil || failed == nil || failed.Message != "Attribute 'name' is not present in the rendering data." || !strings.Contains(string(raw), "Hi {{name}}") {
		t.Fatalf("rendering failure: %v %+v\n%s", err, failed, raw)
	}
	var ce *ContentError
	if _, _, err = s.build(context.Background(), account.Account{}, c("Hi", `[1]`), 1); !errors.As(err, &ce) {
		t.Fatalf("data not an object: %v", err)
	}
	var nf *TemplateNotFoundError
	named := &Content{From: "me@example.com", To: []address.Address{to}, Template: &Template{Name: "Gone"}}
	if _, _, err = s.build(context.Background(), account.Account{}, named, 1); !errors.As(err, &nf) || nf.Error() != "Template Gone does not exist." {
		t.Fatalf("no template service: %v", err)
	}
}

// FuzzBuildTemplate: whatever the template's subject and the data, the
// built message parses, and its Subject is one header field with no line
// break (a rendered value cannot inject header fields).
func FuzzBuildTemplate(f *testing.F) {
	f.Add("Hi {{name}}", `{"name":"Jo"}`)
	f.Add("Hi {{name}}", `{"name":"a\r\nBcc: x@evil.example"}`)
	f.Add("{{#each xs}}{{this}}\n{{/each}}", `{"xs":["a","b"]}`)
	f.Add("{{x", `{}`)
	to, _ := address.Parse("jo@example.net")
	s := &Sender{}
	f.Fuzz(func(t *testing.T, subject, data string) {
		c := &Content{From: "me@example.com", To: []address.Address{to},
			Template: &Template{Inline: &template.Content{Subject: subject, Text: "t"}, Data: data}}
		raw, _, err := s.build(context.Background(), account.Account{}, c, 1)
		if err != nil {
			var ce *ContentError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		m, err := message.Parse(raw)
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%q", err, raw)
		}
		if vs := m.Values("Subject"); len(vs) != 1 || strings.ContainsAny(vs[0], "\r\n") && !strings.Contains(vs[0], "\r\n ") {
			t.Fatalf("Subject fields %q", vs)
		}
		if len(m.Values("Bcc")) != 0 {
			t.Fatalf("a Bcc field was injected: %q", raw)
		}
	})
}

// TestInlineTemplateChecked: inline TemplateContent follows the stored
// templates' rules (template.ValidateContent): over 500 KB or not valid
// syntax, it is a *ContentError at the call, not a Rendering Failure.
func TestInlineTemplateChecked(t *testing.T) {
	to, _ := address.Parse("jo@example.net")
	s := &Sender{}
	for _, c := range []struct {
		name    string
		content template.Content
		want    string // in the error; "" for none
	}{
		{"valid", template.Content{Subject: "Hi {{name}}", Text: "t"}, ""},
		{"unclosed block", template.Content{Subject: "Hi", Text: "{{#if x}}open"}, "Content.Template.TemplateContent: "},
		{"bad expression", template.Content{Subject: "Hi {{name", Text: "t"}, "Content.Template.TemplateContent: "},
		{"over 500 KB", template.Content{Subject: "Hi", Text: strings.Repeat("x", template.MaxSize)}, "Content.Template.TemplateContent: "},
	} {
		_, failed, err := s.build(context.Background(), account.Account{},
			&Content{From: "me@example.com", To: []address.Address{to}, Template: &Template{Inline: &c.content, Data: `{"name":"Jo","x":1}`}}, 1)
		var ce *ContentError
		switch {
		case c.want == "" && (err != nil || failed != nil):
			t.Errorf("%s: %v %v", c.name, err, failed)
		case c.want != "" && (!errors.As(err, &ce) || !strings.HasPrefix(ce.Msg, c.want) || failed != nil):
			t.Errorf("%s: %v (failed %v), want *ContentError %q…", c.name, err, failed, c.want)
		}
	}
}

// TestSimpleCharsets: each part of Simple content is written in its own
// Charset and labelled with it, the Subject as encoded-words in its
// Charset; a character the charset lacks is a *ContentError.
func TestSimpleCharsets(t *testing.T) {
	to, _ := address.Parse("jo@example.net")
	s := &Sender{}
	build := func(subject, text, html Text) ([]byte, error) {
		sm := &Simple{Subject: &subject}
		if text.Data != "" {
			sm.Text = &text
		}
		if html.Data != "" {
			sm.HTML = &html
		}
		raw, _, err := s.build(context.Background(), account.Account{}, &Content{From: "me@example.com", To: []address.Address{to}, Simple: sm}, 1)
		return raw, err
	}
	cases := []struct {
		name                string
		subject, text, html Text
		want                []string // in the raw message
	}{
		{"text and html differ", Text{Data: "plain"}, Text{Data: "café", Charset: "ISO-8859-1"}, Text{Data: "<p>café</p>", Charset: "UTF-8"},
			[]string{"Content-Type: text/plain; charset=ISO-8859-1", "caf=E9", "Content-Type: text/html; charset=UTF-8", "caf=C3=A9"}},
		{"subject in its charset", Text{Data: "Grüße", Charset: "ISO-8859-1"}, Text{Data: "t"}, Text{},
			[]string{"Subject: =?ISO-8859-1?B?R3L832U=?=", "charset=UTF-8"}},
		{"subject in UTF-8", Text{Data: "Grüße"}, Text{Data: "t", Charset: "ISO-8859-1"}, Text{},
			[]string{"Subject: =?UTF-8?B?R3LDvMOfZQ==?=", "text/plain; charset=ISO-8859-1"}},
		{"unknown charset passed through", Text{Data: "s"}, Text{Data: "é", Charset: "x-petrel"}, Text{},
			[]string{"charset=x-petrel", "=C3=A9"}},
	}
	for _, c := range cases {
		b, err := build(c.subject, c.text, c.html)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		raw := string(b)
		for _, w := range c.want {
			if !strings.Contains(raw, w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, raw)
			}
		}
	}
	var ce *ContentError
	if _, err := build(Text{Data: "s"}, Text{Data: "€ ☃", Charset: "ISO-8859-1"}, Text{}); !errors.As(err, &ce) {
		t.Errorf("text the charset cannot hold: %v, want *ContentError", err)
	}
	if _, err := build(Text{Data: "☃", Charset: "ISO-8859-1"}, Text{Data: "t"}, Text{}); !errors.As(err, &ce) {
		t.Errorf("subject the charset cannot hold: %v, want *ContentError", err)
	}
	// A Charset that is no charset name is refused, not cleaned into one (a
	// tester's "x\r\nBcc: inj@evil.test" became charset="xBcc:inj@evil.test").
	for _, cs := range []string{"x\r\nBcc: inj@evil.test", `bogus"; x`, "utf 8", "é", strings.Repeat("a", 41)} {
		for i, parts := range [][3]Text{
			{{Data: "s", Charset: cs}, {Data: "t"}, {}},
			{{Data: "s"}, {Data: "t", Charset: cs}, {}},
			{{Data: "s"}, {Data: "t"}, {Data: "<p>h</p>", Charset: cs}},
		} {
			if _, err := build(parts[0], parts[1], parts[2]); !errors.As(err, &ce) || !strings.Contains(ce.Msg, "is not a charset name") {
				t.Errorf("Charset %q in part %d: %v, want *ContentError", cs, i, err)
			}
		}
	}
}
