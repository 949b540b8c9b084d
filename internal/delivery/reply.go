package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrelmail/petrel/internal/smtpreply"
)

// maxReplyLines bounds a multi-line reply. RFC 5321 sets no limit; EHLO
// lists, the longest replies in practice, run to a few dozen lines.
const maxReplyLines = 100

// replyBufferSize is the size of a client's read buffer and so the longest
// reply line accepted, CRLF included. RFC 5321 §4.5.3.1.5 allows 512
// octets; receivers send longer lines, but not this long.
const replyBufferSize = 4096

// readReply reads one reply (RFC 5321 §4.2): lines "ddd-text" up to one
// "ddd text" or "ddd", every line with the same code. It returns the parsed
// Reply (smtpreply.Parse: the enhanced code of the first line, the lines'
// texts joined by "; ") and the text of each line as sent, after the code
// and its separator, which the EHLO keywords are read from. Lines end in
// CRLF; a bare LF is accepted. A line longer than r's buffer, more than
// maxReplyLines lines, a malformed or changing code, or a read error give a
// *protocolError: the connection is unusable.
func readReply(r *bufio.Reader) (smtpreply.Reply, []string, error) {
	var raw, texts []string
	for {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return smtpreply.Reply{}, nil, &protocolError{errors.New("reply line too long")}
		}
		if err != nil {
			return smtpreply.Reply{}, nil, &protocolError{fmt.Errorf("reading reply: %w", err)}
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return smtpreply.Reply{}, nil, &protocolError{fmt.Errorf("malformed reply line %q", line)}
		}
		if code, err := strconv.Atoi(line[:3]); err != nil || code < 200 || code > 599 {
			return smtpreply.Reply{}, nil, &protocolError{fmt.Errorf("malformed reply code in %q", line)}
		}
		if len(raw) > 0 && line[:3] != raw[0][:3] {
			return smtpreply.Reply{}, nil, &protocolError{fmt.Errorf("reply code changes within a reply: %q after %q", line, raw[0])}
		}
		raw = append(raw, line)
		texts = append(texts, line[min(4, len(line)):])
		if len(line) == 3 || line[3] == ' ' {
			break
		}
		if len(raw) == maxReplyLines {
			return smtpreply.Reply{}, nil, &protocolError{errors.New("reply has too many lines")}
		}
	}
	reply, err := smtpreply.Parse(strings.Join(raw, "\r\n"))
	if err != nil {
		return reply, nil, &protocolError{err}
	}
	return reply, texts, nil
}

// extensions reads the service extensions from the lines of a 250 reply to
// EHLO (RFC 5321 §4.1.1.1): line 1 is the greeting, whatever it says, and
// each further line is "keyword [SP params]". Keywords are case-insensitive
// and returned upper-case, with their parameters; a line that does not
// start with an ehlo-keyword (ALPHA / DIGIT, then those and "-") is skipped.
func extensions(lines []string) map[string]string {
	ext := map[string]string{}
	for _, l := range lines[min(1, len(lines)):] {
		k, v, _ := strings.Cut(l, " ")
		if isKeyword(k) {
			ext[strings.ToUpper(k)] = v
		}
	}
	return ext
}

func isKeyword(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
