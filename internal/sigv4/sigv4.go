// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// in both the Authorization-header form and the presigned-query form
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
//
// Verification steps:
//  1. find the signature (Authorization header, else X-Amz-* query members);
//  2. check the credential scope (date/region/service/aws4_request) and the
//     request time against the allowed clock skew (or presign expiry);
//  3. look up the secret for the access key id;
//  4. rebuild the canonical request and string to sign, derive the signing key,
//     and compare signatures in constant time.
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
)

type sigParts struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
	amzDate                      string
	presigned                    bool
	expires                      time.Duration
}

// Verify checks r's signature for service (SES signs as "ses"). body is the
// request body already read by the caller; now is the server time.
func Verify(r *http.Request, body []byte, service string, now time.Time, lookup Lookup) (*Result, error) {
	p, err := parse(r)
	if err != nil {
		return nil, err
	}
	if p.service != service {
		return nil, &Error{Code: "InvalidSignatureException", Status: 403,
			Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service)}
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
	secret, err := lookup(p.keyID)
	if errors.Is(err, ErrUnknownKey) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("looking up access key: %w", err)
	}

	bodyHash := sha256Hex(body)
	var hashes []string
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && !p.presigned {
		if h != unsignedPay && h != bodyHash {
			return nil, &Error{Code: "InvalidSignatureException", Status: 403,
				Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
		}
		hashes = []string{h}
	} else if p.presigned {
		hashes = []string{bodyHash, unsignedPay}
	} else {
		hashes = []string{bodyHash}
	}
	key := SigningKey(secret, p.date, p.region, p.service)
	scope := p.date + "/" + p.region + "/" + p.service + "/aws4_request"
	want, err := hex.DecodeString(p.signature)
	if err != nil {
		return nil, errBadSig
	}
	for _, h := range hashes {
		cr := canonicalRequest(r, p, h)
		sts := algorithm + "\n" + p.amzDate + "\n" + scope + "\n" + sha256Hex([]byte(cr))
		if hmac.Equal(hmacSHA256(key, []byte(sts)), want) {
			return &Result{AccessKeyID: p.keyID, Region: p.region, Time: t}, nil
		}
	}
	return nil, errBadSig
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
