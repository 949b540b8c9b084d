package sns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/api"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/sns"
	"github.com/petrelmail/petrel/internal/store"
)

// deliverer is the tests' Enqueuer: it performs the delivery notify.Engine
// would — each SNSHTTP job POSTed to its URL with its headers and body
// (asynchronously, as the engine does after the enqueueing transaction),
// each Email job kept — so that the handshake runs over real HTTP.
type deliverer struct {
	client *http.Client
	wg     sync.WaitGroup

	mu       sync.Mutex
	jobs     []notify.Job
	emails   chan notify.Job
	statuses []int
	errs     []error
}

func newDeliverer() *deliverer {
	return &deliverer{client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		emails: make(chan notify.Job, 100)}
}

func (d *deliverer) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	d.mu.Lock()
	d.jobs = append(d.jobs, jobs...)
	d.mu.Unlock()
	for _, j := range jobs {
		switch j.Channel {
		case notify.Email:
			d.emails <- j
		case notify.SNSHTTP:
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				req, err := http.NewRequest("POST", j.URL, bytes.NewReader(j.Body))
				if err != nil {
					d.fail(err)
					return
				}
				for k, v := range j.Headers {
					req.Header.Set(k, v)
				}
				resp, err := d.client.Do(req)
				if err != nil {
					d.fail(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d.mu.Lock()
				d.statuses = append(d.statuses, resp.StatusCode)
				d.mu.Unlock()
			}()
		default:
			return fmt.Errorf("unexpected channel %q", j.Channel)
		}
	}
	return nil
}

func (d *deliverer) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

// loopbackOnly is the tests' URLChecker: it refuses what is not on
// 127.0.0.1 (the real one is egress.Guard).
type loopbackOnly struct{}

func (loopbackOnly) CheckURL(ctx context.Context, raw string) error {
	req, err := http.NewRequest("GET", raw, nil)
	if err != nil {
		return err
	}
	if req.URL.Hostname() != "127.0.0.1" {
		return fmt.Errorf("%s: %s is not an allowed address", raw, req.URL.Hostname())
	}
	return nil
}

type tenant struct {
	name  string
	id    string // 12-digit account ID
	creds aws.Credentials
}

type env struct {
	db    *store.DB
	accts *account.Service
	svc   *sns.Service
	srv   *httptest.Server
	deliv *deliverer
	ten   map[string]tenant
	// skew is added to the Service's clock (nanoseconds).
	skew atomic.Int64
}

// start serves Petrel's HTTP API with the SNS handler mounted (api.Server
// field SNS, behind Guard, as petrel serve does) over a real store on
// loopback, and creates the named tenants with an access key each.
func start(t testing.TB, backend string, tenants ...string) *env {
	t.Helper()
	ctx := t.Context()
	db := store.OpenTest(t, backend)
	accts, err := account.New(db, filepath.Join(t.TempDir(), "master.key"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, accts: accts, deliv: newDeliverer(), ten: map[string]tenant{}}
	for _, name := range tenants {
		a, err := accts.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		key, err := accts.CreateKey(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		e.ten[name] = tenant{name, a.SendingAccountID, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}}
	}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	svc, err := sns.New(db, accts, accts, e.deliv, loopbackOnly{}, sns.Config{Region: "us-east-1", PublicURL: e.srv.URL, Hostname: "petrel.test",
		Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	a := &api.Server{Accounts: accts, SNS: svc.Handler(), Log: slog.New(slog.DiscardHandler), Region: "us-east-1",
		Budget: admission.NewBudget(8 << 20), BodyTimeout: 10 * time.Second, MinBodyRate: 64 << 10}
	h = a.Guard(a.Handler())
	t.Cleanup(func() {
		e.deliv.wg.Wait()
		e.srv.Close()
	})
	return e
}

// client is the official SNS client (aws-sdk-go-v2 service/sns) for a
// tenant, without retries.
func (e *env) client(name string) *awssns.Client {
	ten := e.ten[name]
	return awssns.New(awssns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(ten.creds.AccessKeyID, ten.creds.SecretAccessKey, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
	})
}

// subscriber is an HTTP(S) subscription endpoint: it records what it
// receives and, when confirm is set, confirms by GETting SubscribeURL.
type subscriber struct {
	t       *testing.T
	srv     *httptest.Server
	confirm bool
	got     chan received
}

type received struct {
	header http.Header
	body   []byte
	env    sns.Envelope
	// confirmStatus and confirmBody are the answer to the GET of
	// SubscribeURL, for a SubscriptionConfirmation the subscriber confirmed.
	confirmStatus int
	confirmBody   string
}

func newSubscriber(t *testing.T, confirm bool) *subscriber {
	s := &subscriber{t: t, confirm: confirm, got: make(chan received, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{header: r.Header.Clone(), body: body}
		json.Unmarshal(body, &rec.env)
		if s.confirm && r.Header.Get("x-amz-sns-message-type") == "SubscriptionConfirmation" {
			resp, err := http.Get(rec.env.SubscribeURL)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				rec.confirmStatus, rec.confirmBody = resp.StatusCode, string(b)
			} else {
				rec.confirmBody = err.Error()
			}
		}
		s.got <- rec
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// next waits for the next message (the test's deadline bounds the wait).
func (s *subscriber) next() received {
	s.t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(30 * time.Second):
		s.t.Fatal("no message reached the subscriber")
	}
	return received{}
}

// none asserts nothing more arrived once every delivery so far finished.
func (s *subscriber) none(d *deliverer) {
	s.t.Helper()
	d.wg.Wait()
	select {
	case r := <-s.got:
		s.t.Fatalf("unexpected message: %s", r.body)
	default:
	}
}
