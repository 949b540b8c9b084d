package api

import (
	"context"
	"errors"
	"time"

	"github.com/petrelmail/petrel/internal/account"
)

// accountDetails is GetAccount's Details (§1.10): present once the account
// has told its details (PutAccountDetails).
type accountDetails struct {
	MailType                        string         `json:"MailType"`
	WebsiteURL                      string         `json:"WebsiteURL"`
	ContactLanguage                 string         `json:"ContactLanguage,omitempty"`
	UseCaseDescription              string         `json:"UseCaseDescription,omitempty"`
	AdditionalContactEmailAddresses []string       `json:"AdditionalContactEmailAddresses,omitempty"`
	ReviewDetails                   *reviewDetails `json:"ReviewDetails,omitempty"`
}

// reviewDetails is Details.ReviewDetails: Status PENDING, GRANTED or DENIED.
type reviewDetails struct {
	Status string `json:"Status"`
	CaseId string `json:"CaseId"`
}

func detailsOutput(d account.Details) *accountDetails {
	if d.MailType == "" && d.Review.Status == "" {
		return nil
	}
	out := &accountDetails{MailType: d.MailType, WebsiteURL: d.WebsiteURL, ContactLanguage: d.ContactLanguage,
		UseCaseDescription: d.UseCaseDescription, AdditionalContactEmailAddresses: d.AdditionalContactEmailAddresses}
	if d.Review.Status != "" {
		out.ReviewDetails = &reviewDetails{Status: d.Review.Status, CaseId: d.Review.CaseID}
	}
	return out
}

// putAccountDetails is PutAccountDetails: POST /v2/email/account/details
// {MailType, WebsiteURL, ContactLanguage, UseCaseDescription,
// AdditionalContactEmailAddresses, ProductionAccessEnabled} (§1.10). With
// ProductionAccessEnabled true, a sandboxed account's request for
// production access awaits the operator (petrel account production NAME
// --grant|--deny; docs/quotas.md). Errors: BadRequestException for
// invalid members (account.DetailsRequest.Validate), ConflictException
// while a request is pending.
func (s *Server) putAccountDetails(ctx context.Context, c *call) (any, error) {
	var in struct {
		MailType                        string
		WebsiteURL                      string
		ContactLanguage                 string
		UseCaseDescription              string
		AdditionalContactEmailAddresses []string
		ProductionAccessEnabled         *bool
	}
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	_, err := s.Accounts.PutDetails(ctx, c.account, account.DetailsRequest{
		MailType: in.MailType, WebsiteURL: in.WebsiteURL, ContactLanguage: in.ContactLanguage,
		UseCaseDescription: in.UseCaseDescription, AdditionalContactEmailAddresses: in.AdditionalContactEmailAddresses,
		ProductionAccessEnabled: in.ProductionAccessEnabled != nil && *in.ProductionAccessEnabled,
	})
	if err := accountError(err); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// putAccountSendingAttributes is PutAccountSendingAttributes: PUT
// /v2/email/account/sending {SendingEnabled} (§1.10), the tenant's own
// pause and resume (absent: false, as SES reads it). It cannot lift an
// enforcement pause, which is kept apart from this switch.
func (s *Server) putAccountSendingAttributes(ctx context.Context, c *call) (any, error) {
	var in struct{ SendingEnabled *bool }
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	if err := s.Accounts.SetSendingEnabled(ctx, c.account, in.SendingEnabled != nil && *in.SendingEnabled); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// accountError maps package account's refusals to SES's errors.
func accountError(err error) error {
	var inv *account.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return badRequest("%s", inv.Msg)
	case errors.Is(err, account.ErrReviewPending):
		return &Error{Code: "ConflictException", Status: 409, Message: "Your account details are already under review. You can't update them until the review is complete."}
	}
	return err
}

// sendQuotaOf is acct's SendQuota (GetAccount's, v1 GetSendQuota's): its
// quota as enforced (package quota; -1 = unlimited) with SentLast24Hours,
// the recipients counted in the rolling 24 hours on every node (for an
// unlimited account, which package quota does not track, from the
// statistics counters, to the 15-minute bucket).
func (s *Server) sendQuotaOf(ctx context.Context, acct account.Account) (sendQuota, error) {
	var sent int64
	var err error
	switch {
	case acct.Max24HourSend < 0 && acct.MaxSendRate < 0 && s.Stats != nil:
		sent, err = s.Stats.Sent(ctx, acct.Name, time.Now().Add(-24*time.Hour))
	case s.Quota != nil:
		sent, err = s.Quota.SentLast24Hours(ctx, acct.Name)
	}
	if err != nil {
		return sendQuota{}, err
	}
	return sendQuota{Max24HourSend: float64(acct.Max24HourSend), MaxSendRate: acct.MaxSendRate, SentLast24Hours: float64(sent)}, nil
}
