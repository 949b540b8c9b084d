package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/parser"

	"github.com/petrelmail/petrel/internal/message"
)

// Rendering limits. A template or data that reaches one fails with a
// *RenderError, so no template and data can hang a sender or exhaust its
// memory.
const (
	// MaxDataLen is the longest TemplateData, in characters (SES).
	MaxDataLen = 262144
	// MaxRenderedSize is the most the three rendered parts may hold
	// together, in bytes: a quarter of SES's 40 MB message limit, leaving
	// room for the MIME encoding (base64 adds a third) and attachments.
	MaxRenderedSize = 10 << 20
	// MaxDepth is how deeply blocks and partials may nest while rendering
	// (a partial including itself reaches it).
	MaxDepth = 64
	// MaxSteps is how much work one Render may do, in steps: each
	// template statement evaluated (an {{#each}} counts its body's
	// statements again for each iteration) and each iteration, and within
	// a statement each path segment looked up (a key, an index, @root, each
	// level of ../ or @../ climbed, each block parameter scope searched,
	// each key of an object {{#each}} iterates, each block parameter set),
	// each array item printed, each key a partial's hash copies, each line
	// an indented partial indents, plus a step for every stepBytes bytes of
	// a key, string or number that is hashed, compared, counted or parsed.
	// It bounds the time of nested loops and long paths that produce little
	// output.
	MaxSteps = 1_000_000
	// MaxPathSegments is how many segments (names, "..", ".", "this",
	// separated by "." or "/") one path in a template may have; a longer
	// path is a *SyntaxError.
	MaxPathSegments = 128
)

// stepBytes is how many bytes of a key, string or number one step pays
// for (see MaxSteps).
const stepBytes = 64

// RenderError is a template that cannot be rendered with the data: SES's
// Rendering Failure (errorMessage e.g. "Attribute 'name' is not present in
// the rendering data."). At send time the message is accepted and a
// Rendering Failure event recorded; TestRenderEmailTemplate answers
// BadRequestException with Message. Attribute is the attribute missing
// from the data when that is why ("" otherwise): SES v1's
// MissingRenderingAttribute.
type RenderError struct{ TemplateName, Message, Attribute string }

func (e *RenderError) Error() string { return e.Message }

// DataError is TemplateData that is not a JSON object or is longer than
// MaxDataLen characters: BadRequestException at the call.
type DataError struct{ Msg string }

func (e *DataError) Error() string { return e.Msg }

// SyntaxError is template content that does not parse as the Handlebars
// Petrel supports: BadRequestException at CreateEmailTemplate and
// UpdateEmailTemplate. Part is "Subject", "Text" or "Html".
type SyntaxError struct{ Part, Msg string }

func (e *SyntaxError) Error() string { return fmt.Sprintf("Template %s is invalid: %s", e.Part, e.Msg) }

// compiled is one part of a template, parsed: its body and the inline
// partials it defines ({{#*inline "name"}}…{{/inline}}), which raymond's
// parser does not know, so Parse cuts them out first.
type compiled struct {
	body     *ast.Program
	partials map[string]*ast.Program
}

// Validate parses c's three parts and reports the first that is not valid
// template syntax as a *SyntaxError (SES validates templates when they are
// stored: CreateEmailTemplate and UpdateEmailTemplate answer
// BadRequestException).
func Validate(c Content) error {
	for _, p := range parts(&c) {
		if _, err := compile(*p.s); err != nil {
			return &SyntaxError{Part: p.name, Msg: err.Error()}
		}
	}
	return nil
}

type part struct {
	name string
	s    *string
}

func parts(c *Content) []part {
	return []part{{"Subject", &c.Subject}, {"Text", &c.Text}, {"Html", &c.HTML}}
}

// Render renders c with data (TemplateData: a JSON object) the way SES
// does: Handlebars with nested attributes ({{a.b}}), {{#each}} over arrays
// and objects (@index, @key, @first, @last, this, ../), {{#if}},
// {{#unless}}, {{#with}}, {{else}}, inline partials ({{#*inline "x"}}…
// {{/inline}} and {{> x}}), comments and whitespace control; values are
// NOT HTML-escaped ({{x}} and {{{x}}} are the same). An attribute a
// rendered expression names that is absent from the data fails the render
// with *RenderError "Attribute 'NAME' is not present in the rendering
// data." (NAME as written in the template); absent attributes used as the
// condition of #if/#unless/#with/#each are false, not an error; JSON null
// renders as nothing. Data that is not a JSON object, or longer than
// MaxDataLen characters, is a *DataError; content that does not parse, or
// output past MaxRenderedSize, nesting past MaxDepth or work past MaxSteps
// is a *RenderError. An empty part stays empty; the rendered Subject is
// one line (SubjectLine). name is the template's name, for the error.
func Render(name string, c Content, data string) (Content, error) {
	return RenderWithin(name, c, data, MaxRenderedSize)
}

// OutputLimitError is a render stopped because its output passed the
// limit RenderWithin was given (below MaxRenderedSize): the template and
// data may be fine, there was no room for them; not a Rendering Failure.
type OutputLimitError struct{ Max int }

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("The rendered content would be larger than the %d bytes left for it.", e.Max)
}

// RenderWithin is Render with the output (all parts together) limited to
// max bytes: past it, rendering stops at once with *OutputLimitError (or,
// when max is MaxRenderedSize or more, Render's *RenderError), so a caller
// with a budget for several renders (SendBulkEmail's per-call cap) spends
// no work on output it cannot keep.
func RenderWithin(name string, c Content, data string, max int) (Content, error) {
	root, err := parseData(data)
	if err != nil {
		return Content{}, err
	}
	r := &renderer{name: name, root: root, max: min(max, MaxRenderedSize)}
	var out Content
	src, dst := parts(&c), parts(&out)
	for i, p := range src {
		if *p.s == "" {
			continue
		}
		t, err := compileCached(*p.s)
		if err != nil {
			return Content{}, &RenderError{TemplateName: name, Message: fmt.Sprintf("Template %s is invalid: %s", p.name, err)}
		}
		s, err := r.render(t)
		if err != nil {
			return Content{}, err
		}
		*dst[i].s = s
	}
	out.Subject = SubjectLine(out.Subject)
	return out, nil
}

// subjectLine is SubjectLine's replacer.
var subjectLine = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", "")

// SubjectLine is the one rule for a rendered Subject, which must stay one
// header field whatever the data holds: each CR LF, CR or LF becomes a
// space and NUL is dropped. Render applies it, so TestRenderEmailTemplate
// shows the Subject a send delivers; the send path applies it to every
// templated Subject.
func SubjectLine(s string) string { return subjectLine.Replace(s) }

// parseData decodes TemplateData into values: *object (keeping the key
// order, which {{#each}} follows), []any, string, json.Number, bool, nil.
func parseData(data string) (*object, error) {
	if utf8.RuneCountInString(data) > MaxDataLen {
		return nil, &DataError{Msg: fmt.Sprintf("TemplateData is longer than %d characters.", MaxDataLen)}
	}
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err == nil {
		// Exactly one JSON value: after it only white space (io.EOF), not a
		// second value nor anything that is no JSON at all.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err != nil {
		return nil, &DataError{Msg: "TemplateData is not valid JSON: " + err.Error()}
	}
	o, ok := v.(*object)
	if !ok {
		return nil, &DataError{Msg: "TemplateData must be a JSON object."}
	}
	return o, nil
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals map[string]any
}

// maxDataDepth bounds the nesting of TemplateData (decodeValue recurses).
const maxDataDepth = 1000

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDataDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxDataDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key := k.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[key]; !dup {
					o.keys = append(o.keys, key)
				}
				o.vals[key] = v
			}
			_, err := dec.Token()
			return o, err
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

var (
	inlineOpen  = regexp.MustCompile(`\{\{~?#\*inline\s+(?:"([^"]*)"|'([^']*)')\s*~?\}\}`)
	inlineClose = regexp.MustCompile(`\{\{~?/inline\s*~?\}\}`)
)

// The parse cache: raymond's parser takes ~1 s for a 500 KB template, and
// a bulk send renders one template many times. Parsed templates are not
// changed by rendering, so they are shared; the cache is emptied when the
// sources it holds pass maxCacheBytes.
const maxCacheBytes = 32 << 20

var parsed struct {
	sync.Mutex
	m     map[string]*compiled
	bytes int
}

// compileCached is compile through the parse cache (a failed parse is not
// cached).
func compileCached(src string) (*compiled, error) {
	parsed.Lock()
	t, ok := parsed.m[src]
	parsed.Unlock()
	if ok {
		return t, nil
	}
	t, err := compile(src)
	if err != nil {
		return nil, err
	}
	parsed.Lock()
	defer parsed.Unlock()
	if parsed.m == nil || parsed.bytes+len(src) > maxCacheBytes {
		parsed.m, parsed.bytes = map[string]*compiled{}, 0
	}
	if _, ok := parsed.m[src]; !ok {
		parsed.m[src] = t
		parsed.bytes += len(src)
	}
	return t, nil
}

// compile parses src: it cuts out the inline partial definitions, then
// parses the rest and each partial with raymond's parser, and checks that
// only the supported helpers are used and every partial referenced is
// defined.
func compile(src string) (t *compiled, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%v", p)
		}
	}()
	t = &compiled{partials: map[string]*ast.Program{}}
	var body strings.Builder
	var defs []string
	rest := src
	for {
		loc := inlineOpen.FindStringSubmatchIndex(rest)
		if loc == nil {
			if inlineClose.MatchString(rest) {
				return nil, errors.New("{{/inline}} without {{#*inline}}")
			}
			body.WriteString(rest)
			break
		}
		var name string
		if loc[2] >= 0 {
			name = rest[loc[2]:loc[3]]
		} else {
			name = rest[loc[4]:loc[5]]
		}
		before := rest[:loc[0]]
		if before != "" && inlineClose.MatchString(before) {
			return nil, errors.New("{{/inline}} without {{#*inline}}")
		}
		after := rest[loc[1]:]
		end := inlineClose.FindStringIndex(after)
		if end == nil {
			return nil, fmt.Errorf("{{#*inline %q}} is not closed by {{/inline}}", name)
		}
		def := after[:end[0]]
		if inlineOpen.MatchString(def) {
			return nil, fmt.Errorf("{{#*inline %q}} contains another {{#*inline}}", name)
		}
		if _, dup := t.partials[name]; dup {
			return nil, fmt.Errorf("partial %q is defined twice", name)
		}
		// A definition on lines of its own leaves no blank line (Handlebars'
		// standalone rule): drop the newline after the closing tag when the
		// opening tag starts a line, and the newline right after the opening
		// tag and the indentation before the closing tag.
		rest = after[end[1]:]
		lineStart := before == "" || strings.HasSuffix(strings.TrimRight(before, " \t"), "\n")
		if lineStart {
			before = strings.TrimRight(before, " \t")
			rest = trimNewline(rest)
		}
		body.WriteString(before)
		def = trimNewline(def)
		if i := strings.LastIndexByte(def, '\n'); i >= 0 && strings.TrimLeft(def[i+1:], " \t") == "" {
			def = def[:i+1]
		}
		t.partials[name] = nil
		defs = append(defs, name, def)
	}
	if t.body, err = parser.Parse(body.String()); err != nil {
		return nil, err
	}
	for i := 0; i < len(defs); i += 2 {
		p, err := parser.Parse(defs[i+1])
		if err != nil {
			return nil, fmt.Errorf("partial %q: %w", defs[i], err)
		}
		t.partials[defs[i]] = p
	}
	if err := t.check(t.body); err != nil {
		return nil, err
	}
	for _, p := range t.partials {
		if err := t.check(p); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func trimNewline(s string) string {
	if strings.HasPrefix(s, "\r\n") {
		return s[2:]
	}
	return strings.TrimPrefix(s, "\n")
}

// blockHelpers are the block helpers Petrel renders; a block named
// otherwise with no parameters is a Handlebars section ({{#list}}…).
var blockHelpers = map[string]bool{"if": true, "unless": true, "each": true, "with": true}

// check walks p and reports a helper Petrel does not render, a
// subexpression, or a partial that t does not define.
func (t *compiled) check(p *ast.Program) error {
	if p == nil {
		return nil
	}
	for _, n := range p.Body {
		switch n := n.(type) {
		case *ast.MustacheStatement:
			if err := checkExpr(n.Expression, false); err != nil {
				return err
			}
		case *ast.BlockStatement:
			if err := checkExpr(n.Expression, true); err != nil {
				return err
			}
			if err := t.check(n.Program); err != nil {
				return err
			}
			if err := t.check(n.Inverse); err != nil {
				return err
			}
		case *ast.PartialStatement:
			name, ok := ast.HelperNameStr(n.Name)
			if !ok {
				return errors.New("dynamic partial names are not supported")
			}
			if _, ok := t.partials[name]; !ok {
				return fmt.Errorf("the partial %s could not be found", name)
			}
			if len(n.Params) > 1 {
				return fmt.Errorf("partial %s: at most one context parameter", name)
			}
			for _, a := range n.Params {
				if err := checkParam(a); err != nil {
					return err
				}
				if err := checkPath(a); err != nil {
					return err
				}
			}
			if err := checkHash(n.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPath reports a path with more than MaxPathSegments segments.
func checkPath(n ast.Node) error {
	if e, ok := n.(*ast.Expression); ok {
		n = e.Path
	}
	p, ok := n.(*ast.PathExpression)
	if !ok || p.Segments <= MaxPathSegments {
		return nil
	}
	name := p.Original
	if len(name) > 40 {
		name = name[:40] + "…"
	}
	return fmt.Errorf("a path may have at most %d segments: %s has %d", MaxPathSegments, name, p.Segments)
}

// checkExprPaths checks the length of e's path and parameters.
func checkExprPaths(e *ast.Expression) error {
	if err := checkPath(e.Path); err != nil {
		return err
	}
	for _, a := range e.Params {
		if err := checkPath(a); err != nil {
			return err
		}
	}
	return nil
}

func checkExpr(e *ast.Expression, block bool) error {
	if err := checkExprPaths(e); err != nil {
		return err
	}
	name := ""
	if p, ok := e.Path.(*ast.PathExpression); ok {
		name = p.Original
	}
	switch {
	case block && blockHelpers[name]:
		if len(e.Params) != 1 {
			return fmt.Errorf("#%s takes exactly one parameter", name)
		}
		if name == "if" || name == "unless" || name == "each" || name == "with" {
			if e.Hash != nil && len(e.Hash.Pairs) > 0 {
				return fmt.Errorf("#%s takes no hash arguments", name)
			}
		}
		return checkParam(e.Params[0])
	case len(e.Params) > 0 || (e.Hash != nil && len(e.Hash.Pairs) > 0):
		return fmt.Errorf("helper %s is not supported (supported: if, unless, each, with)", name)
	}
	return nil
}

func checkParam(n ast.Node) error {
	switch n := n.(type) {
	case *ast.SubExpression:
		return errors.New("subexpressions are not supported")
	case *ast.Expression:
		return checkParam(n.Path)
	}
	return nil
}

func checkHash(h *ast.Hash) error {
	if h == nil {
		return nil
	}
	for _, p := range h.Pairs {
		if err := checkParam(p.Val); err != nil {
			return err
		}
		if err := checkPath(p.Val); err != nil {
			return err
		}
	}
	return nil
}

// renderer renders the parts of one template with one data object,
// counting the limits across the parts.
type renderer struct {
	max   int // output limit, all parts together (≤ MaxRenderedSize)
	name  string
	root  *object
	t     *compiled
	out   bytes.Buffer
	total int // bytes rendered by earlier parts
	held  int // bytes in the outer buffers while an indented partial renders apart
	steps int
	depth int
	ctx   []any   // context stack: root first
	frame *frame  // private data (@index, @key, @first, @last)
	block []scope // block parameters (as |x i|)
}

// frame is the private data of one {{#each}} iteration (the top frame,
// outside any, has only @root).
type frame struct {
	parent *frame
	index  int
	key    any // string for an object's member, else nil (the index)
	last   bool
	each   bool
}

func (f *frame) get(name string) (any, bool) {
	if !f.each {
		return nil, false
	}
	switch name {
	case "index":
		return json.Number(strconv.Itoa(f.index)), true
	case "key":
		if f.key != nil {
			return f.key, true
		}
		return json.Number(strconv.Itoa(f.index)), true
	case "first":
		return f.index == 0, true
	case "last":
		return f.last, true
	}
	return nil, false
}

type scope map[string]any

// stop ends the render with a *RenderError (recovered in render).
type stop struct{ err error }

func (r *renderer) fail(format string, args ...any) {
	panic(stop{&RenderError{TemplateName: r.name, Message: fmt.Sprintf(format, args...)}})
}

// failMissing ends the render: attribute is not in the data.
func (r *renderer) failMissing(attribute string) {
	panic(stop{&RenderError{TemplateName: r.name, Attribute: attribute,
		Message: fmt.Sprintf("Attribute '%s' is not present in the rendering data.", attribute)}})
}

func (r *renderer) render(t *compiled) (s string, err error) {
	defer func() {
		if p := recover(); p != nil {
			st, ok := p.(stop)
			if !ok {
				panic(p)
			}
			s, err = "", st.err
		}
	}()
	r.t = t
	r.out.Reset()
	r.ctx = []any{r.root}
	r.frame = &frame{}
	r.program(t.body)
	r.total += r.out.Len()
	return r.out.String(), nil
}

func (r *renderer) write(s string) {
	if n := r.total + r.held + r.out.Len() + len(s); n > r.max {
		if r.max < MaxRenderedSize {
			panic(stop{&OutputLimitError{Max: r.max}})
		}
		r.fail("The rendered template is larger than %d bytes.", MaxRenderedSize)
	}
	r.out.WriteString(s)
}

func (r *renderer) enter() {
	r.depth++
	if r.depth > MaxDepth {
		r.fail("The template nests blocks and partials more than %d deep.", MaxDepth)
	}
}

// step counts one statement or iteration against MaxSteps.
func (r *renderer) step() { r.stepN(1) }

// stepN counts n steps against MaxSteps.
func (r *renderer) stepN(n int) {
	r.steps += n
	if r.steps > MaxSteps {
		r.fail("The template takes more than %d steps to render.", MaxSteps)
	}
}

// stepKey counts looking up (hashing, comparing) or reading s: a step,
// and one for each stepBytes bytes.
func (r *renderer) stepKey(s string) { r.stepN(1 + len(s)/stepBytes) }

func (r *renderer) program(p *ast.Program) {
	if p == nil {
		return
	}
	for _, n := range p.Body {
		r.step()
		switch n := n.(type) {
		case *ast.ContentStatement:
			r.write(n.Value)
		case *ast.MustacheStatement:
			if isUnsubscribePlaceholder(n.Expression) {
				// SES's reserved placeholder is not template data: it is
				// left for list management to replace (../shared/spec/ses.md
				// §11.4), whatever the data holds.
				r.write(message.UnsubscribePlaceholder)
				continue
			}
			v, ok := r.expr(n.Expression)
			if !ok {
				r.missing(n.Expression)
			}
			r.write(r.str(v))
		case *ast.BlockStatement:
			if p.Chained {
				// {{else if}}: the chain's next link, at the depth of its
				// first, so a long chain is not deep nesting.
				r.blockStmt(n)
				continue
			}
			r.enter()
			r.blockStmt(n)
			r.depth--
		case *ast.PartialStatement:
			r.enter()
			r.partial(n)
			r.depth--
		}
	}
}

// isUnsubscribePlaceholder reports whether e is {{amazonSESUnsubscribeUrl}}
// (or its triple-stash form): the bare top-level path, no parameters.
func isUnsubscribePlaceholder(e *ast.Expression) bool {
	p, ok := e.Path.(*ast.PathExpression)
	return ok && len(e.Params) == 0 && e.Hash == nil && !p.Data && p.Depth == 0 &&
		len(p.Parts) == 1 && p.Parts[0] == "amazonSESUnsubscribeUrl"
}

func (r *renderer) missing(e *ast.Expression) {
	name := ""
	if p, ok := e.Path.(*ast.PathExpression); ok {
		name = p.Original
	}
	r.failMissing(name)
}

// expr evaluates an expression without parameters (a path or literal):
// its value and whether it is present.
func (r *renderer) expr(e *ast.Expression) (any, bool) {
	return r.value(e.Path)
}

func (r *renderer) value(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.Expression:
		return r.value(n.Path)
	case *ast.PathExpression:
		return r.path(n)
	case *ast.StringLiteral:
		return n.Value, true
	case *ast.BooleanLiteral:
		return n.Value, true
	case *ast.NumberLiteral:
		return json.Number(n.Original), true
	}
	return nil, false
}

// path resolves p: @data, block parameters, then the context p.Depth
// levels up (Handlebars, not Mustache: no lookup in outer contexts).
func (r *renderer) path(p *ast.PathExpression) (any, bool) {
	parts := p.Parts
	var cur any
	switch {
	case p.Data:
		f := r.frame
		for i := 0; i < p.Depth && f.parent != nil; i++ {
			r.step()
			f = f.parent
		}
		if len(parts) == 0 {
			return nil, false
		}
		r.stepKey(parts[0])
		v, ok := f.get(parts[0])
		if !ok && parts[0] == "root" {
			v, ok = r.root, true
		}
		if !ok {
			return nil, false
		}
		cur, parts = v, parts[1:]
	default:
		found := false
		if len(parts) > 0 && p.Depth == 0 && !p.Scoped {
			for i := len(r.block) - 1; i >= 0; i-- {
				r.stepKey(parts[0])
				if v, ok := r.block[i][parts[0]]; ok {
					cur, parts, found = v, parts[1:], true
					break
				}
			}
		}
		if !found {
			i := len(r.ctx) - 1 - p.Depth
			if i < 0 {
				i = 0
			}
			cur = r.ctx[i]
		}
	}
	for _, k := range parts {
		r.stepKey(k)
		if len(k) >= 2 && k[0] == '[' && k[len(k)-1] == ']' {
			k = k[1 : len(k)-1]
		}
		switch c := cur.(type) {
		case *object:
			v, ok := c.vals[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if k == "length" {
				cur = json.Number(strconv.Itoa(len(c)))
				continue
			}
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		case string:
			if k != "length" {
				return nil, false
			}
			r.stepN(len(c) / stepBytes)
			cur = json.Number(strconv.Itoa(utf8.RuneCountInString(c)))
		default:
			return nil, false
		}
	}
	return cur, true
}

func (r *renderer) blockStmt(b *ast.BlockStatement) {
	name := ""
	if p, ok := b.Expression.Path.(*ast.PathExpression); ok && len(p.Original) <= len("unless") {
		// Longer names are no helper's: not hashed to look them up.
		name = p.Original
	}
	var v any
	var ok bool
	if blockHelpers[name] {
		v, ok = r.value(b.Expression.Params[0])
	} else {
		v, ok = r.expr(b.Expression)
	}
	t := ok && r.truthy(v)
	switch name {
	case "if":
		r.branch(t, b)
	case "unless":
		r.branch(!t, b)
	case "with":
		if !t {
			r.program(b.Inverse)
			return
		}
		r.with(v, b.Program, nil)
	case "each":
		r.each(v, ok, b)
	default:
		// A Handlebars section: a list iterates, another true value
		// becomes the context, a false one renders the inverse.
		switch {
		case !t:
			r.program(b.Inverse)
		case isList(v):
			r.each(v, ok, b)
		case v == true:
			r.program(b.Program)
		default:
			r.with(v, b.Program, nil)
		}
	}
}

func isList(v any) bool { _, ok := v.([]any); return ok }

func (r *renderer) branch(cond bool, b *ast.BlockStatement) {
	if cond {
		r.program(b.Program)
	} else {
		r.program(b.Inverse)
	}
}

func (r *renderer) with(v any, p *ast.Program, f *frame) {
	if p == nil {
		return
	}
	r.ctx = append(r.ctx, v)
	if len(p.BlockParams) > 0 {
		r.stepKey(p.BlockParams[0])
		r.block = append(r.block, scope{p.BlockParams[0]: v})
	}
	saved := r.frame
	if f != nil {
		r.frame = f
	}
	r.program(p)
	r.frame = saved
	if len(p.BlockParams) > 0 {
		r.block = r.block[:len(r.block)-1]
	}
	r.ctx = r.ctx[:len(r.ctx)-1]
}

func (r *renderer) each(v any, ok bool, b *ast.BlockStatement) {
	p := b.Program
	n := 0
	iter := func(key any, index int, last bool, item any) {
		n++
		r.step()
		if p == nil {
			return
		}
		f := &frame{parent: r.frame, index: index, key: key, last: last, each: true}
		r.ctx = append(r.ctx, item)
		if len(p.BlockParams) > 0 {
			r.stepKey(p.BlockParams[0])
			s := scope{p.BlockParams[0]: item}
			if len(p.BlockParams) > 1 {
				r.stepKey(p.BlockParams[1])
				s[p.BlockParams[1]], _ = f.get("key")
			}
			r.block = append(r.block, s)
		}
		saved := r.frame
		r.frame = f
		r.program(p)
		r.frame = saved
		if len(p.BlockParams) > 0 {
			r.block = r.block[:len(r.block)-1]
		}
		r.ctx = r.ctx[:len(r.ctx)-1]
	}
	if ok {
		switch c := v.(type) {
		case []any:
			for i, item := range c {
				iter(nil, i, i == len(c)-1, item)
			}
		case *object:
			for i, k := range c.keys {
				r.stepKey(k)
				iter(k, i, i == len(c.keys)-1, c.vals[k])
			}
		}
	}
	if n == 0 {
		r.program(b.Inverse)
	}
}

func (r *renderer) partial(ps *ast.PartialStatement) {
	name, _ := ast.HelperNameStr(ps.Name)
	r.stepKey(name)
	p := r.t.partials[name]
	ctx := r.ctx[len(r.ctx)-1]
	if len(ps.Params) == 1 {
		v, ok := r.value(ps.Params[0])
		if !ok {
			if e, isExpr := ps.Params[0].(*ast.Expression); isExpr {
				r.missing(e)
			}
			r.failMissing(paramName(ps.Params[0]))
		}
		ctx = v
	}
	if ps.Hash != nil && len(ps.Hash.Pairs) > 0 {
		o := &object{vals: map[string]any{}}
		if base, ok := ctx.(*object); ok {
			o.keys = append(o.keys, base.keys...)
			for k, v := range base.vals {
				r.stepKey(k)
				o.vals[k] = v
			}
		}
		for _, pair := range ps.Hash.Pairs {
			r.stepKey(pair.Key)
			v, ok := r.value(pair.Val)
			if !ok {
				r.failMissing(paramName(pair.Val))
			}
			if _, dup := o.vals[pair.Key]; !dup {
				o.keys = append(o.keys, pair.Key)
			}
			o.vals[pair.Key] = v
		}
		ctx = o
	}
	if ps.Indent == "" {
		r.with(ctx, p, nil)
		return
	}
	// A standalone partial is indented as its tag is (Handlebars).
	saved := r.out
	r.held += saved.Len()
	r.out = bytes.Buffer{}
	r.with(ctx, p, nil)
	s := r.out.String()
	r.out = saved
	r.held -= saved.Len()
	lines := strings.SplitAfter(s, "\n")
	r.stepN(len(lines) + len(s)/stepBytes)
	for _, l := range lines {
		if l != "" {
			r.write(ps.Indent + l)
		}
	}
}

func paramName(n ast.Node) string {
	if e, ok := n.(*ast.Expression); ok {
		n = e.Path
	}
	if p, ok := n.(*ast.PathExpression); ok {
		return p.Original
	}
	return ""
}

// truthy is Handlebars' truth, counting a number's parse as steps.
func (r *renderer) truthy(v any) bool {
	if n, ok := v.(json.Number); ok {
		r.stepKey(string(n))
	}
	return truthy(v)
}

// truthy is Handlebars' truth: false, null, "", 0 and [] are false; every
// object (even {}) is true.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err != nil || (f != 0 && !math.IsNaN(f))
	case []any:
		return len(v) > 0
	}
	return true
}

// str is how Handlebars (JavaScript) writes v: null as nothing, numbers as
// JavaScript's String(n) does, an array as its items joined by commas, an
// object as [object Object]. It counts steps: one for each array item (an
// array of empty arrays prints nothing, however many there are) and the
// parse of each number.
func (r *renderer) str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		r.stepKey(string(v))
		return jsNumber(v)
	case []any:
		r.stepN(len(v))
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = r.str(x)
		}
		return strings.Join(s, ",")
	case *object:
		return "[object Object]"
	}
	return fmt.Sprint(v)
}

// jsNumber is JavaScript's String(n) for the number n is the JSON text of
// (ECMA-262 Number::toString): the shortest digits that read back as the
// same double; plain notation from 1e-6 up to below 1e21, else exponential
// ("1e+21", "1.5e-7"); -0 as "0"; beyond the double range Infinity (JSON.parse
// reads 1e400 as Infinity, and a number too small as 0).
func jsNumber(n json.Number) string {
	f, err := strconv.ParseFloat(string(n), 64)
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case err != nil:
		return n.String()
	case f == 0:
		return "0" // and -0
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	// Go writes the exponent with at least two digits and a sign (1e-07);
	// JavaScript with no leading zero (1e-7).
	s := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(s, 'e')
	mant, exp := s[:i], s[i+1:]
	sign := exp[:1]
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + exp
}
