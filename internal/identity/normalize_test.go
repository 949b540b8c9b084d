package identity

import "testing"

// TestNormalizeIdempotent: an address identity whose local part needs
// quoting normalises to its unquoted form, and that form normalises to
// itself (a stored name given back names the same identity); AddressOf
// quotes it again for mailing.
func TestNormalizeIdempotent(t *testing.T) {
	for _, c := range []struct{ in, want, email string }{
		{`"<form action=x>"@example.com`, `<form action=x>@example.com`, `"<form action=x>"@example.com`},
		{`"<b>hi</b>"@Example.COM`, `<b>hi</b>@example.com`, `"<b>hi</b>"@example.com`},
		{`"a@b"@example.com`, `a@b@example.com`, `"a@b"@example.com`},
		{`User@example.com`, `User@example.com`, `User@example.com`},
	} {
		n, k, err := Normalize(c.in)
		if err != nil || n != c.want || k != EmailAddress {
			t.Errorf("Normalize(%q) = %q, %v, %v; want %q", c.in, n, k, err, c.want)
			continue
		}
		if again, _, err := Normalize(n); err != nil || again != n {
			t.Errorf("Normalize(%q) = %q, %v; want itself", n, again, err)
		}
		if got := AddressOf(n).Email(); got != c.email {
			t.Errorf("AddressOf(%q).Email() = %q; want %q", n, got, c.email)
		}
	}
	for _, bad := range []string{`a<b>@example.com@`, `@example.com`, `a@`} {
		if n, _, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, accepted", bad, n)
		}
	}
}
