package bounce

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
)

// A feedback token ties a report that arrives at a feedback mailbox
// (postmaster@, abuse@, fbl@ — no VERP address) to the message it is about.
// Petrel adds it to every message at acceptance, before DKIM signing:
//
//	X-Petrel-Feedback: <messageID>.<mac>
//
// where mac is HMAC-SHA256 over the message ID with the feedback key
// (FeedbackKey), truncated to 128 bits and written in lower-case base32
// without padding (26 characters). Complaint reports (RFC 5965 §2) and DSNs
// (RFC 3464 §2) return the original message or its header, so the token
// comes back with it. A Message-ID proves nothing — every recipient sees
// it — but only Petrel can make a token that verifies.

// FeedbackHeader is the header field that carries the feedback token.
const FeedbackHeader = "X-Petrel-Feedback"

// ErrBadToken is returned by ParseFeedbackToken for a value that is not a
// token Petrel made with the key.
var ErrBadToken = errors.New("not a Petrel feedback token")

// feedbackMACLen is the MAC's length in bytes before encoding (128 bits).
const feedbackMACLen = 16

// FeedbackKey derives the feedback-token key from the node's VERP secret
// (the data directory's verp.key), so the two MACs never share a key.
func FeedbackKey(verpSecret []byte) []byte {
	h := hmac.New(sha256.New, verpSecret)
	h.Write([]byte("petrel feedback token v1"))
	return h.Sum(nil)
}

// FeedbackToken returns the token for messageID: "<messageID>.<mac>".
func FeedbackToken(messageID string, key []byte) string {
	return messageID + "." + feedbackMAC(messageID, key)
}

func feedbackMAC(messageID string, key []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(messageID))
	return strings.ToLower(b32.EncodeToString(h.Sum(nil)[:feedbackMACLen]))
}

// ParseFeedbackToken verifies a token (surrounding white space, which a
// relay may add by folding the field, is ignored) and returns the message ID
// it names; ErrBadToken when the value is malformed or its MAC does not
// verify with key.
func ParseFeedbackToken(token string, key []byte) (messageID string, err error) {
	token = strings.Join(strings.Fields(token), "")
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || len(key) == 0 {
		return "", ErrBadToken
	}
	id, sum := token[:i], strings.ToLower(token[i+1:])
	if !reTokenID.MatchString(id) {
		return "", ErrBadToken
	}
	if !hmac.Equal([]byte(sum), []byte(feedbackMAC(id, key))) {
		return "", ErrBadToken
	}
	return id, nil
}

// reTokenID is a whole Petrel message ID (event.NewID's shape).
var reTokenID = regexp.MustCompile(`^` + rePetrelID.String() + `$`)

// reFeedbackToken finds a token anywhere in text: a report that quotes the
// original's header in its prose, or reformats it, still carries it. The
// MAC is checked by the receiver, so a token-shaped string proves nothing
// until it verifies.
var reFeedbackToken = regexp.MustCompile(rePetrelID.String() + `\.[a-z2-7]{26}`)

// feedbackToken returns the token of the original message: the
// X-Petrel-Feedback field of its returned header h (nil when the report
// returns none), else the first token-shaped string in the report's parts.
func feedbackToken(root *entity, h header) string {
	if h != nil {
		if v := strings.Join(strings.Fields(h.get(FeedbackHeader)), ""); v != "" {
			if m := reFeedbackToken.FindString(v); m != "" {
				return m
			}
		}
	}
	tok := ""
	root.walk(func(e *entity) bool {
		if tok == "" && len(e.children) == 0 {
			body := e.body
			if len(body) > maxExplanation {
				body = body[:maxExplanation]
			}
			tok = string(reFeedbackToken.Find(body))
		}
		return tok == ""
	})
	return tok
}
