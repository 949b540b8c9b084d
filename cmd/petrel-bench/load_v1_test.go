package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/sigv4"
)

// sesRawReply is SES's SendRawEmail reply as the API reference
// (API_SendRawEmail.html, "Example") quotes it.
const sesRawReply = `<SendRawEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">
  <SendRawEmailResult>
    <MessageId>00000131d51d6b36-1d4f9293-0aee-4503-b573-9ae4e70e9e38-000000</MessageId>
  </SendRawEmailResult>
  <ResponseMetadata>
    <RequestId>e0abcdfa-c866-11e0-b6d0-273d09173b49</RequestId>
  </ResponseMetadata>
</SendRawEmailResponse>`

const sesRawMessageID = "00000131d51d6b36-1d4f9293-0aee-4503-b573-9ae4e70e9e38-000000"

var testCreds = aws.Credentials{AccessKeyID: "AKIABENCHTEST0000001", SecretAccessKey: "bench-secret"}

// The api-raw-v1 request is the one aws-sdk-go-v2's service/ses sends for
// SendRawEmail with the same message, sender and recipient: every form
// parameter alike. And the SDK and v1MessageID read the same MessageId
// from SES's reply.
func TestV1RawBodyIsTheSDKs(t *testing.T) {
	var mu sync.Mutex
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, _ = url.ParseQuery(string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, sesRawReply)
	}))
	defer srv.Close()
	client := ses.New(ses.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(testCreds.AccessKeyID, testCreds.SecretAccessKey, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
	})
	l := &load{proto: protoAPIRawV1, run: "t1", body: benchMessage(5120)}
	for _, seq := range []int{0, 7, 19999} {
		out, err := client.SendRawEmail(context.Background(), &ses.SendRawEmailInput{
			Source:       aws.String("Bench Sender <sender@bench.localdomain>"),
			Destinations: []string{rcptFor(seq)},
			RawMessage:   &types.RawMessage{Data: append([]byte(l.header(seq)), l.body...)},
		})
		if err != nil {
			t.Fatalf("seq %d: SDK: %v", seq, err)
		}
		mine, err := url.ParseQuery(string(l.v1RawBody(seq)))
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		mu.Lock()
		sdk := got
		mu.Unlock()
		if len(mine) != len(sdk) {
			t.Errorf("seq %d: %d parameters, the SDK sends %d: %v", seq, len(mine), len(sdk), keys(sdk))
		}
		for k, v := range sdk {
			if mine.Get(k) != v[0] {
				t.Errorf("seq %d: %s = %.60q, the SDK sends %.60q", seq, k, mine.Get(k), v[0])
			}
		}
		id, err := v1MessageID(http.StatusOK, []byte(sesRawReply))
		if err != nil || id != aws.ToString(out.MessageId) {
			t.Errorf("v1MessageID = %q, %v; the SDK reads %q", id, err, aws.ToString(out.MessageId))
		}
	}
}

func keys(v url.Values) []string {
	var k []string
	for name := range v {
		k = append(k, name)
	}
	return k
}

func TestV1MessageID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		reply   string
		id      string
		wantErr string
	}{
		{"SES's example", 200, sesRawReply, sesRawMessageID, ""},
		{"with an XML declaration", 200, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + sesRawReply, sesRawMessageID, ""},
		{"another namespace", 200, strings.Replace(sesRawReply, "2010-12-01", "2019-09-27", 1), "", "not a SendRawEmailResponse"},
		{"another action's reply", 200, strings.ReplaceAll(sesRawReply, "SendRawEmail", "SendEmail"), "", "not a SendRawEmailResponse"},
		{"no MessageId", 200, strings.Replace(sesRawReply, sesRawMessageID, "", 1), "", "no MessageId"},
		{"JSON", 200, `{"MessageId":"x"}`, "", "not a SendRawEmailResponse"},
		{"an ErrorResponse", 400, `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>The action SendRawEmail is not valid for this web service.</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
			"", "HTTP 400: InvalidAction: The action SendRawEmail is not valid for this web service."},
		{"a 200 status only succeeds", 500, sesRawReply, "", "HTTP 500: <SendRawEmailResponse"},
		{"not XML", 503, "busy", "", "HTTP 503: busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v1MessageID(tc.status, []byte(tc.reply))
			if tc.wantErr == "" {
				if err != nil || id != tc.id {
					t.Fatalf("= %q, %v; want %q", id, err, tc.id)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("= %q, %v; want an error starting %q", id, err, tc.wantErr)
			}
		})
	}
}

// The api-raw-v1 load against an endpoint that checks each request as
// Petrel's v1 API does (SigV4 for "ses" by internal/sigv4, the form by
// internal/awsquery) and answers with awsquery's XML: every message is sent
// once, with its X-Bench-Id, and counted accepted; when the endpoint
// refuses the action, every message is counted failed under the error's
// code.
func TestAPIRawV1Load(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  bool
		wantErr string
	}{
		{"accepted", false, ""},
		{"InvalidAction", true, "HTTP 400: InvalidAction: The action SendRawEmail is not valid for this web service."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 120
			var mu sync.Mutex
			seen := map[string]int{}
			var problems []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				problem := func(p string) {
					mu.Lock()
					problems = append(problems, p)
					mu.Unlock()
					awsquery.WriteError(w, "http://ses.amazonaws.com/doc/2010-12-01/", "r", &awsquery.Error{Code: "Test", Message: p})
				}
				lookup := func(id string) (string, error) {
					if id != testCreds.AccessKeyID {
						return "", sigv4.ErrUnknownKey
					}
					return testCreds.SecretAccessKey, nil
				}
				if _, err := sigv4.Verify(r, body, "ses", "us-east-1", time.Now(), lookup); err != nil {
					problem("signature: " + err.Error())
					return
				}
				if r.Method != http.MethodPost || r.URL.Path != "/" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
					problem("request " + r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type"))
					return
				}
				q, err := awsquery.Parse(body, r.URL.Query())
				if err != nil {
					problem(err.Error())
					return
				}
				if q.Action != "SendRawEmail" || q.Version != "2010-12-01" {
					problem("action " + q.Action + " version " + q.Version)
					return
				}
				if tc.refuse {
					awsquery.WriteError(w, "http://ses.amazonaws.com/doc/2010-12-01/", "r", &awsquery.Error{Code: "InvalidAction",
						Message: "The action SendRawEmail is not valid for this web service."})
					return
				}
				raw, err := base64.StdEncoding.DecodeString(q.Get("RawMessage.Data"))
				if err != nil {
					problem("RawMessage.Data: " + err.Error())
					return
				}
				hdr, rest, _ := bytes.Cut(raw, []byte("\r\n"))
				id, ok := strings.CutPrefix(string(hdr), "X-Bench-Id: t2.")
				if !ok || !bytes.Equal(rest, benchMessage(5120)) {
					problem("message starts " + string(hdr))
					return
				}
				if want := "r" + id + "@example.com"; q.Get("Destinations.member.1") != want || q.Get("Source") != "Bench Sender <sender@bench.localdomain>" {
					problem("envelope " + q.Get("Source") + " → " + q.Get("Destinations.member.1") + ", want " + want)
					return
				}
				mu.Lock()
				seen[id]++
				mu.Unlock()
				awsquery.WriteResponse(w, "http://ses.amazonaws.com/doc/2010-12-01/", "SendRawEmail", "r",
					struct{ MessageId string }{"m-" + id})
			}))
			defer srv.Close()
			l := &load{proto: protoAPIRawV1, target: strings.TrimPrefix(srv.URL, "http://"), sessions: 4, messages: n,
				run: "t2", body: benchMessage(5120), creds: testCreds, region: "us-east-1"}
			res := l.runLoad(context.Background())
			if len(problems) > 0 {
				t.Fatalf("%d bad requests, first: %s", len(problems), problems[0])
			}
			if tc.refuse {
				if res.ok != 0 || res.failed != n || res.errs[tc.wantErr] != n {
					t.Fatalf("%d accepted, %d failed: %v", res.ok, res.failed, res.errs)
				}
				return
			}
			if res.ok != n || res.failed != 0 || len(seen) != n {
				t.Fatalf("%d accepted, %d failed, %d distinct received: %v", res.ok, res.failed, len(seen), res.errs)
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("message %s received %d times", id, k)
				}
			}
		})
	}
}

// api-raw-v1 is a scenario of its own, chosen by name, on Petrel only (like
// api-raw: Postfix has no SES API).
func TestScenarioAPIRawV1(t *testing.T) {
	for _, sc := range scenarios(3000, 100) {
		if sc.name == "api-raw-v1" {
			if sc.proto != protoAPIRawV1 || !sc.relays("petrel") || !sc.relays("petrel-pg") || sc.relays("postfix") {
				t.Fatalf("%+v", sc)
			}
			return
		}
	}
	t.Fatal("no api-raw-v1 scenario")
}
