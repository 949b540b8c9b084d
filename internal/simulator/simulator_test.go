package simulator

import "testing"

func TestLookup(t *testing.T) {
	cases := []struct {
		local           string
		delivered       bool
		bounceType, sub string
		complaint       bool
	}{
		{"success", true, "", "", false},
		{"success+user42", true, "", "", false},
		{"bounce", false, "Permanent", "General", false},
		{"bounce+label1", false, "Permanent", "General", false},
		{"ooto", true, "Transient", "General", false},
		{"complaint", true, "", "", true},
		{"SuppressionList", false, "Permanent", "Suppressed", false},
	}
	for _, c := range cases {
		o := Lookup(c.local)
		if o.Delivered != c.delivered || (o.Complaint != nil) != c.complaint {
			t.Errorf("%s: %+v", c.local, o)
		}
		if c.bounceType == "" && o.Bounce != nil || c.bounceType != "" && (o.Bounce == nil || o.Bounce.Type != c.bounceType || o.Bounce.SubType != c.sub) {
			t.Errorf("%s: bounce %+v, want %s/%s", c.local, o.Bounce, c.bounceType, c.sub)
		}
	}
}
