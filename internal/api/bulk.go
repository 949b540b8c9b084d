package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/sending"
)

// SendBulkEmail (../shared/spec/ses.md §1.4): this file decodes the
// request and checks its shapes; sending.Sender.SendBulk applies SES's
// rules and answers one result per entry.

// maxBulkEntries is the most BulkEmailEntries a call may have (SES: 50).
const maxBulkEntries = 50

// SESv2 SendBulkEmailRequest.
type sendBulkEmailInput struct {
	FromEmailAddress                          *string
	FromEmailAddressIdentityArn               *string
	ReplyToAddresses                          []string
	FeedbackForwardingEmailAddress            *string
	FeedbackForwardingEmailAddressIdentityArn *string
	DefaultEmailTags                          []struct{ Name, Value string }
	DefaultContent                            *struct{ Template *templateInput }
	BulkEmailEntries                          []struct {
		Destination             *destination
		ReplacementTags         []struct{ Name, Value string }
		ReplacementEmailContent *struct {
			ReplacementTemplate *struct{ ReplacementTemplateData *string }
		}
		ReplacementHeaders []nameValue
	}
	ConfigurationSetName *string
}

type bulkEmailEntryResult struct {
	Status    string `json:"Status"`
	Error     string `json:"Error,omitempty"`
	MessageId string `json:"MessageId,omitempty"`
}

type sendBulkEmailOutput struct {
	BulkEmailEntryResults []bulkEmailEntryResult `json:"BulkEmailEntryResults"`
}

func (s *Server) sendBulkEmail(ctx context.Context, c *call) (any, error) {
	var in sendBulkEmailInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	if in.DefaultContent == nil || in.DefaultContent.Template == nil {
		return nil, badRequest("DefaultContent.Template is required.")
	}
	if n := len(in.BulkEmailEntries); n == 0 || n > maxBulkEntries {
		return nil, badRequest("BulkEmailEntries must contain 1 to %d entries.", maxBulkEntries)
	}
	r := sending.BulkRequest{Account: c.account, Caller: c.keyID, SourceIP: c.sourceIP, From: strings.TrimSpace(strOr(in.FromEmailAddress)),
		ReplyTo: in.ReplyToAddresses, FromArn: strOr(in.FromEmailAddressIdentityArn), FeedbackArn: strOr(in.FeedbackForwardingEmailAddressIdentityArn)}
	if in.FeedbackForwardingEmailAddress != nil {
		a, err := address.Parse(*in.FeedbackForwardingEmailAddress)
		switch {
		case err == nil:
			r.FeedbackAddress = &a
		case r.FeedbackArn != "":
			return nil, badRequest("FeedbackForwardingEmailAddress: %v.", err)
		}
	}
	var err error
	if r.DefaultTags, err = tagPairs("DefaultEmailTags", in.DefaultEmailTags); err != nil {
		return nil, err
	}
	if in.ConfigurationSetName != nil {
		if !configSetRE.MatchString(*in.ConfigurationSetName) {
			return nil, badRequest("ConfigurationSetName %q is not a valid configuration set name.", *in.ConfigurationSetName)
		}
		r.ConfigSet = *in.ConfigurationSetName
	}
	t, err := templateFrom("DefaultContent.Template", in.DefaultContent.Template)
	if err != nil {
		return nil, err
	}
	r.Template = *t
	for i, e := range in.BulkEmailEntries {
		field := func(name string) string { return "BulkEmailEntries[" + strconv.Itoa(i) + "]." + name }
		if e.Destination == nil {
			return nil, badRequest("%s is required.", field("Destination"))
		}
		var be sending.BulkEntry
		if be.To, err = addressList(field("Destination.ToAddresses"), e.Destination.ToAddresses); err != nil {
			return nil, err
		}
		if be.Cc, err = addressList(field("Destination.CcAddresses"), e.Destination.CcAddresses); err != nil {
			return nil, err
		}
		if be.Bcc, err = addressList(field("Destination.BccAddresses"), e.Destination.BccAddresses); err != nil {
			return nil, err
		}
		if be.Tags, err = tagPairs(field("ReplacementTags"), e.ReplacementTags); err != nil {
			return nil, err
		}
		be.Headers = headerPairs(e.ReplacementHeaders)
		if err := sending.CheckHeaders(field("ReplacementHeaders"), be.Headers); err != nil {
			return nil, badRequest("%s", err.Error())
		}
		if rc := e.ReplacementEmailContent; rc != nil && rc.ReplacementTemplate != nil {
			be.Data = strOr(rc.ReplacementTemplate.ReplacementTemplateData)
		}
		r.Entries = append(r.Entries, be)
	}
	results, err := s.Sender.SendBulk(ctx, r)
	if err != nil {
		return nil, err
	}
	out := sendBulkEmailOutput{BulkEmailEntryResults: make([]bulkEmailEntryResult, len(results))}
	for i, res := range results {
		out.BulkEmailEntryResults[i] = bulkEmailEntryResult{Status: string(res.Status), Error: res.Error, MessageId: res.MessageID}
	}
	return out, nil
}

// tagPairs checks message tags (SES: Name and Value of ASCII letters,
// digits, '_' and '-', 1-256 characters each; ../shared/spec/ses.md §11.3).
func tagPairs(field string, tags []struct{ Name, Value string }) ([][2]string, error) {
	var out [][2]string
	for i, t := range tags {
		if !tagRE.MatchString(t.Name) || !tagRE.MatchString(t.Value) {
			return nil, badRequest("%s[%d]: Name and Value may contain only ASCII letters, digits, '_' and '-' (1-256 characters).", field, i)
		}
		out = append(out, [2]string{t.Name, t.Value})
	}
	return out, nil
}

// addressList parses a Destination list.
func addressList(field string, list []string) ([]address.Address, error) {
	var out []address.Address
	for i, s := range list {
		a, err := address.Parse(s)
		if err != nil {
			return nil, badRequest("%s[%d]: %v.", field, i, err)
		}
		out = append(out, a)
	}
	return out, nil
}
