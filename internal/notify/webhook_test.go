package notify

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\ngot  %s\nwant %s", name, got, want)
	}
}

var (
	goldenTime = time.Unix(1764417600, 0) // 2025-11-29T12:00:00Z
	goldenBody = []byte(`{"eventType":"Bounce","mail":{"messageId":"0100019ad2c1e6c0-6f1b3c9e-1e5a-4c3b-9d0e-2a7f1b6c8d9e-000000"},"bounce":{"bounceType":"Permanent"}}`)
)

// TestSignWebhookGolden: the header for fixed secrets, time and body (its
// HMACs are also checked by scripts/webhook-verify.py, independently).
func TestSignWebhookGolden(t *testing.T) {
	got := SignWebhook([]string{"whsec_new", "whsec_old"}, goldenTime, goldenBody)
	golden(t, "signature.golden", []byte(got+"\n"))
	if !strings.HasPrefix(got, "t=1764417600,v1=") || strings.Count(got, ",v1=") != 2 {
		t.Errorf("header %q", got)
	}
}

func TestVerifyWebhook(t *testing.T) {
	now := goldenTime
	body := goldenBody
	sig := SignWebhook([]string{"whsec_new", "whsec_old"}, now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"new secret", sig, body, "whsec_new", now, 0, nil},
		{"old secret during rotation", sig, body, "whsec_old", now, 0, nil},
		{"other secret", sig, body, "whsec_other", now, 0, ErrSignatureMismatch},
		{"body changed", sig, append([]byte(nil), append(body, ' ')...), "whsec_new", now, 0, ErrSignatureMismatch},
		{"timestamp changed", strings.Replace(sig, "t=1764417600", "t=1764417601", 1), body, "whsec_new", now, 0, ErrSignatureMismatch},
		{"4m59s late", sig, body, "whsec_new", now.Add(299 * time.Second), 0, nil},
		{"5m late", sig, body, "whsec_new", now.Add(5 * time.Minute), 0, nil},
		{"5m01s late: a replay", sig, body, "whsec_new", now.Add(301 * time.Second), 0, ErrSignatureTime},
		{"5m01s early", sig, body, "whsec_new", now.Add(-301 * time.Second), 0, ErrSignatureTime},
		{"custom tolerance", sig, body, "whsec_new", now.Add(time.Hour), 2 * time.Hour, nil},
		{"spaces after commas", strings.ReplaceAll(sig, ",", ", "), body, "whsec_new", now, 0, nil},
		{"unknown scheme ignored", sig + ",v0=abc", body, "whsec_new", now, 0, nil},
		{"empty", "", body, "whsec_new", now, 0, ErrSignatureFormat},
		{"no t", strings.SplitN(sig, ",", 2)[1], body, "whsec_new", now, 0, ErrSignatureFormat},
		{"two t", "t=1," + sig, body, "whsec_new", now, 0, ErrSignatureFormat},
		{"no v1", "t=1764417600", body, "whsec_new", now, 0, ErrSignatureFormat},
		{"bad t", "t=abc,v1=00", body, "whsec_new", now, 0, ErrSignatureFormat},
		{"signed t", "t=+1764417600," + strings.SplitN(sig, ",", 2)[1], body, "whsec_new", now, 0, ErrSignatureFormat},
		{"v1 not hex", "t=1764417600,v1=zz", body, "whsec_new", now, 0, ErrSignatureFormat},
		{"no equals", "t", body, "whsec_new", now, 0, ErrSignatureFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhook(tt.header, tt.body, tt.secret, tt.now, tt.tol)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("VerifyWebhook = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzVerifyWebhook: the header parser never panics, and accepts only a
// header carrying the right HMAC for the body.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add(SignWebhook([]string{"whsec_new"}, goldenTime, goldenBody), []byte("x"))
	f.Add("t=1764417600,v1=,v1=00", []byte{})
	f.Add("t=-9223372036854775808,v1=aa", []byte{})
	f.Add("t=9223372036854775807,v1="+strings.Repeat("0", 64), []byte{})
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook(header, body, "whsec_new", goldenTime, 0)
		if err == nil && strings.Contains(header, "v1=") {
			// Accepted: then it must carry the body's HMAC for its t.
			for part := range strings.SplitSeq(header, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
				if k == "t" && strings.Contains(header, webhookMAC("whsec_new", v, body)) {
					return
				}
			}
			t.Fatalf("accepted %q for body %q", header, body)
		}
	})
}

// fixtureCase is one entry of the file scripts/webhook-verify.py reads.
type fixtureCase struct {
	Secret string `json:"secret"`
	Header string `json:"header"`
	Body   string `json:"body_b64"`
	Now    int64  `json:"now"`
	Valid  bool   `json:"valid"`
}

// TestWebhookFixture writes signatures made by SignWebhook — random secrets
// and bodies, plus tampered copies that must fail — to the file named by
// PETREL_WEBHOOK_FIXTURE, for CI to check with an independent HMAC
// implementation:
//
//	PETREL_WEBHOOK_FIXTURE=/tmp/wh.json go test ./internal/notify -run TestWebhookFixture
//	python3 scripts/webhook-verify.py /tmp/wh.json
func TestWebhookFixture(t *testing.T) {
	path := os.Getenv("PETREL_WEBHOOK_FIXTURE")
	if path == "" {
		t.Skip("PETREL_WEBHOOK_FIXTURE not set")
	}
	var cases []fixtureCase
	now := time.Now()
	for i := range 20 {
		var k [32]byte
		rand.Read(k[:])
		secret := "whsec_" + base64.RawURLEncoding.EncodeToString(k[:])
		rand.Read(k[:])
		old := "whsec_" + base64.RawURLEncoding.EncodeToString(k[:])
		body := make([]byte, 1+i*97)
		rand.Read(body)
		if i%2 == 0 { // JSON-looking bodies too, with non-ASCII
			body = []byte(`{"eventType":"Delivery","mail":{"source":"Zoë <z@example.com>"},"n":` + string(rune('0'+i%10)) + `}`)
		}
		h := SignWebhook([]string{secret, old}, now, body)
		b64 := base64.StdEncoding.EncodeToString(body)
		cases = append(cases,
			fixtureCase{secret, h, b64, now.Unix(), true},
			fixtureCase{old, h, b64, now.Unix(), true},
			fixtureCase{secret + "x", h, b64, now.Unix(), false},
			fixtureCase{secret, h, base64.StdEncoding.EncodeToString(append(body, '!')), now.Unix(), false},
			fixtureCase{secret, h, b64, now.Unix() + 301, false},
		)
	}
	for _, c := range cases { // Go agrees with what the script will be told
		body, _ := base64.StdEncoding.DecodeString(c.Body)
		if err := VerifyWebhook(c.Header, body, c.Secret, time.Unix(c.Now, 0), 0); (err == nil) != c.Valid {
			t.Fatalf("Go verification of %+v: %v", c, err)
		}
	}
	b, _ := json.MarshalIndent(cases, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
