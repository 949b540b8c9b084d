package message

import (
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Prepared is a message made ready for delivery, and what the event "mail"
// object needs to know about it.
type Prepared struct {
	Body             []byte        // what is delivered
	Headers          []Header      // original header fields (Bcc left out), for mail.headers
	HeadersTruncated bool          // Headers stop short because the header was ≥ 10 KB
	Common           CommonHeaders // mail.commonHeaders
	ConfigurationSet string        // from X-SES-CONFIGURATION-SET
	Tags             [][2]string   // from X-SES-MESSAGE-TAGS, in order

	// Converted reports that the message had 8-bit octets and Prepare
	// rewrote them as 7-bit: quoted-printable or base64 parts (RFC 2045),
	// RFC 2047 and RFC 2231 header text. Body may still hold 8-bit octets
	// that could not be rewritten (see Prepare).
	Converted bool
}

// Header is one entry of SES's mail.headers (../shared/spec/ses.md §4.2).
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders is SES's mail.commonHeaders object (../shared/spec/ses.md §4.2).
type CommonHeaders struct {
	From       []string `json:"from,omitempty"`
	ReplyTo    []string `json:"replyTo,omitempty"`
	To         []string `json:"to,omitempty"`
	Cc         []string `json:"cc,omitempty"`
	Date       string   `json:"date,omitempty"`
	MessageID  string   `json:"messageId,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	ReturnPath string   `json:"returnPath,omitempty"`
}

// headersLimit is where SES truncates mail.headers (headersTruncated).
const headersLimit = 10 * 1024

// tagRE is the SES message-tag name/value syntax (§11.3).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// TagError reports a malformed X-SES-MESSAGE-TAGS entry.
type TagError struct{ Tag string }

func (e *TagError) Error() string {
	return "Invalid message tag '" + e.Tag + "': names and values may contain only ASCII letters, digits, '_' and '-'."
}

// Prepare turns a parsed message into the message Petrel delivers, as SES
// does: X-SES-* headers are read and removed, Bcc and Return-Path are removed,
// Message-ID becomes <messageID@domain> and Date the acceptance time. The
// original headers are kept for the events.
//
// A message with 8-bit octets (RFC 6152, RFC 6532) is made 7-bit before it
// is signed, so that no next hop has to convert it, unless it already
// carries a DKIM-Signature field: converting would break the sender's
// signature, so it is delivered 8-bit (and needs 8BITMIME). Parts are
// re-encoded, header text written as encoded-words; what cannot be
// rewritten (a UTF-8 local part, a part whose structure is not
// understood) stays 8-bit. For a 7-bit message this costs one scan of its
// octets.
//
// Each of add is a header field {name, value} Petrel sets on the delivered
// message (replacing any field of that name the client wrote), such as the
// signed X-Petrel-Feedback token; value must already be encoded and free
// of CR and LF. Fields Prepare sets are folded (RFC 5322 §2.2.3).
func Prepare(m *Message, messageID, domain string, now time.Time, add ...[2]string) (*Prepared, error) {
	p := &Prepared{}
	size := 0
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, "Bcc") {
			continue
		}
		size += len(f.Raw)
		if size >= headersLimit {
			p.HeadersTruncated = true
			break
		}
		p.Headers = append(p.Headers, Header{Name: f.Name, Value: f.Value()})
	}
	p.Common = CommonHeaders{
		From:       addressList(m.Get("From")),
		ReplyTo:    addressList(m.Get("Reply-To")),
		To:         addressList(strings.Join(m.Values("To"), ", ")),
		Cc:         addressList(strings.Join(m.Values("Cc"), ", ")),
		Date:       m.Get("Date"),
		MessageID:  m.Get("Message-ID"),
		Subject:    decodeText(m.Get("Subject")),
		ReturnPath: m.Get("Return-Path"),
	}
	p.ConfigurationSet = m.Get("X-SES-CONFIGURATION-SET")
	// The tags of every X-SES-MESSAGE-TAGS field, in order: the field may
	// repeat (it is not single-valued, unlike the other X-SES-* fields).
	if v := strings.Join(m.Values("X-SES-MESSAGE-TAGS"), ","); v != "" {
		for _, kv := range strings.Split(v, ",") {
			kv = strings.TrimSpace(kv)
			if kv == "" {
				continue
			}
			k, val, _ := strings.Cut(kv, "=")
			k, val = strings.TrimSpace(k), strings.TrimSpace(val)
			if !tagRE.MatchString(k) || !tagRE.MatchString(val) {
				return nil, &TagError{Tag: kv}
			}
			p.Tags = append(p.Tags, [2]string{k, val})
		}
	}
	out := &Message{Header: append([]Field(nil), m.Header...), Body: m.Body}
	for _, f := range m.Header {
		if strings.HasPrefix(strings.ToUpper(f.Name), "X-SES-") {
			out.Del(f.Name)
		}
	}
	out.Del("Bcc")
	out.Del("Return-Path")
	out.Set("Date", now.UTC().Format(time.RFC1123Z))
	out.Set("Message-ID", "<"+messageID+"@"+domain+">")
	for _, f := range add {
		out.Set(f[0], f[1])
	}
	if m.eightBit() && m.Get("DKIM-Signature") == "" {
		p.Converted = to7bit(out)
	}
	if out.Get("MIME-Version") == "" {
		out.Header = append(out.Header, Field{Name: "MIME-Version", Raw: []byte("MIME-Version: 1.0\r\n")})
	}
	var scratch []byte
	if m.Scratch {
		scratch = m.input
	}
	p.Body = out.assemble(scratch)
	return p, nil
}

func addressList(v string) []string {
	if v == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return []string{decodeText(v)}
	}
	out := make([]string, len(list))
	for i, a := range list {
		if a.Name != "" {
			out[i] = displayPhrase(a.Name) + " <" + a.Address + ">"
		} else {
			out[i] = a.Address
		}
	}
	return out
}

// displayPhrase writes a decoded display name for commonHeaders: as it is
// when it is words of atext (RFC 5322 §3.2.3, non-ASCII allowed as in RFC
// 6532), else as a quoted string ("Doe, John"), so that each entry still
// parses as one address.
func displayPhrase(name string) string {
	plain := true
	for _, r := range name {
		if r < 0x80 && r != ' ' && !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r) &&
			!('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	var q strings.Builder
	q.WriteByte('"')
	for _, r := range name {
		if r == '"' || r == '\\' {
			q.WriteByte('\\')
		}
		q.WriteRune(r)
	}
	q.WriteByte('"')
	return q.String()
}

func decodeText(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
