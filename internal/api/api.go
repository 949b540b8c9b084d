// Package api is the SESv2 REST API (rest-json, API version 2019-09-27) over
// net/http: routes, SigV4 authentication, SES's JSON shapes, and one mapper
// from errors to SES's error responses (x-amzn-ErrorType header plus a JSON
// body with "message"). Handlers return errors; they never write error
// responses themselves.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/awsquery"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/metrics"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/sigv4"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// Body limits per operation, in bytes. SendEmail takes a 40 MB raw message,
// about 54 MB in base64 inside JSON; the other operations take small JSON
// documents; GET and DELETE take no body.
const (
	MaxBody      = 60 << 20
	MaxSmallBody = 1 << 20
)

// Server serves the API.
type Server struct {
	Accounts   *account.Service
	Identities *identity.Service
	ConfigSets *configset.Service
	Sender     *sending.Sender
	Events     *event.Log
	Spool      *spool.Spool
	// Suppression is the account-level suppression list
	// (…/suppression/addresses, PutAccountSuppressionAttributes, GetAccount's
	// SuppressionAttributes).
	Suppression *suppression.List
	ImportJobs  *importjob.Service
	// Contacts is SES list management: contact lists, topics, contacts
	// (contacts.go).
	Contacts *contacts.Service
	// Quota answers GetAccount's SendQuota.SentLast24Hours of limited
	// accounts (package quota), Stats that of unlimited ones (package
	// stats); nil reports 0.
	Quota *quota.Quota
	// Stats serves BatchGetMetricData (metricdata.go) from the counters; nil
	// answers it UnknownOperationException.
	Stats *stats.Counters
	Log   *slog.Logger
	// Topics and URLs check event destinations (destinations.go): the SNS
	// topic must be the caller's, the webhook URL must pass the SSRF
	// guard. nil refuses that kind of destination.
	Topics TopicChecker
	URLs   URLChecker
	// Metrics counts requests by SES operation and result, with their
	// duration; nil counts nothing.
	Metrics *metrics.Metrics
	// SNS, when set, serves the SNS-compatible Query API and its public
	// endpoints (package sns): POST / and GET / (ConfirmSubscription and
	// Unsubscribe links), GET /sns/ (the signing certificate).
	SNS http.Handler
	// Reputation reports enforcement (package reputation): GetAccount's
	// EnforcementStatus and a set's ReputationOptions.LastFreshStart;
	// nil: HEALTHY, no fresh start.
	Reputation Reputation
	// AddressVerifier sends the verification email of a new address
	// identity and follows its links (GET /verify-email/{token},
	// verification.go); nil sends none and serves no links.
	AddressVerifier *identity.AddressVerifier
	// Unsubscribe applies list-management unsubscribes and serves their
	// page (/unsubscribe/{token}, unsubscribe.go); nil serves no links.
	Unsubscribe *contacts.Unsubscriber
	// Templates stores the email templates (templates.go).
	Templates *template.Service

	// Region is the one region credential scopes must name (SES endpoints
	// are regional); "" accepts any.
	Region string
	// Budget bounds the request bodies held in memory at once (shared with
	// SMTP), each charged to the account whose access key signed it, which
	// may hold at most the budget's HolderMax; a body that does not fit is
	// refused with a retryable 503.
	Budget *admission.Budget
	// BodyTimeout and MinBodyRate bound how long a client may take to send
	// a body of n bytes: BodyTimeout + n/MinBodyRate seconds (0 = no limit).
	BodyTimeout time.Duration
	MinBodyRate int64
	// WorkTime is how long a response may take beyond its body's time
	// (Guard): the work ends replyAllowance before it; 0 is a minute.
	WorkTime time.Duration

	refusals admission.RefusalLog
	links    linkLimiter // the link page's per-IP rate (verification.go)
	// unsubLinks is the per-IP rate of requests with a valid unsubscribe
	// token (unsubscribe.go); requests with a bad one count in links.
	unsubLinks linkLimiter
}

// Reputation is what the API reads of reputation enforcement.
type Reputation interface {
	EnforcementStatus(ctx context.Context, account string) (string, error)
	FreshStart(ctx context.Context, account, set string) (time.Time, error)
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
	held     int64 // bytes of the memory budget taken for body
	account  string
	keyID    string
	sourceIP string
}

type handler func(ctx context.Context, c *call) (any, error)

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Each route names its SES operation, the operation label of its
	// metrics (petrel_api_requests_total).
	route := func(op, pattern string, limit int64, h handler) { mux.Handle(pattern, s.wrap(op, limit, h)) }
	route("SendEmail", "POST /v2/email/outbound-emails", MaxBody, s.sendEmail)
	route("SendBulkEmail", "POST /v2/email/outbound-bulk-emails", MaxBody, s.sendBulkEmail)
	route("GetAccount", "GET /v2/email/account", 0, s.getAccount)
	route("CreateEmailIdentity", "POST /v2/email/identities", MaxSmallBody, s.createIdentity)
	route("ListEmailIdentities", "GET /v2/email/identities", 0, s.listIdentitiesQuery)
	route("ListEmailIdentities", "POST /v2/email/list-identities", MaxSmallBody, s.listIdentitiesBody)
	route("GetEmailIdentity", "GET /v2/email/identities/{EmailIdentity}", 0, s.getIdentity)
	route("DeleteEmailIdentity", "DELETE /v2/email/identities/{EmailIdentity}", 0, s.deleteIdentity)
	route("PutEmailIdentityDkimAttributes", "PUT /v2/email/identities/{EmailIdentity}/dkim", MaxSmallBody, s.putDkimAttributes)
	route("PutEmailIdentityDkimSigningAttributes", "PUT /v2/email/identities/{EmailIdentity}/dkim/signing", MaxSmallBody, s.putDkimSigningAttributes)
	route("PutEmailIdentityFeedbackAttributes", "PUT /v2/email/identities/{EmailIdentity}/feedback", MaxSmallBody, s.putFeedbackAttributes)
	route("PutEmailIdentityConfigurationSetAttributes", "PUT /v2/email/identities/{EmailIdentity}/configuration-set", MaxSmallBody, s.putIdentityConfigSet)
	route("CreateEmailIdentityPolicy", "POST /v2/email/identities/{EmailIdentity}/policies/{PolicyName}", MaxSmallBody, s.createIdentityPolicy)
	route("GetEmailIdentityPolicies", "GET /v2/email/identities/{EmailIdentity}/policies", 0, s.getIdentityPolicies)
	route("UpdateEmailIdentityPolicy", "PUT /v2/email/identities/{EmailIdentity}/policies/{PolicyName}", MaxSmallBody, s.updateIdentityPolicy)
	route("DeleteEmailIdentityPolicy", "DELETE /v2/email/identities/{EmailIdentity}/policies/{PolicyName}", 0, s.deleteIdentityPolicy)
	route("PutEmailIdentityMailFromAttributes", "PUT /v2/email/identities/{EmailIdentity}/mail-from", MaxSmallBody, s.putMailFromAttributes)
	route("GetMessageInsights", "GET /v2/email/insights/{MessageId}/", 0, s.getMessageInsights)
	route("CreateConfigurationSet", "POST /v2/email/configuration-sets", MaxSmallBody, s.createConfigSet)
	route("ListConfigurationSets", "GET /v2/email/configuration-sets", 0, s.listConfigSetsQuery)
	route("ListConfigurationSets", "POST /v2/email/list-configuration-sets", MaxSmallBody, s.listConfigSetsBody)
	route("GetConfigurationSet", "GET /v2/email/configuration-sets/{ConfigurationSetName}", 0, s.getConfigSet)
	route("DeleteConfigurationSet", "DELETE /v2/email/configuration-sets/{ConfigurationSetName}", 0, s.deleteConfigSet)
	route("PutConfigurationSetDeliveryOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/delivery-options", MaxSmallBody, s.putConfigSetDelivery)
	route("PutConfigurationSetSendingOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/sending", MaxSmallBody, s.putConfigSetSending)
	route("PutConfigurationSetReputationOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/reputation-options", MaxSmallBody, s.putConfigSetReputation)
	route("PutConfigurationSetSuppressionOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/suppression-options", MaxSmallBody, s.putConfigSetSuppression)
	route("PutConfigurationSetTrackingOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/tracking-options", MaxSmallBody, s.putConfigSetTracking)
	route("PutConfigurationSetVdmOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/vdm-options", MaxSmallBody, s.putConfigSetVdm)
	route("PutConfigurationSetArchivingOptions", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/archiving-options", MaxSmallBody, s.putConfigSetArchiving)
	route("CreateConfigurationSetEventDestination", "POST /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations", MaxSmallBody, s.createEventDestination)
	route("GetConfigurationSetEventDestinations", "GET /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations", 0, s.getEventDestinations)
	route("UpdateConfigurationSetEventDestination", "PUT /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{EventDestinationName}", MaxSmallBody, s.updateEventDestination)
	route("DeleteConfigurationSetEventDestination", "DELETE /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{EventDestinationName}", 0, s.deleteEventDestination)
	route("TagResource", "POST /v2/email/tags", MaxSmallBody, s.tagResource)
	route("UntagResource", "DELETE /v2/email/tags", 0, s.untagResource)
	route("ListTagsForResource", "GET /v2/email/tags", 0, s.listTagsForResource)
	route("GetMessageInsights", "GET /v2/email/insights/{MessageId}", 0, s.getMessageInsights)
	route("BatchGetMetricData", "POST /v2/email/metrics/batch", MaxSmallBody, s.batchGetMetricData)
	route("PutSuppressedDestination", "PUT /v2/email/suppression/addresses", MaxSmallBody, s.putSuppressedDestination)
	route("ListSuppressedDestinations", "GET /v2/email/suppression/addresses", 0, s.listSuppressedDestinations)
	route("GetSuppressedDestination", "GET /v2/email/suppression/addresses/{EmailAddress}", 0, s.getSuppressedDestination)
	route("DeleteSuppressedDestination", "DELETE /v2/email/suppression/addresses/{EmailAddress}", 0, s.deleteSuppressedDestination)
	route("PutAccountSuppressionAttributes", "PUT /v2/email/account/suppression", MaxSmallBody, s.putAccountSuppressionAttributes)
	route("PutAccountDetails", "POST /v2/email/account/details", MaxSmallBody, s.putAccountDetails)
	route("PutAccountSendingAttributes", "PUT /v2/email/account/sending", MaxSmallBody, s.putAccountSendingAttributes)
	route("CreateImportJob", "POST /v2/email/import-jobs", MaxSmallBody, s.createImportJob)
	route("GetImportJob", "GET /v2/email/import-jobs/{JobId}", 0, s.getImportJob)
	route("ListImportJobs", "POST /v2/email/import-jobs/list", MaxSmallBody, s.listImportJobs)
	route("ListImportJobs", "GET /v2/email/import-jobs", MaxSmallBody, s.listImportJobsQuery)
	route("UploadImportData", "PUT /v2/email/import-data/{Name}", importjob.MaxData, s.uploadImportData)
	mux.Handle("GET /v2/email/import-jobs/{JobId}/failed-records", s.failedRecords())
	route("CreateContactList", "POST /v2/email/contact-lists", MaxSmallBody, s.createContactList)
	route("ListContactLists", "GET /v2/email/contact-lists", 0, s.listContactLists)
	route("GetContactList", "GET /v2/email/contact-lists/{ContactListName}", 0, s.getContactList)
	route("UpdateContactList", "PUT /v2/email/contact-lists/{ContactListName}", MaxSmallBody, s.updateContactList)
	route("DeleteContactList", "DELETE /v2/email/contact-lists/{ContactListName}", 0, s.deleteContactList)
	route("CreateContact", "POST /v2/email/contact-lists/{ContactListName}/contacts", MaxSmallBody, s.createContact)
	route("ListContacts", "POST /v2/email/contact-lists/{ContactListName}/contacts/list", MaxSmallBody, s.listContacts)
	route("ListContacts", "GET /v2/email/contact-lists/{ContactListName}/contacts", MaxSmallBody, s.listContacts)
	route("GetContact", "GET /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", 0, s.getContact)
	route("UpdateContact", "PUT /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", MaxSmallBody, s.updateContact)
	route("DeleteContact", "DELETE /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", 0, s.deleteContact)
	route("CreateEmailTemplate", "POST /v2/email/templates", maxTemplateBody, s.createTemplate)
	route("ListEmailTemplates", "GET /v2/email/templates", 0, s.listTemplates)
	route("GetEmailTemplate", "GET /v2/email/templates/{TemplateName}", 0, s.getTemplate)
	route("UpdateEmailTemplate", "PUT /v2/email/templates/{TemplateName}", maxTemplateBody, s.updateTemplate)
	route("DeleteEmailTemplate", "DELETE /v2/email/templates/{TemplateName}", 0, s.deleteTemplate)
	route("TestRenderEmailTemplate", "POST /v2/email/templates/{TemplateName}/render", maxTemplateBody, s.testRenderTemplate)
	route("CreateCustomVerificationEmailTemplate", "POST /v2/email/custom-verification-email-templates", MaxBody, s.createCustomTemplate)
	route("ListCustomVerificationEmailTemplates", "GET /v2/email/custom-verification-email-templates", 0, s.listCustomTemplates)
	route("GetCustomVerificationEmailTemplate", "GET /v2/email/custom-verification-email-templates/{TemplateName}", 0, s.getCustomTemplate)
	route("UpdateCustomVerificationEmailTemplate", "PUT /v2/email/custom-verification-email-templates/{TemplateName}", MaxBody, s.updateCustomTemplate)
	route("DeleteCustomVerificationEmailTemplate", "DELETE /v2/email/custom-verification-email-templates/{TemplateName}", 0, s.deleteCustomTemplate)
	route("SendCustomVerificationEmail", "POST /v2/email/outbound-custom-verification-emails", MaxSmallBody, s.sendCustomVerificationEmail)
	// The links of verification emails: unauthenticated, the token is the secret.
	mux.HandleFunc("GET "+identity.LinkPath+"{token}", s.verifyEmailLink)
	s.unsubLinks.perSecond, s.unsubLinks.burst = UnsubscribeRate, UnsubscribeBurst
	mux.HandleFunc(contacts.UnsubscribePath+"{token}", s.unsubscribe)
	// POST / and GET /: the SES v1 Query API (v1.go) and SNS's, told apart
	// by the service the signature is scoped to.
	query := s.queryAPI()
	mux.Handle("POST /{$}", query)
	mux.Handle("GET /{$}", query)
	if s.SNS != nil {
		mux.Handle("GET /sns/", s.SNS)
	}
	mux.Handle("/", s.wrap("UnknownOperation", MaxSmallBody, func(ctx context.Context, c *call) (any, error) {
		return nil, &Error{Code: "UnknownOperationException", Status: 404,
			Message: fmt.Sprintf("The operation %s %s is not supported by Petrel.", c.r.Method, c.r.URL.Path)}
	}))
	return mux
}

// Guard applies the HTTP edge's rules to every request on the listener,
// before next (the API and the health endpoints) sees it:
//   - a request with Transfer-Encoding is refused (400) and its connection
//     closed: net/http drops Content-Length when a request is chunked, so a
//     request carrying both (RFC 9112 §6.1: an error; the way to smuggle a
//     second request in its body) cannot be told from a chunked one, and the
//     AWS SDKs and CLI always send Content-Length;
//   - the body must arrive within BodyTimeout + Content-Length/MinBodyRate,
//     and the response be written within that plus a minute, so a slow
//     client cannot hold a connection (and its memory) for ever;
//   - the work must end replyAllowance before that write deadline: the
//     request's context ends then, so a call still running (a large
//     SendBulkEmail on a loaded node) is cancelled before it stores
//     anything and answers 503, rather than storing messages whose reply
//     could no longer be written — a client that saw no reply retries, and
//     would send them twice.
func (s *Server) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			reqID := newRequestID()
			w.Header().Set("x-amzn-RequestId", reqID)
			w.Header().Set("Connection", "close")
			const msg = "Transfer-Encoding is not accepted: send the body with a Content-Length (RFC 9112 §6.1)."
			if r.URL.Path == "/" && v1Request(r) {
				// The SES v1 API's clients read its XML errors.
				awsquery.WriteError(w, V1Namespace, reqID, &awsquery.Error{Type: awsquery.Sender, Code: "InvalidParameterValue", Status: 400, Message: msg})
				return
			}
			s.writeError(w, r, reqID, badRequest(msg))
			return
		}
		rc := http.NewResponseController(w)
		allow := s.bodyTime(r.ContentLength)
		if allow > 0 {
			if r.ContentLength > 0 {
				rc.SetReadDeadline(time.Now().Add(allow))
			}
			deadline := time.Now().Add(allow + s.workTime())
			rc.SetWriteDeadline(deadline)
			ctx, cancel := context.WithDeadline(r.Context(), deadline.Add(-min(replyAllowance, s.workTime()/6)))
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// writeAllowance is the time a response may take beyond the body's: the
// work (a SendEmail waits for its fsync) and writing a small JSON reply.
// Server.WorkTime replaces it when set.
const writeAllowance = time.Minute

// replyAllowance is the part of the write deadline kept for a reply once
// the work's time is up (at most a sixth of the work time): a commit
// already handed to the store finishes and its reply is written within it.
const replyAllowance = 10 * time.Second

// workTime is the time a response may take beyond the body's.
func (s *Server) workTime() time.Duration {
	if s.WorkTime > 0 {
		return s.WorkTime
	}
	return writeAllowance
}

// bodyTime is how long a body of n bytes may take to arrive (0: no limit).
func (s *Server) bodyTime(n int64) time.Duration {
	if s.BodyTimeout <= 0 {
		return 0
	}
	d := s.BodyTimeout
	if s.MinBodyRate > 0 && n > 0 {
		d += time.Duration(float64(n) / float64(s.MinBodyRate) * float64(time.Second))
	}
	return d
}

// wrap authenticates the request (SigV4), reads its body (at most limit
// bytes), runs h, and writes its result or the SES error response; the
// request is counted under the SES operation op, with its result, just
// before the response is written.
func (s *Server) wrap(op string, limit int64, h handler) http.Handler {
	m := s.Metrics.Operation(op)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := newRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		c, err := s.admit(w, r, limit)
		var out any
		if err == nil {
			out, err = h(r.Context(), c)
			c.body = nil
			s.Budget.ReleaseFor(c.account, c.held)
		}
		if err != nil {
			e := s.sesError(r, reqID, err)
			m.Done(start, e.Code)
			writeSESError(w, e)
			return
		}
		m.Done(start, "OK")
		if out == nil {
			out = struct{}{}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(out)
	})
}

// Refusals that happen before the body is read.
var (
	errTooManyBodies = &Error{Code: "ServiceUnavailable", Status: 503,
		Message: "Too many large requests are being received at once; retry the request."}
	errBodyRead = badRequest("Could not read the request body.")
)

// admit checks a request in the order that costs an unauthenticated client
// nothing: the signature's header part (and, when the client declared the
// payload hash, the whole signature) before any body byte is read, then
// the operation's body limit and the memory budget, then the body itself,
// read into one buffer of Content-Length bytes while it is hashed, and the
// signature over that hash. The body is charged to the budget on behalf of
// the access key's account (admission.Budget.TryAcquireFor), so one account
// sending large bodies slowly cannot hold more than its share of the budget
// and others' requests still fit. A request refused before its body was read gets
// "Connection: close": its unread body is not read.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, limit int64) (c *call, err error) {
	n := r.ContentLength
	read := false
	defer func() {
		if err != nil && n > 0 && !read {
			// Close without reading on: net/http would otherwise discard up
			// to 256 KB of the body at the client's pace before closing.
			w.Header().Set("Connection", "close")
			http.NewResponseController(w).SetReadDeadline(time.Now())
		}
	}()
	var acct string
	sg, err := sigv4.Check(r, "ses", s.Region, time.Now(), func(id string) (string, error) {
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
	if d := sg.DeclaredHash(); d != "" {
		if _, err := sg.Verify(d); err != nil {
			return nil, err
		}
	}
	if n > limit {
		return nil, &Error{Code: "MessageRejected", Status: 400, Message: fmt.Sprintf("Request body is larger than %d bytes.", limit)}
	}
	if !s.Budget.TryAcquireFor(acct, n) {
		s.refusals.Refused(s.Log, "API request refused", "body memory budget full", "account", acct, "content_length", n,
			"account_in_use", s.Budget.HeldBy(acct), "account_share", s.Budget.HolderMax(),
			"budget_in_use", s.Budget.InUse(), "budget", s.Budget.Max())
		return nil, errTooManyBodies
	}
	body, sum, err := readBody(r.Body, n)
	read = err == nil
	if err != nil {
		s.Budget.ReleaseFor(acct, n)
		s.refusals.Refused(s.Log, "API request refused", "request body not received", "content_length", n, "remote", r.RemoteAddr, "err", err)
		return nil, errBodyRead
	}
	// The body is in: no read deadline while the request is served (net/http
	// would take an expired one for a client gone and cancel the request).
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	res, err := sg.Verify(sum)
	if err != nil {
		s.Budget.ReleaseFor(acct, n)
		return nil, err
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	return &call{r: r, body: body, held: n, account: acct, keyID: res.AccessKeyID, sourceIP: ip}, nil
}

// readBody reads exactly n bytes into one buffer allocated once (growing a
// buffer as io.ReadAll does would cost twice the body), hashing them as
// they arrive; it returns the body and its lower-case hex SHA-256.
func readBody(body io.Reader, n int64) ([]byte, string, error) {
	h := sha256.New()
	buf := make([]byte, n)
	if _, err := io.ReadFull(io.TeeReader(body, h), buf); err != nil {
		return nil, "", err
	}
	return buf, hex.EncodeToString(h.Sum(nil)), nil
}

// writeError writes SES's error response for err (sesError).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	writeSESError(w, s.sesError(r, reqID, err))
}

// sesError maps err to SES's error. Errors that are not already SES errors
// are internal (Petrel's fault, not the request's): the client sees the
// AWS common error InternalFailure (HTTP 500, which the AWS SDKs retry)
// with a generic message and the request ID, the log gets the details at
// Error.
func (s *Server) sesError(r *http.Request, reqID string, err error) *Error {
	var e *Error
	var se *sigv4.Error
	var in *sending.InternalError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &se):
		e = &Error{Code: se.Code, Status: se.Status, Message: se.Message}
	case errors.Is(err, context.DeadlineExceeded) && errors.Is(r.Context().Err(), context.DeadlineExceeded):
		// Guard's work deadline: nothing was stored (the accept path stops
		// before handing a message to the store), and the reply can still
		// be written.
		s.Log.Warn("API request took too long: cancelled before anything was accepted", "request_id", reqID,
			"method", r.Method, "path", r.URL.Path)
		e = &Error{Code: "ServiceUnavailable", Status: 503,
			Message: "The request took too long to process; nothing was accepted. Retry the request (request ID " + reqID + ")."}
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client is gone (or the server closing): nobody reads this.
		s.Log.Debug("API request abandoned", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
		e = internalFailure(reqID)
	case errors.As(err, &in):
		s.Log.Error("API request failed: nothing was accepted", "request_id", reqID, "method", r.Method, "path", r.URL.Path,
			"op", in.Op, "identity", in.Identity, "err", in.Err)
		e = internalFailure(reqID)
	default:
		e = sendError(err)
		var st *sending.StorageError
		if errors.As(err, &st) {
			s.refusals.Refused(s.Log, "API request refused", "storage unavailable", "err", st.Err)
		}
		if e == nil {
			s.Log.Error("API request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
			e = internalFailure(reqID)
		}
	}
	return e
}

// writeSESError writes e: the x-amzn-ErrorType header and {"message"}.
func writeSESError(w http.ResponseWriter, e *Error) {
	if e.Status >= 500 {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("x-amzn-ErrorType", e.Code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(errorBody{Message: e.Message})
}

// internalFailure is the AWS common error for a failure of the service
// itself (HTTP 500; ../shared/spec/ses.md §1.2, CommonErrors).
func internalFailure(reqID string) *Error {
	return &Error{Code: "InternalFailure", Status: 500,
		Message: "The request processing has failed because of an internal error; nothing was accepted. Retry the request (request ID " + reqID + ")."}
}

// sendError maps the accept path's errors to SES's.
func sendError(err error) *Error {
	var unv *sending.UnverifiedError
	var rej *sending.RejectedError
	var many *sending.TooManyRecipientsError
	var large *sending.TooLargeError
	var st *sending.StorageError
	var noSet *sending.ConfigSetNotFoundError
	var pausedSet *sending.ConfigSetPausedError
	var enforced *sending.EnforcementPausedError
	var throttled *sending.ThrottledError
	var denied *sending.NotAuthorizedError
	var badARN *sending.InvalidARNError
	var mailFrom *sending.MailFromNotVerifiedError
	var noList *sending.ListNotFoundError
	var content *sending.ContentError
	var noTemplate *sending.TemplateNotFoundError
	switch {
	case errors.As(err, &noList):
		return notFound("%s", noList.Error())
	case errors.As(err, &content):
		return badRequest("%s", content.Msg)
	case errors.As(err, &noTemplate):
		return notFound("%s", noTemplate.Error())
	case errors.As(err, &denied):
		// SES answers a delegated send its policies do not allow with the
		// AWS common error AccessDeniedException, HTTP 403, and this text.
		return &Error{Code: "AccessDeniedException", Status: 403, Message: denied.Error()}
	case errors.As(err, &badARN):
		return badRequest("%s", badARN.Error())
	case errors.As(err, &mailFrom):
		return &Error{Code: "MailFromDomainNotVerifiedException", Status: 400, Message: mailFrom.Error()}
	case errors.As(err, &throttled):
		// ../shared/spec/ses.md §1.14; SES's v2 code for the daily quota is
		// not documented: both are throttling (docs/quotas.md).
		return &Error{Code: "TooManyRequestsException", Status: 429, Message: throttled.Error()}
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
	case errors.As(err, &noSet):
		return notFound("%s", noSet.Error())
	case errors.As(err, &pausedSet):
		return &Error{Code: "SendingPausedException", Status: 400, Message: pausedSet.Error()}
	case errors.As(err, &enforced) && enforced.ConfigurationSet != "":
		return &Error{Code: "SendingPausedException", Status: 400, Message: "Sending paused for configuration set " + enforced.ConfigurationSet +
			". For more information, please check the inbox of the email address associated with your AWS account."}
	case errors.As(err, &enforced):
		// SES's words for an account its enforcement paused (../shared/spec/ses.md §2.1, §8.3).
		return &Error{Code: "SendingPausedException", Status: 400, Message: "Sending paused for this account. For more information, please check the inbox of the email address associated with your AWS account."}
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
	if len(bytes.TrimSpace(c.body)) == 0 {
		return badRequest("The request body is empty.")
	}
	return decodeJSON(c.body, v)
}

// decodeOptional unmarshals a JSON body into v when there is one, as
// decode does, for operations whose members are all optional: an empty
// body has none and leaves v as it is.
func decodeOptional(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

// decodeJSON unmarshals body into v: a member of the wrong type is
// BadRequestException naming it, JSON that does not parse (RFC 8259) is
// SerializationException.
// jsonKind names the JSON kind a Go type decodes from, as SES's messages
// do ("a string", "an object"...).
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value"
}

// jsonKindName words json.UnmarshalTypeError.Value ("string", "number",
// "number 1.5", "array", "object", "bool").
func jsonKindName(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "another kind of value"
}

func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Name the field and the JSON kind wanted, never Go's types.
			if te.Field == "" {
				return badRequest("The request body must be a JSON object, not %s.", jsonKindName(te.Value))
			}
			return badRequest("Invalid type for field %s: expected %s, got %s.", te.Field, jsonKind(te.Type), jsonKindName(te.Value))
		}
		return &Error{Code: "SerializationException", Status: 400, Message: "Malformed JSON request body: " + err.Error()}
	}
	return nil
}
