package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/suppression"
)

// The account-level suppression list (../shared/spec/ses.md §1.9, §6;
// docs/suppression.md): PutSuppressedDestination,
// GetSuppressedDestination, DeleteSuppressedDestination,
// ListSuppressedDestinations and PutAccountSuppressionAttributes, each on
// the calling account's list only. Addresses are compared as
// suppression.List compares them (ASCII case folded in the local part, the
// domain as an A-label) and shown as last written.

// suppressedDestination is SuppressedDestination, with Petrel's two
// extension members: Cause (why the entry was made, in words) and
// ExpiresAt (epoch seconds, only for an entry that lifts by itself).
// Clients generated from SES's model ignore members they do not know.
type suppressedDestination struct {
	Attributes     *suppressedDestinationAttributes `json:"Attributes,omitempty"`
	Cause          string                           `json:"Cause,omitempty"`
	EmailAddress   string                           `json:"EmailAddress"`
	ExpiresAt      float64                          `json:"ExpiresAt,omitempty"`
	LastUpdateTime float64                          `json:"LastUpdateTime"`
	Reason         string                           `json:"Reason"` // BOUNCE or COMPLAINT
}

// suppressedDestinationAttributes is SuppressedDestinationAttributes: the
// message whose outcome added the address and the outcome's feedbackId;
// absent for entries put by hand or imported.
type suppressedDestinationAttributes struct {
	FeedbackId string `json:"FeedbackId,omitempty"`
	MessageId  string `json:"MessageId,omitempty"`
}

// getSuppressedDestinationOutput is GetSuppressedDestinationResponse.
type getSuppressedDestinationOutput struct {
	SuppressedDestination suppressedDestination `json:"SuppressedDestination"`
}

// suppressedDestinationSummary is SuppressedDestinationSummary.
type suppressedDestinationSummary struct {
	EmailAddress   string  `json:"EmailAddress"`
	LastUpdateTime float64 `json:"LastUpdateTime"`
	Reason         string  `json:"Reason"`
}

// listSuppressedDestinationsOutput is ListSuppressedDestinationsResponse.
type listSuppressedDestinationsOutput struct {
	NextToken                      string                         `json:"NextToken,omitempty"`
	SuppressedDestinationSummaries []suppressedDestinationSummary `json:"SuppressedDestinationSummaries"`
}

// epochSeconds is t as a JSON timestamp: epoch seconds, with the
// milliseconds the list keeps as a fraction (a whole number when there
// are none).
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// noTenants refuses TenantName: Petrel has no SES tenants, and applying a
// tenant's request to the account's list would be a silent surprise.
func noTenants(c *call) error {
	if c.r.URL.Query().Has("TenantName") {
		return badRequest("TenantName is not supported: Petrel has one suppression list per account.")
	}
	return nil
}

// suppressedAddress parses an EmailAddress member or path label: an RFC
// 5321 mailbox (no display name), UTF-8 local parts and U-label domains
// allowed. A bad one is BadRequestException naming it.
func suppressedAddress(s string) (address.Address, error) {
	a, err := address.ParseMailbox(s)
	if err != nil {
		return address.Address{}, badRequest("Email address %s is not valid.", s)
	}
	return a, nil
}

// pathSuppressed is the {EmailAddress} label of a
// /v2/email/suppression/addresses/{EmailAddress} path (URL-decoded) and
// the address it names, after noTenants; either's error is theirs.
func pathSuppressed(c *call) (string, address.Address, error) {
	if err := noTenants(c); err != nil {
		return "", address.Address{}, err
	}
	email := c.r.PathValue("EmailAddress")
	a, err := suppressedAddress(email)
	return email, a, err
}

// reasonError is the BadRequestException for a reason not in
// SuppressionListReason.
func reasonError(r string) error {
	return badRequest("Reason %q is not valid: use BOUNCE or COMPLAINT.", r)
}

func notSuppressed(email string) error {
	return notFound("Email address %s does not exist on your suppression list.", email)
}

// putSuppressedDestination is PutSuppressedDestination: PUT
// /v2/email/suppression/addresses {EmailAddress, Reason}. It adds the
// address, or overwrites its entry (reason, time, spelling; the
// Attributes of an earlier outcome go), with Cause
// "PutSuppressedDestination".
func (s *Server) putSuppressedDestination(ctx context.Context, c *call) (any, error) {
	var in struct {
		EmailAddress *string
		Reason       *string
		TenantName   *string
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.TenantName != nil {
		return nil, badRequest("TenantName is not supported: Petrel has one suppression list per account.")
	}
	if in.EmailAddress == nil || *in.EmailAddress == "" {
		return nil, badRequest("EmailAddress is required.")
	}
	if in.Reason == nil || *in.Reason == "" {
		return nil, badRequest("Reason is required: use BOUNCE or COMPLAINT.")
	}
	a, err := suppressedAddress(*in.EmailAddress)
	if err != nil {
		return nil, err
	}
	r, err := suppression.ParseReason(*in.Reason)
	if err != nil {
		return nil, reasonError(*in.Reason)
	}
	err = s.Suppression.Put(ctx, c.account, suppression.Entry{Address: a, Reason: r, LastUpdate: s.Suppression.Now(),
		Cause: "PutSuppressedDestination"})
	return struct{}{}, err
}

// getSuppressedDestination is GetSuppressedDestination: GET
// /v2/email/suppression/addresses/{EmailAddress} (the label
// URL-decoded), or NotFoundException.
func (s *Server) getSuppressedDestination(ctx context.Context, c *call) (any, error) {
	email, a, err := pathSuppressed(c)
	if err != nil {
		return nil, err
	}
	e, err := s.Suppression.Get(ctx, c.account, a)
	if errors.Is(err, suppression.ErrNotFound) {
		return nil, notSuppressed(email)
	}
	if err != nil {
		return nil, err
	}
	out := suppressedDestination{EmailAddress: e.Address.Email(), Reason: string(e.Reason),
		LastUpdateTime: epochSeconds(e.LastUpdate), Cause: e.Cause}
	if e.MessageID != "" || e.FeedbackID != "" {
		out.Attributes = &suppressedDestinationAttributes{MessageId: e.MessageID, FeedbackId: e.FeedbackID}
	}
	if !e.Expires.IsZero() {
		out.ExpiresAt = epochSeconds(e.Expires)
	}
	return getSuppressedDestinationOutput{SuppressedDestination: out}, nil
}

// deleteSuppressedDestination is DeleteSuppressedDestination: DELETE
// /v2/email/suppression/addresses/{EmailAddress}, or NotFoundException.
func (s *Server) deleteSuppressedDestination(ctx context.Context, c *call) (any, error) {
	email, a, err := pathSuppressed(c)
	if err != nil {
		return nil, err
	}
	err = s.Suppression.Delete(ctx, c.account, a)
	if errors.Is(err, suppression.ErrNotFound) {
		return nil, notSuppressed(email)
	}
	return struct{}{}, err
}

var errSuppressionPageSize = badRequest("PageSize must be an integer between 1 and 1000.")

// parseListDate parses StartDate or EndDate. aws-sdk-go-v2 (service/sesv2
// v1.79.7, smithy-go's httpQuery default) and the AWS CLI send ISO 8601
// (RFC 3339, "2026-01-02T03:04:05Z", with or without fractional seconds);
// epoch seconds, fractional or not, are accepted too (the documentation
// asks for "Unix time format"), and so is a bare date (midnight UTC).
func parseListDate(name, v string) (time.Time, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e11 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).Round(time.Millisecond), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("%s %q is not a timestamp: give ISO 8601 (2026-01-02T15:04:05Z) or epoch seconds.", name, v)
}

// listSuppressedDestinations is ListSuppressedDestinations: GET
// /v2/email/suppression/addresses with, in the query string, Reason
// (repeatable: entries of any reason given), StartDate and EndDate
// (LastUpdateTime within them, both inclusive; a StartDate after the
// EndDate lists nothing), PageSize (1-1000, default 1000) and NextToken (a
// bad one is InvalidNextTokenException). Entries come in address order.
func (s *Server) listSuppressedDestinations(ctx context.Context, c *call) (any, error) {
	if err := noTenants(c); err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	f := suppression.Filter{PageSize: suppression.MaxPageSize, NextToken: q.Get("NextToken")}
	for _, v := range q["Reason"] {
		r, err := suppression.ParseReason(v)
		if err != nil {
			return nil, reasonError(v)
		}
		f.Reasons = append(f.Reasons, r)
	}
	var err error
	if v := q.Get("StartDate"); v != "" {
		if f.Start, err = parseListDate("StartDate", v); err != nil {
			return nil, err
		}
	}
	if v := q.Get("EndDate"); v != "" {
		if f.End, err = parseListDate("EndDate", v); err != nil {
			return nil, err
		}
	}
	if v, ok := q["PageSize"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > suppression.MaxPageSize {
			return nil, errSuppressionPageSize
		}
		f.PageSize = n
	}
	page, next, err := s.Suppression.ListPage(ctx, c.account, f)
	if errors.Is(err, suppression.ErrInvalidToken) {
		return nil, &Error{Code: "InvalidNextTokenException", Status: 400, Message: "The NextToken is not valid."}
	}
	if err != nil {
		return nil, err
	}
	out := listSuppressedDestinationsOutput{NextToken: next, SuppressedDestinationSummaries: make([]suppressedDestinationSummary, len(page))}
	for i, e := range page {
		out.SuppressedDestinationSummaries[i] = suppressedDestinationSummary{EmailAddress: e.Address.Email(),
			LastUpdateTime: epochSeconds(e.LastUpdate), Reason: string(e.Reason)}
	}
	return out, nil
}

// putAccountSuppressionAttributes is PutAccountSuppressionAttributes: PUT
// /v2/email/account/suppression {SuppressedReasons, ValidationAttributes}
// plus Petrel's member SoftBouncePolicy (suppression.SoftBounceJSON).
// SuppressedReasons replaces the account's reasons; absent, it is the
// empty list (the model does not require it, and SES takes the request
// for the whole setting): nothing is then added automatically.
// SoftBouncePolicy absent keeps the account's policy (so a client that
// knows only SES's members does not turn it off), null turns it off, an
// object sets it and needs SuppressedReasons with BOUNCE in the same
// request (else BadRequestException: the request would turn the account
// list off, and the policy with it); its Reasons must be bounce-rule
// reasons about the recipient (suppression.SoftBounce.Validate). ValidationAttributes (SES's Auto Validation) is
// accepted and not used.
func (s *Server) putAccountSuppressionAttributes(ctx context.Context, c *call) (any, error) {
	var in struct {
		SuppressedReasons []string
		SoftBouncePolicy  json.RawMessage
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	p, err := s.Suppression.Attributes(ctx, c.account)
	if err != nil {
		return nil, err
	}
	p.Reasons = []suppression.Reason{}
	for _, v := range in.SuppressedReasons {
		r, err := suppression.ParseReason(v)
		if err != nil {
			return nil, reasonError(v)
		}
		if !p.Has(r) {
			p.Reasons = append(p.Reasons, r)
		}
	}
	switch raw := bytes.TrimSpace(in.SoftBouncePolicy); {
	case len(raw) == 0:
	case string(raw) == "null":
		p.SoftBounce = nil
	default:
		var j suppression.SoftBounceJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, badRequest("SoftBouncePolicy is not valid: give {\"BounceCount\": n, \"WindowSeconds\": n, \"SuppressSeconds\": n, \"Reasons\": [...]} (%v).", err)
		}
		sb, err := j.Policy()
		if err != nil {
			return nil, badRequest("SoftBouncePolicy: %v.", err)
		}
		if !p.Has(suppression.Bounce) {
			return nil, badRequest("SoftBouncePolicy needs SuppressedReasons with BOUNCE in the same request: the policy lists addresses with reason BOUNCE, and without BOUNCE it would never act (absent, SuppressedReasons is the empty list, which turns the account list off). Send both, e.g. {\"SuppressedReasons\": [\"BOUNCE\", \"COMPLAINT\"], \"SoftBouncePolicy\": {...}}.")
		}
		p.SoftBounce = &sb
	}
	return struct{}{}, s.Suppression.SetAttributes(ctx, c.account, p)
}

// accountSuppressionAttributes is GetAccount's SuppressionAttributes: the
// account's SuppressedReasons (SES's default, BOUNCE and COMPLAINT, until
// it sets them), and its soft-bounce policy when it has one.
func (s *Server) accountSuppressionAttributes(ctx context.Context, account string) (suppressionAttributes, error) {
	p, err := s.Suppression.Attributes(ctx, account)
	if err != nil {
		return suppressionAttributes{}, err
	}
	out := suppressionAttributes{SuppressedReasons: make([]string, len(p.Reasons))}
	for i, r := range p.Reasons {
		out.SuppressedReasons[i] = string(r)
	}
	if p.SoftBounce != nil {
		j := p.SoftBounce.JSON()
		out.SoftBouncePolicy = &j
	}
	return out, nil
}
