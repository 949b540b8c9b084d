package sns

import (
	"testing"
)

// TestFilterPolicy: SNS filter policy semantics on message attributes and
// on the message body.
func TestFilterPolicy(t *testing.T) {
	str := func(v string) MessageAttribute { return MessageAttribute{Type: "String", Value: v} }
	numA := func(v string) MessageAttribute { return MessageAttribute{Type: "Number", Value: v} }
	arr := func(v string) MessageAttribute { return MessageAttribute{Type: "String.Array", Value: v} }
	type A = map[string]MessageAttribute
	cases := []struct {
		name   string
		policy string
		scope  string
		attrs  A
		body   string
		want   bool
	}{
		{"no policy", "", "", A{}, "", true},
		{"empty object is no policy (SNS clears the filter with {})", "{}", "", A{}, "", true},
		{"exact", `{"eventType":["Bounce"]}`, "", A{"eventType": str("Bounce")}, "", true},
		{"exact other", `{"eventType":["Bounce"]}`, "", A{"eventType": str("Delivery")}, "", false},
		{"OR of values", `{"eventType":["Bounce","Complaint"]}`, "", A{"eventType": str("Complaint")}, "", true},
		{"missing attribute", `{"eventType":["Bounce"]}`, "", A{}, "", false},
		{"AND of keys", `{"eventType":["Bounce"],"store":["a"]}`, "", A{"eventType": str("Bounce")}, "", false},
		{"AND of keys, both", `{"eventType":["Bounce"],"store":["a"]}`, "", A{"eventType": str("Bounce"), "store": str("a")}, "", true},
		{"prefix", `{"eventType":[{"prefix":"Bou"}]}`, "", A{"eventType": str("Bounce")}, "", true},
		{"suffix", `{"eventType":[{"suffix":"nce"}]}`, "", A{"eventType": str("Bounce")}, "", true},
		{"ignore case", `{"eventType":[{"equals-ignore-case":"BOUNCE"}]}`, "", A{"eventType": str("bounce")}, "", true},
		{"anything-but list", `{"eventType":[{"anything-but":["Send","Delivery"]}]}`, "", A{"eventType": str("Bounce")}, "", true},
		{"anything-but list hit", `{"eventType":[{"anything-but":["Send","Bounce"]}]}`, "", A{"eventType": str("Bounce")}, "", false},
		{"anything-but absent", `{"eventType":[{"anything-but":"Send"}]}`, "", A{}, "", false},
		{"anything-but prefix", `{"eventType":[{"anything-but":{"prefix":"Bo"}}]}`, "", A{"eventType": str("Send")}, "", true},
		{"exists true", `{"eventType":[{"exists":true}]}`, "", A{"eventType": str("x")}, "", true},
		{"exists true absent", `{"eventType":[{"exists":true}]}`, "", A{}, "", false},
		{"exists false", `{"eventType":[{"exists":false}]}`, "", A{}, "", true},
		{"exists false present", `{"eventType":[{"exists":false}]}`, "", A{"eventType": str("x")}, "", false},
		{"numeric range", `{"price":[{"numeric":[">",100,"<=",200]}]}`, "", A{"price": numA("150")}, "", true},
		{"numeric out of range", `{"price":[{"numeric":[">",100,"<=",200]}]}`, "", A{"price": numA("250")}, "", false},
		{"numeric exact", `{"price":[100]}`, "", A{"price": numA("100.0")}, "", true},
		{"numeric on a string attribute", `{"price":[100]}`, "", A{"price": str("100")}, "", false},
		{"string array", `{"tags":["b"]}`, "", A{"tags": arr(`["a","b"]`)}, "", true},
		{"string array miss", `{"tags":["c"]}`, "", A{"tags": arr(`["a","b"]`)}, "", false},
		{"$or", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, "", A{"b": str("2")}, "", true},
		{"$or none", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, "", A{"b": str("3")}, "", false},
		{"body top level", `{"notificationType":["Bounce"]}`, ScopeBody, nil, `{"notificationType":"Bounce","mail":{}}`, true},
		{"body nested", `{"bounce":{"bounceType":["Permanent"]}}`, ScopeBody, nil, `{"bounce":{"bounceType":"Permanent"}}`, true},
		{"body nested miss", `{"bounce":{"bounceType":["Permanent"]}}`, ScopeBody, nil, `{"bounce":{"bounceType":"Transient"}}`, false},
		{"body array", `{"tags":["x"]}`, ScopeBody, nil, `{"tags":["w","x"]}`, true},
		{"body number", `{"n":[{"numeric":[">=",3]}]}`, ScopeBody, nil, `{"n":3}`, true},
		{"body bool and null", `{"b":[true],"z":[null]}`, ScopeBody, nil, `{"b":true,"z":null}`, true},
		{"body not JSON", `{"a":["1"]}`, ScopeBody, nil, `plain text`, false},
		{"attributes scope ignores the body", `{"eventType":["Bounce"]}`, ScopeAttributes, A{}, `{"eventType":"Bounce"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := map[string]string{"FilterPolicy": tc.policy}
			if tc.scope != "" {
				sub["FilterPolicyScope"] = tc.scope
			}
			scope := tc.scope
			if scope == "" {
				scope = ScopeAttributes
			}
			if _, err := parsePolicy(tc.policy, scope); err != nil {
				t.Fatalf("policy refused: %v", err)
			}
			if got := filterMatches(sub, tc.body, tc.attrs); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFilterPolicyInvalid: policies SNS refuses are refused.
func TestFilterPolicyInvalid(t *testing.T) {
	for _, p := range []string{
		`[]`, `{`, `null`, `{"a":"x"}`, `{"a":[]}`, `{"a":{}}`, `{"a":[{"bogus":1}]}`, `{"a":[{"prefix":1}]}`,
		`{"a":[{"numeric":["!",1]}]}`, `{"a":[{"numeric":[">"]}]}`, `{"a":[{"exists":"yes"}]}`,
		`{"a":[{"anything-but":{"exists":true}}]}`, `{"$or":[{"a":["1"]}]}`, `{"a":{"b":["1"]}}`,
		`{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"],"g":["1"]}`, `{"a":["1"]} {}`,
	} {
		if _, err := parsePolicy(p, ScopeAttributes); err == nil {
			t.Errorf("policy %s accepted", p)
		}
	}
}

// FuzzFilterPolicy: no policy or body makes the parser or matcher panic,
// and a policy accepted once is accepted again (checks are deterministic).
func FuzzFilterPolicy(f *testing.F) {
	f.Add(`{"eventType":["Bounce",{"prefix":"C"}]}`, `{"eventType":"Bounce"}`, false)
	f.Add(`{"a":{"b":[{"numeric":[">",1,"<",5]}]}}`, `{"a":{"b":[2,7]}}`, true)
	f.Add(`{"$or":[{"a":["1"]},{"b":[{"anything-but":["x"]}]}]}`, `{"b":"y"}`, true)
	f.Fuzz(func(t *testing.T, policy, body string, bodyScope bool) {
		scope := ScopeAttributes
		if bodyScope {
			scope = ScopeBody
		}
		p, err := parsePolicy(policy, scope)
		if err != nil || p == nil {
			return
		}
		sub := map[string]string{"FilterPolicy": policy, "FilterPolicyScope": scope}
		attrs := map[string]MessageAttribute{"eventType": {Type: "String", Value: body}, "n": {Type: "Number", Value: body},
			"l": {Type: "String.Array", Value: body}}
		filterMatches(sub, body, attrs)
		if _, err := parsePolicy(policy, scope); err != nil {
			t.Fatalf("accepted then refused: %v", err)
		}
	})
}
