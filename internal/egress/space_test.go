package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckURLSpace: a space anywhere in a notification URL is refused with
// a message that says where and what to write instead (url.Parse alone
// takes one in the path or query); %20 is accepted.
func TestCheckURLSpace(t *testing.T) {
	g := New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)
	for _, raw := range []string{"http://127.0.0.1:8080/x y", "http://127.0.0.1:8080/x?a=b c", "http://127.0.0.1:8080/x#a b"} {
		err := g.CheckURL(t.Context(), raw)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Reason, "space at byte") || !strings.Contains(e.Reason, "%20") {
			t.Errorf("CheckURL(%q) = %v, want the space refused", raw, err)
		}
	}
	if err := g.CheckURL(t.Context(), "http://127.0.0.1:8080/x%20y"); err != nil {
		t.Errorf("CheckURL with %%20: %v", err)
	}
}
