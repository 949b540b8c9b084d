package contacts

// Unsubscribe tokens: the capability in a message's List-Unsubscribe links
// (RFC 2369, RFC 8058) and its {{amazonSESUnsubscribeUrl}} page link.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Token names one unsubscribe: the contact Email of account Account's list
// List, from topic Topic ("" for the whole list), as offered by message
// MessageID ("" for none). It is self-contained — nothing is stored per
// token — so an https link keeps working after the message record is
// pruned; the short mailto: address (MailtoLocal) stands for a token
// stored with the message (Service.PutMailtoTx).
type Token struct{ Account, List, Topic, Email, MessageID string }

// Token limits: each field is at most maxTokenField bytes and a token at
// most MaxTokenLen characters; longer input is refused before decoding.
const (
	maxTokenField = 320
	// maxTokenBytes is the longest token before encoding: the version,
	// four length-prefixed fields of maxTokenField bytes (a 2-byte
	// uvarint each), the message ID's kind and, as a string, its length
	// and bytes, and the MAC (version 1) or SIV (version 2).
	maxTokenBytes = 1 + 4*(2+maxTokenField) + 1 + 2 + maxTokenField + tokenMACLen
	// MaxTokenLen bounds an encoded token: maxTokenBytes in unpadded
	// base32.
	MaxTokenLen = (maxTokenBytes*8 + 4) / 5
	// tokenV1: payload in the clear, then HMAC-SHA256(key, payload).
	// Accepted, no longer made: messages already delivered carry it.
	tokenV1 = 1
	// tokenV2: version, SIV, payload encrypted (Sign).
	tokenV2     = 2
	tokenMACLen = 16 // bytes: HMAC-SHA256 truncated to 128 bits (v1 MAC, v2 SIV)
	// message-ID encodings inside the payload
	midNone   = 0 // no message
	midSES    = 1 // SES shape (event.NewID): 6 bytes of ms, 16 of UUID
	midString = 2 // any other: length-prefixed bytes
)

// ErrBadToken is a token that is malformed, truncated, altered, or signed
// with another key.
var ErrBadToken = errors.New("invalid unsubscribe token")

var tokenB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TokenKey derives the unsubscribe-token key from the node's VERP secret
// (data-dir/verp.key), as bounce.FeedbackKey does for feedback tokens: a
// separate key per purpose, so no token of one kind verifies as another.
func TokenKey(verpSecret []byte) []byte {
	h := hmac.New(sha256.New, verpSecret)
	h.Write([]byte("petrel unsubscribe token v1"))
	return h.Sum(nil)
}

// sivKeys are a version-2 token's subkeys, derived from the token key
// (TokenKey) for this use only: mac computes the SIV, block encrypts.
type sivKeys struct {
	key   []byte // the token key they were derived from
	mac   []byte
	block cipher.Block
}

// lastSIVKeys caches the subkeys of the last key used: a node has one.
var lastSIVKeys atomic.Pointer[sivKeys]

func tokenSIVKeys(key []byte) *sivKeys {
	if k := lastSIVKeys.Load(); k != nil && bytes.Equal(k.key, key) {
		return k
	}
	derive := func(label string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(label))
		return h.Sum(nil)
	}
	block, err := aes.NewCipher(derive("petrel unsubscribe token v2 enc")) // AES-256
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	k := &sivKeys{key: bytes.Clone(key), mac: derive("petrel unsubscribe token v2 mac"), block: block}
	lastSIVKeys.Store(k)
	return k
}

// siv is a version-2 token's synthetic IV: HMAC-SHA256 under the mac
// subkey over the version byte and the plaintext payload, cut to 128 bits.
func (k *sivKeys) siv(version byte, payload []byte) []byte {
	h := hmac.New(sha256.New, k.mac)
	h.Write([]byte{version})
	h.Write(payload)
	return h.Sum(nil)[:tokenMACLen]
}

// xor encrypts or decrypts p in place: AES-256-CTR with IV siv.
func (k *sivKeys) xor(siv, p []byte) {
	cipher.NewCTR(k.block, siv).XORKeyStream(p, p)
}

// Sign returns t as a token: deterministic authenticated encryption in the
// SIV style (RFC 5297's construction with HMAC-SHA256 and AES-256-CTR) of a
// compact binary payload (account, list, topic and email length-prefixed;
// the message ID packed to 22 bytes when it has SES's shape). From key two
// subkeys are derived; the SIV is HMAC-SHA256(mac subkey, version ||
// payload) truncated to 128 bits, the payload is encrypted with AES-256-CTR
// under the enc subkey with the SIV as counter block, and the token is
// version 2 || SIV || ciphertext in lower-case base32 without padding. The
// version byte is the only plaintext: a token reveals nothing of what it
// names but its length. Only the holder of key can make one; changing any
// byte invalidates it; tokens cannot be enumerated; the same t and key
// give the same token. A field longer than maxTokenField bytes is cut to
// it (Petrel's names and addresses are far shorter), so the token then
// fails to name a contact.
func (t Token) Sign(key []byte) string {
	p := t.payload()
	k := tokenSIVKeys(key)
	siv := k.siv(tokenV2, p)
	k.xor(siv, p)
	b := make([]byte, 0, 1+len(siv)+len(p))
	b = append(append(append(b, tokenV2), siv...), p...)
	return strings.ToLower(tokenB32.EncodeToString(b))
}

// payload is t's fields encoded, without a version: account, list, topic
// and email length-prefixed, then the message ID's kind and encoding.
func (t Token) payload() []byte {
	var b []byte
	for _, f := range []string{t.Account, t.List, t.Topic, t.Email} {
		b = appendField(b, f)
	}
	switch raw, ok := packSESID(t.MessageID); {
	case t.MessageID == "":
		b = append(b, midNone)
	case ok:
		b = append(append(b, midSES), raw...)
	default:
		b = appendField(append(b, midString), t.MessageID)
	}
	return b
}

func appendField(b []byte, f string) []byte {
	if len(f) > maxTokenField {
		f = f[:maxTokenField]
	}
	return append(binary.AppendUvarint(b, uint64(len(f))), f...)
}

// tokenMAC is a version-1 token's MAC: HMAC-SHA256(key, payload), payload
// starting with the version byte, truncated to 128 bits.
func tokenMAC(payload, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(payload)
	return h.Sum(nil)[:tokenMACLen]
}

// ParseToken verifies s and returns the Token it carries. Case does not
// matter (links may be re-cased on the way). It accepts version 2 (Sign):
// the ciphertext is decrypted and the SIV recomputed over the plaintext
// and compared in constant time before the payload is read; and version 1,
// which messages delivered before carry: the MAC over the payload is
// compared in constant time before it is read.
// Errors: ErrBadToken for anything that does not verify with key (bad
// characters, non-canonical base32, truncated, altered, another key,
// unknown version, trailing bytes).
func ParseToken(s string, key []byte) (Token, error) {
	if len(key) == 0 || len(s) > MaxTokenLen || len(s) < 2 {
		return Token{}, ErrBadToken
	}
	lower := strings.ToLower(s)
	b, err := tokenB32.DecodeString(strings.ToUpper(s))
	// Canonical encoding only: base32 ignores stray low bits of the last
	// character, which would let one token be spelt several ways.
	if err != nil || len(b) < 1+tokenMACLen || strings.ToLower(tokenB32.EncodeToString(b)) != lower {
		return Token{}, ErrBadToken
	}
	var p []byte
	switch b[0] {
	case tokenV2:
		siv, ct := b[1:1+tokenMACLen], b[1+tokenMACLen:]
		k := tokenSIVKeys(key)
		k.xor(siv, ct)
		if !hmac.Equal(siv, k.siv(tokenV2, ct)) {
			return Token{}, ErrBadToken
		}
		p = ct
	case tokenV1:
		payload, mac := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
		if !hmac.Equal(mac, tokenMAC(payload, key)) {
			return Token{}, ErrBadToken
		}
		p = payload[1:]
	default:
		return Token{}, ErrBadToken
	}
	t, err := decodePayload(p)
	if err != nil {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// decodePayload reads a payload (Token.payload: after the version byte).
func decodePayload(p []byte) (Token, error) {
	var t Token
	for _, f := range []*string{&t.Account, &t.List, &t.Topic, &t.Email} {
		var err error
		if *f, p, err = readField(p); err != nil {
			return t, err
		}
	}
	if len(p) == 0 {
		return t, fmt.Errorf("message ID missing")
	}
	kind := p[0]
	p = p[1:]
	switch kind {
	case midNone:
	case midSES:
		if len(p) < 22 {
			return t, fmt.Errorf("short message ID")
		}
		t.MessageID, p = unpackSESID(p[:22]), p[22:]
	case midString:
		var err error
		if t.MessageID, p, err = readField(p); err != nil {
			return t, err
		}
	default:
		return t, fmt.Errorf("message ID kind %d", kind)
	}
	if len(p) != 0 {
		return t, fmt.Errorf("trailing bytes")
	}
	return t, nil
}

func readField(p []byte) (string, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > maxTokenField || uint64(len(p)-k) < n {
		return "", nil, fmt.Errorf("bad field")
	}
	return string(p[k : k+int(n)]), p[k+int(n):], nil
}

// packSESID packs an ID of event.NewID's shape,
// "0100" + 12 hex (ms) + "-" + UUID (8-4-4-4-12, lower-case hex) + "-000000",
// into 22 bytes; ok is false for any other string (including upper-case
// hex), which is then kept as it is.
func packSESID(id string) ([]byte, bool) {
	if len(id) != 60 || id[:4] != "0100" || id[16] != '-' || !strings.HasSuffix(id, "-000000") {
		return nil, false
	}
	hexs := id[4:16] + strings.ReplaceAll(id[17:53], "-", "")
	raw, err := hex.DecodeString(hexs)
	if err != nil || len(raw) != 22 || unpackSESID(raw) != id {
		return nil, false
	}
	return raw, true
}

func unpackSESID(raw []byte) string {
	u := hex.EncodeToString(raw[6:])
	return "0100" + hex.EncodeToString(raw[:6]) + "-" + u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:] + "-000000"
}

// UnsubscribePath is the path of the unsubscribe endpoints and page on the
// API listener: UnsubscribePath + TOKEN.
const UnsubscribePath = "/unsubscribe/"

// MailtoPrefix starts the local part of the mailto: unsubscribe address,
// MailtoPrefix + CODE + "@" + the return-path domain (MailtoLocal).
const MailtoPrefix = "u-"

// Mailto address limits: the code is base32 of the packed message ID
// (packSESID: 22 bytes) and a MAC of mailtoMACLen bytes.
const (
	mailtoMACLen = 10 // bytes: HMAC-SHA256 truncated to 80 bits
	// MailtoCodeLen is the length of the code after MailtoPrefix: 52
	// characters, so the local part (54) is within RFC 5321
	// §4.5.3.1.1's 64 octets.
	MailtoCodeLen = ((22+mailtoMACLen)*8 + 4) / 5
)

// mailtoKey derives the key of the mailto: codes' MACs from the link key
// (TokenKey): a key of its own, so that no MAC of one kind verifies as the
// other.
func mailtoKey(key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("petrel unsubscribe mailto v1"))
	return h.Sum(nil)
}

func mailtoMAC(id, key []byte) []byte {
	h := hmac.New(sha256.New, mailtoKey(key))
	h.Write(id)
	return h.Sum(nil)[:mailtoMACLen]
}

// MailtoLocal returns the local part of the mailto: unsubscribe address
// of message messageID: MailtoPrefix + the lower-case base32 (no padding)
// of the message ID packed to 22 bytes (6 of time, 16 random: the shape
// event.NewID makes) and an 80-bit HMAC-SHA256 of it under a key derived
// from key for this purpose alone — 54 characters in all. The address
// names only the message: the unsubscribe it stands for is the row
// Service.PutMailtoTx stored with the message, so it works as long as the
// message record is kept. ok is false for a message ID of another shape.
func MailtoLocal(messageID string, key []byte) (local string, ok bool) {
	raw, ok := packSESID(messageID)
	if !ok || len(key) == 0 {
		return "", false
	}
	return MailtoPrefix + strings.ToLower(tokenB32.EncodeToString(append(raw, mailtoMAC(raw, key)...))), true
}

// ParseMailto verifies code, the local part of a mailto: unsubscribe
// address after MailtoPrefix, in any case (a mail system may case-fold
// local parts), and returns the message ID it names. Errors: ErrBadToken
// for anything MailtoLocal did not make with key (wrong length or
// characters, non-canonical base32, a MAC that does not verify, compared
// in constant time).
func ParseMailto(code string, key []byte) (messageID string, err error) {
	if len(key) == 0 || len(code) != MailtoCodeLen {
		return "", ErrBadToken
	}
	b, err := tokenB32.DecodeString(strings.ToUpper(code))
	if err != nil || len(b) != 22+mailtoMACLen || !strings.EqualFold(tokenB32.EncodeToString(b), code) {
		return "", ErrBadToken
	}
	if !hmac.Equal(b[22:], mailtoMAC(b[:22], key)) {
		return "", ErrBadToken
	}
	return unpackSESID(b[:22]), nil
}

// Headers returns the List-Unsubscribe field value (RFC 2369: the HTTPS
// URL publicURL + "/unsubscribe/TOKEN" — RFC 8058's one-click target — and
// mailto:LOCAL@returnDomain?subject=unsubscribe with LOCAL from
// MailtoLocal, each in angle brackets, separated by ", ") and the
// List-Unsubscribe-Post value "List-Unsubscribe=One-Click" (RFC 8058
// §3.1). Neither contains CR or LF; a relay may fold the first only at its
// ", ". With publicURL "" only the mailto: is given, and then
// listUnsubscribePost is "" (RFC 8058 needs an HTTPS URI); with
// returnDomain "" (or a message ID MailtoLocal cannot pack) only the URL.
// The mailto: works only once Service.PutMailtoTx has stored t.
func Headers(t Token, key []byte, publicURL, returnDomain string) (listUnsubscribe, listUnsubscribePost string) {
	var parts []string
	if publicURL != "" {
		parts = append(parts, "<"+strings.TrimRight(publicURL, "/")+UnsubscribePath+t.Sign(key)+">")
		listUnsubscribePost = "List-Unsubscribe=One-Click"
	}
	if local, ok := MailtoLocal(t.MessageID, key); ok && returnDomain != "" {
		parts = append(parts, "<mailto:"+local+"@"+returnDomain+"?subject=unsubscribe>")
	}
	return strings.Join(parts, ", "), listUnsubscribePost
}

// PageURL returns the URL of t's preferences page, publicURL +
// "/unsubscribe/TOKEN": what {{amazonSESUnsubscribeUrl}} is replaced with.
// A GET shows the page and changes nothing.
func PageURL(t Token, key []byte, publicURL string) string {
	return strings.TrimRight(publicURL, "/") + UnsubscribePath + t.Sign(key)
}
