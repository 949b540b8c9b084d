package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/spool"
)

// selectorRE is a DKIM selector as a DNS label (RFC 6376 §3.1, SES's
// DomainSigningSelector, 1-63 characters).
var selectorRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// GetAccount (§1.10). Quotas are not enforced yet; the figures say so
// (Max24HourSend -1 = unlimited) and SentLast24Hours counts accepted messages.
func (s *Server) getAccount(ctx context.Context, c *call) (any, error) {
	acct, err := s.Accounts.Get(ctx, c.account)
	if err != nil {
		return nil, err
	}
	var sent int64
	since := time.Now().Add(-24 * time.Hour).UnixMilli()
	if err := s.Spool.CountSince(ctx, c.account, since, &sent); err != nil {
		return nil, err
	}
	return map[string]any{
		"DedicatedIpAutoWarmupEnabled": false,
		"EnforcementStatus":            "HEALTHY",
		"ProductionAccessEnabled":      true,
		"SendingEnabled":               acct.SendingEnabled,
		"SendQuota":                    map[string]float64{"Max24HourSend": -1, "MaxSendRate": 1000, "SentLast24Hours": float64(sent)},
		"SuppressionAttributes":        map[string][]string{"SuppressedReasons": {"BOUNCE", "COMPLAINT"}},
		"VdmAttributes":                map[string]string{"VdmEnabled": "DISABLED"},
	}, nil
}

func verificationStatus(id identity.Identity) string {
	if id.Verified {
		return "SUCCESS"
	}
	return "PENDING"
}

// dkimAttributes is SES's DkimAttributes for an identity (§1.5). Petrel
// signs with its own keys and does not look the records up in DNS: a key is
// SUCCESS once it exists, and the operator publishes Record (petrel identity
// dkim NAME prints it).
func (s *Server) dkimAttributes(ctx context.Context, account string, id identity.Identity) (map[string]any, error) {
	d, ok, err := s.Identities.GetDKIM(ctx, account, id.Name)
	if err != nil {
		return nil, err
	}
	if !ok && id.Kind == identity.EmailAddress {
		// An address inherits its domain's DKIM (SES).
		if i := strings.LastIndexByte(id.Name, '@'); i >= 0 {
			if d, ok, err = s.Identities.GetDKIM(ctx, account, id.Name[i+1:]); err != nil {
				return nil, err
			}
		}
	}
	if !ok {
		return map[string]any{"SigningEnabled": false, "Status": "NOT_STARTED", "SigningAttributesOrigin": identity.OriginEasy}, nil
	}
	out := map[string]any{
		"SigningEnabled": d.SigningEnabled, "Status": "SUCCESS", "Tokens": []string{d.Selector},
		"SigningAttributesOrigin": d.Origin, "LastKeyGenerationTimestamp": float64(d.Created.Unix()),
	}
	if d.Algorithm != dkim.Ed25519 {
		out["CurrentSigningKeyLength"] = string(d.Algorithm)
		out["NextSigningKeyLength"] = string(d.Algorithm)
	}
	return out, nil
}

func (s *Server) createIdentity(ctx context.Context, c *call) (any, error) {
	var in struct {
		EmailIdentity         *string
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
		if a.NextSigningKeyLength != nil {
			switch *a.NextSigningKeyLength {
			case string(dkim.RSA1024), string(dkim.RSA2048):
				alg = dkim.Algorithm(*a.NextSigningKeyLength)
			default:
				return nil, badRequest("NextSigningKeyLength must be RSA_1024_BIT or RSA_2048_BIT.")
			}
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
	id, err := s.Identities.Create(ctx, c.account, *in.EmailIdentity, false)
	switch {
	case errors.Is(err, identity.ErrExists):
		return nil, &Error{Code: "AlreadyExistsException", Status: 400, Message: "Email identity " + *in.EmailIdentity + " already exists."}
	case errors.Is(err, address.ErrInvalid):
		return nil, badRequest("EmailIdentity %q is not a valid email address or domain: %v.", *in.EmailIdentity, err)
	case err != nil:
		return nil, err
	}
	if id.Kind == identity.Domain {
		// SES: a domain gets Easy DKIM unless the caller brings a key.
		if byoKey != "" {
			_, err = s.Identities.PutDKIMKey(ctx, c.account, id.Name, byoSelector, []byte(byoKey))
		} else {
			_, err = s.Identities.GenerateDKIM(ctx, c.account, id.Name, alg)
		}
		if err != nil {
			s.Identities.Delete(ctx, c.account, id.Name)
			if errors.Is(err, dkim.ErrBadKey) {
				return nil, badRequest("DkimSigningAttributes: %v", err)
			}
			return nil, err // Petrel's failure (storing the key): InternalFailure
		}
	}
	attrs, err := s.dkimAttributes(ctx, c.account, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"IdentityType": string(id.Kind), "VerifiedForSendingStatus": id.Verified, "DkimAttributes": attrs}, nil
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
	return map[string]any{}, nil
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
	return map[string]any{
		"IdentityType":             string(id.Kind),
		"FeedbackForwardingStatus": true,
		"VerifiedForSendingStatus": id.Verified,
		"VerificationStatus":       verificationStatus(id),
		"DkimAttributes":           attrs,
		"MailFromAttributes":       map[string]string{"BehaviorOnMxFailure": "USE_DEFAULT_VALUE", "MailFromDomainStatus": "PENDING"},
		"Policies":                 map[string]string{},
		"Tags":                     []any{},
	}, nil
}

func (s *Server) listIdentities(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	size := 100
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			return nil, badRequest("PageSize must be an integer between 0 and 1000.")
		}
		if n > 0 {
			size = n
		}
	}
	after := ""
	if t := q.Get("NextToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return nil, badRequest("NextToken is not valid.")
		}
		after = string(b)
	}
	ids, err := s.Identities.List(ctx, c.account, after, size+1)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(ids) > size {
		ids = ids[:size]
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(ids[size-1].Name))
	}
	list := make([]map[string]any, len(ids))
	for i, id := range ids {
		list[i] = map[string]any{"IdentityType": string(id.Kind), "IdentityName": id.Name, "SendingEnabled": id.Verified,
			"VerificationStatus": verificationStatus(id)}
	}
	out["EmailIdentities"] = list
	return out, nil
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
	perRcpt := map[string][]map[string]any{}
	for _, e := range events {
		if e.Kind == event.AutoResponse {
			continue // Petrel's own event type; SES's InsightsEvent has none
		}
		item := map[string]any{"Timestamp": float64(e.Time.UnixMilli()) / 1000, "Type": insightsType(e.Kind)}
		switch e.Kind {
		case event.Bounce:
			var b event.BounceDetail
			json.Unmarshal(e.Detail, &b)
			d := map[string]any{"BounceType": strings.ToUpper(b.BounceType), "BounceSubType": b.BounceSubType}
			if len(b.BouncedRecipients) > 0 && b.BouncedRecipients[0].DiagnosticCode != "" {
				d["DiagnosticCode"] = b.BouncedRecipients[0].DiagnosticCode
			}
			item["Details"] = map[string]any{"Bounce": d}
		case event.Complaint:
			var cd event.ComplaintDetail
			json.Unmarshal(e.Detail, &cd)
			d := map[string]any{"ComplaintFeedbackType": cd.ComplaintFeedbackType}
			if cd.ComplaintSubType != nil {
				d["ComplaintSubType"] = *cd.ComplaintSubType
			}
			item["Details"] = map[string]any{"Complaint": d}
		}
		if e.Recipient == "" {
			for _, r := range mail.Destination {
				perRcpt[r] = append(perRcpt[r], item)
			}
		} else {
			perRcpt[e.Recipient] = append(perRcpt[e.Recipient], item)
		}
	}
	insights := make([]map[string]any, 0, len(mail.Destination))
	for _, r := range mail.Destination {
		ev := perRcpt[r]
		if ev == nil {
			ev = []map[string]any{}
		}
		insights = append(insights, map[string]any{"Destination": r, "Events": ev})
	}
	var tags []map[string]string
	for k, vs := range mail.Tags {
		if strings.HasPrefix(k, "ses:") {
			continue
		}
		for _, v := range vs {
			tags = append(tags, map[string]string{"Name": k, "Value": v})
		}
	}
	from := ""
	if len(mail.CommonHeaders.From) > 0 {
		from = mail.CommonHeaders.From[0]
	}
	return map[string]any{"MessageId": id, "FromEmailAddress": from, "Subject": mail.CommonHeaders.Subject,
		"EmailTags": tags, "Insights": insights}, nil
}

func insightsType(k event.Kind) string {
	switch k {
	case event.DeliveryDelay:
		return "DELIVERY_DELAY"
	default:
		return strings.ToUpper(string(k))
	}
}
