package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sending authorisation policies (SES: identity policies attached with
// CreateEmailIdentityPolicy; ../shared/spec/ses.md §1.2, §11.6; the SES
// developer guide's "Sending authorization" chapter). An identity's owner
// lets another Petrel account — the delegate — send as the identity:
//
//	{"Version": "2012-10-17",
//	 "Statement": [{"Sid": "AllowB", "Effect": "Allow",
//	   "Principal": {"AWS": ["111122223333"]},
//	   "Action": ["ses:SendEmail", "ses:SendRawEmail"],
//	   "Resource": "arn:aws:ses:us-east-1:444455556666:identity/example.com",
//	   "Condition": {"StringLike": {"ses:FromAddress": "invoicing*@example.com"}}}]}
//
// ParsePolicy accepts exactly what Evaluate can decide and refuses the rest
// with a *PolicyError saying what and why: nothing in a stored policy is
// ever ignored. Supported:
//   - Principal: "*" or {"AWS": one or more of "*", a 12-digit sending
//     account id, arn:aws:iam::<id>:root} (Petrel has no IAM users or
//     services, so other principals are refused);
//   - Action: "ses:<operation>" with the wildcards * and ?, matched without
//     regard to case (Petrel decides ses:SendEmail and ses:SendRawEmail);
//   - Resource: "*" or ARN patterns (* and ?); a pattern without wildcards
//     must be the identity's own ARN;
//   - Condition operators StringEquals, StringNotEquals,
//     StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
//     StringNotLike (with the prefixes ForAllValues: and ForAnyValue:) on the
//     keys ses:FromAddress, ses:FromDisplayName, ses:FeedbackAddress and
//     ses:Recipients (several values: a set prefix is required), and
//     DateLessThan, DateLessThanEquals, DateGreaterThan,
//     DateGreaterThanEquals on aws:CurrentTime (ISO 8601 or epoch seconds).

// Policy limits (SES: a policy document is at most 4 KB, an identity has
// at most 20 policies, a policy name is 1-64 letters, digits, - and _).
const (
	MaxPolicySize       = 4096
	MaxPoliciesPerIdent = 20
)

var policyNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidPolicyName reports whether name is a valid policy name (1-64 ASCII
// letters, digits, '-' and '_').
func ValidPolicyName(name string) bool { return policyNameRE.MatchString(name) }

// PolicyError is a policy document SES would refuse (v2:
// BadRequestException); Reason says what is wrong, in a sentence.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "Invalid policy: " + e.Reason }

func policyErr(format string, a ...any) error {
	return &PolicyError{Reason: fmt.Sprintf(format, a...)}
}

// Effects of a statement.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Policy is a parsed sending authorisation policy.
type Policy struct {
	Name       string // the policy's name on its identity ("" while parsing)
	Document   string // the JSON as given, returned by GetEmailIdentityPolicies
	Statements []Statement
}

// Statement is one statement of a Policy.
type Statement struct {
	Sid        string
	Effect     string   // Allow or Deny
	Principals []string // "*" or 12-digit sending account ids
	Actions    []string // patterns, lower-cased: "ses:sendemail", "ses:*"
	Resources  []string // ARN patterns
	Conditions []Condition
}

// Condition is one (operator, key) test of a statement; a statement
// applies only when all its conditions hold.
type Condition struct {
	Op     string // base operator: StringEquals, StringLike, DateLessThan, …
	Set    string // "", "ForAllValues" or "ForAnyValue"
	Key    string // ses:FromAddress, ses:Recipients, … (canonical case)
	Values []string
	Times  []time.Time // Values parsed, for the Date operators
}

// condition keys and operators Evaluate decides.
var (
	conditionKeys = map[string]string{ // lower case → canonical
		"ses:fromaddress":     "ses:FromAddress",
		"ses:fromdisplayname": "ses:FromDisplayName",
		"ses:feedbackaddress": "ses:FeedbackAddress",
		"ses:recipients":      "ses:Recipients",
		"aws:currenttime":     "aws:CurrentTime",
	}
	stringOps = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}
	dateOps   = []string{"DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"}
)

var (
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	rootARNRE   = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):root$`)
	actionRE    = regexp.MustCompile(`(?i)^ses:[a-z*?]+$`)
)

// ParsePolicy parses and checks a policy document for the identity whose
// ARN is identityARN (arn:aws:ses:REGION:ACCOUNTID:identity/NAME). Errors:
// *PolicyError for a document over MaxPolicySize bytes, invalid JSON, an
// unknown or unsupported element, principal, action, resource, operator or
// condition key.
func ParsePolicy(doc, identityARN string) (*Policy, error) {
	if len(doc) > MaxPolicySize {
		return nil, policyErr("the policy is %d bytes long; at most %d are allowed.", len(doc), MaxPolicySize)
	}
	if err := noDuplicateKeys([]byte(doc)); err != nil {
		return nil, err
	}
	top, err := object([]byte(doc), "the policy")
	if err != nil {
		return nil, err
	}
	p := &Policy{Document: doc}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		v := top[k]
		switch k {
		case "Version":
			var ver string
			if json.Unmarshal(v, &ver) != nil || ver != "2012-10-17" && ver != "2008-10-17" {
				return nil, policyErr("Version must be \"2012-10-17\" or \"2008-10-17\".")
			}
		case "Id":
			var id string
			if json.Unmarshal(v, &id) != nil {
				return nil, policyErr("Id must be a string.")
			}
		case "Statement":
			raws, err := oneOrMany(v)
			if err != nil {
				return nil, policyErr("Statement must be an object or a list of objects.")
			}
			for i, r := range raws {
				st, err := parseStatement(r, identityARN)
				if err != nil {
					var pe *PolicyError
					if errors.As(err, &pe) {
						pe.Reason = fmt.Sprintf("Statement[%d]: %s", i, pe.Reason)
					}
					return nil, err
				}
				p.Statements = append(p.Statements, st)
			}
		default:
			return nil, policyErr("unknown policy element %q (expected Version, Id, Statement).", k)
		}
	}
	if len(p.Statements) == 0 {
		return nil, policyErr("the policy has no Statement.")
	}
	return p, nil
}

// noDuplicateKeys refuses a JSON document in which an object, at any
// depth, names the same member twice ({"Effect":"Allow","Effect":"Deny"}):
// encoding/json would keep the last silently, so what is stored would not
// say what is enforced. Names compare exactly, with case, as IAM matches
// them. It walks encoding/json's token stream; a document that is not
// JSON is left for object to refuse.
func noDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type level struct {
		object bool
		seen   map[string]bool
		key    bool // the next token of this object is a member name
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
			continue
		}
		if top != nil && top.object && top.key {
			name, _ := tok.(string)
			if top.seen[name] {
				return policyErr("the JSON object member %q appears more than once; give each member once.", name)
			}
			top.seen[name] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, seen: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &level{})
		default:
			if top != nil && top.object {
				top.key = true
			}
		}
	}
}

// object decodes an exactly-one JSON object (noDuplicateKeys has refused
// repeated members; JSON member names are matched with case, as IAM does).
func object(b []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, policyErr("%s is not a valid JSON object.", what)
	}
	if _, err := dec.Token(); err == nil {
		return nil, policyErr("%s has data after its JSON object.", what)
	}
	return m, nil
}

// oneOrMany decodes a JSON value that is one item or a list of items.
func oneOrMany(v json.RawMessage) ([]json.RawMessage, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, err
		}
		return list, nil
	}
	return []json.RawMessage{v}, nil
}

// stringList decodes a string or a list of strings (at least one).
func stringList(v json.RawMessage, what string) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(v, &list) != nil || len(list) == 0 {
		return nil, policyErr("%s must be a string or a non-empty list of strings.", what)
	}
	return list, nil
}

func parseStatement(b json.RawMessage, identityARN string) (Statement, error) {
	var st Statement
	m, err := object(b, "the statement")
	if err != nil {
		return st, err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch k {
		case "Sid":
			if json.Unmarshal(v, &st.Sid) != nil {
				return st, policyErr("Sid must be a string.")
			}
		case "Effect":
			if json.Unmarshal(v, &st.Effect) != nil || st.Effect != Allow && st.Effect != Deny {
				return st, policyErr("Effect must be \"Allow\" or \"Deny\".")
			}
		case "Principal":
			if st.Principals, err = parsePrincipal(v); err != nil {
				return st, err
			}
		case "Action":
			list, err := stringList(v, "Action")
			if err != nil {
				return st, err
			}
			for _, a := range list {
				if !actionRE.MatchString(a) {
					return st, policyErr("Action %q is not an Amazon SES action (ses:SendEmail, ses:SendRawEmail, ses:*).", a)
				}
				st.Actions = append(st.Actions, strings.ToLower(a))
			}
		case "Resource":
			list, err := stringList(v, "Resource")
			if err != nil {
				return st, err
			}
			for _, r := range list {
				if err := checkResource(r, identityARN); err != nil {
					return st, err
				}
			}
			st.Resources = list
		case "Condition":
			if st.Conditions, err = parseConditions(v); err != nil {
				return st, err
			}
		case "NotPrincipal", "NotAction", "NotResource":
			return st, policyErr("%s is not supported by Petrel; use Principal, Action and Resource with a Deny statement.", k)
		default:
			return st, policyErr("unknown statement element %q.", k)
		}
	}
	switch {
	case st.Effect == "":
		return st, policyErr("Effect is required.")
	case st.Principals == nil:
		return st, policyErr("Principal is required.")
	case st.Actions == nil:
		return st, policyErr("Action is required.")
	case st.Resources == nil:
		return st, policyErr("Resource is required.")
	}
	return st, nil
}

// parsePrincipal returns the sending account ids a Principal names ("*"
// for anyone).
func parsePrincipal(v json.RawMessage) ([]string, error) {
	var star string
	if json.Unmarshal(v, &star) == nil {
		if star != "*" {
			return nil, policyErr("Principal %q: give \"*\" or {\"AWS\": account ids}.", star)
		}
		return []string{"*"}, nil
	}
	m, err := object(v, "Principal")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		raw := m[k]
		if k != "AWS" {
			return nil, policyErr("Principal %q is not supported by Petrel: name Petrel sending account ids under \"AWS\".", k)
		}
		list, err := stringList(raw, "Principal AWS")
		if err != nil {
			return nil, err
		}
		for _, p := range list {
			switch {
			case p == "*", accountIDRE.MatchString(p):
				out = append(out, p)
			case rootARNRE.MatchString(p):
				out = append(out, rootARNRE.FindStringSubmatch(p)[1])
			default:
				return nil, policyErr("Principal %q is not a valid principal: give a 12-digit sending account id, arn:aws:iam::ACCOUNTID:root or \"*\" (Petrel has no IAM users or roles).", p)
			}
		}
	}
	if out == nil {
		return nil, policyErr("Principal names no account.")
	}
	return out, nil
}

// checkResource refuses a Resource that cannot name the identity: a
// pattern without wildcards must be its ARN exactly.
func checkResource(r, identityARN string) error {
	if r == "*" {
		return nil
	}
	if !strings.HasPrefix(r, "arn:") || strings.Count(r, ":") < 5 {
		return policyErr("Resource %q is not an ARN (arn:aws:ses:REGION:ACCOUNTID:identity/NAME).", r)
	}
	if !strings.ContainsAny(r, "*?") && r != identityARN {
		return policyErr("Resource %q is not this identity; its ARN is %s.", r, identityARN)
	}
	if !glob(r, identityARN) {
		return policyErr("Resource %q does not match this identity's ARN %s.", r, identityARN)
	}
	return nil
}

func parseConditions(v json.RawMessage) ([]Condition, error) {
	ops, err := object(v, "Condition")
	if err != nil {
		return nil, err
	}
	var out []Condition
	for _, opName := range slices.Sorted(maps.Keys(ops)) {
		raw := ops[opName]
		set, op, hasSet := strings.Cut(opName, ":")
		if !hasSet {
			set, op = "", opName
		} else if set != "ForAllValues" && set != "ForAnyValue" {
			return nil, policyErr("condition operator %q is not supported by Petrel.", opName)
		}
		isString, isDate := slices.Contains(stringOps, op), slices.Contains(dateOps, op)
		if !isString && !isDate {
			return nil, policyErr("condition operator %q is not supported by Petrel (supported: %s, %s, with ForAllValues: or ForAnyValue: for strings).",
				opName, strings.Join(stringOps, ", "), strings.Join(dateOps, ", "))
		}
		if isDate && set != "" {
			return nil, policyErr("condition operator %q: ForAllValues and ForAnyValue apply to string operators only.", opName)
		}
		keys, err := object(raw, "the "+opName+" condition")
		if err != nil {
			return nil, err
		}
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			rawVals := keys[key]
			canon, ok := conditionKeys[strings.ToLower(key)]
			if !ok {
				return nil, policyErr("condition key %q is not supported by Petrel (supported: ses:FromAddress, ses:FromDisplayName, ses:FeedbackAddress, ses:Recipients, aws:CurrentTime).", key)
			}
			c := Condition{Op: op, Set: set, Key: canon}
			if c.Values, err = conditionValues(rawVals, opName, canon); err != nil {
				return nil, err
			}
			switch {
			case canon == "aws:CurrentTime" && !isDate:
				return nil, policyErr("condition key aws:CurrentTime takes a Date operator (DateLessThan, DateGreaterThan, …), not %s.", opName)
			case canon != "aws:CurrentTime" && isDate:
				return nil, policyErr("condition key %s takes a String operator, not %s.", canon, opName)
			case canon == "ses:Recipients" && set == "":
				return nil, policyErr("condition key ses:Recipients has several values: prefix the operator with ForAllValues: (every recipient must match) or ForAnyValue:.")
			}
			if isDate {
				for _, s := range c.Values {
					t, err := policyTime(s)
					if err != nil {
						return nil, policyErr("%s %s: %q is not a date (ISO 8601, e.g. 2019-07-30T00:00:00Z, or epoch seconds).", opName, canon, s)
					}
					c.Times = append(c.Times, t)
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conditionValues decodes a condition's value: a string, number or boolean,
// or a non-empty list of them, as strings.
func conditionValues(v json.RawMessage, op, key string) ([]string, error) {
	raws, err := oneOrMany(v)
	if err != nil || len(raws) == 0 {
		return nil, policyErr("%s %s: give a value or a non-empty list of values.", op, key)
	}
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var n json.Number
		var b bool
		switch {
		case json.Unmarshal(r, &n) == nil:
			out = append(out, n.String())
		case json.Unmarshal(r, &b) == nil:
			out = append(out, strconv.FormatBool(b))
		default:
			return nil, policyErr("%s %s: values must be strings.", op, key)
		}
	}
	return out, nil
}

func policyTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

// Request is what Evaluate decides: may Principal (the delegate's sending
// account id) perform Action on Resource (the identity's ARN) for a message
// with these facts, at Now? FeedbackAddress "" means the message has none
// (a condition on it then does not match).
type Request struct {
	Principal       string
	Action          string // "ses:SendEmail", "ses:SendRawEmail"
	Resource        string
	FromAddress     string
	FromDisplayName string
	FeedbackAddress string
	Recipients      []string
	Now             time.Time
}

// Decision is Evaluate's answer.
type Decision int

const (
	NotAllowed Decision = iota // no statement allows (implicit deny)
	Allowed
	Denied // a Deny statement applies: it overrides every Allow
)

func (d Decision) String() string {
	return [...]string{"NotAllowed", "Allowed", "Denied"}[d]
}

// Evaluate decides r under policies as IAM does: a Deny statement that
// applies wins, else an Allow that applies allows, else the request is not
// allowed. A statement applies when its principal, action and resource
// match and all its conditions hold.
func Evaluate(policies []*Policy, r Request) Decision {
	d := NotAllowed
	for _, p := range policies {
		for _, st := range p.Statements {
			if !st.applies(r) {
				continue
			}
			if st.Effect == Deny {
				return Denied
			}
			d = Allowed
		}
	}
	return d
}

func (st *Statement) applies(r Request) bool {
	if !slices.ContainsFunc(st.Principals, func(p string) bool { return p == "*" || p == r.Principal }) {
		return false
	}
	action := strings.ToLower(r.Action)
	if !slices.ContainsFunc(st.Actions, func(a string) bool { return glob(a, action) }) {
		return false
	}
	if !slices.ContainsFunc(st.Resources, func(p string) bool { return glob(p, r.Resource) }) {
		return false
	}
	for _, c := range st.Conditions {
		if !c.holds(r) {
			return false
		}
	}
	return true
}

// holds evaluates one condition. A positive operator (Equals, Like) holds
// for a request value matching any of the condition's values, a negated one
// (NotEquals, NotLike) for a value matching none. ForAllValues holds when
// every request value does (also when there are none), ForAnyValue when at
// least one does; a single-valued key absent from the request (no feedback
// address) fails a positive operator and passes a negated one.
func (c Condition) holds(r Request) bool {
	if c.Key == "aws:CurrentTime" {
		for _, t := range c.Times {
			var ok bool
			switch c.Op {
			case "DateLessThan":
				ok = r.Now.Before(t)
			case "DateLessThanEquals":
				ok = !r.Now.After(t)
			case "DateGreaterThan":
				ok = r.Now.After(t)
			case "DateGreaterThanEquals":
				ok = !r.Now.Before(t)
			}
			if ok {
				return true
			}
		}
		return false
	}
	var vals []string
	switch c.Key {
	case "ses:FromAddress":
		vals = []string{r.FromAddress}
	case "ses:FromDisplayName":
		vals = []string{r.FromDisplayName}
	case "ses:FeedbackAddress":
		if r.FeedbackAddress != "" {
			vals = []string{r.FeedbackAddress}
		}
	case "ses:Recipients":
		vals = r.Recipients
	}
	negated := strings.Contains(c.Op, "Not")
	one := func(v string) bool {
		m := slices.ContainsFunc(c.Values, func(p string) bool { return c.match(p, v) })
		return m != negated
	}
	switch {
	case c.Set == "ForAllValues":
		return !slices.ContainsFunc(vals, func(v string) bool { return !one(v) })
	case c.Set == "ForAnyValue":
		return slices.ContainsFunc(vals, one)
	case len(vals) == 0:
		return negated
	}
	return one(vals[0])
}

func (c Condition) match(pattern, v string) bool {
	switch c.Op {
	case "StringLike", "StringNotLike":
		return glob(pattern, v)
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(pattern, v)
	}
	return pattern == v
}

// glob reports whether s matches pattern, where * matches any run of
// characters (also none) and ? any one character; all else matches itself,
// with case.
func glob(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
