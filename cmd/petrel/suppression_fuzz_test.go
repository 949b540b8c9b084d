package main

import (
	"reflect"
	"testing"
)

// FuzzParseSoftBounce: the --soft-bounce syntax (COUNT/WINDOW/FOR[:reasons]
// or off) never panics, and a policy it accepts is valid and survives its
// wire form (SoftBounceJSON) unchanged.
func FuzzParseSoftBounce(f *testing.F) {
	for _, s := range []string{"3/72h/7d:mailbox-full", "off", "2/1h/1h", "3/72h/7d:mailbox-full,mailbox-disabled", "1/1h/1h",
		"3/72h", "x/1h/1h", "3/1h/1h:", "3/-1h/1h", "100/90d/365d", "3/72h/7d:network-error", ":", "//", "3/1h/1h:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sb, err := parseSoftBounce(s)
		if err != nil || sb == nil {
			return
		}
		if err := sb.Validate(); err != nil {
			t.Fatalf("parseSoftBounce(%q) accepted an invalid policy: %v", s, err)
		}
		back, err := sb.JSON().Policy()
		if err != nil || !reflect.DeepEqual(back, *sb) {
			t.Fatalf("parseSoftBounce(%q) = %+v; through SoftBounceJSON: %+v, %v", s, *sb, back, err)
		}
	})
}
