package api

import "github.com/petrelmail/petrel/internal/suppression"

// The response shapes of the operations Petrel serves, named and spelled as
// in the SESv2 model (service-2.json, API version 2019-09-27;
// ../shared/spec/ses.md §1.3, §1.5, §1.10, §1.14). Members are declared in
// name order, so a response lists them sorted; a member marked omitempty is
// one SES leaves out when it has no value, every other member is always
// present. Timestamps are epoch seconds, the restJson1 default (§1.1).

// sendEmailOutput is SendEmailResponse.
type sendEmailOutput struct {
	MessageId string `json:"MessageId"`
}

// getAccountOutput is GetAccountResponse (§1.10); Details is left out
// until the account has given them (PutAccountDetails), as SES does.
type getAccountOutput struct {
	DedicatedIpAutoWarmupEnabled bool                  `json:"DedicatedIpAutoWarmupEnabled"`
	Details                      *accountDetails       `json:"Details,omitempty"`
	EnforcementStatus            string                `json:"EnforcementStatus"` // HEALTHY, PROBATION or SHUTDOWN
	ProductionAccessEnabled      bool                  `json:"ProductionAccessEnabled"`
	SendQuota                    sendQuota             `json:"SendQuota"`
	SendingEnabled               bool                  `json:"SendingEnabled"`
	SuppressionAttributes        suppressionAttributes `json:"SuppressionAttributes"`
	VdmAttributes                vdmAttributes         `json:"VdmAttributes"`
}

// sendQuota is SendQuota: doubles; Max24HourSend is recipients per rolling
// 24 h, MaxSendRate recipients per second, -1 unlimited (docs/quotas.md).
type sendQuota struct {
	Max24HourSend   float64 `json:"Max24HourSend"`
	MaxSendRate     float64 `json:"MaxSendRate"`
	SentLast24Hours float64 `json:"SentLast24Hours"`
}

// suppressionAttributes is SuppressionAttributes: BOUNCE and/or COMPLAINT,
// plus Petrel's soft-bounce policy when the account has one (an extension
// member, docs/suppression.md).
type suppressionAttributes struct {
	SoftBouncePolicy  *suppression.SoftBounceJSON `json:"SoftBouncePolicy,omitempty"`
	SuppressedReasons []string                    `json:"SuppressedReasons"`
}

// vdmAttributes is VdmAttributes: VdmEnabled is ENABLED or DISABLED.
type vdmAttributes struct {
	VdmEnabled string `json:"VdmEnabled"`
}

// dkimAttributes is DkimAttributes (§1.5). An identity without a key has
// only SigningAttributesOrigin, SigningEnabled and Status (NOT_STARTED);
// an Ed25519 key (RFC 8463, which SES does not offer) has no key length.
type dkimAttributes struct {
	CurrentSigningKeyLength    string   `json:"CurrentSigningKeyLength,omitempty"` // RSA_1024_BIT or RSA_2048_BIT
	LastKeyGenerationTimestamp float64  `json:"LastKeyGenerationTimestamp,omitempty"`
	NextSigningKeyLength       string   `json:"NextSigningKeyLength,omitempty"`
	SigningAttributesOrigin    string   `json:"SigningAttributesOrigin"` // AWS_SES (Easy DKIM) or EXTERNAL (BYODKIM)
	SigningEnabled             bool     `json:"SigningEnabled"`
	SigningHostedZone          string   `json:"SigningHostedZone,omitempty"` // --dkim-cname-zone, for Easy DKIM keys published as CNAMEs
	Status                     string   `json:"Status"`                      // DkimStatus: the key's record (PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE) or NOT_STARTED
	Tokens                     []string `json:"Tokens,omitempty"`
}

// verificationInfo is VerificationInfo: the last DNS checks of a domain's
// records (timestamps omitted when there was none).
type verificationInfo struct {
	ErrorType            string     `json:"ErrorType,omitempty"` // DNS_SERVER_ERROR, HOST_NOT_FOUND, TYPE_NOT_FOUND, INVALID_VALUE, SERVICE_ERROR
	LastCheckedTimestamp float64    `json:"LastCheckedTimestamp,omitempty"`
	LastSuccessTimestamp float64    `json:"LastSuccessTimestamp,omitempty"`
	SOARecord            *soaRecord `json:"SOARecord,omitempty"`
}

// soaRecord is SOARecord.
type soaRecord struct {
	AdminEmail        string `json:"AdminEmail"`
	PrimaryNameServer string `json:"PrimaryNameServer"`
	SerialNumber      int64  `json:"SerialNumber"`
}

// createEmailIdentityOutput is CreateEmailIdentityResponse.
type createEmailIdentityOutput struct {
	DkimAttributes           dkimAttributes `json:"DkimAttributes"`
	IdentityType             string         `json:"IdentityType"` // EMAIL_ADDRESS or DOMAIN
	VerifiedForSendingStatus bool           `json:"VerifiedForSendingStatus"`
}

// getEmailIdentityOutput is GetEmailIdentityResponse (§1.5);
// ConfigurationSetName only when the identity has a default set,
// VerificationInfo only for a domain.
type getEmailIdentityOutput struct {
	ConfigurationSetName     string             `json:"ConfigurationSetName,omitempty"`
	DkimAttributes           dkimAttributes     `json:"DkimAttributes"`
	FeedbackForwardingStatus bool               `json:"FeedbackForwardingStatus"`
	IdentityType             string             `json:"IdentityType"`
	MailFromAttributes       mailFromAttributes `json:"MailFromAttributes"`
	Policies                 map[string]string  `json:"Policies"` // policy name → JSON policy
	Tags                     []tag              `json:"Tags"`
	VerificationInfo         *verificationInfo  `json:"VerificationInfo,omitempty"`
	VerificationStatus       string             `json:"VerificationStatus"` // PENDING, SUCCESS, FAILED or TEMPORARY_FAILURE
	VerifiedForSendingStatus bool               `json:"VerifiedForSendingStatus"`
}

// mailFromAttributes is MailFromAttributes (§1.7).
type mailFromAttributes struct {
	BehaviorOnMxFailure  string `json:"BehaviorOnMxFailure"` // USE_DEFAULT_VALUE or REJECT_MESSAGE
	MailFromDomain       string `json:"MailFromDomain,omitempty"`
	MailFromDomainStatus string `json:"MailFromDomainStatus"`
}

// tag is Tag.
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// listEmailIdentitiesOutput is ListEmailIdentitiesResponse; NextToken is
// left out on the last page.
type listEmailIdentitiesOutput struct {
	EmailIdentities []identityInfo `json:"EmailIdentities"`
	NextToken       string         `json:"NextToken,omitempty"`
}

// identityInfo is IdentityInfo.
type identityInfo struct {
	IdentityName       string `json:"IdentityName"`
	IdentityType       string `json:"IdentityType"`
	SendingEnabled     bool   `json:"SendingEnabled"`
	VerificationStatus string `json:"VerificationStatus"`
}

// getMessageInsightsOutput is GetMessageInsightsResponse.
type getMessageInsightsOutput struct {
	EmailTags        []messageTag    `json:"EmailTags"`
	FromEmailAddress string          `json:"FromEmailAddress"`
	Insights         []emailInsights `json:"Insights"`
	MessageId        string          `json:"MessageId"`
	Subject          string          `json:"Subject"`
}

// messageTag is MessageTag.
type messageTag struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// emailInsights is EmailInsights, without Isp (Petrel does not classify
// mailbox providers).
type emailInsights struct {
	Destination string          `json:"Destination"`
	Events      []insightsEvent `json:"Events"`
}

// insightsEvent is InsightsEvent; Details only for BOUNCE and COMPLAINT.
type insightsEvent struct {
	Details   *eventDetails `json:"Details,omitempty"`
	Timestamp float64       `json:"Timestamp"`
	Type      string        `json:"Type"` // EventType: SEND, DELIVERY, BOUNCE, COMPLAINT, DELIVERY_DELAY, REJECT, RENDERING_FAILURE
}

// eventDetails is EventDetails: one of Bounce and Complaint.
type eventDetails struct {
	Bounce    *bounceDetails    `json:"Bounce,omitempty"`
	Complaint *complaintDetails `json:"Complaint,omitempty"`
}

// bounceDetails is the insights Bounce: BounceType is UNDETERMINED,
// TRANSIENT or PERMANENT.
type bounceDetails struct {
	BounceSubType  string `json:"BounceSubType"`
	BounceType     string `json:"BounceType"`
	DiagnosticCode string `json:"DiagnosticCode,omitempty"`
}

// complaintDetails is the insights Complaint.
type complaintDetails struct {
	ComplaintFeedbackType string `json:"ComplaintFeedbackType,omitempty"`
	ComplaintSubType      string `json:"ComplaintSubType,omitempty"`
}

// errorBody is the body of an error response (restJson1; §1.14): the
// code is in the x-amzn-ErrorType header.
type errorBody struct {
	Message string `json:"message"`
}
