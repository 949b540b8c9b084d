package smtpreply

import "testing"

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Reply
	}{
		{"250 2.0.0 Ok queued as 123", Reply{250, "2.0.0", "Ok queued as 123"}},
		{"550 5.1.1 <a@b>: user unknown\r\n", Reply{550, "5.1.1", "<a@b>: user unknown"}},
		{"421 Service not available", Reply{421, "", "Service not available"}},
		{"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100", Reply{250, "", "mx.test; PIPELINING; SIZE 100"}},
		{"550 4.1.1 class mismatch stays text", Reply{550, "", "4.1.1 class mismatch stays text"}},
		{"554", Reply{554, "", ""}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "hello", "99 x", "250-a\r\n251 b", "2500 x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if r := (Reply{Code: 451}); !r.Temporary() || r.Status() != "4.0.0" || r.String() != "451" {
		t.Errorf("helpers on %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("250 2.0.0 ok")
	f.Add("250-a\r\n250 b")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("code %d accepted", r.Code)
		}
		if _, err := Parse(r.String()); err != nil {
			t.Fatalf("String() of a parsed reply does not parse: %q", r.String())
		}
	})
}
