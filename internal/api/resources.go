package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/spool"
)

// selectorRE is a DKIM selector as a DNS label (RFC 6376 §3.1, SES's
// DomainSigningSelector, 1-63 characters).
var selectorRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// GetAccount (§1.10): the account's quota (sendQuotaOf); production
// access and the details of its last request; SendingEnabled, the
// tenant's own switch.
func (s *Server) getAccount(ctx context.Context, c *call) (any, error) {
	acct, err := s.Accounts.Get(ctx, c.account)
	if err != nil {
		return nil, err
	}
	supp, err := s.accountSuppressionAttributes(ctx, c.account)
	if err != nil {
		return nil, err
	}
	quota, err := s.sendQuotaOf(ctx, acct)
	if err != nil {
		return nil, err
	}
	enforcement := "HEALTHY"
	if s.Reputation != nil {
		if enforcement, err = s.Reputation.EnforcementStatus(ctx, c.account); err != nil {
			return nil, err
		}
	}
	return getAccountOutput{
		EnforcementStatus:       enforcement,
		ProductionAccessEnabled: acct.ProductionAccessEnabled,
		SendingEnabled:          acct.SendingEnabled,
		SendQuota:               quota,
		Details:                 detailsOutput(acct.Details),
		SuppressionAttributes:   supp,
		VdmAttributes:           vdmAttributes{VdmEnabled: "DISABLED"},
	}, nil
}

// verification is the VerificationStatus and VerificationInfo of id
// (identity.Verifications; VerificationInfo for a domain whose records
// were checked, else nil).
func (s *Server) verification(ctx context.Context, account string, id identity.Identity) (string, *verificationInfo, error) {
	vs, err := s.Identities.Verifications(ctx, account, []identity.Identity{id})
	if err != nil {
		return "", nil, err
	}
	v := vs[id.Name]
	if id.Kind != identity.Domain || v.LastChecked.IsZero() {
		return v.Status, nil, nil // nothing checked yet
	}
	info := &verificationInfo{ErrorType: v.ErrorType}
	if !v.LastChecked.IsZero() {
		info.LastCheckedTimestamp = float64(v.LastChecked.UnixMilli()) / 1000
	}
	if !v.LastSuccess.IsZero() {
		info.LastSuccessTimestamp = float64(v.LastSuccess.UnixMilli()) / 1000
	}
	if v.SOA != nil {
		info.SOARecord = &soaRecord{AdminEmail: v.SOA.AdminEmail, PrimaryNameServer: v.SOA.PrimaryNameServer, SerialNumber: v.SOA.SerialNumber}
	}
	return v.Status, info, nil
}

// dkimAttributes is SES's DkimAttributes for an identity (§1.5): Status is
// the state of the key's DNS record (identity.Checker), which the operator
// publishes as petrel identity dkim NAME prints it.
func (s *Server) dkimAttributes(ctx context.Context, account string, id identity.Identity) (dkimAttributes, error) {
	d, ok, err := s.Identities.GetDKIM(ctx, account, id.Name)
	if err != nil {
		return dkimAttributes{}, err
	}
	if !ok && id.Kind == identity.EmailAddress {
		// An address inherits its domain's DKIM (SES).
		if i := strings.LastIndexByte(id.Name, '@'); i >= 0 {
			if d, ok, err = s.Identities.GetDKIM(ctx, account, id.Name[i+1:]); err != nil {
				return dkimAttributes{}, err
			}
		}
	}
	if !ok {
		return dkimAttributes{Status: "NOT_STARTED", SigningAttributesOrigin: identity.OriginEasy}, nil
	}
	domain := id.Name
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	status, err := s.Identities.DKIMStatus(ctx, account, domain, d.Selector)
	if err != nil {
		return dkimAttributes{}, err
	}
	out := dkimAttributes{
		SigningEnabled: d.SigningEnabled, Status: status,
		SigningHostedZone: s.Identities.SigningHostedZone(d.Origin),
	}
	// Key lengths, origin, generation time and tokens over all the keys
	// (rotation): the origin and NextSigningKeyLength of the key that will
	// sign next (NEXT, else ACTIVE), CurrentSigningKeyLength of the one that
	// signs, the latest key's creation, and every selector whose record
	// must be published (a retired key's leaves once its overlap ends).
	keys, err := s.Identities.DKIMKeys(ctx, account, domain)
	if err != nil {
		return dkimAttributes{}, err
	}
	upcoming := d
	for _, k := range keys {
		out.Tokens = append(out.Tokens, k.Selector)
		if k.State == identity.StateNext {
			upcoming = k
		}
		out.LastKeyGenerationTimestamp = max(out.LastKeyGenerationTimestamp, float64(k.Created.Unix()))
	}
	out.SigningAttributesOrigin = upcoming.Origin
	if d.Algorithm != dkim.Ed25519 {
		out.CurrentSigningKeyLength = string(d.Algorithm)
	}
	if upcoming.Algorithm != dkim.Ed25519 {
		out.NextSigningKeyLength = string(upcoming.Algorithm)
	}
	return out, nil
}

func (s *Server) createIdentity(ctx context.Context, c *call) (any, error) {
	var in struct {
		EmailIdentity         *string
		ConfigurationSetName  *string // the identity's default set (§1.5)
		Tags                  []tag
		DkimSigningAttributes *struct {
			DomainSigningSelector   *string
			DomainSigningPrivateKey *string
			NextSigningKeyLength    *string
		}
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.EmailIdentity == nil || *in.EmailIdentity == "" {
		return nil, badRequest("EmailIdentity is required.")
	}
	alg := dkim.RSA2048 // SES Easy DKIM default
	var byoSelector, byoKey string
	if a := in.DkimSigningAttributes; a != nil {
		if l, err := nextSigningKeyLength("DkimSigningAttributes.NextSigningKeyLength", deref(a.NextSigningKeyLength)); err != nil {
			return nil, err
		} else if l != "" {
			alg = l
		}
		if (a.DomainSigningSelector == nil) != (a.DomainSigningPrivateKey == nil) {
			return nil, badRequest("DomainSigningSelector and DomainSigningPrivateKey must be given together.")
		}
		if a.DomainSigningSelector != nil {
			byoSelector, byoKey = *a.DomainSigningSelector, *a.DomainSigningPrivateKey
			if !selectorRE.MatchString(byoSelector) {
				return nil, badRequest("DkimSigningAttributes: DomainSigningSelector %q: use 1-63 letters, digits and inner hyphens.", byoSelector)
			}
		}
	}
	tags, err := identityTags(in.Tags)
	if err != nil {
		return nil, err
	}
	defaultSet := ""
	if in.ConfigurationSetName != nil {
		defaultSet = *in.ConfigurationSetName
		if err := s.checkIdentityConfigSet(ctx, c.account, defaultSet); err != nil {
			return nil, err
		}
	}
	if _, kind, err := identity.Normalize(*in.EmailIdentity); err == nil && kind == identity.EmailAddress {
		if err := s.allowVerificationEmail(c.account); err != nil {
			return nil, err
		}
	}
	id, err := s.Identities.Create(ctx, c.account, *in.EmailIdentity, false)
	switch {
	case errors.Is(err, identity.ErrExists):
		return nil, &Error{Code: "AlreadyExistsException", Status: 400, Message: "Email identity " + *in.EmailIdentity + " already exists."}
	case errors.Is(err, address.ErrInvalid):
		return nil, badRequest("EmailIdentity %q is not a valid email address or domain: %v.", *in.EmailIdentity, err)
	case err != nil:
		return nil, err
	}
	// Every step that can fail runs before the verification email is
	// queued, the email last; a failure deletes the identity again (with
	// whatever the earlier steps stored), so that the call fails whole and
	// a retry does not meet AlreadyExistsException. The deletion runs even
	// when the caller has gone (its context cancelled); if it fails, it is
	// logged: the identity is then left, unverified, for the operator.
	undo := func(cause error) {
		if err := s.Identities.Delete(context.WithoutCancel(ctx), c.account, id.Name); err != nil {
			s.Log.Error("CreateEmailIdentity failed and its identity could not be deleted again", "account", c.account, "identity", id.Name,
				"cause", cause, "err", err)
		}
	}
	if id.Kind == identity.Domain {
		// SES: a domain gets Easy DKIM unless the caller brings a key.
		if byoKey != "" {
			_, err = s.Identities.PutDKIMKey(ctx, c.account, id.Name, byoSelector, []byte(byoKey))
		} else {
			_, err = s.Identities.GenerateDKIM(ctx, c.account, id.Name, alg)
		}
		if err != nil {
			undo(err)
			if errors.Is(err, dkim.ErrBadKey) {
				return nil, badRequest("DkimSigningAttributes: %v", err)
			}
			return nil, err // Petrel's failure (storing the key): InternalFailure
		}
	}
	if defaultSet != "" {
		if err := s.Identities.SetConfigurationSet(ctx, c.account, id.Name, defaultSet); err != nil {
			undo(err)
			return nil, err
		}
	}
	if len(tags) > 0 {
		if err := s.Identities.Tag(ctx, c.account, id.Name, tags); err != nil {
			undo(err)
			return nil, err
		}
	}
	// Its records start PENDING; the checker looks them up from now on.
	if err := s.Identities.StartVerification(ctx, c.account, id.Name); err != nil {
		undo(err)
		return nil, err
	}
	attrs, err := s.dkimAttributes(ctx, c.account, id)
	if err != nil {
		undo(err)
		return nil, err
	}
	if id.Kind == identity.EmailAddress {
		// SES: creating an address identity sends it a verification email.
		if err := s.sendAddressVerification(ctx, c.account, id.Name); err != nil {
			undo(err)
			return nil, err
		}
	}
	return createEmailIdentityOutput{IdentityType: string(id.Kind), VerifiedForSendingStatus: id.Verified, DkimAttributes: attrs}, nil
}

// resendAddressVerification sends account's existing address identity
// name its verification email again (SES v1: VerifyEmailIdentity of an
// address it has), under CreateEmailIdentity's limit on verification
// emails; a verified address gets none. Errors: NotFoundException,
// TooManyRequestsException.
func (s *Server) resendAddressVerification(ctx context.Context, account, name string) error {
	id, err := s.Identities.Get(ctx, account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return notFound("Email identity %s does not exist.", name)
	}
	if err != nil || id.Verified {
		return err
	}
	if err := s.allowVerificationEmail(account); err != nil {
		return err
	}
	err = s.sendAddressVerification(ctx, account, id.Name)
	switch {
	case errors.Is(err, identity.ErrAlreadyVerified): // verified meanwhile
		return nil
	case errors.Is(err, identity.ErrNotFound):
		return notFound("Email identity %s does not exist.", name)
	}
	return err
}

// putDkimAttributes is PutEmailIdentityDkimAttributes: signing on or off.
func (s *Server) putDkimAttributes(ctx context.Context, c *call) (any, error) {
	var in struct{ SigningEnabled *bool }
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	name := c.r.PathValue("EmailIdentity")
	err := s.Identities.SetDKIMSigning(ctx, c.account, name, in.SigningEnabled != nil && *in.SigningEnabled)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist or has no DKIM key.", name)
	}
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) getIdentity(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("EmailIdentity")
	id, err := s.Identities.Get(ctx, c.account, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist.", name)
	}
	if err != nil {
		return nil, err
	}
	attrs, err := s.dkimAttributes(ctx, c.account, id)
	if err != nil {
		return nil, err
	}
	notif, set, err := s.Identities.Settings(ctx, c.account, id.Name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist.", name)
	}
	if err != nil {
		return nil, err
	}
	mailFrom, err := s.mailFromAttributesOf(ctx, c.account, id.Name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist.", name)
	}
	if err != nil {
		return nil, err
	}
	status, info, err := s.verification(ctx, c.account, id)
	if err != nil {
		return nil, err
	}
	policies, err := s.Identities.Policies(ctx, c.account, id.Name)
	if err != nil {
		return nil, policyError(name, "", err)
	}
	tags, err := s.Identities.Tags(ctx, c.account, id.Name)
	if err != nil {
		return nil, policyError(name, "", err)
	}
	return getEmailIdentityOutput{
		ConfigurationSetName:     set,
		IdentityType:             string(id.Kind),
		FeedbackForwardingStatus: notif.ForwardingEnabled,
		VerifiedForSendingStatus: id.Verified,
		VerificationStatus:       status,
		VerificationInfo:         info,
		DkimAttributes:           attrs,
		MailFromAttributes:       mailFrom,
		Policies:                 policies,
		Tags:                     identityTagsOut(tags),
	}, nil
}

// listIdentitiesQuery is ListEmailIdentities as boto3, the AWS CLI and
// the SDKs generated before the filter send it: GET /v2/email/identities
// with NextToken and PageSize in the query string (botocore's model).
func (s *Server) listIdentitiesQuery(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	var in listEmailIdentitiesInput
	var err error
	if in.NextToken, in.PageSize, err = pageQuery(q); err != nil {
		return nil, err
	}
	return s.listIdentities(ctx, c.account, in)
}

// listIdentitiesBody is ListEmailIdentities as the SDKs generated from the
// model with the filter send it (aws-sdk-go-v2 service/sesv2 v1.79.7 does):
// POST /v2/email/list-identities with the members in a JSON body, which
// may be empty.
func (s *Server) listIdentitiesBody(ctx context.Context, c *call) (any, error) {
	in, err := decodeListInput(c.body)
	if err != nil {
		return nil, err
	}
	return s.listIdentities(ctx, c.account, in)
}

// listEmailIdentitiesInput is ListEmailIdentitiesRequest.
type listEmailIdentitiesInput struct {
	Filter    map[string]string // IdentityFilter: IdentityFilterKey → value
	NextToken *string
	PageSize  *int // 0-1000; 0 or absent: 100
}

var errPageSize = badRequest("PageSize must be an integer between 0 and 1000.")

// pageQuery reads NextToken and PageSize from the query string of a List
// operation as boto3, the AWS CLI and older SDKs send it (GET): nil when
// absent or empty. A PageSize that is not an integer is errPageSize
// (BadRequestException); its range is pageSize's to check.
func pageQuery(q url.Values) (nextToken *string, size *int, err error) {
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, nil, errPageSize
		}
		size = &n
	}
	if v := q.Get("NextToken"); v != "" {
		nextToken = &v
	}
	return nextToken, size, nil
}

// pageSize is a List operation's PageSize, checked: 0-1000, where nil or 0
// means the default of 100; outside that it is errPageSize
// (BadRequestException).
func pageSize(p *int) (int, error) {
	if p == nil || *p == 0 {
		return 100, nil
	}
	if *p < 0 || *p > 1000 {
		return 0, errPageSize
	}
	return *p, nil
}

// decodeListInput reads the JSON body of POST /v2/email/list-identities;
// an empty body has no members.
func decodeListInput(body []byte) (listEmailIdentitiesInput, error) {
	var in listEmailIdentitiesInput
	err := decodeOptional(body, &in)
	return in, err
}

// identityFilter is the IdentityFilter of ListEmailIdentities: an identity
// is listed when it matches every key given.
type identityFilter struct {
	nameContains string        // IDENTITY_NAME_CONTAINS, trimmed and lower-case: a substring of the name, in any case
	kind         identity.Kind // IDENTITY_TYPE: EMAIL_ADDRESS, DOMAIN or MANAGED_DOMAIN
	status       string        // VERIFICATION_STATUS: a VerificationStatus
}

// parseIdentityFilter checks the keys and values of an IdentityFilter
// against the model's enums (IdentityFilterKey, IdentityType,
// VerificationStatus; values are case-sensitive, as enum values are);
// anything else is BadRequestException, naming the first bad key in name
// order.
func parseIdentityFilter(m map[string]string) (identityFilter, error) {
	var f identityFilter
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch k {
		case "IDENTITY_NAME_CONTAINS":
			f.nameContains = strings.ToLower(strings.TrimSpace(v))
		case "IDENTITY_TYPE":
			switch v {
			case "EMAIL_ADDRESS", "DOMAIN", "MANAGED_DOMAIN":
				f.kind = identity.Kind(v)
			default:
				return f, badRequest("Filter IDENTITY_TYPE %q is not valid: use EMAIL_ADDRESS, DOMAIN or MANAGED_DOMAIN.", v)
			}
		case "VERIFICATION_STATUS":
			switch v {
			case "PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED":
				f.status = v
			default:
				return f, badRequest("Filter VERIFICATION_STATUS %q is not valid: use PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE or NOT_STARTED.", v)
			}
		default:
			return f, badRequest("Filter key %q is not supported: use IDENTITY_NAME_CONTAINS, IDENTITY_TYPE or VERIFICATION_STATUS.", k)
		}
	}
	return f, nil
}

func (f identityFilter) empty() bool { return f == identityFilter{} }

// match reports whether id, whose VerificationStatus is status, passes f.
func (f identityFilter) match(id identity.Identity, status string) bool {
	return (f.kind == "" || id.Kind == f.kind) &&
		(f.status == "" || status == f.status) &&
		strings.Contains(strings.ToLower(id.Name), f.nameContains)
}

// listRequest is a ListEmailIdentitiesRequest, checked.
type listRequest struct {
	size   int    // identities per page, 1-1000
	after  string // the name the page starts after ("": from the first)
	filter identityFilter
}

// check checks PageSize, then Filter, then NextToken; a bad one is
// BadRequestException. NextToken is opaque to the caller: the name of the
// last identity of the page before, base64url (RFC 4648 §5, unpadded).
func (in listEmailIdentitiesInput) check() (listRequest, error) {
	var r listRequest
	var err error
	if r.size, err = pageSize(in.PageSize); err != nil {
		return r, err
	}
	if r.filter, err = parseIdentityFilter(in.Filter); err != nil {
		return r, err
	}
	if in.NextToken != nil && *in.NextToken != "" {
		// A token Petrel gave holds an identity's name: printable UTF-8.
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(b) == 0 || !utf8.Valid(b) || strings.ContainsFunc(string(b), unicode.IsControl) {
			return r, badRequest("NextToken is not valid.")
		}
		r.after = string(b)
	}
	return r, nil
}

// listIdentities is ListEmailIdentities (§1.5): the account's identities
// in name order, verified or not, PageSize (default 100) at a time, those
// matching Filter only. NextToken is given only when another identity
// matches; a token works with any filter.
func (s *Server) listIdentities(ctx context.Context, account string, in listEmailIdentitiesInput) (any, error) {
	r, err := in.check()
	if err != nil {
		return nil, err
	}
	// Read size+1 identities at a time (the one past the page tells that
	// there is a next page), more when a filter may pass over many.
	batch := r.size + 1
	if !r.filter.empty() {
		batch = max(batch, 500)
	}
	out := listEmailIdentitiesOutput{EmailIdentities: []identityInfo{}}
	for after := r.after; ; {
		ids, err := s.Identities.List(ctx, account, after, batch)
		if err != nil {
			return nil, err
		}
		vs, err := s.Identities.Verifications(ctx, account, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			status := vs[id.Name].Status
			if !r.filter.match(id, status) {
				continue
			}
			if len(out.EmailIdentities) == r.size {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(out.EmailIdentities[r.size-1].IdentityName))
				return out, nil
			}
			out.EmailIdentities = append(out.EmailIdentities, identityInfo{IdentityType: string(id.Kind), IdentityName: id.Name,
				SendingEnabled: id.Verified, VerificationStatus: status})
		}
		if len(ids) < batch {
			return out, nil
		}
		after = ids[len(ids)-1].Name
	}
}

func (s *Server) deleteIdentity(ctx context.Context, c *call) (any, error) {
	name := c.r.PathValue("EmailIdentity")
	if err := s.Identities.Delete(ctx, c.account, name); errors.Is(err, identity.ErrNotFound) {
		return nil, notFound("Email identity %s does not exist.", name)
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// GetMessageInsights: the events of one message, per recipient, in the
// insights vocabulary (SEND, DELIVERY, BOUNCE, …).
// Retention: events older than retention-events drop out; after retention-messages (and its last event) it is NotFoundException (defaults 30d).
func (s *Server) getMessageInsights(ctx context.Context, c *call) (any, error) {
	id := c.r.PathValue("MessageId")
	acct, mailJSON, err := s.Spool.Mail(ctx, id)
	if errors.Is(err, spool.ErrNotFound) || err == nil && acct != c.account {
		return nil, notFound("Message %s does not exist.", id)
	}
	if err != nil {
		return nil, err
	}
	var mail event.Mail
	if err := json.Unmarshal(mailJSON, &mail); err != nil {
		return nil, err
	}
	events, err := s.Events.List(ctx, event.Filter{Account: c.account, MessageID: id})
	if err != nil {
		return nil, err
	}
	perRcpt := map[string][]insightsEvent{}
	for _, e := range events {
		if e.Kind == event.AutoResponse {
			continue // Petrel's own event type; SES's InsightsEvent has none
		}
		item := insightsEvent{Timestamp: float64(e.Time.UnixMilli()) / 1000, Type: insightsType(e.Kind)}
		switch e.Kind {
		case event.Bounce:
			var b event.BounceDetail
			json.Unmarshal(e.Detail, &b)
			d := &bounceDetails{BounceType: strings.ToUpper(b.BounceType), BounceSubType: b.BounceSubType}
			if len(b.BouncedRecipients) > 0 {
				d.DiagnosticCode = b.BouncedRecipients[0].DiagnosticCode
			}
			item.Details = &eventDetails{Bounce: d}
		case event.Complaint:
			var cd event.ComplaintDetail
			json.Unmarshal(e.Detail, &cd)
			d := &complaintDetails{ComplaintFeedbackType: cd.ComplaintFeedbackType}
			if cd.ComplaintSubType != nil {
				d.ComplaintSubType = *cd.ComplaintSubType
			}
			item.Details = &eventDetails{Complaint: d}
		}
		if e.Recipient == "" {
			for _, r := range mail.Destination {
				perRcpt[r] = append(perRcpt[r], item)
			}
		} else {
			perRcpt[e.Recipient] = append(perRcpt[e.Recipient], item)
		}
	}
	out := getMessageInsightsOutput{MessageId: id, Subject: mail.CommonHeaders.Subject,
		EmailTags: []messageTag{}, Insights: make([]emailInsights, 0, len(mail.Destination))}
	for _, r := range mail.Destination {
		ev := perRcpt[r]
		if ev == nil {
			ev = []insightsEvent{}
		}
		out.Insights = append(out.Insights, emailInsights{Destination: r, Events: ev})
	}
	// The tags in name order (the mail object keeps them by name); SES's
	// own tags (ses:...) are not the caller's.
	for _, k := range slices.Sorted(maps.Keys(mail.Tags)) {
		if strings.HasPrefix(k, "ses:") {
			continue
		}
		for _, v := range mail.Tags[k] {
			out.EmailTags = append(out.EmailTags, messageTag{Name: k, Value: v})
		}
	}
	// The From header field's first address; a message without header
	// fields (a Rendering Failure: never rendered) still has its sender,
	// mail.source — the API's FromEmailAddress as the caller wrote it.
	if len(mail.CommonHeaders.From) > 0 {
		out.FromEmailAddress = mail.CommonHeaders.From[0]
	} else {
		out.FromEmailAddress = mail.Source
	}
	return out, nil
}

func insightsType(k event.Kind) string {
	switch k {
	case event.DeliveryDelay:
		return "DELIVERY_DELAY"
	case event.RenderingFailure:
		return "RENDERING_FAILURE"
	default:
		return strings.ToUpper(string(k))
	}
}
