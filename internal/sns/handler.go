package sns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/sigv4"
)

// MaxBody is the largest request body accepted, in bytes (the API's small
// bodies, api.MaxSmallBody; SNS messages are at most 256 KB).
const MaxBody = 1 << 20

// MaxAnonymousBody bounds the body of an unsigned request (only
// ConfirmSubscription and Unsubscribe, a few hundred bytes), which is read
// before anything proves who sent it.
const MaxAnonymousBody = 16 << 10

// call is one authenticated (or, for ConfirmSubscription and Unsubscribe,
// anonymous) action.
type call struct {
	req     *awsquery.Request
	account string // "" when anonymous
}

type action func(ctx context.Context, c *call) (any, error)

// Handler returns the HTTP handler of the SNS endpoints:
//   - POST / — the Query API, signed with SigV4 (service "sns") by an
//     account access key; ConfirmSubscription and Unsubscribe may also come
//     unsigned, as in SNS;
//   - GET /?Action=ConfirmSubscription&TopicArn=…&Token=… and
//     GET /?Action=Unsubscribe&SubscriptionArn=… — the SubscribeURL and
//     UnsubscribeURL, unauthenticated (the token and the subscription ARN's
//     UUID are the secrets);
//   - GET /sns/SimpleNotificationService-<id>.pem — the signing certificate.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sns/{file}", s.serveCert)
	mux.HandleFunc("POST /{$}", s.serveQuery)
	mux.HandleFunc("GET /{$}", s.serveQuery)
	return mux
}

func (s *Service) serveCert(w http.ResponseWriter, r *http.Request) {
	f := r.PathValue("file")
	id, ok := strings.CutPrefix(f, "SimpleNotificationService-")
	if ok {
		id, ok = strings.CutSuffix(id, ".pem")
	}
	if !ok || id == "" {
		http.NotFound(w, r)
		return
	}
	c, err := s.certPEM(r.Context(), id)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(c)
}

func errInvalid(format string, a ...any) *awsquery.Error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "InvalidParameter", Status: 400, Message: "Invalid parameter: " + fmt.Sprintf(format, a...)}
}

func errNotFound(msg string) *awsquery.Error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "NotFound", Status: 404, Message: msg}
}

func errAuthorization(msg string) *awsquery.Error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "AuthorizationError", Status: 403, Message: msg}
}

func missing(name string) error { return errInvalid("%s", name) }

func newRequestID() string { return newUUID() }

// anonymous actions: allowed unsigned (SubscribeURL / UnsubscribeURL).
var anonymous = map[string]bool{"ConfirmSubscription": true, "Unsubscribe": true}

func signedRequest(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.URL.Query().Get("X-Amz-Signature") != ""
}

func (s *Service) serveQuery(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	c, err := s.admit(w, r)
	var out any
	if err == nil {
		act := s.actions()[c.req.Action]
		switch {
		case c.req.Action == "":
			err = &awsquery.Error{Type: awsquery.Sender, Code: "MissingAction", Status: 400, Message: "Request is missing Action parameter."}
		case act == nil:
			err = &awsquery.Error{Type: awsquery.Sender, Code: "InvalidAction", Status: 400,
				Message: fmt.Sprintf("The action %s is not valid for this web service.", c.req.Action)}
		default:
			out, err = act(r.Context(), c)
		}
	}
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	if err := awsquery.WriteResponse(w, Namespace, c.req.Action, reqID, out); err != nil {
		s.writeError(w, r, reqID, err)
	}
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	var qe *awsquery.Error
	var se *sigv4.Error
	switch {
	case errors.As(err, &qe):
	case errors.As(err, &se):
		qe = &awsquery.Error{Type: awsquery.Sender, Code: awsquery.SigV4Code(se.Code), Status: se.Status, Message: se.Message}
	case errors.Is(err, ErrTopicNotFound):
		qe = errNotFound("Topic does not exist")
	case errors.Is(err, ErrSubscriptionNotFound):
		qe = errNotFound("Subscription does not exist")
	default:
		qe = &awsquery.Error{Type: awsquery.Receiver, Code: "InternalError", Status: 500,
			Message: "The request processing has failed because of an internal error (request ID " + reqID + "). Retry the request."}
	}
	awsquery.WriteError(w, Namespace, reqID, qe)
}

// admit authenticates the request and decodes it. A signed request is
// checked before its body is read (sigv4.Check), then over the body's
// hash; an unsigned one may only be ConfirmSubscription or Unsubscribe.
func (s *Service) admit(w http.ResponseWriter, r *http.Request) (*call, error) {
	if r.ContentLength > MaxBody {
		w.Header().Set("Connection", "close")
		return nil, errInvalid("the request body is larger than %d bytes", MaxBody)
	}
	if !signedRequest(r) {
		if r.ContentLength > MaxAnonymousBody {
			w.Header().Set("Connection", "close")
			return nil, &awsquery.Error{Type: awsquery.Sender, Code: "MissingAuthenticationToken", Status: 403,
				Message: "Request is missing Authentication Token"}
		}
		body, err := readBody(r, MaxAnonymousBody)
		if err != nil {
			return nil, err
		}
		req, err := awsquery.Parse(body, r.URL.Query())
		if err != nil {
			return nil, err
		}
		if !anonymous[req.Action] {
			return nil, &awsquery.Error{Type: awsquery.Sender, Code: "MissingAuthenticationToken", Status: 403,
				Message: "Request is missing Authentication Token"}
		}
		return &call{req: req}, nil
	}
	var acct string
	region := s.cfg.Region
	sg, err := sigv4.Check(r, "sns", region, s.cfg.Now(), func(id string) (string, error) {
		secret, a, err := s.accounts.Secret(r.Context(), id)
		if errors.Is(err, account.ErrNotFound) {
			return "", sigv4.ErrUnknownKey
		}
		acct = a
		return secret, err
	})
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, MaxBody)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if _, err := sg.Verify(hex.EncodeToString(sum[:])); err != nil {
		return nil, err
	}
	req, err := awsquery.Parse(body, r.URL.Query())
	if err != nil {
		return nil, err
	}
	return &call{req: req, account: acct}, nil
}

// readBody reads a POST body of at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, &awsquery.Error{Type: awsquery.Sender, Code: "MalformedQueryString", Status: 400, Message: "Could not read the request body."}
	}
	if int64(len(b)) > limit {
		return nil, errInvalid("the request body is larger than %d bytes", limit)
	}
	return b, nil
}
