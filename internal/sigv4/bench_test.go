package sigv4

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// BenchmarkVerify verifies a SendEmail-sized signed request, as the API does
// for every call.
func BenchmarkVerify(b *testing.B) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	body := bytes.Repeat([]byte("x"), 7000) // a base64 5 KB message in JSON
	r := signed(b, "POST", "http://h/v2/email/outbound-emails", body, now, aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := Verify(r, body, "ses", "us-east-1", now, lookup); err != nil {
			b.Fatal(err)
		}
	}
}
