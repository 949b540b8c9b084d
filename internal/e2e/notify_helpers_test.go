package e2e

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// hookReq is one POST a receiver got.
type hookReq struct {
	header http.Header
	body   []byte
}

// hookReceiver is a webhook endpoint on 127.0.0.1: it records every POST
// it answers 200 (a request it holds and never answers is not recorded:
// only an acknowledged notification counts as delivered).
type hookReceiver struct {
	srv  *http.Server
	l    net.Listener
	addr string

	mu   sync.Mutex
	got  []hookReq
	hold chan struct{} // non-nil: requests wait until it is closed
}

// startHookReceiver listens on addr ("127.0.0.1:0" picks a port).
func startHookReceiver(t *testing.T, addr string) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h.l, h.addr = l, l.Addr().String()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(l)
	t.Cleanup(func() { h.release(); h.down() })
	return h
}

// down closes the receiver: connections are refused until up.
func (h *hookReceiver) down() { h.srv.Close() }

// up listens again on the same address.
func (h *hookReceiver) up(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	h.l = l
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(l)
}

func (h *hookReceiver) URL() string { return "http://" + h.addr + "/hook" }

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return // the sender went away (killed): not delivered
		}
	}
	h.mu.Lock()
	h.got = append(h.got, hookReq{header: r.Header.Clone(), body: body})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// holdAll makes every request wait (unanswered) until release.
func (h *hookReceiver) holdAll() {
	h.mu.Lock()
	if h.hold == nil {
		h.hold = make(chan struct{})
	}
	h.mu.Unlock()
}

func (h *hookReceiver) release() {
	h.mu.Lock()
	if h.hold != nil {
		close(h.hold)
		h.hold = nil
	}
	h.mu.Unlock()
}

func (h *hookReceiver) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.got...)
}

// snsSubscriber is an SNS HTTP endpoint on 127.0.0.1: it confirms a
// SubscriptionConfirmation by GETting its SubscribeURL (as SNS consumers
// do) and records every envelope with its x-amz-sns-message-type header.
type snsSubscriber struct {
	t   *testing.T
	srv *http.Server
	url string

	mu        sync.Mutex
	envelopes []hookReq
	confirmed chan string // SubscribeURL answers
}

func startSNSSubscriber(t *testing.T) *snsSubscriber {
	t.Helper()
	s := &snsSubscriber{t: t, confirmed: make(chan string, 4)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + l.Addr().String() + "/sns"
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *snsSubscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.envelopes = append(s.envelopes, hookReq{header: r.Header.Clone(), body: body})
	s.mu.Unlock()
	if r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
		var m struct{ SubscribeURL string }
		json.Unmarshal(body, &m)
		go func() {
			resp, err := http.Get(m.SubscribeURL)
			if err != nil {
				s.confirmed <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			s.confirmed <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	w.WriteHeader(http.StatusOK)
}

// notifications returns the Notification envelopes received so far.
func (s *snsSubscriber) notifications() []hookReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hookReq
	for _, e := range s.envelopes {
		if e.header.Get("x-amz-sns-message-type") == "Notification" {
			out = append(out, e)
		}
	}
	return out
}

func (s *snsSubscriber) all() []hookReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookReq(nil), s.envelopes...)
}

// waitConfirmed waits for the handshake: the subscriber GOT its
// SubscribeURL, and Petrel answered 200 with ConfirmSubscription's XML.
func (s *snsSubscriber) waitConfirmed(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.confirmed:
		if !strings.HasPrefix(r, "200 ") || !strings.Contains(r, "<ConfirmSubscriptionResponse") || !strings.Contains(r, "<SubscriptionArn>") {
			t.Fatalf("GET SubscribeURL: %s", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no SubscriptionConfirmation reached the subscriber")
	}
}

// verifySNSSignature checks an SNS envelope as a consumer does, without
// Petrel's code: fetch SigningCertURL, parse it with crypto/x509, build
// the string to sign in the order the AWS documentation gives, check the
// RSA PKCS #1 v1.5 signature (SHA-1 for SignatureVersion 1, SHA-256 for 2).
// It returns the envelope's string fields.
func verifySNSSignature(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("SNS envelope is not JSON: %v: %s", err, body)
	}
	m := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	resp, err := http.Get(m["SigningCertURL"])
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	blk, _ := pem.Decode(pemBytes)
	if resp.StatusCode != 200 || blk == nil {
		t.Fatalf("GET %s: %d %q", m["SigningCertURL"], resp.StatusCode, pemBytes)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var sts strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			sts.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("certificate key is %T", cert.PublicKey)
	}
	switch m["SignatureVersion"] {
	case "1":
		d := sha1.Sum([]byte(sts.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	case "2":
		d := sha256.Sum256([]byte(sts.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	default:
		t.Fatalf("SignatureVersion %q", m["SignatureVersion"])
	}
	if err != nil {
		t.Fatalf("SNS signature (version %s) does not verify: %v\n%s", m["SignatureVersion"], err, body)
	}
	return m
}

// verifyHMACIndependently checks X-Petrel-Signature with crypto/hmac only:
// t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func verifyHMACIndependently(header string, body []byte, secret string) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("header %q has no t= or v1=", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no v1 in %q matches", header)
}

// signedSES sends a SigV4-signed (service "ses") request to Petrel's API at
// base, as the webhook extension needs (the SDK has no member for it).
func signedSES(t *testing.T, base, keyID, secret, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "ses", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// createWebhookDestination creates event destination name of set with
// Petrel's WebhookDestination extension for types, and returns its
// signing secret as GetConfigurationSetEventDestinations shows it.
func createWebhookDestination(t *testing.T, base, keyID, secret, set, name, url string, types []string) string {
	t.Helper()
	path := "/v2/email/configuration-sets/" + set + "/event-destinations"
	body, _ := json.Marshal(map[string]any{"EventDestinationName": name, "EventDestination": map[string]any{
		"Enabled": true, "MatchingEventTypes": types, "WebhookDestination": map[string]any{"Url": url}}})
	if status, out := signedSES(t, base, keyID, secret, "POST", path, body); status != 200 {
		t.Fatalf("create webhook destination: %d %s", status, out)
	}
	status, out := signedSES(t, base, keyID, secret, "GET", path, nil)
	var got struct {
		EventDestinations []struct {
			Name               string
			WebhookDestination *struct {
				Url            string
				SigningSecrets []string
			}
		}
	}
	if status != 200 || json.Unmarshal(out, &got) != nil {
		t.Fatalf("get event destinations: %d %s", status, out)
	}
	for _, d := range got.EventDestinations {
		if d.Name == name && d.WebhookDestination != nil && len(d.WebhookDestination.SigningSecrets) == 1 {
			return d.WebhookDestination.SigningSecrets[0]
		}
	}
	t.Fatalf("webhook destination %s not in %s", name, out)
	return ""
}

// canonical re-encodes JSON with sorted keys and no insignificant space:
// two documents with the same content compare byte-equal.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// pollUntil calls ok until it reports true or timeout passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
