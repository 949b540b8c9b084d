package sns_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"mime/quotedprintable"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sns"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// verifyIndependently checks an envelope as an SNS subscriber does, with
// no code of package sns: fetch SigningCertURL over HTTP, parse the
// certificate with crypto/x509, build the string to sign from the AWS
// documentation's key order, and check the RSA PKCS #1 v1.5 signature with
// SHA-1 (SignatureVersion 1) or SHA-256 (2).
func verifyIndependently(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("envelope is not a JSON object: %v: %s", err, body)
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
	if resp.StatusCode != 200 || !strings.HasSuffix(m["SigningCertURL"], ".pem") {
		t.Fatalf("GET %s: %d", m["SigningCertURL"], resp.StatusCode)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatalf("no PEM at SigningCertURL: %q", pemBytes)
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
	pub := cert.PublicKey.(*rsa.PublicKey)
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
		t.Fatalf("signature (version %s) does not verify: %v", m["SignatureVersion"], err)
	}
	// The package's own Verify agrees.
	var env sns.Envelope
	json.Unmarshal(body, &env)
	if err := sns.Verify(&env, pemBytes); err != nil {
		t.Fatalf("sns.Verify: %v", err)
	}
	// A tampered message does not verify.
	env.Message += "x"
	if sns.Verify(&env, pemBytes) == nil {
		t.Fatal("a tampered message verifies")
	}
	return m
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	tsRE   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
	certRE = regexp.MustCompile(`SimpleNotificationService-[0-9a-f]{32}\.pem`)
	sigRE  = regexp.MustCompile(`"Signature":"[^"]*"`)
	tokRE  = regexp.MustCompile(`[0-9a-f]{128}`)
)

// normalize replaces what differs between runs (IDs, times, signature,
// token, the server's port, the account ID) with fixed placeholders.
func normalize(e *env, s string) string {
	s = strings.ReplaceAll(s, e.srv.URL, "https://petrel.example")
	for _, ten := range e.ten {
		s = strings.ReplaceAll(s, ten.id, "123456789012")
	}
	s = uuidRE.ReplaceAllString(s, "00000000-0000-4000-8000-000000000000")
	s = tsRE.ReplaceAllString(s, "2026-01-02T03:04:05.678Z")
	s = certRE.ReplaceAllString(s, "SimpleNotificationService-0123456789abcdef0123456789abcdef.pem")
	s = sigRE.ReplaceAllString(s, `"Signature":"BASE64"`)
	return tokRE.ReplaceAllString(s, "TOKEN")
}

// golden compares got (normalized) with testdata/name, or rewrites it
// with -update.
func golden(t *testing.T, e *env, name string, got []byte) {
	t.Helper()
	g := normalize(e, string(got))
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(g), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if g != string(want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, g, want)
	}
}

// headerDump is the x-amz-sns-* headers, Content-Type and User-Agent, one a
// line, sorted.
func headerDump(h http.Header) []byte {
	var b strings.Builder
	for _, k := range []string{"Content-Type", "User-Agent", "X-Amz-Sns-Message-Id", "X-Amz-Sns-Message-Type", "X-Amz-Sns-Rawdelivery",
		"X-Amz-Sns-Subscription-Arn", "X-Amz-Sns-Topic-Arn"} {
		if v := h.Get(k); v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return []byte(b.String())
}

// TestHandshake: the SNS HTTP flow end to end over real sockets. Subscribe
// → the subscriber receives a signed SubscriptionConfirmation, GETs its
// SubscribeURL (unauthenticated) and the subscription is confirmed →
// Publish reaches it as a signed Notification (SignatureVersion 1, then 2
// after SetTopicAttributes), verified from the served certificate by an
// independent implementation; RawMessageDelivery; a FilterPolicy that
// excludes; the UnsubscribeURL stops delivery. Envelopes and headers
// match the golden files.
func TestHandshake(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("ses-bounces")})).TopicArn
	sub := newSubscriber(t, true)
	so, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL + "/sns")})
	if err != nil || *so.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe: %v %v", so, err)
	}
	conf := sub.next()
	if conf.header.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" {
		t.Fatalf("first message: %v %s", conf.header, conf.body)
	}
	m := verifyIndependently(t, conf.body)
	if !strings.HasPrefix(m["SubscribeURL"], e.srv.URL+"/?Action=ConfirmSubscription&") {
		t.Fatalf("SubscribeURL %s", m["SubscribeURL"])
	}
	golden(t, e, "confirmation.json", conf.body)
	golden(t, e, "confirmation.headers", headerDump(conf.header))
	if conf.confirmStatus != 200 || !strings.Contains(conf.confirmBody, "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">") {
		t.Fatalf("GET SubscribeURL: %d %s", conf.confirmStatus, conf.confirmBody)
	}
	golden(t, e, "confirm-response.xml", []byte(conf.confirmBody))
	subArn := regexp.MustCompile(`<SubscriptionArn>([^<]+)</SubscriptionArn>`).FindStringSubmatch(conf.confirmBody)[1]
	ga, err := c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &subArn})
	if err != nil || ga.Attributes["PendingConfirmation"] != "false" {
		t.Fatalf("after the GET of SubscribeURL: %v %v", ga, err)
	}

	// SignatureVersion 1 (the default), with a subject and attributes.
	msg := `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"x@example.com"}]}}`
	po, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: &msg, Subject: aws.String("Bounce"),
		MessageAttributes: map[string]types.MessageAttributeValue{"eventType": {DataType: aws.String("String"), StringValue: aws.String("Bounce")}}})
	if err != nil {
		t.Fatal(err)
	}
	n := sub.next()
	m = verifyIndependently(t, n.body)
	if m["SignatureVersion"] != "1" || m["MessageId"] != *po.MessageId || m["Message"] != msg || m["Subject"] != "Bounce" ||
		n.header.Get("x-amz-sns-subscription-arn") != subArn || n.header.Get("x-amz-sns-message-id") != *po.MessageId {
		t.Fatalf("notification: %v %s", n.header, n.body)
	}
	golden(t, e, "notification-v1.json", n.body)
	golden(t, e, "notification.headers", headerDump(n.header))
	// The usual SES consumer: parse Message, read bounce.bouncedRecipients.
	var ses struct {
		Bounce struct {
			BouncedRecipients []struct{ EmailAddress string } `json:"bouncedRecipients"`
		} `json:"bounce"`
	}
	if err := json.Unmarshal([]byte(n.env.Message), &ses); err != nil || ses.Bounce.BouncedRecipients[0].EmailAddress != "x@example.com" {
		t.Fatalf("SES consumer: %v %+v", err, ses)
	}

	// SignatureVersion 2.
	if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic, AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: aws.String("second")}); err != nil {
		t.Fatal(err)
	}
	n = sub.next()
	if m = verifyIndependently(t, n.body); m["SignatureVersion"] != "2" || m["Message"] != "second" {
		t.Fatalf("v2 notification: %s", n.body)
	}
	if _, ok := m["Subject"]; ok {
		t.Fatal("Subject present although none was published")
	}
	golden(t, e, "notification-v2.json", n.body)

	// A FilterPolicy that the message does not match: nothing is sent.
	if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: &subArn,
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"eventType":["Complaint"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: aws.String("filtered"),
		MessageAttributes: map[string]types.MessageAttributeValue{"eventType": {DataType: aws.String("String"), StringValue: aws.String("Bounce")}}}); err != nil {
		t.Fatal(err)
	}
	sub.none(e.deliv)
	if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: &subArn,
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String("")}); err != nil {
		t.Fatal(err)
	}

	// RawMessageDelivery: the body is the message itself.
	if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: &subArn,
		AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: &msg}); err != nil {
		t.Fatal(err)
	}
	n = sub.next()
	if string(n.body) != msg || n.header.Get("x-amz-sns-rawdelivery") != "true" || n.header.Get("x-amz-sns-message-type") != "Notification" {
		t.Fatalf("raw delivery: %v %s", n.header, n.body)
	}

	// The UnsubscribeURL (unauthenticated GET) ends the subscription.
	unsub := e.srv.URL + "/?Action=Unsubscribe&SubscriptionArn=" + strings.ReplaceAll(subArn, ":", "%3A")
	if m["UnsubscribeURL"] != unsub {
		t.Fatalf("UnsubscribeURL %q, want %q", m["UnsubscribeURL"], unsub)
	}
	resp, err := http.Get(unsub)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<UnsubscribeResponse") {
		t.Fatalf("GET UnsubscribeURL: %d %s", resp.StatusCode, body)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: aws.String("after unsubscribe")}); err != nil {
		t.Fatal(err)
	}
	sub.none(e.deliv)
	if ls, _ := c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: &topic}); len(ls.Subscriptions) != 0 {
		t.Fatalf("subscriptions after unsubscribe: %v", ls.Subscriptions)
	}
	e.deliv.mu.Lock()
	defer e.deliv.mu.Unlock()
	if len(e.deliv.errs) > 0 {
		t.Fatalf("delivery errors: %v", e.deliv.errs)
	}
	for _, st := range e.deliv.statuses {
		if st != 200 {
			t.Fatalf("subscriber answered %d", st)
		}
	}
}

// decodeEmail returns an Email job's body text (quoted-printable decoded).
func decodeEmail(t *testing.T, j notify.Job) (headers, text string) {
	t.Helper()
	h, b, ok := strings.Cut(string(j.Body), "\r\n\r\n")
	if !ok {
		t.Fatalf("no header/body separator: %q", j.Body)
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return h, strings.ReplaceAll(string(dec), "\r\n", "\n")
}

// TestEmailSubscriptions: email and email-json subscriptions are Email
// jobs (null reverse-path) — a confirmation with the SubscribeURL link,
// which confirms when followed; then notifications: the message and an
// unsubscribe link (email), the signed envelope (email-json).
func TestEmailSubscriptions(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("mail"), Attributes: map[string]string{"DisplayName": "Ops"}})).TopicArn
	linkRE := regexp.MustCompile(`https?://\S+`)
	for _, proto := range []string{"email", "email-json"} {
		rcpt := proto + "@example.com"
		if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String(proto), Endpoint: &rcpt}); err != nil {
			t.Fatal(err)
		}
		j := <-e.deliv.emails
		if j.Channel != notify.Email || j.Rcpt != rcpt || j.MailFrom != "" || j.Kind != "SubscriptionConfirmation" {
			t.Fatalf("%s confirmation job: %+v", proto, j)
		}
		h, text := decodeEmail(t, j)
		if !strings.Contains(h, `From: "Ops" <no-reply@petrel.test>`) || !strings.Contains(h, "To: "+rcpt) {
			t.Fatalf("%s confirmation headers: %s", proto, h)
		}
		var link string
		if proto == "email-json" {
			m := verifyIndependently(t, []byte(text))
			link = m["SubscribeURL"]
		} else {
			link = linkRE.FindString(text)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: GET %s: %d", proto, link, resp.StatusCode)
		}
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: aws.String("Disk full on mx1"), Subject: aws.String("Alert")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]notify.Job{}
	for range 2 {
		j := <-e.deliv.emails
		got[j.Rcpt] = j
	}
	h, text := decodeEmail(t, got["email@example.com"])
	if !strings.Contains(h, "Subject: Alert") || !strings.HasPrefix(text, "Disk full on mx1\n") ||
		!strings.Contains(text, e.srv.URL+"/?Action=Unsubscribe&SubscriptionArn=") {
		t.Fatalf("email notification: %s\n\n%s", h, text)
	}
	_, text = decodeEmail(t, got["email-json@example.com"])
	if m := verifyIndependently(t, []byte(text)); m["Message"] != "Disk full on mx1" || m["Type"] != "Notification" {
		t.Fatalf("email-json notification: %s", text)
	}

	// MessageStructure=json: a message per protocol, "default" for the others.
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, MessageStructure: aws.String("json"),
		Message: aws.String(`{"default":"for everyone","email":"for email"}`)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		j := <-e.deliv.emails
		got[j.Rcpt] = j
	}
	if _, text := decodeEmail(t, got["email@example.com"]); !strings.HasPrefix(text, "for email\n") {
		t.Fatalf("email with MessageStructure json: %s", text)
	}
	if _, text := decodeEmail(t, got["email-json@example.com"]); verifyIndependently(t, []byte(text))["Message"] != "for everyone" {
		t.Fatalf("email-json with MessageStructure json: %s", text)
	}
	h, text = decodeEmail(t, got["email@example.com"])
	h = regexp.MustCompile(`Date: [^\r]*`).ReplaceAllString(h, "Date: Fri, 02 Jan 2026 03:04:05 +0000")
	golden(t, e, "email-notification.txt", []byte(h+"\r\n\r\n(quoted-printable decoded:)\n"+text))
}

// TestTokenExpiry: a confirmation token is valid 3 days (SNS); after that
// the SubscribeURL is refused and the subscription stays pending; subscribing
// again re-sends the confirmation with a fresh validity.
func TestTokenExpiry(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("t")})).TopicArn
	sub := newSubscriber(t, false)
	in := &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL), ReturnSubscriptionArn: true}
	so, err := c.Subscribe(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	conf := sub.next()
	e.skew.Store(int64(sns.TokenTTL + time.Minute))
	resp, err := http.Get(conf.env.SubscribeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidParameter</Code>") {
		t.Fatalf("expired token: %d %s", resp.StatusCode, body)
	}
	e.skew.Store(int64(sns.ResendInterval))
	ga, _ := c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: so.SubscriptionArn})
	if ga.Attributes["PendingConfirmation"] != "true" {
		t.Fatal("confirmed with an expired token")
	}
	// Subscribing again re-sends it; the same link is then valid.
	if _, err := c.Subscribe(ctx, in); err != nil {
		t.Fatal(err)
	}
	again := sub.next()
	if again.env.Token != conf.env.Token || again.env.Type != "SubscriptionConfirmation" {
		t.Fatalf("re-sent confirmation: %s", again.body)
	}
	e.skew.Store(int64(sns.ResendInterval + sns.TokenTTL - time.Hour))
	resp, err = http.Get(again.env.SubscribeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("re-sent token refused: %d", resp.StatusCode)
	}
}
