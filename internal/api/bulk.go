package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/sending"
)

// SendBulkEmail (../shared/spec/ses.md §1.4): this file decodes the
// request (JSON shapes, addresses, base64); sending.Sender.SendBulk applies
// SES's rules (entry count, tags, header fields, names) and answers one
// result per entry.

// SESv2 SendBulkEmailRequest.
type sendBulkEmailInput struct {
	FromEmailAddress                          *string
	FromEmailAddressIdentityArn               *string
	ReplyToAddresses                          []string
	FeedbackForwardingEmailAddress            *string
	FeedbackForwardingEmailAddressIdentityArn *string
	DefaultEmailTags                          []struct{ Name, Value string }
	DefaultContent                            *struct{ Template *templateInput }
	BulkEmailEntries                          []bulkEmailEntry
	ConfigurationSetName                      *string
}

// bulkEmailEntry is SESv2 BulkEmailEntry.
type bulkEmailEntry struct {
	Destination             *destination
	ReplacementTags         []struct{ Name, Value string }
	ReplacementEmailContent *replacementEmailContent
	ReplacementHeaders      []nameValue
}

// replacementEmailContent is SESv2 ReplacementEmailContent.
type replacementEmailContent struct {
	ReplacementTemplate *struct{ ReplacementTemplateData *string }
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
	results, err := s.sendBulk(ctx, c, &in, "SendBulkEmail")
	if err != nil {
		return nil, err
	}
	out := sendBulkEmailOutput{BulkEmailEntryResults: make([]bulkEmailEntryResult, len(results))}
	for i, res := range results {
		out.BulkEmailEntryResults[i] = bulkEmailEntryResult{Status: string(res.Status), Error: res.Error, MessageId: res.MessageID}
	}
	return out, nil
}

// sendBulk sends the decoded SendBulkEmail request in in the name of c and
// returns one result per entry: the one path of v2 SendBulkEmail and v1
// SendBulkTemplatedEmail (v1_sending.go, which builds in from its own
// parameters). op is the ses:operation tag. Errors: BadRequestException
// for shapes, else SendBulk's (sendError maps them).
func (s *Server) sendBulk(ctx context.Context, c *call, in *sendBulkEmailInput, op string) ([]sending.BulkResult, error) {
	if in.DefaultContent == nil || in.DefaultContent.Template == nil {
		return nil, badRequest("DefaultContent.Template is required.")
	}
	r := sending.BulkRequest{Account: c.account, Caller: c.keyID, SourceIP: c.sourceIP, Operation: op, From: strOr(in.FromEmailAddress),
		ReplyTo: in.ReplyToAddresses, FromArn: strOr(in.FromEmailAddressIdentityArn), FeedbackArn: strOr(in.FeedbackForwardingEmailAddressIdentityArn)}
	// The feedback address is where feedback forwarding emails bounces
	// and complaints, and a sender identity Send checks: one that does
	// not parse is refused, not ignored ("" is none).
	if fb := strOr(in.FeedbackForwardingEmailAddress); strings.TrimSpace(fb) != "" {
		a, err := address.Parse(fb)
		if err != nil {
			return nil, badRequest("FeedbackForwardingEmailAddress: %v.", err)
		}
		r.FeedbackAddress = &a
	}
	r.DefaultTags, r.ConfigSet = tagPairs(in.DefaultEmailTags), strOr(in.ConfigurationSetName)
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
		be.Tags, be.Headers = tagPairs(e.ReplacementTags), headerPairs(e.ReplacementHeaders)
		if rc := e.ReplacementEmailContent; rc != nil && rc.ReplacementTemplate != nil {
			be.Data = strOr(rc.ReplacementTemplate.ReplacementTemplateData)
		}
		r.Entries = append(r.Entries, be)
	}
	return s.Sender.SendBulk(ctx, r)
}

// tagPairs decodes message tags (sending.CheckTags checks them).
func tagPairs(tags []struct{ Name, Value string }) [][2]string {
	var out [][2]string
	for _, t := range tags {
		out = append(out, [2]string{t.Name, t.Value})
	}
	return out
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
