package sns

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Filter policies (SNS message filtering,
// https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html).
//
// A policy is a JSON object. Each of its keys names a message attribute
// (FilterPolicyScope MessageAttributes, the default) or a property of the
// JSON message body (MessageBody, where a key's value may be a nested
// object matching a nested property); each key's value is an array of
// conditions, at least one of which must match (OR); every key must match
// (AND). "$or": [policy, …] matches when one of its policies does.
// Conditions: a string, number, true/false or null (exact match; numbers
// compared numerically), {"prefix": s}, {"suffix": s},
// {"equals-ignore-case": s}, {"anything-but": value | [values] |
// {"prefix"|"suffix"|"equals-ignore-case": s}}, {"exists": true|false},
// {"numeric": [op, n] or [op, n, op, n]} with ops = < <= > >=. A property
// whose value is an array (String.Array attributes, JSON arrays in the
// body) matches when any element does. A message with a body that is not a
// JSON object matches no MessageBody policy.

// Filter policy scopes.
const (
	ScopeAttributes = "MessageAttributes"
	ScopeBody       = "MessageBody"
)

// maxPolicyKeys is SNS's limit on a policy's top-level keys (attribute
// names), and maxPolicyValues that on conditions in all (SNS: 150
// combinations; Petrel counts values).
const (
	maxPolicyKeys   = 5
	maxPolicyValues = 150
	maxPolicyBytes  = 256 * 1024
)

// parsePolicy checks a FilterPolicy and returns it decoded. "" and the
// empty object "{}" are no policy (nil): SNS removes a subscription's
// filter policy when it is set to {}.
func parsePolicy(s, scope string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > maxPolicyBytes {
		return nil, errors.New("the policy is larger than 256 KB")
	}
	var p map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&p); err != nil || d.More() || p == nil {
		return nil, errors.New("the policy is not a JSON object")
	}
	if len(p) == 0 {
		return nil, nil
	}
	n := 0
	if err := checkPolicy(p, scope, 0, &n); err != nil {
		return nil, err
	}
	return p, nil
}

func checkPolicy(p map[string]any, scope string, depth int, n *int) error {
	if len(p) == 0 {
		return errors.New("a policy object must not be empty")
	}
	if depth == 0 && len(p) > maxPolicyKeys+1 {
		return fmt.Errorf("a policy can have at most %d keys", maxPolicyKeys)
	}
	if depth > 5 {
		return errors.New("the policy is nested too deeply")
	}
	for k, v := range p {
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return errors.New(`"$or" takes an array of at least two policy objects`)
			}
			for _, a := range alts {
				m, ok := a.(map[string]any)
				if !ok {
					return errors.New(`"$or" takes an array of policy objects`)
				}
				if err := checkPolicy(m, scope, depth+1, n); err != nil {
					return err
				}
			}
			continue
		}
		switch v := v.(type) {
		case []any:
			if len(v) == 0 {
				return fmt.Errorf("key %q: empty array of conditions", k)
			}
			for _, c := range v {
				*n++
				if err := checkCondition(c); err != nil {
					return fmt.Errorf("key %q: %w", k, err)
				}
			}
		case map[string]any:
			if scope != ScopeBody {
				return fmt.Errorf("key %q: nested objects match properties of the message body (FilterPolicyScope MessageBody)", k)
			}
			if err := checkPolicy(v, scope, depth+1, n); err != nil {
				return err
			}
		default:
			return fmt.Errorf("key %q: the value must be an array of conditions", k)
		}
	}
	if *n > maxPolicyValues {
		return fmt.Errorf("a policy can have at most %d values", maxPolicyValues)
	}
	return nil
}

func checkCondition(c any) error {
	switch c := c.(type) {
	case string, json.Number, bool, nil:
		return nil
	case map[string]any:
		if len(c) != 1 {
			return errors.New("a condition object has exactly one operator")
		}
		for op, arg := range c {
			switch op {
			case "prefix", "suffix", "equals-ignore-case":
				if s, ok := arg.(string); !ok || s == "" {
					return fmt.Errorf("%s takes a non-empty string", op)
				}
			case "exists":
				if _, ok := arg.(bool); !ok {
					return errors.New("exists takes true or false")
				}
			case "anything-but":
				switch a := arg.(type) {
				case string, json.Number:
				case []any:
					for _, x := range a {
						switch x.(type) {
						case string, json.Number:
						default:
							return errors.New("anything-but takes strings or numbers")
						}
					}
				case map[string]any:
					if len(a) != 1 {
						return errors.New("anything-but takes one operator")
					}
					for op2, s := range a {
						if op2 != "prefix" && op2 != "suffix" && op2 != "equals-ignore-case" {
							return fmt.Errorf("anything-but does not take %s", op2)
						}
						if _, ok := s.(string); !ok {
							return fmt.Errorf("anything-but %s takes a string", op2)
						}
					}
				default:
					return errors.New("anything-but takes a value, an array of values or a prefix/suffix object")
				}
			case "numeric":
				a, ok := arg.([]any)
				if !ok || (len(a) != 2 && len(a) != 4) {
					return errors.New("numeric takes [op, number] or [op, number, op, number]")
				}
				for i := 0; i < len(a); i += 2 {
					o, _ := a[i].(string)
					if o != "=" && o != "<" && o != "<=" && o != ">" && o != ">=" {
						return fmt.Errorf("numeric: unknown operator %v", a[i])
					}
					if _, ok := a[i+1].(json.Number); !ok {
						return errors.New("numeric: operands are numbers")
					}
				}
			default:
				return fmt.Errorf("unrecognized match type %s", op)
			}
		}
		return nil
	}
	return errors.New("a condition is a value or an operator object")
}

// absent marks a property the message does not have.
type absentT struct{}

var absent = absentT{}

// attrValues turns message attributes into the values a policy matches:
// String → string, Number → float64, String.Array → the decoded array.
func attrValues(attrs map[string]MessageAttribute) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, a := range attrs {
		switch {
		case a.Type == "Number" || strings.HasPrefix(a.Type, "Number."):
			if f, err := strconv.ParseFloat(a.Value, 64); err == nil {
				out[k] = f
			}
		case a.Type == "String.Array":
			var arr []any
			if json.Unmarshal([]byte(a.Value), &arr) == nil {
				out[k] = arr
			}
		case a.Type == "Binary" || strings.HasPrefix(a.Type, "Binary."):
			out[k] = []any{} // present, matches only exists
		default:
			out[k] = a.Value
		}
	}
	return out
}

// matchPolicy reports whether values (message attributes, or the decoded
// message body) satisfy policy p. Nested body objects are map[string]any.
func matchPolicy(p map[string]any, values map[string]any) bool {
	for k, cond := range p {
		if k == "$or" {
			ok := false
			for _, a := range cond.([]any) {
				if matchPolicy(a.(map[string]any), values) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
			continue
		}
		var v any = absent
		if x, ok := values[k]; ok {
			v = x
		}
		switch c := cond.(type) {
		case map[string]any:
			sub, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if !matchPolicy(c, sub) {
				return false
			}
		case []any:
			if !matchAny(c, v) {
				return false
			}
		}
	}
	return true
}

// matchAny: one of conds matches v (or, v being an array, one element).
func matchAny(conds []any, v any) bool {
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			if e, ok := m["exists"]; ok {
				if e.(bool) == (v != absent) {
					return true
				}
				continue
			}
		}
		if arr, ok := v.([]any); ok {
			for _, x := range arr {
				if matchOne(c, x) {
					return true
				}
			}
			continue
		}
		if v != absent && matchOne(c, v) {
			return true
		}
	}
	return false
}

func num(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

func equalValue(c, v any) bool {
	switch c := c.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == c
	case json.Number:
		a, _ := num(c)
		b, ok := num(v)
		return ok && math.Abs(a-b) < 1e-9
	case bool:
		b, ok := v.(bool)
		return ok && b == c
	case nil:
		return v == nil
	}
	return false
}

func stringOp(op, arg string, v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch op {
	case "prefix":
		return strings.HasPrefix(s, arg)
	case "suffix":
		return strings.HasSuffix(s, arg)
	case "equals-ignore-case":
		return strings.EqualFold(s, arg)
	}
	return false
}

func matchOne(c, v any) bool {
	m, ok := c.(map[string]any)
	if !ok {
		return equalValue(c, v)
	}
	for op, arg := range m {
		switch op {
		case "prefix", "suffix", "equals-ignore-case":
			return stringOp(op, arg.(string), v)
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				if _, isS := v.(string); !isS {
					if _, isN := num(v); !isN {
						return false
					}
				}
				for _, x := range a {
					if equalValue(x, v) {
						return false
					}
				}
				return true
			case map[string]any:
				if _, isS := v.(string); !isS {
					return false
				}
				for op2, s := range a {
					return !stringOp(op2, s.(string), v)
				}
			default:
				if _, isS := v.(string); !isS {
					if _, isN := num(v); !isN {
						return false
					}
				}
				return !equalValue(a, v)
			}
		case "numeric":
			f, ok := num(v)
			if !ok {
				return false
			}
			a := arg.([]any)
			for i := 0; i < len(a); i += 2 {
				n, _ := num(a[i+1])
				var r bool
				switch a[i].(string) {
				case "=":
					r = math.Abs(f-n) < 1e-9
				case "<":
					r = f < n
				case "<=":
					r = f <= n
				case ">":
					r = f > n
				case ">=":
					r = f >= n
				}
				if !r {
					return false
				}
			}
			return true
		}
	}
	return false
}

// filterMatches applies a subscription's filter policy (attribute
// FilterPolicy, scope FilterPolicyScope) to a message.
func filterMatches(subAttrs map[string]string, msg string, attrs map[string]MessageAttribute) bool {
	scope := subAttrs["FilterPolicyScope"]
	if scope == "" {
		scope = ScopeAttributes
	}
	p, err := parsePolicy(subAttrs["FilterPolicy"], scope)
	if err != nil || p == nil {
		return err == nil
	}
	if scope == ScopeBody {
		var body map[string]any
		d := json.NewDecoder(strings.NewReader(msg))
		d.UseNumber()
		if d.Decode(&body) != nil {
			return false
		}
		return matchPolicy(p, body)
	}
	return matchPolicy(p, attrValues(attrs))
}
