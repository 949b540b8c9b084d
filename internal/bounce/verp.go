package bounce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
)

// VERP return paths have the form
//
//	b-<messageID>-<rcptIndex>-<mac>@<return-path domain>
//
// where mac is a truncated HMAC-SHA256 over "messageID/rcptIndex" with the
// node's secret, so an inbound bounce to a forged address is not attributed.
// The message ID keeps its SES shape; the recipient is named by its index in
// the message's destination list, which keeps the address short and does not
// expose the recipient in the envelope.

// ErrNotVERP is returned by ParseReturnPath for an address that is not a valid
// VERP return path.
var ErrNotVERP = errors.New("not a Petrel return path")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ReturnPath encodes the return path for recipient index rcpt of messageID.
func ReturnPath(messageID, rcpt, domain string, secret []byte) string {
	return "b-" + messageID + "-" + rcpt + "-" + mac(messageID, rcpt, secret) + "@" + domain
}

func mac(messageID, rcpt string, secret []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(messageID + "/" + rcpt))
	return strings.ToLower(b32.EncodeToString(h.Sum(nil)[:10]))
}

// ParseReturnPath decodes a return path made by ReturnPath (the domain is not
// checked here).
func ParseReturnPath(addr string, secret []byte) (messageID, rcpt string, err error) {
	local, _, ok := strings.Cut(addr, "@")
	if !ok || !strings.HasPrefix(strings.ToLower(local), "b-") {
		return "", "", ErrNotVERP
	}
	local = local[2:]
	i := strings.LastIndexByte(local, '-')
	if i < 0 {
		return "", "", ErrNotVERP
	}
	sum := local[i+1:]
	local = local[:i]
	j := strings.LastIndexByte(local, '-')
	if j < 0 {
		return "", "", ErrNotVERP
	}
	messageID, rcpt = local[:j], local[j+1:]
	if !hmac.Equal([]byte(strings.ToLower(sum)), []byte(mac(messageID, rcpt, secret))) {
		return "", "", ErrNotVERP
	}
	return messageID, rcpt, nil
}
