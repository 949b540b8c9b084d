package sesarn

import "testing"

func TestParse(t *testing.T) {
	a, ok := Parse("arn:aws:ses:eu-west-1:123456789012:template/a/b")
	if !ok || a != (ARN{Partition: "aws", Region: "eu-west-1", Account: "123456789012", Type: "template", Name: "a/b"}) {
		t.Fatalf("Parse = %+v, %v", a, ok)
	}
	if Format(a.Region, a.Account, a.Type, a.Name) != "arn:aws:ses:eu-west-1:123456789012:template/a/b" {
		t.Errorf("Format does not give the ARN back")
	}
	for _, bad := range []string{"", "arn:nope", "arn:aws:sns:us-east-1:123456789012:topic/x", "arn::ses:us-east-1:1:template/x",
		"arn:aws:ses::1:template/x", "arn:aws:ses:us-east-1::template/x", "arn:aws:ses:us-east-1:1:template", "arn:aws:ses:us-east-1:1:/x",
		"nra:aws:ses:us-east-1:1:template/x"} {
		if a, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) = %+v, want not an SES ARN", bad, a)
		}
	}
}

// TestOf: the one rule — Petrel's region (exactly) and the account.
func TestOf(t *testing.T) {
	a, _ := Parse("arn:aws:ses:eu-west-1:123456789012:identity/example.com")
	for _, c := range []struct {
		region, account string
		want            bool
	}{
		{"eu-west-1", "123456789012", true},
		{"", "123456789012", true},
		{"us-east-1", "123456789012", false},
		{"EU-WEST-1", "123456789012", false},
		{"eu-west-1", "999999999999", false},
	} {
		if got := a.Of(c.region, c.account); got != c.want {
			t.Errorf("Of(%q, %q) = %v, want %v", c.region, c.account, got, c.want)
		}
	}
}
