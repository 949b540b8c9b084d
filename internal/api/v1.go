package api

// The SES v1 Query API (API version 2010-12-01, ../shared/spec/ses.md §2):
// the API most SES code still speaks (boto3's "ses" client, aws ses …,
// django-ses, SDK v1 mailers). It is a second wire layer over the same
// services as the v2 API:
//
//  1. POST / (or GET /) signed with SigV4 for service "ses" is this API;
//     a request signed for "sns", or unsigned, is the SNS-compatible Query
//     API (queryAPI). The signature, the body limit and the memory budget
//     are checked as for v2 (admit).
//  2. The form body is decoded (awsquery.Parse); Action picks the action
//     (v1Actions: the areas' tables in v1_*.go), Version must be
//     2010-12-01 when given.
//  3. The action decodes its v1 parameters and calls what the v2 API calls:
//     the v2 handler itself, given the v2 request built from the v1
//     parameters (viaV2), or the service the v2 handler uses when v1 asks
//     for something v2 has no operation for. No rule of SES's is written
//     here a second time: what the v2 handler checks, it checks for v1.
//  4. The result is written as SES's XML (awsquery.WriteResponse,
//     namespace V1Namespace); an error as SES's v1 ErrorResponse, its code
//     the v1 name of the v2 error (v1Error).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/metrics"
	"github.com/petrelmail/petrel/internal/sigv4"
)

// SES v1's XML namespace and API version.
const (
	V1Namespace = "http://ses.amazonaws.com/doc/2010-12-01/"
	V1Version   = "2010-12-01"
)

// v1Action is one action of the v1 API.
type v1Action struct {
	fn func(ctx context.Context, c *call, q *awsquery.Request) (any, error)
	// notFound and exists are the v1 codes the v2 API's NotFoundException
	// and AlreadyExistsException take in this action (its resource's:
	// ConfigurationSetDoesNotExist, TemplateDoesNotExist, …); "" keeps
	// the defaults of v1Error.
	notFound, exists string
}

// v1NoResult is returned by an action whose response has no Result
// element (SES's VerifyEmailAddress, DeleteVerifiedEmailAddress).
type v1NoResult struct{}

// v1Actions returns every v1 action by name: each area's table.
func (s *Server) v1Actions() map[string]v1Action {
	all := map[string]v1Action{}
	for _, area := range []map[string]v1Action{
		s.v1SendingActions(), s.v1IdentityActions(), s.v1NotificationActions(), s.v1ConfigSetActions(), s.v1TemplateActions(), s.v1AccountActions(),
		v1ReceivingActions(),
	} {
		for name, a := range area {
			if _, dup := all[name]; dup {
				panic("api: v1 action " + name + " defined twice")
			}
			all[name] = a
		}
	}
	return all
}

// queryAPI serves POST / and GET /: SigV4 scoped to "ses" is the SES v1
// API; anything else (signed for "sns", or unsigned: the SNS
// SubscribeURL and UnsubscribeURL) goes to SNS when it is served, else to
// the v1 API, which refuses it.
func (s *Server) queryAPI() http.Handler {
	v1 := s.v1Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.SNS != nil && !v1Request(r) {
			s.SNS.ServeHTTP(w, r)
			return
		}
		v1.ServeHTTP(w, r)
	})
}

// v1Request reports whether r, a request to /, is meant for the SES v1
// API: signed with SigV4 for "ses" (or "email", SES's endpoint prefix, which
// Check then refuses with a clear message), or with SES's retired AWS3
// signatures (X-Amzn-Authorization, "AWS3-HTTPS" or "AWS3"), which
// v1Handler refuses naming SigV4.
func v1Request(r *http.Request) bool {
	switch sigv4.Service(r) {
	case "ses", "email":
		return true
	}
	return v1LegacySignature(r)
}

// v1LegacySignature reports SES's retired signatures (AWS3-HTTPS, AWS3).
func v1LegacySignature(r *http.Request) bool {
	return r.Header.Get("X-Amzn-Authorization") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "AWS3")
}

// v1Handler is the v1 API's http.Handler (steps 1–4 above).
func (s *Server) v1Handler() http.Handler {
	actions := s.v1Actions()
	ops := map[string]*v1Op{}
	for name := range actions {
		ops[name] = &v1Op{name: name, m: s.Metrics.Operation("v1:" + name)}
	}
	unknown := &v1Op{m: s.Metrics.Operation("v1:InvalidAction")}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := newRequestID()
		op, act := unknown, v1Action{}
		if v1LegacySignature(r) {
			w.Header().Set("Connection", "close")
			e := &awsquery.Error{Type: awsquery.Sender, Code: "IncompleteSignature", Status: 400,
				Message: "The request is signed with AWS3-HTTPS, which SES retired: sign it with AWS Signature Version 4 for service ses (every current AWS SDK does)."}
			op.m.Done(start, e.Code)
			awsquery.WriteError(w, V1Namespace, reqID, e)
			return
		}
		c, err := s.admit(w, r, MaxBody)
		var q *awsquery.Request
		var out any
		if err == nil {
			q, err = awsquery.Parse(c.body, r.URL.Query())
			if err == nil {
				if a, ok := actions[q.Action]; ok {
					op, act = ops[q.Action], a
				}
				err = v1Check(q, op)
			}
			if err == nil {
				out, err = act.fn(r.Context(), c, q)
			}
			c.body = nil
			s.Budget.ReleaseFor(c.account, c.held)
		}
		if err != nil {
			e := s.v1Error(r, reqID, act, err)
			op.m.Done(start, e.Code)
			awsquery.WriteError(w, V1Namespace, reqID, e)
			return
		}
		op.m.Done(start, "OK")
		var b []byte
		switch out.(type) {
		case v1NoResult:
			b, err = awsquery.Marshal(V1Namespace, q.Action, reqID, nil)
		case nil:
			b, err = awsquery.Marshal(V1Namespace, q.Action, reqID, struct{}{})
		default:
			b, err = awsquery.Marshal(V1Namespace, q.Action, reqID, out)
		}
		if err != nil {
			// A result that does not encode is Petrel's bug, found before
			// anything was written.
			s.Log.Error("v1 response does not encode", "request_id", reqID, "action", q.Action, "err", err)
			awsquery.WriteError(w, V1Namespace, reqID, v1Internal(reqID))
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("x-amzn-RequestId", reqID)
		w.Write(b)
	})
}

// v1Op is an action's metrics (operation label "v1:Action").
type v1Op struct {
	name string
	m    *metrics.Operation
}

// v1Check refuses a request without a known Action or with another
// Version than 2010-12-01.
func v1Check(q *awsquery.Request, op *v1Op) error {
	switch {
	case q.Action == "":
		return &awsquery.Error{Type: awsquery.Sender, Code: "MissingAction", Status: 400, Message: "Request is missing Action parameter."}
	case op.name == "":
		return &awsquery.Error{Type: awsquery.Sender, Code: "InvalidAction", Status: 400,
			Message: fmt.Sprintf("The action %s is not valid for this web service.", q.Action)}
	case q.Version != "" && q.Version != V1Version:
		return &awsquery.Error{Type: awsquery.Sender, Code: "InvalidParameterValue", Status: 400,
			Message: fmt.Sprintf("Version %s is not supported: this endpoint serves the SES Query API version %s (and the SESv2 API under /v2/).", q.Version, V1Version)}
	}
	return nil
}

// v1Error maps err to SES's v1 error: a Query error as it is, a v2
// refusal given its own v1 code (v1CodeAs) with that code; anything
// else as the v2 API maps it (sesError: SigV4 errors, the accept path's
// refusals, internal failures logged), then renamed to its v1 code. The v1
// API answers every sender fault with HTTP 400.
func (s *Server) v1Error(r *http.Request, reqID string, act v1Action, err error) *awsquery.Error {
	var qe *awsquery.Error
	if errors.As(err, &qe) {
		return qe
	}
	var ce *v1CodedError
	if errors.As(err, &ce) {
		return &awsquery.Error{Type: awsquery.Sender, Code: ce.Code, Status: 400, Message: ce.err.Message}
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &awsquery.Error{Type: awsquery.Sender, Code: awsquery.SigV4Code(se.Code), Status: se.Status, Message: se.Message}
	}
	e := s.sesError(r, reqID, err)
	if e.Status >= 500 {
		return &awsquery.Error{Type: awsquery.Receiver, Code: e.Code, Status: e.Status, Message: e.Message}
	}
	code := e.Code
	switch e.Code {
	case "BadRequestException":
		code = "InvalidParameterValue"
	case "NotFoundException":
		code = "InvalidParameterValue"
		if act.notFound != "" {
			code = act.notFound
		}
	case "AlreadyExistsException":
		code = "AlreadyExists"
		if act.exists != "" {
			code = act.exists
		}
	case "LimitExceededException":
		code = "LimitExceeded"
	case "TooManyRequestsException":
		code = "Throttling"
	case "SendingPausedException":
		code = "AccountSendingPausedException"
	case "ConcurrentModificationException":
		code = "ConcurrentModification"
	}
	return &awsquery.Error{Type: awsquery.Sender, Code: code, Status: 400, Message: e.Message}
}

// v1CodedError is a v2 refusal that has its own SES v1 error code, v1's
// errors being finer than v2's BadRequestException and NotFoundException.
// The v2 API answers the wrapped *Error as it is (sesError unwraps it);
// the v1 API answers Code (v1Error).
type v1CodedError struct {
	err  *Error
	Code string
}

func (e *v1CodedError) Error() string { return e.err.Error() }
func (e *v1CodedError) Unwrap() error { return e.err }

// v1CodeAs gives e the v1 code code.
func v1CodeAs(code string, e *Error) error { return &v1CodedError{err: e, Code: code} }

// v1HasCode reports whether err carries the v1 code code (v1CodeAs).
func v1HasCode(err error, code string) bool {
	var ce *v1CodedError
	return errors.As(err, &ce) && ce.Code == code
}

// v1Internal is the v1 API's answer to a failure of Petrel's own.
func v1Internal(reqID string) *awsquery.Error {
	e := internalFailure(reqID)
	return &awsquery.Error{Type: awsquery.Receiver, Code: e.Code, Status: e.Status, Message: e.Message}
}

// v2Request is a v2 API request a v1 action makes: the JSON body, the
// path's values ({EmailIdentity}, {TemplateName}, …) and query.
type v2Request struct {
	Body  any
	Path  map[string]string
	Query url.Values
}

// viaV2 runs the v2 handler h on req, in the v1 call's name (its account,
// access key, source IP and context), and returns h's result. The v2
// handler decodes and checks the request exactly as for a v2 client.
func (s *Server) viaV2(ctx context.Context, c *call, h handler, req v2Request) (any, error) {
	r := c.r.Clone(ctx)
	for k, v := range req.Path {
		r.SetPathValue(k, v)
	}
	u := *r.URL
	u.RawQuery = req.Query.Encode()
	r.URL = &u
	v2 := *c
	v2.r, v2.body = r, nil
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, fmt.Errorf("v1: encoding the v2 request: %w", err)
		}
		v2.body = b
	}
	return h(ctx, &v2)
}

// v1Missing is the v1 API's error for a required parameter that is absent
// (the SDKs check it first; a hand-made request meets this).
func v1Missing(name string) error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "ValidationError", Status: 400,
		Message: fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", name)}
}

// v1RequiredBool is a required boolean parameter (true or false; the SDKs
// send a required boolean's false too, an optional one's only when true).
func v1RequiredBool(q *awsquery.Request, name string) (bool, error) {
	if !q.Has(name) {
		return false, v1Missing(name)
	}
	return q.Bool(name, false, func(n string) error { return v1Invalid("%s must be true or false.", n) })
}

// v1Invalid is SES's InvalidParameterValue.
func v1Invalid(format string, a ...any) error {
	return &awsquery.Error{Type: awsquery.Sender, Code: "InvalidParameterValue", Status: 400, Message: fmt.Sprintf(format, a...)}
}

// v1Receiving are the receipt-rule actions and SendBounce: receiving mail
// through SES rules is not what Petrel does (its inbound receiver is the
// return path only), so they answer UnsupportedOperation, naming the
// action, rather than InvalidAction.
var v1Receiving = []string{
	"CloneReceiptRuleSet", "CreateReceiptFilter", "CreateReceiptRule", "CreateReceiptRuleSet", "DeleteReceiptFilter",
	"DeleteReceiptRule", "DeleteReceiptRuleSet", "DescribeActiveReceiptRuleSet", "DescribeReceiptRule",
	"DescribeReceiptRuleSet", "ListReceiptFilters", "ListReceiptRuleSets", "ReorderReceiptRuleSet", "SendBounce",
	"SetActiveReceiptRuleSet", "SetReceiptRulePosition", "UpdateReceiptRule",
}

func v1ReceivingActions() map[string]v1Action {
	out := map[string]v1Action{}
	for _, name := range v1Receiving {
		out[name] = v1Action{fn: func(context.Context, *call, *awsquery.Request) (any, error) {
			return nil, &awsquery.Error{Type: awsquery.Sender, Code: "UnsupportedOperation", Status: 400,
				Message: name + " is not supported by Petrel: it does not receive mail through SES receipt rules (docs/ses-v1.md)."}
		}}
	}
	return out
}
