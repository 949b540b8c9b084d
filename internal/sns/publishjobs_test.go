package sns_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sns"
)

// TestPublishJobs: the notification router's entry point. One job per
// confirmed subscription whose filter matches the attributes (or, with
// scope MessageBody, the SES JSON); pending subscriptions get nothing; the
// envelope carries no MessageAttributes (SES's own notifications have
// none); one MessageId per publication, distinct Job IDs; another
// account's topic is ErrTopicNotFound.
func TestPublishJobs(t *testing.T) {
	e := start(t, "sqlite", "alice", "bob")
	ctx := t.Context()
	c := e.client("alice")
	topic := *must(c.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("events")})).TopicArn
	sub := newSubscriber(t, true)
	subscribe := func(path string, attrs map[string]string) {
		t.Helper()
		if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("http"),
			Endpoint: aws.String(sub.srv.URL + path), Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
		if r := sub.next(); r.confirmStatus != 200 {
			t.Fatalf("confirmation of %s: %d %s", path, r.confirmStatus, r.confirmBody)
		}
	}
	subscribe("/all", nil)
	subscribe("/bounces", map[string]string{"FilterPolicy": `{"eventType":["Bounce"]}`})
	subscribe("/permanent", map[string]string{"FilterPolicyScope": "MessageBody", "FilterPolicy": `{"bounce":{"bounceType":["Permanent"]}}`})
	// A pending subscription (never confirmed) gets nothing.
	if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: &topic, Protocol: aws.String("email"), Endpoint: aws.String("pending@example.com")}); err != nil {
		t.Fatal(err)
	}
	<-e.deliv.emails

	bounce := `{"eventType":"Bounce","bounce":{"bounceType":"Permanent"},"mail":{}}`
	cases := []struct {
		name    string
		message string
		attrs   map[string]string
		want    []string
	}{
		{"permanent bounce", bounce, map[string]string{"eventType": "Bounce"}, []string{"/all", "/bounces", "/permanent"}},
		{"delivery", `{"eventType":"Delivery","mail":{}}`, map[string]string{"eventType": "Delivery"}, []string{"/all"}},
		{"no attributes", `{"eventType":"Bounce","bounce":{"bounceType":"Transient"}}`, nil, []string{"/all"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := e.svc.PublishJobs(ctx, "alice", topic, "", tc.message, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			msgIDs := map[string]bool{}
			jobIDs := map[string]bool{}
			for _, j := range jobs {
				if j.Channel != notify.SNSHTTP || j.Account != "alice" || j.Kind != "Notification" || j.Target != "sns:"+j.Headers["x-amz-sns-subscription-arn"] {
					t.Fatalf("job %+v", j)
				}
				got = append(got, j.URL[len(sub.srv.URL):])
				var env sns.Envelope
				if err := json.Unmarshal(j.Body, &env); err != nil {
					t.Fatal(err)
				}
				if env.Message != tc.message || env.MessageAttributes != nil || bytes.Contains(j.Body, []byte("MessageAttributes")) {
					t.Fatalf("envelope %s", j.Body)
				}
				msgIDs[env.MessageID] = true
				jobIDs[j.ID] = true
			}
			sort.Strings(got)
			if len(got) != len(tc.want) || (len(got) > 0 && len(msgIDs) != 1) || len(jobIDs) != len(jobs) {
				t.Fatalf("jobs for %v (message IDs %v), want %v", got, msgIDs, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("jobs for %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := e.svc.PublishJobs(ctx, "bob", topic, "", bounce, nil); !errors.Is(err, sns.ErrTopicNotFound) {
		t.Fatalf("PublishJobs on another account's topic: %v", err)
	}
}

// TestSigningKeyShared: the signing key is created once, sealed at rest
// (the database never holds the private key in the clear), and every
// Service on the same database (every node) signs with it.
func TestSigningKeyShared(t *testing.T) {
	e := start(t, "sqlite", "alice")
	other, err := sns.New(e.db, e.accts, e.accts, e.deliv, nil, sns.Config{PublicURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if other.SigningCertURL() != e.svc.SigningCertURL() {
		t.Fatalf("two services, two keys: %s %s", other.SigningCertURL(), e.svc.SigningCertURL())
	}
	var n int
	if err := e.db.QueryRow("SELECT COUNT(*) FROM sns_signing_keys").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d signing keys (%v), want 1", n, err)
	}
	var id string
	var sealed []byte
	if err := e.db.QueryRow("SELECT id, key_sealed FROM sns_signing_keys").Scan(&id, &sealed); err != nil {
		t.Fatal(err)
	}
	plain, err := e.accts.Open(sealed, "sns-signing-key:"+id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil || bytes.Contains(sealed, plain[len(plain)-64:]) {
		t.Fatalf("sealed key: parse %v; the clear key is in the database", err)
	}
	// A different data-dir key cannot open it.
	wrong := wrongSealer{}
	if _, err := sns.New(e.db, e.accts, wrong, e.deliv, nil, sns.Config{}); err == nil {
		t.Fatal("the signing key opened with the wrong sealer")
	}
}

type wrongSealer struct{}

func (wrongSealer) Seal(p []byte, b string) []byte { return p }
func (wrongSealer) Open(s []byte, b string) ([]byte, error) {
	return nil, errors.New("message authentication failed")
}
