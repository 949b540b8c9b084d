// Package api is the SESv2 REST API (rest-json, API version 2019-09-27) over
// net/http: routes, SigV4 authentication, SES's JSON shapes, and one mapper
// from errors to SES's error responses (x-amzn-ErrorType header plus a JSON
// body with "message"). Handlers return errors; they never write error
// responses themselves.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/sigv4"
	"github.com/petrelmail/petrel/internal/spool"
)

// MaxBody bounds a request body: a 40 MB raw message is about 54 MB in base64.
const MaxBody = 60 << 20

// Server serves the API.
type Server struct {
	Accounts   *account.Service
	Identities *identity.Service
	Sender     *sending.Sender
	Events     *event.Log
	Spool      *spool.Spool
	Log        *slog.Logger
}

// Error is an SES error response.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func badRequest(format string, a ...any) *Error {
	return &Error{Code: "BadRequestException", Status: 400, Message: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) *Error {
	return &Error{Code: "NotFoundException", Status: 404, Message: fmt.Sprintf(format, a...)}
}

// call is what an authenticated handler sees of its request.
type call struct {
	r        *http.Request
	body     []byte
	account  string
	keyID    string
	sourceIP string
}

type handler func(ctx context.Context, c *call) (any, error)

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h handler) { mux.Handle(pattern, s.wrap(h)) }
	route("POST /v2/email/outbound-emails", s.sendEmail)
	route("GET /v2/email/account", s.getAccount)
	route("POST /v2/email/identities", s.createIdentity)
	route("GET /v2/email/identities", s.listIdentities)
	route("GET /v2/email/identities/{EmailIdentity}", s.getIdentity)
	route("DELETE /v2/email/identities/{EmailIdentity}", s.deleteIdentity)
	route("PUT /v2/email/identities/{EmailIdentity}/dkim", s.putDkimAttributes)
	route("GET /v2/email/insights/{MessageId}/", s.getMessageInsights)
	route("GET /v2/email/insights/{MessageId}", s.getMessageInsights)
	mux.Handle("/", s.wrap(func(ctx context.Context, c *call) (any, error) {
		return nil, &Error{Code: "UnknownOperationException", Status: 404,
			Message: fmt.Sprintf("The operation %s %s is not supported by Petrel.", c.r.Method, c.r.URL.Path)}
	}))
	return mux
}

// wrap authenticates the request (SigV4), runs h, and writes its result or
// the SES error response.
func (s *Server) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		out, err := s.serve(r, h)
		if err != nil {
			s.writeError(w, r, reqID, err)
			return
		}
		if out == nil {
			out = struct{}{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

func (s *Server) serve(r *http.Request, h handler) (any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Code: "MessageRejected", Status: 400, Message: fmt.Sprintf("Request body is larger than %d bytes.", MaxBody)}
		}
		return nil, badRequest("Could not read the request body.")
	}
	var acct string
	res, err := sigv4.Verify(r, body, "ses", time.Now(), func(id string) (string, error) {
		secret, a, err := s.Accounts.Secret(r.Context(), id)
		if errors.Is(err, account.ErrNotFound) {
			return "", sigv4.ErrUnknownKey
		}
		acct = a
		return secret, err
	})
	if err != nil {
		return nil, err
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	return h(r.Context(), &call{r: r, body: body, account: acct, keyID: res.AccessKeyID, sourceIP: ip})
}

// writeError maps err to SES's error response. Errors that are not already
// SES errors are internal: the client sees a generic message with the
// request ID, the log gets the details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	var e *Error
	var se *sigv4.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &se):
		e = &Error{Code: se.Code, Status: se.Status, Message: se.Message}
	default:
		e = sendError(err)
		if e == nil {
			s.Log.Error("API request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
			e = &Error{Code: "InternalServiceErrorException", Status: 500, Message: "Internal error; request ID " + reqID + "."}
		}
	}
	if e.Status >= 500 {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("x-amzn-ErrorType", e.Code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
}

// sendError maps the accept path's errors to SES's.
func sendError(err error) *Error {
	var unv *sending.UnverifiedError
	var rej *sending.RejectedError
	var many *sending.TooManyRecipientsError
	var large *sending.TooLargeError
	var st *sending.StorageError
	switch {
	case errors.As(err, &unv):
		return &Error{Code: "MessageRejected", Status: 400, Message: unv.Error()}
	case errors.As(err, &rej):
		return &Error{Code: "MessageRejected", Status: 400, Message: rej.Error()}
	case errors.As(err, &large):
		return &Error{Code: "MessageRejected", Status: 400, Message: large.Error()}
	case errors.As(err, &many):
		return badRequest("%s", many.Error())
	case errors.Is(err, sending.ErrNoRecipients):
		return badRequest("The message has no recipients: give at least one address in Destination (or To/Cc/Bcc headers for Raw content).")
	case errors.Is(err, sending.ErrSendingPaused):
		return &Error{Code: "SendingPausedException", Status: 400, Message: "Sending is paused for this account."}
	case errors.As(err, &st):
		return &Error{Code: "ServiceUnavailable", Status: 503, Message: "The message could not be stored; nothing was accepted. Retry the request."}
	}
	return nil
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// decode unmarshals the JSON body into v, naming the problem on failure.
func decode(c *call, v any) error {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return badRequest("The request body is empty.")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("Invalid type for field %s: expected %s.", te.Field, te.Type)
		}
		return &Error{Code: "SerializationException", Status: 400, Message: "Malformed JSON request body: " + err.Error()}
	}
	return nil
}
