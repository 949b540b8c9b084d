package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/petrelmail/petrel/internal/store"
)

func goodTemplate(name string) Template {
	return Template{Name: name, FromEmailAddress: "hello@brand.test", TemplateSubject: "Please confirm",
		TemplateContent: "<html><body><p>Hi</p></body></html>", SuccessRedirectionURL: "https://brand.test/ok",
		FailureRedirectionURL: "https://brand.test/fail"}
}

// CheckTemplate refuses each member SES would, naming it.
func TestCheckTemplate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Template)
		bad    string // a word of the error; "" = accepted
	}{
		{"good", func(*Template) {}, ""},
		{"name with space", func(t *Template) { t.Name = "a b" }, "TemplateName"},
		{"name too long", func(t *Template) { t.Name = strings.Repeat("a", 65) }, "TemplateName"},
		{"display name", func(t *Template) { t.FromEmailAddress = "Brand <hello@brand.test>" }, "FromEmailAddress"},
		{"no address", func(t *Template) { t.FromEmailAddress = "brand" }, "FromEmailAddress"},
		{"empty subject", func(t *Template) { t.TemplateSubject = " " }, "TemplateSubject"},
		{"subject with newline", func(t *Template) { t.TemplateSubject = "a\r\nBcc: x@y.test" }, "TemplateSubject"},
		{"empty content", func(t *Template) { t.TemplateContent = "" }, "TemplateContent"},
		{"10 MB content", func(t *Template) { t.TemplateContent = strings.Repeat("a", MaxTemplateContent) }, "10 MB"},
		{"just under 10 MB", func(t *Template) { t.TemplateContent = strings.Repeat("a", MaxTemplateContent-1) }, ""},
		{"script", func(t *Template) { t.TemplateContent = "<p>x</p><SCRIPT>alert(1)</SCRIPT>" }, "<script>"},
		{"iframe", func(t *Template) { t.TemplateContent = "<iframe src=x></iframe>" }, "<iframe>"},
		{"form", func(t *Template) { t.TemplateContent = "<form action=x><input></form>" }, "<form>"},
		{"event handler", func(t *Template) { t.TemplateContent = `<img src="x" onerror="alert(1)">` }, "event-handler"},
		{"javascript url", func(t *Template) { t.TemplateContent = `<a href=" JavaScript:alert(1)">x</a>` }, "javascript:"},
		{"images and links", func(t *Template) {
			t.TemplateContent = `<html><head><title>x</title><style>p{color:red}</style></head><body><img src="https://brand.test/logo.png"><a href="https://brand.test">x</a></body></html>`
		}, ""},
		{"ftp redirect", func(t *Template) { t.SuccessRedirectionURL = "ftp://brand.test/" }, "SuccessRedirectionURL"},
		{"relative redirect", func(t *Template) { t.FailureRedirectionURL = "/fail" }, "FailureRedirectionURL"},
		{"tag key empty", func(t *Template) { t.Tags = []Tag{{Key: "", Value: "v"}} }, "Key"},
		{"tag value long", func(t *Template) { t.Tags = []Tag{{Key: "k", Value: strings.Repeat("v", 257)}} }, "Value"},
	}
	for _, c := range cases {
		tm := goodTemplate("welcome")
		c.change(&tm)
		err := CheckTemplate(tm)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.bad != "" && (!errors.Is(err, ErrInvalidTemplate) || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: error %v; want ErrInvalidTemplate naming %q", c.name, err, c.bad)
		}
	}
}

// Templates are per account: created once per name, at most 50, listed
// in name order a page at a time, updated, deleted.
func TestTemplates(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := newVerifierEnv(t, backend)
			s, ctx := e.s, t.Context()
			tm := goodTemplate("welcome")
			tm.Tags = []Tag{{Key: "team", Value: "growth"}}
			if err := s.CreateTemplate(ctx, "a", tm); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTemplate(ctx, "a", tm); !errors.Is(err, ErrTemplateExists) {
				t.Fatalf("duplicate: %v", err)
			}
			if err := s.CreateTemplate(ctx, "b", tm); err != nil {
				t.Fatalf("the same name in another account: %v", err)
			}
			got, err := s.GetTemplate(ctx, "a", "welcome")
			if err != nil || got.TemplateContent != tm.TemplateContent || len(got.Tags) != 1 || got.Tags[0] != tm.Tags[0] {
				t.Fatalf("GetTemplate = %+v, %v", got, err)
			}
			if _, err := s.GetTemplate(ctx, "a", "nope"); !errors.Is(err, ErrTemplateNotFound) {
				t.Fatalf("GetTemplate(nope) = %v", err)
			}
			for i := 1; i < MaxTemplates; i++ {
				if err := s.CreateTemplate(ctx, "a", goodTemplate(fmt.Sprintf("t%02d", i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateTemplate(ctx, "a", goodTemplate("one-more")); !errors.Is(err, ErrTemplateLimit) {
				t.Fatalf("template %d: %v", MaxTemplates+1, err)
			}
			page, err := s.ListTemplates(ctx, "a", "t10", 5)
			if err != nil || len(page) != 5 || page[0].Name != "t11" || page[4].Name != "t15" || page[0].TemplateContent != "" {
				t.Fatalf("ListTemplates = %+v, %v", page, err)
			}
			tm.TemplateSubject = "Confirm, please"
			if err := s.UpdateTemplate(ctx, "a", tm); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.GetTemplate(ctx, "a", "welcome"); got.TemplateSubject != "Confirm, please" || len(got.Tags) != 1 {
				t.Fatalf("after update: %+v", got)
			}
			if err := s.UpdateTemplate(ctx, "a", goodTemplate("nope")); !errors.Is(err, ErrTemplateNotFound) {
				t.Fatalf("UpdateTemplate(nope) = %v", err)
			}
			if err := s.DeleteTemplate(ctx, "a", "welcome"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteTemplate(ctx, "a", "welcome"); !errors.Is(err, ErrTemplateNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if err := s.CreateTemplate(ctx, "a", goodTemplate("after-delete")); err != nil {
				t.Fatalf("room after a delete: %v", err)
			}
		})
	}
}

// CheckTemplateContent tokenises any input without panicking, and what
// it accepts parses (as a browser would, html.Parse) into a document with
// no forbidden element and no event-handler attribute.
func FuzzCheckTemplateContent(f *testing.F) {
	for _, s := range []string{"<p>x</p>", "<script>x</script>", "<scr<script>ipt>", "<a href='javascript:x'>", "<!-- <script> -->",
		"<img/onerror=x>", "<svg><script>x</script></svg>", "\x00<", "<p", "<title><script></title>", "<textarea><script></textarea>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckTemplateContent(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTemplate) {
				t.Fatalf("error not ErrInvalidTemplate: %v", err)
			}
			return
		}
		doc, err := html.Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			if forbiddenElements[n.Data] {
				t.Fatalf("accepted %q: it has a <%s> element", s, n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Fatalf("accepted %q: <%s %s>", s, n.Data, a.Key)
				}
			}
		}
	})
}
