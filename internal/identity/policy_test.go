package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const testARN = "arn:aws:ses:us-east-1:444455556666:identity/example.com"

func TestParsePolicyRefuses(t *testing.T) {
	stmt := func(extra string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ses:SendEmail","Resource":"` + testARN + `"` + extra + `}]}`
	}
	cases := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"Statement":`, "not a valid JSON object"},
		{"trailing data", stmt("") + `{}`, "data after"},
		{"too long", `{"Id":"` + strings.Repeat("x", MaxPolicySize) + `"}`, "at most 4096"},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, "Version must be"},
		{"no statement", `{"Version":"2012-10-17"}`, "no Statement"},
		{"unknown top", `{"Statements":[]}`, `unknown policy element "Statements"`},
		{"bad effect", strings.Replace(stmt(""), `"Allow"`, `"Permit"`, 1), "Effect must be"},
		{"no principal", `{"Statement":{"Effect":"Allow","Action":"ses:SendEmail","Resource":"*"}}`, "Principal is required"},
		{"bad principal id", strings.Replace(stmt(""), "111122223333", "1234", 1), `Principal "1234" is not a valid principal`},
		{"iam user principal", strings.Replace(stmt(""), "111122223333", "arn:aws:iam::111122223333:user/John", 1), "no IAM users"},
		{"service principal", strings.Replace(stmt(""), `{"AWS":"111122223333"}`, `{"Service":"ses.amazonaws.com"}`, 1), `Principal "Service" is not supported`},
		{"non-ses action", strings.Replace(stmt(""), "ses:SendEmail", "s3:GetObject", 1), "not an Amazon SES action"},
		{"other resource", strings.Replace(stmt(""), "identity/example.com", "identity/other.com", 1), "is not this identity"},
		{"resource not ARN", strings.Replace(stmt(""), testARN, "example.com", 1), "is not an ARN"},
		{"NotAction", stmt(`,"NotAction":"ses:SendEmail"`), "NotAction is not supported"},
		{"unsupported operator", stmt(`,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), `operator "IpAddress" is not supported`},
		{"IfExists", stmt(`,"Condition":{"StringLikeIfExists":{"ses:FromAddress":"a@example.com"}}`), "is not supported"},
		{"unsupported key", stmt(`,"Condition":{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}`), `condition key "aws:SourceIp" is not supported`},
		{"recipients without set", stmt(`,"Condition":{"StringLike":{"ses:Recipients":"*@example.com"}}`), "ForAllValues"},
		{"date on string key", stmt(`,"Condition":{"DateLessThan":{"ses:FromAddress":"2020-01-01T00:00:00Z"}}`), "takes a String operator"},
		{"string on time", stmt(`,"Condition":{"StringEquals":{"aws:CurrentTime":"x"}}`), "takes a Date operator"},
		{"bad date", stmt(`,"Condition":{"DateLessThan":{"aws:CurrentTime":"next week"}}`), "is not a date"},
		{"bad set", stmt(`,"Condition":{"ForSomeValues:StringLike":{"ses:Recipients":"*"}}`), "not supported"},
		{"duplicate Effect", strings.Replace(stmt(""), `"Effect":"Allow"`, `"Effect":"Allow","Effect":"Deny"`, 1), `member "Effect" appears more than once`},
		{"duplicate top-level", `{"Version":"2012-10-17","Version":"2008-10-17","Statement":[]}`, `member "Version" appears more than once`},
		{"duplicate in Principal", strings.Replace(stmt(""), `{"AWS":"111122223333"}`, `{"AWS":"111122223333","AWS":"*"}`, 1), `member "AWS" appears more than once`},
		{"duplicate in a condition", stmt(`,"Condition":{"StringEquals":{"ses:FromAddress":"a@example.com","ses:FromAddress":"b@example.com"}}`), `member "ses:FromAddress" appears more than once`},
		{"duplicate operator after a nested object", stmt(`,"Condition":{"StringEquals":{"ses:FromAddress":"a@example.com"},"StringEquals":{}}`), `member "StringEquals" appears more than once`},
		{"duplicate after a list", `{"Statement":[{"Effect":"Allow"}],"Statement":[]}`, `member "Statement" appears more than once`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicy(c.doc, testARN)
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a PolicyError containing %q", err, c.want)
			}
		})
	}
}

// The same member name in different objects (two statements, each with
// its Effect; a key that is also a value) is not a duplicate.
func TestParsePolicySameNameInSiblings(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"Effect","Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":"ses:SendEmail","Resource":"` + testARN + `"},` +
		`{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"ses:SendRawEmail","Resource":"` + testARN + `","Condition":{"StringEquals":{"ses:FromAddress":"a@example.com"},"StringLike":{"ses:FromAddress":"b@*"}}}]}`
	p, err := ParsePolicy(doc, testARN)
	if err != nil || len(p.Statements) != 2 {
		t.Fatalf("ParsePolicy = %+v, %v", p, err)
	}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	base := Request{Principal: "111122223333", Action: "ses:SendEmail", Resource: testARN, FromAddress: "invoicing@example.com",
		FromDisplayName: "Billing", FeedbackAddress: "bounces@example.com", Recipients: []string{"a@customer.test", "b@customer.test"}, Now: now}
	allow := func(principal, action, cond string) string {
		if cond != "" {
			cond = `,"Condition":` + cond
		}
		return `{"Effect":"Allow","Principal":{"AWS":` + principal + `},"Action":` + action + `,"Resource":"` + testARN + `"` + cond + `}`
	}
	deny := func(cond string) string {
		return strings.Replace(allow(`"*"`, `"ses:*"`, cond), `"Allow"`, `"Deny"`, 1)
	}
	cases := []struct {
		name       string
		statements []string
		edit       func(*Request)
		want       Decision
	}{
		{"no policy", nil, nil, NotAllowed},
		{"allow account id", []string{allow(`"111122223333"`, `"ses:SendEmail"`, "")}, nil, Allowed},
		{"allow root ARN", []string{allow(`["arn:aws:iam::111122223333:root"]`, `["ses:SendEmail","ses:SendRawEmail"]`, "")}, nil, Allowed},
		{"allow star principal", []string{`{"Effect":"Allow","Principal":"*","Action":"ses:*","Resource":"*"}`}, nil, Allowed},
		{"other account", []string{allow(`"999999999999"`, `"ses:SendEmail"`, "")}, nil, NotAllowed},
		{"other action", []string{allow(`"111122223333"`, `"ses:SendRawEmail"`, "")}, nil, NotAllowed},
		{"action case-insensitive", []string{allow(`"111122223333"`, `"SES:sendemail"`, "")}, nil, Allowed},
		{"action wildcard", []string{allow(`"111122223333"`, `"ses:Send*"`, "")}, func(r *Request) { r.Action = "ses:SendRawEmail" }, Allowed},
		{"resource wildcard", []string{`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"ses:SendEmail","Resource":"arn:aws:ses:*:444455556666:identity/*"}`}, nil, Allowed},
		{"deny beats allow", []string{allow(`"111122223333"`, `"ses:SendEmail"`, ""), deny("")}, nil, Denied},
		{"deny alone", []string{deny("")}, nil, Denied},
		{"from like", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringLike":{"ses:FromAddress":"invoicing*@example.com"}}`)}, nil, Allowed},
		{"from like misses", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringLike":{"ses:FromAddress":"invoicing*@example.com"}}`)},
			func(r *Request) { r.FromAddress = "admin@example.com" }, NotAllowed},
		{"from equals is case-sensitive", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringEquals":{"ses:FromAddress":"Invoicing@example.com"}}`)}, nil, NotAllowed},
		{"from equals ignore case", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringEqualsIgnoreCase":{"ses:FromAddress":"Invoicing@EXAMPLE.com"}}`)}, nil, Allowed},
		{"deny not like admin", []string{allow(`"111122223333"`, `"ses:SendEmail"`, ""), deny(`{"StringNotLike":{"ses:FromAddress":"*admin*example.com"}}`)}, nil, Denied},
		{"deny not like admin spares admin", []string{allow(`"111122223333"`, `"ses:SendEmail"`, ""), deny(`{"StringNotLike":{"ses:FromAddress":"*admin*example.com"}}`)},
			func(r *Request) { r.FromAddress = "admin@example.com" }, Allowed},
		{"display name", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringEquals":{"ses:FromDisplayName":"Billing"}}`)}, nil, Allowed},
		{"recipients all match", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"ForAllValues:StringLike":{"ses:Recipients":["*@customer.test"]}}`)}, nil, Allowed},
		{"recipients one outside", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"ForAllValues:StringLike":{"ses:Recipients":["*@customer.test"]}}`)},
			func(r *Request) { r.Recipients = append(r.Recipients, "c@elsewhere.test") }, NotAllowed},
		{"recipients any", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"ForAnyValue:StringEquals":{"ses:Recipients":"b@customer.test"}}`)}, nil, Allowed},
		{"recipients any none", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"ForAnyValue:StringEquals":{"ses:Recipients":"z@customer.test"}}`)}, nil, NotAllowed},
		{"feedback", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringEquals":{"ses:FeedbackAddress":"bounces@example.com"}}`)}, nil, Allowed},
		{"feedback absent", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"StringEquals":{"ses:FeedbackAddress":"bounces@example.com"}}`)},
			func(r *Request) { r.FeedbackAddress = "" }, NotAllowed},
		{"before deadline", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"DateLessThan":{"aws:CurrentTime":"2026-07-30T00:00:00Z"}}`)}, nil, Allowed},
		{"after deadline", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"DateLessThan":{"aws:CurrentTime":"2026-05-30T00:00:00Z"}}`)}, nil, NotAllowed},
		{"not yet", []string{allow(`"111122223333"`, `"ses:SendEmail"`, `{"DateGreaterThan":{"aws:CurrentTime":"1800000000"}}`)}, nil, NotAllowed},
		{"conditions all hold", []string{allow(`"111122223333"`, `"ses:SendEmail"`,
			`{"StringLike":{"ses:FromAddress":"invoicing*@example.com"},"DateGreaterThan":{"aws:CurrentTime":"2026-01-01"}}`)}, nil, Allowed},
		{"one condition fails", []string{allow(`"111122223333"`, `"ses:SendEmail"`,
			`{"StringLike":{"ses:FromAddress":"invoicing*@example.com"},"DateGreaterThan":{"aws:CurrentTime":"2027-01-01"}}`)}, nil, NotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var policies []*Policy
			if c.statements != nil {
				p, err := ParsePolicy(`{"Version":"2012-10-17","Statement":[`+strings.Join(c.statements, ",")+`]}`, testARN)
				if err != nil {
					t.Fatal(err)
				}
				policies = append(policies, p)
			}
			r := base
			r.Recipients = append([]string(nil), base.Recipients...)
			if c.edit != nil {
				c.edit(&r)
			}
			if got := Evaluate(policies, r); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*@example.com", "x@example.com", true}, {"*@example.com", "x@example.co", false}, {"**", "x", true}, {"", "", true}, {"", "x", false},
	}
	for _, c := range cases {
		if got := glob(c.p, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

// FuzzParsePolicy: ParsePolicy never panics, and a policy it accepts
// evaluates without panicking.
func FuzzParsePolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["ses:SendEmail"],"Resource":"` + testARN + `","Condition":{"ForAllValues:StringLike":{"ses:Recipients":"*@x"},"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}}]}`)
	f.Add(`{"Statement":{"Effect":"Deny","Principal":"*","Action":"ses:*","Resource":"*"}}`)
	f.Add(`{"Statement":[{}]}`)
	f.Add(`{"Statement":{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"ses:*","Resource":"*"}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := ParsePolicy(doc, testARN)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a PolicyError", err)
			}
			return
		}
		Evaluate([]*Policy{p}, Request{Principal: "111122223333", Action: "ses:SendEmail", Resource: testARN, FromAddress: "a@example.com", Recipients: []string{"b@x"}, Now: time.Unix(0, 0)})
	})
}
