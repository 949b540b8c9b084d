// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// in both the Authorization-header form and the presigned-query form
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
//
// Verification is in two phases, so that nobody can make the server read a
// body before it knows who is asking:
//  1. Check, before any body byte is read: find the signature (Authorization
//     header, else X-Amz-* query members); check the credential scope
//     (date/region/service/aws4_request), the request time against the
//     allowed clock skew (or presign expiry), that host is signed and that
//     the payload declaration is a digest (UNSIGNED-PAYLOAD is S3's only);
//     look up the secret for the access key id;
//  2. Signed.Verify: rebuild the canonical request and string to sign with
//     the payload hash, derive the signing key, and compare signatures in
//     constant time. A client that declared x-amz-content-sha256 is verified
//     with it before its body is read (the caller then checks the body hashes
//     to it); otherwise the caller hashes the body as it reads it.
//
// Failures are *Error values carrying the AWS error code and HTTP status that
// AWS returns for them, so the API layer can answer in AWS's own shape.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm   = "AWS4-HMAC-SHA256"
	timeFormat  = "20060102T150405Z"
	dateFormat  = "20060102"
	unsignedPay = "UNSIGNED-PAYLOAD"
)

// MaxSkew is how far a request's X-Amz-Date may be from the server clock
// (AWS: "more than 15 minutes" → RequestExpired).
const MaxSkew = 15 * time.Minute

// Error is a verification failure in AWS terms.
type Error struct {
	Code    string // AWS error code, e.g. "InvalidSignatureException"
	Status  int    // HTTP status AWS answers with
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrUnknownKey is returned by a Lookup for an access key id it does not know
// (or that is inactive).
var ErrUnknownKey = errors.New("unknown access key")

// Lookup returns the secret access key for an access key id.
type Lookup func(accessKeyID string) (secret string, err error)

// Result describes a verified request.
type Result struct {
	AccessKeyID string
	Region      string
	Time        time.Time
}

func incomplete(format string, a ...any) *Error {
	return &Error{Code: "IncompleteSignatureException", Status: 400, Message: fmt.Sprintf(format, a...)}
}

var (
	errMissing = &Error{Code: "MissingAuthenticationTokenException", Status: 403, Message: "Missing Authentication Token"}
	errBadSig  = &Error{Code: "InvalidSignatureException", Status: 403,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errUnknownKey = &Error{Code: "UnrecognizedClientException", Status: 403, Message: "The security token included in the request is invalid."}
	// Petrel serves one region, as each SES endpoint does.
	errBadRegion    = &Error{Code: "InvalidSignatureException", Status: 403, Message: "Credential should be scoped to a valid region. "}
	errHashMismatch = &Error{Code: "InvalidSignatureException", Status: 403,
		Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
)

type sigParts struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
	amzDate                      string
	presigned                    bool
	expires                      time.Duration
}

// Signed is a request whose signature has passed every check that does
// not need the payload; Verify completes the check with the payload's hash.
type Signed struct {
	r     *http.Request
	p     *sigParts
	t     time.Time
	key   []byte
	want  []byte
	scope string
}

// Check runs, before any body byte is read, every check of r's signature
// that does not need the payload: the Authorization header (or presigned
// query) is present and well formed, the algorithm is AWS4-HMAC-SHA256, the
// credential scope names service and region (region "" accepts any), the
// request time is within MaxSkew (or the presign expiry), host is a signed
// header, and lookup knows the access key. The payload declaration
// x-amz-content-sha256 must be absent or a SHA-256 hex digest:
// UNSIGNED-PAYLOAD and the streaming forms are S3's and are refused, as SES
// refuses them (its answer is a signature mismatch).
func Check(r *http.Request, service, region string, now time.Time, lookup Lookup) (*Signed, error) {
	p, err := parse(r)
	if err != nil {
		return nil, err
	}
	if p.service != service {
		return nil, &Error{Code: "InvalidSignatureException", Status: 403,
			Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service)}
	}
	if region != "" && p.region != region {
		return nil, errBadRegion
	}
	t, err := time.Parse(timeFormat, p.amzDate)
	if err != nil {
		return nil, incomplete("Date must be in ISO-8601 'basic format'. Got '%s'.", p.amzDate)
	}
	if p.date != t.Format(dateFormat) {
		return nil, &Error{Code: "InvalidSignatureException", Status: 403,
			Message: fmt.Sprintf("Credential should be scoped to a valid date: '%s'. ", t.Format(dateFormat))}
	}
	if p.presigned {
		if now.After(t.Add(p.expires)) {
			return nil, &Error{Code: "RequestExpired", Status: 400,
				Message: fmt.Sprintf("Request has expired: signed at %s, valid for %d seconds.", p.amzDate, int(p.expires.Seconds()))}
		}
		if t.After(now.Add(MaxSkew)) {
			return nil, requestExpired(t, now)
		}
	} else if t.Before(now.Add(-MaxSkew)) || t.After(now.Add(MaxSkew)) {
		return nil, requestExpired(t, now)
	}
	if !contains(p.signedHeaders, "host") {
		return nil, incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && !isHexDigest(h) {
		if h == unsignedPay || strings.HasPrefix(h, "STREAMING-") {
			return nil, errBadSig
		}
		return nil, errHashMismatch
	}
	want, err := hex.DecodeString(p.signature)
	if err != nil {
		return nil, errBadSig
	}
	secret, err := lookup(p.keyID)
	if errors.Is(err, ErrUnknownKey) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("looking up access key: %w", err)
	}
	return &Signed{r: r, p: p, t: t, want: want,
		key:   SigningKey(secret, p.date, p.region, p.service),
		scope: p.date + "/" + p.region + "/" + p.service + "/aws4_request"}, nil
}

// Service returns the service r's signature is scoped to (its credential
// scope's fourth part: "ses", "sns"), or "" when r carries no signature
// that parses. It checks nothing: one endpoint serving two Query APIs
// (SNS and the SES v1 API both POST to /) routes by it, then Check checks.
func Service(r *http.Request) string {
	p, err := parse(r)
	if err != nil {
		return ""
	}
	return p.service
}

// DeclaredHash returns the payload's SHA-256 (lower-case hex) as the client
// declared it in x-amz-content-sha256, or "" when it declared none (the AWS
// SDKs send none for SES). When it is set, Verify(DeclaredHash()) proves the
// request authentic before its body is read; the body must then hash to it.
func (s *Signed) DeclaredHash() string {
	return strings.ToLower(s.r.Header.Get("X-Amz-Content-Sha256"))
}

// Verify completes the check with payloadHash, the lower-case hex SHA-256
// of the body (or DeclaredHash before the body is read). A declared hash
// that differs from payloadHash is refused with AWS's text for it.
func (s *Signed) Verify(payloadHash string) (*Result, error) {
	if d := s.DeclaredHash(); d != "" && d != payloadHash {
		return nil, errHashMismatch
	}
	cr := canonicalRequest(s.r, s.p, payloadHash)
	sts := algorithm + "\n" + s.p.amzDate + "\n" + s.scope + "\n" + sha256Hex([]byte(cr))
	if !hmac.Equal(hmacSHA256(s.key, []byte(sts)), s.want) {
		return nil, errBadSig
	}
	return &Result{AccessKeyID: s.p.keyID, Region: s.p.region, Time: s.t}, nil
}

// Verify checks r's whole signature for service and region given its body
// already read: Check, then Signed.Verify with the body's hash.
func Verify(r *http.Request, body []byte, service, region string, now time.Time, lookup Lookup) (*Result, error) {
	s, err := Check(r, service, region, now, lookup)
	if err != nil {
		return nil, err
	}
	return s.Verify(sha256Hex(body))
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func requestExpired(t, now time.Time) *Error {
	return &Error{Code: "RequestExpired", Status: 400, Message: fmt.Sprintf(
		"Request timestamp %s is more than 15 minutes away from the server time %s.",
		t.Format(timeFormat), now.UTC().Format(timeFormat))}
}

func parse(r *http.Request) (*sigParts, error) {
	auth := r.Header.Get("Authorization")
	q := r.URL.Query()
	if auth == "" {
		if q.Get("X-Amz-Signature") == "" && q.Get("X-Amz-Algorithm") == "" {
			return nil, errMissing
		}
		return parsePresigned(q)
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	p := &sigParts{}
	var missing []string
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok {
			fields[k] = v
		}
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	p.amzDate = r.Header.Get("X-Amz-Date")
	if p.amzDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, incomplete("%s Authorization=%s", strings.Join(missing, " "), auth)
	}
	if err := p.setCredential(fields["Credential"]); err != nil {
		return nil, err
	}
	p.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	p.signature = fields["Signature"]
	return p, nil
}

func parsePresigned(q url.Values) (*sigParts, error) {
	p := &sigParts{presigned: true}
	if a := q.Get("X-Amz-Algorithm"); a != algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'.", a)
	}
	for _, k := range []string{"X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date"} {
		if q.Get(k) == "" {
			return nil, incomplete("AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", k)
		}
	}
	if err := p.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	p.amzDate = q.Get("X-Amz-Date")
	p.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	p.signature = q.Get("X-Amz-Signature")
	p.expires = 15 * time.Minute
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > 604800 {
			return nil, incomplete("X-Amz-Expires must be between 1 and 604800 seconds.")
		}
		p.expires = time.Duration(n) * time.Second
	}
	return p, nil
}

func (p *sigParts) setCredential(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", c)
	}
	p.keyID, p.date, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func canonicalRequest(r *http.Request, p *sigParts, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	// Non-S3 services sign the already-escaped path escaped once more.
	b.WriteString(escape(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query(), p.presigned))
	b.WriteByte('\n')
	for _, h := range p.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(p.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return r.Host
	}
	var vals []string
	if name == "content-length" && r.ContentLength >= 0 && r.Header.Get("Content-Length") == "" {
		vals = []string{strconv.FormatInt(r.ContentLength, 10)}
	} else {
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func canonicalQuery(q url.Values, presigned bool) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k, true)+"="+escape(v, true))
		}
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes everything but RFC 3986 unreserved characters (and
// '/' unless encodeSlash), upper-case hex, as SigV4 requires.
func escape(s string, encodeSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// SigningKey derives the SigV4 signing key for a date (YYYYMMDD), region and
// service.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
