package identity

import (
	"maps"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// TestSettings: no settings before a daemon records any; a recording
// replaces the previous one as a whole (a setting the later start does not
// have is gone), with the node and time of the last.
func TestSettings(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s := New(store.OpenTest(t, backend), nil)
			got, err := s.LoadSettings(ctx)
			if err != nil || len(got.Values) != 0 || !got.Recorded.IsZero() {
				t.Fatalf("before any recording: %+v, %v", got, err)
			}
			t1 := time.UnixMilli(1_700_000_000_000)
			first := Settings{Values: map[string]string{"dns": "127.0.0.1:53", "dkim-cname-zone": "dkim.example"}, Node: "n1", Recorded: t1}
			if err := s.RecordSettings(ctx, first); err != nil {
				t.Fatal(err)
			}
			second := Settings{Values: map[string]string{"dns": "10.0.0.1:53", "verify-recheck": "1m0s"}, Node: "n2", Recorded: t1.Add(time.Hour)}
			if err := s.RecordSettings(ctx, second); err != nil {
				t.Fatal(err)
			}
			got, err = s.LoadSettings(ctx)
			if err != nil || !maps.Equal(got.Values, second.Values) || got.Node != "n2" || !got.Recorded.Equal(second.Recorded) {
				t.Fatalf("after two recordings: %+v, %v", got, err)
			}
		})
	}
}
