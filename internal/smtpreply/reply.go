// Package smtpreply is the value of an SMTP reply: the three-digit code, the
// RFC 3463 enhanced status code when present, and the text. Delivery,
// bounce classification and the events all speak in Replies.
package smtpreply

import (
	"fmt"
	"strconv"
	"strings"
)

// Reply is an SMTP server reply.
type Reply struct {
	Code     int    // 3-digit reply code, RFC 5321 §4.2
	Enhanced string // "5.1.1" (RFC 3463), or "" when the reply has none
	Text     string // the text after the codes; lines of a multi-line reply joined by "; "
}

// Error lets a Reply travel as an error.
func (r Reply) Error() string { return r.String() }

// String returns "550 5.1.1 text" (the form SES uses in smtpResponse and in a
// diagnosticCode after "smtp; ").
func (r Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced)
	}
	if r.Text != "" {
		b.WriteByte(' ')
		b.WriteString(r.Text)
	}
	return b.String()
}

// Temporary reports a 4xx reply.
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a 5xx reply.
func (r Reply) Permanent() bool { return r.Code >= 500 && r.Code < 600 }

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// Status returns the enhanced status code, or one derived from the reply
// class ("5.0.0", "4.0.0", "2.0.0") when the server sent none.
func (r Reply) Status() string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	return fmt.Sprintf("%d.0.0", r.Code/100)
}

// Parse parses a reply given as one or more lines ("250-..." continuation
// lines then "250 ..."), or a single line without continuation.
func Parse(s string) (Reply, error) {
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return Reply{}, fmt.Errorf("empty SMTP reply")
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var r Reply
	var texts []string
	for i, line := range lines {
		if len(line) < 3 {
			return Reply{}, fmt.Errorf("malformed SMTP reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return Reply{}, fmt.Errorf("malformed SMTP reply code in %q", line)
		}
		if i == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("inconsistent codes in multi-line SMTP reply")
		}
		rest := ""
		if len(line) > 3 {
			if line[3] != ' ' && line[3] != '-' {
				return Reply{}, fmt.Errorf("malformed SMTP reply line %q", line)
			}
			rest = line[4:]
		}
		enh, text := splitEnhanced(rest, code)
		if i == 0 {
			r.Enhanced = enh
		}
		if text != "" {
			texts = append(texts, text)
		}
	}
	r.Text = strings.Join(texts, "; ")
	return r, nil
}

// splitEnhanced takes a leading "x.y.z " status off text when its class
// matches the reply code's (RFC 3463 §2, RFC 2034 §4).
func splitEnhanced(text string, code int) (string, string) {
	word, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || parts[0][0]-'0' != byte(code/100) {
		return "", text
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return "", text
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return "", text
			}
		}
	}
	return word, rest
}
