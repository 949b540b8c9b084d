package sns_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sns"
	"github.com/petrelmail/petrel/internal/store"
)

// encodedWordRE matches an RFC 2047 encoded-word.
var encodedWordRE = regexp.MustCompile(`=\?[^?]*\?[bBqQ]\?[^?]*\?=`)

// pythonAddresses returns what Python's email parser (policy default)
// reads in a message's From: header, one "name|address" per line; ok is
// false when python3 is not installed.
func pythonAddresses(t *testing.T, msg []byte) (lines []string, ok bool) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, false
	}
	cmd := exec.Command(py, "-c", `
import sys, email, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
for a in m['From'].addresses:
    print(a.display_name + "|" + a.addr_spec)
`)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python email parser: %v", err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), true
}

// TestDisplayNameFromHeader: whatever a topic's DisplayName holds, the
// From: of the mail Petrel sends names exactly one mailbox, Petrel's own
// no-reply address, with the display name intact — as net/mail and
// Python's email parser read it; encoded-words carry no raw '"'.
func TestDisplayNameFromHeader(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	for i, name := range []string{
		`Support <support@bank.example>, "x" =`,
		`Zoë "the boss" <boss@bank.example>, other@bank.example`,
		`back\slash "quote`,
		`日本語, <x@y.example>; =?utf-8?q?x?=`,
		strings.Repeat("é\"", 50),
		`Plain Name`,
	} {
		topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("dn" + string(rune('a'+i)))})).TopicArn
		if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic,
			AttributeName: aws.String("DisplayName"), AttributeValue: aws.String(name)}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"), Endpoint: aws.String("rcpt@example.com")}); err != nil {
			t.Fatal(err)
		}
		j := <-e.deliv.emails
		if j.Channel != notify.Email {
			t.Fatalf("job %+v", j)
		}
		m, err := mail.ReadMessage(bytes.NewReader(j.Body))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		from := m.Header.Get("From")
		list, err := mail.ParseAddressList(from)
		if err != nil || len(list) != 1 {
			t.Fatalf("%q: From: %s → %v %v, want exactly one address", name, from, list, err)
		}
		if list[0].Address != "no-reply@petrel.test" || list[0].Name != name {
			t.Errorf("%q: From: %s → name %q address %q", name, from, list[0].Name, list[0].Address)
		}
		for _, w := range encodedWordRE.FindAllString(from, -1) {
			if strings.ContainsAny(w, `"(),<>@;:\[]`) {
				t.Errorf("%q: encoded-word %s holds a character RFC 2047 §5(3) forbids in a phrase", name, w)
			}
		}
		if py, ok := pythonAddresses(t, j.Body); ok {
			// Python keeps the folding space between two adjacent
			// encoded-words (RFC 2047 §6.2 says to drop it), so a long
			// non-ASCII name may read with extra spaces there: compare
			// without spaces. What matters is one mailbox, Petrel's.
			nospace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
			if len(py) != 1 || nospace(py[0]) != nospace(name+"|no-reply@petrel.test") {
				t.Errorf("%q: Python's email parser reads From: %s as %q", name, from, py)
			}
		}
		// The default subject carries the name too: still one decodable line.
		if subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || !strings.HasPrefix(subj, name) {
			t.Errorf("%q: Subject %q (%v)", name, m.Header.Get("Subject"), err)
		}
	}
}

// TestDisplayNameValidation: DisplayName is at most 100 characters and
// holds no control character (InvalidParameter, as SNS).
func TestDisplayNameValidation(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("t")})).TopicArn
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{strings.Repeat("é", 100), true},
		{strings.Repeat("a", 101), false},
		{"a\rb", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\x1bb", false},
	} {
		_, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic,
			AttributeName: aws.String("DisplayName"), AttributeValue: aws.String(tc.name)})
		want := "InvalidParameter"
		if tc.ok {
			want = ""
		}
		wantCode(t, "DisplayName "+strings.ToValidUTF8(tc.name[:min(len(tc.name), 12)], "?"), err, want)
		_, err = c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("c"), Attributes: map[string]string{"DisplayName": tc.name}})
		wantCode(t, "CreateTopic DisplayName", err, want)
		if tc.ok {
			c.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: aws.String(strings.TrimSuffix(topic, ":t") + ":c")})
		}
	}
}

// TestPublishValidation: Publish refuses what SNS refuses — invalid UTF-8
// or control characters in Message, Subject and attribute values, more
// than 10 attributes, reserved attribute names, invalid base64 Binary
// values, an attribute without DataType, TopicArn and TargetArn both —
// with SNS's codes, and publishes nothing.
func TestPublishValidation(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("v")})).TopicArn
	creds := e.ten["alice"].creds
	base := func(kv ...string) url.Values {
		f := url.Values{"Action": {"Publish"}, "TopicArn": {topic}, "Message": {"hello"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	attr := func(f url.Values, n int, name, typ, kind, value string) url.Values {
		p := fmt.Sprintf("MessageAttributes.entry.%d.", n)
		f.Set(p+"Name", name)
		if typ != "" {
			f.Set(p+"Value.DataType", typ)
		}
		f.Set(p+"Value."+kind, value)
		return f
	}
	eleven := base()
	for i := 1; i <= 11; i++ {
		attr(eleven, i, fmt.Sprintf("a%d", i), "String", "StringValue", "x")
	}
	ten := base()
	for i := 1; i <= 10; i++ {
		attr(ten, i, fmt.Sprintf("a%d", i), "String", "StringValue", "x")
	}
	for _, tc := range []struct {
		what string
		form url.Values
		code string // "" = accepted
		msg  string
	}{
		{"valid odd Unicode", base("Message", "\u2028 \u2029 😀 <>& \ufffd é\t\r\n"), "", ""},
		{"10 attributes", ten, "", ""},
		{"Message invalid UTF-8", base("Message", "\xff\xfe"), "InvalidParameter", "Message"},
		{"Message NUL", base("Message", "a\x00b"), "InvalidParameter", "Message"},
		{"Message escape", base("Message", "a\x1bb"), "InvalidParameter", "Message"},
		{"Message surrogate bytes", base("Message", "\xed\xa0\x80"), "InvalidParameter", "Message"},
		{"Subject invalid UTF-8", base("Subject", "\xff"), "InvalidParameter", "Subject"},
		{"11 attributes", eleven, "InvalidParameterValue", "Number of message attributes [11] exceeds the allowed maximum [10]."},
		{"reserved AWS.", attr(base(), 1, "AWS.x", "String", "StringValue", "v"), "InvalidParameterValue", "reserved prefix"},
		{"reserved amazon.", attr(base(), 1, "amazon.x", "String", "StringValue", "v"), "InvalidParameterValue", "reserved prefix"},
		{"Binary not base64", attr(base(), 1, "b", "Binary", "BinaryValue", "!!notbase64"), "InvalidParameterValue", "base64"},
		{"no DataType", attr(base(), 1, "d", "", "StringValue", "v"), "InvalidParameterValue", "must contain non-empty message attribute type"},
		{"attribute invalid UTF-8", attr(base(), 1, "s", "String", "StringValue", "\xff"), "InvalidParameter", "contains characters that are not allowed"},
		{"attribute NUL", attr(base(), 1, "s", "String", "StringValue", "a\x00"), "InvalidParameter", "contains characters that are not allowed"},
		{"TopicArn and TargetArn", base("TargetArn", topic), "InvalidParameter", "TargetArn"},
	} {
		st, body := rawCall(t, e, &creds, "us-east-1", tc.form)
		if tc.code == "" {
			if st != 200 {
				t.Errorf("%s: %d %s", tc.what, st, body)
			}
			continue
		}
		if st != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s, want 400 %s with %q", tc.what, st, body, tc.code, tc.msg)
		}
	}
}

// TestSignedBytesAreSent: with odd but valid Unicode (U+2028, emoji,
// "<>&", U+FFFD), the envelope an HTTP subscriber receives verifies — the
// signature is over exactly the text sent — and carries the message as
// published, byte for byte.
func TestSignedBytesAreSent(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("u")})).TopicArn
	sub := newSubscriber(t, true)
	if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
		t.Fatal(err)
	}
	if conf := sub.next(); conf.confirmStatus != 200 {
		t.Fatalf("confirmation: %d %s", conf.confirmStatus, conf.confirmBody)
	}
	for _, sv := range []string{"1", "2"} {
		if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: &topic, AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String(sv)}); err != nil {
			t.Fatal(err)
		}
		msg := "line\u2028sep\u2029 😀 <b>&amp;</b> \ufffd \"q\" \\ é\r\n"
		subj := `Odd <>& "subject"`
		if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: &topic, Message: &msg, Subject: &subj}); err != nil {
			t.Fatal(err)
		}
		n := sub.next()
		m := verifyIndependently(t, n.body)
		if m["Message"] != msg || m["Subject"] != subj || m["SignatureVersion"] != sv {
			t.Fatalf("v%s: received %q / %q", sv, m["Message"], m["Subject"])
		}
	}
}

// TestGarbageNextToken: a NextToken Petrel did not issue is refused with
// InvalidParameter by the three List actions (not answered with an empty
// page); a real one still pages.
func TestGarbageNextToken(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("n")})).TopicArn
	for _, tok := range []string{"garbage", "Zm9v", "!!!", "YXJuOmF3czpzbnM"} {
		_, err := c.ListTopics(ctx, &awssns.ListTopicsInput{NextToken: aws.String(tok)})
		wantCode(t, "ListTopics "+tok, err, "InvalidParameter")
		_, err = c.ListSubscriptions(ctx, &awssns.ListSubscriptionsInput{NextToken: aws.String(tok)})
		wantCode(t, "ListSubscriptions "+tok, err, "InvalidParameter")
		_, err = c.ListSubscriptionsByTopic(ctx, &awssns.ListSubscriptionsByTopicInput{TopicArn: &topic, NextToken: aws.String(tok)})
		wantCode(t, "ListSubscriptionsByTopic "+tok, err, "InvalidParameter")
	}
}

// TestExistence: SubscriptionPending says exists for for the topic owner's pending
// and confirmed subscriptions only, false once unsubscribed, for another
// account and for unknown ARNs; TopicExistsIn (no Service, no signing
// key) agrees with TopicExists.
func TestExistence(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			e := start(t, backend, "alice", "bob")
			ctx := t.Context()
			c := e.client("alice")
			topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("x")})).TopicArn
			pending := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"),
				Endpoint: aws.String("p@example.com"), ReturnSubscriptionArn: true})).SubscriptionArn
			<-e.deliv.emails
			sub := newSubscriber(t, true)
			confirmed := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"),
				Endpoint: aws.String(sub.srv.URL), ReturnSubscriptionArn: true})).SubscriptionArn
			if r := sub.next(); r.confirmStatus != 200 {
				t.Fatalf("confirm: %d", r.confirmStatus)
			}
			check := func(what, acct, arn string, want bool) {
				t.Helper()
				got, _, err := e.svc.SubscriptionPending(ctx, acct, arn)
				if err != nil || got != want {
					t.Errorf("%s: SubscriptionPending exists = %v %v, want %v", what, got, err, want)
				}
			}
			check("pending", "alice", pending, true)
			check("confirmed", "alice", confirmed, true)
			check("another account's", "bob", confirmed, false)
			check("unknown", "alice", topic+":00000000-0000-4000-8000-000000000000", false)
			if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: &confirmed}); err != nil {
				t.Fatal(err)
			}
			check("unsubscribed", "alice", confirmed, false)

			for _, tc := range []struct {
				acct, arn string
				ok        bool
			}{{"alice", topic, true}, {"bob", topic, false}, {"alice", topic + "nope", false}} {
				err := sns.TopicExistsIn(ctx, e.db, tc.acct, tc.arn)
				err2 := e.svc.TopicExists(ctx, tc.acct, tc.arn)
				if (err == nil) != tc.ok || (err2 == nil) != tc.ok || (!tc.ok && (!errors.Is(err, sns.ErrTopicNotFound) || !errors.Is(err2, sns.ErrTopicNotFound))) {
					t.Errorf("%s %s: TopicExistsIn %v, TopicExists %v", tc.acct, tc.arn, err, err2)
				}
			}
		})
	}
}

// TestConfirmationResendLimit: subscribing a pending email or HTTP
// endpoint again answers the same but re-sends its confirmation at most
// once per ResendInterval.
func TestConfirmationResendLimit(t *testing.T) {
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("r")})).TopicArn
	sub := newSubscriber(t, false)
	count := func(kind string) int {
		e.deliv.wg.Wait()
		e.deliv.mu.Lock()
		defer e.deliv.mu.Unlock()
		n := 0
		for _, j := range e.deliv.jobs {
			if j.Kind == "SubscriptionConfirmation" && (j.Channel == notify.Email) == (kind == "email") {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct{ proto, endpoint string }{{"email", "third-party@example.com"}, {"http", sub.srv.URL}} {
		in := &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String(tc.proto), Endpoint: aws.String(tc.endpoint)}
		for i := range 5 {
			out, err := c.Subscribe(ctx, in)
			if err != nil || *out.SubscriptionArn != "pending confirmation" {
				t.Fatalf("%s Subscribe %d: %v %v", tc.proto, i, out, err)
			}
		}
		if n := count(tc.proto); n != 1 {
			t.Errorf("%s: 5 Subscribe calls sent %d confirmations, want 1", tc.proto, n)
		}
	}
	e.skew.Store(int64(sns.ResendInterval))
	for _, tc := range []struct{ proto, endpoint string }{{"email", "third-party@example.com"}, {"http", sub.srv.URL}} {
		in := &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String(tc.proto), Endpoint: aws.String(tc.endpoint)}
		for range 3 {
			if _, err := c.Subscribe(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(tc.proto); n != 2 {
			t.Errorf("%s: after ResendInterval %d confirmations in all, want 2", tc.proto, n)
		}
	}
}

// TestEffectiveDeliveryPolicy: EffectiveDeliveryPolicy reports notify's
// real schedule (3 retries 20 s apart, then 1 min doubling to 1 h, until
// the retry period), hand-counted here, and the API returns it.
func TestEffectiveDeliveryPolicy(t *testing.T) {
	type retry struct {
		MinDelayTarget, MaxDelayTarget, NumRetries, NumNoDelayRetries, NumMinDelayRetries, NumMaxDelayRetries int
		BackoffFunction                                                                                       string
	}
	parse := func(s string) retry {
		var p struct {
			HTTP struct {
				DefaultHealthyRetryPolicy retry `json:"defaultHealthyRetryPolicy"`
			} `json:"http"`
		}
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return p.HTTP.DefaultHealthyRetryPolicy
	}
	// 24 h: 3 × 20 s (60 s), then 60+120+…+1920 s (6 retries, at 3840 s),
	// then 22 retries 3600 s apart (at 83040 s), and the last one at 24 h.
	// 1 h: 3 × 20 s, then 60…960 s (5 retries, at 1920 s), then the last.
	for _, tc := range []struct {
		period time.Duration
		want   retry
	}{
		{0, retry{20, 3600, 32, 0, 3, 22, "exponential"}},
		{24 * time.Hour, retry{20, 3600, 32, 0, 3, 22, "exponential"}},
		{time.Hour, retry{20, 3600, 9, 0, 3, 0, "exponential"}},
	} {
		if got := parse(sns.EffectiveDeliveryPolicy(tc.period)); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.period, got, tc.want)
		}
	}
	e := start(t, "sqlite", "alice")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("p")})).TopicArn
	ta := must(c.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: &topic}))
	if got := parse(ta.Attributes["EffectiveDeliveryPolicy"]); got.NumRetries != 32 || got.BackoffFunction != "exponential" {
		t.Errorf("GetTopicAttributes: %s", ta.Attributes["EffectiveDeliveryPolicy"])
	}
	arn := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"), Endpoint: aws.String("a@example.com"), ReturnSubscriptionArn: true})).SubscriptionArn
	sa := must(c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &arn}))
	if sa.Attributes["EffectiveDeliveryPolicy"] != ta.Attributes["EffectiveDeliveryPolicy"] {
		t.Errorf("GetSubscriptionAttributes: %s", sa.Attributes["EffectiveDeliveryPolicy"])
	}
}

// TestAuthenticateOnUnsubscribeOwnerOnly: AuthenticateOnUnsubscribe=true
// in a confirmation by another account (AuthorizationError) or an unsigned
// one (InvalidParameter) is refused explicitly and leaves the subscription
// pending; the topic owner's signed confirmation sets it, and the
// anonymous UnsubscribeURL is then refused.
func TestAuthenticateOnUnsubscribeOwnerOnly(t *testing.T) {
	e := start(t, "sqlite", "alice", "bob")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("a")})).TopicArn
	sub := newSubscriber(t, false)
	arn := *must(c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL), ReturnSubscriptionArn: true})).SubscriptionArn
	conf := sub.next()
	pending := func(want string) {
		t.Helper()
		ga := must(c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &arn}))
		if ga.Attributes["PendingConfirmation"] != want {
			t.Fatalf("PendingConfirmation %s, want %s", ga.Attributes["PendingConfirmation"], want)
		}
	}
	in := &awssns.ConfirmSubscriptionInput{TopicArn: &topic, Token: &conf.env.Token, AuthenticateOnUnsubscribe: aws.String("true")}
	_, err := e.client("bob").ConfirmSubscription(ctx, in)
	wantCode(t, "bob's ConfirmSubscription with AuthenticateOnUnsubscribe", err, "AuthorizationError")
	pending("true")
	resp, err := http.Get(conf.env.SubscribeURL + "&AuthenticateOnUnsubscribe=true")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidParameter</Code>") {
		t.Fatalf("unsigned confirmation with AuthenticateOnUnsubscribe: %d %s", resp.StatusCode, body)
	}
	pending("true")
	if _, err := c.ConfirmSubscription(ctx, in); err != nil {
		t.Fatal(err)
	}
	ga := must(c.GetSubscriptionAttributes(ctx, &awssns.GetSubscriptionAttributesInput{SubscriptionArn: &arn}))
	if ga.Attributes["PendingConfirmation"] != "false" || ga.Attributes["ConfirmationWasAuthenticated"] != "true" {
		t.Fatalf("owner's confirmation: %v", ga.Attributes)
	}
	resp, err = http.Get(e.srv.URL + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(arn))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("anonymous unsubscribe of an authenticated subscription: %d", resp.StatusCode)
	}
}
