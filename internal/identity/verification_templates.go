package identity

// Custom verification email templates (SES v2
// CreateCustomVerificationEmailTemplate and friends, ../shared/spec/ses.md
// §1.2, §9.1), stored per account in custom_verification_templates.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Template is a custom verification email template; members as SES names
// them.
type Template struct {
	Name                  string // TemplateName
	FromEmailAddress      string // a verified identity of the account covers it; no display name
	TemplateSubject       string
	TemplateContent       string // HTML, < MaxTemplateContent bytes
	SuccessRedirectionURL string // http(s) URL the link leads to once verified
	FailureRedirectionURL string // http(s) URL the link leads to when it fails
	Tags                  []Tag
	Created               time.Time
}

// Tag is a template's tag (SES Tag).
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Limits of custom verification templates (SES).
const (
	// MaxTemplates is how many templates an account may have.
	MaxTemplates = 50
	// MaxTemplateContent bounds TemplateContent: the email must be less
	// than 10 MB.
	MaxTemplateContent = 10 << 20
	maxTags            = 50
)

var (
	ErrTemplateExists   = errors.New("custom verification email template already exists")
	ErrTemplateNotFound = errors.New("custom verification email template does not exist")
	ErrTemplateLimit    = errors.New("too many custom verification email templates")
	// ErrInvalidTemplate wraps every refusal of a template's members; the
	// message says which and why.
	ErrInvalidTemplate = errors.New("invalid custom verification email template")
)

func invalidTemplate(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidTemplate, fmt.Sprintf(format, a...))
}

var templateNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckTemplate checks t's members (not whether FromEmailAddress is
// verified: that is the caller's question, Authorizing): Name 1-64
// letters, digits, '_' or '-'; FromEmailAddress one bare address, no
// display name; a subject; content under MaxTemplateContent that
// CheckTemplateContent accepts; two absolute http(s) redirection URLs; at
// most 50 tags with keys of 1-128 and values of 0-256 characters. Errors
// wrap ErrInvalidTemplate.
func CheckTemplate(t Template) error {
	if !templateNameRE.MatchString(t.Name) {
		return invalidTemplate("TemplateName %q: use 1-64 letters, digits, '_' and '-'", t.Name)
	}
	if err := checkFromAddress(t.FromEmailAddress); err != nil {
		return err
	}
	if strings.TrimSpace(t.TemplateSubject) == "" {
		return invalidTemplate("TemplateSubject is required")
	}
	if strings.ContainsAny(t.TemplateSubject, "\r\n") {
		return invalidTemplate("TemplateSubject must be one line")
	}
	if len(t.TemplateContent) >= MaxTemplateContent {
		return invalidTemplate("TemplateContent is %d bytes: it must be less than 10 MB (%d bytes)", len(t.TemplateContent), MaxTemplateContent)
	}
	if err := CheckTemplateContent(t.TemplateContent); err != nil {
		return err
	}
	for _, u := range [][2]string{{"SuccessRedirectionURL", t.SuccessRedirectionURL}, {"FailureRedirectionURL", t.FailureRedirectionURL}} {
		if err := checkRedirect(u[0], u[1]); err != nil {
			return err
		}
	}
	if len(t.Tags) > maxTags {
		return invalidTemplate("Tags: at most %d", maxTags)
	}
	for _, tg := range t.Tags {
		if n := len([]rune(tg.Key)); n < 1 || n > 128 {
			return invalidTemplate("Tags: a Key must have 1-128 characters")
		}
		if len([]rune(tg.Value)) > 256 {
			return invalidTemplate("Tags: a Value must have at most 256 characters")
		}
	}
	return nil
}

// checkFromAddress accepts one bare address ("sender@example.com"), not
// "Name <sender@example.com>" (SES: no display name).
func checkFromAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(s) || strings.ContainsAny(s, "<>") {
		return invalidTemplate("FromEmailAddress %q: give one email address without a display name", s)
	}
	return nil
}

func checkRedirect(member, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 2048 {
		return invalidTemplate("%s %q: give an absolute http:// or https:// URL", member, s)
	}
	return nil
}

// forbiddenElements are HTML elements a template may not contain: they
// run code, load other documents, submit data, or are parsed differently
// by different readers (noscript, xmp, plaintext, foreign SVG and MathML
// content, whose raw-text rules differ from HTML's), which mail clients
// do not honour and SES does not allow in verification email content.
var forbiddenElements = map[string]bool{
	"script": true, "iframe": true, "frame": true, "frameset": true, "object": true, "embed": true, "applet": true,
	"form": true, "input": true, "button": true, "textarea": true, "select": true, "isindex": true, "base": true, "link": true,
	"noscript": true, "noembed": true, "noframes": true, "xmp": true, "plaintext": true, "svg": true, "math": true, "portal": true,
}

// urlAttributes are the attributes whose value a reader dereferences as
// one URL; checkURL checks them.
var urlAttributes = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "xlink:href": true, "background": true, "poster": true,
	"cite": true, "longdesc": true, "usemap": true, "lowsrc": true, "dynsrc": true, "codebase": true, "data": true,
	"classid": true, "archive": true, "profile": true, "manifest": true, "icon": true, "xml:base": true, "datasrc": true,
}

// urlListAttributes hold several URLs, separated by white space (ping)
// or by commas with descriptors (srcset, imagesrcset).
var urlListAttributes = map[string]bool{"srcset": true, "imagesrcset": true, "ping": true}

// dataImageAttributes may also hold a data: URL of a raster image.
var dataImageAttributes = map[string]bool{"src": true, "background": true, "poster": true, "srcset": true}

// metaHTTPEquiv are the <meta http-equiv> values a template may carry;
// refresh, set-cookie, content-security-policy and the rest are refused.
var metaHTTPEquiv = map[string]bool{"content-type": true, "x-ua-compatible": true, "content-language": true}

// scriptSchemes are refused at the start of any attribute value, URL
// attribute or not.
var scriptSchemes = []string{"javascript:", "vbscript:", "livescript:", "mocha:"}

// CheckTemplateContent checks a template's HTML as a browser reads it,
// with golang.org/x/net/html: it must not be empty; it must end cleanly
// (not inside a tag, comment, doctype, <style> or <title>, where content
// appended to it would be swallowed); it may not contain the elements in
// forbiddenElements, a <meta http-equiv> other than metaHTTPEquiv,
// event-handler attributes (on…), URLs (attribute values unescaped, ASCII
// control characters removed, spaces trimmed) other than http, https,
// mailto, cid, relative ones and, where images load, data: URLs of PNG,
// GIF, JPEG or WebP images, nor CSS (<style>, style=) with @import,
// expression(, behavior, -moz-binding, script schemes or url() of a
// refused scheme. Comments are checked as HTML too (Outlook's conditional
// comments are read as markup). Both the token stream and the parsed tree
// (html.Parse) are checked. Errors wrap ErrInvalidTemplate, naming the
// first offence.
func CheckTemplateContent(content string) error {
	if strings.TrimSpace(content) == "" {
		return invalidTemplate("TemplateContent is required")
	}
	return checkHTML(content, true, 0)
}

// maxCommentDepth bounds the recursion into comments' text.
const maxCommentDepth = 4

// checkHTML checks content token by token and then its parsed tree;
// whole says that content is the whole template, which must then end
// cleanly (a comment's text need not: "<!--[if mso]><table><![endif]-->").
func checkHTML(content string, whole bool, depth int) error {
	z := html.NewTokenizer(strings.NewReader(content))
	consumed := 0
	open := "" // the raw-text element (style, title) the tokenizer is inside
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				return invalidTemplate("TemplateContent: %v", z.Err())
			}
			break
		}
		raw := z.Raw()
		consumed += len(raw)
		switch tt {
		case html.CommentToken:
			if whole && !commentClosed(raw) {
				return invalidTemplate("TemplateContent ends inside a comment: close it with -->")
			}
			if text := z.Text(); bytes.IndexByte(text, '<') >= 0 { // else no markup to read
				if depth >= maxCommentDepth {
					return invalidTemplate("TemplateContent: comments nested too deeply")
				}
				if err := checkHTML(string(text), false, depth+1); err != nil {
					return err
				}
			}
		case html.DoctypeToken:
			if whole && !bytes.HasSuffix(raw, []byte(">")) {
				return invalidTemplate("TemplateContent ends inside a <!DOCTYPE>: close it with >")
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			var attrs []html.Attribute
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				attrs = append(attrs, html.Attribute{Key: string(k), Val: string(v)})
			}
			if err := checkElement(string(name), attrs); err != nil {
				return err
			}
			if string(name) == "style" || string(name) == "title" { // raw text even as <style/>
				open = string(name)
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == open {
				open = ""
			}
		case html.TextToken:
			if open == "style" {
				if err := checkCSS(string(z.Text()), "<style>"); err != nil {
					return err
				}
			}
		}
	}
	if whole && consumed != len(content) {
		return invalidTemplate("TemplateContent ends inside a tag (%q): close it with >", tail(content[consumed:]))
	}
	if whole && open != "" {
		return invalidTemplate("TemplateContent ends inside <%s>: close it with </%s>", open, open)
	}
	doc, err := html.Parse(strings.NewReader(content))
	if err != nil {
		return invalidTemplate("TemplateContent: %v", err)
	}
	for n := range doc.Descendants() { // comments: checked as tokens above
		if n.Type == html.ElementNode {
			if err := checkElement(n.Data, n.Attr); err != nil {
				return err
			}
			if n.Data == "style" {
				for c := range n.ChildNodes() {
					if err := checkCSS(c.Data, "<style>"); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// commentClosed reports whether the raw comment token was closed rather
// than cut by the end of the input: "<!--…-->", "<!--…--!>", "<!-->",
// or a bogus comment ("<?…>", "<!x…>", "</1…>") ending with '>'.
func commentClosed(raw []byte) bool {
	s := string(raw)
	if strings.HasPrefix(s, "<!--") {
		return strings.HasSuffix(s, "-->") || strings.HasSuffix(s, "--!>") || s == "<!-->"
	}
	return strings.HasSuffix(s, ">")
}

// tail is the start of s, for an error message.
func tail(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkElement checks one element: its name and its attributes (names
// lower case, values unescaped).
func checkElement(name string, attrs []html.Attribute) error {
	name = strings.ToLower(name)
	if forbiddenElements[name] {
		return invalidTemplate("TemplateContent may not contain <%s> elements", name)
	}
	for _, a := range attrs {
		k := strings.ToLower(a.Key)
		if a.Namespace != "" {
			k = a.Namespace + ":" + k
		}
		switch {
		case strings.HasPrefix(k, "on"):
			return invalidTemplate("TemplateContent may not contain event-handler attributes (<%s %s>)", name, k)
		case name == "meta" && k == "http-equiv" && !metaHTTPEquiv[strings.ToLower(strings.TrimSpace(a.Val))]:
			return invalidTemplate("TemplateContent may not contain <meta http-equiv=%q>", a.Val)
		case k == "style":
			if err := checkCSS(a.Val, "style="); err != nil {
				return err
			}
		case urlAttributes[k]:
			if err := checkURL(a.Val, name, k); err != nil {
				return err
			}
		case urlListAttributes[k]:
			for _, f := range strings.Fields(a.Val) {
				f = strings.Trim(f, ",")
				if f == "" || srcsetDescriptorRE.MatchString(f) {
					continue
				}
				if err := checkURL(f, name, k); err != nil {
					return err
				}
			}
		default:
			if s := scriptScheme(a.Val); s != "" {
				return invalidTemplate("TemplateContent may not contain %s URLs (<%s %s>)", s, name, k)
			}
		}
	}
	return nil
}

var srcsetDescriptorRE = regexp.MustCompile(`^[0-9.]+[wxh]$`)

// stripURL is a URL attribute's value as a browser's URL parser reads it,
// and more: every ASCII control character removed (browsers remove tab,
// CR and LF anywhere), spaces trimmed.
func stripURL(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
	return strings.Trim(v, " ")
}

// scriptScheme is the script scheme v starts with once stripped
// (javascript:, …), or "".
func scriptScheme(v string) string {
	v = strings.ToLower(strings.ReplaceAll(stripURL(v), " ", ""))
	for _, s := range scriptSchemes {
		if strings.HasPrefix(v, s) {
			return s
		}
	}
	return ""
}

var dataImageRE = regexp.MustCompile(`(?i)^data:image/(png|gif|jpeg|jpg|webp)(;base64)?,`)

// checkURL checks the URL v of attribute attr of element (or "url()" of
// CSS): after stripURL, a relative URL (no scheme: nothing before a ':'
// that comes before any '/', '?' or '#') or an http, https, mailto or cid
// one; data: URLs of raster images where images load.
func checkURL(v, element, attr string) error {
	u := stripURL(v)
	i := strings.IndexAny(u, ":/?#")
	if i < 0 || u[i] != ':' {
		return nil
	}
	switch scheme := strings.ToLower(u[:i]); scheme {
	case "http", "https", "mailto", "cid":
		return nil
	case "data":
		if (dataImageAttributes[attr] || attr == "url()") && dataImageRE.MatchString(u) {
			return nil
		}
		return invalidTemplate("TemplateContent: <%s %s> may only hold data: URLs of PNG, GIF, JPEG or WebP images", element, attr)
	default:
		return invalidTemplate("TemplateContent may not contain %q URLs (<%s %s>): use http, https, mailto, cid or a relative URL", scheme+":", element, attr)
	}
}

var cssEscapeRE = regexp.MustCompile(`\\([0-9a-fA-F]{1,6}[ \t\n\r\f]?|\r\n|[\s\S])`)
var cssCommentRE = regexp.MustCompile(`/\*[\s\S]*?(\*/|$)`)

// unescapeCSS resolves CSS escapes (\75 rl, \u, an escaped newline).
func unescapeCSS(css string) string {
	return cssEscapeRE.ReplaceAllStringFunc(css, func(m string) string {
		e := strings.TrimRight(m[1:], " \t\n\r\f")
		if e == "" {
			if len(m) > 1 && strings.ContainsAny(m[1:], "\n\r\f") {
				return "" // an escaped newline continues a string
			}
			return m[1:]
		}
		if n, err := strconv.ParseUint(e, 16, 32); err == nil && len(e) <= 6 && strings.Trim(e, "0123456789abcdefABCDEF") == "" {
			if n == 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff) {
				return "\ufffd"
			}
			return string(rune(n))
		}
		return e
	})
}

// maxCSSURL is how much of a url()'s argument checkCSS reads: enough for
// any scheme.
const maxCSSURL = 4096

// checkCSS checks the CSS of a <style> element or a style= attribute
// (where): escapes resolved, and read both with and without its comments
// (a comment splits a token or hides one, depending on the reader), it may
// not contain @import, expression(, behavior, -moz-binding or a script
// scheme, and each url() must pass checkURL.
func checkCSS(css, where string) error {
	un := unescapeCSS(css)
	squash := func(s string) string {
		return strings.ToLower(strings.Map(func(r rune) rune {
			if r <= ' ' || r == 0x7f {
				return -1
			}
			return r
		}, s))
	}
	for _, v := range []string{squash(un), squash(cssCommentRE.ReplaceAllString(un, "")), squash(cssCommentRE.ReplaceAllString(css, ""))} {
		for _, bad := range []string{"@import", "expression(", "behavior:", "-moz-binding"} {
			if strings.Contains(v, bad) {
				return invalidTemplate("TemplateContent: %s may not contain %s", where, strings.TrimSuffix(bad, ":"))
			}
		}
		for _, s := range scriptSchemes {
			if strings.Contains(v, s) {
				return invalidTemplate("TemplateContent may not contain %s URLs (in %s)", s, where)
			}
		}
		for rest := v; ; {
			i := strings.Index(rest, "url(")
			if i < 0 {
				break
			}
			rest = rest[i+4:]
			arg, long := rest, false
			if len(arg) > maxCSSURL { // bounds the work per url(, which may never close
				arg, long = arg[:maxCSSURL], true
			}
			if arg != "" && (arg[0] == '"' || arg[0] == '\'') {
				if j := strings.IndexByte(arg[1:], arg[0]); j >= 0 {
					arg = arg[1 : j+1]
				} else {
					arg = arg[1:]
				}
			} else if j := strings.IndexByte(arg, ')'); j >= 0 {
				arg = arg[:j]
			}
			if long && !strings.ContainsAny(arg, ":/?#)") {
				return invalidTemplate("TemplateContent: a url() in %s is over %d bytes long", where, maxCSSURL)
			}
			if err := checkURL(arg, where, "url()"); err != nil {
				return err
			}
		}
	}
	return nil
}

// withLink is content (checked by CheckTemplateContent) parsed as a
// browser parses it, with <p><a href=link>link</a></p><p
// style="font-size:small">disclaimer</p> appended to its <body> as nodes,
// and serialised again: the link cannot merge into an unterminated tag,
// comment or attribute of the template, whatever it ends with. The result
// is checked again, so what is sent is what CheckTemplateContent accepts.
func withLink(content, link, disclaimer string) (string, error) {
	doc, err := html.Parse(strings.NewReader(content))
	if err != nil {
		return "", invalidTemplate("TemplateContent: %v", err)
	}
	var body *html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.DataAtom == atom.Body {
			body = n
			break
		}
	}
	if body == nil {
		return "", invalidTemplate("TemplateContent has no body to put the link in")
	}
	a := &html.Node{Type: html.ElementNode, Data: "a", DataAtom: atom.A, Attr: []html.Attribute{{Key: "href", Val: link}}}
	a.AppendChild(&html.Node{Type: html.TextNode, Data: link})
	p := &html.Node{Type: html.ElementNode, Data: "p", DataAtom: atom.P}
	p.AppendChild(a)
	small := &html.Node{Type: html.ElementNode, Data: "p", DataAtom: atom.P, Attr: []html.Attribute{{Key: "style", Val: "font-size:small"}}}
	small.AppendChild(&html.Node{Type: html.TextNode, Data: disclaimer})
	body.AppendChild(p)
	body.AppendChild(small)
	var b strings.Builder
	if err := html.Render(&b, doc); err != nil {
		return "", err
	}
	if err := CheckTemplateContent(b.String()); err != nil {
		return "", fmt.Errorf("the verification email's HTML, once serialised: %w", err)
	}
	return b.String(), nil
}

// CreateTemplate stores account's new template t (checked with
// CheckTemplate). Errors: ErrInvalidTemplate, ErrTemplateExists,
// ErrTemplateLimit (MaxTemplates).
func (s *Service) CreateTemplate(ctx context.Context, account string, t Template) error {
	if err := CheckTemplate(t); err != nil {
		return err
	}
	tags, err := json.Marshal(nonNilTags(t.Tags))
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n, same int
		if err := tx.QueryRow(s.db.Rebind("SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM custom_verification_templates WHERE account = ?"),
			t.Name, account).Scan(&n, &same); err != nil {
			return err
		}
		if same > 0 {
			return fmt.Errorf("%s: %w", t.Name, ErrTemplateExists)
		}
		if n >= MaxTemplates {
			return fmt.Errorf("%w: an account may have %d", ErrTemplateLimit, MaxTemplates)
		}
		return s.db.ExecTx(tx, `INSERT INTO custom_verification_templates (account, name, from_address, subject, content, success_url, failure_url, tags, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, account, t.Name, t.FromEmailAddress, t.TemplateSubject, t.TemplateContent,
			t.SuccessRedirectionURL, t.FailureRedirectionURL, string(tags), time.Now().UnixMilli())
	})
}

// UpdateTemplate replaces every member of account's template t.Name but
// its tags. Errors: ErrInvalidTemplate, ErrTemplateNotFound.
func (s *Service) UpdateTemplate(ctx context.Context, account string, t Template) error {
	if err := CheckTemplate(t); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE custom_verification_templates SET from_address = ?, subject = ?, content = ?,
		success_url = ?, failure_url = ? WHERE account = ? AND name = ?`), t.FromEmailAddress, t.TemplateSubject, t.TemplateContent,
		t.SuccessRedirectionURL, t.FailureRedirectionURL, account, t.Name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", t.Name, ErrTemplateNotFound)
	}
	return nil
}

// GetTemplate returns account's template name. Errors: ErrTemplateNotFound.
func (s *Service) GetTemplate(ctx context.Context, account, name string) (Template, error) {
	row := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT name, from_address, subject, content, success_url, failure_url, tags, created_ms
		FROM custom_verification_templates WHERE account = ? AND name = ?`), account, name)
	t, err := scanTemplate(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%s: %w", name, ErrTemplateNotFound)
	}
	return t, err
}

// ListTemplates returns up to limit of account's templates whose names
// sort after `after`, in name order, without their content.
func (s *Service) ListTemplates(ctx context.Context, account, after string, limit int) ([]Template, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT name, from_address, subject, '', success_url, failure_url, tags, created_ms
		FROM custom_verification_templates WHERE account = ? AND name > ? ORDER BY name LIMIT ?`), account, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteTemplate deletes account's template name; links already sent
// from it keep working. Errors: ErrTemplateNotFound.
func (s *Service) DeleteTemplate(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM custom_verification_templates WHERE account = ? AND name = ?"), account, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, ErrTemplateNotFound)
	}
	return nil
}

func scanTemplate(r scanner, withContent bool) (Template, error) {
	var t Template
	var tags string
	var created int64
	if err := r.Scan(&t.Name, &t.FromEmailAddress, &t.TemplateSubject, &t.TemplateContent, &t.SuccessRedirectionURL,
		&t.FailureRedirectionURL, &tags, &created); err != nil {
		return t, err
	}
	t.Created = time.UnixMilli(created)
	if withContent {
		if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
			return t, fmt.Errorf("template %s: tags: %w", t.Name, err)
		}
	}
	t.Tags = nonNilTags(t.Tags)
	return t, nil
}

func nonNilTags(t []Tag) []Tag {
	if t == nil {
		return []Tag{}
	}
	return t
}
