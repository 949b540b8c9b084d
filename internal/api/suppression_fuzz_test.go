package api

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseListDate: ListSuppressedDestinations' StartDate/EndDate parser
// never panics; what it refuses is a BadRequestException naming the
// member, and what it accepts survives the store's epoch milliseconds.
func FuzzParseListDate(f *testing.F) {
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456+09:00", "1700000000", "1700000000.25",
		"2026-01-02", "2026-01-02T03:04:05.999", "-1", "1e300", "NaN", "Inf", "", "0001-01-01", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tm, err := parseListDate("StartDate", v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != "BadRequestException" || !strings.Contains(e.Message, "StartDate") {
				t.Fatalf("parseListDate(%q): %v", v, err)
			}
			return
		}
		if ms := tm.UnixMilli(); tm.Year() > 0 && tm.Year() < 10000 && (ms/1000 < tm.Unix()-1 || ms/1000 > tm.Unix()+1) {
			t.Fatalf("parseListDate(%q) = %v does not survive epoch milliseconds (%d)", v, tm, ms)
		}
	})
}
