// Package awsquery is the AWS Query protocol
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-making-api-requests.html,
// the protocol of SNS and of the SES v1 API): requests are
// application/x-www-form-urlencoded bodies (or GET query strings) naming an
// Action and its parameters, with lists as Name.member.N and maps as
// Name.entry.N.key / Name.entry.N.value; responses are XML documents
//
//	<ActionResponse xmlns="NS">
//	  <ActionResult>…</ActionResult>
//	  <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
//	</ActionResponse>
//
// and errors
//
//	<ErrorResponse xmlns="NS">
//	  <Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error>
//	  <RequestId>…</RequestId>
//	</ErrorResponse>
//
// with the error's HTTP status.
package awsquery

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Request is a decoded Query request.
type Request struct {
	Action  string
	Version string
	// Params are every parameter but Action and Version, body and query
	// merged (a body parameter wins over a query parameter of the same name),
	// but the large ones.
	Params url.Values
	// large are the body parameters whose value is LargeValue octets or more
	// as sent: decoded in place, in the body's own memory (Bytes), rather
	// than copied.
	large map[string][]byte
}

// MaxListMembers bounds the N of a Name.member.N or Name.entry.N parameter:
// a larger index is refused rather than allocated for.
const MaxListMembers = 1000

// LargeValue is the length, in octets as sent, from which a body
// parameter's value is decoded where it lies in the body (see Parse).
const LargeValue = 64 << 10

// largeValue is LargeValue, lowered by the fuzz test so that short inputs
// take the in-place path too.
var largeValue = LargeValue

// Parse decodes a Query request from its form body (may be empty; the
// application/x-www-form-urlencoded of HTML and url.ParseQuery: pairs
// separated by "&", "+" for a space, %XX escapes, no ";") and the URL's
// query. A body that is not valid form encoding, or a parameter given twice
// with different values, is a Sender error "MalformedQueryString".
//
// A value of LargeValue octets or more (a SendRawEmail's RawMessage.Data)
// is percent-decoded in place: body then holds it, and Bytes returns it
// without a copy, so a request of n octets takes about n octets of memory
// in all, not three times n (the body, a string of it, the decoded
// value). The caller must not use body otherwise afterwards. Every other
// value is copied.
func Parse(body []byte, query url.Values) (*Request, error) {
	params := url.Values{}
	var large map[string][]byte
	malformed := func(err error) error {
		return &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
			Message: "The request body is not application/x-www-form-urlencoded: " + err.Error()}
	}
	twice := func(k string) error {
		return &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
			Message: fmt.Sprintf("Parameter %s is given more than once with different values.", k)}
	}
	for rest := body; len(rest) > 0; {
		var pair []byte
		pair, rest, _ = bytes.Cut(rest, []byte("&"))
		if len(pair) == 0 {
			continue
		}
		if bytes.IndexByte(pair, ';') >= 0 {
			return nil, malformed(errors.New("invalid semicolon separator in query"))
		}
		kb, vb, _ := bytes.Cut(pair, []byte("="))
		k, err := url.QueryUnescape(string(kb))
		if err != nil {
			return nil, malformed(err)
		}
		if len(vb) >= largeValue {
			v, err := unescapeInPlace(vb)
			if err != nil {
				return nil, malformed(err)
			}
			if prev, ok := large[k]; ok && !bytes.Equal(prev, v) {
				return nil, twice(k)
			}
			if prev, ok := params[k]; ok {
				if prev[0] != string(v) {
					return nil, twice(k)
				}
				delete(params, k)
			}
			if large == nil {
				large = map[string][]byte{}
			}
			large[k] = v
			continue
		}
		v, err := url.QueryUnescape(string(vb))
		if err != nil {
			return nil, malformed(err)
		}
		if prev, ok := params[k]; ok && prev[0] != v {
			return nil, twice(k)
		}
		if prev, ok := large[k]; ok {
			if string(prev) != v {
				return nil, twice(k)
			}
			continue
		}
		params[k] = []string{v}
	}
	for k, vs := range query {
		if _, ok := params[k]; !ok && large[k] == nil {
			params[k] = vs[:1]
		}
	}
	r := &Request{Params: params, large: large}
	r.Action, r.Version = r.Get("Action"), r.Get("Version")
	for _, k := range []string{"Action", "Version"} {
		delete(params, k)
		delete(large, k)
	}
	return r, nil
}

// unescapeInPlace decodes form encoding ("+" is a space, %XX an octet)
// into b's own memory (the result is never longer) and returns it.
func unescapeInPlace(b []byte) ([]byte, error) {
	n := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				end := min(i+3, len(b))
				return nil, url.EscapeError(b[i:end])
			}
			b[n] = unhex(b[i+1])<<4 | unhex(b[i+2])
			i += 2
		case '+':
			b[n] = ' '
		default:
			b[n] = c
		}
		n++
	}
	return b[:n], nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// Bytes returns a parameter's value as bytes: a large one (see Parse) as
// it lies in the body, without a copy — the caller may decode it in place
// — and any other as a copy; nil when absent.
func (r *Request) Bytes(name string) []byte {
	if b, ok := r.large[name]; ok {
		return b
	}
	if v, ok := r.Params[name]; ok {
		return []byte(v[0])
	}
	return nil
}

// keys calls fn with the name of every parameter, small and large.
func (r *Request) keys(fn func(k string)) {
	for k := range r.Params {
		fn(k)
	}
	for k := range r.large {
		fn(k)
	}
}

// all returns every parameter, small and large (copied), as url.Values.
func (r *Request) all() url.Values {
	if len(r.large) == 0 {
		return r.Params
	}
	out := make(url.Values, len(r.Params)+len(r.large))
	for k, vs := range r.Params {
		out[k] = vs
	}
	for k, b := range r.large {
		out[k] = []string{string(b)}
	}
	return out
}

// copyTo sets dst's parameter dk to r's parameter k, a large one without
// copying its bytes.
func (r *Request) copyTo(dst *Request, dk, k string) {
	if b, ok := r.large[k]; ok {
		if dst.large == nil {
			dst.large = map[string][]byte{}
		}
		dst.large[dk] = b
		return
	}
	dst.Params[dk] = r.Params[k]
}

// Get returns a parameter's value ("" when absent).
func (r *Request) Get(name string) string {
	if b, ok := r.large[name]; ok {
		return string(b)
	}
	return r.Params.Get(name)
}

// Has reports whether the parameter is present (even empty).
func (r *Request) Has(name string) bool {
	_, ok := r.Params[name]
	_, big := r.large[name]
	return ok || big
}

// Required returns a parameter that must be present and non-empty, else the
// error made by missing(name).
func (r *Request) Required(name string, missing func(name string) error) (string, error) {
	v := r.Get(name)
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}

// Bool returns a boolean parameter ("true"/"false", any case); def when
// absent; invalid(name) when it is something else.
func (r *Request) Bool(name string, def bool, invalid func(name string) error) (bool, error) {
	if !r.Has(name) {
		return def, nil
	}
	switch strings.ToLower(r.Get(name)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(name)
}

// index parses the N of a .member.N / .entry.N suffix: 1..MaxListMembers.
func index(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxListMembers || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// List returns the members Name.member.1, Name.member.2, … in index order.
// Gaps are allowed (the AWS SDKs never leave any); an index that is not a
// positive decimal number at most MaxListMembers is an error.
func (r *Request) List(name string) ([]string, error) {
	prefix := name + ".member."
	type item struct {
		n int
		v string
	}
	var items []item
	var bad error
	r.keys(func(k string) {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || bad != nil {
			return
		}
		n, ok := index(rest)
		if !ok {
			bad = &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Parameter %s has an invalid member index.", k)}
			return
		}
		items = append(items, item{n, r.Get(k)})
	})
	if bad != nil {
		return nil, bad
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out, nil
}

// Sub returns the parameters under prefix (a structure member such as
// "Destination" or "Message.Body"): Name.X becomes X. It shares nothing
// with r.
func (r *Request) Sub(prefix string) *Request {
	out := &Request{Action: r.Action, Version: r.Version, Params: url.Values{}}
	r.keys(func(k string) {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			r.copyTo(out, rest, k)
		}
	})
	return out
}

// HasSub reports whether any parameter lies under prefix (Name or Name.X).
func (r *Request) HasSub(prefix string) bool {
	found := false
	r.keys(func(k string) {
		found = found || k == prefix || strings.HasPrefix(k, prefix+".")
	})
	return found
}

// Members returns the structures of the list Name (Name.member.N.Field),
// each as the Request of its fields, in index order; an index that is not a
// positive decimal number at most MaxListMembers is an error, as in List.
func (r *Request) Members(name string) ([]*Request, error) {
	prefix := name + ".member."
	byIndex := map[int]*Request{}
	var bad error
	r.keys(func(k string) {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || bad != nil {
			return
		}
		ns, field, _ := strings.Cut(rest, ".")
		n, ok := index(ns)
		if !ok || field == "" {
			bad = &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Parameter %s has an invalid member index or no member field.", k)}
			return
		}
		m := byIndex[n]
		if m == nil {
			m = &Request{Action: r.Action, Version: r.Version, Params: url.Values{}}
			byIndex[n] = m
		}
		r.copyTo(m, field, k)
	})
	if bad != nil {
		return nil, bad
	}
	ns := make([]int, 0, len(byIndex))
	for n := range byIndex {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]*Request, len(ns))
	for i, n := range ns {
		out[i] = byIndex[n]
	}
	return out, nil
}

// Map returns the map Name.entry.N.<keyField> → Name.entry.N.<valueField>
// (SNS's Attributes maps use "key"/"value"; MessageAttributes use "Name" and
// "Value.StringValue"). An entry without its key is an error; an entry
// without valueField is left out (it may carry other fields, such as
// Value.BinaryValue). Keys given twice are an error.
func (r *Request) Map(name, keyField, valueField string) (map[string]string, error) {
	prefix := name + ".entry."
	keys := map[int]string{}
	vals := map[int]string{}
	seen := map[int]bool{}
	for k, vs := range r.all() {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		ns, field, ok := strings.Cut(rest, ".")
		n, nok := index(ns)
		if !ok || !nok {
			return nil, &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Parameter %s has an invalid entry index.", k)}
		}
		seen[n] = true
		switch field {
		case keyField:
			keys[n] = vs[0]
		case valueField:
			vals[n] = vs[0]
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(seen))
	for n := range seen {
		k, ok := keys[n]
		if !ok {
			return nil, &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Parameter %s%d.%s is missing.", prefix, n, keyField)}
		}
		v, ok := vals[n]
		if !ok {
			continue
		}
		if _, dup := out[k]; dup {
			return nil, &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Map %s has the key %q more than once.", name, k)}
		}
		out[k] = v
	}
	return out, nil
}

// MapKeys returns the keys (Name.entry.N.<keyField>) of map Name in entry
// order, including entries that carry no value field (which Map leaves
// out): callers that must refuse an incomplete entry see it. An invalid
// entry index is an error, as in Map.
func (r *Request) MapKeys(name, keyField string) ([]string, error) {
	prefix := name + ".entry."
	keys := map[int]string{}
	for k, vs := range r.all() {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		ns, field, ok := strings.Cut(rest, ".")
		n, nok := index(ns)
		if !ok || !nok {
			return nil, &Error{Type: Sender, Code: "MalformedQueryString", Status: 400,
				Message: fmt.Sprintf("Parameter %s has an invalid entry index.", k)}
		}
		if field == keyField {
			keys[n] = vs[0]
		}
	}
	ns := make([]int, 0, len(keys))
	for n := range keys {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = keys[n]
	}
	return out, nil
}

// SigV4Code maps the error codes of package sigv4 (the rest-json names,
// such as InvalidSignatureException) to the names Query-protocol services
// (SNS, the SES v1 API) answer with; other codes are returned as they are.
func SigV4Code(code string) string {
	switch code {
	case "InvalidSignatureException":
		return "SignatureDoesNotMatch"
	case "UnrecognizedClientException":
		return "InvalidClientTokenId"
	case "MissingAuthenticationTokenException":
		return "MissingAuthenticationToken"
	case "IncompleteSignatureException":
		return "IncompleteSignature"
	}
	return code
}

// Error types: who is at fault.
const (
	Sender   = "Sender"
	Receiver = "Receiver"
)

// Error is a Query-protocol error response.
type Error struct {
	Type    string // Sender or Receiver
	Code    string
	Message string
	Status  int // HTTP status
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type errorResponse struct {
	XMLName   xml.Name    `xml:"ErrorResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// WriteError writes e as an ErrorResponse in namespace ns with e.Status
// (400 when unset), and x-amzn-RequestId.
func WriteError(w http.ResponseWriter, ns, requestID string, e *Error) {
	status := e.Status
	if status == 0 {
		status = 400
	}
	typ := e.Type
	if typ == "" {
		typ = Sender
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(errorResponse{Xmlns: ns, Error: errorDetail{Type: typ, Code: e.Code, Message: e.Message}, RequestID: requestID})
}

// Marshal returns the XML response document of action: result (a struct
// encoded with encoding/xml; nil for actions whose response has no Result
// element) inside <ActionResult>, then ResponseMetadata.
func Marshal(ns, action, requestID string, result any) ([]byte, error) {
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	resp := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}}
	if err := enc.EncodeToken(resp); err != nil {
		return nil, err
	}
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return nil, err
		}
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{requestID}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return nil, err
	}
	if err := enc.EncodeToken(resp.End()); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// WriteResponse writes the 200 response of action (see Marshal).
func WriteResponse(w http.ResponseWriter, ns, action, requestID string, result any) error {
	b, err := Marshal(ns, action, requestID, result)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// Entry is one element of an XML map as the Query protocol writes it:
// <entry><key>K</key><value>V</value></entry>.
type Entry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// Entries turns a map into Entries sorted by key (use with a field tagged
// `xml:"Attributes>entry"`).
func Entries(m map[string]string) []Entry {
	out := make([]Entry, 0, len(m))
	for k, v := range m {
		out = append(out, Entry{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
