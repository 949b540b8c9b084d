package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the webhook signature header's name.
const SignatureHeader = "X-Petrel-Signature"

// DefaultTolerance is VerifyWebhook's default replay window: a signature
// whose timestamp is further than this from now is refused.
const DefaultTolerance = 5 * time.Minute

// SignWebhook returns the X-Petrel-Signature value for body sent at t:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=…]
//
// one v1 per secret, in the order given (newest first; two during a
// rotation). The HMAC key is the secret string's bytes as written
// ("whsec_…", not decoded).
func SignWebhook(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(webhookMAC(s, ts, body))
	}
	return b.String()
}

func webhookMAC(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrSignatureFormat   = errors.New("webhook signature: malformed header")
	ErrSignatureTime     = errors.New("webhook signature: timestamp outside the tolerance (a replay, or a clock off)")
	ErrSignatureMismatch = errors.New("webhook signature: no v1 signature matches the secret")
)

// VerifyWebhook checks an X-Petrel-Signature header for body against
// secret: the header must have exactly one t= (Unix seconds) within
// tolerance of now (0 means DefaultTolerance) and at least one v1= equal to
// HMAC-SHA256(secret, "<t>.<body>") (compared in constant time; unknown
// schemes such as v0= are ignored). Errors: ErrSignatureFormat,
// ErrSignatureTime, ErrSignatureMismatch (wrapped with detail).
func VerifyWebhook(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrSignatureFormat, truncate(part, 40))
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one t=", ErrSignatureFormat)
			}
			if v == "" {
				return fmt.Errorf("%w: empty t=", ErrSignatureFormat)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // not a signature this version makes: it cannot match
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t=", ErrSignatureFormat)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts[0] == '+' || ts[0] == '-' {
		return fmt.Errorf("%w: t=%q is not Unix seconds", ErrSignatureFormat, truncate(ts, 20))
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1=", ErrSignatureFormat)
	}
	if d := now.Sub(time.Unix(sec, 0)); sec > now.Unix()+int64(tolerance/time.Second) || d > tolerance {
		return fmt.Errorf("%w: t=%d, now %d", ErrSignatureTime, sec, now.Unix())
	}
	want, _ := hex.DecodeString(webhookMAC(secret, ts, body))
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
